//! Host tests of `mmu` (to be filled).
