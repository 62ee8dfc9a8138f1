//! Host tests of `grant_table` (to be filled).
