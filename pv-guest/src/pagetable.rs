//! Walking our own (read-only mapped) page tables to find machine addresses of PTEs.
//!
//! A PV guest's page-table entries hold machine frame numbers. To read a lower-level table we
//! translate its MFN to our pseudo-physical frame number through the read-only M2P table the
//! hypervisor maps at [`M2P_VIRT_START`], and then to a virtual address in the initial mapping
//! (`virt_base + pfn * 4096`), where the builder maps every page-table frame read-only.
//!
//! The logic is pure: memory is read through [`Memory`], so host tests use a fake.

use core::fmt;

/// Where the hypervisor maps the read-only machine-to-phys table (one `u64` PFN per MFN).
pub use guest_abi::arch::MACH2PHYS_VIRT_START as M2P_VIRT_START;
/// Size of a page.
pub const PAGE_SIZE: u64 = 4096;

/// Present (x86 PTE bits follow).
pub const PTE_PRESENT: u64 = 1 << 0;
/// Writable.
pub const PTE_RW: u64 = 1 << 1;
/// User-accessible (a PV kernel runs in ring 3, so its mappings are user mappings).
pub const PTE_USER: u64 = 1 << 2;
/// Accessed.
pub const PTE_ACCESSED: u64 = 1 << 5;
/// Dirty.
pub const PTE_DIRTY: u64 = 1 << 6;
/// Superpage (at L2/L3).
pub const PTE_PSE: u64 = 1 << 7;
/// The frame-address bits of a PTE.
pub const PTE_ADDR_MASK: u64 = 0x000F_FFFF_FFFF_F000;

/// The flags of a kernel read-write data mapping.
pub const PTE_KERNEL_RW: u64 = PTE_PRESENT | PTE_RW | PTE_USER | PTE_ACCESSED | PTE_DIRTY;

/// The size and alignment of the initial region's end (Xen rounds it up to 4 MiB).
pub const REGION_ALIGN: u64 = 4 << 20;
/// The minimum padding the builder leaves after the last element of the initial region.
pub const REGION_MIN_PADDING: u64 = 512 << 10;

/// Reads our own virtual memory.
pub trait Memory {
    /// The `u64` at virtual address `va` (8-byte aligned, known to be mapped).
    fn read_u64(&self, va: u64) -> u64;
}

/// Why a walk failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WalkError {
    /// The entry at `level` (4..=2) mapping `va` is not present.
    NotPresent { level: u8, va: u64 },
    /// The entry at `level` (3 or 2) is a superpage, so there is no L1 entry.
    Superpage { level: u8, va: u64 },
    /// A table's frame (`mfn`, pseudo-physical `pfn`) lies outside the initial mapping.
    TableNotMapped { mfn: u64, pfn: u64 },
}

impl fmt::Display for WalkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            WalkError::NotPresent { level, va } => {
                write!(f, "L{level} entry for {va:#x} not present")
            }
            WalkError::Superpage { level, va } => write!(f, "L{level} superpage maps {va:#x}"),
            WalkError::TableNotMapped { mfn, pfn } => write!(
                f,
                "page table mfn {mfn:#x} (pfn {pfn:#x}) is outside the initial mapping"
            ),
        }
    }
}

/// Index of `va` in its level-`level` table (1..=4).
pub const fn table_index(va: u64, level: u8) -> u64 {
    (va >> (12 + 9 * (level as u32 - 1))) & 511
}

/// The end of the initial region the builder mapped: the boot stack page follows the
/// page-table frames; the end is rounded up to 4 MiB with at least 512 KiB of padding.
pub const fn initial_region_end(pt_base: u64, nr_pt_frames: u64) -> u64 {
    let stack_end = pt_base + (nr_pt_frames + 1) * PAGE_SIZE;
    (stack_end + REGION_MIN_PADDING).next_multiple_of(REGION_ALIGN)
}

/// The largest heap dom0 maps beyond its initial region (128 L2 slots).
pub const HEAP_MAX: u64 = 256 << 20;
/// The boot heap's size (a static array), the least a grown heap has.
pub const HEAP_MIN: u64 = 4 << 20;

/// dom0's heap size for `nr_pages` of memory, `spare` of them beyond the initial region: a
/// quarter of its memory, at least [`HEAP_MIN`], at most [`HEAP_MAX`], in whole 2 MiB L1
/// tables, and leaving a quarter of the spare frames to everything else.
pub const fn heap_size_for(nr_pages: u64, spare: u64) -> u64 {
    let quarter = nr_pages * PAGE_SIZE / 4;
    let want = if quarter < HEAP_MIN {
        HEAP_MIN
    } else {
        quarter
    };
    let want = if want > HEAP_MAX { HEAP_MAX } else { want };
    // Each 2 MiB needs 512 data frames and one L1.
    let fits = spare * 3 / 4 / 513 * (2 << 20);
    let size = if want < fits { want } else { fits };
    size / (2 << 20) * (2 << 20)
}

/// Our own page tables, as the builder set them up.
pub struct Walker<'m, M: Memory> {
    mem: &'m M,
    /// VA of the L4 (`start_info.pt_base`).
    pub l4_va: u64,
    /// Start of the initial mapping (VIRT_BASE; pfn 0).
    pub virt_base: u64,
    /// End of the initial mapping (exclusive).
    pub region_end: u64,
    /// Base of the M2P table.
    pub m2p_base: u64,
}

impl<'m, M: Memory> Walker<'m, M> {
    /// A walker over tables rooted at `l4_va`, with the initial mapping `virt_base..region_end`.
    pub fn new(mem: &'m M, l4_va: u64, virt_base: u64, region_end: u64) -> Self {
        Walker {
            mem,
            l4_va,
            virt_base,
            region_end,
            m2p_base: M2P_VIRT_START,
        }
    }

    /// Our pseudo-physical frame number of machine frame `mfn` (from the M2P).
    pub fn mfn_to_pfn(&self, mfn: u64) -> u64 {
        self.mem.read_u64(self.m2p_base + mfn * 8)
    }

    /// The virtual address at which the table in frame `mfn` is mapped.
    pub fn table_va(&self, mfn: u64) -> Result<u64, WalkError> {
        let pfn = self.mfn_to_pfn(mfn);
        let size = (self.region_end - self.virt_base) / PAGE_SIZE;
        if pfn >= size {
            return Err(WalkError::TableNotMapped { mfn, pfn });
        }
        Ok(self.virt_base + pfn * PAGE_SIZE)
    }

    /// The machine address of the L1 entry that maps `va`, walking L4 → L3 → L2.
    pub fn l1e_maddr(&self, va: u64) -> Result<u64, WalkError> {
        let mut table = self.l4_va;
        for level in [4u8, 3, 2] {
            let entry = self.mem.read_u64(table + table_index(va, level) * 8);
            if entry & PTE_PRESENT == 0 {
                return Err(WalkError::NotPresent { level, va });
            }
            if level != 4 && entry & PTE_PSE != 0 {
                return Err(WalkError::Superpage { level, va });
            }
            let mfn = (entry & PTE_ADDR_MASK) >> 12;
            if level == 2 {
                return Ok((mfn << 12) + table_index(va, 1) * 8);
            }
            table = self.table_va(mfn)?;
        }
        unreachable!("the loop returns at level 2")
    }

    /// The current L1 entry mapping `va` (read through the read-only table mapping).
    pub fn l1e(&self, va: u64) -> Result<u64, WalkError> {
        let maddr = self.l1e_maddr(va)?;
        let table = self.table_va(maddr >> 12)?;
        Ok(self.mem.read_u64(table + (maddr & (PAGE_SIZE - 1))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    const VB: u64 = 0xFFFF_FFFF_8000_0000;

    /// A fake address space: pages by VA, plus an M2P.
    #[derive(Default)]
    struct Fake {
        words: HashMap<u64, u64>,
    }
    impl Memory for Fake {
        fn read_u64(&self, va: u64) -> u64 {
            assert_eq!(va % 8, 0);
            *self
                .words
                .get(&va)
                .unwrap_or_else(|| panic!("unmapped read at {va:#x}"))
        }
    }
    impl Fake {
        fn set(&mut self, va: u64, v: u64) {
            self.words.insert(va, v);
        }
        /// Our pfn `pfn` lives in machine frame `mfn`.
        fn m2p(&mut self, mfn: u64, pfn: u64) {
            self.set(M2P_VIRT_START + mfn * 8, pfn);
        }
    }

    #[test]
    fn indices() {
        assert_eq!(table_index(VB, 4), 511);
        assert_eq!(table_index(VB, 3), 510);
        assert_eq!(table_index(VB, 2), 0);
        assert_eq!(table_index(VB + 0x3F_F000, 1), 511);
        assert_eq!(table_index(VB + 0x3F_F000, 2), 1);
    }

    #[test]
    fn heap_sizes() {
        // dom0's default 64 MiB: 16 MiB, with ~48 MiB of frames past the region.
        assert_eq!(heap_size_for(16384, 12288), 16 << 20);
        // Small memory: at least 4 MiB.
        assert_eq!(heap_size_for(4096, 3000), 4 << 20);
        // Large memory: capped.
        assert_eq!(heap_size_for(1 << 20, 1 << 20), 256 << 20);
        // Few spare frames: what fits.
        assert_eq!(heap_size_for(16384, 2000), 4 << 20);
    }

    #[test]
    fn region_end() {
        // Tables at 1 MiB + 4 frames, stack page after: ends at 1 MiB + 20 KiB, + 512 KiB → 4 MiB.
        assert_eq!(initial_region_end(VB + 0x10_0000, 4), VB + 0x40_0000);
        // Stack ending at 3.6 MiB: 3.6 + 0.5 > 4 → 8 MiB.
        assert_eq!(initial_region_end(VB + 0x39_8000, 2), VB + 0x80_0000);
        // Exactly 3.5 MiB: 3.5 + 0.5 = 4 → 4 MiB.
        assert_eq!(initial_region_end(VB + 0x37_E000, 1), VB + 0x40_0000);
    }

    /// Tables: L4 at pfn 10 (mfn 0x110), L3 pfn 11 (mfn 0x111), L2 pfn 12 (mfn 0x112),
    /// L1s pfn 13 (mfn 0x113, first 2 MiB) and 14 (mfn 0x114, second 2 MiB).
    fn fake() -> Fake {
        let mut m = Fake::default();
        for (pfn, mfn) in [
            (10u64, 0x110u64),
            (11, 0x111),
            (12, 0x112),
            (13, 0x113),
            (14, 0x114),
        ] {
            m.m2p(mfn, pfn);
        }
        let va = |pfn: u64| VB + pfn * PAGE_SIZE;
        m.set(va(10) + 511 * 8, (0x111 << 12) | PTE_PRESENT | PTE_USER);
        m.set(
            va(11) + 510 * 8,
            (0x112 << 12) | PTE_PRESENT | PTE_USER | PTE_ACCESSED,
        );
        m.set(va(12), (0x113 << 12) | PTE_PRESENT | PTE_USER);
        m.set(
            va(12) + 8,
            (0x114 << 12) | PTE_PRESENT | PTE_USER | (1 << 63),
        );
        m.set(va(12) + 16, 0);
        m.set(va(12) + 24, (0x500 << 12) | PTE_PRESENT | PTE_PSE);
        m.set(va(14) + 511 * 8, (0x777 << 12) | PTE_KERNEL_RW);
        m
    }

    #[test]
    fn walk_finds_l1_entry_machine_address() {
        let m = fake();
        let w = Walker::new(&m, VB + 10 * PAGE_SIZE, VB, VB + 0x40_0000);
        assert_eq!(w.l1e_maddr(VB + 0x1234).unwrap(), (0x113 << 12) + 8);
        let last = VB + 0x40_0000 - PAGE_SIZE;
        assert_eq!(w.l1e_maddr(last).unwrap(), (0x114 << 12) + 511 * 8);
        assert_eq!(w.l1e(last).unwrap(), (0x777 << 12) | PTE_KERNEL_RW);
        assert_eq!(w.mfn_to_pfn(0x114), 14);
    }

    #[test]
    fn walk_errors() {
        let m = fake();
        let w = Walker::new(&m, VB + 10 * PAGE_SIZE, VB, VB + 0x40_0000);
        assert_eq!(
            w.l1e_maddr(VB + 0x40_0000),
            Err(WalkError::NotPresent {
                level: 2,
                va: VB + 0x40_0000
            })
        );
        assert_eq!(
            w.l1e_maddr(VB + 0x60_0000),
            Err(WalkError::Superpage {
                level: 2,
                va: VB + 0x60_0000
            })
        );
        // A table frame beyond the initial mapping is refused, not dereferenced.
        let small = Walker::new(&m, VB + 10 * PAGE_SIZE, VB, VB + 12 * PAGE_SIZE);
        assert_eq!(
            small.l1e_maddr(VB),
            Err(WalkError::TableNotMapped {
                mfn: 0x112,
                pfn: 12
            })
        );
    }
}
