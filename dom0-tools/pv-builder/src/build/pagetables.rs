//! Writing the initial page tables: L4, L3s, L2s, L1s, mapping the region with 4 KiB pages.

use super::layout::{Layout, LEVEL_SHIFTS};
use super::{BuildError, GuestMemory, PAGE_SIZE};

pub(super) const PTE_PRESENT: u64 = 1 << 0;
pub(super) const PTE_RW: u64 = 1 << 1;
pub(super) const PTE_USER: u64 = 1 << 2;
pub(super) const PTE_ACCESSED: u64 = 1 << 5;
pub(super) const PTE_DIRTY: u64 = 1 << 6;
/// Data pages and non-leaf entries: present, writable, user, accessed, dirty.
pub(super) const PTE_DATA: u64 = PTE_PRESENT | PTE_RW | PTE_USER | PTE_ACCESSED | PTE_DIRTY;
/// Page-table frames: the same without RW.
pub(super) const PTE_PT: u64 = PTE_DATA & !PTE_RW;

/// Writes every table of `l`, one page at a time through `page`.
pub(super) fn write<M: GuestMemory + ?Sized>(
    mem: &mut M,
    l: &Layout,
    page: &mut [u8; PAGE_SIZE as usize],
) -> Result<(), BuildError> {
    let start = l.virt_base;
    let end = l.va(l.region_pages);
    for (level, &shift) in LEVEL_SHIFTS.iter().enumerate() {
        // Each entry of a table at this level covers 2^child_shift bytes.
        let child_shift = shift - 9;
        let first_unit = start >> child_shift;
        let last_unit = (end - 1) >> child_shift;
        for k in 0..l.tables[level] {
            page.fill(0);
            // The units of this table: those of its span that fall in the region.
            let table_first = ((start >> shift) + k) << (shift - child_shift);
            let from = table_first.max(first_unit);
            let to = (table_first + 511).min(last_unit);
            for unit in from..=to {
                let child = unit - first_unit;
                let entry = if level == 3 {
                    // A leaf: child is the PFN.
                    let flags = if l.is_pt(child) { PTE_PT } else { PTE_DATA };
                    (mem.pfn_to_mfn(child) << 12) | flags
                } else {
                    let child_pfn = l.level_first_pfn(level + 1) + child;
                    (mem.pfn_to_mfn(child_pfn) << 12) | PTE_DATA
                };
                let slot = (unit & 511) as usize * 8;
                page[slot..slot + 8].copy_from_slice(&entry.to_le_bytes());
            }
            let pfn = l.level_first_pfn(level) + k;
            mem.write(pfn * PAGE_SIZE, &page[..])?;
        }
    }
    Ok(())
}
