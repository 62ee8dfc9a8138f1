//! Host tests of `console` (to be filled).
