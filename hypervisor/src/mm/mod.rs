//! Memory management for guests: the PV MMU's frame table (page types and references), guest
//! descriptor checks, machine memory access with proofs of ownership, and the checked layer
//! through which the hypervisor reads and writes guest memory.
pub mod access;
pub mod descriptor;
pub mod guest_copy;
pub mod guest_walk;
pub mod machine;
pub mod page_types;

/// Page-table entry bits (x86_64), as the PV MMU validates them.
pub use crate::arch::pte;
