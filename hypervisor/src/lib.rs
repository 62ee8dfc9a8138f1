//! The hypervisor as a library: everything but the bare-metal boot entry (`main.rs`), so the
//! host tests (`cargo test -p hypervisor`) and the toolstack's tests run the same code that
//! boots in QEMU, against the host backend's modelled CPU and RAM.
#![cfg_attr(target_os = "none", no_std)]
#![cfg_attr(not(target_os = "none"), allow(dead_code))]

extern crate alloc;

pub mod arch;
pub mod boot_info;
pub mod build;
pub mod console;
pub mod cpus;
pub mod dispatch;
pub mod domain;
pub mod domid;
pub mod emulate;
pub mod evtchn;
pub mod grant;
#[cfg(target_os = "none")]
pub mod heap;
#[cfg(not(target_os = "none"))]
#[path = "heap_host.rs"]
pub mod heap;
pub mod hypercall;
pub mod irq;
pub mod lifecycle;
pub mod mm;
pub mod phys;
pub mod platform;
pub mod ratelimit;
pub mod sched;
#[cfg(target_os = "none")]
pub mod start;
pub mod sync;
#[cfg(any(test, feature = "testbed"))]
pub mod testbed;
pub mod time;
pub mod traps;
pub mod util;
