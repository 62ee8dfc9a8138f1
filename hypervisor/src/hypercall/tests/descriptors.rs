//! Host tests of `descriptors` (to be filled).
