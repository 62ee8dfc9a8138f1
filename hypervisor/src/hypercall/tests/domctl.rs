//! Host tests of `domctl` (to be filled).
