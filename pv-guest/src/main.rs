//! pv-guest: a small Xen-style x86_64 PV guest kernel.
//!
//! It boots from `start_info` (Xen's PV boot protocol), talks to the hypervisor only through
//! hypercalls, and runs as dom0 (the toolstack shell from `dom0-tools`) when `start_info`
//! says SIF_INITDOMAIN, or as a domU otherwise.
//!
//! Pure logic (command line, page-table walk arithmetic) is host-tested; everything touching
//! the machine is gated on `target_os = "none"`.
#![cfg_attr(target_os = "none", no_std, no_main)]
// The pure modules are only used by the bare-metal kernel; on the host only their tests run.
#![cfg_attr(not(target_os = "none"), allow(dead_code))]

extern crate alloc;

mod bench;
mod blkfront;
mod cmdline;
mod netfront;
mod pagetable;

#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!("pv-guest runs on bare metal: build it with `cargo xtask build`");
    std::process::exit(1);
}

#[cfg(target_os = "none")]
mod balloon;
#[cfg(target_os = "none")]
mod compat;
#[cfg(target_os = "none")]
mod console;
#[cfg(target_os = "none")]
mod console_ring;
#[cfg(target_os = "none")]
mod control;
#[cfg(target_os = "none")]
mod devices;
#[cfg(target_os = "none")]
mod dom0;
#[cfg(target_os = "none")]
mod domu;
#[cfg(target_os = "none")]
mod entry;
#[cfg(target_os = "none")]
mod event_tests;
#[cfg(target_os = "none")]
mod events;
#[cfg(target_os = "none")]
mod fuzz;
#[cfg(target_os = "none")]
mod grant;
#[cfg(target_os = "none")]
mod grant_tests;
#[cfg(target_os = "none")]
mod heap;
#[cfg(target_os = "none")]
mod hostile;
#[cfg(target_os = "none")]
mod logger;
#[cfg(target_os = "none")]
mod mm;
#[cfg(target_os = "none")]
mod ramdisk;
#[cfg(target_os = "none")]
mod smp;
#[cfg(target_os = "none")]
mod smp_stale_tlb;
#[cfg(target_os = "none")]
mod suspend;
#[cfg(target_os = "none")]
mod suspend_test;
#[cfg(target_os = "none")]
mod time;
#[cfg(target_os = "none")]
mod traps;
#[cfg(target_os = "none")]
mod user;
#[cfg(target_os = "none")]
mod xenbus;
#[cfg(target_os = "none")]
mod xs_idle;

#[cfg(target_os = "none")]
use guest_abi::{
    guest,
    sched::ShutdownReason,
    start_info::{SifFlags, StartInfo},
};

/// The Rust entry, on the kernel stack: pick the role from start_info.
#[cfg(target_os = "none")]
fn guest_main(si: &'static StartInfo) -> ! {
    heap::init();
    logger::init(cmdline::from_raw(&si.cmd_line));
    if !si.magic_ok() {
        println!("pv-guest: bad start_info magic");
        shutdown(ShutdownReason::Crash);
    }
    if SifFlags::from_bits_truncate(si.flags).contains(SifFlags::INITDOMAIN) {
        dom0::run(si)
    } else {
        domu::run(si)
    }
}

/// Shuts this domain down; never returns (if the hypervisor refuses, we idle).
#[cfg(target_os = "none")]
fn shutdown(reason: ShutdownReason) -> ! {
    let r = guest::sched_shutdown(reason);
    println!("pv-guest: shutdown refused: {r:?}");
    idle()
}

/// Gives the CPU away for good.
#[cfg(target_os = "none")]
fn idle() -> ! {
    loop {
        if events::shared_info().is_some() {
            // Wakes for any event (handled by the upcall), then blocks again.
            let _ = guest::sched_block();
        } else {
            let _ = guest::sched_yield();
        }
    }
}

#[cfg(test)]
mod image_tests;
// The native image's layout arithmetic (its own binary needs `--features native`), tested here
// so that the workspace's host tests cover it.
#[cfg(test)]
#[path = "native/layout.rs"]
mod native_layout;
