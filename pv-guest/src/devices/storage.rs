//! dom0's own storage at boot: the partition labelled `xen-dom0` on any of its disks,
//! mounted by dom0-tools' `fs` at `/etc/xen` and `/var/lib/xen` and handed to the
//! toolstack; file times from the hypervisor's wall clock.

use crate::println;
use dom0_tools::fs::{Storage, LABEL};
use dom0_tools::hv::Hypervisor;
use dom0_tools::xl::Toolstack;

/// Seconds since the epoch: the wall clock at system time 0 (shared_info's `wc_sec`, as Xen
/// keeps it) plus the system time; `None` before the hypervisor set it.
fn wall_clock() -> Option<u64> {
    let si = crate::events::shared_info()?;
    let base = u64::from(si.wc_sec) | u64::from(si.wc_sec_hi) << 32;
    (base != 0).then(|| base + crate::time::now() / 1_000_000_000)
}

/// Finds and mounts dom0's storage (after the disks were attached); says what it found.
pub fn mount<H: Hypervisor>(ts: &mut Toolstack<'static, H>) {
    match Storage::find_and_mount(ts.disks(), Some(wall_clock)) {
        None => println!("dom0: no storage (no partition labelled {LABEL})"),
        Some(Err((dev, e))) => println!("dom0: storage on {dev} not mounted: {e}"),
        Some(Ok(s)) => {
            println!(
                "dom0: storage: {} ({LABEL}) mounted at {}",
                s.device(),
                dom0_tools::fs::MOUNT_POINTS.join(" and ")
            );
            ts.set_storage(s);
        }
    }
}
