//! The x86_64 PV guest interface, defined once for the hypervisor, the guest
//! kernel and the toolstack.
//!
//! Numbers and layouts follow Xen's public headers (interface of Xen 4.17),
//! so every structure here is `#[repr(C)]`, derives the zerocopy traits and
//! has its size and key offsets checked at compile time. The integration
//! test `tests/conformance.rs` compares them all against the real C headers.
//!
//! See [`split_driver`] for how to write a front-end/back-end driver pair
//! over [`ring`], grant tables and event channels.
#![no_std]
#![deny(missing_docs)]

pub mod arch;
pub mod callback;
pub mod console;
pub mod cpu;
pub mod domctl;
pub mod elfnote;
pub mod errno;
pub mod event_channel;
pub mod grant_table;
#[cfg(feature = "guest")]
pub mod guest;
pub mod hypercall;
pub mod hypercall_args;
pub mod io;
pub mod memory;
pub mod mmu;
pub mod multicall;
mod op;
pub mod payload;
pub mod physdev;
pub mod ring;
pub mod save_stream;
pub mod sched;
pub mod shared_info;
pub mod split_driver;
pub mod start_info;
pub mod sysctl;
pub mod types;
pub mod vcpu;
pub mod version;

pub use errno::Errno;
pub use types::{DomId, EvtchnPort, GrantRef, Mfn, Pfn};
