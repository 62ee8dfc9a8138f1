//! Other domains' lives and our own stale translations: control operations on dom0 from a
//! domU, memory beyond our limit, vCPUs we do not have, and writes through TLB entries the
//! hypervisor must have flushed before a frame changed type or owner.

use super::Tally;
use crate::mm::{poke, Space};
use crate::pagetable::PTE_KERNEL_RW;
use crate::traps::catch;
use guest_abi::domctl::{
    DomctlSendTrigger, XenDomctl, XEN_DOMCTL_DESTROYDOMAIN, XEN_DOMCTL_PAUSEDOMAIN,
    XEN_DOMCTL_SENDTRIGGER, XEN_DOMCTL_SENDTRIGGER_NMI,
};
use guest_abi::errno::Errno;
use guest_abi::guest::{self, hypercall2, hypercall3};
use guest_abi::hypercall::nr;
use guest_abi::memory::{
    XenMemoryReservation, XENMEM_DECREASE_RESERVATION, XENMEM_INCREASE_RESERVATION,
};
use guest_abi::mmu::*;
use guest_abi::types::DomId;

fn domctl(cmd: u32, dom: DomId) -> Result<u64, Errno> {
    let mut op = XenDomctl::new(cmd, dom);
    // SAFETY: refused for a domU before anything is done.
    unsafe { guest::domctl(&mut op) }.map(|_| 0)
}

pub fn all(sp: &Space, t: &Tally) {
    t.class("domain lifecycle");
    t.refused("destroy dom0", domctl(XEN_DOMCTL_DESTROYDOMAIN, DomId(0)));
    t.refused("pause dom0", domctl(XEN_DOMCTL_PAUSEDOMAIN, DomId(0)));
    let mut op = XenDomctl::with_payload(
        XEN_DOMCTL_SENDTRIGGER,
        DomId(0),
        &DomctlSendTrigger {
            trigger: XEN_DOMCTL_SENDTRIGGER_NMI,
            vcpu: 0,
        },
    );
    // SAFETY: refused for a domU before anything is done.
    t.refused(
        "send dom0 an NMI (xl trigger)",
        unsafe { guest::domctl(&mut op) }.map(|_| 0),
    );
    let rs = [0u64, 0]; // sched_remote_shutdown { domid 0, reason poweroff }
                        // SAFETY: refused for a domU.
    t.refused(
        "shut dom0 down (remote_shutdown)",
        Errno::from_ret(unsafe { hypercall2(nr::SCHED_OP, 4, rs.as_ptr() as u64) }),
    );
    let mut res = XenMemoryReservation {
        nr_extents: 16,
        domid: DomId(0),
        ..Default::default()
    };
    // SAFETY: refused: only a privileged domain may name another domain.
    t.refused("give dom0 more memory", unsafe {
        guest::memory_op(XENMEM_INCREASE_RESERVATION, &mut res)
    });
    let mut res = XenMemoryReservation {
        nr_extents: 1 << 20,
        domid: DomId::SELF,
        ..Default::default()
    };
    // SAFETY: at most our own limit is given; the extents land nowhere (no list).
    let got = unsafe { guest::memory_op(XENMEM_INCREASE_RESERVATION, &mut res) };
    t.contained(
        "take 4 GiB more memory",
        match got {
            Ok(n) if n < 1 << 20 => Ok("stopped at our maximum"),
            _ => Err("got it all"),
        },
    );
    // SAFETY: refused: we have one vCPU.
    t.refused(
        "bring up vCPU 5",
        Errno::from_ret(unsafe { hypercall3(nr::VCPU_OP, 1, 5, 0) }),
    );
    stale_tlb(sp, t);
}

/// Map a frame, write through the mapping (the TLB now holds it), unmap it *without* a flush,
/// then have the frame become a page table, or be given back: a write through the old address
/// must fault, or it would land in a page table or in another domain's memory.
fn stale_tlb(sp: &Space, t: &Tally) {
    t.class("stale TLB entries");
    let va = sp.spare(32);
    for retype in [true, false] {
        let Some(f) = sp.alloc_frame() else { return };
        let _ = sp.ext(MMUEXT_CLEAR_PAGE, f, 0);
        let _ = sp.map(va, f, PTE_KERNEL_RW);
        poke(va, 0);
        // SAFETY: unmaps our scratch page; no flush on purpose.
        let _ = unsafe { guest::update_va_mapping(va, 0, UvmfFlags::empty()) };
        let changed = if retype {
            sp.ext(MMUEXT_PIN_L1_TABLE, f, 0).is_ok()
        } else {
            let mut list = [f];
            let mut res = XenMemoryReservation {
                extent_start: list.as_mut_ptr() as u64,
                nr_extents: 1,
                domid: DomId::SELF,
                ..Default::default()
            };
            // SAFETY: gives back a frame nothing maps any more.
            let given = unsafe { guest::memory_op(XENMEM_DECREASE_RESERVATION, &mut res) };
            matches!(given, Ok(1))
        };
        let write = catch(|| poke(va, (1 << 12) | 0x67));
        let name = if retype {
            "write through a stale entry after the frame became an L1"
        } else {
            "write through a stale entry after the frame was given back"
        };
        t.contained(
            name,
            match (changed, write) {
                (true, Some(f)) if f.vector == 14 => Ok("#PF: the hypervisor flushed first"),
                (false, _) => Err("could not set up"),
                _ => Err("the write went through"),
            },
        );
        if retype {
            let _ = sp.ext(MMUEXT_UNPIN_TABLE, f, 0);
        }
    }
}
