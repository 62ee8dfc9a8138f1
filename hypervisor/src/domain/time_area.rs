//! A vCPU's registered time area (`VCPUOP_register_vcpu_time_memory_area`): a copy of its
//! `vcpu_time_info` in guest memory, which Linux maps into user space for its vDSO clock.
//!
//! Written whenever the vCPU's time in its vcpu_info is refreshed, under the same version
//! protocol (odd while being written, then the vcpu_info's own even version). Like the
//! runstate area it is a guest virtual address written through the vCPU's kernel page
//! tables; a write that faults (the guest unmapped it) is dropped, as Xen drops it.

use super::Domain;
use crate::mm::{guest_copy, machine::Machine};
use core::mem::{offset_of, size_of};
use core::sync::atomic::{fence, Ordering};
use guest_abi::shared_info::{VcpuInfo, VcpuTimeInfo};
use guest_abi::types::Mfn;

/// Copy vCPU `vcpu` of `d`'s current time info (its vcpu_info's) into its registered
/// area, if it has one.
pub fn publish(mem: &Machine, d: &Domain, vcpu: u32) {
    let Some(v) = d.vcpu(vcpu) else {
        return;
    };
    if v.time_area == 0 || v.kernel_l4 == Mfn(0) {
        return;
    }
    let mut raw = [0u8; size_of::<VcpuTimeInfo>()];
    if d.vcpu_info(vcpu)
        .read(offset_of!(VcpuInfo, time), &mut raw)
        .is_err()
    {
        return;
    }
    let Ok(t) = <VcpuTimeInfo as zerocopy::FromBytes>::read_from_bytes(&raw[..]) else {
        return;
    };
    let (root, at) = (v.kernel_l4, v.time_area);
    // Odd while the body is written; then the source's (even) version.
    let busy = t.version.wrapping_sub(1) | 1;
    if guest_copy::write_via(mem, root, at, &busy).is_err() {
        return;
    }
    fence(Ordering::Release);
    let _ = guest_copy::write_via(mem, root, at, &VcpuTimeInfo { version: busy, ..t });
    fence(Ordering::Release);
    let _ = guest_copy::write_via(mem, root, at, &t.version);
}
