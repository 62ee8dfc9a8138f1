//! The grant operations: set up and query a table, map and unmap a grant into the caller's
//! page tables, copy through grants.

use crate::domain::grants::active;
use crate::domain::grants::MapTrack;
use crate::domain::state::State;
use crate::mm::guest_copy;
use crate::mm::page_types::TableMem;
use crate::mm::page_types::{FrameTable, PageType};
use crate::mm::pte;
use guest_abi::errno::Errno;
use guest_abi::grant_table::*;
use guest_abi::types::{DomId, GrantRef, Mfn};

type GResult<T> = Result<T, GntStatus>;

/// A grant status for [`State::lookup`]'s refusals.
fn access_status(e: Errno) -> GntStatus {
    if e == Errno::EPERM {
        GntStatus::PERMISSION_DENIED
    } else {
        GntStatus::BAD_DOMAIN
    }
}

type Domains = alloc::collections::BTreeMap<DomId, alloc::boxed::Box<crate::domain::Domain>>;

/// A live (not dying) domain, or BAD_DOMAIN.
fn live(domains: &mut Domains, id: DomId) -> GResult<&mut crate::domain::Domain> {
    match domains.get_mut(&id) {
        Some(d) if !d.dying => Ok(d),
        _ => Err(GntStatus::BAD_DOMAIN),
    }
}

/// `GNTTABOP_setup_table`: grow the table to `nr_frames` and report its frames.
pub fn setup_table(st: &mut State, op: &mut GnttabSetupTable) -> Result<(), Errno> {
    let dom = match st.lookup(op.dom) {
        Ok(d) => d,
        Err(e) => {
            op.status = access_status(e).0;
            return Ok(());
        }
    };
    let Ok(d) = live(&mut st.domains, dom) else {
        op.status = GntStatus::BAD_DOMAIN.0;
        return Ok(());
    };
    if op.nr_frames > d.grant.max_frames {
        log::warn!(
            "domain {dom}: grant table of {} frames refused: limit max_grant_frames = {}",
            op.nr_frames,
            d.grant.max_frames
        );
        op.status = GntStatus::GENERAL_ERROR.0;
        return Ok(());
    }
    while (st.dom(dom).map_or(0, |d| d.grant.frames.len()) as u32) < op.nr_frames {
        let Some(mfn) = crate::phys::frames::alloc() else {
            op.status = GntStatus::NO_SPACE.0;
            return Ok(());
        };
        let Ok(page) = st.frame_table().0.assign_xen(mfn, dom) else {
            op.status = GntStatus::GENERAL_ERROR.0;
            return Ok(());
        };
        crate::mm::machine::xen_zero(&page);
        let frames = &mut st.dom(dom).ok_or(Errno::ESRCH)?.grant.frames;
        if frames.try_reserve(1).is_err() {
            crate::domain::memory::free_xen_page(st, page);
            op.status = GntStatus::NO_SPACE.0;
            return Ok(());
        }
        frames.push(page);
    }
    let frames: alloc::vec::Vec<u64> = st
        .dom(dom)
        .ok_or(Errno::ESRCH)?
        .grant
        .frames
        .iter()
        .map(|p| p.mfn().0)
        .collect();
    for (i, f) in frames.iter().take(op.nr_frames as usize).enumerate() {
        if guest_copy::write(&st.mem, op.frame_list + 8 * i as u64, f).is_err() {
            op.status = GntStatus::BAD_VIRT_ADDR.0;
            return Ok(());
        }
    }
    op.status = GntStatus::OKAY.0;
    Ok(())
}

/// `GNTTABOP_query_size`.
pub fn query_size(st: &mut State, op: &mut GnttabQuerySize) {
    let dom = match st.lookup(op.dom) {
        Ok(d) => d,
        Err(e) => {
            op.status = access_status(e).0;
            return;
        }
    };
    match live(&mut st.domains, dom) {
        Ok(d) => {
            op.nr_frames = d.grant.frames.len() as u32;
            op.max_nr_frames = d.grant.max_frames;
            op.status = GntStatus::OKAY.0;
        }
        Err(s) => op.status = s.0,
    }
}

/// The L1 table and slot that map `va` in the caller's live page tables.
fn l1_slot_of_va(st: &mut State, va: u64) -> GResult<(Mfn, usize)> {
    if va & 0xFFF != 0 {
        return Err(GntStatus::BAD_VIRT_ADDR);
    }
    let l4 = st.cur_vcpu().active_l4();
    crate::mm::guest_walk::l1_slot(&st.mem, l4, va).ok_or(GntStatus::BAD_VIRT_ADDR)
}

/// Where a map or unmap request puts the PTE.
fn slot_for(st: &mut State, host_addr: u64, flags: GntmapFlags) -> GResult<(Mfn, usize)> {
    if flags.contains(GntmapFlags::CONTAINS_PTE) {
        if host_addr & 7 != 0 {
            return Err(GntStatus::BAD_VIRT_ADDR);
        }
        Ok((
            Mfn::containing(host_addr),
            ((host_addr & 0xFFF) >> 3) as usize,
        ))
    } else {
        l1_slot_of_va(st, host_addr)
    }
}

/// `GNTTABOP_map_grant_ref`.
pub fn map(st: &mut State, op: &mut GnttabMapGrantRef) {
    match map_inner(st, op) {
        Ok(handle) => {
            op.handle = handle;
            op.status = GntStatus::OKAY.0;
        }
        Err(s) => op.status = s.0,
    }
}

fn map_inner(st: &mut State, op: &mut GnttabMapGrantRef) -> GResult<u32> {
    let me = st.current.dom;
    // The guest's own bits (XENFEAT_gnttab_map_avail_bits) go into the PTE's available bits.
    let flags = GntmapFlags::from_bits(op.flags & !GNTMAP_GUEST_AVAIL_MASK)
        .ok_or(GntStatus::GENERAL_ERROR)?;
    let avail = u64::from(op.flags >> GNTMAP_GUEST_AVAIL0) << 9 & pte::AVAIL;
    if !flags.intersects(GntmapFlags::HOST_MAP | GntmapFlags::DEVICE_MAP) {
        // As Xen: a map request asking for no mapping at all is a bad reference.
        return Err(GntStatus::BAD_GNTREF);
    }
    let write = !flags.contains(GntmapFlags::READONLY);
    let granter = st.resolve(op.dom);
    let gref = op.ref_;
    let (entry, act) = {
        let g = live(&mut st.domains, granter)?;
        if !g.grant.has_entry(gref) {
            return Err(GntStatus::BAD_GNTREF);
        }
        let act = g.grant.active.get(&gref).copied();
        let e = g.grant.read_entry(gref).ok_or(GntStatus::BAD_GNTREF)?;
        (e, act)
    };
    let (frame, new_flags) = active::acquire(&entry, act.as_ref(), me, write)?;
    if !st.frame_table().0.owned_memory(frame, granter) {
        // Not the granter's memory: another domain's frame, or a hypervisor page (its own
        // shared_info or grant table) that it may map but never pass on.
        return Err(GntStatus::BAD_PAGE);
    }
    {
        let m = st.cur();
        if m.grant.live_maps() as u32 >= m.grant.max_maptrack {
            log::warn!(
                "domain {me}: grant map refused: limit of {} mappings reached",
                m.grant.max_maptrack
            );
            return Err(GntStatus::NO_SPACE);
        }
        // The handle's slot, reserved now so that nothing can fail once the mapping is made
        // (fallible: out of memory refuses the mapping), and room for the active entry.
        if !m.grant.maptrack.iter().any(Option::is_none) && m.grant.maptrack.try_reserve(1).is_err()
        {
            return Err(GntStatus::NO_SPACE);
        }
    }
    if crate::heap::try_reserve(1024).is_err() {
        return Err(GntStatus::NO_SPACE);
    }
    let l1 = if flags.contains(GntmapFlags::HOST_MAP) {
        let (l1, idx) = slot_for(st, op.host_addr, flags)?;
        let (mut ft, mem) = st.frame_table();
        // A CONTAINS_PTE address naming a frame not the caller's is refused before the entry
        // is read: else the status would tell the caller bit 0 of any word of another
        // domain's (or the hypervisor's) memory.
        if ft.owner(l1) != me {
            return Err(GntStatus::GENERAL_ERROR);
        }
        if pte::present(mem.read(l1, idx)) {
            return Err(GntStatus::BAD_VIRT_ADDR);
        }
        let mut e = frame.addr() | pte::P | pte::US | pte::A | avail;
        if write {
            e |= pte::RW | pte::D;
        }
        ft.mod_entry(mem, l1, idx, e, me, granter)
            .map_err(|err| match err {
                Errno::EBUSY => GntStatus::BAD_PAGE,
                _ => GntStatus::GENERAL_ERROR,
            })?;
        (l1, idx)
    } else {
        (Mfn(0), 0)
    };
    if flags.contains(GntmapFlags::DEVICE_MAP) {
        if !flags.contains(GntmapFlags::HOST_MAP) {
            // No PTE holds the frame: the mapping itself does, until it is unmapped. A device
            // may write it, so a writable mapping takes the writable type as a PTE would: a
            // page table or descriptor page is never handed to a device writable.
            let (mut ft, mem) = st.frame_table();
            if write {
                ft.get_type(mem, frame, PageType::Writable, granter)
                    .map_err(|_| GntStatus::BAD_PAGE)?;
            }
            if ft.hold(frame, me).is_err() {
                if write {
                    ft.put_type(mem, frame);
                }
                return Err(GntStatus::GENERAL_ERROR);
            }
        }
        // No IOMMU: the bus address is the machine address.
        op.dev_bus_addr = frame.addr();
    }
    let g = live(&mut st.domains, granter)?;
    let granter_ref = g.dom_ref();
    let a = active::pin(act, frame, me, write);
    // Room for the map's node was made before the mapping (below the limit check).
    g.grant.active.insert(gref, a);
    g.grant.write_flags(gref, new_flags);
    let track = MapTrack {
        granter: granter_ref,
        gref,
        frame,
        l1,
        flags,
    };
    let m = st.cur();
    let handle = match m.grant.maptrack.iter().position(Option::is_none) {
        Some(h) => {
            m.grant.maptrack[h] = Some(track);
            h
        }
        None => {
            // Room was reserved before anything changed (below the limit check).
            m.grant.maptrack.push(Some(track));
            m.grant.maptrack.len() - 1
        }
    };
    Ok(handle as u32)
}

/// `GNTTABOP_unmap_grant_ref`.
pub fn unmap(st: &mut State, op: &mut GnttabUnmapGrantRef) {
    op.status = match unmap_inner(st, op) {
        Ok(()) => GntStatus::OKAY.0,
        Err(s) => s.0,
    };
}

fn unmap_inner(st: &mut State, op: &GnttabUnmapGrantRef) -> GResult<()> {
    let me = st.current.dom;
    let track = st
        .cur()
        .grant
        .maptrack
        .get(op.handle as usize)
        .copied()
        .flatten()
        .ok_or(GntStatus::BAD_HANDLE)?;
    if track.flags.contains(GntmapFlags::HOST_MAP) {
        if slot_for(st, op.host_addr, track.flags)? != track.l1 {
            return Err(GntStatus::BAD_VIRT_ADDR);
        }
        let (l1, idx) = track.l1;
        let (mut ft, mem) = st.frame_table();
        let cur = mem.read(l1, idx);
        // The guest may have replaced the entry itself; then its references are gone already.
        if pte::present(cur) && pte::mfn(cur) == track.frame {
            ft.mod_entry(mem, l1, idx, 0, me, me)
                .map_err(|_| GntStatus::GENERAL_ERROR)?;
        }
    }
    st.cur().grant.maptrack[op.handle as usize] = None;
    drop_device_ref(st, me, &track);
    release_pin(st, &track);
    // The granter may reuse the page once its busy bits clear: no translation may survive,
    // here or on another CPU running one of the mapper's vCPUs.
    let others = if crate::cpus::several_run_vcpus() {
        st.cpus_with(me) & !(1 << st.me)
    } else {
        0
    };
    if track.flags.contains(GntmapFlags::CONTAINS_PTE) {
        crate::mm::machine::flush_tlb_local();
        if others != 0 {
            crate::arch::shootdown_cpus(others, crate::arch::shootdown::Flush::All);
        }
    } else if track.flags.contains(GntmapFlags::HOST_MAP) {
        crate::arch::paging::invlpg(op.host_addr);
        if others != 0 {
            crate::arch::shootdown_cpus(others, crate::arch::shootdown::Flush::Page(op.host_addr));
        }
    }
    Ok(())
}

/// Drop the frame reference of a device-only mapping held by `holder`.
fn drop_device_ref(st: &mut State, holder: DomId, t: &MapTrack) {
    if t.flags.contains(GntmapFlags::DEVICE_MAP) && !t.flags.contains(GntmapFlags::HOST_MAP) {
        let (mut ft, mem) = st.frame_table();
        if !t.flags.contains(GntmapFlags::READONLY) {
            ft.put_type(mem, t.frame);
        }
        ft.unhold(t.frame, holder);
    }
}

/// Drop the granter-side pin of a mapping and clear the entry's busy bits when unused.
fn release_pin(st: &mut State, t: &MapTrack) {
    let write = !t.flags.contains(GntmapFlags::READONLY);
    // The granter instance, not whichever domain has its id now.
    let Some(g) = st.dom_ref(t.granter) else {
        return;
    };
    let Some(a) = g.grant.active.get(&t.gref).copied() else {
        return;
    };
    let (a, clear) = active::unpin(a, write);
    match a {
        Some(a) => {
            g.grant.active.insert(t.gref, a);
        }
        None => {
            g.grant.active.remove(&t.gref);
        }
    }
    if let Some(e) = g.grant.read_entry(t.gref) {
        g.grant.write_flags(t.gref, e.flags & !clear);
    }
}

/// A domain going away: release every grant it still has mapped (its page tables' references
/// are dropped by the frame table's relinquish).
pub fn release_all(st: &mut State, dom: DomId) {
    let maps: alloc::vec::Vec<MapTrack> = match st.dom(dom) {
        Some(d) => d.grant.maptrack.drain(..).flatten().collect(),
        None => return,
    };
    for t in &maps {
        drop_device_ref(st, dom, t);
        release_pin(st, t);
    }
}

/// One side of a copy: the frame and its owner, if usable (the owner's own memory; for the
/// destination, never a page table or descriptor page).
fn copy_side(
    st: &mut State,
    p: &GnttabCopyPtr,
    is_gref: bool,
    write: bool,
    len: usize,
) -> GResult<(Mfn, DomId)> {
    if usize::from(p.offset) + len > 4096 {
        return Err(GntStatus::BAD_COPY_ARG);
    }
    let me = st.current.dom;
    let dom = st.resolve(p.domid);
    let frame = if is_gref {
        let gref = GrantRef(u32::try_from(p.u).map_err(|_| GntStatus::BAD_GNTREF)?);
        let g = live(&mut st.domains, dom)?;
        if !g.grant.has_entry(gref) {
            return Err(GntStatus::BAD_GNTREF);
        }
        let act = g.grant.active.get(&gref).copied();
        let e = g.grant.read_entry(gref).ok_or(GntStatus::BAD_GNTREF)?;
        active::acquire(&e, act.as_ref(), me, write)?.0
    } else {
        // As Xen: a side named by frame number is the caller's own memory, named DOMID_SELF;
        // any other domain's memory is reached only through its grants, privileged or not.
        if p.domid != DomId::SELF {
            return Err(GntStatus::PERMISSION_DENIED);
        }
        Mfn(p.u)
    };
    let (ft, _) = st.frame_table();
    if !ft.owned_memory(frame, dom) {
        return Err(GntStatus::BAD_PAGE);
    }
    // Writing into a page table or descriptor page would bypass validation.
    if write && ft.writable(frame, dom).is_none() {
        return Err(GntStatus::BAD_PAGE);
    }
    Ok((frame, dom))
}

/// `GNTTABOP_copy`.
pub fn copy(st: &mut State, op: &mut GnttabCopy) {
    let len = usize::from(op.len);
    let src = copy_side(
        st,
        &op.source,
        op.flags & GNTCOPY_SOURCE_GREF != 0,
        false,
        len,
    );
    let dst = copy_side(st, &op.dest, op.flags & GNTCOPY_DEST_GREF != 0, true, len);
    op.status = match (src, dst) {
        (Ok((s, sdom)), Ok((d, ddom))) => {
            let ft = FrameTable::new(st.frames);
            let (Some(src), Some(dst)) = (ft.readable(s, sdom), ft.writable(d, ddom)) else {
                op.status = GntStatus::BAD_PAGE.0;
                return;
            };
            let copied = st.mem.copy_frame(
                &src,
                usize::from(op.source.offset),
                &dst,
                usize::from(op.dest.offset),
                len,
            );
            match copied {
                Ok(()) => GntStatus::OKAY.0,
                Err(_) => GntStatus::BAD_PAGE.0,
            }
        }
        (Err(e), _) | (_, Err(e)) => e.0,
    };
}
