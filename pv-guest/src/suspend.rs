//! The guest's suspend handler, as a Xen PV guest has one: asked to suspend (the toolstack
//! wrote "suspend" to `control/shutdown`, [`crate::control`]), we stop with
//! `SCHEDOP_shutdown(SHUTDOWN_suspend)`, passing our start_info's machine frame in the third
//! argument as Xen's PV ABI asks, and carry on when we run again. The call's return says
//! where we are: 1 is a cancelled suspend (the same domain, everything as it was: e.g.
//! `xl resume`, or the end of a snapshot), 0 a new domain restored from a saved image, whose
//! console, XenStore and device rings would have to be connected again.

use crate::println;
use core::sync::atomic::{AtomicU64, Ordering};
use guest_abi::errno::Errno;
use guest_abi::guest;
use guest_abi::start_info::StartInfo;

/// What the suspend call returns for a suspend the toolstack cancelled (resumed in place).
pub const CANCELLED: u64 = 1;
/// What it returns in a domain restored from a saved image.
pub const RESTORED: u64 = 0;

/// Our start_info's machine frame, found at boot ([`remember`]); 0 = not known.
static START_INFO_MFN: AtomicU64 = AtomicU64::new(0);

/// The machine frame of our start_info page (the builder maps it in our initial region).
pub fn start_info_mfn(si: &StartInfo) -> Result<u64, Errno> {
    crate::mm::Space::new(si).mfn_of(si as *const StartInfo as u64)
}

/// Notes our start_info's frame at boot, for a later [`suspend`].
pub fn remember(si: &StartInfo) {
    match start_info_mfn(si) {
        Ok(mfn) => START_INFO_MFN.store(mfn, Ordering::Relaxed),
        Err(e) => println!(
            "suspend: cannot find our start_info frame ({}): suspend requests will be refused",
            e.name()
        ),
    }
}

/// Suspends this domain and returns once it runs again, having said on the console how.
pub fn suspend() {
    let mfn = START_INFO_MFN.load(Ordering::Relaxed);
    if mfn == 0 {
        println!("suspend: our start_info frame is not known: not suspending");
        return;
    }
    println!("suspend: suspending (start_info at machine frame {mfn:#x})");
    // Everything said so far reaches the console before we stop.
    crate::console_ring::drain();
    match guest::sched_suspend(mfn) {
        Ok(CANCELLED) => println!("suspend: cancelled, resumed in place: carrying on"),
        Ok(RESTORED) => println!(
            "suspend: resumed in a new domain (restored); reconnecting the console, XenStore \
             and devices is not done yet: carrying on with the old connections"
        ),
        Ok(v) => println!("suspend: the suspend call returned {v} (neither 0 nor 1): carrying on"),
        Err(e) => println!("suspend: refused: {}: carrying on", e.name()),
    }
}
