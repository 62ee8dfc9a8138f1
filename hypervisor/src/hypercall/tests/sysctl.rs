//! Host tests of `sysctl` (to be filled).
