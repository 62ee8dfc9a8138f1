//! The I/O APIC (at its default 0xFEC00000, where QEMU's microvm and PCs put it): the
//! hypervisor routes the interrupts it owns (COM1's receive interrupt, ISA IRQ 4) to the
//! boot CPU's LAPIC; every other input stays masked until a driver asks for it. A machine
//! whose I/O APIC does not answer (its version register reads all ones) has none: the
//! caller stays with polling.

use super::{lapic, paging};
use core::sync::atomic::{AtomicU64, AtomicU8, Ordering};

/// The I/O APIC's default physical address.
pub const DEFAULT_BASE: u64 = 0xFEC0_0000;
/// COM1's ISA IRQ (identity-mapped to GSI 4 on these machines).
pub const COM1_GSI: u32 = 4;

const IOREGSEL: usize = 0x00;
const IOWIN: usize = 0x10;
const REG_VER: u32 = 0x01;
const REDIR_BASE: u32 = 0x10;
const MASKED: u64 = 1 << 16;

static BASE: AtomicU64 = AtomicU64::new(0);
/// Redirection entries (0: no I/O APIC).
static ENTRIES: AtomicU8 = AtomicU8::new(0);

fn read(reg: u32) -> u32 {
    let b = BASE.load(Ordering::Relaxed) as *mut u8;
    // SAFETY: the I/O APIC's index and window registers, in the uncached page `init` mapped.
    unsafe {
        (b.wrapping_add(IOREGSEL) as *mut u32).write_volatile(reg);
        (b.wrapping_add(IOWIN) as *const u32).read_volatile()
    }
}

fn write(reg: u32, v: u32) {
    let b = BASE.load(Ordering::Relaxed) as *mut u8;
    // SAFETY: as `read`.
    unsafe {
        (b.wrapping_add(IOREGSEL) as *mut u32).write_volatile(reg);
        (b.wrapping_add(IOWIN) as *mut u32).write_volatile(v);
    }
}

fn write_entry(gsi: u32, v: u64) {
    // The high half (destination) first, so the entry is never live half-written.
    write(REDIR_BASE + 2 * gsi + 1, (v >> 32) as u32);
    write(REDIR_BASE + 2 * gsi, v as u32);
}

/// Maps the I/O APIC and masks every input; the number of inputs (0: none answered).
pub fn init() -> u8 {
    let Ok(va) = paging::map_mmio(DEFAULT_BASE, 4096) else {
        return 0;
    };
    BASE.store(va as u64, Ordering::Relaxed);
    let ver = read(REG_VER);
    if ver == u32::MAX {
        BASE.store(0, Ordering::Relaxed);
        return 0;
    }
    let entries = ((ver >> 16) & 0xFF) as u8 + 1;
    for gsi in 0..u32::from(entries) {
        write_entry(gsi, MASKED);
    }
    ENTRIES.store(entries, Ordering::Relaxed);
    entries
}

/// Routes input `gsi` (edge-triggered, active high: an ISA interrupt) to `vector` on this
/// CPU's LAPIC, unmasked. False if there is no such input.
pub fn route_isa(gsi: u32, vector: u8) -> bool {
    if gsi >= u32::from(ENTRIES.load(Ordering::Relaxed)) {
        return false;
    }
    let dest = u64::from(lapic::id() & 0xFF) << 56;
    write_entry(gsi, dest | u64::from(vector));
    true
}
