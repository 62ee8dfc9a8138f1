//! Giving frames to domains and taking them back.

use super::state::State;
use crate::arch::preempt::Slice;
use crate::mm::page_types::{Cursor, FrameTable, Relinquish, XenPage};
use guest_abi::errno::Errno;
use guest_abi::types::{DomId, Mfn, Pfn, INVALID_PFN};

/// Frames (in work units: a table's entries count) a teardown step handles per call at most,
/// and within its time slice, so that destroying even a huge domain never runs long with
/// interrupts off.
pub const TEARDOWN_BUDGET: u64 = 16 * 1024;
/// Work units between two looks at the time slice.
const TEARDOWN_CHUNK: u64 = 64;

/// Allocate a zeroed frame for domain `dom` at pseudo-physical `pfn` (recorded in the M2P),
/// counted against its `max_pages` and put on its page list.
pub fn alloc_page(st: &mut State, dom: DomId, pfn: Pfn) -> Result<Mfn, Errno> {
    let d = st.dom(dom).ok_or(Errno::ESRCH)?;
    if d.tot_pages >= d.max_pages || d.dying {
        return Err(Errno::ENOMEM);
    }
    let mfn = crate::phys::frames::alloc_for_domain().ok_or(Errno::ENOMEM)?;
    let d = st.domains.get_mut(&dom).ok_or(Errno::ESRCH)?;
    let mut ft = FrameTable::new(st.frames);
    if ft.assign(mfn, dom).is_err() || ft.list_push(&mut d.pages, mfn).is_err() {
        // The allocator handed out a frame we think is owned: never use it.
        log::error!("frame {mfn:#x} from the allocator is already owned");
        return Err(Errno::ENOMEM);
    }
    d.tot_pages += 1;
    crate::arch::paging::m2p_set(mfn, pfn);
    Ok(mfn)
}

/// Return a frame of `dom` to the allocator (it must hold no references).
pub fn free_page(st: &mut State, dom: DomId, mfn: Mfn) -> Result<(), Errno> {
    let d = st.domains.get_mut(&dom).ok_or(Errno::ESRCH)?;
    let mut ft = FrameTable::new(st.frames);
    if ft.owner(mfn) != dom {
        return Err(Errno::EPERM);
    }
    ft.release(&mut st.mem, &mut d.pages, mfn)?;
    d.tot_pages = d.tot_pages.saturating_sub(1);
    give_back(st, &[mfn]);
    Ok(())
}

/// Frames nobody owns any more go back to the allocator, once no CPU's TLB can still map
/// them (`sched::flush_loaded_cpus`).
fn give_back(st: &State, mfns: &[Mfn]) {
    if mfns.is_empty() {
        return;
    }
    st.flush_loaded_cpus();
    for &mfn in mfns {
        crate::arch::paging::m2p_set(mfn, INVALID_PFN);
        crate::phys::frames::free(mfn);
    }
}

/// One bounded step of tearing down dying domain `dom` (see `FrameTable::relinquish_step`):
/// `None` while more work remains, else how many of its frames other domains still map (the
/// domain lingers until they go).
pub fn relinquish_step(st: &mut State, dom: DomId) -> Option<u64> {
    let d = st.domains.get_mut(&dom)?;
    let mut cursor = d.teardown.unwrap_or(Cursor::Collect(d.pages.first()));
    let mut ft = FrameTable::new(st.frames);
    let mut freed = alloc::vec::Vec::new();
    let slice = Slice::start();
    let mut spent = 0;
    let r = loop {
        let r = ft.relinquish_step(
            &mut st.mem,
            dom,
            &mut d.pages,
            cursor,
            TEARDOWN_CHUNK,
            |mfn| freed.push(mfn),
        );
        spent += TEARDOWN_CHUNK;
        match r {
            Relinquish::More(c) if spent < TEARDOWN_BUDGET && !slice.expired() => cursor = c,
            r => break r,
        }
    };
    d.tot_pages = d.tot_pages.saturating_sub(freed.len() as u64);
    give_back(st, &freed);
    let d = st.domains.get_mut(&dom)?;
    match r {
        Relinquish::More(c) => {
            d.teardown = Some(c);
            None
        }
        Relinquish::Done(left) => {
            // Later steps (as foreign references go) only collect what remains.
            d.teardown = None;
            Some(left)
        }
    }
}

/// Give a hypervisor page back to the allocator (its domain is gone and nobody maps it).
pub fn free_xen_page(st: &mut State, page: XenPage) {
    let (mut ft, mem) = st.frame_table();
    match ft.release_xen(mem, page) {
        Ok(mfn) => give_back(st, &[mfn]),
        // Unreachable while `reap` only drops domains whose pages nobody maps; keep the frame
        // out of the allocator rather than free a mapped page.
        Err(page) => log::error!("hypervisor page {:#x} still mapped: leaked", page.mfn()),
    }
}
