//! Managing our own address space through the PV MMU hypercalls only (`mmu_update`,
//! `update_va_mapping`, `mmuext_op`): never a PTE write or a `mov cr3`.
//!
//! Page tables are read through the builder's read-only mapping of the initial region;
//! spare pages at its end serve as scratch virtual addresses, and frames beyond it (which
//! nothing else uses) as fresh memory for new tables and data.

pub mod demo;

use crate::entry::VIRT_BASE;
use crate::pagetable::{self, table_index, PAGE_SIZE, PTE_ADDR_MASK, PTE_KERNEL_RW};
use crate::pagetable::{PTE_ACCESSED, PTE_PRESENT, PTE_USER};
use core::cell::Cell;
use guest_abi::errno::Errno;
use guest_abi::guest;
use guest_abi::mmu::{MmuUpdate, MmuextOp, UvmfFlags};
use guest_abi::start_info::StartInfo;
use guest_abi::types::DomId;

/// Read-only kernel data.
pub const PTE_KERNEL_RO: u64 = PTE_PRESENT | PTE_USER | PTE_ACCESSED;
/// Flags of a page-table entry above L1.
pub const PTE_TABLE: u64 = PTE_KERNEL_RW;
/// First spare page (counted back from the region's end) this module's users take;
/// the ones before it belong to other self-tests (grant tables, dom0's window).
const FIRST_SPARE: u64 = 64;

/// Our address space.
pub struct Space {
    /// End of the initial region.
    pub region_end: u64,
    l4_va: u64,
    mfn_list: u64,
    nr_pages: u64,
    next_pfn: Cell<u64>,
    /// The shared_info machine address.
    pub shared_info: u64,
}

impl Space {
    /// Our address space as the builder left it.
    pub fn new(si: &StartInfo) -> Space {
        let region_end = pagetable::initial_region_end(si.pt_base, si.nr_pt_frames);
        Space {
            region_end,
            l4_va: si.pt_base,
            mfn_list: si.mfn_list,
            nr_pages: si.nr_pages,
            // Past the frames dom0's heap took, if it grew (`heap::grow`).
            next_pfn: Cell::new(
                ((region_end - VIRT_BASE) / PAGE_SIZE).max(crate::heap::first_free_pfn()),
            ),
            shared_info: si.shared_info,
        }
    }

    /// Scratch virtual page `n` (0-based) in the region's padding.
    pub fn spare(&self, n: u64) -> u64 {
        self.region_end - (FIRST_SPARE + n + 1) * PAGE_SIZE
    }

    /// A frame of ours that nothing maps or uses (beyond the initial region).
    pub fn alloc_frame(&self) -> Option<u64> {
        let pfn = self.next_pfn.get();
        if pfn >= self.nr_pages {
            return None;
        }
        self.next_pfn.set(pfn + 1);
        Some(self.pfn_to_mfn(pfn))
    }

    /// MFN of our pseudo-physical frame `pfn` (the builder's p2m list).
    pub fn pfn_to_mfn(&self, pfn: u64) -> u64 {
        // SAFETY: mfn_list maps nr_pages u64s in the initial region; pfn < nr_pages.
        unsafe { core::ptr::read_volatile((self.mfn_list as *const u64).add(pfn as usize)) }
    }

    fn table_va(&self, mfn: u64) -> Result<u64, Errno> {
        // SAFETY: the M2P is mapped read-only for every guest; mfn comes from our tables.
        let pfn = unsafe {
            core::ptr::read_volatile((pagetable::M2P_VIRT_START + mfn * 8) as *const u64)
        };
        let va = VIRT_BASE.wrapping_add(pfn.wrapping_mul(PAGE_SIZE));
        if pfn >= (self.region_end - VIRT_BASE) / PAGE_SIZE {
            return Err(Errno::EFAULT);
        }
        Ok(va)
    }

    /// Our number of pages.
    pub fn nr_pages(&self) -> u64 {
        self.nr_pages
    }

    /// The lowest and highest machine frame of our memory (from the builder's p2m list).
    pub fn mfn_range(&self) -> (u64, u64) {
        (0..self.nr_pages)
            .map(|pfn| self.pfn_to_mfn(pfn))
            .fold((u64::MAX, 0), |(lo, hi), m| (lo.min(m), hi.max(m)))
    }

    /// The L4's machine frame.
    pub fn l4_mfn(&self) -> u64 {
        self.pfn_to_mfn((self.l4_va - VIRT_BASE) / PAGE_SIZE)
    }

    /// Machine address of the level-`level` entry that maps `va`.
    pub fn entry_maddr(&self, va: u64, level: u8) -> Result<u64, Errno> {
        let mut table = self.l4_mfn();
        for lvl in (level..=4).rev() {
            let maddr = (table << 12) + table_index(va, lvl) * 8;
            if lvl == level {
                return Ok(maddr);
            }
            let e = self.read_entry(maddr)?;
            if e & PTE_PRESENT == 0 {
                return Err(Errno::ENOENT);
            }
            table = (e & PTE_ADDR_MASK) >> 12;
        }
        Err(Errno::EINVAL)
    }

    /// Where we see the level-`level` entry that maps `va`: its address in our read-only
    /// mapping of the table (a table inside the initial region).
    pub fn entry_va(&self, va: u64, level: u8) -> Result<u64, Errno> {
        let maddr = self.entry_maddr(va, level)?;
        Ok(self.table_va(maddr >> 12)? + (maddr & 0xFFF))
    }

    /// The entry at machine address `maddr` (a table inside the initial region).
    pub fn read_entry(&self, maddr: u64) -> Result<u64, Errno> {
        let va = self.table_va(maddr >> 12)? + (maddr & 0xFFF);
        // SAFETY: a table frame mapped read-only in the initial region.
        Ok(unsafe { core::ptr::read_volatile(va as *const u64) })
    }

    /// The frame mapped at `va`.
    pub fn mfn_of(&self, va: u64) -> Result<u64, Errno> {
        let e = self.read_entry(self.entry_maddr(va, 1)?)?;
        Ok((e & PTE_ADDR_MASK) >> 12)
    }

    /// Map `mfn` at `va` with `flags` (`update_va_mapping`); `mfn` 0 unmaps.
    pub fn map(&self, va: u64, mfn: u64, flags: u64) -> Result<(), Errno> {
        let pte = if mfn == 0 { 0 } else { (mfn << 12) | flags };
        // SAFETY: callers only remap scratch pages nothing else in this kernel uses.
        unsafe { guest::update_va_mapping(va, pte, UvmfFlags::INVLPG) }
    }

    /// One `mmu_update` request.
    pub fn update(&self, ptr: u64, val: u64) -> Result<(), Errno> {
        // SAFETY: as `map`: the tests only change entries for scratch addresses.
        unsafe { guest::mmu_update(&[MmuUpdate { ptr, val }], DomId::SELF) }
            .map(|_| ())
            .map_err(|(_, e)| e)
    }

    /// One `mmuext_op`.
    pub fn ext(&self, cmd: u32, arg1: u64, arg2: u64) -> Result<(), Errno> {
        // SAFETY: as `map`.
        unsafe { guest::mmuext_op(&[MmuextOp::new(cmd, arg1, arg2)], DomId::SELF) }
            .map(|_| ())
            .map_err(|(_, e)| e)
    }

    /// Fill frame `mfn` through a temporary writable mapping at scratch page `scratch`.
    pub fn fill(
        &self,
        mfn: u64,
        scratch: u64,
        f: impl FnOnce(&mut [u64; 512]),
    ) -> Result<(), Errno> {
        let va = self.spare(scratch);
        self.map(va, mfn, PTE_KERNEL_RW)?;
        // SAFETY: `va` now maps `mfn` writable, and nothing else uses this scratch page.
        f(unsafe { &mut *(va as *mut [u64; 512]) });
        self.map(va, 0, 0)
    }
}

/// Read a word at `va` (volatile: mappings change under us).
pub fn peek(va: u64) -> u64 {
    // SAFETY: callers read addresses they mapped, or read inside `traps::catch`.
    unsafe { core::ptr::read_volatile(va as *const u64) }
}

/// Write a word at `va`.
pub fn poke(va: u64, v: u64) {
    // SAFETY: callers write addresses they mapped writable, or inside `traps::catch`.
    unsafe { core::ptr::write_volatile(va as *mut u64, v) }
}
