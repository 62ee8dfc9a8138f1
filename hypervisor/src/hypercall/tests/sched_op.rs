//! Host tests of `sched_op` (to be filled).
