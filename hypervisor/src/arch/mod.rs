//! Architecture-specific code. Generic code names architecture items only through this
//! facade (`crate::arch::paging`, `crate::arch::enter_guest`, ...); the backends themselves
//! are private to `arch`.
//!
//! Two backends, one interface: `x86_64` (bare metal: the real CPU, page tables, LAPIC) and
//! `host` (a model of one CPU and its RAM for `cargo test`, so the hypercall handlers, the PV
//! MMU, grants, event channels and the scheduler run on the host against simulated machine
//! memory). The modules here hold what both share: time and preemption from a TSC, the FPU
//! areas, the descriptor-table bookkeeping, the page-table builder and the M2P.

#[cfg(target_os = "none")]
mod x86_64;
#[cfg(target_os = "none")]
pub use x86_64::*;

#[cfg(not(target_os = "none"))]
mod host;
#[cfg(not(target_os = "none"))]
pub use host::*;

pub mod desc;
pub mod fpu;
pub mod irqoff;
pub mod page_tables;
pub mod preempt;
pub mod pte;
pub mod shootdown;
pub mod tsc;

pub use guest_abi::arch::CpuUserRegs;
pub use tsc::{now_ns, tsc_khz};
