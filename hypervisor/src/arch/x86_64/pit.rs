//! The 8254 PIT, used only as a reference clock to calibrate the TSC: channel 0 in mode 0,
//! read back by latching (no port 0x61 gate needed, which `-M microvm` lacks).

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

/// Runs `f` at the start and after `ticks` PIT ticks (< 60000); returns (f(start), f(end)),
/// or None if the PIT does not count.
pub fn measure<T>(ticks: u16, mut f: impl FnMut() -> T) -> Option<(T, T)> {
    outb(0x43, 0x30); // channel 0, lo/hi, mode 0
    outb(0x40, 0xFF);
    outb(0x40, 0xFF);
    let mut start = read_count();
    let mut spins = 0u32;
    // Wait for the count to be loaded and start moving.
    while start == 0xFFFF || start == 0 {
        start = read_count();
        spins += 1;
        if spins > 1_000_000 {
            return None;
        }
    }
    let a = f();
    spins = 0;
    loop {
        let now = read_count();
        if start.wrapping_sub(now) >= ticks && now <= start {
            return Some((a, f()));
        }
        spins += 1;
        if spins > 50_000_000 {
            return None;
        }
    }
}
