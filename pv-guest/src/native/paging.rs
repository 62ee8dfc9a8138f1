//! The native kernel's own page tables, written with plain stores (no hypercall validates
//! them): the low 64 MiB identity-mapped with 4 KiB pages (so the workloads' TLB and
//! page-walk costs are those of small pages, as in the PV guest), and one scratch L1 at
//! 512 MiB that the page-table workload rewrites. Installed with `mov cr3`.

use super::cpu;
use super::layout::{self, entry, index, IDENTITY_L1S, KERNEL_TABLE, SCRATCH_VA};
use core::ptr::{addr_of, addr_of_mut};

/// One page-table page.
#[repr(C, align(4096))]
pub struct Table(pub [u64; 512]);

impl Table {
    /// An empty table.
    pub const fn new() -> Table {
        Table([0; 512])
    }
}

static mut PML4: Table = Table::new();
static mut PDPT: Table = Table::new();
static mut PD: Table = Table::new();
static mut L1S: [Table; IDENTITY_L1S] = [const { Table::new() }; IDENTITY_L1S];
static mut SCRATCH_L1: Table = Table::new();

/// Physical (= virtual) address of a static.
fn pa<T>(p: *const T) -> u64 {
    p as u64
}

/// Builds the tables and switches to them. Call once, at boot, before anything else maps.
pub fn init() {
    // SAFETY: boot is single-threaded and these statics are touched only here and (the
    // scratch L1, through its physical address) by the workloads afterwards; the identity
    // map covers the image, its stack and .bss, so the switch keeps everything in use mapped.
    unsafe {
        let l1s = &mut *addr_of_mut!(L1S);
        for (t, l1) in l1s.iter_mut().enumerate() {
            for (i, e) in l1.0.iter_mut().enumerate() {
                *e = layout::identity_pte(t, i);
            }
        }
        let pd = &mut *addr_of_mut!(PD);
        for (t, l1) in l1s.iter().enumerate() {
            pd.0[t] = entry(pa(l1), KERNEL_TABLE);
        }
        pd.0[index(SCRATCH_VA, 2)] = entry(pa(&raw const SCRATCH_L1), KERNEL_TABLE);
        (*addr_of_mut!(PDPT)).0[0] = entry(pa(&raw const PD), KERNEL_TABLE);
        (*addr_of_mut!(PML4)).0[0] = entry(pa(&raw const PDPT), KERNEL_TABLE);
        cpu::write_cr3(pa(&raw const PML4));
    }
}

/// The kernel's L4 entry 0 (the kernel half every user address space shares).
pub fn kernel_l4e() -> u64 {
    // SAFETY: written once by `init`, read-only afterwards.
    unsafe { (*addr_of!(PML4)).0[0] }
}

/// The kernel's L4 (physical address).
pub fn kernel_pml4() -> u64 {
    pa(&raw const PML4)
}

/// Physical address of the scratch L1 table.
pub fn scratch_l1() -> u64 {
    pa(&raw const SCRATCH_L1)
}
