//! The hypervisor's own (idle) page tables, built at boot from allocated frames:
//! - the image at `0xFFFF820000000000 + phys` (slot 260): text RX, rodata R+NX, data RW+NX,
//!   with an unmapped guard page at the bottom of the hypervisor stack;
//! - the direct map of all RAM at `0xFFFF830000000000 + phys` (slot 262): 2 MiB, RW, NX,
//!   covering the memory map's RAM ranges only (not the holes between them, where devices live);
//! - the M2P at `0xFFFF800000000000` (slot 256): u64 per MFN, user-readable, read-only
//!   (the hypervisor writes it through the direct map);
//! - an uncached MMIO window at `0xFFFF828000000000` (slot 261) for the LAPIC and the like;
//! - the hypervisor heap at `0xFFFF840000000000` (slot 264), growing upwards a page at a time
//!   (`crate::heap`); its L3 exists from boot, so every address space sees the heap's growth.

use crate::arch::page_tables::{self, index, map_2m, next, table};
use crate::boot_info::BootInfo;
use crate::phys::{directmap, frames, image_virt_to_phys};
use core::sync::atomic::{AtomicU64, Ordering};
use guest_abi::types::{Mfn, PAGE_SIZE};

pub use crate::arch::page_tables::{
    m2p_get, m2p_set, map_4k, max_mfn, MapError, ADDR, NX, P, PCD, PS, PWT, RW, US,
};

/// Base of the read-only M2P table.
pub const M2P_BASE: u64 = guest_abi::arch::MACH2PHYS_VIRT_START;
/// Base of the MMIO window.
pub const MMIO_BASE: u64 = 0xFFFF_8280_0000_0000;
/// Base of the heap region (one L4 slot: 512 GiB of address space).
pub const HEAP_BASE: u64 = 0xFFFF_8400_0000_0000;
/// Size of the heap region.
pub const HEAP_REGION: u64 = 1 << 39;
/// The hole's L4 slots.
pub const HOLE_SLOTS: core::ops::Range<usize> = 256..272;

static IDLE_L4: AtomicU64 = AtomicU64::new(0);
static MMIO_NEXT: AtomicU64 = AtomicU64::new(MMIO_BASE);

extern "C" {
    static __image_start: u8;
    static __text_end: u8;
    static __rodata_end: u8;
    static __image_end: u8;
    static hv_stack_bottom: u8;
}

/// NX if the CPU supports it, else 0.
pub fn nx() -> u64 {
    if super::boot::nx_supported() {
        NX
    } else {
        0
    }
}

fn sym(s: *const u8) -> u64 {
    s as u64
}

/// Builds the idle page tables and switches to them.
pub fn init(info: &BootInfo) -> Result<(), MapError> {
    let l4 = frames::alloc().ok_or(MapError::NoMemory)?;
    let (start, text_end, ro_end, end, guard) = (
        sym(&raw const __image_start),
        sym(&raw const __text_end),
        sym(&raw const __rodata_end),
        sym(&raw const __image_end),
        sym(&raw const hv_stack_bottom),
    );
    let mut va = start;
    while va < end {
        let flags = if va < text_end {
            0
        } else if va < ro_end {
            nx()
        } else {
            RW | nx()
        };
        let ap_guard = (1..crate::cpus::MAX_CPUS).any(|c| super::stacks::stack_guard(c) == va);
        if va != guard && !ap_guard {
            map_4k(l4, va, image_virt_to_phys(va), flags)?;
        }
        va += 4096;
    }
    let ram = || info.memory.iter().filter(|r| r.is_available());
    for r in ram() {
        let mut pa = r.start & !((2 << 20) - 1);
        while pa < r.end {
            map_2m(l4, directmap::DIRECTMAP_BASE + pa, pa, RW | nx())?;
            pa += 2 << 20;
        }
    }
    // The heap's L3: present from boot so that the L4 slot every guest copies never changes.
    {
        // SAFETY: the idle L4, being built.
        let t = unsafe { table(l4) };
        next(&mut t[index(HEAP_BASE, 4)], false)?;
    }
    let max_mfn = ram().map(|r| r.end / 4096).max().unwrap_or(0);
    let (m2p, m2p_frames) = page_tables::init_m2p(max_mfn)?;
    for i in 0..m2p_frames {
        map_4k(
            l4,
            M2P_BASE + i * PAGE_SIZE as u64,
            Mfn(m2p.0 + i).addr(),
            US | nx(),
        )?;
    }
    IDLE_L4.store(l4.0, Ordering::Relaxed);
    super::cpu::write_cr3(l4.addr());
    Ok(())
}

/// The MFN of the idle L4.
pub fn idle_l4_mfn() -> Mfn {
    Mfn(IDLE_L4.load(Ordering::Relaxed))
}

/// The idle L4's entries for slots 256..272, to copy into every guest L4.
pub fn hypervisor_l4_slots() -> [u64; 16] {
    // SAFETY: the idle L4's hole slots are only written during `init`.
    let t = unsafe { table(idle_l4_mfn()) };
    let mut out = [0; 16];
    out.copy_from_slice(&t[HOLE_SLOTS]);
    out
}

/// Copies the hole slots of the idle L4 into the L4 in frame `l4_mfn`.
pub fn copy_hypervisor_slots(l4_mfn: Mfn) {
    let slots = hypervisor_l4_slots();
    // SAFETY: the caller owns the L4 frame being set up.
    let t = unsafe { table(l4_mfn) };
    t[HOLE_SLOTS].copy_from_slice(&slots);
}

/// Maps `size` bytes of MMIO at `pa` uncached into the MMIO window (idle tables, so visible
/// in every address space) and returns the address of `pa`.
pub fn map_mmio(pa: u64, size: u64) -> Result<*mut u8, MapError> {
    let first = pa & !0xFFF;
    let pages = (pa + size - first).div_ceil(4096);
    let va = MMIO_NEXT.fetch_add(pages * 4096, Ordering::Relaxed);
    for i in 0..pages {
        map_4k(
            idle_l4_mfn(),
            va + i * 4096,
            first + i * 4096,
            RW | PCD | PWT | nx(),
        )?;
    }
    Ok((va + (pa - first)) as *mut u8)
}

/// Maps machine frame `mfn` read-write at `va` in the heap region (see [`HEAP_BASE`]).
pub fn map_heap_page(va: u64, mfn: Mfn) -> Result<(), MapError> {
    if !(HEAP_BASE..HEAP_BASE + HEAP_REGION).contains(&va) {
        return Err(MapError::NoMemory);
    }
    map_4k(idle_l4_mfn(), va, mfn.addr(), RW | nx())
}

/// Invalidates the TLB entry of `va`.
pub fn invlpg(va: u64) {
    // SAFETY: invlpg only drops a TLB entry.
    unsafe { core::arch::asm!("invlpg [{}]", in(reg) va, options(nostack)) }
}
