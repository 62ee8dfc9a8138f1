//! I/O memory: the machine frames that are not RAM (device MMIO, firmware and ACPI regions,
//! holes), which the I/O-privileged domain may map (Xen's I/O-memory permission of the
//! hardware domain) and no other domain may. The hypervisor keeps its own devices (the local
//! APIC and the I/O APIC) out of every guest's reach, and never reads or writes I/O frames
//! for a guest (the guest-copy layer refuses them).
//!
//! RAM is what the boot memory map calls available (set by the frame allocator's set-up);
//! every other frame below [`IO_LIMIT`] is I/O memory.

use crate::sync::{Lock, Rank};
use core::sync::atomic::{AtomicU16, Ordering};
use guest_abi::types::{DomId, Mfn};

/// Frames of the physical address space considered at all (1 TiB): I/O memory lies below.
pub const IO_LIMIT: u64 = 1 << (40 - 12);
/// The hypervisor's own devices: the local APIC and the I/O APIC (their default pages).
pub const HYPERVISOR_MMIO: [Mfn; 2] = [Mfn(0xFEE00), Mfn(0xFEC00)];

/// RAM frame ranges `[start, end)`, from the boot memory map.
static RAM: Lock<heapless::Vec<(u64, u64), 128>> =
    Lock::new(Rank::Iomem, "RAM ranges", heapless::Vec::new());
/// The domain with the I/O-memory permission (the hardware domain: dom0).
static IO_DOMAIN: AtomicU16 = AtomicU16::new(0);

/// Record the machine's RAM as byte ranges `[start, end)` (partial frames at either end are
/// not RAM). Ranges beyond the table's room are dropped (counted as I/O: never RAM to a guest).
pub fn set_ram(ranges: &[(u64, u64)]) {
    let mut ram = RAM.lock();
    ram.clear();
    for &(s, e) in ranges {
        let (s, e) = (s.div_ceil(4096), e / 4096);
        if s < e {
            let _ = ram.push((s, e));
        }
    }
}

/// Whether `mfn` is I/O memory: not RAM, below [`IO_LIMIT`], and not one of the
/// hypervisor's own devices.
pub fn is_io(mfn: Mfn) -> bool {
    mfn.0 < IO_LIMIT
        && !HYPERVISOR_MMIO.contains(&mfn)
        && !RAM.lock().iter().any(|&(s, e)| (s..e).contains(&mfn.0))
}

/// Whether `dom` may map I/O memory (the hardware domain only).
pub fn permitted(dom: DomId) -> bool {
    dom == DomId(IO_DOMAIN.load(Ordering::Relaxed))
}
