//! A vCPU's guest descriptor tables as the hypervisor tracks them: the machine frames of its
//! GDT (below Xen's reserved entries) and LDT. Loading them is the backend's (`gdt`).

use guest_abi::types::Mfn;

/// Guest GDT pages: the first 14 pages (entries below 0xe000), as in Xen.
pub const GUEST_GDT_PAGES: usize = 14;
/// Guest GDT entries at most (`FIRST_RESERVED_GDT_ENTRY`).
pub const GUEST_GDT_ENTRIES: u64 = (GUEST_GDT_PAGES * 512) as u64;
/// LDT entries at most.
pub const LDT_ENTRIES: u64 = 8192;
/// LDT pages at most.
pub const LDT_PAGES: usize = 16;

/// A vCPU's descriptor tables: the machine frames of its GDT (typed seg_desc) and LDT.
#[derive(Clone, Copy, Default)]
pub struct GuestDescTables {
    /// GDT frames, `gdt_nr` of them used.
    pub gdt: [Mfn; GUEST_GDT_PAGES],
    /// Used GDT frames.
    pub gdt_nr: usize,
    /// GDT entries the guest declared.
    pub gdt_ents: u64,
    /// LDT frames, `ldt_nr` of them used.
    pub ldt: [Mfn; LDT_PAGES],
    /// Used LDT frames.
    pub ldt_nr: usize,
    /// LDT entries (0 = no LDT).
    pub ldt_ents: u64,
    /// The LDT's guest virtual address.
    pub ldt_base: u64,
}
