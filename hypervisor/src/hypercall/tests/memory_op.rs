//! Host tests of `memory_op` (to be filled).
