//! The I/O APICs, as the MADT lists them ([`crate::platform`]; without ACPI tables, one at its
//! default 0xFEC00000 serving GSIs from 0): the hypervisor masks every input and routes the
//! interrupts it owns (COM1's receive interrupt) to the boot CPU's LAPIC; the others stay
//! masked until dom0 maps and binds them (`crate::irq`). An I/O APIC that does not answer (its version
//! register reads all ones) is left out.

use super::{lapic, paging};
use crate::platform::{self, IoApic};
use crate::sync::{Lock, Rank};

const IOREGSEL: usize = 0x00;
const IOWIN: usize = 0x10;
const REG_VER: u32 = 0x01;
const REDIR_BASE: u32 = 0x10;

/// A mapped I/O APIC: its registers' address, first GSI and number of inputs.
#[derive(Clone, Copy, Debug)]
struct Unit {
    regs: u64,
    gsi_base: u32,
    inputs: u32,
}

static UNITS: Lock<heapless::Vec<Unit, 8>> =
    Lock::new(Rank::IoApic, "I/O APICs", heapless::Vec::new());

fn read(u: &Unit, reg: u32) -> u32 {
    let b = u.regs as *mut u8;
    // SAFETY: the I/O APIC's index and window registers, in the uncached page `init` mapped.
    unsafe {
        (b.wrapping_add(IOREGSEL) as *mut u32).write_volatile(reg);
        (b.wrapping_add(IOWIN) as *const u32).read_volatile()
    }
}

fn write(u: &Unit, reg: u32, v: u32) {
    let b = u.regs as *mut u8;
    // SAFETY: as `read`.
    unsafe {
        (b.wrapping_add(IOREGSEL) as *mut u32).write_volatile(reg);
        (b.wrapping_add(IOWIN) as *mut u32).write_volatile(v);
    }
}

fn write_entry(u: &Unit, input: u32, v: u64) {
    // The high half (destination) first, so the entry is never live half-written.
    write(u, REDIR_BASE + 2 * input + 1, (v >> 32) as u32);
    write(u, REDIR_BASE + 2 * input, v as u32);
}

/// Maps the I/O APICs `list` names and masks every input; those that answered, with their
/// GSI ranges.
pub fn init(list: &[IoApic]) -> heapless::Vec<(IoApic, u32), 8> {
    let mut units = UNITS.lock();
    let mut found = heapless::Vec::new();
    for a in list {
        let Ok(va) = paging::map_mmio(a.address, 4096) else {
            continue;
        };
        let mut u = Unit {
            regs: va as u64,
            gsi_base: a.gsi_base,
            inputs: 0,
        };
        let ver = read(&u, REG_VER);
        if ver == u32::MAX {
            continue;
        }
        u.inputs = ((ver >> 16) & 0xFF) + 1;
        for i in 0..u.inputs {
            write_entry(&u, i, platform::REDIRECTION_MASKED);
        }
        if units.push(u).is_ok() {
            let _ = found.push((*a, u.inputs));
        }
    }
    found
}

fn unit_of(units: &[Unit], gsi: u32) -> Option<(&Unit, u32)> {
    let (i, input) = platform::input_of(units.iter().map(|u| (u.gsi_base, u.inputs)), gsi)?;
    Some((&units[i], input))
}

/// How many GSIs the I/O APICs serve (one past the highest).
pub fn gsi_count() -> u32 {
    platform::gsi_end(UNITS.lock().iter().map(|u| (u.gsi_base, u.inputs)))
}

/// Programs `gsi` to deliver `vector` to this CPU with the trigger mode and polarity given,
/// masked. False if no I/O APIC has that input.
pub fn program(gsi: u32, vector: u8, level: bool, active_low: bool) -> bool {
    let units = UNITS.lock();
    let Some((u, input)) = unit_of(&units, gsi) else {
        return false;
    };
    write_entry(
        u,
        input,
        // Device interrupts go to the boot processor (CPU 0), whichever CPU programs them.
        platform::redirection_entry(
            crate::cpus::apic_id(0).unwrap_or_else(lapic::id),
            vector,
            level,
            active_low,
        ),
    );
    true
}

/// Masks or unmasks `gsi` (its other settings kept).
pub fn set_masked(gsi: u32, masked: bool) {
    let units = UNITS.lock();
    if let Some((u, input)) = unit_of(&units, gsi) {
        let reg = REDIR_BASE + 2 * input;
        write(u, reg, platform::with_mask(read(u, reg), masked));
    }
}
