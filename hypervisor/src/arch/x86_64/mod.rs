//! x86_64: boot, descriptor tables, entry/exit paths, paging, LAPIC and time.
pub mod boot;
pub mod exit;
