//! A vCPU's registered runstate area (`VCPUOP_register_runstate_memory_area`): the guest's
//! own copy of its runstate record, rewritten at every change of state. Linux reads it for
//! steal time and refuses to boot without it.
//!
//! The area is a guest virtual address in the guest kernel's space; it is written through the
//! vCPU's kernel page tables whichever vCPU (or mode) is running, so a change seen while
//! another domain runs is published at once. A write that faults (the guest unmapped the
//! area) is dropped, as Xen drops it.

use super::Vcpu;
use crate::mm::{guest_copy, machine::Machine};
use core::mem::offset_of;
use core::sync::atomic::{fence, Ordering};
use guest_abi::mmu::VMASST_TYPE_RUNSTATE_UPDATE_FLAG;
use guest_abi::types::Mfn;
use guest_abi::vcpu::{VcpuRunstateInfo, XEN_RUNSTATE_UPDATE};

/// Write vCPU `v`'s runstate record into its registered area, if it has one; `vm_assist`
/// is its domain's.
pub fn publish(mem: &Machine, vm_assist: u64, v: &Vcpu) {
    if v.runstate_area == 0 || v.kernel_l4 == Mfn(0) {
        return;
    }
    let (root, at) = (v.kernel_l4, v.runstate_area);
    let rec = v.runstate.recorded();
    if vm_assist & (1 << VMASST_TYPE_RUNSTATE_UPDATE_FLAG) == 0 {
        let _ = guest_copy::write_via(mem, root, at, &rec);
        return;
    }
    // With the update flag, a reader that sees it set retries: set it, write the record
    // (still flagged), then clear it.
    let entry_at = at.wrapping_add(offset_of!(VcpuRunstateInfo, state_entry_time) as u64);
    let flagged = VcpuRunstateInfo {
        state_entry_time: rec.state_entry_time | XEN_RUNSTATE_UPDATE,
        ..rec
    };
    if guest_copy::write_via(mem, root, entry_at, &flagged.state_entry_time).is_err() {
        return;
    }
    fence(Ordering::Release);
    let _ = guest_copy::write_via(mem, root, at, &flagged);
    fence(Ordering::Release);
    let _ = guest_copy::write_via(mem, root, entry_at, &rec.state_entry_time);
}
