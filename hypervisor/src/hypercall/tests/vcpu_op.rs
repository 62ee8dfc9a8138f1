//! Host tests of `vcpu_op` (to be filled).
