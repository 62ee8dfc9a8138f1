//! Host tests of `fpu` (to be filled).
