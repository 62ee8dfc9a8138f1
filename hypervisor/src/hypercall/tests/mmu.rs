//! `mmu_update`, `mmuext_op`, `update_va_mapping` and `update_va_mapping_otherdomain`.
//!
//! The test kernel's initial region (built by pv-builder) is mapped with 4 KiB pages from
//! 0xffffffff80000000: L4 slot 511, L3 slot 510, L2 slots 0 and 1. The pages past the scratch
//! area are ordinary writable data pages the tests turn into tables, or unmap.

use crate::arch::{cpu, paging, preempt};
use crate::mm::guest_walk::translate;
use crate::mm::page_types::{PageInfo, PageType, Partial, TableMem};
use crate::mm::pte;
use crate::testbed::{err, Testbed, SCRATCH_LEN};
use guest_abi::errno::Errno;
use guest_abi::hypercall::nr;
use guest_abi::mmu::*;
use guest_abi::types::{DomId, Mfn};
use zerocopy::IntoBytes;

/// DOMID_SELF as a hypercall argument.
pub(super) const SELF: u64 = DomId::SELF.0 as u64;
/// A read-only data mapping, as the builder makes them (accessed and dirty set).
pub(super) const RO: u64 = pte::P | pte::US | pte::A | pte::D;
/// A writable data mapping (also the flags of the builder's non-leaf entries).
pub(super) const RW: u64 = RO | pte::RW;
/// A kernel-only address: inside the hypervisor hole.
const HOLE: u64 = 0xFFFF_8000_0010_0000;
/// Set in a continued batch's count.
const PREEMPTED: u64 = 1 << 31;
/// A VA of the region the builder left unmapped at L2 (L2 slot 3 of the region's L2).
pub(super) const L2_SLOT3_VA: u64 = 0xFFFF_FFFF_8060_0000;

/// The `k`th spare page past the scratch area (mapped writable by the builder).
pub(super) fn spare(tb: &Testbed, k: u64) -> u64 {
    tb.scratch() + SCRATCH_LEN + k * 4096
}

/// The index of `va` in a table of `level`.
fn idx(va: u64, level: u32) -> usize {
    ((va >> (12 + 9 * (level - 1))) & 0x1FF) as usize
}

/// The machine address of the entry of the `level` table that maps `va` in domain `dom`'s
/// active page tables.
fn slot_of(tb: &Testbed, dom: DomId, va: u64, level: u32) -> u64 {
    tb.st(|st| {
        let mut t = st.dom(dom).expect("domain").vcpus[0].active_l4();
        for l in (level + 1..=4).rev() {
            let e = st.mem.read(t, idx(va, l));
            assert!(pte::present(e), "level {l} entry of {va:#x} not present");
            t = pte::mfn(e);
        }
        t.addr() | (idx(va, level) as u64 * 8)
    })
}

/// [`slot_of`] for the current domain.
pub(super) fn slot(tb: &Testbed, va: u64, level: u32) -> u64 {
    slot_of(tb, tb.current(), va, level)
}

/// The 64-bit word at machine address `ma`.
pub(super) fn at(tb: &Testbed, ma: u64) -> u64 {
    tb.st(|st| {
        st.mem
            .read(Mfn::containing(ma), ((ma & 0xFFF) >> 3) as usize)
    })
}

/// The frame behind `va` in domain `dom`'s page tables.
fn frame_of(tb: &Testbed, dom: DomId, va: u64) -> u64 {
    tb.st(|st| {
        let l4 = st.dom(dom).expect("domain").vcpus[0].active_l4();
        translate(&st.mem, l4, va, false).expect("mapped") >> 12
    })
}

/// A domU beside dom0: spare page 0's address and the frame each maps there, and the domU.
fn dom0_and_domu(tb: &mut Testbed) -> (u64, u64, DomId, u64) {
    let va = spare(tb, 0);
    let d0_frame = frame(tb, va);
    let u = tb.domu(1024);
    (va, d0_frame, u, frame_of(tb, u, va))
}

/// The frame behind `va` for the current domain.
pub(super) fn frame(tb: &Testbed, va: u64) -> u64 {
    frame_of(tb, tb.current(), va)
}

/// A frame's bookkeeping.
pub(super) fn info(tb: &Testbed, mfn: u64) -> PageInfo {
    tb.st(|st| st.frames[mfn as usize])
}

fn l4(tb: &Testbed) -> u64 {
    tb.st(|st| st.cur().vcpus[0].kernel_l4.0)
}

pub(super) fn uvm(tb: &mut Testbed, va: u64, val: u64, flags: u64) -> i64 {
    tb.hypercall(nr::UPDATE_VA_MAPPING, [va, val, flags, 0, 0])
}

/// Map spare page `k` read-only (so its frame may become a table); its frame.
pub(super) fn unwrite(tb: &mut Testbed, k: u64) -> u64 {
    let va = spare(tb, k);
    let m = frame(tb, va);
    assert_eq!(uvm(tb, va, m << 12 | RO, 0), 0);
    m
}

/// Unmap spare page `k` entirely; its frame.
fn unmap(tb: &mut Testbed, k: u64) -> u64 {
    let va = spare(tb, k);
    let m = frame(tb, va);
    assert_eq!(uvm(tb, va, 0, 0), 0);
    m
}

/// `mmu_update` of `reqs` (placed in the scratch area) with `foreigndom`: (rc, *pdone).
pub(super) fn mmu(tb: &mut Testbed, reqs: &[MmuUpdate], dom: u64) -> (i64, u32) {
    let buf = tb.scratch();
    tb.write(buf, &u32::MAX);
    tb.write_bytes(buf + 64, reqs.as_bytes());
    let rc = tb.hypercall(nr::MMU_UPDATE, [buf + 64, reqs.len() as u64, buf, dom, 0]);
    (rc, tb.read::<u32>(buf))
}

/// `mmuext_op` of `ops` with `foreigndom`: (rc, *pdone).
fn ext(tb: &mut Testbed, ops: &[MmuextOp], dom: u64) -> (i64, u32) {
    let buf = tb.scratch();
    tb.write(buf, &u32::MAX);
    tb.write_bytes(buf + 64, ops.as_bytes());
    let rc = tb.hypercall(nr::MMUEXT_OP, [buf + 64, ops.len() as u64, buf, dom, 0]);
    (rc, tb.read::<u32>(buf))
}

/// One `mmuext_op` of the current domain on itself.
pub(super) fn ext1(tb: &mut Testbed, cmd: u32, arg1: u64, arg2: u64) -> i64 {
    let (rc, done) = ext(tb, &[MmuextOp::new(cmd, arg1, arg2)], SELF);
    assert_eq!(done, u32::from(rc == 0), "done of cmd {cmd} with rc {rc}");
    rc
}

#[test]
fn mmu_update_rewrites_a_leaf_entry_and_moves_the_writable_reference() {
    let mut tb = Testbed::boot();
    let va = spare(&tb, 0);
    let m = frame(&tb, va);
    let pte_ma = slot(&tb, va, 1);
    assert_eq!(at(&tb, pte_ma), m << 12 | RW);
    let before = info(&tb, m);
    assert_eq!(
        (before.ptype, before.type_count, before.refs),
        (PageType::Writable, 1, 1)
    );

    // Read-only: the writable type goes, the mapping's reference stays.
    assert_eq!(
        mmu(&mut tb, &[MmuUpdate::normal(pte_ma, m << 12 | RO)], SELF),
        (0, 1)
    );
    assert_eq!(at(&tb, pte_ma), m << 12 | RO);
    let p = info(&tb, m);
    assert_eq!((p.ptype, p.type_count, p.refs), (PageType::None, 0, 1));
    assert_eq!(
        tb.st(|st| crate::mm::guest_copy::write(&st.mem, va, &1u64)),
        Err(Errno::EFAULT)
    );

    // Another frame at the same place: references move from one frame to the other.
    let other = frame(&tb, spare(&tb, 1));
    tb.write(spare(&tb, 1), &0x1234_5678u64);
    assert_eq!(
        mmu(
            &mut tb,
            &[MmuUpdate::normal(pte_ma, other << 12 | RW)],
            SELF
        ),
        (0, 1)
    );
    assert_eq!(info(&tb, m).refs, 0);
    let o = info(&tb, other);
    assert_eq!((o.ptype, o.type_count, o.refs), (PageType::Writable, 2, 2));
    assert_eq!(tb.read::<u64>(va), 0x1234_5678);

    // And back, writable.
    assert_eq!(
        mmu(&mut tb, &[MmuUpdate::normal(pte_ma, m << 12 | RW)], SELF),
        (0, 1)
    );
    let p = info(&tb, m);
    assert_eq!((p.ptype, p.type_count, p.refs), (PageType::Writable, 1, 1));
    let o = info(&tb, other);
    assert_eq!((o.ptype, o.type_count, o.refs), (PageType::Writable, 1, 1));
    tb.write(va, &7u64);
    assert_eq!(tb.read::<u64>(va), 7);
}

#[test]
fn mmu_update_refuses_a_writable_mapping_of_a_page_table() {
    let mut tb = Testbed::boot();
    let va = spare(&tb, 0);
    let pte_ma = slot(&tb, va, 1);
    let old = at(&tb, pte_ma);
    let tables = [
        l4(&tb),
        slot(&tb, va, 3) >> 12,
        slot(&tb, va, 2) >> 12,
        pte_ma >> 12,
    ];
    let snap = tb.frame_snapshot();
    for t in tables {
        assert_eq!(
            mmu(&mut tb, &[MmuUpdate::normal(pte_ma, t << 12 | RW)], SELF),
            (err(Errno::EBUSY), 0),
            "table {t:#x}"
        );
        assert_eq!(
            uvm(&mut tb, va, t << 12 | RW, 0),
            err(Errno::EBUSY),
            "table {t:#x}"
        );
        assert_eq!(at(&tb, pte_ma), old);
    }
    assert_eq!(tb.frame_snapshot(), snap);
    // Read-only mappings of page tables are fine (the guest reads its tables so) and count.
    let l1 = pte_ma >> 12;
    let refs = info(&tb, l1).refs;
    assert_eq!(
        mmu(&mut tb, &[MmuUpdate::normal(pte_ma, l1 << 12 | RO)], SELF),
        (0, 1)
    );
    assert_eq!(info(&tb, l1).refs, refs + 1);
    assert_eq!(info(&tb, l1).ptype, PageType::L1);
    // Reading the L1 through it shows its own entry for `va`.
    assert_eq!(tb.read::<u64>(va + (pte_ma & 0xFFF)), l1 << 12 | RO);
}

#[test]
fn mmu_update_refuses_bad_entries_and_targets() {
    let mut tb = Testbed::boot();
    let va = spare(&tb, 0);
    let m = frame(&tb, va);
    let pte_ma = slot(&tb, va, 1);
    let l2e = slot(&tb, L2_SLOT3_VA, 2);
    let data = frame(&tb, spare(&tb, 1));
    let snap = tb.frame_snapshot();
    let cases: [(&str, MmuUpdate, Errno); 11] = [
        (
            "misaligned entry",
            MmuUpdate {
                ptr: pte_ma + 4,
                val: 0,
            },
            Errno::EINVAL,
        ),
        (
            "entry beyond RAM",
            MmuUpdate::normal(1 << 45, 0),
            Errno::EINVAL,
        ),
        (
            "reserved bits",
            MmuUpdate::normal(pte_ma, m << 12 | RW | 1 << 52),
            Errno::EINVAL,
        ),
        (
            "cache control at L1",
            MmuUpdate::normal(pte_ma, m << 12 | RW | pte::PCD),
            Errno::EPERM,
        ),
        (
            "frame beyond RAM",
            MmuUpdate::normal(pte_ma, 1 << 40 | RO),
            Errno::EPERM,
        ),
        (
            "frame nobody owns",
            MmuUpdate::normal(pte_ma, 0x10 << 12 | RO),
            Errno::EPERM,
        ),
        (
            "superpage at L2",
            MmuUpdate::normal(l2e, data << 12 | RW | pte::PSE),
            Errno::EINVAL,
        ),
        (
            "data page as an L1",
            MmuUpdate::normal(l2e, data << 12 | RW),
            Errno::EBUSY,
        ),
        (
            "hypervisor slot of the L4",
            MmuUpdate::normal((l4(&tb) << 12) | (256 * 8), 0),
            Errno::EPERM,
        ),
        (
            "unknown command",
            MmuUpdate {
                ptr: pte_ma | MMU_PT_UPDATE_NO_TRANSLATE,
                val: 0,
            },
            Errno::ENOSYS,
        ),
        (
            "the L4 in an L3 entry",
            MmuUpdate::normal(slot(&tb, va, 3), l4(&tb) << 12 | RW),
            Errno::EBUSY,
        ),
    ];
    for (what, req, e) in cases {
        assert_eq!(mmu(&mut tb, &[req], SELF), (err(e), 0), "{what}");
    }
    assert_eq!(tb.frame_snapshot(), snap);
    assert_eq!(at(&tb, pte_ma), m << 12 | RW);
    assert_eq!(at(&tb, l2e), 0);
    // The hypervisor's L4 slots are untouched.
    let slots = paging::hypervisor_l4_slots();
    assert_eq!(at(&tb, (l4(&tb) << 12) | (256 * 8)), slots[0]);
}

#[test]
fn mmu_update_into_a_frame_that_is_no_table_writes_plain_data_as_xen_does() {
    let mut tb = Testbed::boot();
    // A page mapped writable, one mapped read-only (Linux's new page table before it is
    // hooked in) and one not mapped at all: the value lands unvalidated (even a superpage
    // entry, which no table here would take) and the frame's type is as before.
    let writable = frame(&tb, spare(&tb, 0));
    let ro = unwrite(&mut tb, 1);
    let unmapped = unmap(&mut tb, 2);
    let val = writable << 12 | RW | pte::PSE;
    for (m, ty) in [
        (writable, (PageType::Writable, 1)),
        (ro, (PageType::None, 0)),
        (unmapped, (PageType::None, 0)),
    ] {
        for ptr in [m << 12 | 0x18, m << 12 | 0xFF8] {
            assert_eq!(
                mmu(&mut tb, &[MmuUpdate::normal(ptr, val)], SELF),
                (0, 1),
                "{m:#x}"
            );
            assert_eq!(at(&tb, ptr), val);
        }
        let i = info(&tb, m);
        assert_eq!((i.ptype, i.type_count), ty, "{m:#x}");
    }
    // Then it can still become a table, validated as any other: the superpage entry in it
    // refuses it as an L2, and, cleared, it is taken.
    assert_eq!(
        ext1(&mut tb, MMUEXT_PIN_L2_TABLE, ro, 0),
        err(Errno::EINVAL)
    );
    let clear = [
        MmuUpdate::normal(ro << 12 | 0x18, 0),
        MmuUpdate::normal(ro << 12 | 0xFF8, 0),
    ];
    assert_eq!(mmu(&mut tb, &clear, SELF), (0, 2));
    assert_eq!(ext1(&mut tb, MMUEXT_PIN_L2_TABLE, ro, 0), 0);
    assert_eq!(info(&tb, ro).ptype, PageType::table(2));
}

#[test]
fn mmu_update_into_a_frame_that_is_no_table_is_refused_where_writing_it_would_be() {
    let mut tb = Testbed::boot();
    let (_va, d0_frame, u, _u_frame) = dom0_and_domu(&mut tb);
    // The domU writing into dom0's frame, or into one nobody owns.
    tb.run(u);
    let before = at(&tb, d0_frame << 12);
    for (what, ptr, e) in [
        ("another domain's frame", d0_frame << 12, Errno::EPERM),
        ("a frame nobody owns", 0x10 << 12, Errno::EPERM),
    ] {
        assert_eq!(
            mmu(&mut tb, &[MmuUpdate::normal(ptr, 0x5000 | RW)], SELF),
            (err(e), 0),
            "{what}"
        );
    }
    assert_eq!(at(&tb, d0_frame << 12), before);
    // A descriptor page in use.
    let g = unwrite(&mut tb, 3);
    let list = tb.scratch() + 0x800;
    tb.write(list, &g);
    assert_eq!(tb.hypercall(nr::SET_GDT, [list, 16, 0, 0, 0]), 0);
    let snap_gdt = tb.frame_snapshot();
    assert_eq!(
        mmu(
            &mut tb,
            &[MmuUpdate::normal(g << 12 | 8, 0x00AF_9A00_0000_FFFF)],
            SELF
        ),
        (err(Errno::EBUSY), 0)
    );
    assert_eq!(at(&tb, g << 12 | 8), 0);
    assert_eq!(tb.frame_snapshot(), snap_gdt);
}

#[test]
fn mmu_update_preserve_ad_keeps_the_old_accessed_and_dirty_bits() {
    let mut tb = Testbed::boot();
    let va = spare(&tb, 0);
    let m = frame(&tb, va);
    let pte_ma = slot(&tb, va, 1);
    let bare = m << 12 | pte::P | pte::US;
    // A and D are set in the old entry: they survive, whatever the new value says.
    let req = MmuUpdate {
        ptr: pte_ma | MMU_PT_UPDATE_PRESERVE_AD,
        val: bare,
    };
    assert_eq!(mmu(&mut tb, &[req], SELF), (0, 1));
    assert_eq!(at(&tb, pte_ma), bare | pte::A | pte::D);
    // Now they are clear in the entry (a normal update): asking for them does not set them.
    assert_eq!(
        mmu(&mut tb, &[MmuUpdate::normal(pte_ma, bare)], SELF),
        (0, 1)
    );
    let req = MmuUpdate {
        ptr: pte_ma | MMU_PT_UPDATE_PRESERVE_AD,
        val: bare | pte::RW | pte::A | pte::D,
    };
    assert_eq!(mmu(&mut tb, &[req], SELF), (0, 1));
    assert_eq!(at(&tb, pte_ma), bare | pte::RW);
    assert_eq!(info(&tb, m).ptype, PageType::Writable);
}

#[test]
fn mmu_update_stops_at_the_first_bad_request_and_reports_how_many_were_done() {
    let mut tb = Testbed::boot();
    let (a, b, c) = (spare(&tb, 0), spare(&tb, 1), spare(&tb, 2));
    let (ma, mb, mc) = (frame(&tb, a), frame(&tb, b), frame(&tb, c));
    let (pa, pb, pc) = (slot(&tb, a, 1), slot(&tb, b, 1), slot(&tb, c, 1));
    let l1 = pa >> 12;
    let reqs = [
        MmuUpdate::normal(pa, ma << 12 | RO),
        MmuUpdate::normal(pb, l1 << 12 | RW), // a page table, writable: refused
        MmuUpdate::normal(pc, mc << 12 | RO),
    ];
    assert_eq!(mmu(&mut tb, &reqs, SELF), (err(Errno::EBUSY), 1));
    assert_eq!(at(&tb, pa), ma << 12 | RO);
    assert_eq!(at(&tb, pb), mb << 12 | RW);
    assert_eq!(at(&tb, pc), mc << 12 | RW);
    // Without a done pointer the first request is still done.
    tb.write_bytes(tb.scratch() + 64, reqs.as_bytes());
    let list = tb.scratch() + 64;
    assert_eq!(
        tb.hypercall(nr::MMU_UPDATE, [list + 16, 2, 0, SELF, 0]),
        err(Errno::EBUSY)
    );
    assert_eq!(at(&tb, pb), mb << 12 | RW);
    // A zero count does nothing and reports 0.
    assert_eq!(mmu(&mut tb, &[], SELF), (0, 0));
}

#[test]
fn mmu_update_reads_requests_up_to_an_unreadable_one() {
    let mut tb = Testbed::boot();
    // The list's last two requests sit at the end of page 3; page 4 is unmapped.
    let (page, next) = (spare(&tb, 3), spare(&tb, 4));
    unmap(&mut tb, 4);
    let (a, b) = (spare(&tb, 0), spare(&tb, 1));
    let (ma, mb) = (frame(&tb, a), frame(&tb, b));
    let (pa, pb) = (slot(&tb, a, 1), slot(&tb, b, 1));
    let reqs = [
        MmuUpdate::normal(pa, ma << 12 | RO),
        MmuUpdate::normal(pb, mb << 12 | RO),
    ];
    let list = page + 4096 - 32;
    tb.write_bytes(list, reqs.as_bytes());
    let pdone = tb.scratch();
    tb.write(pdone, &u32::MAX);
    assert_eq!(
        tb.hypercall(nr::MMU_UPDATE, [list, 4, pdone, SELF, 0]),
        err(Errno::EFAULT)
    );
    assert_eq!(tb.read::<u32>(pdone), 2);
    assert_eq!((at(&tb, pa), at(&tb, pb)), (ma << 12 | RO, mb << 12 | RO));

    // A list the guest cannot read at all: nothing done.
    let snap = tb.frame_snapshot();
    for list in [HOLE, 0x1000, 0x0000_8000_0000_0000, next] {
        tb.write(pdone, &u32::MAX);
        assert_eq!(
            tb.hypercall(nr::MMU_UPDATE, [list, 1, pdone, SELF, 0]),
            err(Errno::EFAULT),
            "list {list:#x}"
        );
        assert_eq!(tb.read::<u32>(pdone), 0);
        assert_eq!(
            tb.hypercall(nr::MMUEXT_OP, [list, 1, pdone, SELF, 0]),
            err(Errno::EFAULT),
            "list {list:#x}"
        );
    }
    assert_eq!(tb.frame_snapshot(), snap);
    // A count or domain id too wide for its type is refused before anything is read.
    assert_eq!(
        tb.hypercall(nr::MMU_UPDATE, [list, 1 << 32 | 1, pdone, SELF, 0]),
        err(Errno::EINVAL)
    );
    assert_eq!(
        tb.hypercall(nr::MMU_UPDATE, [list, 1, pdone, 1 << 16 | SELF, 0]),
        err(Errno::EINVAL)
    );
}

#[test]
fn a_batch_whose_done_pointer_is_unwritable_fails_and_leaves_nothing_armed() {
    let mut tb = Testbed::boot();
    let va = spare(&tb, 0);
    let m = frame(&tb, va);
    let pte_ma = slot(&tb, va, 1);
    let list = tb.scratch() + 64;
    tb.write(list, &MmuUpdate::normal(pte_ma, m << 12 | RO));
    assert_eq!(
        tb.hypercall(nr::MMU_UPDATE, [list, 1, HOLE, SELF, 0]),
        err(Errno::EFAULT)
    );
    // The request itself was done.
    assert_eq!(at(&tb, pte_ma), m << 12 | RO);
    // The batch's slice no longer governs anything: page-table work outside a batched call
    // (which cannot be continued) must never be cut short by it.
    cpu::advance_ns(10 * preempt::SLICE_NS);
    assert!(!preempt::armed_expired(), "mmu_update left its slice armed");

    tb.write(list, &MmuextOp::new(MMUEXT_TLB_FLUSH_LOCAL, 0, 0));
    assert_eq!(
        tb.hypercall(nr::MMUEXT_OP, [list, 1, HOLE, SELF, 0]),
        err(Errno::EFAULT)
    );
    cpu::advance_ns(10 * preempt::SLICE_NS);
    assert!(!preempt::armed_expired(), "mmuext_op left its slice armed");
}

#[test]
fn mmu_update_continues_a_long_batch_to_the_end() {
    let mut tb = Testbed::boot();
    let va = spare(&tb, 0);
    let m = frame(&tb, va);
    let pte_ma = slot(&tb, va, 1);
    // 1101 requests (more than one batch): read-only, writable, read-only, ...
    let reqs: Vec<MmuUpdate> = (0..1101)
        .map(|i| MmuUpdate::normal(pte_ma, m << 12 | if i % 2 == 0 { RO } else { RW }))
        .collect();
    assert_eq!(mmu(&mut tb, &reqs, SELF), (0, 1101));
    assert_eq!(at(&tb, pte_ma), m << 12 | RO);
    let p = info(&tb, m);
    assert_eq!((p.ptype, p.type_count, p.refs), (PageType::None, 0, 1));

    // A continued call (count flagged) adds to the done count already in *pdone.
    let buf = tb.scratch();
    tb.write_bytes(buf + 64, reqs[..2].as_bytes());
    tb.write(buf, &5u32);
    assert_eq!(
        tb.hypercall(nr::MMU_UPDATE, [buf + 64, 2 | PREEMPTED, buf, SELF, 0]),
        0
    );
    assert_eq!(tb.read::<u32>(buf), 7);
    assert_eq!(at(&tb, pte_ma), m << 12 | RW);
}

#[test]
fn mmu_update_cannot_touch_another_domains_tables_or_frames() {
    let mut tb = Testbed::boot();
    let va = spare(&tb, 0);
    let d0_pte = slot(&tb, va, 1);
    let d0_frame = frame(&tb, va);
    let u = tb.domu(1024);
    tb.run(u);
    let u_pte = slot(&tb, va, 1);
    let u_frame = frame(&tb, va);
    assert_ne!(u_frame, d0_frame);
    let snap = tb.frame_snapshot();
    // dom0's frame into the domU's own L1, with or without naming dom0.
    assert_eq!(
        mmu(
            &mut tb,
            &[MmuUpdate::normal(u_pte, d0_frame << 12 | RO)],
            SELF
        ),
        (err(Errno::EPERM), 0)
    );
    assert_eq!(
        mmu(&mut tb, &[MmuUpdate::normal(u_pte, d0_frame << 12 | RO)], 0),
        (err(Errno::EPERM), u32::MAX)
    );
    assert_eq!(uvm(&mut tb, va, d0_frame << 12 | RO, 0), err(Errno::EPERM));
    // dom0's own L1 entry, pointed at the domU's frame or at nothing.
    for val in [u_frame << 12 | RW, 0] {
        assert_eq!(
            mmu(&mut tb, &[MmuUpdate::normal(d0_pte, val)], SELF),
            (err(Errno::EPERM), 0)
        );
    }
    // dom0's M2P entries.
    assert_eq!(
        mmu(&mut tb, &[MmuUpdate::machphys(d0_frame, 5)], SELF),
        (err(Errno::EPERM), 0)
    );
    assert_eq!(tb.frame_snapshot(), snap);
    assert_eq!(at(&tb, d0_pte), d0_frame << 12 | RW);
    assert_eq!(at(&tb, u_pte), u_frame << 12 | RW);
    assert_ne!(paging::m2p_get(Mfn(d0_frame)).0, 5);
}

#[test]
fn a_privileged_domain_maps_a_foreign_frame_only_when_it_names_the_owner() {
    let mut tb = Testbed::boot();
    let va = spare(&tb, 0);
    let u = tb.domu(1024);
    tb.run(u);
    tb.write(va, &0xD0_0D_u64);
    let u_frame = frame(&tb, va);
    tb.run(DomId::DOM0);
    let d0_frame = frame(&tb, va);
    let pte_ma = slot(&tb, va, 1);
    let l2e = slot(&tb, L2_SLOT3_VA, 2);
    let before = info(&tb, u_frame);
    // Not naming the owner, or naming one that does not exist, or a non-leaf entry.
    assert_eq!(
        mmu(
            &mut tb,
            &[MmuUpdate::normal(pte_ma, u_frame << 12 | RW)],
            SELF
        ),
        (err(Errno::EPERM), 0)
    );
    assert_eq!(
        mmu(
            &mut tb,
            &[MmuUpdate::normal(pte_ma, u_frame << 12 | RW)],
            999
        ),
        (err(Errno::ESRCH), u32::MAX)
    );
    assert_eq!(
        mmu(&mut tb, &[MmuUpdate::normal(l2e, 0)], u64::from(u.0)),
        (err(Errno::EPERM), 0)
    );
    assert_eq!(at(&tb, pte_ma), d0_frame << 12 | RW);
    // Named: the foreign frame is mapped and referenced as foreign.
    assert_eq!(
        mmu(
            &mut tb,
            &[MmuUpdate::normal(pte_ma, u_frame << 12 | RW)],
            u64::from(u.0)
        ),
        (0, 1)
    );
    assert_eq!(tb.read::<u64>(va), 0xD0_0D);
    let p = info(&tb, u_frame);
    assert_eq!(p.owner, u);
    assert_eq!(p.refs, before.refs + 1);
    assert_eq!(p.foreign_refs, before.foreign_refs + 1);
    assert_eq!(p.type_count, before.type_count + 1);
    assert_eq!(info(&tb, d0_frame).refs, 0);
    // Unmapping drops the foreign reference.
    assert_eq!(
        mmu(
            &mut tb,
            &[MmuUpdate::normal(pte_ma, d0_frame << 12 | RW)],
            SELF
        ),
        (0, 1)
    );
    let p = info(&tb, u_frame);
    assert_eq!(
        (p.refs, p.foreign_refs, p.type_count),
        (before.refs, before.foreign_refs, before.type_count)
    );
    // The same through update_va_mapping_otherdomain.
    assert_eq!(
        tb.hypercall(
            nr::UPDATE_VA_MAPPING_OTHERDOMAIN,
            [va, u_frame << 12 | RO, 0, u64::from(u.0), 0]
        ),
        0
    );
    assert_eq!(tb.read::<u64>(va), 0xD0_0D);
    assert_eq!(info(&tb, u_frame).foreign_refs, before.foreign_refs + 1);
    assert_eq!(uvm(&mut tb, va, d0_frame << 12 | RW, 0), 0);
    assert_eq!(info(&tb, u_frame).foreign_refs, before.foreign_refs);
    // And the M2P of the domU's frame.
    assert_eq!(
        mmu(&mut tb, &[MmuUpdate::machphys(u_frame, 77)], u64::from(u.0)),
        (0, 1)
    );
    assert_eq!(paging::m2p_get(Mfn(u_frame)).0, 77);
}

#[test]
fn mmu_update_machphys_sets_the_m2p_of_the_callers_frames_only() {
    let mut tb = Testbed::boot();
    let m = frame(&tb, spare(&tb, 0));
    let pfn = paging::m2p_get(Mfn(m)).0;
    assert!(pfn < 1024, "builder set the M2P: {pfn:#x}");
    assert_eq!(
        mmu(&mut tb, &[MmuUpdate::machphys(m, 0x4242)], SELF),
        (0, 1)
    );
    assert_eq!(paging::m2p_get(Mfn(m)).0, 0x4242);
    // Frames nobody owns, or beyond RAM.
    for bad in [0x10, crate::arch::paging::max_mfn(), 1 << 40] {
        let old = paging::m2p_get(Mfn(bad)).0;
        assert_eq!(
            mmu(&mut tb, &[MmuUpdate::machphys(bad, 1)], SELF),
            (err(Errno::EPERM), 0),
            "mfn {bad:#x}"
        );
        assert_eq!(paging::m2p_get(Mfn(bad)).0, old);
    }
    // A batch mixing both kinds of request.
    let pte_ma = slot(&tb, spare(&tb, 0), 1);
    let reqs = [
        MmuUpdate::machphys(m, pfn),
        MmuUpdate::normal(pte_ma, m << 12 | RO),
    ];
    assert_eq!(mmu(&mut tb, &reqs, SELF), (0, 2));
    assert_eq!(paging::m2p_get(Mfn(m)).0, pfn);
    assert_eq!(at(&tb, pte_ma), m << 12 | RO);
}

#[test]
fn linear_page_table_entries_follow_xens_rules() {
    let mut tb = Testbed::boot();
    let va = spare(&tb, 0);
    let l4f = l4(&tb);
    let l3 = slot(&tb, va, 3) >> 12;
    let l2 = slot(&tb, va, 2) >> 12;
    let l1 = slot(&tb, va, 1) >> 12;
    let snap = tb.frame_snapshot();
    // Writable self-references at any level, and any self-reference at L4, are refused.
    for (t, i) in [(l4f, 0usize), (l3, 0), (l2, 3)] {
        assert_eq!(
            mmu(
                &mut tb,
                &[MmuUpdate::normal(t << 12 | (i as u64 * 8), t << 12 | RW)],
                SELF
            ),
            (err(Errno::EINVAL), 0),
            "writable self-reference in {t:#x}"
        );
    }
    assert_eq!(
        mmu(
            &mut tb,
            &[MmuUpdate::normal(l4f << 12, l4f << 12 | RO)],
            SELF
        ),
        (err(Errno::EINVAL), 0)
    );
    assert_eq!(tb.frame_snapshot(), snap);

    // A read-only L2 self-reference in slot 3: the L2's entries appear as an L1 there.
    let e = (l2 << 12) | (3 * 8);
    assert_eq!(
        mmu(&mut tb, &[MmuUpdate::normal(e, l2 << 12 | RO)], SELF),
        (0, 1)
    );
    // Page i of the window is the table L2 entry i names: page 0 the L1, page 3 the L2.
    assert_eq!(tb.read::<u64>(L2_SLOT3_VA), at(&tb, l1 << 12));
    assert_eq!(tb.read::<u64>(L2_SLOT3_VA + 3 * 4096), at(&tb, l2 << 12));
    assert_eq!(pte::mfn(tb.read::<u64>(L2_SLOT3_VA + 3 * 4096)).0, l1);
    // It is read-only through it.
    assert_eq!(
        tb.st(|st| crate::mm::guest_copy::write(&st.mem, L2_SLOT3_VA, &0u64)),
        Err(Errno::EFAULT)
    );
    let p = info(&tb, l2);
    assert_eq!((p.ptype, p.type_count, p.linear), (PageType::L2, 1, 0));
    // update_va_mapping changes L1 entries only: through the self-reference it would reach
    // an L2 entry.
    let zero = unmap(&mut tb, 9);
    assert_eq!(
        uvm(&mut tb, L2_SLOT3_VA + 5 * 4096, zero << 12 | RW, 0),
        err(Errno::EINVAL)
    );
    assert_eq!(at(&tb, (l2 << 12) | (5 * 8)), 0);
    assert_eq!(info(&tb, zero).ptype, PageType::None);

    // A read-only L3 self-reference is fine too.
    let e3 = (l3 << 12) | (7 * 8);
    assert_eq!(
        mmu(&mut tb, &[MmuUpdate::normal(e3, l3 << 12 | RO)], SELF),
        (0, 1)
    );
    // Removing them leaves the tables as they were.
    assert_eq!(
        mmu(
            &mut tb,
            &[MmuUpdate::normal(e, 0), MmuUpdate::normal(e3, 0)],
            SELF
        ),
        (0, 2)
    );
    let after = tb.frame_snapshot();
    for t in [l4f, l3, l2, l1] {
        assert_eq!(after[t as usize], snap[t as usize], "table {t:#x}");
    }
    assert_eq!(info(&tb, l2).linear, 0);
    assert_eq!(info(&tb, l3).linear, 0);
}

/// Write `entries` (index, value) into spare page `k` (zeroed first) and map it read-only;
/// its frame, ready to become a table.
fn table_at(tb: &mut Testbed, k: u64, entries: &[(usize, u64)]) -> u64 {
    let va = spare(tb, k);
    tb.write_bytes(va, &[0u8; 4096]);
    for &(i, v) in entries {
        tb.write(va + i as u64 * 8, &v);
    }
    unwrite(tb, k)
}

#[test]
fn mmuext_pins_each_level_and_unpin_releases_what_the_table_held() {
    let mut tb = Testbed::boot();
    let va = spare(&tb, 0);
    let l4f = l4(&tb);
    let l3 = slot(&tb, va, 3) >> 12;
    let l2 = slot(&tb, va, 2) >> 12;
    let l1 = slot(&tb, va, 1) >> 12;
    let data = frame(&tb, spare(&tb, 10));
    // An L1 mapping a data frame read-only and writable, an L2 over the existing L1, an L3
    // over the L2, an L4 copied from the live one.
    let t1 = table_at(&mut tb, 1, &[(0, data << 12 | RO), (9, data << 12 | RW)]);
    let t2 = table_at(&mut tb, 2, &[(4, l1 << 12 | RW)]);
    let t3 = table_at(&mut tb, 3, &[(4, l2 << 12 | RW)]);
    let t4 = frame(&tb, spare(&tb, 4));
    assert_eq!(ext1(&mut tb, MMUEXT_COPY_PAGE, t4, l4f), 0);
    unwrite(&mut tb, 4);
    let snap = tb.frame_snapshot();

    let cases = [
        (MMUEXT_PIN_L1_TABLE, t1, PageType::L1, data),
        (MMUEXT_PIN_L2_TABLE, t2, PageType::L2, l1),
        (MMUEXT_PIN_L3_TABLE, t3, PageType::L3, l2),
        (MMUEXT_PIN_L4_TABLE, t4, PageType::L4, l3),
    ];
    for (cmd, t, ty, child) in cases {
        let c = info(&tb, child);
        assert_eq!(ext1(&mut tb, cmd, t, 0), 0, "{ty:?}");
        let p = info(&tb, t);
        assert_eq!((p.ptype, p.type_count, p.pinned), (ty, 1, true), "{ty:?}");
        let c2 = info(&tb, child);
        if ty == PageType::L1 {
            // Two mappings, one of them writable.
            assert_eq!((c2.refs, c2.type_count), (c.refs + 2, c.type_count + 1));
        } else {
            assert_eq!(c2.type_count, c.type_count + 1, "{ty:?}");
        }
        // Pinned twice, or as another level: refused.
        assert_eq!(ext1(&mut tb, cmd, t, 0), err(Errno::EINVAL));
        // A pinned table cannot be mapped writable.
        assert_eq!(uvm(&mut tb, va, t << 12 | RW, 0), err(Errno::EBUSY));
    }
    // The pinned L4 carries the hypervisor's slots.
    assert_eq!(
        at(&tb, (t4 << 12) | (256 * 8)),
        paging::hypervisor_l4_slots()[0]
    );
    for (_, t, ty, _) in cases {
        assert_eq!(ext1(&mut tb, MMUEXT_UNPIN_TABLE, t, 0), 0, "{ty:?}");
        assert_eq!(ext1(&mut tb, MMUEXT_UNPIN_TABLE, t, 0), err(Errno::EINVAL));
        let p = info(&tb, t);
        assert_eq!(
            (p.ptype, p.type_count, p.pinned),
            (PageType::None, 0, false)
        );
    }
    assert_eq!(tb.frame_snapshot(), snap);
    // Unpinning a table that was never pinned (the live L3) is refused too.
    assert_eq!(ext1(&mut tb, MMUEXT_UNPIN_TABLE, l3, 0), err(Errno::EINVAL));
    assert_eq!(info(&tb, l3).type_count, 1);
}

#[test]
fn mmuext_pin_refuses_tables_that_would_break_the_type_rules() {
    let mut tb = Testbed::boot();
    let va = spare(&tb, 0);
    let l4f = l4(&tb);
    let l3 = slot(&tb, va, 3) >> 12;
    let l1 = slot(&tb, va, 1) >> 12;
    let data = frame(&tb, spare(&tb, 10));
    // An L1 mapping the live L4 (and then the live L1) writable.
    let bad1 = table_at(&mut tb, 1, &[(0, data << 12 | RO), (1, l4f << 12 | RW)]);
    // An L2 whose entry names a data frame still mapped writable.
    let bad2 = table_at(&mut tb, 2, &[(0, data << 12 | RW)]);
    // An L1 entry with a reserved bit set.
    let bad3 = table_at(&mut tb, 3, &[(3, data << 12 | RO | 1 << 52)]);
    let writable = frame(&tb, spare(&tb, 4));
    let snap = tb.frame_snapshot();
    let cases = [
        (
            "maps the L4 writable",
            MMUEXT_PIN_L1_TABLE,
            bad1,
            Errno::EBUSY,
        ),
        (
            "names a writable data frame",
            MMUEXT_PIN_L2_TABLE,
            bad2,
            Errno::EBUSY,
        ),
        ("reserved bits", MMUEXT_PIN_L1_TABLE, bad3, Errno::EINVAL),
        (
            "mapped writable itself",
            MMUEXT_PIN_L1_TABLE,
            writable,
            Errno::EBUSY,
        ),
        ("an L1 as an L2", MMUEXT_PIN_L2_TABLE, l1, Errno::EBUSY),
        ("the L3 as an L2", MMUEXT_PIN_L2_TABLE, l3, Errno::EBUSY),
        (
            "the pinned L4 again",
            MMUEXT_PIN_L4_TABLE,
            l4f,
            Errno::EINVAL,
        ),
        ("beyond RAM", MMUEXT_PIN_L1_TABLE, 1 << 40, Errno::EINVAL),
    ];
    for (what, cmd, mfn, e) in cases {
        assert_eq!(ext1(&mut tb, cmd, mfn, 0), err(e), "{what}");
    }
    // Nothing was left typed, referenced or part-way.
    assert_eq!(tb.frame_snapshot(), snap);
    for m in [bad1, bad2, bad3] {
        assert_eq!(info(&tb, m).partial, Partial::None);
    }
    assert_eq!(tb.read::<u64>(spare(&tb, 1) + 8), l4f << 12 | RW);
}

#[test]
fn mmuext_pin_and_unpin_refuse_frames_the_caller_does_not_own() {
    let mut tb = Testbed::boot();
    let d0_l4 = l4(&tb);
    let d0_spare = frame(&tb, spare(&tb, 0));
    let u = tb.domu(1024);
    let u_l4 = tb.st(|st| st.dom(u).unwrap().vcpus[0].kernel_l4.0);
    tb.run(u);
    let shared = tb.st(|st| st.cur().shared_info.mfn().0);
    let snap = tb.frame_snapshot();
    for (what, cmd, mfn, e) in [
        ("dom0's L4", MMUEXT_PIN_L4_TABLE, d0_l4, Errno::EPERM),
        (
            "dom0's data page",
            MMUEXT_PIN_L1_TABLE,
            d0_spare,
            Errno::EPERM,
        ),
        ("a free frame", MMUEXT_PIN_L1_TABLE, 0x10, Errno::EPERM),
        ("its shared_info", MMUEXT_PIN_L1_TABLE, shared, Errno::EPERM),
        ("unpin dom0's L4", MMUEXT_UNPIN_TABLE, d0_l4, Errno::EPERM),
        ("unpin a free frame", MMUEXT_UNPIN_TABLE, 0x10, Errno::EPERM),
    ] {
        assert_eq!(ext1(&mut tb, cmd, mfn, 0), err(e), "{what}");
    }
    // Naming dom0 as the foreign domain is not allowed to an unprivileged domain.
    assert_eq!(
        ext(&mut tb, &[MmuextOp::new(MMUEXT_UNPIN_TABLE, d0_l4, 0)], 0),
        (err(Errno::EPERM), u32::MAX)
    );
    assert_eq!(tb.frame_snapshot(), snap);
    let p = info(&tb, d0_l4);
    assert_eq!((p.ptype, p.type_count, p.pinned), (PageType::L4, 2, true));

    // dom0 may unpin and pin the domU's table when it names the domU, as a builder does.
    tb.run(DomId::DOM0);
    assert_eq!(
        ext1(&mut tb, MMUEXT_UNPIN_TABLE, u_l4, 0),
        err(Errno::EPERM)
    );
    let op = |cmd| [MmuextOp::new(cmd, u_l4, 0)];
    assert_eq!(
        ext(&mut tb, &op(MMUEXT_UNPIN_TABLE), u64::from(u.0)),
        (0, 1)
    );
    let p = info(&tb, u_l4);
    assert_eq!((p.ptype, p.type_count, p.pinned), (PageType::L4, 1, false));
    assert_eq!(
        ext(&mut tb, &op(MMUEXT_PIN_L4_TABLE), u64::from(u.0)),
        (0, 1)
    );
    assert!(info(&tb, u_l4).pinned);
    assert_eq!(
        ext(&mut tb, &op(MMUEXT_PIN_L4_TABLE), 999),
        (err(Errno::ESRCH), u32::MAX)
    );
    assert_eq!(tb.frame_snapshot(), snap);
}

#[test]
fn unpinning_tables_in_use_keeps_them_typed_until_the_last_reference_goes() {
    let mut tb = Testbed::boot();
    let va = spare(&tb, 0);
    let l4f = l4(&tb);
    // The live L4: CR3 still holds it.
    assert_eq!(ext1(&mut tb, MMUEXT_UNPIN_TABLE, l4f, 0), 0);
    let p = info(&tb, l4f);
    assert_eq!((p.ptype, p.type_count, p.pinned), (PageType::L4, 1, false));
    assert_eq!(cpu::read_cr3(), l4f << 12);
    tb.write(va, &99u64);
    assert_eq!(tb.read::<u64>(va), 99);
    assert_eq!(ext1(&mut tb, MMUEXT_PIN_L4_TABLE, l4f, 0), 0);
    assert_eq!(info(&tb, l4f).type_count, 2);

    // A pinned L1 hooked into the live L2 (L2 slot 3), then unpinned: the L2 entry holds it.
    let data = frame(&tb, spare(&tb, 10));
    tb.write(spare(&tb, 10), &0xABCDu64);
    let t1 = table_at(&mut tb, 1, &[(0, data << 12 | RO)]);
    assert_eq!(ext1(&mut tb, MMUEXT_PIN_L1_TABLE, t1, 0), 0);
    let l2e = slot(&tb, L2_SLOT3_VA, 2);
    assert_eq!(
        mmu(&mut tb, &[MmuUpdate::normal(l2e, t1 << 12 | RW)], SELF),
        (0, 1)
    );
    assert_eq!(info(&tb, t1).type_count, 2);
    assert_eq!(ext1(&mut tb, MMUEXT_UNPIN_TABLE, t1, 0), 0);
    let p = info(&tb, t1);
    assert_eq!((p.ptype, p.type_count, p.pinned), (PageType::L1, 1, false));
    assert_eq!(tb.read::<u64>(L2_SLOT3_VA), 0xABCD);
    // Still a table: it cannot be mapped writable.
    assert_eq!(uvm(&mut tb, va, t1 << 12 | RW, 0), err(Errno::EBUSY));
    let data_refs = info(&tb, data).refs;
    // The last reference goes: the L1 is released and its mapping with it.
    assert_eq!(mmu(&mut tb, &[MmuUpdate::normal(l2e, 0)], SELF), (0, 1));
    let p = info(&tb, t1);
    assert_eq!((p.ptype, p.type_count), (PageType::None, 0));
    assert_eq!(info(&tb, data).refs, data_refs - 1);
    assert_eq!(uvm(&mut tb, va, t1 << 12 | RW, 0), 0);
}

#[test]
fn mmuext_new_baseptr_switches_cr3_and_moves_the_type_reference() {
    let mut tb = Testbed::boot();
    let old = l4(&tb);
    let l3 = slot(&tb, spare(&tb, 0), 3) >> 12;
    let new = frame(&tb, spare(&tb, 1));
    assert_eq!(ext1(&mut tb, MMUEXT_COPY_PAGE, new, old), 0);
    unwrite(&mut tb, 1);
    let l3_count = info(&tb, l3).type_count;

    assert_eq!(ext1(&mut tb, MMUEXT_NEW_BASEPTR, new, 0), 0);
    assert_eq!(cpu::read_cr3(), new << 12);
    assert_eq!(l4(&tb), new);
    let p = info(&tb, new);
    assert_eq!((p.ptype, p.type_count, p.pinned), (PageType::L4, 1, false));
    assert_eq!(info(&tb, old).type_count, 1);
    assert_eq!(info(&tb, l3).type_count, l3_count + 1);
    // The guest's memory is reached through the new table.
    tb.write(spare(&tb, 2), &0x5151u64);
    assert_eq!(tb.read::<u64>(spare(&tb, 2)), 0x5151);

    // Back: the copy loses its last reference and its type.
    assert_eq!(ext1(&mut tb, MMUEXT_NEW_BASEPTR, old, 0), 0);
    assert_eq!(cpu::read_cr3(), old << 12);
    let p = info(&tb, new);
    assert_eq!((p.ptype, p.type_count), (PageType::None, 0));
    assert_eq!(info(&tb, old).type_count, 2);
    assert_eq!(info(&tb, l3).type_count, l3_count);
    // The same table again is harmless.
    assert_eq!(ext1(&mut tb, MMUEXT_NEW_BASEPTR, old, 0), 0);
    assert_eq!(info(&tb, old).type_count, 2);
}

#[test]
fn mmuext_new_baseptr_refuses_frames_that_are_not_the_callers_l4s() {
    let mut tb = Testbed::boot();
    let d0_l4 = l4(&tb);
    let u = tb.domu(1024);
    tb.run(u);
    let u_l4 = l4(&tb);
    let l1 = slot(&tb, spare(&tb, 0), 1) >> 12;
    let writable = frame(&tb, spare(&tb, 0));
    let bad = table_at(&mut tb, 1, &[(3, writable << 12 | RW)]);
    let cr3 = cpu::read_cr3();
    let snap = tb.frame_snapshot();
    for (what, mfn, e) in [
        ("dom0's L4", d0_l4, Errno::EPERM),
        ("an L1", l1, Errno::EBUSY),
        ("a writable data page", writable, Errno::EBUSY),
        ("an L4 naming a writable page as L3", bad, Errno::EBUSY),
        ("beyond RAM", 1 << 40, Errno::EINVAL),
    ] {
        assert_eq!(ext1(&mut tb, MMUEXT_NEW_BASEPTR, mfn, 0), err(e), "{what}");
        assert_eq!(
            ext1(&mut tb, MMUEXT_NEW_USER_BASEPTR, mfn, 0),
            err(e),
            "{what}"
        );
    }
    assert_eq!(tb.frame_snapshot(), snap);
    assert_eq!(cpu::read_cr3(), cr3);
    assert_eq!(l4(&tb), u_l4);
    assert_eq!(tb.st(|st| st.cur().vcpus[0].user_l4.0), 0);

    // dom0 cannot load a domU's table as its own, even naming the domU (EPERM, as Xen).
    tb.run(DomId::DOM0);
    for cmd in [MMUEXT_NEW_BASEPTR, MMUEXT_NEW_USER_BASEPTR] {
        assert_eq!(
            ext(&mut tb, &[MmuextOp::new(cmd, u_l4, 0)], u64::from(u.0)),
            (err(Errno::EPERM), 0)
        );
    }
    assert_eq!(tb.st(|st| st.cur().vcpus[0].user_l4.0), 0);
    assert_eq!(l4(&tb), d0_l4);
    assert_eq!(cpu::read_cr3(), d0_l4 << 12);
}

#[test]
fn mmuext_new_user_baseptr_sets_and_clears_the_user_table() {
    let mut tb = Testbed::boot();
    let k = l4(&tb);
    let user = frame(&tb, spare(&tb, 1));
    assert_eq!(ext1(&mut tb, MMUEXT_COPY_PAGE, user, k), 0);
    unwrite(&mut tb, 1);
    assert_eq!(ext1(&mut tb, MMUEXT_NEW_USER_BASEPTR, user, 0), 0);
    assert_eq!(tb.st(|st| st.cur().vcpus[0].user_l4.0), user);
    let p = info(&tb, user);
    assert_eq!((p.ptype, p.type_count), (PageType::L4, 1));
    // In kernel mode the kernel table stays live.
    assert_eq!(cpu::read_cr3(), k << 12);
    assert_eq!(l4(&tb), k);
    // Cleared with 0: the reference goes.
    assert_eq!(ext1(&mut tb, MMUEXT_NEW_USER_BASEPTR, 0, 0), 0);
    assert_eq!(tb.st(|st| st.cur().vcpus[0].user_l4.0), 0);
    let p = info(&tb, user);
    assert_eq!((p.ptype, p.type_count), (PageType::None, 0));
    // The kernel's own L4 may serve as the user one too.
    assert_eq!(ext1(&mut tb, MMUEXT_NEW_USER_BASEPTR, k, 0), 0);
    assert_eq!(info(&tb, k).type_count, 3);
    assert_eq!(ext1(&mut tb, MMUEXT_NEW_USER_BASEPTR, 0, 0), 0);
    assert_eq!(info(&tb, k).type_count, 2);
}

#[test]
fn mmuext_flushes_reach_the_tlb() {
    let mut tb = Testbed::boot();
    let va = spare(&tb, 0);
    // The _MULTI commands name vCPUs by a bitmap in guest memory: vCPU 0.
    let mask = tb.scratch() + 0x3000;
    tb.write(mask, &1u64);
    for cmd in [
        MMUEXT_TLB_FLUSH_LOCAL,
        MMUEXT_TLB_FLUSH_MULTI,
        MMUEXT_TLB_FLUSH_ALL,
    ] {
        let w = cpu::cr3_writes();
        assert_eq!(ext1(&mut tb, cmd, 0, mask), 0);
        assert_eq!(cpu::cr3_writes(), w + 1, "cmd {cmd}");
        assert_eq!(cpu::read_cr3(), l4(&tb) << 12);
    }
    for cmd in [MMUEXT_INVLPG_LOCAL, MMUEXT_INVLPG_MULTI, MMUEXT_INVLPG_ALL] {
        let n = paging::invlpgs();
        assert_eq!(ext1(&mut tb, cmd, va, mask), 0);
        assert_eq!(paging::invlpgs(), n + 1, "cmd {cmd}");
        // An address the guest cannot name is not flushed (and not an error, as in Xen).
        for bad in [HOLE, 0x0000_8000_0000_0000] {
            assert_eq!(ext1(&mut tb, cmd, bad, mask), 0);
        }
        assert_eq!(paging::invlpgs(), n + 1, "cmd {cmd}");
    }
    // A vCPU mask that cannot be read: EINVAL (as Xen), nothing flushed; an empty one (or
    // bits only beyond the domain's vCPUs) flushes nothing.
    let (i0, w0) = (paging::invlpgs(), cpu::cr3_writes());
    for cmd in [MMUEXT_TLB_FLUSH_MULTI, MMUEXT_INVLPG_MULTI] {
        for bad in [0, HOLE, 0x0000_8000_0000_0000] {
            assert_eq!(ext1(&mut tb, cmd, va, bad), err(Errno::EINVAL), "cmd {cmd}");
        }
        tb.write(mask, &!1u64);
        assert_eq!(ext1(&mut tb, cmd, va, mask), 0);
        tb.write(mask, &1u64);
    }
    assert_eq!((paging::invlpgs(), cpu::cr3_writes()), (i0, w0));
    // Cache flushes need privilege.
    assert_eq!(ext1(&mut tb, MMUEXT_FLUSH_CACHE, 0, 0), 0);
    assert_eq!(ext1(&mut tb, MMUEXT_FLUSH_CACHE_GLOBAL, 0, 0), 0);
    // Flushes act on the caller's own vCPU: naming another domain is refused (as Xen).
    let u = tb.domu(1024);
    let (i0, w0) = (paging::invlpgs(), cpu::cr3_writes());
    for cmd in [
        MMUEXT_TLB_FLUSH_LOCAL,
        MMUEXT_TLB_FLUSH_MULTI,
        MMUEXT_TLB_FLUSH_ALL,
        MMUEXT_INVLPG_LOCAL,
        MMUEXT_INVLPG_MULTI,
        MMUEXT_INVLPG_ALL,
        MMUEXT_FLUSH_CACHE,
        MMUEXT_FLUSH_CACHE_GLOBAL,
    ] {
        assert_eq!(
            ext(&mut tb, &[MmuextOp::new(cmd, va, 0)], u64::from(u.0)),
            (err(Errno::EPERM), 0),
            "cmd {cmd}"
        );
    }
    assert_eq!((paging::invlpgs(), cpu::cr3_writes()), (i0, w0));
    // A domain without I/O privilege may not flush caches: EACCES (as Xen's
    // cache_flush_permitted), not EPERM, which is for naming another domain.
    tb.run(u);
    assert_eq!(ext1(&mut tb, MMUEXT_FLUSH_CACHE, 0, 0), err(Errno::EACCES));
    assert_eq!(
        ext1(&mut tb, MMUEXT_FLUSH_CACHE_GLOBAL, 0, 0),
        err(Errno::EACCES)
    );
    // Unknown and unsupported commands.
    for cmd in [14, MMUEXT_MARK_SUPER, MMUEXT_UNMARK_SUPER, 21, 0xFFFF_FFFF] {
        assert_eq!(ext1(&mut tb, cmd, 0, 0), err(Errno::ENOSYS), "cmd {cmd}");
    }
}

#[test]
fn mmuext_op_continues_a_long_batch_to_the_end() {
    let mut tb = Testbed::boot();
    let va = spare(&tb, 0);
    let ops = vec![MmuextOp::new(MMUEXT_INVLPG_LOCAL, va, 0); 1300];
    let n = paging::invlpgs();
    assert_eq!(ext(&mut tb, &ops, SELF), (0, 1300));
    assert_eq!(paging::invlpgs(), n + 1300);
    // A bad op part-way through the second batch: the ones before it are done.
    let mut ops = ops;
    ops[700] = MmuextOp::new(MMUEXT_PIN_L1_TABLE, frame(&tb, va), 0);
    let n = paging::invlpgs();
    assert_eq!(ext(&mut tb, &ops, SELF), (err(Errno::EBUSY), 700));
    assert_eq!(paging::invlpgs(), n + 700);
}

#[test]
fn mmuext_clear_and_copy_page_work_on_ordinary_frames_only() {
    let mut tb = Testbed::boot();
    let (a, b) = (spare(&tb, 0), spare(&tb, 1));
    let (ma, mb) = (frame(&tb, a), frame(&tb, b));
    let pattern: Vec<u8> = (0..4096u32).map(|i| (i % 251) as u8).collect();
    tb.write_bytes(a, &pattern);
    assert_eq!(ext1(&mut tb, MMUEXT_COPY_PAGE, mb, ma), 0);
    assert_eq!(tb.read_bytes(b, 4096), pattern);
    assert_eq!(ext1(&mut tb, MMUEXT_CLEAR_PAGE, ma, 0), 0);
    assert_eq!(tb.read_bytes(a, 4096), vec![0u8; 4096]);
    // A frame with no mapping at all can be cleared too.
    let c = unmap(&mut tb, 2);
    assert_eq!(ext1(&mut tb, MMUEXT_COPY_PAGE, c, mb), 0);
    assert_eq!(ext1(&mut tb, MMUEXT_COPY_PAGE, ma, c), 0);
    assert_eq!(tb.read_bytes(a, 4096), pattern);

    // Page tables, descriptor pages and other domains' frames are refused as targets.
    let l4f = l4(&tb);
    let l1 = slot(&tb, a, 1) >> 12;
    let u = tb.domu(1024);
    let u_frame = frame_of(&tb, u, a);
    let gdt = frame(&tb, spare(&tb, 3));
    tb.write_bytes(spare(&tb, 3), &[0u8; 4096]);
    unwrite(&mut tb, 3);
    let list = tb.scratch() + 0x8000;
    tb.write(list, &gdt);
    assert_eq!(tb.hypercall(nr::SET_GDT, [list, 512, 0, 0, 0]), 0);
    let l1_before = tb.st(|st| {
        (0..512)
            .map(|i| st.mem.read(Mfn(l1), i))
            .collect::<Vec<_>>()
    });
    let snap = tb.frame_snapshot();
    for (what, dst) in [
        ("the L4", l4f),
        ("an L1", l1),
        ("a GDT frame", gdt),
        ("a domU's frame", u_frame),
        ("a free frame", 0x10),
        ("beyond RAM", 1 << 40),
    ] {
        assert_eq!(
            ext1(&mut tb, MMUEXT_CLEAR_PAGE, dst, 0),
            err(Errno::EINVAL),
            "{what}"
        );
        assert_eq!(
            ext1(&mut tb, MMUEXT_COPY_PAGE, dst, mb),
            err(Errno::EINVAL),
            "{what}"
        );
    }
    // Another domain's frame as the source.
    assert_eq!(
        ext1(&mut tb, MMUEXT_COPY_PAGE, ma, u_frame),
        err(Errno::EINVAL)
    );
    assert_eq!(tb.frame_snapshot(), snap);
    assert_eq!(
        tb.st(|st| (0..512)
            .map(|i| st.mem.read(Mfn(l1), i))
            .collect::<Vec<_>>()),
        l1_before
    );
    assert_eq!(tb.read_bytes(a, 4096), pattern);
}

#[test]
fn update_va_mapping_remaps_a_page_and_flushes_as_asked() {
    let mut tb = Testbed::boot();
    let va = spare(&tb, 0);
    let m = frame(&tb, va);
    let (x, y) = (spare(&tb, 1), spare(&tb, 2));
    let (mx, my) = (frame(&tb, x), frame(&tb, y));
    tb.write(x, &0x1111u64);
    tb.write(y, &0x2222u64);
    let pte_ma = slot(&tb, va, 1);
    // No flush; one page; everything.
    for (target, flags, inv, full) in [
        (mx, UvmfFlags::NONE, 0, 0),
        (my, UvmfFlags::INVLPG, 1, 0),
        (mx, UvmfFlags::TLB_FLUSH, 0, 1),
        (my, UvmfFlags::INVLPG | UvmfFlags::ALL, 1, 0),
        (mx, UvmfFlags::TLB_FLUSH | UvmfFlags::ALL, 0, 1),
    ] {
        let (i0, w0) = (paging::invlpgs(), cpu::cr3_writes());
        assert_eq!(
            uvm(&mut tb, va, target << 12 | RO, flags.bits()),
            0,
            "{flags:?}"
        );
        assert_eq!(
            (paging::invlpgs() - i0, cpu::cr3_writes() - w0),
            (inv, full),
            "{flags:?}"
        );
        assert_eq!(at(&tb, pte_ma), target << 12 | RO);
        let want = if target == mx { 0x1111u64 } else { 0x2222 };
        assert_eq!(tb.read::<u64>(va), want);
    }
    // UVMF_MULTI: the address of a vCPU mask above the flush type; one naming vCPU 0
    // flushes, an empty one does not, an unreadable one is EFAULT with the entry written.
    let mask = tb.scratch() + 0x3000;
    for (bits, inv) in [(1u64, 1), (0, 0)] {
        tb.write(mask, &bits);
        let i0 = paging::invlpgs();
        let flags = mask | UvmfFlags::INVLPG.bits();
        assert_eq!(uvm(&mut tb, va, my << 12 | RO, flags), 0);
        assert_eq!(paging::invlpgs() - i0, inv, "mask {bits:#x}");
        assert_eq!(uvm(&mut tb, va, mx << 12 | RO, flags), 0);
    }
    let i0 = paging::invlpgs();
    let flags = HOLE | UvmfFlags::INVLPG.bits();
    assert_eq!(uvm(&mut tb, va, my << 12 | RO, flags), err(Errno::EFAULT));
    assert_eq!((paging::invlpgs(), at(&tb, pte_ma)), (i0, my << 12 | RO));
    assert_eq!(uvm(&mut tb, va, mx << 12 | RO, 0), 0);
    // The old frame lost its mapping; the targets gained and lost theirs.
    assert_eq!(info(&tb, m).refs, 0);
    assert_eq!(info(&tb, m).ptype, PageType::None);
    assert_eq!(info(&tb, mx).refs, 2);
    assert_eq!(info(&tb, my).refs, 1);
    // Unmapped: reads fault; mapped back writable.
    assert_eq!(uvm(&mut tb, va, 0, 0), 0);
    assert_eq!(info(&tb, mx).refs, 1);
    assert_eq!(
        tb.st(|st| crate::mm::guest_copy::read::<u64>(&st.mem, va)),
        Err(Errno::EFAULT)
    );
    assert_eq!(uvm(&mut tb, va, m << 12 | RW, 0), 0);
    tb.write(va, &3u64);
    assert_eq!(tb.read::<u64>(va), 3);
    let p = info(&tb, m);
    assert_eq!((p.ptype, p.type_count, p.refs), (PageType::Writable, 1, 1));
}

#[test]
fn update_va_mapping_refuses_bad_addresses_and_entries() {
    let mut tb = Testbed::boot();
    let va = spare(&tb, 0);
    let m = frame(&tb, va);
    let u = tb.domu(1024);
    let u_frame = frame_of(&tb, u, va);
    let snap = tb.frame_snapshot();
    for (what, at_va, val, e) in [
        ("hypervisor hole", HOLE, m << 12 | RO, Errno::EINVAL),
        (
            "non-canonical",
            0x0000_8000_0000_0000,
            m << 12 | RO,
            Errno::EINVAL,
        ),
        ("no L4 entry", 0x1000, m << 12 | RO, Errno::EINVAL),
        ("no L2 entry", L2_SLOT3_VA, m << 12 | RO, Errno::EINVAL),
        (
            "another domain's frame",
            va,
            u_frame << 12 | RO,
            Errno::EPERM,
        ),
        ("reserved bits", va, m << 12 | RO | 1 << 55, Errno::EINVAL),
        ("cache control", va, m << 12 | RO | pte::PWT, Errno::EPERM),
        ("frame beyond RAM", va, 1 << 40 | RO, Errno::EPERM),
    ] {
        assert_eq!(uvm(&mut tb, at_va, val, 0), err(e), "{what}");
    }
    assert_eq!(tb.frame_snapshot(), snap);
    assert_eq!(at(&tb, slot(&tb, va, 1)), m << 12 | RW);
}

#[test]
fn update_va_mapping_otherdomain_is_for_privileged_callers() {
    let mut tb = Testbed::boot();
    let (va, d0_frame, u, u_frame) = dom0_and_domu(&mut tb);
    let other = |tb: &mut Testbed, val: u64, dom: u64| {
        tb.hypercall(nr::UPDATE_VA_MAPPING_OTHERDOMAIN, [va, val, 0, dom, 0])
    };
    // dom0: nonexistent or too-wide domain ids.
    assert_eq!(other(&mut tb, u_frame << 12 | RO, 999), err(Errno::ESRCH));
    assert_eq!(
        other(&mut tb, u_frame << 12 | RO, 1 << 16 | u64::from(u.0)),
        err(Errno::EINVAL)
    );
    // Naming the domU but mapping dom0's own frame: the frame is not the domU's.
    assert_eq!(
        other(&mut tb, d0_frame << 12 | RO, u64::from(u.0)),
        err(Errno::EPERM)
    );
    // DOMID_SELF is the plain call.
    assert_eq!(other(&mut tb, d0_frame << 12 | RO, SELF), 0);
    assert_eq!(at(&tb, slot(&tb, va, 1)), d0_frame << 12 | RO);

    // The domU cannot name dom0 (nor map its frame either way).
    tb.run(u);
    let snap = tb.frame_snapshot();
    assert_eq!(other(&mut tb, d0_frame << 12 | RO, 0), err(Errno::EPERM));
    assert_eq!(other(&mut tb, d0_frame << 12 | RO, 999), err(Errno::EPERM));
    assert_eq!(other(&mut tb, d0_frame << 12 | RO, SELF), err(Errno::EPERM));
    assert_eq!(tb.frame_snapshot(), snap);
    assert_eq!(other(&mut tb, u_frame << 12 | RO, u64::from(u.0)), 0);
    assert_eq!(at(&tb, slot(&tb, va, 1)), u_frame << 12 | RO);
}

#[test]
fn a_dying_domain_lingers_while_mapped_cannot_be_named_and_goes_when_unmapped() {
    let mut tb = Testbed::boot();
    let (va, d0_frame, u, u_frame) = dom0_and_domu(&mut tb);
    let pte_ma = slot(&tb, va, 1);
    assert_eq!(
        mmu(
            &mut tb,
            &[MmuUpdate::normal(pte_ma, u_frame << 12 | RO)],
            u64::from(u.0)
        ),
        (0, 1)
    );
    // Destroyed while dom0 maps one of its frames: it lingers, dying, with that frame.
    let mut steps = 0;
    while tb.st(|st| crate::lifecycle::destroy(st, u)) == Err(Errno::EAGAIN) {
        steps += 1;
        assert!(steps < 100);
    }
    assert_eq!(tb.st(|st| st.dom(u).map(|d| d.dying)), Some(true));
    let p = info(&tb, u_frame);
    assert_eq!((p.owner, p.foreign_refs, p.refs), (u, 1, 1));
    let other = frame(&tb, spare(&tb, 1));
    let other_pte = slot(&tb, spare(&tb, 1), 1);
    let snap = tb.frame_snapshot();
    assert_eq!(
        mmu(
            &mut tb,
            &[MmuUpdate::normal(other_pte, u_frame << 12 | RO)],
            u64::from(u.0)
        ),
        (err(Errno::ESRCH), u32::MAX)
    );
    assert_eq!(
        ext(
            &mut tb,
            &[MmuextOp::new(MMUEXT_PIN_L1_TABLE, u_frame, 0)],
            u64::from(u.0)
        ),
        (err(Errno::ESRCH), u32::MAX)
    );
    assert_eq!(
        tb.hypercall(
            nr::UPDATE_VA_MAPPING_OTHERDOMAIN,
            [spare(&tb, 1), u_frame << 12 | RO, 0, u64::from(u.0), 0]
        ),
        err(Errno::ESRCH)
    );
    assert_eq!(tb.frame_snapshot(), snap);
    assert_eq!(at(&tb, slot(&tb, spare(&tb, 1), 1)), other << 12 | RW);
    // Still readable through dom0's mapping.
    assert_eq!(tb.read::<u64>(va), 0);
    // dom0 drops the mapping: the domain and its frame go.
    assert_eq!(
        mmu(
            &mut tb,
            &[MmuUpdate::normal(pte_ma, d0_frame << 12 | RW)],
            SELF
        ),
        (0, 1)
    );
    assert!(tb.st(|st| st.dom(u).is_none()));
    assert_eq!(info(&tb, u_frame).owner, crate::mm::page_types::NO_OWNER);
}
