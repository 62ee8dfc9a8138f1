//! Argument widths: registers whose high bits are set so that, truncated to the width Xen
//! declares (`unsigned int`, `domid_t`), they would name a valid, harmless request. The
//! hypervisor must refuse them (EINVAL) rather than act on the truncated value.

use super::Tally;
use guest_abi::errno::Errno;
use guest_abi::grant_table::GNTTABOP_QUERY_SIZE;
use guest_abi::guest::{hypercall2, hypercall3, hypercall4};
use guest_abi::hypercall::nr;
use guest_abi::sched::SCHEDOP_YIELD;
use guest_abi::types::DomId;
use guest_abi::vcpu::VCPUOP_IS_UP;
use guest_abi::version::XENVER_VERSION;

/// Set above bit 31: gone once the value is truncated to 32 bits.
const HIGH32: u64 = 1 << 32;
/// Set above bit 15: gone once a domain id is truncated to 16 bits.
const HIGH16: u64 = 1 << 16;

fn r(v: i64) -> Result<u64, Errno> {
    Errno::from_ret(v)
}

pub fn all(t: &Tally) {
    t.class("argument widths");
    let me = u64::from(DomId::SELF.0);
    // SAFETY: each call is refused before any pointer is used; were one accepted, its
    // truncated form reads nothing (count 0) or only returns a value.
    unsafe {
        t.refused(
            "mmu_update with foreigndom DOMID_SELF + 2^16",
            r(hypercall4(nr::MMU_UPDATE, 0, 0, 0, me | HIGH16)),
        );
        t.refused(
            "mmuext_op with count 2^32",
            r(hypercall4(nr::MMUEXT_OP, 0, HIGH32, 0, me)),
        );
        t.refused(
            "multicall with count 2^32",
            r(hypercall2(nr::MULTICALL, 0, HIGH32)),
        );
        t.refused(
            "grant_table_op query_size + 2^32 with count 0",
            r(hypercall3(
                nr::GRANT_TABLE_OP,
                u64::from(GNTTABOP_QUERY_SIZE) | HIGH32,
                0,
                0,
            )),
        );
        t.refused(
            "sched_op yield + 2^32",
            r(hypercall2(
                nr::SCHED_OP,
                u64::from(SCHEDOP_YIELD) | HIGH32,
                0,
            )),
        );
        t.refused(
            "xen_version version + 2^32",
            r(hypercall2(
                nr::XEN_VERSION,
                u64::from(XENVER_VERSION) | HIGH32,
                0,
            )),
        );
        t.refused(
            "vcpu_op is_up + 2^32",
            r(hypercall3(
                nr::VCPU_OP,
                u64::from(VCPUOP_IS_UP) | HIGH32,
                0,
                0,
            )),
        );
        t.refused(
            "vcpu_op is_up on vCPU 2^32",
            r(hypercall3(nr::VCPU_OP, u64::from(VCPUOP_IS_UP), HIGH32, 0)),
        );
    }
}
