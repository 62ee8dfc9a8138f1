//! `set_gdt`, `update_descriptor` and `mmuext_op(MMUEXT_SET_LDT)`.
//!
//! Descriptor frames are made from the spare pages past the scratch area: descriptors are
//! written through the guest's writable mapping, which is then made read-only, as a guest
//! does before handing the frames to the hypervisor.

use crate::arch::desc::{GUEST_GDT_ENTRIES, GUEST_GDT_PAGES};
use crate::arch::gdt;
use crate::mm::guest_walk::translate;
use crate::mm::page_types::{PageType, TableMem};
use crate::mm::pte;
use crate::testbed::{err, Testbed, SCRATCH_LEN};
use guest_abi::errno::Errno;
use guest_abi::hypercall::nr;
use guest_abi::mmu::*;
use guest_abi::types::{DomId, Mfn};
use zerocopy::IntoBytes;

const SELF: u64 = DomId::SELF.0 as u64;
pub(super) const RO: u64 = pte::P | pte::US | pte::A | pte::D;
pub(super) const RW: u64 = RO | pte::RW;
pub(super) const HOLE: u64 = 0xFFFF_8000_0010_0000;

/// Flat 64-bit ring-3 code.
const USER_CODE64: u64 = 0x00AF_FA00_0000_FFFF;
/// Flat ring-3 data.
const USER_DATA: u64 = 0x00CF_F200_0000_FFFF;
/// Ring-0 64-bit code.
pub(super) const KERNEL_CODE64: u64 = 0x00AF_9A00_0000_FFFF;
/// Ring-0 data.
pub(super) const KERNEL_DATA: u64 = 0x00CF_9200_0000_FFFF;
/// Present, DPL 3 system descriptor of type `t`.
pub(super) const fn system(t: u64) -> u64 {
    1 << 47 | 3 << 45 | t << 40
}

/// Present segments below ring 3: installed, as Xen does, with their DPL raised to 3.
const DEMOTED: [(&str, u64, u64); 4] = [
    ("DPL 0 code", KERNEL_CODE64, USER_CODE64),
    ("DPL 0 data", KERNEL_DATA, USER_DATA),
    ("DPL 1 data", USER_DATA & !(3 << 45) | 1 << 45, USER_DATA),
    (
        "DPL 2 code",
        USER_CODE64 & !(3 << 45) | 2 << 45,
        USER_CODE64,
    ),
];

/// Conforming ring-0 code.
const CONFORMING_CODE: u64 = KERNEL_CODE64 | 1 << 42;

/// Descriptors a guest may never install (conforming code or a system descriptor).
const BAD: [(&str, u64); 6] = [
    ("conforming ring-3 code", USER_CODE64 | 1 << 42),
    ("conforming ring-0 code", CONFORMING_CODE),
    ("call gate", system(0xC) | 0xE008 << 16 | 0x1000),
    ("64-bit TSS", system(0x9) | 0x67),
    ("LDT descriptor", system(0x2) | 0xFFF),
    ("interrupt gate", system(0xE) | 0xE008 << 16),
];

pub(super) fn spare(tb: &Testbed, k: u64) -> u64 {
    tb.scratch() + SCRATCH_LEN + k * 4096
}

pub(super) fn frame(tb: &Testbed, va: u64) -> u64 {
    tb.st(|st| {
        let l4 = st.cur().vcpus[0].active_l4();
        translate(&st.mem, l4, va, false).expect("mapped") >> 12
    })
}

pub(super) fn info(tb: &Testbed, mfn: u64) -> (PageType, u32) {
    tb.st(|st| {
        (
            st.frames[mfn as usize].ptype,
            st.frames[mfn as usize].type_count,
        )
    })
}

/// Descriptor (or entry) `i` of frame `mfn`.
fn word(tb: &Testbed, mfn: u64, i: usize) -> u64 {
    tb.st(|st| st.mem.read(Mfn(mfn), i))
}

fn uvm(tb: &mut Testbed, va: u64, val: u64) -> i64 {
    tb.hypercall(nr::UPDATE_VA_MAPPING, [va, val, 0, 0, 0])
}

/// Spare page `k` with `descs` (index, descriptor) in it, mapped read-only: its frame.
pub(super) fn desc_frame(tb: &mut Testbed, k: u64, descs: &[(usize, u64)]) -> u64 {
    let va = spare(tb, k);
    tb.write_bytes(va, &[0u8; 4096]);
    for &(i, d) in descs {
        tb.write(va + 8 * i as u64, &d);
    }
    let m = frame(tb, va);
    assert_eq!(uvm(tb, va, m << 12 | RO), 0);
    m
}

/// set_gdt with `frames` (listed in the scratch area) and `entries`.
fn set_gdt(tb: &mut Testbed, frames: &[u64], entries: u64) -> i64 {
    let list = tb.scratch() + 0x100;
    tb.write_bytes(list, frames.as_bytes());
    tb.hypercall(nr::SET_GDT, [list, entries, 0, 0, 0])
}

fn update_descriptor(tb: &mut Testbed, maddr: u64, desc: u64) -> i64 {
    tb.hypercall(nr::UPDATE_DESCRIPTOR, [maddr, desc, 0, 0, 0])
}

/// MMUEXT_SET_LDT(va, ents) with `foreigndom`; (rc, done).
fn set_ldt_as(tb: &mut Testbed, va: u64, ents: u64, dom: u64) -> (i64, u32) {
    let buf = tb.scratch();
    tb.write(buf, &u32::MAX);
    tb.write(buf + 64, &MmuextOp::new(MMUEXT_SET_LDT, va, ents));
    let rc = tb.hypercall(nr::MMUEXT_OP, [buf + 64, 1, buf, dom, 0]);
    (rc, tb.read::<u32>(buf))
}

fn set_ldt(tb: &mut Testbed, va: u64, ents: u64) -> i64 {
    let (rc, done) = set_ldt_as(tb, va, ents, SELF);
    assert_eq!(done, u32::from(rc == 0));
    rc
}

/// The current vCPU's (GDT frames, GDT entries, LDT frames, LDT entries, LDT base).
pub(super) type Tables = (Vec<u64>, u64, Vec<u64>, u64, u64);

/// `d` with frames by number.
pub(super) fn numbered(d: &crate::arch::desc::GuestDescTables) -> Tables {
    let nums = |f: &[Mfn]| f.iter().map(|m| m.0).collect();
    (
        nums(&d.gdt[..d.gdt_nr]),
        d.gdt_ents,
        nums(&d.ldt[..d.ldt_nr]),
        d.ldt_ents,
        d.ldt_base,
    )
}

fn tables(tb: &Testbed) -> Tables {
    tb.st(|st| {
        let d = st.cur().vcpus[0].desc;
        numbered(&d)
    })
}

/// What the (modelled) CPU has loaded, in the same form.
pub(super) fn loaded() -> Tables {
    numbered(&gdt::loaded().expect("tables loaded"))
}

/// Every frame's (owner, type, count, pinned, refs).
pub(super) fn snapshot(tb: &Testbed) -> Vec<(DomId, PageType, u32, bool, u32)> {
    tb.st(|st| {
        st.frames
            .iter()
            .map(|p| (p.owner, p.ptype, p.type_count, p.pinned, p.refs))
            .collect()
    })
}

#[test]
fn set_gdt_types_the_frames_seg_desc_and_loads_them() {
    let mut tb = Testbed::boot();
    let g0 = desc_frame(&mut tb, 0, &[(1, USER_CODE64), (2, USER_DATA)]);
    let g1 = desc_frame(&mut tb, 1, &[(0, USER_DATA)]);
    let g2 = desc_frame(&mut tb, 2, &[]);
    assert_eq!(set_gdt(&mut tb, &[g0, g1], 600), 0);
    assert_eq!(info(&tb, g0), (PageType::SegDesc, 1));
    assert_eq!(info(&tb, g1), (PageType::SegDesc, 1));
    let want = (vec![g0, g1], 600, vec![], 0, 0);
    assert_eq!(tables(&tb), want);
    assert_eq!(loaded(), want);
    // The descriptors are where the guest put them.
    assert_eq!(
        (word(&tb, g0, 1), word(&tb, g0, 2)),
        (USER_CODE64, USER_DATA)
    );

    // A new table: the old frames are released, the new one typed.
    assert_eq!(set_gdt(&mut tb, &[g2], 512), 0);
    assert_eq!(info(&tb, g0), (PageType::None, 0));
    assert_eq!(info(&tb, g1), (PageType::None, 0));
    assert_eq!(info(&tb, g2), (PageType::SegDesc, 1));
    assert_eq!(loaded(), (vec![g2], 512, vec![], 0, 0));
    // The same frame again, smaller.
    assert_eq!(set_gdt(&mut tb, &[g2], 3), 0);
    assert_eq!(info(&tb, g2), (PageType::SegDesc, 1));
    assert_eq!(tables(&tb), (vec![g2], 3, vec![], 0, 0));
    // A frame listed twice holds two references.
    assert_eq!(set_gdt(&mut tb, &[g0, g0], 1024), 0);
    assert_eq!(info(&tb, g0), (PageType::SegDesc, 2));
    assert_eq!(info(&tb, g2), (PageType::None, 0));

    // The largest table the guest may have: 14 frames.
    let all: Vec<u64> = (3..3 + GUEST_GDT_PAGES as u64)
        .map(|k| desc_frame(&mut tb, k, &[(k as usize, USER_DATA)]))
        .collect();
    assert_eq!(set_gdt(&mut tb, &all, GUEST_GDT_ENTRIES), 0);
    assert_eq!(tables(&tb).0, all);
    assert_eq!(info(&tb, g0), (PageType::None, 0));
    assert!(all.iter().all(|&m| info(&tb, m) == (PageType::SegDesc, 1)));
    // None: everything goes.
    assert_eq!(set_gdt(&mut tb, &[], 0), 0);
    assert_eq!(tables(&tb), (vec![], 0, vec![], 0, 0));
    assert_eq!(loaded(), (vec![], 0, vec![], 0, 0));
    assert!(all.iter().all(|&m| info(&tb, m) == (PageType::None, 0)));
}

#[test]
fn set_gdt_refuses_a_writable_frame_and_keeps_the_old_table() {
    let mut tb = Testbed::boot();
    let g0 = desc_frame(&mut tb, 0, &[(1, USER_CODE64)]);
    assert_eq!(set_gdt(&mut tb, &[g0], 16), 0);
    let g1 = desc_frame(&mut tb, 1, &[]);
    let writable = frame(&tb, spare(&tb, 2));
    let snap = snapshot(&tb);
    // The second frame is still mapped writable: the first one's type is undone.
    assert_eq!(set_gdt(&mut tb, &[g1, writable], 1000), err(Errno::EINVAL));
    assert_eq!(snapshot(&tb), snap);
    assert_eq!(info(&tb, g1), (PageType::None, 0));
    assert_eq!(info(&tb, writable), (PageType::Writable, 1));
    assert_eq!(tables(&tb), (vec![g0], 16, vec![], 0, 0));
    assert_eq!(loaded(), (vec![g0], 16, vec![], 0, 0));
    // Still writable through the guest's mapping.
    tb.write(spare(&tb, 2), &KERNEL_CODE64);
}

#[test]
fn set_gdt_demotes_ring_0_segments_to_ring_3_in_place() {
    let mut tb = Testbed::boot();
    let entries: Vec<(usize, u64)> = DEMOTED
        .iter()
        .enumerate()
        .map(|(i, (_, asked, _))| (i + 1, *asked))
        .chain([(9, USER_DATA), (10, KERNEL_CODE64 & !(1 << 47))])
        .collect();
    let m = desc_frame(&mut tb, 0, &entries);
    // Only the entries in use are declared; the whole frame is fixed up all the same.
    assert_eq!(set_gdt(&mut tb, &[m], 2), 0);
    assert_eq!(info(&tb, m), (PageType::SegDesc, 1));
    for (i, (what, _, installed)) in DEMOTED.iter().enumerate() {
        assert_eq!(word(&tb, m, i + 1), *installed, "{what}");
    }
    // Ring-3 and not-present descriptors are left exactly as they were.
    assert_eq!(word(&tb, m, 9), USER_DATA);
    assert_eq!(word(&tb, m, 10), KERNEL_CODE64 & !(1 << 47));
    assert_eq!(loaded(), (vec![m], 2, vec![], 0, 0));
}

#[test]
fn set_gdt_refuses_frames_holding_conforming_code_or_system_descriptors() {
    let mut tb = Testbed::boot();
    for (k, (what, d)) in BAD.iter().enumerate() {
        let m = desc_frame(&mut tb, k as u64, &[(0, USER_CODE64), (7, *d)]);
        assert_eq!(set_gdt(&mut tb, &[m], 512), err(Errno::EINVAL), "{what}");
        assert_eq!(info(&tb, m), (PageType::None, 0), "{what}");
        // Beyond the declared entries too: the whole frame is checked.
        assert_eq!(set_gdt(&mut tb, &[m], 1), err(Errno::EINVAL), "{what}");
    }
    assert_eq!(tables(&tb), (vec![], 0, vec![], 0, 0));
    // Not present, any content faults when loaded: accepted. So is type 0 (the upper half
    // of a 16-byte system descriptor).
    let m = desc_frame(
        &mut tb,
        20,
        &[
            (0, KERNEL_CODE64 & !(1 << 47)),
            (1, system(0xC) & !(1 << 47)),
            (2, system(0)),
        ],
    );
    assert_eq!(set_gdt(&mut tb, &[m], 3), 0);
    assert_eq!(info(&tb, m), (PageType::SegDesc, 1));
}

#[test]
fn set_gdt_refuses_page_tables_and_frames_the_caller_does_not_own() {
    let mut tb = Testbed::boot();
    let d0_frame = frame(&tb, spare(&tb, 0));
    let u = tb.domu(1024);
    tb.run(u);
    let l4 = tb.st(|st| st.cur().vcpus[0].kernel_l4);
    let l1 = tb.st(|st| {
        let l4e = st.mem.read(l4, 511);
        let l3e = st.mem.read(pte::mfn(l4e), 510);
        pte::mfn(st.mem.read(pte::mfn(l3e), 0)).0
    });
    let shared = tb.st(|st| st.cur().shared_info.mfn().0);
    let good = desc_frame(&mut tb, 1, &[]);
    let snap = snapshot(&tb);
    for (what, m) in [
        ("its L4", l4.0),
        ("an L1", l1),
        ("dom0's frame", d0_frame),
        ("its shared_info", shared),
        ("a free frame", 0x10),
        ("beyond RAM", 1 << 40),
    ] {
        assert_eq!(
            set_gdt(&mut tb, &[good, m], 600),
            err(Errno::EINVAL),
            "{what}"
        );
        assert_eq!(snapshot(&tb), snap, "{what}");
    }
    assert_eq!(tables(&tb), (vec![], 0, vec![], 0, 0));
    assert_eq!(info(&tb, l4.0), (PageType::L4, 2));
}

#[test]
fn set_gdt_refuses_too_many_entries_and_unreadable_lists() {
    let mut tb = Testbed::boot();
    let g0 = desc_frame(&mut tb, 0, &[]);
    let snap = snapshot(&tb);
    let list = tb.scratch() + 0x100;
    tb.write(list, &g0);
    // Entries reaching the hypervisor's reserved area, or wider than 32 bits.
    assert_eq!(
        tb.hypercall(nr::SET_GDT, [list, GUEST_GDT_ENTRIES + 1, 0, 0, 0]),
        err(Errno::EINVAL)
    );
    assert_eq!(
        tb.hypercall(nr::SET_GDT, [list, 1 << 32 | 1, 0, 0, 0]),
        err(Errno::EINVAL)
    );
    // A list in the hypervisor hole, unmapped, or non-canonical.
    for bad in [HOLE, 0x1000, 0x0000_8000_0000_0000, u64::MAX - 3] {
        assert_eq!(
            tb.hypercall(nr::SET_GDT, [bad, 1, 0, 0, 0]),
            err(Errno::EFAULT),
            "list {bad:#x}"
        );
    }
    // A list whose second frame number lies on an unmapped page: nothing is typed.
    let edge = spare(&tb, 1) + 4096 - 8;
    tb.write(edge, &g0);
    let m2 = frame(&tb, spare(&tb, 2));
    let s2 = spare(&tb, 2);
    assert_eq!(uvm(&mut tb, s2, 0), 0);
    let snap2 = snapshot(&tb);
    assert_eq!(
        tb.hypercall(nr::SET_GDT, [edge, 513, 0, 0, 0]),
        err(Errno::EFAULT)
    );
    assert_eq!(snapshot(&tb), snap2);
    assert_eq!(info(&tb, g0), (PageType::None, 0));
    assert_eq!(info(&tb, m2), (PageType::None, 0));
    // Only the frames the entries need are read: one entry, one frame.
    assert_eq!(tb.hypercall(nr::SET_GDT, [edge, 512, 0, 0, 0]), 0);
    assert_eq!(tables(&tb), (vec![g0], 512, vec![], 0, 0));
    assert_eq!(info(&tb, g0), (PageType::SegDesc, 1));
    assert_eq!(snap[g0 as usize].1, PageType::None);
}

#[test]
fn a_gdt_frame_cannot_be_mapped_writable_while_in_use() {
    let mut tb = Testbed::boot();
    let va = spare(&tb, 0);
    let g0 = desc_frame(&mut tb, 0, &[(1, USER_CODE64)]);
    assert_eq!(set_gdt(&mut tb, &[g0], 8), 0);
    let other = spare(&tb, 5);
    let pte_ma = tb.st(|st| {
        let l4 = st.cur().vcpus[0].kernel_l4;
        let l3 = pte::mfn(st.mem.read(l4, 511));
        let l2 = pte::mfn(st.mem.read(l3, 510));
        let l1 = pte::mfn(st.mem.read(l2, ((other >> 21) & 0x1FF) as usize));
        l1.addr() | (((other >> 12) & 0x1FF) * 8)
    });
    let snap = snapshot(&tb);
    assert_eq!(uvm(&mut tb, va, g0 << 12 | RW), err(Errno::EBUSY));
    assert_eq!(uvm(&mut tb, other, g0 << 12 | RW), err(Errno::EBUSY));
    let buf = tb.scratch();
    tb.write(buf + 64, &MmuUpdate::normal(pte_ma, g0 << 12 | RW));
    assert_eq!(
        tb.hypercall(nr::MMU_UPDATE, [buf + 64, 1, 0, SELF, 0]),
        err(Errno::EBUSY)
    );
    // Nor can it become a page table.
    tb.write(buf + 64, &MmuextOp::new(MMUEXT_PIN_L1_TABLE, g0, 0));
    assert_eq!(
        tb.hypercall(nr::MMUEXT_OP, [buf + 64, 1, 0, SELF, 0]),
        err(Errno::EBUSY)
    );
    assert_eq!(snapshot(&tb), snap);
    assert_eq!(word(&tb, g0, 1), USER_CODE64);
    // Read-only mappings are fine; once the GDT moves on, writable ones too.
    assert_eq!(uvm(&mut tb, other, g0 << 12 | RO), 0);
    let g1 = desc_frame(&mut tb, 1, &[]);
    assert_eq!(set_gdt(&mut tb, &[g1], 8), 0);
    assert_eq!(uvm(&mut tb, va, g0 << 12 | RW), 0);
    assert_eq!(info(&tb, g0), (PageType::Writable, 1));
    tb.write(va + 8, &KERNEL_CODE64);
    assert_eq!(word(&tb, g0, 1), KERNEL_CODE64);
    // And now, holding a conforming code descriptor, it cannot be a GDT frame again.
    tb.write(va + 16, &CONFORMING_CODE);
    assert_eq!(uvm(&mut tb, va, g0 << 12 | RO), 0);
    assert_eq!(set_gdt(&mut tb, &[g0], 8), err(Errno::EINVAL));
    // Nothing in it was changed by the refused attempt (not even the DPL 0 entry).
    assert_eq!(word(&tb, g0, 1), KERNEL_CODE64);
}

#[test]
fn update_descriptor_writes_valid_descriptors_into_descriptor_and_ordinary_frames() {
    let mut tb = Testbed::boot();
    let g0 = desc_frame(&mut tb, 0, &[]);
    assert_eq!(set_gdt(&mut tb, &[g0], 512), 0);
    // A live GDT frame: it stays one.
    assert_eq!(
        update_descriptor(&mut tb, (g0 << 12) | (3 * 8), USER_CODE64),
        0
    );
    assert_eq!(word(&tb, g0, 3), USER_CODE64);
    assert_eq!(info(&tb, g0), (PageType::SegDesc, 1));
    assert_eq!(loaded(), (vec![g0], 512, vec![], 0, 0));
    // The last slot of the frame.
    assert_eq!(update_descriptor(&mut tb, g0 << 12 | 0xFF8, USER_DATA), 0);
    assert_eq!(word(&tb, g0, 511), USER_DATA);
    // An ordinary page mapped writable: written, still the guest's writable page.
    let w = spare(&tb, 1);
    let mw = frame(&tb, w);
    assert_eq!(update_descriptor(&mut tb, mw << 12 | 0x10, USER_DATA), 0);
    assert_eq!(tb.read::<u64>(w + 0x10), USER_DATA);
    assert_eq!(info(&tb, mw), (PageType::Writable, 1));
    // A page with no writable mapping: written, and left untyped.
    let ro = desc_frame(&mut tb, 2, &[]);
    assert_eq!(update_descriptor(&mut tb, ro << 12 | 0x18, USER_CODE64), 0);
    assert_eq!(word(&tb, ro, 3), USER_CODE64);
    assert_eq!(info(&tb, ro), (PageType::None, 0));
    // Not-present descriptors carry anything.
    let np = KERNEL_CODE64 & !(1 << 47);
    assert_eq!(update_descriptor(&mut tb, (g0 << 12) | (4 * 8), np), 0);
    assert_eq!(word(&tb, g0, 4), np);
    // Type 0 (the upper half of a 16-byte system descriptor).
    assert_eq!(
        update_descriptor(&mut tb, (g0 << 12) | (5 * 8), system(0)),
        0
    );
    assert_eq!(word(&tb, g0, 5), system(0));
}

#[test]
fn update_descriptor_writes_ring_0_segments_demoted_to_ring_3() {
    let mut tb = Testbed::boot();
    let g0 = desc_frame(&mut tb, 0, &[]);
    assert_eq!(set_gdt(&mut tb, &[g0], 512), 0);
    let mw = frame(&tb, spare(&tb, 1));
    for (what, asked, installed) in DEMOTED {
        for m in [g0, mw] {
            assert_eq!(update_descriptor(&mut tb, (m << 12) | (6 * 8), asked), 0);
            assert_eq!(word(&tb, m, 6), installed, "{what} into {m:#x}");
        }
    }
}

#[test]
fn update_descriptor_refuses_conforming_code_and_system_descriptors() {
    let mut tb = Testbed::boot();
    let g0 = desc_frame(&mut tb, 0, &[(6, USER_DATA)]);
    assert_eq!(set_gdt(&mut tb, &[g0], 512), 0);
    let mw = frame(&tb, spare(&tb, 1));
    tb.write(spare(&tb, 1) + 6 * 8, &USER_DATA);
    for (what, d) in BAD {
        for m in [g0, mw] {
            assert_eq!(
                update_descriptor(&mut tb, (m << 12) | (6 * 8), d),
                err(Errno::EINVAL),
                "{what} into {m:#x}"
            );
            assert_eq!(word(&tb, m, 6), USER_DATA, "{what}");
        }
    }
    assert_eq!(info(&tb, g0), (PageType::SegDesc, 1));
}

#[test]
fn update_descriptor_refuses_page_tables_other_domains_frames_and_bad_addresses() {
    let mut tb = Testbed::boot();
    let d0_frame = frame(&tb, spare(&tb, 0));
    let u = tb.domu(1024);
    tb.run(u);
    let l4 = tb.st(|st| st.cur().vcpus[0].kernel_l4);
    let l3 = tb.st(|st| pte::mfn(st.mem.read(l4, 511)).0);
    let own = frame(&tb, spare(&tb, 0));
    let snap = snapshot(&tb);
    for (what, maddr) in [
        ("its L4", l4.addr()),
        ("an entry of its L3", (l3 << 12) | (510 * 8)),
        ("dom0's frame", d0_frame << 12),
        ("a free frame", 0x10 << 12),
        ("beyond RAM", 1 << 52),
        ("misaligned", own << 12 | 4),
        ("misaligned by one", own << 12 | 1),
    ] {
        let before = word(&tb, maddr >> 12, ((maddr & 0xFFF) >> 3) as usize);
        assert_eq!(
            update_descriptor(&mut tb, maddr, USER_DATA),
            err(Errno::EINVAL),
            "{what}"
        );
        assert_eq!(
            word(&tb, maddr >> 12, ((maddr & 0xFFF) >> 3) as usize),
            before,
            "{what}"
        );
    }
    assert_eq!(snapshot(&tb), snap);
    assert_eq!(info(&tb, l4.0), (PageType::L4, 2));
    // Its own page works.
    assert_eq!(update_descriptor(&mut tb, own << 12, USER_DATA), 0);
    assert_eq!(tb.read::<u64>(spare(&tb, 0)), USER_DATA);
}

#[test]
fn set_ldt_types_the_frames_behind_the_address_and_loads_them() {
    let mut tb = Testbed::boot();
    let m0 = desc_frame(&mut tb, 0, &[(1, USER_CODE64)]);
    let m1 = desc_frame(&mut tb, 1, &[(1, USER_DATA)]);
    let va = spare(&tb, 0);
    assert_eq!(set_ldt(&mut tb, va, 600), 0);
    let want = (vec![], 0, vec![m0, m1], 600, va);
    assert_eq!(tables(&tb), want);
    assert_eq!(loaded(), want);
    assert_eq!(info(&tb, m0), (PageType::SegDesc, 1));
    assert_eq!(info(&tb, m1), (PageType::SegDesc, 1));
    // In use: not writable.
    assert_eq!(uvm(&mut tb, va, m0 << 12 | RW), err(Errno::EBUSY));
    // Moved to the second page only: the first is released.
    let va1 = spare(&tb, 1);
    assert_eq!(set_ldt(&mut tb, va1, 1), 0);
    assert_eq!(tables(&tb), (vec![], 0, vec![m1], 1, va1));
    assert_eq!(info(&tb, m0), (PageType::None, 0));
    assert_eq!(info(&tb, m1), (PageType::SegDesc, 1));
    // The largest LDT: 8192 entries, 16 pages.
    let frames: Vec<u64> = (2..18).map(|k| desc_frame(&mut tb, k, &[])).collect();
    let s2 = spare(&tb, 2);
    assert_eq!(set_ldt(&mut tb, s2, 8192), 0);
    assert_eq!(tables(&tb).2, frames);
    assert_eq!(info(&tb, m1), (PageType::None, 0));
    // Cleared.
    assert_eq!(set_ldt(&mut tb, 0, 0), 0);
    assert_eq!(tables(&tb), (vec![], 0, vec![], 0, 0));
    assert_eq!(loaded(), (vec![], 0, vec![], 0, 0));
    assert!(frames.iter().all(|&m| info(&tb, m) == (PageType::None, 0)));
    assert_eq!(uvm(&mut tb, va, m0 << 12 | RW), 0);
}

#[test]
fn set_ldt_refuses_bad_addresses_counts_and_frames() {
    let mut tb = Testbed::boot();
    let m0 = desc_frame(&mut tb, 0, &[]);
    let va = spare(&tb, 0);
    assert_eq!(set_ldt(&mut tb, va, 10), 0);
    let good = desc_frame(&mut tb, 3, &[]);
    let bad = desc_frame(&mut tb, 4, &[(2, CONFORMING_CODE)]);
    let s5 = spare(&tb, 5);
    assert_eq!(uvm(&mut tb, s5, 0), 0);
    let writable = spare(&tb, 6);
    // Spare 7 is a good page followed by an unmapped one (spare 8).
    let edge = desc_frame(&mut tb, 7, &[]);
    let s8 = spare(&tb, 8);
    assert_eq!(uvm(&mut tb, s8, 0), 0);
    let snap = snapshot(&tb);
    for (what, at, ents) in [
        ("misaligned", spare(&tb, 3) + 8, 10),
        ("too many entries", spare(&tb, 3), 8193),
        ("entries wider than 32 bits", spare(&tb, 3), 1 << 32 | 10),
        ("in the hypervisor hole", HOLE, 10),
        ("non-canonical", 0x0000_8000_0000_0000, 10),
        ("unmapped", spare(&tb, 5), 10),
        ("mapped writable", writable, 10),
        ("holding conforming code", spare(&tb, 4), 10),
        ("running into an unmapped page", spare(&tb, 7), 1000),
        (
            "wrapping around the address space",
            0xFFFF_FFFF_FFFF_F000,
            1000,
        ),
    ] {
        assert_eq!(set_ldt(&mut tb, at, ents), err(Errno::EINVAL), "{what}");
        assert_eq!(snapshot(&tb), snap, "{what}");
        assert_eq!(tables(&tb), (vec![], 0, vec![m0], 10, va), "{what}");
    }
    assert_eq!(
        (info(&tb, good), info(&tb, bad), info(&tb, edge)),
        (
            (PageType::None, 0),
            (PageType::None, 0),
            (PageType::None, 0)
        )
    );
    // Only for itself: a privileged domain naming another is refused (EPERM, as Xen).
    let u = tb.domu(1024);
    let s3 = spare(&tb, 3);
    assert_eq!(
        set_ldt_as(&mut tb, s3, 10, u64::from(u.0)),
        (err(Errno::EPERM), 0)
    );
    assert_eq!(loaded(), (vec![], 0, vec![m0], 10, va));
}

#[test]
fn set_ldt_with_no_entries_ignores_the_address() {
    let mut tb = Testbed::boot();
    let m0 = desc_frame(&mut tb, 0, &[]);
    let s0 = spare(&tb, 0);
    assert_eq!(set_ldt(&mut tb, s0, 512), 0);
    // With no entries the address is not used (Xen takes it as 0), whatever it is.
    for junk in [0x123, HOLE + 8, 0x0000_8000_0000_0001] {
        assert_eq!(set_ldt(&mut tb, junk, 0), 0, "{junk:#x}");
        assert_eq!(tables(&tb), (vec![], 0, vec![], 0, 0));
    }
    assert_eq!(info(&tb, m0), (PageType::None, 0));
}

#[test]
fn each_vcpu_runs_with_its_own_descriptor_tables() {
    let mut tb = Testbed::boot();
    let g0 = desc_frame(&mut tb, 0, &[]);
    let l0 = desc_frame(&mut tb, 1, &[]);
    assert_eq!(set_gdt(&mut tb, &[g0], 100), 0);
    let s1 = spare(&tb, 1);
    assert_eq!(set_ldt(&mut tb, s1, 5), 0);
    let d0 = (vec![g0], 100, vec![l0], 5, spare(&tb, 1));
    let u = tb.domu(1024);
    tb.run(u);
    assert_eq!(loaded(), (vec![], 0, vec![], 0, 0));
    let g = desc_frame(&mut tb, 0, &[]);
    assert_eq!(set_gdt(&mut tb, &[g], 9), 0);
    // The domU cannot use dom0's frames.
    assert_eq!(set_gdt(&mut tb, &[g0], 9), err(Errno::EINVAL));
    assert_eq!(loaded(), (vec![g], 9, vec![], 0, 0));
    tb.run(DomId::DOM0);
    assert_eq!(loaded(), d0);
    tb.run(u);
    assert_eq!(loaded(), (vec![g], 9, vec![], 0, 0));
    assert_eq!(info(&tb, g0), (PageType::SegDesc, 1));
}

/// set_segment_base(SEGBASE_GS_USER_SEL, sel): the user GS base and selector.
fn gs_user_sel(tb: &mut Testbed, sel: u64) -> i64 {
    let which = u64::from(guest_abi::arch::SEGBASE_GS_USER_SEL);
    tb.hypercall(nr::SET_SEGMENT_BASE, [which, sel, 0, 0, 0])
}

fn gs_user(tb: &Testbed) -> (u16, u64) {
    (
        crate::arch::cpu::gs_selector(),
        tb.st(|st| st.cur().vcpus[0].gs_base_user),
    )
}

#[test]
fn gs_user_sel_loads_the_selector_and_its_descriptors_base() {
    let mut tb = Testbed::boot();
    let based = USER_DATA | 0x34_5678 << 16 | 0x12 << 56;
    let g0 = desc_frame(
        &mut tb,
        0,
        &[
            (1, USER_CODE64 & !(1 << 41)),
            (4, based),
            (5, USER_DATA),
            (6, USER_DATA & !(1 << 47)),
        ],
    );
    assert_eq!(set_gdt(&mut tb, &[g0], 7), 0);
    desc_frame(&mut tb, 1, &[(2, USER_DATA | 0x5000 << 16)]);
    let ldt_va = spare(&tb, 1);
    assert_eq!(set_ldt(&mut tb, ldt_va, 3), 0);
    let kernel_gs = crate::arch::cpu::gs_base();
    for (what, sel, want) in [
        ("GDT data with a base", 0x23, (0x23, 0x1234_5678)),
        ("Linux's __USER_DS", 0x2b, (0x2b, 0)),
        ("RPL 0", 0x28, (0x28, 0)),
        ("LDT data", 0x17, (0x17, 0x5000)),
        ("the hypervisor's flat data", 0xe02b, (0xe02b, 0)),
        ("null", 0, (0, 0)),
    ] {
        assert_eq!(gs_user_sel(&mut tb, sel), 0, "{what}");
        assert_eq!(gs_user(&tb), want, "{what}");
        // The kernel's own GS base stays active.
        assert_eq!(crate::arch::cpu::gs_base(), kernel_gs, "{what}");
    }
    // Selectors that would fault load the null selector instead, as Xen's fixup does.
    for (what, sel) in [
        ("execute-only code", 0x0b),
        ("not present", 0x33),
        ("beyond the GDT's entries", 0x3b),
        ("beyond the LDT's entries", 0x1f),
        ("the hypervisor's own data", 0xe010),
        ("the TSS", 0xe040),
    ] {
        assert_eq!(gs_user_sel(&mut tb, 0x23), 0);
        assert_eq!(gs_user_sel(&mut tb, sel), 0, "{what}");
        assert_eq!(gs_user(&tb), (0, 0), "{what}");
    }
}
