//! A domain's vcpu_info[0] in its shared_info page: the event-delivery mask and pending
//! flag the hypervisor reads and writes on the guest's behalf. Every access goes through the
//! page's [`XenPage`] proof, so none can land anywhere but the hypervisor's own page.

use crate::mm::machine::{xen_read, xen_write};
use crate::mm::page_types::XenPage;
use core::mem::offset_of;
use guest_abi::shared_info::{ArchVcpuInfo, VcpuInfo};

// vcpu_info[0] sits at offset 0 of shared_info; the offsets are inside the page, so the
// accesses below cannot fail.
const UPCALL_PENDING: usize = offset_of!(VcpuInfo, evtchn_upcall_pending);
const UPCALL_MASK: usize = offset_of!(VcpuInfo, evtchn_upcall_mask);
const CR2: usize = offset_of!(VcpuInfo, arch) + offset_of!(ArchVcpuInfo, cr2);

fn byte(si: &XenPage, off: usize) -> u8 {
    let mut b = [0u8];
    let _ = xen_read(si, off, &mut b);
    b[0]
}

/// Whether event upcalls are masked.
pub fn upcall_masked(si: &XenPage) -> bool {
    byte(si, UPCALL_MASK) != 0
}

/// Mask or unmask event upcalls.
pub fn set_upcall_mask(si: &XenPage, masked: bool) {
    let _ = xen_write(si, UPCALL_MASK, &[u8::from(masked)]);
}

/// Whether an upcall is pending.
pub fn upcall_pending(si: &XenPage) -> bool {
    byte(si, UPCALL_PENDING) != 0
}

/// Whether an upcall is pending for the vCPU whose domain's shared_info is frame `si`, read
/// without the state lock (one byte the guest may set at any time; a stale answer only
/// delays the upcall to the next exit, and the locked path re-checks before delivering).
pub fn upcall_pending_unlocked(si: u64) -> bool {
    crate::mm::machine::read_u8_unlocked((si << 12) + UPCALL_PENDING as u64) != 0
}

/// Record the faulting address of a page fault (vcpu_info.arch.cr2).
pub fn set_cr2(si: &XenPage, cr2: u64) {
    let _ = xen_write(si, CR2, &cr2.to_le_bytes());
}

/// The faulting address last recorded for the guest (vcpu_info.arch.cr2).
pub fn cr2(si: &XenPage) -> u64 {
    let mut b = [0u8; 8];
    let _ = xen_read(si, CR2, &mut b);
    u64::from_le_bytes(b)
}
