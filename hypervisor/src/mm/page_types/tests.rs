use super::*;
use std::collections::HashMap;

const D0: DomId = DomId(0);
const D1: DomId = DomId(1);
const HV_SLOT: u64 = 0xdead_0000 | pte::P;

#[derive(Default)]
struct Mem(
    HashMap<(u64, usize), u64>,
    u32,
    Option<(u32, u32)>,
    Vec<Mfn>,
);

/// The tests name frames by number.
impl Mem {
    fn read(&self, mfn: u64, idx: usize) -> u64 {
        *self.0.get(&(mfn, idx)).unwrap_or(&0)
    }
    fn write(&mut self, mfn: u64, idx: usize, val: u64) {
        self.0.insert((mfn, idx), val);
    }
}

impl TableMem for Mem {
    fn read(&self, mfn: Mfn, idx: usize) -> u64 {
        Mem::read(self, mfn.0, idx)
    }
    fn write(&mut self, mfn: Mfn, idx: usize, val: u64) {
        Mem::write(self, mfn.0, idx, val);
    }
    fn hypervisor_slots(&self) -> [u64; 16] {
        [HV_SLOT; 16]
    }
    fn tlb_epoch(&self) -> u32 {
        self.1 + 1
    }
    fn flush_tlb(&mut self) {
        self.1 += 1;
    }
    fn note_pending(&mut self, _owner: DomId, mfn: Mfn) {
        if !self.3.contains(&mfn) {
            self.3.push(mfn);
        }
    }
    fn should_preempt(&mut self) -> bool {
        // (every, counter): preempt at every `every`-th check.
        match self.2.as_mut() {
            Some((every, n)) => {
                *n += 1;
                *n % *every == 0
            }
            None => false,
        }
    }
}

/// A tree: L4 40 → L3 41 → L2s 42..50 (8) → each 16 L1s (50..178) → data frames 200..
fn big_tree(mem: &mut Mem) {
    mem.write(40, 0, e(41, RW));
    for l2 in 0..8u64 {
        mem.write(41, l2 as usize, e(42 + l2, RW));
        for l1 in 0..16u64 {
            let t = 50 + l2 * 16 + l1;
            mem.write(42 + l2, l1 as usize, e(t, RW));
            for k in 0..4u64 {
                mem.write(t, k as usize, e(200 + (t * 4 + k) % 100, RO));
            }
        }
    }
}

#[test]
fn long_validation_and_devalidation_go_in_slices_and_end_as_one_would() {
    for every in [1u32, 2, 7, 50] {
        let mut info = setup(400, D1);
        let mut ft = FrameTable::new(&mut info);
        let mut mem = Mem::default();
        big_tree(&mut mem);
        mem.2 = Some((every, 0));
        let mut restarts = 0;
        loop {
            match ft.pin(&mut mem, Mfn(40), 4, D1) {
                Ok(()) => break,
                Err(Errno::ERESTART) => restarts += 1,
                Err(e) => panic!("every {every}: {e:?}"),
            }
            assert!(restarts < 100_000, "no progress");
        }
        assert!(restarts > 0, "every {every}: never preempted");
        // As a pin in one go leaves it.
        assert_eq!(ft.get(Mfn(40)).unwrap().type_count, 1);
        assert_eq!(ft.get(Mfn(41)).unwrap().type_count, 1);
        for t in 42..178 {
            let p = ft.get(Mfn(t)).unwrap();
            assert_eq!(
                (p.type_count, p.partial),
                (1, Partial::None),
                "every {every}: {t}"
            );
        }
        assert_eq!(mem.read(40, 256), HV_SLOT);
        // Unpinned: devalidation runs a slice at a time, what is left is pending.
        ft.unpin(&mut mem, Mfn(40), D1).unwrap();
        let mut rounds = 0;
        loop {
            let pending = core::mem::take(&mut mem.3);
            if pending.is_empty() {
                break;
            }
            for m in pending {
                let _ = ft.devalidate(&mut mem, m);
            }
            rounds += 1;
            assert!(rounds < 100_000, "no progress");
        }
        for t in 40..400 {
            let p = ft.get(Mfn(t)).unwrap();
            assert_eq!(
                (p.type_count, p.ptype, p.partial, p.refs),
                (0, PageType::None, Partial::None, 0),
                "every {every}: frame {t}"
            );
        }
    }
}

#[test]
fn a_table_part_way_through_validation_is_busy_for_other_types_and_not_freed() {
    let mut info = setup(400, D1);
    let mut ft = FrameTable::new(&mut info);
    let mut mem = Mem::default();
    big_tree(&mut mem);
    mem.2 = Some((3, 0));
    assert_eq!(ft.pin(&mut mem, Mfn(40), 4, D1), Err(Errno::ERESTART));
    assert_eq!(ft.get(Mfn(40)).unwrap().partial, Partial::Validating);
    mem.2 = None;
    assert_eq!(
        ft.get_type(&mut mem, Mfn(40), PageType::Writable, D1),
        Err(Errno::EBUSY)
    );
    assert_eq!(
        ft.release(&mut mem, &mut PageList::default(), Mfn(40)),
        Err(Errno::EBUSY)
    );
    // Asked again, it goes on from where it stopped.
    ft.pin(&mut mem, Mfn(40), 4, D1).unwrap();
    assert_eq!(ft.get(Mfn(40)).unwrap().type_count, 1);
}

#[test]
fn adding_mappings_never_flushes() {
    let mut info = setup(64, D1);
    let mut ft = FrameTable::new(&mut info);
    let mut mem = Mem::default();
    ft.pin(&mut mem, Mfn(13), 1, D1).unwrap();
    for i in 0..8 {
        ft.mod_entry(&mut mem, Mfn(13), i, e(20 + i as u64, RW), D1, D1)
            .unwrap();
    }
    assert_eq!(mem.1, 0, "no flush for new mappings");
}

#[test]
fn a_frame_unmapped_since_the_last_flush_is_flushed_before_it_changes_type() {
    let mut info = setup(64, D1);
    let mut ft = FrameTable::new(&mut info);
    let mut mem = Mem::default();
    ft.pin(&mut mem, Mfn(13), 1, D1).unwrap();
    ft.mod_entry(&mut mem, Mfn(13), 0, e(30, RW), D1, D1)
        .unwrap();
    ft.mod_entry(&mut mem, Mfn(13), 0, 0, D1, D1).unwrap();
    assert_eq!(mem.1, 0, "unmapping alone does not flush");
    // Frame 30 may still be writable through a stale TLB entry: typing it as a table
    // must flush first.
    ft.pin(&mut mem, Mfn(30), 1, D1).unwrap();
    assert_eq!(mem.1, 1);
    // Once flushed, other frames unmapped before that flush need no further flush.
    ft.mod_entry(&mut mem, Mfn(13), 1, e(31, RW), D1, D1)
        .unwrap();
    ft.mod_entry(&mut mem, Mfn(13), 1, 0, D1, D1).unwrap();
    mem.flush_tlb();
    ft.pin(&mut mem, Mfn(31), 1, D1).unwrap();
    assert_eq!(mem.1, 2, "only the explicit flush");
}

#[test]
fn a_frame_unmapped_since_the_last_flush_is_flushed_before_it_is_freed() {
    let mut info = setup(64, D1);
    let mut ft = FrameTable::new(&mut info);
    let mut mem = Mem::default();
    ft.pin(&mut mem, Mfn(13), 1, D1).unwrap();
    ft.mod_entry(&mut mem, Mfn(13), 0, e(30, pte::P | pte::US), D1, D1)
        .unwrap();
    ft.mod_entry(&mut mem, Mfn(13), 0, 0, D1, D1).unwrap();
    ft.release(&mut mem, &mut PageList::default(), Mfn(30))
        .unwrap();
    assert_eq!(mem.1, 1);
    ft.release(&mut mem, &mut PageList::default(), Mfn(31))
        .unwrap();
    assert_eq!(mem.1, 1, "a frame never mapped needs no flush");
}

fn e(mfn: u64, flags: u64) -> u64 {
    (mfn << 12) | flags
}

const RW: u64 = pte::P | pte::RW | pte::US;
const RO: u64 = pte::P | pte::US;

fn setup(n: usize, owner: DomId) -> Vec<PageInfo> {
    let mut v = vec![PageInfo::default(); n];
    for p in v.iter_mut() {
        p.owner = owner;
    }
    v
}

/// A four-level chain 10 (L4) → 11 (L3) → 12 (L2) → 13 (L1) → 20 (data, RW).
fn chain(mem: &mut Mem) {
    mem.write(10, 0, e(11, RW));
    mem.write(11, 0, e(12, RW));
    mem.write(12, 0, e(13, RW));
    mem.write(13, 0, e(20, RW));
    mem.write(13, 1, e(13, RO)); // the L1 maps itself read-only
}

#[test]
fn pinning_validates_recursively_and_installs_hypervisor_slots() {
    let mut info = setup(64, D1);
    let mut ft = FrameTable::new(&mut info);
    let mut mem = Mem::default();
    chain(&mut mem);
    ft.pin(&mut mem, Mfn(10), 4, D1).unwrap();
    assert_eq!(ft.get(Mfn(10)).unwrap().ptype, PageType::L4);
    assert_eq!(ft.get(Mfn(11)).unwrap().ptype, PageType::L3);
    assert_eq!(ft.get(Mfn(12)).unwrap().ptype, PageType::L2);
    assert_eq!(ft.get(Mfn(13)).unwrap().ptype, PageType::L1);
    assert_eq!(ft.get(Mfn(20)).unwrap().ptype, PageType::Writable);
    assert_eq!(mem.read(10, 256), HV_SLOT);
    assert_eq!(mem.read(10, 271), HV_SLOT);
    assert!(ft.get(Mfn(10)).unwrap().pinned);
}

#[test]
fn unpin_releases_every_type_reference() {
    let mut info = setup(64, D1);
    let mut ft = FrameTable::new(&mut info);
    let mut mem = Mem::default();
    chain(&mut mem);
    ft.pin(&mut mem, Mfn(10), 4, D1).unwrap();
    ft.unpin(&mut mem, Mfn(10), D1).unwrap();
    for mfn in [10, 11, 12, 13, 20] {
        let p = ft.get(Mfn(mfn)).unwrap();
        assert_eq!((p.ptype, p.type_count), (PageType::None, 0), "mfn {mfn}");
    }
    assert_eq!(ft.unpin(&mut mem, Mfn(10), D1), Err(Errno::EINVAL));
}

#[test]
fn a_table_cannot_be_mapped_writable() {
    let mut info = setup(64, D1);
    let mut ft = FrameTable::new(&mut info);
    let mut mem = Mem::default();
    chain(&mut mem);
    mem.write(13, 2, e(12, RW)); // writable mapping of the L2
    assert_eq!(ft.pin(&mut mem, Mfn(10), 4, D1), Err(Errno::EBUSY));
    // The failed validation left nothing behind.
    for mfn in [10, 11, 12, 13, 20] {
        assert_eq!(ft.get(Mfn(mfn)).unwrap().type_count, 0, "mfn {mfn}");
    }
}

#[test]
fn a_writable_page_cannot_become_a_table() {
    let mut info = setup(64, D1);
    let mut ft = FrameTable::new(&mut info);
    let mut mem = Mem::default();
    mem.write(13, 0, e(30, RW));
    ft.pin(&mut mem, Mfn(13), 1, D1).unwrap();
    assert_eq!(ft.pin(&mut mem, Mfn(30), 1, D1), Err(Errno::EBUSY));
    // Remove the writable mapping: now it can.
    ft.mod_entry(&mut mem, Mfn(13), 0, 0, D1, D1).unwrap();
    ft.pin(&mut mem, Mfn(30), 1, D1).unwrap();
}

#[test]
fn another_domains_frame_cannot_be_mapped() {
    let mut info = setup(64, D1);
    info[40].owner = D0;
    let mut ft = FrameTable::new(&mut info);
    let mut mem = Mem::default();
    mem.write(13, 0, e(40, RO));
    assert_eq!(ft.pin(&mut mem, Mfn(13), 1, D1), Err(Errno::EPERM));
}

#[test]
fn privileged_foreign_mapping_counts_a_foreign_reference() {
    let mut info = setup(64, D0);
    info[40].owner = D1;
    let mut ft = FrameTable::new(&mut info);
    let mut mem = Mem::default();
    ft.pin(&mut mem, Mfn(13), 1, D0).unwrap();
    ft.mod_entry(&mut mem, Mfn(13), 5, e(40, RW), D0, D1)
        .unwrap();
    assert_eq!(ft.get(Mfn(40)).unwrap().foreign_refs, 1);
    assert_eq!(ft.get(Mfn(40)).unwrap().ptype, PageType::Writable);
    assert_eq!(
        ft.release(&mut mem, &mut PageList::default(), Mfn(40)),
        Err(Errno::EBUSY)
    );
    ft.mod_entry(&mut mem, Mfn(13), 5, 0, D0, D0).unwrap();
    assert_eq!(ft.get(Mfn(40)).unwrap().foreign_refs, 0);
    ft.release(&mut mem, &mut PageList::default(), Mfn(40))
        .unwrap();
}

#[test]
fn foreign_domain_frames_need_the_foreign_owner_named() {
    let mut info = setup(64, D0);
    info[40].owner = D1;
    let mut ft = FrameTable::new(&mut info);
    let mut mem = Mem::default();
    ft.pin(&mut mem, Mfn(13), 1, D0).unwrap();
    assert_eq!(
        ft.mod_entry(&mut mem, Mfn(13), 5, e(40, RW), D0, D0),
        Err(Errno::EPERM)
    );
}

#[test]
fn superpages_and_reserved_bits_are_refused() {
    let mut info = setup(64, D1);
    let mut ft = FrameTable::new(&mut info);
    let mut mem = Mem::default();
    mem.write(12, 0, e(13, RW | pte::PSE));
    assert_eq!(ft.pin(&mut mem, Mfn(12), 2, D1), Err(Errno::EINVAL));
    let mut mem = Mem::default();
    mem.write(11, 0, e(12, RW | pte::PSE));
    assert_eq!(ft.pin(&mut mem, Mfn(11), 3, D1), Err(Errno::EINVAL));
    let mut mem = Mem::default();
    mem.write(13, 0, e(20, RW) | (1 << 55));
    assert_eq!(ft.pin(&mut mem, Mfn(13), 1, D1), Err(Errno::EINVAL));
    let mut mem = Mem::default();
    mem.write(13, 0, e(20, RW | pte::PCD));
    assert_eq!(ft.pin(&mut mem, Mfn(13), 1, D1), Err(Errno::EPERM));
}

#[test]
fn mmio_needs_permission() {
    let mut info = setup(64, D1);
    let mut ft = FrameTable::new(&mut info);
    let mut mem = Mem::default();
    mem.write(13, 0, e(0xFEE00, RW));
    assert_eq!(ft.pin(&mut mem, Mfn(13), 1, D1), Err(Errno::EPERM));
}

#[test]
fn hypervisor_slots_cannot_be_written() {
    let mut info = setup(64, D1);
    let mut ft = FrameTable::new(&mut info);
    let mut mem = Mem::default();
    ft.pin(&mut mem, Mfn(10), 4, D1).unwrap();
    assert_eq!(
        ft.mod_entry(&mut mem, Mfn(10), 256, e(11, RW), D1, D1),
        Err(Errno::EPERM)
    );
    assert_eq!(
        ft.mod_entry(&mut mem, Mfn(10), 271, 0, D1, D1),
        Err(Errno::EPERM)
    );
    assert_eq!(mem.read(10, 256), HV_SLOT);
    ft.mod_entry(&mut mem, Mfn(10), 255, e(11, RW), D1, D1)
        .unwrap();
    assert_eq!(ft.get(Mfn(11)).unwrap().ptype, PageType::L3);
}

#[test]
fn linear_mappings_only_read_only() {
    let mut info = setup(64, D1);
    let mut ft = FrameTable::new(&mut info);
    let mut mem = Mem::default();
    mem.write(10, 1, e(10, RW));
    assert_eq!(ft.pin(&mut mem, Mfn(10), 2, D1), Err(Errno::EINVAL));
    let mut mem = Mem::default();
    mem.write(10, 1, e(10, RO));
    ft.pin(&mut mem, Mfn(10), 2, D1).unwrap();
    ft.unpin(&mut mem, Mfn(10), D1).unwrap();
    assert_eq!(ft.get(Mfn(10)).unwrap().type_count, 0);
}

#[test]
fn no_linear_mappings_at_l4_not_even_of_itself() {
    let mut info = setup(64, D1);
    let mut ft = FrameTable::new(&mut info);
    let mut mem = Mem::default();
    mem.write(10, 1, e(10, RO));
    assert_eq!(ft.pin(&mut mem, Mfn(10), 4, D1), Err(Errno::EINVAL));
    let mut mem = Mem::default();
    ft.pin(&mut mem, Mfn(10), 4, D1).unwrap();
    ft.pin(&mut mem, Mfn(11), 4, D1).unwrap();
    assert_eq!(
        ft.mod_entry(&mut mem, Mfn(10), 0, e(11, RO), D1, D1),
        Err(Errno::EINVAL)
    );
    assert_eq!(
        ft.mod_entry(&mut mem, Mfn(10), 0, e(10, RO), D1, D1),
        Err(Errno::EINVAL)
    );
}

#[test]
fn linear_references_never_chain_or_loop_and_unwind_exactly() {
    for level in [2u8, 3] {
        let mut info = setup(64, D1);
        let mut ft = FrameTable::new(&mut info);
        let mut mem = Mem::default();
        for t in [20, 21, 22] {
            ft.pin(&mut mem, Mfn(t), level, D1).unwrap();
        }
        // 20 -> 21: allowed; 20 now holds a linear entry, 21 is used linearly.
        ft.mod_entry(&mut mem, Mfn(20), 0, e(21, RO), D1, D1)
            .unwrap();
        assert_eq!(ft.get(Mfn(20)).unwrap().linear, -1);
        assert_eq!(ft.get(Mfn(21)).unwrap().linear, 1);
        assert_eq!(ft.get(Mfn(21)).unwrap().type_count, 2);
        // A chain 21 -> 22 (21 is used linearly) and a loop 21 -> 20 are refused, and so
        // is 22 -> 20 (20 holds linear entries).
        assert_eq!(
            ft.mod_entry(&mut mem, Mfn(21), 0, e(22, RO), D1, D1),
            Err(Errno::EINVAL)
        );
        assert_eq!(
            ft.mod_entry(&mut mem, Mfn(21), 0, e(20, RO), D1, D1),
            Err(Errno::EINVAL)
        );
        assert_eq!(
            ft.mod_entry(&mut mem, Mfn(22), 0, e(20, RO), D1, D1),
            Err(Errno::EINVAL)
        );
        // More linear entries in 20, and another user of 21, are fine.
        ft.mod_entry(&mut mem, Mfn(20), 1, e(22, RO), D1, D1)
            .unwrap();
        ft.mod_entry(&mut mem, Mfn(22), 5, e(21, RO), D1, D1)
            .unwrap_err();
        assert_eq!(ft.get(Mfn(20)).unwrap().linear, -2);
        // Unpinning the targets keeps them typed while referenced; removing the entries
        // unwinds every count.
        ft.unpin(&mut mem, Mfn(21), D1).unwrap();
        assert_eq!(ft.get(Mfn(21)).unwrap().ptype, PageType::table(level));
        ft.mod_entry(&mut mem, Mfn(20), 0, 0, D1, D1).unwrap();
        ft.mod_entry(&mut mem, Mfn(20), 1, 0, D1, D1).unwrap();
        for t in [20, 21, 22] {
            assert_eq!(ft.get(Mfn(t)).unwrap().linear, 0, "frame {t}");
        }
        assert_eq!(ft.get(Mfn(21)).unwrap().type_count, 0);
        assert_eq!(ft.get(Mfn(21)).unwrap().ptype, PageType::None);
        // Dropping the holder drops its linear references with it.
        ft.mod_entry(&mut mem, Mfn(20), 0, e(22, RO), D1, D1)
            .unwrap();
        ft.unpin(&mut mem, Mfn(22), D1).unwrap();
        ft.unpin(&mut mem, Mfn(20), D1).unwrap();
        for t in [20, 22] {
            let p = ft.get(Mfn(t)).unwrap();
            assert_eq!(
                (p.linear, p.type_count, p.ptype),
                (0, 0, PageType::None),
                "frame {t}"
            );
        }
    }
}

#[test]
fn modifying_a_non_table_is_refused() {
    let mut info = setup(64, D1);
    let mut ft = FrameTable::new(&mut info);
    let mut mem = Mem::default();
    assert_eq!(
        ft.mod_entry(&mut mem, Mfn(20), 0, e(21, RW), D1, D1),
        Err(Errno::EINVAL)
    );
}

#[test]
fn relinquish_drops_foreign_references_and_resets_types() {
    let mut info = setup(64, D0);
    for p in info[32..].iter_mut() {
        p.owner = D1;
    }
    let mut ft = FrameTable::new(&mut info);
    let mut mem = Mem::default();
    // dom0 maps a domU frame; domU has its own pinned chain.
    ft.pin(&mut mem, Mfn(3), 1, D0).unwrap();
    ft.mod_entry(&mut mem, Mfn(3), 0, e(40, RW), D0, D1)
        .unwrap();
    mem.write(42, 0, e(43, RW));
    mem.write(43, 0, e(44, RW));
    mem.write(44, 0, e(45, RW));
    mem.write(45, 0, e(46, RW));
    ft.pin(&mut mem, Mfn(42), 4, D1).unwrap();
    let mut list = list_of(&mut ft, 32..64);
    // Phase 1 resets every type before phase 2 frees anything.
    let mut types_reset_before_any_free = true;
    let (freed, left) = teardown(&mut ft, &mut mem, D1, &mut list, 1, |ft, freed| {
        if !freed.is_empty() {
            types_reset_before_any_free &=
                (32..64).all(|m| ft.get(Mfn(m)).unwrap().type_count == 0);
        }
    });
    assert!(types_reset_before_any_free);
    // Frame 40 is still mapped by dom0: it stays (on the list) until dom0 unmaps it.
    assert_eq!(left, 1);
    assert_eq!(freed.len(), 31);
    assert!(!freed.contains(&40));
    for &mfn in &freed {
        assert_eq!(ft.owner(Mfn(mfn)), NO_OWNER, "frame {mfn} released");
    }
    assert_eq!(list.first(), Some(Mfn(40)));
    ft.mod_entry(&mut mem, Mfn(3), 0, 0, D0, D0).unwrap();
    let (freed, left) = collect(&mut ft, &mut mem, D1, &mut list);
    assert_eq!((freed, left), (vec![40], 0));
    assert!(list.is_empty());
}

/// A page list of frames `r` (owned already).
fn list_of(ft: &mut FrameTable<'_>, r: core::ops::Range<u64>) -> PageList {
    let mut list = PageList::default();
    for mfn in r.rev() {
        ft.list_push(&mut list, Mfn(mfn)).unwrap();
    }
    list
}

/// Tear `dom` down to the end, `budget` units a step, calling `each` between steps; returns
/// the freed frames and how many stay referenced.
fn teardown(
    ft: &mut FrameTable<'_>,
    mem: &mut Mem,
    dom: DomId,
    list: &mut PageList,
    budget: u64,
    mut each: impl FnMut(&FrameTable<'_>, &[u64]),
) -> (Vec<u64>, u64) {
    let mut freed = Vec::new();
    let mut cursor = Cursor::Untype(list.first());
    for _ in 0..100_000 {
        let mut now = Vec::new();
        let r = ft.relinquish_step(mem, dom, list, cursor, budget, |m| now.push(m.0));
        freed.extend(now);
        each(ft, &freed);
        match r {
            Relinquish::More(c) => cursor = c,
            Relinquish::Done(left) => return (freed, left),
        }
    }
    panic!("teardown never finished");
}

/// A later collection pass (after foreign references went).
fn collect(
    ft: &mut FrameTable<'_>,
    mem: &mut Mem,
    dom: DomId,
    list: &mut PageList,
) -> (Vec<u64>, u64) {
    let mut freed = Vec::new();
    let r = ft.relinquish_step(mem, dom, list, Cursor::Collect(list.first()), 1000, |m| {
        freed.push(m.0)
    });
    match r {
        Relinquish::Done(left) => (freed, left),
        Relinquish::More(_) => panic!("a budget of 1000 collects a small list"),
    }
}

#[test]
fn teardown_works_in_bounded_steps_whatever_the_budget() {
    for budget in [1, 2, 7, 64, 10_000] {
        let mut info = setup(64, D1);
        let mut ft = FrameTable::new(&mut info);
        let mut mem = Mem::default();
        chain(&mut mem);
        ft.pin(&mut mem, Mfn(10), 4, D1).unwrap();
        let mut list = list_of(&mut ft, 0..64);
        let mut steps = 0;
        let (freed, left) = teardown(&mut ft, &mut mem, D1, &mut list, budget, |_, _| steps += 1);
        assert_eq!((freed.len(), left), (64, 0), "budget {budget}");
        // Two phases over 64 frames, one unit each (plus the phase switches).
        assert!(
            steps as u64 >= 128 / budget,
            "budget {budget}: {steps} steps"
        );
        assert!((0..64).all(|m| ft.owner(Mfn(m)) == NO_OWNER));
    }
}

#[test]
fn a_failed_update_keeps_the_old_entry() {
    let mut info = setup(64, D1);
    info[50].owner = D0;
    let mut ft = FrameTable::new(&mut info);
    let mut mem = Mem::default();
    mem.write(13, 0, e(20, RW));
    ft.pin(&mut mem, Mfn(13), 1, D1).unwrap();
    assert_eq!(
        ft.mod_entry(&mut mem, Mfn(13), 0, e(50, RW), D1, D1),
        Err(Errno::EPERM)
    );
    assert_eq!(mem.read(13, 0), e(20, RW));
    assert_eq!(ft.get(Mfn(20)).unwrap().type_count, 1);
}

#[test]
fn a_read_only_mapping_keeps_its_frame_from_being_freed() {
    let mut info = setup(64, D1);
    let mut ft = FrameTable::new(&mut info);
    let mut mem = Mem::default();
    ft.pin(&mut mem, Mfn(13), 1, D1).unwrap();
    ft.mod_entry(&mut mem, Mfn(13), 7, e(25, RO), D1, D1)
        .unwrap();
    assert_eq!(ft.get(Mfn(25)).unwrap().refs, 1);
    // decrease_reservation of a still-mapped frame must not hand it to someone else.
    assert_eq!(
        ft.release(&mut mem, &mut PageList::default(), Mfn(25)),
        Err(Errno::EBUSY)
    );
    ft.mod_entry(&mut mem, Mfn(13), 7, 0, D1, D1).unwrap();
    assert_eq!(ft.get(Mfn(25)).unwrap().refs, 0);
    ft.release(&mut mem, &mut PageList::default(), Mfn(25))
        .unwrap();
}

#[test]
fn pinned_tables_cannot_be_released() {
    let mut info = setup(64, D1);
    let mut ft = FrameTable::new(&mut info);
    let mut mem = Mem::default();
    ft.pin(&mut mem, Mfn(13), 1, D1).unwrap();
    assert_eq!(
        ft.release(&mut mem, &mut PageList::default(), Mfn(13)),
        Err(Errno::EBUSY)
    );
}

/// Flat ring-3 data and 64-bit code descriptors.
const USER_DATA: u64 = 0x00CF_F200_0000_FFFF;
const USER_CODE: u64 = 0x00AF_FA00_0000_FFFF;
const RING0_CODE: u64 = 0x00AF_9A00_0000_FFFF;
/// The conforming bit of a code segment.
const CONFORMING: u64 = 1 << 42;

#[test]
fn descriptor_pages_are_validated_when_typed() {
    let mut info = setup(64, D1);
    let mut ft = FrameTable::new(&mut info);
    let mut mem = Mem::default();
    mem.write(30, 1, USER_DATA);
    mem.write(30, 2, USER_CODE);
    ft.get_type(&mut mem, Mfn(30), PageType::SegDesc, D1)
        .unwrap();
    assert_eq!(ft.get(Mfn(30)).unwrap().ptype, PageType::SegDesc);
    // A conforming code segment anywhere in the page refuses the whole page, and nothing
    // in it is changed (not even the ring-0 segment before it).
    mem.write(31, 3, RING0_CODE);
    mem.write(31, 300, RING0_CODE | CONFORMING);
    assert_eq!(
        ft.get_type(&mut mem, Mfn(31), PageType::SegDesc, D1),
        Err(Errno::EINVAL)
    );
    assert_eq!(ft.get(Mfn(31)).unwrap().type_count, 0);
    assert_eq!(mem.read(31, 3), RING0_CODE);
    // Without it, the page is taken and its ring-0 segment raised to ring 3, as Xen does.
    mem.write(31, 300, 0);
    ft.get_type(&mut mem, Mfn(31), PageType::SegDesc, D1)
        .unwrap();
    assert_eq!(mem.read(31, 3), RING0_CODE | 3 << 45);
    // Another domain cannot make our frame its descriptor page.
    assert_eq!(
        ft.get_type(&mut mem, Mfn(63), PageType::SegDesc, D0),
        Err(Errno::EPERM)
    );
}

#[test]
fn descriptor_pages_and_writable_mappings_exclude_each_other() {
    let mut info = setup(64, D1);
    let mut ft = FrameTable::new(&mut info);
    let mut mem = Mem::default();
    ft.pin(&mut mem, Mfn(13), 1, D1).unwrap();
    ft.get_type(&mut mem, Mfn(30), PageType::SegDesc, D1)
        .unwrap();
    // A descriptor page cannot be mapped writable, only read-only.
    assert_eq!(
        ft.mod_entry(&mut mem, Mfn(13), 0, e(30, RW), D1, D1),
        Err(Errno::EBUSY)
    );
    ft.mod_entry(&mut mem, Mfn(13), 0, e(30, RO), D1, D1)
        .unwrap();
    // A writably mapped page cannot become a descriptor page.
    ft.mod_entry(&mut mem, Mfn(13), 1, e(31, RW), D1, D1)
        .unwrap();
    assert_eq!(
        ft.get_type(&mut mem, Mfn(31), PageType::SegDesc, D1),
        Err(Errno::EBUSY)
    );
    // Dropping the last descriptor reference frees the type.
    ft.put_type(&mut mem, Mfn(30));
    assert_eq!(ft.get(Mfn(30)).unwrap().ptype, PageType::None);
    ft.mod_entry(&mut mem, Mfn(13), 0, e(30, RW), D1, D1)
        .unwrap();
}

#[test]
fn relinquish_resets_descriptor_pages_and_counts_only_foreign_mappings() {
    let mut info = setup(64, D0);
    for p in info[32..].iter_mut() {
        p.owner = D1;
    }
    let mut ft = FrameTable::new(&mut info);
    let mut mem = Mem::default();
    // domU: a pinned L1 mapping its own frame 50 read-only, and a descriptor page 51.
    ft.pin(&mut mem, Mfn(45), 1, D1).unwrap();
    ft.mod_entry(&mut mem, Mfn(45), 0, e(50, RO), D1, D1)
        .unwrap();
    ft.get_type(&mut mem, Mfn(51), PageType::SegDesc, D1)
        .unwrap();
    // dom0 maps domU frame 52 read-only.
    ft.pin(&mut mem, Mfn(3), 1, D0).unwrap();
    ft.mod_entry(&mut mem, Mfn(3), 0, e(52, RO), D0, D1)
        .unwrap();
    let mut list = list_of(&mut ft, 32..64);
    let (freed, left) = teardown(&mut ft, &mut mem, D1, &mut list, 5, |_, _| {});
    assert_eq!(left, 1);
    for f in [45, 50, 51] {
        assert!(freed.contains(&f), "frame {f} freed");
    }
    assert_eq!(ft.release(&mut mem, &mut list, Mfn(52)), Err(Errno::EBUSY));
    ft.mod_entry(&mut mem, Mfn(3), 0, 0, D0, D0).unwrap();
    ft.release(&mut mem, &mut list, Mfn(52)).unwrap();
    assert!(list.is_empty());
}

#[test]
fn hypervisor_pages_map_but_never_become_tables_descriptors_or_free_memory() {
    let mut info = setup(64, D1);
    // Frame 40 is free, then becomes the hypervisor's page shared with D1.
    info[40] = PageInfo::default();
    let mut ft = FrameTable::new(&mut info);
    let mut mem = Mem::default();
    let page = ft.assign_xen(Mfn(40), D1).unwrap();
    assert_eq!(page.mfn(), Mfn(40));
    // The guest may map it, writable too (as shared_info is).
    ft.pin(&mut mem, Mfn(13), 1, D1).unwrap();
    ft.mod_entry(&mut mem, Mfn(13), 0, e(40, RW), D1, D1)
        .unwrap();
    ft.mod_entry(&mut mem, Mfn(13), 0, 0, D1, D1).unwrap();
    // Never a table, at any level, by pin or by reference from a higher table, nor descriptors.
    for level in 1..=4 {
        assert_eq!(ft.pin(&mut mem, Mfn(40), level, D1), Err(Errno::EPERM));
    }
    ft.pin(&mut mem, Mfn(14), 2, D1).unwrap();
    assert_eq!(
        ft.mod_entry(&mut mem, Mfn(14), 0, e(40, RO), D1, D1),
        Err(Errno::EPERM)
    );
    assert_eq!(
        ft.get_type(&mut mem, Mfn(40), PageType::SegDesc, D1),
        Err(Errno::EPERM)
    );
    // Not freeable or grantable as the guest's memory.
    assert_eq!(
        ft.release(&mut mem, &mut PageList::default(), Mfn(40)),
        Err(Errno::EPERM)
    );
    assert!(!ft.owned_memory(Mfn(40), D1));
    assert!(ft.owned_memory(Mfn(20), D1));
    // While mapped it cannot be taken back; afterwards it can, and is then free.
    ft.mod_entry(&mut mem, Mfn(13), 1, e(40, RO), D1, D1)
        .unwrap();
    let page = ft.release_xen(&mut mem, page).unwrap_err();
    ft.mod_entry(&mut mem, Mfn(13), 1, 0, D1, D1).unwrap();
    assert_eq!(ft.release_xen(&mut mem, page), Ok(Mfn(40)));
    assert_eq!(ft.owner(Mfn(40)), NO_OWNER);
    assert!(!ft.get(Mfn(40)).unwrap().xen);
}

#[test]
fn kernel_entries_are_stored_with_the_user_bit_at_every_level() {
    // Linux writes its kernel mappings without the user bit; its kernel runs in ring 3, so
    // the stored entries carry it (as Xen does), whether validated or written later.
    let mut info = setup(64, D1);
    let mut ft = FrameTable::new(&mut info);
    let mut mem = Mem::default();
    let kernel = pte::P | pte::RW;
    mem.write(40, 0, e(41, kernel));
    mem.write(41, 0, e(42, kernel));
    mem.write(42, 0, e(43, kernel));
    mem.write(43, 0, e(50, pte::P | pte::NX));
    mem.write(43, 1, e(51, 0x2)); // not present: stored as written
    ft.pin(&mut mem, Mfn(40), 4, D1).unwrap();
    assert_eq!(mem.read(40, 0), e(41, kernel | pte::US));
    assert_eq!(mem.read(41, 0), e(42, kernel | pte::US));
    assert_eq!(mem.read(42, 0), e(43, kernel | pte::US));
    assert_eq!(mem.read(43, 0), e(50, pte::P | pte::NX | pte::US));
    assert_eq!(mem.read(43, 1), e(51, 0x2));
    ft.mod_entry(&mut mem, Mfn(43), 2, e(52, kernel), D1, D1)
        .unwrap();
    assert_eq!(mem.read(43, 2), e(52, kernel | pte::US));
    ft.mod_entry(&mut mem, Mfn(43), 3, e(53, 0), D1, D1)
        .unwrap();
    assert_eq!(mem.read(43, 3), e(53, 0));
    // The references are those of the entries: 52 is writable once, 50 and 51 untyped.
    assert_eq!(ft.get(Mfn(52)).unwrap().ptype, PageType::Writable);
    assert_eq!(ft.get(Mfn(50)).unwrap().ptype, PageType::None);
}
