//! Host tests of `timer` (to be filled).
