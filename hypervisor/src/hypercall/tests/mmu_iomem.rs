//! I/O memory (`phys::iomem`): dom0, the I/O-privileged domain, maps device MMIO through the PV
//! MMU (its own leaf entries or naming DOMID_IO), uncached if it likes, with no reference
//! taken; never the hypervisor's own devices, never above L1, never for a domU; and the
//! hypervisor never reads or writes such a page for a guest.

use super::mmu::{at, ext1, frame, info, mmu, slot, spare, unwrite, uvm, RO, RW, SELF};
use crate::mm::pte;
use crate::testbed::{err, Testbed};
use guest_abi::errno::Errno;
use guest_abi::hypercall::nr;
use guest_abi::mmu::*;
use guest_abi::types::DomId;
use guest_abi::version::XENVER_EXTRAVERSION;

/// A device's registers (QEMU microvm's last virtio-mmio slot), far above the test RAM.
const DEVICE: u64 = 0xFEB02;
const IO: u64 = DomId::IO.0 as u64;
const UNCACHED: u64 = pte::PCD | pte::PWT;

#[test]
fn dom0_maps_device_memory_uncached_with_no_reference_and_unmaps_it() {
    let mut tb = Testbed::boot();
    let va = spare(&tb, 0);
    let old = frame(&tb, va);
    let refs = |tb: &Testbed| {
        let p = info(tb, old);
        (p.refs, p.type_count, p.foreign_refs)
    };
    let before = refs(&tb);
    let snap = tb.frame_snapshot();
    let pte_ma = slot(&tb, va, 1);
    for dom in [IO, SELF] {
        let e = DEVICE << 12 | RW | UNCACHED | pte::NX;
        assert_eq!(
            mmu(&mut tb, &[MmuUpdate::normal(pte_ma, e)], dom),
            (0, 1),
            "{dom:#x}"
        );
        assert_eq!(at(&tb, pte_ma), e);
        // Back to the RAM frame: its references are as before.
        let back = old << 12 | RW;
        assert_eq!(
            mmu(&mut tb, &[MmuUpdate::normal(pte_ma, back)], SELF),
            (0, 1)
        );
        assert_eq!(refs(&tb), before);
        assert!(
            tb.frame_snapshot() == snap,
            "no frame's bookkeeping changed"
        );
    }
    // update_va_mapping too, and to nothing.
    assert_eq!(uvm(&mut tb, va, DEVICE << 12 | RO | UNCACHED, 0), 0);
    assert_eq!(uvm(&mut tb, va, 0, 0), 0);
    assert_eq!(uvm(&mut tb, va, old << 12 | RW, 0), 0);
}

#[test]
fn the_hypervisors_devices_ram_upper_levels_and_bad_bits_are_refused() {
    let mut tb = Testbed::boot();
    let va = spare(&tb, 0);
    let pte_ma = slot(&tb, va, 1);
    let own = frame(&tb, spare(&tb, 1));
    let l2e = slot(&tb, super::mmu::L2_SLOT3_VA, 2);
    let snap = tb.frame_snapshot();
    for (what, req, dom, want) in [
        (
            "the local APIC",
            MmuUpdate::normal(pte_ma, 0xFEE00 << 12 | RW),
            IO,
            Errno::EPERM,
        ),
        (
            "the I/O APIC",
            MmuUpdate::normal(pte_ma, 0xFEC00 << 12 | RW),
            SELF,
            Errno::EPERM,
        ),
        (
            "RAM through DOMID_IO",
            MmuUpdate::normal(pte_ma, own << 12 | RO),
            IO,
            Errno::EPERM,
        ),
        (
            "I/O memory as a table",
            MmuUpdate::normal(l2e, DEVICE << 12 | RW),
            SELF,
            Errno::EPERM,
        ),
        (
            "I/O memory with a reserved bit",
            MmuUpdate::normal(pte_ma, DEVICE << 12 | RW | 1 << 52),
            IO,
            Errno::EINVAL,
        ),
        (
            "beyond the physical address space",
            MmuUpdate::normal(pte_ma, (1 << 30) << 12 | RW),
            IO,
            Errno::EPERM,
        ),
    ] {
        assert_eq!(mmu(&mut tb, &[req], dom), (err(want), 0), "{what}");
    }
    assert!(
        tb.frame_snapshot() == snap,
        "a refused request changed a frame"
    );
}

#[test]
fn a_domu_can_never_map_device_memory() {
    let mut tb = Testbed::boot();
    let u = tb.domu(1024);
    tb.run(u);
    let va = spare(&tb, 0);
    let pte_ma = slot(&tb, va, 1);
    let e = DEVICE << 12 | RW;
    assert_eq!(
        mmu(&mut tb, &[MmuUpdate::normal(pte_ma, e)], SELF),
        (err(Errno::EPERM), 0)
    );
    // Naming DOMID_IO is for privileged callers: refused before any request is read (the
    // count of those done is not even written).
    assert_eq!(
        mmu(&mut tb, &[MmuUpdate::normal(pte_ma, e)], IO),
        (err(Errno::EPERM), u32::MAX)
    );
    assert_eq!(uvm(&mut tb, va, e, 0), err(Errno::EPERM));
}

#[test]
fn a_table_holding_device_mappings_pins_and_unpins_without_references() {
    let mut tb = Testbed::boot();
    // A spare frame made an L1 holding one device mapping, then pinned: validation accepts
    // the entry for dom0's own table.
    let l1 = unwrite(&mut tb, 2);
    let ma = l1 << 12;
    let e = DEVICE << 12 | RW | UNCACHED;
    assert_eq!(mmu(&mut tb, &[MmuUpdate::normal(ma, e)], SELF), (0, 1));
    assert_eq!(ext1(&mut tb, MMUEXT_PIN_L1_TABLE, l1, 0), 0);
    assert_eq!(ext1(&mut tb, MMUEXT_UNPIN_TABLE, l1, 0), 0);
    // A domU's table with such an entry never validates.
    let u = tb.domu(1024);
    tb.run(u);
    let l1u = unwrite(&mut tb, 2);
    tb.st(|st| {
        use crate::mm::page_types::TableMem;
        st.mem.write(guest_abi::types::Mfn(l1u), 0, e);
    });
    assert_eq!(
        ext1(&mut tb, MMUEXT_PIN_L1_TABLE, l1u, 0),
        err(Errno::EPERM)
    );
}

#[test]
fn the_hypervisor_never_copies_to_or_from_a_device_page_for_a_guest() {
    let mut tb = Testbed::boot();
    let va = spare(&tb, 0);
    assert_eq!(uvm(&mut tb, va, DEVICE << 12 | RW | UNCACHED, 0), 0);
    // A hypercall whose output lands on the device page: EFAULT, nothing written.
    assert_eq!(
        tb.hypercall(
            nr::XEN_VERSION,
            [u64::from(XENVER_EXTRAVERSION), va, 0, 0, 0]
        ),
        err(Errno::EFAULT)
    );
}
