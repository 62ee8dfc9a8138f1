//! Host tests of `callbacks` (to be filled).
