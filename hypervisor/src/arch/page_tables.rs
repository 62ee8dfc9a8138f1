//! Page tables as the hypervisor builds them for itself (shared by both backends, so the host
//! tests build real tables in the modelled RAM): entry bits, the walk that allocates missing
//! tables, 4 KiB and 2 MiB mappings, and the M2P (machine frame -> guest PFN) that the
//! hypervisor keeps for every RAM frame. Tables are reached through the direct map.

use crate::phys::{directmap, frames};
use core::sync::atomic::{AtomicU64, Ordering};
use guest_abi::types::{Mfn, Pfn, INVALID_PFN, PAGE_SIZE};

/// Entry bits, the PV MMU's (`mm::pte`), under the names the arch code uses.
pub use super::pte::{ADDR_MASK as ADDR, NX, P, PCD, PSE as PS, PWT, RW, US};

static M2P_MFN: AtomicU64 = AtomicU64::new(0);
static MAX_MFN: AtomicU64 = AtomicU64::new(0);

/// Why a mapping failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MapError {
    /// No frame for a page table.
    NoMemory,
    /// A large page is in the way.
    LargePage,
}

/// The table in frame `mfn`, through the direct map.
///
/// # Safety
/// `mfn` must be a page-table frame the caller may access exclusively for the borrow.
pub(crate) unsafe fn table<'a>(mfn: Mfn) -> &'a mut [u64; 512] {
    // SAFETY: per the function contract; the direct map covers all RAM, 4 KiB-aligned.
    unsafe { &mut *(directmap::mfn_to_virt(mfn) as *mut [u64; 512]) }
}

/// The next-level table under `entry`, allocated (zeroed) if absent.
pub(crate) fn next(entry: &mut u64, user: bool) -> Result<Mfn, MapError> {
    if *entry & P == 0 {
        let mfn = frames::alloc().ok_or(MapError::NoMemory)?;
        *entry = mfn.addr() | P | RW;
    } else if *entry & PS != 0 {
        return Err(MapError::LargePage);
    }
    if user {
        *entry |= US;
    }
    Ok(Mfn::containing(*entry & ADDR))
}

pub(crate) fn index(va: u64, level: u32) -> usize {
    ((va >> (12 + 9 * (level - 1))) & 511) as usize
}

/// Maps the 4 KiB page at `va` to `pa` with leaf `flags` in the tables rooted at `l4_mfn`,
/// allocating intermediate tables (P|RW, plus US if `flags` has US).
pub fn map_4k(l4_mfn: Mfn, va: u64, pa: u64, flags: u64) -> Result<(), MapError> {
    let user = flags & US != 0;
    let mut mfn = l4_mfn;
    for level in [4, 3, 2] {
        // SAFETY: boot-time or caller-owned tables, reached only here while being built.
        let t = unsafe { table(mfn) };
        mfn = next(&mut t[index(va, level)], user)?;
    }
    // SAFETY: as above.
    let t = unsafe { table(mfn) };
    t[index(va, 1)] = (pa & ADDR) | flags | P;
    Ok(())
}

/// Maps the 2 MiB page at `va` to `pa`.
pub fn map_2m(l4_mfn: Mfn, va: u64, pa: u64, flags: u64) -> Result<(), MapError> {
    let mut mfn = l4_mfn;
    for level in [4, 3] {
        // SAFETY: the idle tables, being built.
        let t = unsafe { table(mfn) };
        mfn = next(&mut t[index(va, level)], false)?;
    }
    // SAFETY: as above.
    let t = unsafe { table(mfn) };
    t[index(va, 2)] = (pa & ADDR) | flags | P | PS;
    Ok(())
}

/// Allocates the M2P for machine frames `[0, max_mfn)` (zeroed) and returns
/// its first frame and frame count; the backend maps it for guests.
pub fn init_m2p(max_mfn: u64) -> Result<(Mfn, u64), MapError> {
    let m2p_frames = (max_mfn * 8).div_ceil(PAGE_SIZE as u64).max(1);
    let m2p = frames::alloc_contiguous(m2p_frames, 1).ok_or(MapError::NoMemory)?;
    M2P_MFN.store(m2p.0, Ordering::Relaxed);
    MAX_MFN.store(max_mfn, Ordering::Relaxed);
    Ok((m2p, m2p_frames))
}

/// One past the highest MFN of RAM (the M2P's length in entries).
pub fn max_mfn() -> u64 {
    MAX_MFN.load(Ordering::Relaxed)
}

fn m2p_entry(mfn: Mfn) -> Option<*mut u64> {
    (mfn.0 < max_mfn()).then(|| {
        (directmap::mfn_to_virt(Mfn(M2P_MFN.load(Ordering::Relaxed))) as *mut u64)
            .wrapping_add(mfn.0 as usize)
    })
}

/// Sets M2P[mfn] = pfn (ignored for MFNs beyond RAM).
pub fn m2p_set(mfn: Mfn, pfn: Pfn) {
    if let Some(p) = m2p_entry(mfn) {
        // SAFETY: inside the M2P frames allocated by `init`, written only via the direct map.
        unsafe { p.write_volatile(pfn.0) }
    }
}

/// Reads M2P[mfn] ([`INVALID_PFN`] for MFNs beyond RAM).
pub fn m2p_get(mfn: Mfn) -> Pfn {
    // SAFETY: as `m2p_set`.
    m2p_entry(mfn).map_or(INVALID_PFN, |p| Pfn(unsafe { p.read_volatile() }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mm::guest_walk::translate;
    use crate::testbed::Testbed;

    /// Entry `idx` of the table in frame `table`.
    fn entry(tb: &Testbed, table: Mfn, idx: usize) -> u64 {
        tb.st(|st| crate::mm::page_types::TableMem::read(&st.mem, table, idx))
    }

    /// The frame entry `idx` of `table` points at.
    fn below(tb: &Testbed, table: Mfn, idx: usize) -> Mfn {
        Mfn::containing(entry(tb, table, idx) & ADDR)
    }

    #[test]
    fn map_4k_builds_a_walk_that_reaches_the_frame_with_the_flags_asked() {
        let tb = Testbed::boot();
        let l4 = frames::alloc().expect("frame");
        let va = 0x0000_1234_5678_9000;
        map_4k(l4, va, 0x0077_7000, US | RW).expect("mapped");
        let pa = tb.st(|st| translate(&st.mem, l4, va + 0x10, true));
        assert_eq!(pa, Ok(0x0077_7010));
        // Read-only: a write walk fails, a read walk succeeds.
        map_4k(l4, va + 4096, 0x0088_8000, US).expect("mapped");
        assert!(tb.st(|st| translate(&st.mem, l4, va + 4096, true)).is_err());
        assert_eq!(
            tb.st(|st| translate(&st.mem, l4, va + 4096, false)),
            Ok(0x0088_8000)
        );
        // Supervisor-only: a guest walk never reaches it.
        map_4k(l4, va + 8192, 0x0099_9000, RW).expect("mapped");
        assert!(tb
            .st(|st| translate(&st.mem, l4, va + 8192, false))
            .is_err());
        // Neighbouring pages shared the intermediate tables: one L3, L2 and L1 each.
        let l3 = below(&tb, l4, index(va, 4));
        let l2 = below(&tb, l3, index(va, 3));
        let l1 = below(&tb, l2, index(va, 2));
        for (i, page) in [0x777u64, 0x888, 0x999].into_iter().enumerate() {
            assert_eq!(below(&tb, l1, index(va, 1) + i), Mfn(page));
        }
    }

    #[test]
    fn a_large_page_in_the_way_is_refused_not_overwritten() {
        let tb = Testbed::boot();
        let l4 = frames::alloc().expect("frame");
        let va = 0x0000_0040_0000_0000;
        map_2m(l4, va, 0x0020_0000, US | RW).expect("mapped");
        assert_eq!(
            map_4k(l4, va + 4096, 0x0030_0000, US),
            Err(MapError::LargePage)
        );
        let l3 = below(&tb, l4, index(va, 4));
        let l2 = below(&tb, l3, index(va, 3));
        assert_eq!(entry(&tb, l2, index(va, 2)), 0x0020_0000 | US | RW | P | PS);
    }

    #[test]
    fn the_m2p_covers_every_ram_frame_and_nothing_past_it() {
        let _tb = Testbed::boot();
        let last = max_mfn() - 1;
        m2p_set(Mfn(last), Pfn(42));
        assert_eq!(m2p_get(Mfn(last)), Pfn(42));
        m2p_set(Mfn(max_mfn()), Pfn(7));
        assert_eq!(m2p_get(Mfn(max_mfn())), INVALID_PFN);
        // dom0's frames map back to its PFNs: each of 0..DOM0_PAGES exactly once.
        let mut pfns: Vec<Pfn> = _tb.st(|st| {
            let ft = crate::mm::page_types::FrameTable::new(st.frames);
            (0..last)
                .filter(|&m| ft.owner(Mfn(m)) == guest_abi::types::DomId::DOM0)
                .map(|m| m2p_get(Mfn(m)))
                .filter(|&p| p != INVALID_PFN)
                .collect()
        });
        pfns.sort_unstable();
        assert_eq!(
            pfns,
            (0..crate::testbed::DOM0_PAGES).map(Pfn).collect::<Vec<_>>()
        );
    }
}
