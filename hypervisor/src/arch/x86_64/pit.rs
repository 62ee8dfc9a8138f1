//! The 8254 PIT, used only as a reference clock to calibrate the TSC: channel 0 in mode 0,
//! read back by latching (no port 0x61 gate needed, which `-M microvm` lacks).
//!
//! On a PC the BIOS leaves channel 0 counting in mode 3 (a square wave on IRQ 0, 18.2 Hz).
//! Calibration reprograms it to mode 0, which counts down once and stops: from then on the
//! PIT raises no interrupt (IRQ 0 is masked at the PIC anyway, see `pic`).

use x86_64::instructions::port::Port;

/// The PIT's input clock.
pub const PIT_HZ: u64 = 1_193_182;

fn outb(port: u16, v: u8) {
    // SAFETY: PIT I/O ports; no memory effects.
    unsafe { Port::new(port).write(v) }
}
fn inb(port: u16) -> u8 {
    // SAFETY: PIT I/O ports; no memory effects.
    unsafe { Port::new(port).read() }
}

fn read_count() -> u16 {
    outb(0x43, 0x00); // latch channel 0
    let lo = inb(0x40);
    let hi = inb(0x40);
    u16::from_le_bytes([lo, hi])
}

/// A PIT count read bracketed by two TSC reads: (count, tsc before, tsc after).
fn bracketed(tsc: &mut impl FnMut() -> u64) -> (u16, u64, u64) {
    let t0 = tsc();
    let c = read_count();
    (c, t0, tsc())
}

/// The most TSC cycles a bracketed read may take to count as undisturbed (a host that
/// deschedules the virtual CPU in between shows up as a long bracket).
const MAX_BRACKET: u64 = 200_000;

/// One calibration sample: TSC cycles over about `ticks` PIT ticks, with both ends read
/// undisturbed. Returns (tsc cycles, PIT ticks actually elapsed), or None if the PIT does not
/// count or an end was disturbed.
pub fn sample(ticks: u16, mut tsc: impl FnMut() -> u64) -> Option<(u64, u64)> {
    outb(0x43, 0x30); // channel 0, lo/hi, mode 0
    outb(0x40, 0xFF);
    outb(0x40, 0xFF);
    let mut spins = 0u32;
    let (start, s0, s1) = loop {
        let r = bracketed(&mut tsc);
        if r.0 != 0xFFFF && r.0 != 0 {
            break r;
        }
        spins += 1;
        if spins > 1_000_000 {
            return None;
        }
    };
    spins = 0;
    loop {
        let (now, e0, e1) = bracketed(&mut tsc);
        let elapsed = start.wrapping_sub(now);
        if elapsed >= ticks && now <= start {
            if s1 - s0 > MAX_BRACKET || e1 - e0 > MAX_BRACKET {
                return None;
            }
            return Some(((e0 + e1) / 2 - (s0 + s1) / 2, u64::from(elapsed)));
        }
        spins += 1;
        if spins > 50_000_000 {
            return None;
        }
    }
}

/// The TSC rate in kHz: the median of `n` undisturbed samples of about `ticks` PIT ticks
/// each (up to `4 * n` tries); None if the PIT does not count.
pub fn tsc_khz(ticks: u16, n: usize, mut tsc: impl FnMut() -> u64) -> Option<u64> {
    let mut rates = heapless::Vec::<u64, 16>::new();
    for _ in 0..4 * n.min(16) {
        if let Some((cycles, elapsed)) = sample(ticks, &mut tsc) {
            let _ = rates.push(cycles * PIT_HZ / elapsed.max(1) / 1000);
            if rates.len() == n.min(16) {
                break;
            }
        }
    }
    if rates.is_empty() {
        return None;
    }
    rates.sort_unstable();
    Some(rates[rates.len() / 2])
}
