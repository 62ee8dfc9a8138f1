//! Architecture-specific code (x86_64 only). Generic code names architecture items only
//! through this facade (`crate::arch::paging`, `crate::arch::enter_guest`, ...): the
//! `x86_64` module itself is private to `arch`.
mod x86_64;

pub use x86_64::*;
