//! Where each part of the initial region goes (pure arithmetic, no memory access).

use super::{BuildError, PAGE_SIZE};
use crate::elf::ElfImage;

/// The hypervisor's hole in the upper half (L4 slots 256–271).
const HOLE_START: u64 = guest_abi::arch::HYPERVISOR_VIRT_START;
const HOLE_END: u64 = guest_abi::arch::HYPERVISOR_VIRT_END;
/// End of the canonical lower half.
const LOWER_END: u64 = 0x0000_8000_0000_0000;
const MIB4: u64 = 4 << 20;
const PADDING: u64 = 512 << 10;

/// Shifts of the VA span covered by one table: L4 (the whole space), L3, L2, L1.
pub(super) const LEVEL_SHIFTS: [u32; 4] = [48, 39, 30, 21];

/// The initial region's layout, in PFNs (VA = virt_base + pfn·4096).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    pub virt_base: u64,
    /// First PFN after the kernel.
    pub kernel_end_pfn: u64,
    pub initrd_pfn: u64,
    pub p2m_pfn: u64,
    pub start_info_pfn: u64,
    pub store_pfn: Option<u64>,
    pub console_pfn: Option<u64>,
    /// The L4; the other tables follow it.
    pub pt_pfn: u64,
    pub nr_pt_frames: u64,
    /// Tables per level: L4 (1), L3, L2, L1 (in that order from `pt_pfn`).
    pub tables: [u64; 4],
    pub stack_pfn: u64,
    /// Pages mapped (region end = virt_base + region_pages·4096).
    pub region_pages: u64,
}

fn pages(bytes: u64) -> u64 {
    bytes.div_ceil(PAGE_SIZE)
}

/// Tables per level needed to map `[start, end)` (non-empty, one canonical half).
fn tables_for(start: u64, end: u64) -> [u64; 4] {
    LEVEL_SHIFTS.map(|s| ((end - 1) >> s) - (start >> s) + 1)
}

impl Layout {
    /// Computes the layout for `img` with an initrd of `initrd_len` bytes in `nr_pages`.
    pub fn compute(
        img: &ElfImage<'_>,
        initrd_len: u64,
        nr_pages: u64,
        store: bool,
        console: bool,
    ) -> Result<Self, BuildError> {
        let vb = img.notes.virt_base;
        // The parser guarantees virt_base <= kstart < kend and page alignment of virt_base.
        let kernel_end_pfn = pages(img.virt_kend - vb);
        let mut next = kernel_end_pfn;
        let mut take = |n: u64| -> Result<u64, BuildError> {
            let at = next;
            next = next
                .checked_add(n)
                .ok_or(BuildError::Layout("the region is too large"))?;
            Ok(at)
        };
        let initrd_pfn = take(pages(initrd_len))?;
        let p2m_pfn = take(pages(nr_pages.saturating_mul(8)))?;
        let start_info_pfn = take(1)?;
        let store_pfn = if store { Some(take(1)?) } else { None };
        let console_pfn = if console { Some(take(1)?) } else { None };
        let pt_pfn = next;
        // As many tables as mapping the region (tables and stack included) needs.
        let mut nr_pt = 1u64;
        let (tables, stack_pfn, region_pages) = loop {
            let too_large = BuildError::Layout("the region is too large");
            let stack_pfn = pt_pfn.checked_add(nr_pt).ok_or(too_large)?;
            let used = stack_pfn
                .checked_add(1)
                .and_then(|p| p.checked_mul(PAGE_SIZE))
                .ok_or(too_large)?;
            let end_off = used
                .checked_add(PADDING)
                .and_then(|v| v.checked_next_multiple_of(MIB4))
                .ok_or(BuildError::Layout("the region is too large"))?;
            let end = vb.checked_add(end_off).ok_or(BuildError::Layout(
                "the region wraps around the address space",
            ))?;
            check_canonical(vb, end)?;
            let t = tables_for(vb, end);
            let needed: u64 = t.iter().sum();
            if needed <= nr_pt {
                break (t, stack_pfn, end_off / PAGE_SIZE);
            }
            nr_pt = needed;
        };
        if region_pages > nr_pages {
            return Err(BuildError::TooSmall {
                needed: region_pages,
                have: nr_pages,
            });
        }
        Ok(Self {
            virt_base: vb,
            kernel_end_pfn,
            initrd_pfn,
            p2m_pfn,
            start_info_pfn,
            store_pfn,
            console_pfn,
            pt_pfn,
            nr_pt_frames: nr_pt,
            tables,
            stack_pfn,
            region_pages,
        })
    }

    /// The VA of `pfn` (`pfn <= region_pages`: [`Layout::compute`] checked that the whole
    /// region's VAs fit).
    pub fn va(&self, pfn: u64) -> u64 {
        self.virt_base + pfn * PAGE_SIZE
    }

    /// First PFN of the tables of `level` (0 = L4, 1 = L3, 2 = L2, 3 = L1).
    pub fn level_first_pfn(&self, level: usize) -> u64 {
        self.pt_pfn + self.tables[..level].iter().sum::<u64>()
    }

    /// Is `pfn` one of the page-table frames?
    pub fn is_pt(&self, pfn: u64) -> bool {
        pfn >= self.pt_pfn && pfn < self.pt_pfn + self.nr_pt_frames
    }
}

/// `[start, end)` must lie in one canonical half and outside the hypervisor's hole.
fn check_canonical(start: u64, end: u64) -> Result<(), BuildError> {
    let last = end - 1;
    let lower = last < LOWER_END;
    let upper = start >= HOLE_START;
    if !lower && !upper {
        return Err(BuildError::Layout(
            "the region is not in canonical address space",
        ));
    }
    if upper && start < HOLE_END {
        return Err(BuildError::Layout(
            "the region overlaps the hypervisor's address space",
        ));
    }
    Ok(())
}
