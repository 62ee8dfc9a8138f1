//! A vCPU's vcpu_info (slot 0 of its domain's shared_info, or where the guest registered it
//! with `VCPUOP_register_vcpu_info`): the event-delivery mask and pending flag and the
//! recorded fault address the hypervisor reads and writes on the guest's behalf. Every
//! access goes through a [`VcpuInfoAt`], made from the page's proof, so none can land
//! anywhere but a page the hypervisor may write.

use crate::mm::machine::VcpuInfoAt;
use core::mem::offset_of;
use core::sync::atomic::Ordering;
use guest_abi::shared_info::{ArchVcpuInfo, VcpuInfo};

// Fields of a vcpu_info: the accesses below cannot fail.
const UPCALL_PENDING: usize = offset_of!(VcpuInfo, evtchn_upcall_pending);
const UPCALL_MASK: usize = offset_of!(VcpuInfo, evtchn_upcall_mask);
const PENDING_SEL: usize = offset_of!(VcpuInfo, evtchn_pending_sel);
const CR2: usize = offset_of!(VcpuInfo, arch) + offset_of!(ArchVcpuInfo, cr2);

fn byte(vi: &VcpuInfoAt, off: usize) -> u8 {
    let mut b = [0u8];
    let _ = vi.read(off, &mut b);
    b[0]
}

/// Whether event upcalls are masked.
pub fn upcall_masked(vi: &VcpuInfoAt) -> bool {
    byte(vi, UPCALL_MASK) != 0
}

/// Mask or unmask event upcalls.
pub fn set_upcall_mask(vi: &VcpuInfoAt, masked: bool) {
    let _ = vi.write(UPCALL_MASK, &[u8::from(masked)]);
}

/// Whether an upcall is pending.
pub fn upcall_pending(vi: &VcpuInfoAt) -> bool {
    byte(vi, UPCALL_PENDING) != 0
}

/// Whether an upcall is pending for the vCPU whose vcpu_info is at machine address `maddr`,
/// read without the state lock (one byte the guest may set at any time; a stale answer only
/// delays the upcall to the next exit, and the locked path re-checks before delivering).
pub fn upcall_pending_unlocked(maddr: u64) -> bool {
    crate::mm::machine::read_u8_unlocked(maddr + UPCALL_PENDING as u64) != 0
}

/// Record the faulting address of a page fault (vcpu_info.arch.cr2).
pub fn set_cr2(vi: &VcpuInfoAt, cr2: u64) {
    let _ = vi.write(CR2, &cr2.to_le_bytes());
}

/// The faulting address last recorded for the guest (vcpu_info.arch.cr2).
pub fn cr2(vi: &VcpuInfoAt) -> u64 {
    let mut b = [0u8; 8];
    let _ = vi.read(CR2, &mut b);
    u64::from_le_bytes(b)
}

/// Move a vcpu_info: `to` gets everything `from` holds, then (as Xen does) an upcall pending
/// with every selector bit set, so the guest rescans and no event is lost in the move.
pub fn move_to(from: &VcpuInfoAt, to: &VcpuInfoAt) {
    let mut all = [0u8; crate::mm::machine::VCPU_INFO_SIZE];
    let _ = from.read(0, &mut all);
    let _ = to.write(0, &all);
    if let Ok(sel) = to.u64(PENDING_SEL) {
        sel.store(u64::MAX, Ordering::SeqCst);
    }
    let _ = to.write(UPCALL_PENDING, &[1]);
}
