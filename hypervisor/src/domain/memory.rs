//! Giving frames to domains and taking them back.

use super::state::State;
use crate::mm::page_types::XenPage;
use guest_abi::errno::Errno;

/// Allocate a zeroed frame for domain `dom` at pseudo-physical `pfn` (recorded in the M2P),
/// counted against its `max_pages`.
pub fn alloc_page(st: &mut State, dom: u16, pfn: u64) -> Result<u64, Errno> {
    let d = st.dom(dom).ok_or(Errno::ESRCH)?;
    if d.tot_pages >= d.max_pages {
        return Err(Errno::ENOMEM);
    }
    let mfn = crate::mm::frames::alloc_for_domain().ok_or(Errno::ENOMEM)?;
    let (mut ft, _) = st.frame_table();
    if ft.assign(mfn, dom).is_err() {
        // The allocator handed out a frame we think is owned: never use it.
        log::error!("frame {mfn:#x} from the allocator is already owned");
        return Err(Errno::ENOMEM);
    }
    crate::arch::x86_64::paging::m2p_set(mfn, pfn);
    if let Some(d) = st.dom(dom) {
        d.tot_pages += 1;
    }
    Ok(mfn)
}

/// Return a frame of `dom` to the allocator (it must hold no references).
pub fn free_page(st: &mut State, dom: u16, mfn: u64) -> Result<(), Errno> {
    let (mut ft, mem) = st.frame_table();
    if ft.owner(mfn) != dom {
        return Err(Errno::EPERM);
    }
    ft.release(mem, mfn)?;
    crate::arch::x86_64::paging::m2p_set(mfn, u64::MAX);
    crate::mm::frames::free(mfn);
    if let Some(d) = st.dom(dom) {
        d.tot_pages = d.tot_pages.saturating_sub(1);
    }
    Ok(())
}

/// Release every frame of a dying domain that nobody else references. Returns how many
/// frames are still referenced from other domains (the domain lingers until they go).
///
/// One pass over the frame table, freeing as it goes: no list of the domain's frames (for a
/// 2 GiB domain that was 4 MiB of hypervisor heap, which grows but never shrinks, so
/// destroying the domain did not give all its memory back).
pub fn relinquish_all(st: &mut State, dom: u16) -> u64 {
    {
        let (mut ft, mem) = st.frame_table();
        ft.relinquish(mem, dom);
    }
    let mut left = 0;
    for mfn in 0..st.frames.len() as u64 {
        let p = st.frames[mfn as usize];
        if p.owner != dom {
            continue;
        }
        if p.foreign_refs != 0 {
            left += 1;
        } else if p.xen {
            // The hypervisor's pages go with the domain itself (`lifecycle::reap`), once
            // nobody maps them.
            if p.refs != 0 {
                left += 1;
            }
        } else if free_page(st, dom, mfn).is_err() {
            left += 1;
        }
    }
    left
}

/// Give a hypervisor page back to the allocator (its domain is gone and nobody maps it).
pub fn free_xen_page(st: &mut State, page: XenPage) {
    let (mut ft, mem) = st.frame_table();
    match ft.release_xen(mem, page) {
        Ok(mfn) => {
            crate::arch::x86_64::paging::m2p_set(mfn, u64::MAX);
            crate::mm::frames::free(mfn);
        }
        // Unreachable while `reap` only drops domains whose pages nobody maps; keep the frame
        // out of the allocator rather than free a mapped page.
        Err(page) => log::error!("hypervisor page {:#x} still mapped: leaked", page.mfn()),
    }
}
