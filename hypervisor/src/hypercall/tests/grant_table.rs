//! `grant_table_op`: setting up and querying tables, mapping and unmapping grants (by address,
//! by PTE, for devices), copying through grants, and what a granter or grantee going away
//! leaves behind.

use crate::domain::grants::active::Active;
use crate::domain::grants::DEFAULT_MAX_FRAMES;
use crate::mm::page_types::{PageInfo, PageType, TableMem, NO_OWNER};
use crate::mm::pte;
use crate::testbed::{err, Testbed};
use guest_abi::domctl::{XenDomctl, XEN_DOMCTL_DESTROYDOMAIN};
use guest_abi::errno::Errno;
use guest_abi::grant_table::*;
use guest_abi::hypercall::nr;
use guest_abi::memory::XENMEM_INCREASE_RESERVATION;
use guest_abi::memory::{XenMemoryReservation, XENMEM_DECREASE_RESERVATION};
use guest_abi::types::{DomId, GrantRef, Mfn};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// Where the guest's `syscall` sits (as the testbed places it).
const AT: u64 = 0xFFFF_FFFF_8000_1000;
/// An address inside the hypervisor's hole.
const HOLE: u64 = 0xFFFF_8000_0000_0000;
/// A non-canonical address.
const NONCANON: u64 = 0x0000_8000_0000_0000;
/// The operation structures' place in the scratch area.
const OPS: u64 = 0x100;
/// Scratch offset of the frame lists and other buffers.
const BUF: u64 = 0x2000;
/// The grant reference the tests offer (the first one past the reserved entries).
const GREF: u32 = 8;

/// Issue a hypercall; rax and how many times the call was continued.
fn call(tb: &mut Testbed, num: usize, args: [u64; 5]) -> (i64, u32) {
    let c = tb.hypercall_traced(num, args);
    (c.rax, c.continued)
}

/// Run one grant operation `op` of command `cmd` from the scratch area; the call's result
/// and the operation as written back.
fn op<T: FromBytes + IntoBytes + KnownLayout + Immutable>(
    tb: &mut Testbed,
    cmd: u32,
    op: &T,
) -> (i64, T) {
    let at = tb.scratch() + OPS;
    tb.write(at, op);
    let (rc, _) = call(tb, nr::GRANT_TABLE_OP, [cmd.into(), at, 1, 0, 0]);
    (rc, tb.read(at))
}

/// `setup_table` of `dom` for `n` frames; the status and the frames reported.
fn setup(tb: &mut Testbed, dom: DomId, n: u32) -> (i16, Vec<u64>) {
    let list = tb.scratch() + BUF;
    tb.write_bytes(list, &[0xEEu8; 8 * 64]);
    let (rc, o) = op(
        tb,
        GNTTABOP_SETUP_TABLE,
        &GnttabSetupTable {
            dom,
            nr_frames: n,
            frame_list: list,
            ..Default::default()
        },
    );
    assert_eq!(rc, 0);
    let frames = tb
        .read_bytes(list, 8 * n.min(64) as usize)
        .chunks_exact(8)
        .map(|c| u64::from_le_bytes(c.try_into().unwrap()))
        .collect();
    (o.status, frames)
}

/// `query_size` of `dom`: (status, nr_frames, max_nr_frames).
fn query(tb: &mut Testbed, dom: DomId) -> (i16, u32, u32) {
    let (rc, o) = op(
        tb,
        GNTTABOP_QUERY_SIZE,
        &GnttabQuerySize {
            dom,
            ..Default::default()
        },
    );
    assert_eq!(rc, 0);
    (o.status, o.nr_frames, o.max_nr_frames)
}

/// Granter `granter` fills entry `gref` of its table (as the guest would through its mapping).
fn grant(
    tb: &Testbed,
    granter: DomId,
    gref: u32,
    grantee: DomId,
    frame: impl Into<Mfn>,
    flags: GtfFlags,
) {
    let e = GrantEntryV1 {
        flags: flags.bits(),
        domid: grantee,
        frame: frame.into().0 as u32,
    };
    tb.st(|st| {
        let g = &st.dom(granter).unwrap().grant;
        let per = GRANT_ENTRIES_PER_FRAME_V1 as u32;
        let page = &g.frames[(gref / per) as usize];
        crate::mm::machine::xen_write(page, (gref % per) as usize * 8, e.as_bytes()).unwrap();
    });
}

/// Entry `gref` of `granter`'s table as the hypervisor left it.
fn entry(tb: &Testbed, granter: DomId, gref: u32) -> GrantEntryV1 {
    tb.st(|st| {
        st.dom(granter)
            .unwrap()
            .grant
            .read_entry(GrantRef(gref))
            .unwrap()
    })
}

fn active(tb: &Testbed, granter: DomId, gref: u32) -> Option<Active> {
    tb.st(|st| {
        st.dom(granter)
            .unwrap()
            .grant
            .active
            .get(&GrantRef(gref))
            .copied()
    })
}

fn live_maps(tb: &Testbed, id: DomId) -> usize {
    tb.st(|st| st.dom(id).unwrap().grant.live_maps())
}

fn info(tb: &Testbed, mfn: impl Into<Mfn>) -> PageInfo {
    let mfn = mfn.into();
    tb.st(|st| *st.frame_table().0.get(mfn).expect("frame exists"))
}

/// (refs, foreign_refs, type, type_count) of a frame.
fn counts(tb: &Testbed, mfn: impl Into<Mfn>) -> (u32, u32, PageType, u32) {
    let mfn = mfn.into();
    let p = info(tb, mfn);
    (p.refs, p.foreign_refs, p.ptype, p.type_count)
}

/// Map gref of `granter` at `host_addr` with `flags`; the operation as written back.
fn map(
    tb: &mut Testbed,
    granter: DomId,
    gref: u32,
    host_addr: u64,
    flags: GntmapFlags,
) -> GnttabMapGrantRef {
    map_raw(tb, granter, gref, host_addr, flags.bits())
}

fn map_raw(
    tb: &mut Testbed,
    granter: DomId,
    gref: u32,
    host_addr: u64,
    flags: u32,
) -> GnttabMapGrantRef {
    let (rc, o) = op(
        tb,
        GNTTABOP_MAP_GRANT_REF,
        &GnttabMapGrantRef {
            host_addr,
            flags,
            ref_: GrantRef(gref),
            dom: granter,
            handle: 0xDEAD,
            ..Default::default()
        },
    );
    assert_eq!(rc, 0);
    o
}

/// Unmap `handle` at `host_addr`; the status.
fn unmap(tb: &mut Testbed, host_addr: u64, handle: u32) -> i16 {
    let (rc, o) = op(
        tb,
        GNTTABOP_UNMAP_GRANT_REF,
        &GnttabUnmapGrantRef {
            host_addr,
            handle,
            ..Default::default()
        },
    );
    assert_eq!(rc, 0);
    o.status
}

fn copy(tb: &mut Testbed, c: GnttabCopy) -> i16 {
    let (rc, o) = op(tb, GNTTABOP_COPY, &c);
    assert_eq!(rc, 0);
    o.status
}

/// The L1 table and slot mapping the current domain's `va`.
fn l1_slot(tb: &Testbed, va: u64) -> (Mfn, usize) {
    tb.st(|st| {
        let l4 = st.cur().vcpus[0].active_l4();
        crate::mm::guest_walk::l1_slot(&st.mem, l4, va).expect("mapped")
    })
}

fn l1e(tb: &Testbed, va: u64) -> u64 {
    let (t, i) = l1_slot(tb, va);
    tb.st(|st| st.mem.read(t, i))
}

/// The machine frame behind the current domain's `va`.
fn frame_of(tb: &Testbed, va: u64) -> u64 {
    pte::mfn(l1e(tb, va)).0
}

/// Spare page `k` of the current domain, unmapped (its L1 slot free for a grant mapping).
fn spare(tb: &mut Testbed, k: u64) -> u64 {
    let va = tb.scratch() + 0x20000 + k * 0x1000;
    assert_eq!(tb.hypercall(nr::UPDATE_VA_MAPPING, [va, 0, 2, 0, 0]), 0);
    va
}

/// A fresh frame of the current domain that nothing maps (its limit is raised by one).
fn fresh_frame(tb: &mut Testbed) -> u64 {
    let me = tb.current();
    tb.st(|st| {
        let d = st.dom(me).unwrap();
        d.max_pages = d.tot_pages + 1;
    });
    let list = tb.scratch() + BUF;
    let arg = tb.scratch() + OPS;
    tb.write(
        arg,
        &XenMemoryReservation {
            extent_start: list,
            nr_extents: 1,
            domid: DomId::SELF,
            ..Default::default()
        },
    );
    let rc = tb.hypercall(
        nr::MEMORY_OP,
        [XENMEM_INCREASE_RESERVATION.into(), arg, 0, 0, 0],
    );
    assert_eq!(rc, 1);
    tb.read(list)
}

/// The current domain gives `mfn` back; how many frames it gave.
fn give_back(tb: &mut Testbed, mfn: u64) -> i64 {
    let list = tb.scratch() + BUF;
    let arg = tb.scratch() + OPS;
    tb.write(list, &mfn);
    tb.write(
        arg,
        &XenMemoryReservation {
            extent_start: list,
            nr_extents: 1,
            domid: DomId::SELF,
            ..Default::default()
        },
    );
    tb.hypercall(
        nr::MEMORY_OP,
        [XENMEM_DECREASE_RESERVATION.into(), arg, 0, 0, 0],
    )
}

/// dom0 (the current domain) destroys `id` to the end.
fn destroy(tb: &mut Testbed, id: DomId) {
    let at = tb.scratch() + BUF;
    tb.write(at, &XenDomctl::new(XEN_DOMCTL_DESTROYDOMAIN, id));
    for _ in 0..1000 {
        match tb.hypercall(nr::DOMCTL, [at, 0, 0, 0, 0]) {
            0 => return,
            r if r == err(Errno::EAGAIN) => {}
            r => panic!("destroy of d{id}: {r}"),
        }
    }
    panic!("destroy of d{id} never finished");
}

fn put_bytes(tb: &Testbed, mfn: u64, off: u64, b: &[u8]) {
    tb.poke(mfn, off as usize, b);
}

fn get_bytes(tb: &Testbed, mfn: u64, off: u64, len: usize) -> Vec<u8> {
    let mut v = vec![0; len];
    tb.peek(mfn, off as usize, &mut v);
    v
}

/// dom0 sets up a one-frame table and offers a fresh frame of its own, writable, at [`GREF`]
/// to a new domU. Returns (domU, the frame); dom0 is on the CPU.
fn offer(tb: &mut Testbed, flags: GtfFlags) -> (DomId, u64) {
    let u = tb.domu(1024);
    assert_eq!(setup(tb, DomId::SELF, 1).0, GntStatus::OKAY.0);
    let f = fresh_frame(tb);
    grant(tb, DomId::DOM0, GREF, u, f, flags);
    (u, f)
}

const RW_GRANT: GtfFlags = GtfFlags::PERMIT_ACCESS;
const RO_GRANT: GtfFlags = GtfFlags::PERMIT_ACCESS.union(GtfFlags::READONLY);

#[test]
fn setup_table_grows_the_table_in_hypervisor_frames_and_reports_them() {
    let mut tb = Testbed::boot();
    let u = tb.domu(1024);
    tb.run(u);
    assert_eq!(
        query(&mut tb, DomId::SELF),
        (GntStatus::OKAY.0, 0, DEFAULT_MAX_FRAMES)
    );
    let free_before = crate::phys::frames::free_count();
    let (status, frames) = setup(&mut tb, DomId::SELF, 2);
    assert_eq!(status, GntStatus::OKAY.0);
    let table: Vec<u64> = tb.st(|st| {
        st.dom(u)
            .unwrap()
            .grant
            .frames
            .iter()
            .map(|p| p.mfn().0)
            .collect()
    });
    assert_eq!(frames, table);
    for &f in &frames {
        let p = info(&tb, f);
        assert!(p.xen, "a grant-table frame is the hypervisor's");
        assert_eq!(p.owner, u);
        assert!(
            get_bytes(&tb, f, 0, 4096).iter().all(|&b| b == 0),
            "and starts zeroed"
        );
    }
    assert_eq!(crate::phys::frames::free_count(), free_before - 2);
    assert_eq!(
        tb.st(|st| st.dom(u).unwrap().tot_pages),
        1024,
        "not counted as its memory"
    );
    assert_eq!(
        query(&mut tb, u),
        (GntStatus::OKAY.0, 2, DEFAULT_MAX_FRAMES)
    );
    // Asking for fewer never shrinks it; the first frames are reported again.
    let (status, again) = setup(&mut tb, DomId::SELF, 1);
    assert_eq!(
        (status, again.as_slice()),
        (GntStatus::OKAY.0, &frames[..1])
    );
    assert_eq!(setup(&mut tb, DomId::SELF, 0).0, GntStatus::OKAY.0);
    assert_eq!(query(&mut tb, DomId::SELF).1, 2);
    // Past the limit: refused, nothing allocated.
    let free_before = crate::phys::frames::free_count();
    for n in [DEFAULT_MAX_FRAMES + 1, u32::MAX] {
        assert_eq!(setup(&mut tb, DomId::SELF, n).0, GntStatus::GENERAL_ERROR.0);
    }
    assert_eq!(crate::phys::frames::free_count(), free_before);
    let (status, all) = setup(&mut tb, DomId::SELF, DEFAULT_MAX_FRAMES);
    assert_eq!(
        (status, all.len()),
        (GntStatus::OKAY.0, DEFAULT_MAX_FRAMES as usize)
    );
    assert_eq!(&all[..2], frames.as_slice());
    assert_eq!(query(&mut tb, DomId::SELF).1, DEFAULT_MAX_FRAMES);
}

#[test]
fn another_domains_table_needs_privilege_and_an_existing_live_domain() {
    let mut tb = Testbed::boot();
    let u = tb.domu(1024);
    // dom0 sets up the domU's table; the frames land in dom0's list.
    let (status, frames) = setup(&mut tb, u, 1);
    assert_eq!(status, GntStatus::OKAY.0);
    assert_eq!(
        frames,
        vec![tb.st(|st| st.dom(u).unwrap().grant.frames[0].mfn().0)]
    );
    assert_eq!(
        query(&mut tb, u),
        (GntStatus::OKAY.0, 1, DEFAULT_MAX_FRAMES)
    );
    assert_eq!(setup(&mut tb, DomId(77), 1).0, GntStatus::BAD_DOMAIN.0);
    assert_eq!(query(&mut tb, DomId(77)).0, GntStatus::BAD_DOMAIN.0);
    // The domU may not touch dom0's.
    tb.run(u);
    assert_eq!(
        setup(&mut tb, DomId(0), 1).0,
        GntStatus::PERMISSION_DENIED.0
    );
    assert_eq!(query(&mut tb, DomId(0)).0, GntStatus::PERMISSION_DENIED.0);
    assert!(tb.st(|st| st.dom(DomId::DOM0).unwrap().grant.frames.is_empty()));
    // A dying domain's table neither grows nor is reported.
    tb.run(DomId::DOM0);
    tb.st(|st| st.dom(u).unwrap().dying = true);
    assert_eq!(setup(&mut tb, u, 2).0, GntStatus::BAD_DOMAIN.0);
    assert_eq!(query(&mut tb, u).0, GntStatus::BAD_DOMAIN.0);
    assert_eq!(tb.st(|st| st.dom(u).unwrap().grant.frames.len()), 1);
}

#[test]
fn bad_pointers_fail_the_call_or_the_operation_as_xen_defines() {
    let mut tb = Testbed::boot();
    // The frame list unwritable: the operation's status says so, the call succeeds.
    let ro = spare(&mut tb, 0);
    let page = tb.scratch() + 0x1000;
    let mfn = frame_of(&tb, page);
    assert_eq!(
        tb.hypercall(
            nr::UPDATE_VA_MAPPING,
            [ro, (mfn << 12) | pte::P | pte::US | pte::A, 2, 0, 0]
        ),
        0
    );
    for list in [HOLE, NONCANON, 0x10, ro] {
        let (rc, o) = op(
            &mut tb,
            GNTTABOP_SETUP_TABLE,
            &GnttabSetupTable {
                dom: DomId::SELF,
                nr_frames: 1,
                frame_list: list,
                ..Default::default()
            },
        );
        assert_eq!(
            (rc, o.status),
            (0, GntStatus::BAD_VIRT_ADDR.0),
            "list at {list:#x}"
        );
    }
    // The operations themselves unreadable, or their results unwritable: the call fails.
    for cmd in [
        GNTTABOP_MAP_GRANT_REF,
        GNTTABOP_UNMAP_GRANT_REF,
        GNTTABOP_SETUP_TABLE,
        GNTTABOP_COPY,
        GNTTABOP_QUERY_SIZE,
        GNTTABOP_SET_VERSION,
        GNTTABOP_GET_VERSION,
    ] {
        for p in [HOLE, NONCANON, 0x10, ro] {
            assert_eq!(
                tb.hypercall(nr::GRANT_TABLE_OP, [cmd.into(), p, 1, 0, 0]),
                err(Errno::EFAULT),
                "cmd {cmd} at {p:#x}"
            );
        }
    }
    // A count too wide for its 32 bits.
    assert_eq!(
        tb.hypercall(
            nr::GRANT_TABLE_OP,
            [GNTTABOP_QUERY_SIZE.into(), tb.scratch(), 1 << 32, 0, 0]
        ),
        err(Errno::EINVAL)
    );
    assert_eq!(
        tb.hypercall(nr::GRANT_TABLE_OP, [1 << 32, tb.scratch(), 1, 0, 0]),
        err(Errno::EINVAL)
    );
    // Nothing to do is no error.
    assert_eq!(
        tb.hypercall(
            nr::GRANT_TABLE_OP,
            [GNTTABOP_MAP_GRANT_REF.into(), HOLE, 0, 0, 0]
        ),
        0
    );
}

#[test]
fn a_maps_guest_available_bits_go_into_the_pte_available_bits() {
    let mut tb = Testbed::boot();
    let (u, f) = offer(&mut tb, RW_GRANT);
    tb.run(u);
    let va = spare(&mut tb, 0);
    // XENFEAT_gnttab_map_avail_bits: the flags' bits from _GNTMAP_guest_avail0 up become
    // the PTE's available bits 9-11 (only three of them fit).
    let flags = GntmapFlags::HOST_MAP.bits() | 0b1101 << GNTMAP_GUEST_AVAIL0;
    let m = map_raw(&mut tb, DomId(0), GREF, va, flags);
    assert_eq!(m.status, GntStatus::OKAY.0);
    let e = l1e(&tb, va);
    assert_eq!(pte::mfn(e).0, f);
    assert_eq!(e & pte::AVAIL, 0b101 << 9);
}

#[test]
fn map_grant_ref_maps_the_granted_frame_writable_and_marks_the_entry_busy() {
    let mut tb = Testbed::boot();
    let (u, f) = offer(&mut tb, RW_GRANT);
    put_bytes(&tb, f, 0, b"from dom0");
    tb.run(u);
    let va = spare(&mut tb, 0);
    let m = map(&mut tb, DomId(0), GREF, va, GntmapFlags::HOST_MAP);
    assert_eq!(m.status, GntStatus::OKAY.0);
    assert_eq!(m.handle, 0, "the first handle");
    let e = l1e(&tb, va);
    assert_eq!(pte::mfn(e).0, f);
    assert_eq!(e & (pte::P | pte::RW | pte::US), pte::P | pte::RW | pte::US);
    assert_eq!(counts(&tb, f), (1, 1, PageType::Writable, 1));
    assert_eq!(
        entry(&tb, DomId::DOM0, GREF).flags,
        (RW_GRANT | GtfFlags::READING | GtfFlags::WRITING).bits()
    );
    assert_eq!(
        active(&tb, DomId::DOM0, GREF),
        Some(Active {
            frame: Mfn(f),
            grantee: u,
            pin_ro: 0,
            pin_rw: 1
        })
    );
    assert_eq!(live_maps(&tb, u), 1);
    // Both sides see the same page.
    assert_eq!(tb.read_bytes(va, 9), b"from dom0");
    tb.write_bytes(va + 100, b"from domU");
    assert_eq!(get_bytes(&tb, f, 100, 9), b"from domU");
    // A second mapping of the same grant takes another handle and pin.
    let va2 = spare(&mut tb, 1);
    let m2 = map(
        &mut tb,
        DomId(0),
        GREF,
        va2,
        GntmapFlags::HOST_MAP | GntmapFlags::READONLY,
    );
    assert_eq!((m2.status, m2.handle), (GntStatus::OKAY.0, 1));
    assert_eq!(l1e(&tb, va2) & pte::RW, 0);
    assert_eq!(
        active(&tb, DomId::DOM0, GREF),
        Some(Active {
            frame: Mfn(f),
            grantee: u,
            pin_ro: 1,
            pin_rw: 1
        })
    );
    // Unmapping the writable one leaves the grant reading, not writing.
    let invlpgs = crate::arch::paging::invlpgs();
    assert_eq!(unmap(&mut tb, va, 0), GntStatus::OKAY.0);
    assert!(
        crate::arch::paging::invlpgs() > invlpgs,
        "the old translation is flushed"
    );
    assert_eq!(l1e(&tb, va), 0);
    assert_eq!(
        entry(&tb, DomId::DOM0, GREF).flags,
        (RW_GRANT | GtfFlags::READING).bits()
    );
    assert_eq!(counts(&tb, f).0, 1);
    assert_eq!(counts(&tb, f).3, 0, "no writable mapping is left");
    assert_eq!(unmap(&mut tb, va2, 1), GntStatus::OKAY.0);
    assert_eq!(entry(&tb, DomId::DOM0, GREF).flags, RW_GRANT.bits());
    assert_eq!(active(&tb, DomId::DOM0, GREF), None);
    assert_eq!((counts(&tb, f).0, counts(&tb, f).1), (0, 0));
    assert_eq!(live_maps(&tb, u), 0);
    // The granter may reuse the frame now.
    tb.run(DomId::DOM0);
    assert_eq!(give_back(&mut tb, f), 1);
    assert_eq!(info(&tb, f).owner, NO_OWNER);
}

#[test]
fn a_read_only_grant_maps_only_read_only() {
    let mut tb = Testbed::boot();
    let (u, f) = offer(&mut tb, RO_GRANT);
    put_bytes(&tb, f, 0, b"read me");
    tb.run(u);
    let va = spare(&mut tb, 0);
    for flags in [
        GntmapFlags::HOST_MAP,
        GntmapFlags::DEVICE_MAP,
        GntmapFlags::HOST_MAP | GntmapFlags::DEVICE_MAP,
    ] {
        let m = map(&mut tb, DomId(0), GREF, va, flags);
        assert_eq!(m.status, GntStatus::PERMISSION_DENIED.0, "{flags:?}");
    }
    assert_eq!(l1e(&tb, va), 0);
    assert_eq!(entry(&tb, DomId::DOM0, GREF).flags, RO_GRANT.bits());
    assert_eq!(
        (active(&tb, DomId::DOM0, GREF), live_maps(&tb, u)),
        (None, 0)
    );
    assert_eq!(counts(&tb, f), (0, 0, PageType::None, 0));
    let m = map(
        &mut tb,
        DomId(0),
        GREF,
        va,
        GntmapFlags::HOST_MAP | GntmapFlags::READONLY,
    );
    assert_eq!(m.status, GntStatus::OKAY.0);
    assert_eq!(l1e(&tb, va) & (pte::P | pte::RW), pte::P);
    assert_eq!(counts(&tb, f), (1, 1, PageType::None, 0));
    assert_eq!(
        entry(&tb, DomId::DOM0, GREF).flags,
        (RO_GRANT | GtfFlags::READING).bits()
    );
    assert_eq!(tb.read_bytes(va, 7), b"read me");
    let wrote = tb.st(|st| crate::mm::guest_copy::copy_to_guest(&st.mem, va, b"x"));
    assert_eq!(wrote, Err(Errno::EFAULT));
    assert_eq!(get_bytes(&tb, f, 0, 7), b"read me");
    assert_eq!(unmap(&mut tb, va, m.handle), GntStatus::OKAY.0);
    assert_eq!(entry(&tb, DomId::DOM0, GREF).flags, RO_GRANT.bits());
}

#[test]
fn grants_to_someone_else_invalid_entries_and_bad_references_are_refused() {
    let mut tb = Testbed::boot();
    let (u, f) = offer(&mut tb, RW_GRANT);
    let third = tb.domu(1024);
    grant(&tb, DomId::DOM0, 9, DomId::DOM0, f, RW_GRANT); // to dom0 itself
    grant(&tb, DomId::DOM0, 10, third, f, RW_GRANT);
    grant(&tb, DomId::DOM0, 11, u, f, GtfFlags::empty());
    grant(&tb, DomId::DOM0, 12, u, f, GtfFlags::ACCEPT_TRANSFER);
    grant(&tb, DomId::DOM0, 13, u, f, GtfFlags::TRANSITIVE);
    grant(
        &tb,
        DomId::DOM0,
        14,
        u,
        f,
        GtfFlags::empty() | GtfFlags::READONLY,
    );
    let flags_before: Vec<u16> = (8..16).map(|g| entry(&tb, DomId::DOM0, g).flags).collect();
    tb.run(u);
    let va = spare(&mut tb, 0);
    let h = GntmapFlags::HOST_MAP;
    for (what, dom, gref, flags, want) in [
        (
            "a grant to dom0",
            DomId(0),
            9,
            h.bits(),
            GntStatus::PERMISSION_DENIED,
        ),
        (
            "a grant to a third domain",
            DomId(0),
            10,
            h.bits(),
            GntStatus::PERMISSION_DENIED,
        ),
        (
            "an invalid entry",
            DomId(0),
            11,
            h.bits(),
            GntStatus::BAD_GNTREF,
        ),
        (
            "a transfer entry",
            DomId(0),
            12,
            h.bits(),
            GntStatus::BAD_GNTREF,
        ),
        (
            "a transitive entry",
            DomId(0),
            13,
            h.bits(),
            GntStatus::BAD_GNTREF,
        ),
        (
            "a read-only invalid entry",
            DomId(0),
            14,
            h.bits(),
            GntStatus::BAD_GNTREF,
        ),
        (
            "an entry never written",
            DomId(0),
            100,
            h.bits(),
            GntStatus::BAD_GNTREF,
        ),
        (
            "the first reference past the table",
            DomId(0),
            512,
            h.bits(),
            GntStatus::BAD_GNTREF,
        ),
        (
            "the largest reference",
            DomId(0),
            u32::MAX,
            h.bits(),
            GntStatus::BAD_GNTREF,
        ),
        (
            "a domain that does not exist",
            DomId(77),
            GREF,
            h.bits(),
            GntStatus::BAD_DOMAIN,
        ),
        (
            "DOMID_SELF without a table",
            DomId::SELF,
            GREF,
            h.bits(),
            GntStatus::BAD_GNTREF,
        ),
        (
            "a domain without a table",
            third,
            0,
            h.bits(),
            GntStatus::BAD_GNTREF,
        ),
        // As Xen: neither a host nor a device mapping is a bad reference.
        ("no mapping kind", DomId(0), GREF, 0, GntStatus::BAD_GNTREF),
        (
            "only read-only",
            DomId(0),
            GREF,
            GntmapFlags::READONLY.bits(),
            GntStatus::BAD_GNTREF,
        ),
        (
            "an unknown flag",
            DomId(0),
            GREF,
            h.bits() | 1 << 8,
            GntStatus::GENERAL_ERROR,
        ),
    ] {
        let m = map_raw(&mut tb, dom, gref, va, flags);
        assert_eq!(m.status, want.0, "{what}");
        assert_eq!(m.handle, 0xDEAD, "{what}: no handle");
    }
    assert_eq!(l1e(&tb, va), 0);
    assert_eq!(live_maps(&tb, u), 0);
    let flags_after: Vec<u16> = (8..16).map(|g| entry(&tb, DomId::DOM0, g).flags).collect();
    assert_eq!(flags_after, flags_before);
    assert!(tb.st(|st| st.dom(DomId::DOM0).unwrap().grant.active.is_empty()));
    assert_eq!(counts(&tb, f), (0, 0, PageType::None, 0));
    // A dying granter's grants are no longer mapped.
    tb.st(|st| st.dom(DomId::DOM0).unwrap().dying = true);
    let m = map(&mut tb, DomId(0), GREF, va, h);
    tb.st(|st| st.dom(DomId::DOM0).unwrap().dying = false);
    assert_eq!(m.status, GntStatus::BAD_DOMAIN.0);
    assert_eq!(
        map(&mut tb, DomId(0), GREF, va, h).status,
        GntStatus::OKAY.0
    );
}

#[test]
fn a_grant_of_a_frame_the_granter_does_not_own_is_refused() {
    let mut tb = Testbed::boot();
    let (u, _) = offer(&mut tb, RW_GRANT);
    let (table, shared, u_frame) = tb.st(|st| {
        let t = st.dom(DomId::DOM0).unwrap().grant.frames[0].mfn();
        let s = st.dom(DomId::DOM0).unwrap().shared_info.mfn();
        (t, s, st.dom(u).unwrap().pages.first().unwrap())
    });
    let free = tb.st(|st| {
        (0x200..st.mem.max_mfn)
            .find(|&m| st.frame_table().0.owner(Mfn(m)) == NO_OWNER)
            .unwrap()
    });
    for (gref, frame) in [
        (20, u_frame),
        (21, table),
        (22, shared),
        (23, Mfn(free)),
        (24, Mfn(u32::MAX as u64)),
    ] {
        grant(&tb, DomId::DOM0, gref, u, frame, RW_GRANT);
    }
    tb.run(u);
    let va = spare(&mut tb, 0);
    for gref in 20..25 {
        for flags in [
            GntmapFlags::HOST_MAP,
            GntmapFlags::HOST_MAP | GntmapFlags::READONLY,
            GntmapFlags::DEVICE_MAP,
        ] {
            let m = map(&mut tb, DomId(0), gref, va, flags);
            assert_eq!(m.status, GntStatus::BAD_PAGE.0, "gref {gref} {flags:?}");
        }
        assert_eq!(entry(&tb, DomId::DOM0, gref).flags, RW_GRANT.bits());
    }
    assert_eq!(l1e(&tb, va), 0);
    assert_eq!(live_maps(&tb, u), 0);
    assert_eq!(counts(&tb, table), (0, 0, PageType::None, 0));
    assert_eq!(info(&tb, free).owner, NO_OWNER);
}

#[test]
fn map_refuses_unusable_host_addresses() {
    let mut tb = Testbed::boot();
    let (u, f) = offer(&mut tb, RW_GRANT);
    tb.run(u);
    let va = spare(&mut tb, 0);
    let scratch = tb.scratch();
    let before = l1e(&tb, scratch);
    for (what, addr) in [
        ("a page already mapped", scratch),
        ("an unaligned address", va + 8),
        ("the hypervisor's hole", HOLE),
        ("a non-canonical address", NONCANON),
        ("an address without page tables", 0x7000_0000_0000),
    ] {
        let m = map(&mut tb, DomId(0), GREF, addr, GntmapFlags::HOST_MAP);
        assert_eq!(m.status, GntStatus::BAD_VIRT_ADDR.0, "{what}");
    }
    assert_eq!(l1e(&tb, scratch), before, "the existing mapping stays");
    assert_eq!(entry(&tb, DomId::DOM0, GREF).flags, RW_GRANT.bits());
    assert_eq!(counts(&tb, f), (0, 0, PageType::None, 0));
    assert_eq!(live_maps(&tb, u), 0);
}

#[test]
fn unmapping_twice_or_with_a_wrong_handle_or_address_is_refused() {
    let mut tb = Testbed::boot();
    let (u, f) = offer(&mut tb, RW_GRANT);
    tb.run(u);
    let va = spare(&mut tb, 0);
    let other = spare(&mut tb, 1);
    let m = map(&mut tb, DomId(0), GREF, va, GntmapFlags::HOST_MAP);
    assert_eq!(m.status, GntStatus::OKAY.0);
    for handle in [m.handle + 1, 1000, u32::MAX] {
        assert_eq!(
            unmap(&mut tb, va, handle),
            GntStatus::BAD_HANDLE.0,
            "handle {handle}"
        );
    }
    for addr in [other, tb.scratch(), HOLE, va + 8, 0] {
        assert_eq!(
            unmap(&mut tb, addr, m.handle),
            GntStatus::BAD_VIRT_ADDR.0,
            "address {addr:#x}"
        );
    }
    // Handles are the mapper's own: dom0 has none.
    tb.run(DomId::DOM0);
    assert_eq!(unmap(&mut tb, va, m.handle), GntStatus::BAD_HANDLE.0);
    tb.run(u);
    // All of that left the mapping alone.
    assert_eq!(pte::mfn(l1e(&tb, va)).0, f);
    assert_eq!(counts(&tb, f), (1, 1, PageType::Writable, 1));
    assert_eq!(active(&tb, DomId::DOM0, GREF).map(|a| a.pin_rw), Some(1));
    assert_eq!(unmap(&mut tb, va, m.handle), GntStatus::OKAY.0);
    assert_eq!(
        unmap(&mut tb, va, m.handle),
        GntStatus::BAD_HANDLE.0,
        "unmapped twice"
    );
    assert_eq!(counts(&tb, f), (0, 0, PageType::None, 0));
    assert_eq!(entry(&tb, DomId::DOM0, GREF).flags, RW_GRANT.bits());
    assert_eq!(active(&tb, DomId::DOM0, GREF), None);
}

#[test]
fn a_mapping_the_grantee_removed_itself_still_unmaps_cleanly() {
    let mut tb = Testbed::boot();
    let (u, f) = offer(&mut tb, RW_GRANT);
    tb.run(u);
    let va = spare(&mut tb, 0);
    let m = map(&mut tb, DomId(0), GREF, va, GntmapFlags::HOST_MAP);
    assert_eq!(m.status, GntStatus::OKAY.0);
    // The guest clears the PTE itself: the frame's references go with it.
    assert_eq!(tb.hypercall(nr::UPDATE_VA_MAPPING, [va, 0, 2, 0, 0]), 0);
    assert_eq!(counts(&tb, f).0, 0);
    assert_eq!(
        entry(&tb, DomId::DOM0, GREF).flags & GtfFlags::READING.bits(),
        GtfFlags::READING.bits()
    );
    // The grant stays busy until the unmap, which then only drops the pin.
    assert_eq!(unmap(&mut tb, va, m.handle), GntStatus::OKAY.0);
    assert_eq!(counts(&tb, f), (0, 0, PageType::None, 0));
    assert_eq!(entry(&tb, DomId::DOM0, GREF).flags, RW_GRANT.bits());
    assert_eq!(active(&tb, DomId::DOM0, GREF), None);
    // Its own page mapped there instead is not touched by an unmap.
    let m = map(&mut tb, DomId(0), GREF, va, GntmapFlags::HOST_MAP);
    assert_eq!(tb.hypercall(nr::UPDATE_VA_MAPPING, [va, 0, 2, 0, 0]), 0);
    let own = frame_of(&tb, tb.scratch() + 0x1000);
    let own_pte = (own << 12) | pte::P | pte::RW | pte::US | pte::A;
    assert_eq!(
        tb.hypercall(nr::UPDATE_VA_MAPPING, [va, own_pte, 2, 0, 0]),
        0
    );
    let own_refs = counts(&tb, own).0;
    assert_eq!(unmap(&mut tb, va, m.handle), GntStatus::OKAY.0);
    assert_eq!(pte::mfn(l1e(&tb, va)).0, own);
    assert_eq!(counts(&tb, own).0, own_refs);
    assert_eq!(active(&tb, DomId::DOM0, GREF), None);
}

#[test]
fn a_pinned_grant_keeps_its_frame_when_the_granter_rewrites_the_entry() {
    let mut tb = Testbed::boot();
    let (u, f) = offer(&mut tb, RW_GRANT);
    let g = fresh_frame(&mut tb);
    tb.run(u);
    let (va, va2) = (spare(&mut tb, 0), spare(&mut tb, 1));
    let m = map(&mut tb, DomId(0), GREF, va, GntmapFlags::HOST_MAP);
    assert_eq!(m.status, GntStatus::OKAY.0);
    // The granter points the busy entry elsewhere: further uses still get the pinned frame.
    grant(
        &tb,
        DomId::DOM0,
        GREF,
        u,
        g,
        RW_GRANT | GtfFlags::READING | GtfFlags::WRITING,
    );
    let m2 = map(&mut tb, DomId(0), GREF, va2, GntmapFlags::HOST_MAP);
    assert_eq!(m2.status, GntStatus::OKAY.0);
    assert_eq!(pte::mfn(l1e(&tb, va2)).0, f);
    assert_eq!(counts(&tb, g), (0, 0, PageType::None, 0));
    assert_eq!(unmap(&mut tb, va, m.handle), GntStatus::OKAY.0);
    assert_eq!(unmap(&mut tb, va2, m2.handle), GntStatus::OKAY.0);
    // Once unused, the entry's new frame is the one mapped.
    let m3 = map(&mut tb, DomId(0), GREF, va, GntmapFlags::HOST_MAP);
    assert_eq!(m3.status, GntStatus::OKAY.0);
    assert_eq!(pte::mfn(l1e(&tb, va)).0, g);
    assert_eq!(counts(&tb, f), (0, 0, PageType::None, 0));
}

#[test]
fn a_granted_frame_in_use_cannot_be_given_back_by_the_granter() {
    let mut tb = Testbed::boot();
    let (u, f) = offer(&mut tb, RW_GRANT);
    tb.run(u);
    let va = spare(&mut tb, 0);
    let m = map(&mut tb, DomId(0), GREF, va, GntmapFlags::HOST_MAP);
    assert_eq!(m.status, GntStatus::OKAY.0);
    tb.run(DomId::DOM0);
    assert_eq!(give_back(&mut tb, f), 0);
    assert_eq!(info(&tb, f).owner, DomId::DOM0);
    tb.run(u);
    assert_eq!(unmap(&mut tb, va, m.handle), GntStatus::OKAY.0);
    // A device-only mapping holds it just the same.
    let d = map(&mut tb, DomId(0), GREF, 0, GntmapFlags::DEVICE_MAP);
    assert_eq!(d.status, GntStatus::OKAY.0);
    tb.run(DomId::DOM0);
    assert_eq!(give_back(&mut tb, f), 0);
    tb.run(u);
    assert_eq!(unmap(&mut tb, 0, d.handle), GntStatus::OKAY.0);
    tb.run(DomId::DOM0);
    assert_eq!(give_back(&mut tb, f), 1);
    assert_eq!(info(&tb, f).owner, NO_OWNER);
}

#[test]
fn a_device_mapping_holds_the_frame_and_reports_its_bus_address() {
    let mut tb = Testbed::boot();
    let (u, f) = offer(&mut tb, RW_GRANT);
    // dom0 also offers one of its L1 page tables.
    let l1 = l1_slot(&tb, tb.scratch()).0;
    grant(&tb, DomId::DOM0, 9, u, l1, RW_GRANT);
    let l1_before = counts(&tb, l1);
    tb.run(u);
    let d = map(&mut tb, DomId(0), GREF, 0, GntmapFlags::DEVICE_MAP);
    assert_eq!(d.status, GntStatus::OKAY.0);
    assert_eq!(d.dev_bus_addr, f << 12);
    assert_eq!(counts(&tb, f), (1, 1, PageType::Writable, 1));
    assert_eq!(
        entry(&tb, DomId::DOM0, GREF).flags,
        (RW_GRANT | GtfFlags::READING | GtfFlags::WRITING).bits()
    );
    assert_eq!(unmap(&mut tb, 0, d.handle), GntStatus::OKAY.0);
    assert_eq!(counts(&tb, f), (0, 0, PageType::None, 0));
    assert_eq!(entry(&tb, DomId::DOM0, GREF).flags, RW_GRANT.bits());
    // A page table is never handed to a device (or a mapping) writable; read-only it may be.
    let va = spare(&mut tb, 0);
    for flags in [GntmapFlags::DEVICE_MAP, GntmapFlags::HOST_MAP] {
        let m = map(&mut tb, DomId(0), 9, va, flags);
        assert_eq!(m.status, GntStatus::BAD_PAGE.0, "{flags:?}");
    }
    assert_eq!(counts(&tb, l1), l1_before);
    assert_eq!(entry(&tb, DomId::DOM0, 9).flags, RW_GRANT.bits());
    let r = map(
        &mut tb,
        DomId(0),
        9,
        0,
        GntmapFlags::DEVICE_MAP | GntmapFlags::READONLY,
    );
    assert_eq!((r.status, r.dev_bus_addr), (GntStatus::OKAY.0, l1.addr()));
    assert_eq!(counts(&tb, l1).0, l1_before.0 + 1);
    assert_eq!(
        (counts(&tb, l1).2, counts(&tb, l1).3),
        (PageType::L1, l1_before.3)
    );
    assert_eq!(unmap(&mut tb, 0, r.handle), GntStatus::OKAY.0);
    assert_eq!(counts(&tb, l1), l1_before);
}

#[test]
fn contains_pte_maps_into_the_callers_own_l1_and_reveals_nothing_of_other_frames() {
    let mut tb = Testbed::boot();
    let (u, f) = offer(&mut tb, RW_GRANT);
    // A dom0 frame with a word whose bit 0 is set and one whose bit 0 is clear.
    let secret = frame_of(&tb, tb.scratch() + 0x3000);
    put_bytes(
        &tb,
        secret,
        0,
        &[0x67, 0, 0, 0, 0, 0, 0, 0, 0x66, 0, 0, 0, 0, 0, 0, 0],
    );
    tb.run(u);
    let va = spare(&mut tb, 0);
    let (l1, idx) = l1_slot(&tb, va);
    let flags = GntmapFlags::HOST_MAP | GntmapFlags::CONTAINS_PTE;
    let own_data = frame_of(&tb, tb.scratch() + 0x1000);
    // Not one of its L1 entries: refused the same way whatever the word holds, so the status
    // reveals nothing of another domain's (or the hypervisor's) memory.
    for (what, addr) in [
        ("dom0's word with bit 0 set", secret << 12),
        ("dom0's word with bit 0 clear", (secret << 12) + 8),
        ("its own data page", own_data << 12),
        ("a frame beyond RAM", 1 << 45),
    ] {
        let m = map(&mut tb, DomId(0), GREF, addr, flags);
        assert_eq!(m.status, GntStatus::GENERAL_ERROR.0, "{what}");
    }
    assert_eq!(get_bytes(&tb, secret, 0, 2), [0x67, 0]);
    let m = map(
        &mut tb,
        DomId(0),
        GREF,
        l1.addr() + idx as u64 * 8 + 4,
        flags,
    );
    assert_eq!(
        m.status,
        GntStatus::BAD_VIRT_ADDR.0,
        "a misaligned entry address"
    );
    // A present entry of its own tables is not overwritten: its L2's entry for `va`, or
    // another entry of the L1.
    let l2_entry = tb.st(|st| {
        let mut t = st.cur().vcpus[0].active_l4();
        for level in [4u32, 3] {
            t = pte::mfn(
                st.mem
                    .read(t, ((va >> (12 + 9 * (level - 1))) & 0x1FF) as usize),
            );
        }
        t.addr() + ((va >> 21) & 0x1FF) * 8
    });
    let m = map(&mut tb, DomId(0), GREF, l2_entry, flags);
    assert_eq!(m.status, GntStatus::BAD_VIRT_ADDR.0, "its own L2's entry");
    let (sl1, sidx) = l1_slot(&tb, tb.scratch());
    let m = map(&mut tb, DomId(0), GREF, sl1.addr() + sidx as u64 * 8, flags);
    assert_eq!(m.status, GntStatus::BAD_VIRT_ADDR.0);
    assert_eq!(counts(&tb, f), (0, 0, PageType::None, 0));
    assert_eq!(live_maps(&tb, u), 0);
    // The free entry of its own L1: mapped there.
    let pte_addr = l1.addr() + idx as u64 * 8;
    put_bytes(&tb, f, 0, b"via the PTE");
    let m = map(&mut tb, DomId(0), GREF, pte_addr, flags);
    assert_eq!(m.status, GntStatus::OKAY.0);
    assert_eq!(pte::mfn(l1e(&tb, va)).0, f);
    assert_eq!(tb.read_bytes(va, 11), b"via the PTE");
    assert_eq!(counts(&tb, f), (1, 1, PageType::Writable, 1));
    // Its unmap names the same entry.
    assert_eq!(unmap(&mut tb, va, m.handle), GntStatus::BAD_VIRT_ADDR.0);
    assert_eq!(unmap(&mut tb, pte_addr, m.handle), GntStatus::OKAY.0);
    assert_eq!(l1e(&tb, va), 0);
    assert_eq!(counts(&tb, f), (0, 0, PageType::None, 0));
    assert_eq!(entry(&tb, DomId::DOM0, GREF).flags, RW_GRANT.bits());
}

#[test]
fn grant_copy_moves_bytes_between_grants_and_the_callers_own_frames() {
    let mut tb = Testbed::boot();
    let (u, f) = offer(&mut tb, RW_GRANT);
    let g = fresh_frame(&mut tb);
    grant(&tb, DomId::DOM0, 9, u, g, RO_GRANT);
    put_bytes(&tb, f, 16, b"granted bytes");
    put_bytes(&tb, g, 0, b"read-only bytes");
    tb.run(u);
    let own_va = tb.scratch() + 0x3000;
    let own = frame_of(&tb, own_va);
    let gref = |r: u64, off: u16| GnttabCopyPtr {
        u: r,
        domid: DomId(0),
        offset: off,
        _pad: 0,
    };
    let mine = |off: u16| GnttabCopyPtr {
        u: own,
        domid: DomId::SELF,
        offset: off,
        _pad: 0,
    };
    // Out of the writable grant into its own page.
    let s = copy(
        &mut tb,
        GnttabCopy {
            source: gref(GREF.into(), 16),
            dest: mine(200),
            len: 13,
            flags: GNTCOPY_SOURCE_GREF,
            ..Default::default()
        },
    );
    assert_eq!(s, GntStatus::OKAY.0);
    assert_eq!(tb.read_bytes(own_va + 200, 13), b"granted bytes");
    // Into the writable grant, up to the very end of the page.
    tb.write_bytes(own_va, b"0123456789");
    let s = copy(
        &mut tb,
        GnttabCopy {
            source: mine(0),
            dest: gref(GREF.into(), 4086),
            len: 10,
            flags: GNTCOPY_DEST_GREF,
            ..Default::default()
        },
    );
    assert_eq!(s, GntStatus::OKAY.0);
    assert_eq!(get_bytes(&tb, f, 4086, 10), b"0123456789");
    // Grant to grant, and out of a read-only grant.
    let s = copy(
        &mut tb,
        GnttabCopy {
            source: gref(9, 0),
            dest: gref(GREF.into(), 1000),
            len: 15,
            flags: GNTCOPY_SOURCE_GREF | GNTCOPY_DEST_GREF,
            ..Default::default()
        },
    );
    assert_eq!(s, GntStatus::OKAY.0);
    assert_eq!(get_bytes(&tb, f, 1000, 15), b"read-only bytes");
    // Within one page, overlapping: as memmove (the bytes as they were before the copy).
    tb.write_bytes(own_va + 100, b"abcdefgh");
    let s = copy(
        &mut tb,
        GnttabCopy {
            source: mine(100),
            dest: mine(102),
            len: 6,
            ..Default::default()
        },
    );
    assert_eq!(s, GntStatus::OKAY.0);
    assert_eq!(tb.read_bytes(own_va + 100, 8), b"ababcdef");
    // A copy leaves no busy bits or pins behind.
    assert_eq!(entry(&tb, DomId::DOM0, GREF).flags, RW_GRANT.bits());
    assert_eq!(entry(&tb, DomId::DOM0, 9).flags, RO_GRANT.bits());
    assert_eq!(
        (active(&tb, DomId::DOM0, GREF), active(&tb, DomId::DOM0, 9)),
        (None, None)
    );
    assert_eq!(counts(&tb, f), (0, 0, PageType::None, 0));
}

#[test]
fn grant_copy_refuses_page_crossings_read_only_grants_tables_and_others_frames() {
    let mut tb = Testbed::boot();
    let (u, f) = offer(&mut tb, RW_GRANT);
    let g = fresh_frame(&mut tb);
    grant(&tb, DomId::DOM0, 9, u, g, RO_GRANT);
    let dom0_frame = frame_of(&tb, tb.scratch());
    put_bytes(&tb, g, 0, &[0x5A; 64]);
    tb.run(u);
    let own_va = tb.scratch() + 0x3000;
    tb.write_bytes(own_va, &[0xA5; 64]);
    let own = frame_of(&tb, own_va);
    let (l4, l1) = (
        tb.st(|st| st.cur().vcpus[0].active_l4()),
        l1_slot(&tb, own_va).0,
    );
    let shared = tb.st(|st| st.cur().shared_info.mfn());
    let gr = |r: u64, off: u16| GnttabCopyPtr {
        u: r,
        domid: DomId(0),
        offset: off,
        _pad: 0,
    };
    let me = |m: u64, off: u16| GnttabCopyPtr {
        u: m,
        domid: DomId::SELF,
        offset: off,
        _pad: 0,
    };
    let fref = u64::from(GREF);
    let both = GNTCOPY_SOURCE_GREF | GNTCOPY_DEST_GREF;
    let (src_g, dst_g) = (GNTCOPY_SOURCE_GREF, GNTCOPY_DEST_GREF);
    for (what, source, dest, len, flags, want) in [
        (
            "a source crossing its page",
            gr(fref, 4000),
            me(own, 0),
            97,
            src_g,
            GntStatus::BAD_COPY_ARG,
        ),
        (
            "a destination crossing its page",
            me(own, 0),
            gr(fref, 4095),
            2,
            dst_g,
            GntStatus::BAD_COPY_ARG,
        ),
        (
            "a length past any page",
            me(own, 0),
            gr(fref, 0),
            4097,
            dst_g,
            GntStatus::BAD_COPY_ARG,
        ),
        (
            "into a read-only grant",
            me(own, 0),
            gr(9, 0),
            8,
            dst_g,
            GntStatus::PERMISSION_DENIED,
        ),
        (
            "into its own L4",
            gr(fref, 0),
            me(l4.0, 0),
            8,
            src_g,
            GntStatus::BAD_PAGE,
        ),
        (
            "into its own L1",
            gr(fref, 0),
            me(l1.0, 0),
            8,
            src_g,
            GntStatus::BAD_PAGE,
        ),
        (
            "into its shared_info",
            gr(fref, 0),
            me(shared.0, 0),
            8,
            src_g,
            GntStatus::BAD_PAGE,
        ),
        (
            "out of dom0's frame by number",
            GnttabCopyPtr {
                u: dom0_frame,
                domid: DomId(0),
                offset: 0,
                _pad: 0,
            },
            me(own, 0),
            8,
            0,
            GntStatus::PERMISSION_DENIED,
        ),
        (
            "out of dom0's frame as its own",
            me(dom0_frame, 0),
            me(own, 0),
            8,
            0,
            GntStatus::BAD_PAGE,
        ),
        (
            "out of a frame beyond RAM",
            me(1 << 40, 0),
            me(own, 0),
            8,
            0,
            GntStatus::BAD_PAGE,
        ),
        (
            "a reference wider than 32 bits",
            gr(fref | 1 << 32, 0),
            me(own, 0),
            8,
            src_g,
            GntStatus::BAD_GNTREF,
        ),
        (
            "a reference past the table",
            gr(600, 0),
            me(own, 0),
            8,
            src_g,
            GntStatus::BAD_GNTREF,
        ),
        (
            "a grant of a domain that does not exist",
            GnttabCopyPtr {
                u: fref,
                domid: DomId(77),
                offset: 0,
                _pad: 0,
            },
            me(own, 0),
            8,
            src_g,
            GntStatus::BAD_DOMAIN,
        ),
        (
            "grant to read-only grant",
            gr(fref, 0),
            gr(9, 0),
            8,
            both,
            GntStatus::PERMISSION_DENIED,
        ),
    ] {
        let s = copy(
            &mut tb,
            GnttabCopy {
                source,
                dest,
                len,
                flags,
                ..Default::default()
            },
        );
        assert_eq!(s, want.0, "{what}");
    }
    assert_eq!(get_bytes(&tb, g, 0, 64), [0x5A; 64]);
    assert_eq!(tb.read_bytes(own_va, 64), [0xA5; 64]);
    assert!(get_bytes(&tb, f, 4000, 96).iter().all(|&b| b == 0));
    assert_eq!(info(&tb, l4).ptype, PageType::L4);
    // A grant to another domain cannot be copied through either.
    let third = tb.domu(1024);
    tb.run(third);
    let own3 = frame_of(&tb, tb.scratch() + 0x3000);
    let s = copy(
        &mut tb,
        GnttabCopy {
            source: gr(fref, 0),
            dest: me(own3, 0),
            len: 8,
            flags: src_g,
            ..Default::default()
        },
    );
    assert_eq!(s, GntStatus::PERMISSION_DENIED.0);
    // As Xen: a side named by frame number is DOMID_SELF's, even for dom0 and even when a
    // domain names itself by its id; others' memory is reached through grants only.
    let by_id = GnttabCopyPtr {
        u: own3,
        domid: third,
        offset: 0,
        _pad: 0,
    };
    let s = copy(
        &mut tb,
        GnttabCopy {
            source: gr(fref, 0),
            dest: by_id,
            len: 8,
            flags: src_g,
            ..Default::default()
        },
    );
    assert_eq!(s, GntStatus::PERMISSION_DENIED.0);
    tb.run(DomId::DOM0);
    let dom0_own = frame_of(&tb, tb.scratch() + 0x3000);
    let s = copy(
        &mut tb,
        GnttabCopy {
            source: me(dom0_own, 0),
            dest: GnttabCopyPtr {
                u: own,
                domid: u,
                offset: 0,
                _pad: 0,
            },
            len: 8,
            ..Default::default()
        },
    );
    assert_eq!(s, GntStatus::PERMISSION_DENIED.0);
    let s = copy(
        &mut tb,
        GnttabCopy {
            source: GnttabCopyPtr {
                u: own,
                domid: u,
                offset: 0,
                _pad: 0,
            },
            dest: me(dom0_own, 0),
            len: 8,
            ..Default::default()
        },
    );
    assert_eq!(s, GntStatus::PERMISSION_DENIED.0);
    assert_eq!(get_bytes(&tb, own, 0, 64), [0xA5; 64]);
}

#[test]
fn destroying_the_granter_keeps_a_mapped_frame_until_the_grantee_unmaps_it() {
    let mut tb = Testbed::boot();
    let free_before = crate::phys::frames::free_count();
    let u = tb.domu(1024);
    tb.run(u);
    assert_eq!(setup(&mut tb, DomId::SELF, 2).0, GntStatus::OKAY.0);
    let f = fresh_frame(&mut tb);
    grant(&tb, u, GREF, DomId::DOM0, f, RW_GRANT);
    put_bytes(&tb, f, 0, b"last words");
    let table: Vec<u64> = tb.st(|st| {
        st.dom(u)
            .unwrap()
            .grant
            .frames
            .iter()
            .map(|p| p.mfn().0)
            .collect()
    });
    tb.run(DomId::DOM0);
    let va = spare(&mut tb, 0);
    let m = map(&mut tb, u, GREF, va, GntmapFlags::HOST_MAP);
    assert_eq!(m.status, GntStatus::OKAY.0);
    destroy(&mut tb, u);
    // The granter lingers, dying, with the one frame still mapped.
    assert!(tb.st(|st| st.dom(u).is_some_and(|d| d.dying)));
    assert_eq!(info(&tb, f).owner, u);
    assert_eq!(counts(&tb, f).0, 1);
    assert_eq!(tb.read_bytes(va, 10), b"last words");
    let va1 = spare(&mut tb, 1);
    assert_eq!(
        map(&mut tb, u, GREF, va1, GntmapFlags::HOST_MAP).status,
        GntStatus::BAD_DOMAIN.0
    );
    let own = frame_of(&tb, tb.scratch() + 0x3000);
    let s = copy(
        &mut tb,
        GnttabCopy {
            source: GnttabCopyPtr {
                u: GREF.into(),
                domid: u,
                offset: 0,
                _pad: 0,
            },
            dest: GnttabCopyPtr {
                u: own,
                domid: DomId::SELF,
                offset: 0,
                _pad: 0,
            },
            len: 4,
            flags: GNTCOPY_SOURCE_GREF,
            ..Default::default()
        },
    );
    assert_eq!(s, GntStatus::BAD_DOMAIN.0);
    // The unmap lets it go, with every frame it had, its table's included.
    assert_eq!(unmap(&mut tb, va, m.handle), GntStatus::OKAY.0);
    assert_eq!(l1e(&tb, va), 0);
    assert!(tb.st(|st| st.dom(u).is_none()), "the granter is gone");
    assert_eq!(info(&tb, f).owner, NO_OWNER);
    for t in table {
        assert_eq!(info(&tb, t).owner, NO_OWNER);
    }
    assert_eq!(live_maps(&tb, DomId::DOM0), 0);
    assert_eq!(crate::phys::frames::free_count(), free_before);
}

#[test]
fn destroying_the_grantee_releases_its_mappings_and_the_grants_busy_bits() {
    let mut tb = Testbed::boot();
    let (u, f) = offer(&mut tb, RW_GRANT);
    grant(&tb, DomId::DOM0, 9, u, f, RW_GRANT);
    tb.run(u);
    let va = spare(&mut tb, 0);
    assert_eq!(
        map(&mut tb, DomId(0), GREF, va, GntmapFlags::HOST_MAP).status,
        0
    );
    assert_eq!(
        map(&mut tb, DomId(0), 9, 0, GntmapFlags::DEVICE_MAP).status,
        0
    );
    assert_eq!(counts(&tb, f), (2, 2, PageType::Writable, 2));
    tb.run(DomId::DOM0);
    destroy(&mut tb, u);
    assert!(tb.st(|st| st.dom(u).is_none()));
    for gref in [GREF, 9] {
        assert_eq!(entry(&tb, DomId::DOM0, gref).flags, RW_GRANT.bits());
        assert_eq!(active(&tb, DomId::DOM0, gref), None);
    }
    assert_eq!(counts(&tb, f), (0, 0, PageType::None, 0));
    assert_eq!(give_back(&mut tb, f), 1);
}

#[test]
fn the_maptrack_limit_and_heap_exhaustion_refuse_a_mapping_without_side_effects() {
    let mut tb = Testbed::boot();
    let (u, f) = offer(&mut tb, RW_GRANT);
    tb.st(|st| st.dom(u).unwrap().grant.max_maptrack = 2);
    tb.run(u);
    let va = spare(&mut tb, 0);
    let a = map(&mut tb, DomId(0), GREF, 0, GntmapFlags::DEVICE_MAP);
    let b = map(&mut tb, DomId(0), GREF, 0, GntmapFlags::DEVICE_MAP);
    assert_eq!((a.status, b.status), (0, 0));
    assert_eq!(
        map(&mut tb, DomId(0), GREF, va, GntmapFlags::HOST_MAP).status,
        GntStatus::NO_SPACE.0
    );
    assert_eq!(l1e(&tb, va), 0);
    assert_eq!(active(&tb, DomId::DOM0, GREF).map(|a| a.pin_rw), Some(2));
    // A freed handle is reused.
    assert_eq!(unmap(&mut tb, 0, a.handle), 0);
    crate::heap::fail_reservations(true);
    let refused = map(&mut tb, DomId(0), GREF, va, GntmapFlags::HOST_MAP);
    crate::heap::fail_reservations(false);
    assert_eq!(refused.status, GntStatus::NO_SPACE.0);
    assert_eq!(l1e(&tb, va), 0);
    assert_eq!(counts(&tb, f), (1, 1, PageType::Writable, 1));
    let c = map(&mut tb, DomId(0), GREF, va, GntmapFlags::HOST_MAP);
    assert_eq!((c.status, c.handle), (0, a.handle));
    assert_eq!(live_maps(&tb, u), 2);
}

#[test]
fn a_grant_written_through_the_granters_own_mapping_of_its_table_is_honoured() {
    let mut tb = Testbed::boot();
    let u = tb.domu(1024);
    tb.run(u);
    let (status, frames) = setup(&mut tb, DomId::SELF, 1);
    assert_eq!(status, 0);
    // The guest maps its table frame (the hypervisor's page, shared with it) and writes an
    // entry there, frame and domid first, flags last.
    let table_va = spare(&mut tb, 0);
    let table_pte = (frames[0] << 12) | pte::P | pte::RW | pte::US | pte::A;
    assert_eq!(
        tb.hypercall(nr::UPDATE_VA_MAPPING, [table_va, table_pte, 2, 0, 0]),
        0
    );
    let page_va = tb.scratch() + 0x4000;
    let page = frame_of(&tb, page_va);
    tb.write_bytes(page_va, b"shared by d1");
    let at = table_va + u64::from(GREF) * 8;
    tb.write(at + 2, &DomId(0));
    tb.write(at + 4, &(page as u32));
    tb.write(at, &RW_GRANT.bits());
    tb.run(DomId::DOM0);
    let va = spare(&mut tb, 0);
    let m = map(
        &mut tb,
        u,
        GREF,
        va,
        GntmapFlags::HOST_MAP | GntmapFlags::READONLY,
    );
    assert_eq!(m.status, 0);
    assert_eq!(tb.read_bytes(va, 12), b"shared by d1");
    // The granter sees the busy bit in its own mapping of the entry.
    tb.run(u);
    assert_eq!(tb.read::<u16>(at), (RW_GRANT | GtfFlags::READING).bits());
    tb.run(DomId::DOM0);
    assert_eq!(unmap(&mut tb, va, m.handle), 0);
    tb.run(u);
    assert_eq!(tb.read::<u16>(at), RW_GRANT.bits());
}

#[test]
fn long_batches_are_continued_and_every_operation_gets_its_status() {
    let mut tb = Testbed::boot();
    let (u, f) = offer(&mut tb, RW_GRANT);
    tb.run(u);
    assert_eq!(setup(&mut tb, DomId::SELF, 1).0, 0);
    // 600 queries: more than two batches of 256.
    let base = tb.scratch() + 0x100;
    let n = 600u64;
    let ops: Vec<GnttabQuerySize> = (0..n)
        .map(|_| GnttabQuerySize {
            dom: DomId::SELF,
            status: 99,
            ..Default::default()
        })
        .collect();
    tb.write_bytes(base, ops.as_bytes());
    let (rc, continued) = call(
        &mut tb,
        nr::GRANT_TABLE_OP,
        [GNTTABOP_QUERY_SIZE.into(), base, n, 0, 0],
    );
    assert_eq!((rc, continued), (0, 2));
    for i in 0..n {
        let o: GnttabQuerySize = tb.read(base + i * 16);
        assert_eq!(
            (o.status, o.nr_frames, o.max_nr_frames),
            (0, 1, DEFAULT_MAX_FRAMES),
            "op {i}"
        );
    }
    // A batch of maps, one bad among good ones: each gets its own status.
    let (v0, v1) = (spare(&mut tb, 0), spare(&mut tb, 1));
    let mk = |host_addr, gref| GnttabMapGrantRef {
        host_addr,
        flags: GntmapFlags::HOST_MAP.bits(),
        ref_: GrantRef(gref),
        dom: DomId(0),
        ..Default::default()
    };
    let maps = [mk(v0, GREF), mk(v1, 600), mk(v1, GREF)];
    tb.write_bytes(base, maps.as_bytes());
    let (rc, _) = call(
        &mut tb,
        nr::GRANT_TABLE_OP,
        [GNTTABOP_MAP_GRANT_REF.into(), base, 3, 0, 0],
    );
    assert_eq!(rc, 0);
    let got: Vec<(i16, u32)> = (0..3)
        .map(|i| tb.read::<GnttabMapGrantRef>(base + i * 32))
        .map(|o| (o.status, o.handle))
        .collect();
    assert_eq!(got, vec![(0, 0), (GntStatus::BAD_GNTREF.0, 0), (0, 1)]);
    assert_eq!(counts(&tb, f).0, 2);
    // A batch running into an unmapped page: the call fails there, the operations before it
    // are done and their statuses written.
    let hole = spare(&mut tb, 2);
    let at = hole - 2 * 16;
    tb.write_bytes(at, ops[..2].as_bytes());
    let (rc, _) = call(
        &mut tb,
        nr::GRANT_TABLE_OP,
        [GNTTABOP_QUERY_SIZE.into(), at, 5, 0, 0],
    );
    assert_eq!(rc, err(Errno::EFAULT));
    assert_eq!(tb.read::<GnttabQuerySize>(at).status, 0);
    assert_eq!(tb.read::<GnttabQuerySize>(at + 16).status, 0);
}

#[test]
fn only_version_1_is_offered_and_unimplemented_operations_say_so() {
    let mut tb = Testbed::boot();
    let (rc, v) = op(
        &mut tb,
        GNTTABOP_SET_VERSION,
        &GnttabSetVersion { version: 1 },
    );
    assert_eq!((rc, v.version), (0, 1));
    let (rc, v) = op(
        &mut tb,
        GNTTABOP_SET_VERSION,
        &GnttabSetVersion { version: 0 },
    );
    assert_eq!((rc, v.version), (0, 1), "0 asks for the current version");
    for version in [2, 3, u32::MAX] {
        let (rc, v) = op(&mut tb, GNTTABOP_SET_VERSION, &GnttabSetVersion { version });
        assert_eq!((rc, v.version), (err(Errno::ENOSYS), version));
    }
    let (rc, v) = op(
        &mut tb,
        GNTTABOP_GET_VERSION,
        &GnttabGetVersion {
            dom: DomId::SELF,
            pad: 0,
            version: 7,
        },
    );
    assert_eq!((rc, v.version), (0, 1));
    for cmd in [
        GNTTABOP_DUMP_TABLE,
        GNTTABOP_TRANSFER,
        GNTTABOP_UNMAP_AND_REPLACE,
        GNTTABOP_GET_STATUS_FRAMES,
        GNTTABOP_SWAP_GRANT_REF,
        GNTTABOP_CACHE_FLUSH,
        99,
    ] {
        assert_eq!(
            tb.hypercall(nr::GRANT_TABLE_OP, [cmd.into(), tb.scratch(), 1, 0, 0]),
            err(Errno::ENOSYS),
            "cmd {cmd}"
        );
    }
}
