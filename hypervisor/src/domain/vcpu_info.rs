//! A domain's vcpu_info[0] in its shared_info page: the event-delivery mask and pending
//! flag the hypervisor reads and writes on the guest's behalf.

use crate::mm::machine::Machine;

use core::mem::offset_of;
use guest_abi::shared_info::{ArchVcpuInfo, VcpuInfo};

// vcpu_info[0] sits at offset 0 of shared_info.
const UPCALL_PENDING: u64 = offset_of!(VcpuInfo, evtchn_upcall_pending) as u64;
const UPCALL_MASK: u64 = offset_of!(VcpuInfo, evtchn_upcall_mask) as u64;
const CR2: u64 = (offset_of!(VcpuInfo, arch) + offset_of!(ArchVcpuInfo, cr2)) as u64;

fn base(shared_info_mfn: u64) -> u64 {
    shared_info_mfn << 12
}

/// Whether event upcalls are masked.
pub fn upcall_masked(mem: &Machine, si: u64) -> bool {
    let mut b = [0u8];
    mem.read_bytes(base(si) + UPCALL_MASK, &mut b);
    b[0] != 0
}

/// Mask or unmask event upcalls.
pub fn set_upcall_mask(mem: &Machine, si: u64, masked: bool) {
    mem.write_bytes(base(si) + UPCALL_MASK, &[u8::from(masked)]);
}

/// Whether an upcall is pending.
pub fn upcall_pending(mem: &Machine, si: u64) -> bool {
    let mut b = [0u8];
    mem.read_bytes(base(si) + UPCALL_PENDING, &mut b);
    b[0] != 0
}

/// Whether an upcall is pending for the vCPU whose domain's shared_info is frame `si`, read
/// without the state lock (one byte the guest may set at any time; a stale answer only
/// delays the upcall to the next exit, and the locked path re-checks before delivering).
pub fn upcall_pending_unlocked(si: u64) -> bool {
    crate::mm::machine::read_u8_unlocked(base(si) + UPCALL_PENDING) != 0
}

/// Record the faulting address of a page fault (vcpu_info.arch.cr2).
pub fn set_cr2(mem: &Machine, si: u64, cr2: u64) {
    mem.write_bytes(base(si) + CR2, &cr2.to_le_bytes());
}
