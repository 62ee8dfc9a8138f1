//! The heap on the host: the test process's own allocator, with the hypervisor heap's
//! interface. A test can make reservations fail to drive the hypervisor's `ENOMEM` paths.

use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use guest_abi::errno::Errno;

static FAIL: AtomicBool = AtomicBool::new(false);
static RESERVED: AtomicUsize = AtomicUsize::new(0);

/// From now on, reservations fail (`true`) or succeed (`false`).
pub fn fail_reservations(fail: bool) {
    FAIL.store(fail, Ordering::Relaxed);
}

/// As the bare-metal heap's: `ENOMEM` when the heap could not hold `bytes` more.
pub fn try_reserve(bytes: usize) -> Result<(), Errno> {
    if FAIL.load(Ordering::Relaxed) {
        return Err(Errno::ENOMEM);
    }
    RESERVED.fetch_max(bytes, Ordering::Relaxed);
    Ok(())
}

/// Bytes in use and free: the largest reservation asked for, and no limit.
pub fn usage() -> (usize, usize) {
    (RESERVED.load(Ordering::Relaxed), usize::MAX / 2)
}
