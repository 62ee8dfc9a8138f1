//! Host tests of `multicall` (to be filled).
