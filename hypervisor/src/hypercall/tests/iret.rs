//! Host tests of `iret` (to be filled).
