//! `memory_op`: populating, growing and shrinking a domain's memory (with continuations of
//! long extent lists), the reservation queries and the M2P description.

use crate::mm::page_types::{PageInfo, PageType, TableMem, NO_OWNER};
use crate::mm::pte;
use crate::testbed::{err, Testbed};
use guest_abi::arch::MACH2PHYS_VIRT_START;
use guest_abi::errno::Errno;
use guest_abi::hypercall::nr;
use guest_abi::memory::*;
use guest_abi::types::{DomId, Mfn};
use zerocopy::IntoBytes;

/// Where the guest's `syscall` sits (as the testbed places it).
const AT: u64 = 0xFFFF_FFFF_8000_1000;
/// An address inside the hypervisor's hole.
const HOLE: u64 = 0xFFFF_8000_0000_0000;
/// A canonical address nothing maps.
const UNMAPPED: u64 = 0x10;
/// A non-canonical address.
const NONCANON: u64 = 0x0000_8000_0000_0000;
/// The reservation structure's place in the scratch area; the extent list follows a page on.
const ARG: u64 = 0;
const LIST: u64 = 0x1000;

/// Issue a hypercall; rax and how many times the call was continued.
fn call(tb: &mut Testbed, num: usize, args: [u64; 5]) -> (i64, u32) {
    let c = tb.hypercall_traced(num, args);
    (c.rax, c.continued)
}

/// `populate_physmap` of the current domain over the `n` PFNs listed at `list`.
fn own_populate(tb: &mut Testbed, list: u64, n: u64) -> (i64, u32) {
    reserve(tb, XENMEM_POPULATE_PHYSMAP.into(), list, n, DomId::SELF)
}

/// `decrease_reservation` of the current domain over the `n` MFNs listed at `list`.
fn own_decrease(tb: &mut Testbed, list: u64, n: u64) -> (i64, u32) {
    reserve(tb, XENMEM_DECREASE_RESERVATION.into(), list, n, DomId::SELF)
}

/// A reservation operation `cmd` (command word, continuation bits included) of the current
/// domain on `dom` over `n` extents listed at `list`.
fn reserve(tb: &mut Testbed, cmd: u64, list: u64, n: u64, dom: DomId) -> (i64, u32) {
    let arg = tb.scratch() + ARG;
    tb.write(
        arg,
        &XenMemoryReservation {
            extent_start: list,
            nr_extents: n,
            domid: dom,
            ..Default::default()
        },
    );
    call(tb, nr::MEMORY_OP, [cmd, arg, 0, 0, 0])
}

fn write_list(tb: &Testbed, at: u64, v: &[u64]) {
    tb.write_bytes(at, v.as_bytes());
}

fn read_list(tb: &Testbed, at: u64, n: usize) -> Vec<u64> {
    tb.read_bytes(at, n * 8)
        .chunks_exact(8)
        .map(|c| u64::from_le_bytes(c.try_into().unwrap()))
        .collect()
}

/// M2P[mfn], by number.
fn m2p(mfn: u64) -> u64 {
    crate::arch::paging::m2p_get(Mfn(mfn)).0
}

fn info(tb: &Testbed, mfn: impl Into<Mfn>) -> PageInfo {
    tb.st(|st| *st.frame_table().0.get(mfn.into()).expect("frame exists"))
}

fn tot(tb: &Testbed, id: DomId) -> u64 {
    tb.st(|st| st.dom(id).expect("domain").tot_pages)
}

fn listed(tb: &Testbed, id: DomId) -> u64 {
    tb.st(|st| st.dom(id).expect("domain").pages.len())
}

fn set_max(tb: &Testbed, id: DomId, max: u64) {
    tb.st(|st| st.dom(id).expect("domain").max_pages = max);
}

fn free_frames() -> u64 {
    crate::phys::frames::free_count()
}

/// The machine frame behind the current domain's `va` and its L1 slot.
fn frame_of(tb: &Testbed, va: u64) -> u64 {
    tb.st(|st| {
        let l4 = st.cur().vcpus[0].active_l4();
        crate::mm::guest_walk::translate(&st.mem, l4, va, false).expect("mapped") >> 12
    })
}

/// The L1 entry mapping the current domain's `va`.
fn l1e(tb: &Testbed, va: u64) -> u64 {
    tb.st(|st| {
        let l4 = st.cur().vcpus[0].active_l4();
        let (t, idx) = crate::mm::guest_walk::l1_slot(&st.mem, l4, va).expect("mapped");
        st.mem.read(t, idx)
    })
}

/// The current domain rewrites the L1 entry of its own `va` (0 unmaps it).
fn remap(tb: &mut Testbed, va: u64, val: u64) {
    assert_eq!(tb.hypercall(nr::UPDATE_VA_MAPPING, [va, val, 2, 0, 0]), 0);
}

/// Give domain `id` room for `more` pages beyond what it has.
fn room(tb: &Testbed, id: DomId, more: u64) {
    let t = tot(tb, id);
    set_max(tb, id, t + more);
}

#[test]
fn populate_physmap_allocates_at_the_requested_pfns_and_writes_the_mfns_back() {
    let mut tb = Testbed::boot();
    room(&tb, DomId::DOM0, 8);
    let (before, listed_before, free_before) = (
        tot(&tb, DomId::DOM0),
        listed(&tb, DomId::DOM0),
        free_frames(),
    );
    let list = tb.scratch() + LIST;
    let pfns = [0x2000u64, 0x2001, 0x5000, 0x2003];
    write_list(&tb, list, &pfns);
    let (rc, _) = own_populate(&mut tb, list, 4);
    assert_eq!(rc, 4);
    let mfns = read_list(&tb, list, 4);
    for (&mfn, &pfn) in mfns.iter().zip(&pfns) {
        assert_ne!(mfn, pfn, "the slot holds the new MFN");
        let p = info(&tb, mfn);
        assert_eq!(p.owner, DomId::DOM0);
        assert!(!p.xen);
        assert_eq!((p.ptype, p.type_count, p.refs), (PageType::None, 0, 0));
        assert_eq!(m2p(mfn), pfn, "the M2P records the PFN");
        let mut b = [0xAAu8; 4096];
        tb.peek(mfn, 0, &mut b);
        let zeros = b.iter().all(|&x| x == 0);
        assert!(zeros, "a populated frame is scrubbed");
    }
    let mut distinct = mfns.clone();
    distinct.sort_unstable();
    distinct.dedup();
    assert_eq!(distinct.len(), 4);
    assert_eq!(tot(&tb, DomId::DOM0), before + 4);
    assert_eq!(listed(&tb, DomId::DOM0), listed_before + 4);
    assert_eq!(free_frames(), free_before - 4);
    // The queries see the new size.
    let at = tb.scratch() + 0x800;
    tb.write(at, &DomId::SELF);
    let cur = tb.hypercall(
        nr::MEMORY_OP,
        [XENMEM_CURRENT_RESERVATION.into(), at, 0, 0, 0],
    );
    assert_eq!(cur as u64, before + 4);
    let max = tb.hypercall(
        nr::MEMORY_OP,
        [XENMEM_MAXIMUM_RESERVATION.into(), at, 0, 0, 0],
    );
    assert_eq!(max as u64, before + 8);
}

#[test]
fn increase_reservation_with_or_without_a_list_counts_the_frames_and_leaves_the_m2p_unset() {
    let mut tb = Testbed::boot();
    room(&tb, DomId::DOM0, 5);
    let before = tot(&tb, DomId::DOM0);
    // No list: the frames are only counted.
    let (rc, _) = reserve(
        &mut tb,
        XENMEM_INCREASE_RESERVATION.into(),
        0,
        2,
        DomId::SELF,
    );
    assert_eq!(rc, 2);
    assert_eq!(tot(&tb, DomId::DOM0), before + 2);
    assert_eq!(listed(&tb, DomId::DOM0), before + 2);
    // With a list: its contents are ignored and replaced with the MFNs.
    let list = tb.scratch() + LIST;
    write_list(&tb, list, &[7, 7, 7]);
    let (rc, _) = reserve(
        &mut tb,
        XENMEM_INCREASE_RESERVATION.into(),
        list,
        3,
        DomId::SELF,
    );
    assert_eq!(rc, 3);
    for mfn in read_list(&tb, list, 3) {
        assert_eq!(info(&tb, mfn).owner, DomId::DOM0);
        assert_eq!(m2p(mfn), u64::MAX, "no PFN yet: the M2P entry is invalid");
    }
    assert_eq!(tot(&tb, DomId::DOM0), before + 5);
}

#[test]
fn population_stops_at_max_pages_and_reports_how_many_extents_were_done() {
    let mut tb = Testbed::boot();
    room(&tb, DomId::DOM0, 2);
    let before = tot(&tb, DomId::DOM0);
    let list = tb.scratch() + LIST;
    write_list(&tb, list, &[0x3000, 0x3001, 0x3002, 0x3003, 0x3004]);
    let (rc, _) = own_populate(&mut tb, list, 5);
    assert_eq!(rc, 2);
    let got = read_list(&tb, list, 5);
    assert_eq!(
        &got[2..],
        &[0x3002, 0x3003, 0x3004],
        "slots not done are untouched"
    );
    assert_eq!(tot(&tb, DomId::DOM0), before + 2);
    let (rc, _) = reserve(
        &mut tb,
        XENMEM_INCREASE_RESERVATION.into(),
        0,
        1,
        DomId::SELF,
    );
    assert_eq!(rc, 0, "at its maximum a domain gets nothing more");
    assert_eq!(tot(&tb, DomId::DOM0), before + 2);
    // A domU built at its maximum gets nothing either, however much it asks for.
    let u = tb.domu(1024);
    tb.run(u);
    let (rc, _) = reserve(
        &mut tb,
        XENMEM_INCREASE_RESERVATION.into(),
        0,
        1 << 20,
        DomId::SELF,
    );
    assert_eq!(rc, 0);
    assert_eq!(tot(&tb, u), 1024);
}

#[test]
fn decrease_reservation_gives_unused_frames_back_to_the_allocator() {
    let mut tb = Testbed::boot();
    room(&tb, DomId::DOM0, 3);
    let (before, free_before) = (tot(&tb, DomId::DOM0), free_frames());
    let list = tb.scratch() + LIST;
    write_list(&tb, list, &[0x4000, 0x4001, 0x4002]);
    assert_eq!(own_populate(&mut tb, list, 3).0, 3);
    let mfns = read_list(&tb, list, 3);
    let (rc, _) = own_decrease(&mut tb, list, 3);
    assert_eq!(rc, 3);
    for &mfn in &mfns {
        assert_eq!(info(&tb, mfn).owner, NO_OWNER);
        assert_eq!(m2p(mfn), u64::MAX);
    }
    assert_eq!(tot(&tb, DomId::DOM0), before);
    assert_eq!(listed(&tb, DomId::DOM0), before);
    assert_eq!(free_frames(), free_before);
    // Given back once, a frame is no longer the domain's to give.
    let (rc, _) = own_decrease(&mut tb, list, 1);
    assert_eq!(rc, 0);
    assert_eq!(free_frames(), free_before);
}

#[test]
fn decrease_reservation_refuses_page_tables_mapped_frames_and_frames_not_owned() {
    let mut tb = Testbed::boot();
    let u = tb.domu(1024);
    room(&tb, DomId::DOM0, 1);
    let list = tb.scratch() + LIST;
    write_list(&tb, list, &[0x6000]);
    assert_eq!(own_populate(&mut tb, list, 1).0, 1);
    let spare = read_list(&tb, list, 1)[0];
    let l4 = tb.st(|st| st.cur().vcpus[0].active_l4());
    let mapped = frame_of(&tb, tb.scratch());
    let (shared, u_frame) = tb.st(|st| {
        let d = st.dom(u).unwrap();
        (d.shared_info.mfn(), d.pages.first().unwrap())
    });
    let free_frame = tb.st(|st| {
        (0..st.mem.max_mfn)
            .rev()
            .find(|&m| st.frame_table().0.owner(Mfn(m)) == NO_OWNER && m > 0x1000)
            .unwrap()
    });
    let (before, u_before, free_before) = (tot(&tb, DomId::DOM0), tot(&tb, u), free_frames());
    let l4_info = info(&tb, l4);
    // A free frame first, then the L4: one extent is done and the call stops at the table.
    write_list(&tb, list, &[spare, l4.0]);
    let (rc, _) = own_decrease(&mut tb, list, 2);
    assert_eq!(rc, 1);
    assert_eq!(info(&tb, spare).owner, NO_OWNER);
    let after = info(&tb, l4);
    assert_eq!(
        (after.owner, after.ptype, after.type_count, after.pinned),
        (DomId::DOM0, PageType::L4, l4_info.type_count, true)
    );
    // Each of these is refused as the first extent: nothing is done.
    for (what, mfn) in [
        ("a frame its page tables map", mapped),
        ("another domain's frame", u_frame.0),
        ("its shared_info (the hypervisor's page)", shared.0),
        ("a free frame", free_frame),
        ("a frame beyond RAM", 1 << 40),
        ("an absurd frame number", u64::MAX),
    ] {
        write_list(&tb, list, &[mfn]);
        let (rc, _) = own_decrease(&mut tb, list, 1);
        assert_eq!(rc, 0, "{what} is refused");
    }
    assert_eq!(info(&tb, mapped).owner, DomId::DOM0);
    assert_eq!(info(&tb, u_frame).owner, u);
    assert!(info(&tb, shared).xen);
    assert_eq!(info(&tb, free_frame).owner, NO_OWNER);
    assert_eq!((tot(&tb, DomId::DOM0), tot(&tb, u)), (before - 1, u_before));
    assert_eq!(free_frames(), free_before + 1);
    // The scratch page is still usable.
    tb.write(tb.scratch(), &0x1234u64);
    assert_eq!(tb.read::<u64>(tb.scratch()), 0x1234);
}

#[test]
fn an_unprivileged_domain_can_neither_change_nor_query_another_domains_reservation() {
    let mut tb = Testbed::boot();
    let u = tb.domu(1024);
    let dom0_frame = frame_of(&tb, tb.scratch());
    let dom0_before = tot(&tb, DomId::DOM0);
    room(&tb, DomId::DOM0, 4);
    tb.run(u);
    let list = tb.scratch() + LIST;
    for cmd in [XENMEM_POPULATE_PHYSMAP, XENMEM_INCREASE_RESERVATION] {
        write_list(&tb, list, &[0x7000]);
        let (rc, _) = reserve(&mut tb, cmd.into(), list, 1, DomId(0));
        assert_eq!(rc, err(Errno::EPERM), "cmd {cmd}");
    }
    write_list(&tb, list, &[dom0_frame]);
    let (rc, _) = reserve(
        &mut tb,
        XENMEM_DECREASE_RESERVATION.into(),
        list,
        1,
        DomId(0),
    );
    assert_eq!(rc, err(Errno::EPERM));
    let at = tb.scratch() + 0x800;
    for cmd in [XENMEM_CURRENT_RESERVATION, XENMEM_MAXIMUM_RESERVATION] {
        tb.write(at, &DomId(0));
        assert_eq!(
            tb.hypercall(nr::MEMORY_OP, [cmd.into(), at, 0, 0, 0]),
            err(Errno::EPERM)
        );
        // Its own, by DOMID_SELF or by its id.
        for me in [DomId::SELF, u] {
            tb.write(at, &me);
            assert_eq!(tb.hypercall(nr::MEMORY_OP, [cmd.into(), at, 0, 0, 0]), 1024);
        }
    }
    assert_eq!(tot(&tb, DomId::DOM0), dom0_before);
    assert_eq!(info(&tb, dom0_frame).owner, DomId::DOM0);
}

#[test]
fn dom0_may_populate_and_query_another_domain_but_not_a_missing_or_dying_one() {
    let mut tb = Testbed::boot();
    let u = tb.domu(1024);
    room(&tb, u, 2);
    let list = tb.scratch() + LIST;
    write_list(&tb, list, &[0x8000, 0x8001]);
    let (rc, _) = reserve(&mut tb, XENMEM_POPULATE_PHYSMAP.into(), list, 2, u);
    assert_eq!(rc, 2);
    for (mfn, pfn) in read_list(&tb, list, 2).into_iter().zip([0x8000, 0x8001]) {
        assert_eq!(info(&tb, mfn).owner, u, "the frame is the target's");
        assert_eq!(m2p(mfn), pfn);
    }
    assert_eq!(tot(&tb, u), 1026);
    assert_eq!(tot(&tb, DomId::DOM0), crate::testbed::DOM0_PAGES);
    let at = tb.scratch() + 0x800;
    tb.write(at, &u);
    assert_eq!(
        tb.hypercall(
            nr::MEMORY_OP,
            [XENMEM_CURRENT_RESERVATION.into(), at, 0, 0, 0]
        ),
        1026
    );
    assert_eq!(
        tb.hypercall(
            nr::MEMORY_OP,
            [XENMEM_MAXIMUM_RESERVATION.into(), at, 0, 0, 0]
        ),
        1026
    );
    // Nobody by that id.
    tb.write(at, &DomId(77));
    assert_eq!(
        tb.hypercall(
            nr::MEMORY_OP,
            [XENMEM_CURRENT_RESERVATION.into(), at, 0, 0, 0]
        ),
        err(Errno::ESRCH)
    );
    let (rc, _) = reserve(&mut tb, XENMEM_INCREASE_RESERVATION.into(), 0, 1, DomId(77));
    assert_eq!(rc, err(Errno::ESRCH));
    // A dying domain gets nothing more.
    tb.st(|st| st.dom(u).unwrap().dying = true);
    let (rc, _) = reserve(&mut tb, XENMEM_INCREASE_RESERVATION.into(), 0, 1, u);
    assert_eq!(rc, err(Errno::ESRCH));
    assert_eq!(tot(&tb, u), 1026);
}

#[test]
fn long_extent_lists_are_continued_and_finish_with_every_extent_done() {
    let mut tb = Testbed::boot();
    const N: u64 = 4500; // more than two batches
    room(&tb, DomId::DOM0, N);
    let (before, free_before) = (tot(&tb, DomId::DOM0), free_frames());
    let list = tb.scratch() + LIST;
    let pfns: Vec<u64> = (0..N).map(|i| 0x10_0000 + i).collect();
    write_list(&tb, list, &pfns);
    let (rc, continued) = own_populate(&mut tb, list, N);
    assert_eq!(rc as u64, N);
    assert_eq!(
        continued, 2,
        "two continuations for 4500 extents in batches of 2048"
    );
    let mfns = read_list(&tb, list, N as usize);
    for (&mfn, &pfn) in mfns.iter().zip(&pfns) {
        assert_eq!(info(&tb, mfn).owner, DomId::DOM0);
        assert_eq!(m2p(mfn), pfn);
    }
    assert_eq!(tot(&tb, DomId::DOM0), before + N);
    assert_eq!(listed(&tb, DomId::DOM0), before + N);
    assert_eq!(free_frames(), free_before - N);
    let (rc, continued) = own_decrease(&mut tb, list, N);
    assert_eq!(rc as u64, N);
    assert_eq!(continued, 2);
    assert_eq!(tot(&tb, DomId::DOM0), before);
    assert_eq!(listed(&tb, DomId::DOM0), before);
    assert_eq!(free_frames(), free_before);
    assert!(mfns.iter().all(|&m| info(&tb, m).owner == NO_OWNER));
}

#[test]
fn a_continued_call_resumes_at_the_extent_in_its_command_word() {
    let mut tb = Testbed::boot();
    room(&tb, DomId::DOM0, 8);
    let before = tot(&tb, DomId::DOM0);
    let list = tb.scratch() + LIST;
    write_list(&tb, list, &[0xA000, 0xA001, 0xA002, 0xA003]);
    // Start at extent 2: only slots 2 and 3 are used; the count returned includes the first 2.
    let cmd = u64::from(XENMEM_POPULATE_PHYSMAP) | 2 << MEMOP_EXTENT_SHIFT;
    let (rc, _) = reserve(&mut tb, cmd, list, 4, DomId::SELF);
    assert_eq!(rc, 4);
    let got = read_list(&tb, list, 4);
    assert_eq!(&got[..2], &[0xA000, 0xA001]);
    assert_eq!(m2p(got[2]), 0xA002);
    assert_eq!(tot(&tb, DomId::DOM0), before + 2);
    // A start at or past the end does nothing and returns the start.
    let cmd = u64::from(XENMEM_INCREASE_RESERVATION) | 9 << MEMOP_EXTENT_SHIFT;
    assert_eq!(reserve(&mut tb, cmd, 0, 4, DomId::SELF).0, 9);
    let cmd = u64::from(XENMEM_INCREASE_RESERVATION) | (u64::MAX >> MEMOP_EXTENT_SHIFT) << 6;
    assert_eq!(
        reserve(&mut tb, cmd, 0, 4, DomId::SELF).0 as u64,
        u64::MAX >> MEMOP_EXTENT_SHIFT
    );
    assert_eq!(tot(&tb, DomId::DOM0), before + 2);
}

#[test]
fn a_fault_part_way_through_the_extent_list_reports_the_extents_already_done() {
    let mut tb = Testbed::boot();
    room(&tb, DomId::DOM0, 8);
    let before = tot(&tb, DomId::DOM0);
    // The list's last page is unmapped: 3 extents are readable, the 4th is not.
    let hole = tb.scratch() + 0x20000;
    remap(&mut tb, hole, 0);
    let list = hole - 3 * 8;
    write_list(&tb, list, &[0xB000, 0xB001, 0xB002]);
    let (rc, _) = own_populate(&mut tb, list, 5);
    assert_eq!(rc, 3, "the guest learns how many frames it got");
    let mfns = read_list(&tb, list, 3);
    assert!(mfns.iter().all(|&m| info(&tb, m).owner == DomId::DOM0));
    assert_eq!(tot(&tb, DomId::DOM0), before + 3);
    // Giving them back over the same list: the same count, and they are free again.
    let (rc, _) = own_decrease(&mut tb, list, 5);
    assert_eq!(rc, 3);
    assert!(mfns.iter().all(|&m| info(&tb, m).owner == NO_OWNER));
    assert_eq!(tot(&tb, DomId::DOM0), before);
    // The fault is met first thing in a continued call: the earlier batch still counts.
    room(&tb, DomId::DOM0, 2100);
    let list = hole - 2048 * 8;
    let pfns: Vec<u64> = (0..2048).map(|i| 0xD000 + i).collect();
    write_list(&tb, list, &pfns);
    let (rc, continued) = own_populate(&mut tb, list, 2100);
    assert_eq!((rc, continued), (2048, 1));
    assert_eq!(tot(&tb, DomId::DOM0), before + 2048);
    let (rc, _) = own_decrease(&mut tb, list, 2100);
    assert_eq!(rc, 2048);
    assert_eq!(tot(&tb, DomId::DOM0), before);
    // A list that is not there at all: a bad address, and nothing is done.
    for bad in [hole, HOLE, UNMAPPED, NONCANON] {
        for cmd in [XENMEM_POPULATE_PHYSMAP, XENMEM_DECREASE_RESERVATION] {
            let (rc, _) = reserve(&mut tb, cmd.into(), bad, 2, DomId::SELF);
            assert_eq!(rc, err(Errno::EFAULT), "cmd {cmd} list {bad:#x}");
        }
    }
    assert_eq!(tot(&tb, DomId::DOM0), before);
}

#[test]
fn a_read_only_extent_list_gets_no_frames_and_leaks_none() {
    let mut tb = Testbed::boot();
    room(&tb, DomId::DOM0, 8);
    let (before, free_before) = (tot(&tb, DomId::DOM0), free_frames());
    let page = tb.scratch() + 0x21000;
    write_list(&tb, page, &[0xC000, 0xC001]);
    let mfn = frame_of(&tb, page);
    remap(&mut tb, page, (mfn << 12) | pte::P | pte::US | pte::A);
    // Readable, so each PFN is read, but the MFN cannot be written back: the frame is freed.
    for cmd in [XENMEM_POPULATE_PHYSMAP, XENMEM_INCREASE_RESERVATION] {
        let (rc, _) = reserve(&mut tb, cmd.into(), page, 2, DomId::SELF);
        assert_eq!(rc, err(Errno::EFAULT), "cmd {cmd}");
    }
    assert_eq!(read_list(&tb, page, 2), vec![0xC000, 0xC001]);
    assert_eq!(tot(&tb, DomId::DOM0), before);
    assert_eq!(listed(&tb, DomId::DOM0), before);
    assert_eq!(free_frames(), free_before);
}

#[test]
fn hostile_arguments_are_refused_before_anything_changes() {
    let mut tb = Testbed::boot();
    room(&tb, DomId::DOM0, 8);
    let (before, free_before) = (tot(&tb, DomId::DOM0), free_frames());
    for cmd in [
        XENMEM_POPULATE_PHYSMAP,
        XENMEM_INCREASE_RESERVATION,
        XENMEM_DECREASE_RESERVATION,
        XENMEM_CURRENT_RESERVATION,
        XENMEM_MAXIMUM_RESERVATION,
        XENMEM_MACHPHYS_MAPPING,
    ] {
        for p in [HOLE, UNMAPPED, NONCANON] {
            assert_eq!(
                tb.hypercall(nr::MEMORY_OP, [cmd.into(), p, 0, 0, 0]),
                err(Errno::EFAULT),
                "cmd {cmd} at {p:#x}"
            );
        }
    }
    // Only single-page extents.
    let arg = tb.scratch();
    for order in [1u32, 9, u32::MAX] {
        tb.write(
            arg,
            &XenMemoryReservation {
                nr_extents: 1,
                extent_order: order,
                domid: DomId::SELF,
                ..Default::default()
            },
        );
        assert_eq!(
            tb.hypercall(
                nr::MEMORY_OP,
                [XENMEM_INCREASE_RESERVATION.into(), arg, 0, 0, 0]
            ),
            err(Errno::EINVAL)
        );
    }
    // What is not implemented says so.
    for cmd in [
        XENMEM_MACHPHYS_MFN_LIST,
        XENMEM_ADD_TO_PHYSMAP,
        XENMEM_MEMORY_MAP,
        XENMEM_MACHINE_MEMORY_MAP,
        XENMEM_EXCHANGE,
        XENMEM_MAXIMUM_GPFN,
        63,
    ] {
        assert_eq!(
            tb.hypercall(nr::MEMORY_OP, [cmd.into(), arg, 0, 0, 0]),
            err(Errno::ENOSYS),
            "cmd {cmd}"
        );
    }
    assert_eq!(tot(&tb, DomId::DOM0), before);
    assert_eq!(free_frames(), free_before);
}

#[test]
fn maximum_ram_page_and_machphys_mapping_describe_the_machine_and_the_m2p() {
    let mut tb = Testbed::boot();
    let max_mfn = crate::arch::paging::max_mfn();
    assert_eq!(
        tb.hypercall(nr::MEMORY_OP, [XENMEM_MAXIMUM_RAM_PAGE.into(), 0, 0, 0, 0]) as u64,
        max_mfn
    );
    let at = tb.scratch();
    tb.write(at, &XenMachphysMapping::default());
    assert_eq!(
        tb.hypercall(nr::MEMORY_OP, [XENMEM_MACHPHYS_MAPPING.into(), at, 0, 0, 0]),
        0
    );
    let m: XenMachphysMapping = tb.read(at);
    assert_eq!(
        m,
        XenMachphysMapping {
            v_start: MACH2PHYS_VIRT_START,
            v_end: MACH2PHYS_VIRT_START + max_mfn * 8,
            max_mfn: max_mfn - 1,
        }
    );
    // A read-only result buffer is a bad address.
    let ro = tb.scratch() + 0x22000;
    let mfn = frame_of(&tb, ro);
    remap(&mut tb, ro, (mfn << 12) | pte::P | pte::US | pte::A);
    assert_eq!(l1e(&tb, ro) & pte::RW, 0);
    assert_eq!(
        tb.hypercall(nr::MEMORY_OP, [XENMEM_MACHPHYS_MAPPING.into(), ro, 0, 0, 0]),
        err(Errno::EFAULT)
    );
    // Same for a domU.
    let u = tb.domu(1024);
    tb.run(u);
    assert_eq!(
        tb.hypercall(nr::MEMORY_OP, [XENMEM_MAXIMUM_RAM_PAGE.into(), 0, 0, 0, 0]) as u64,
        max_mfn
    );
}
