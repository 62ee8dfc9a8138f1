//! The CMOS real-time clock, read once at boot for the guests' wall clock.

use x86_64::instructions::port::Port;

fn cmos(reg: u8) -> u8 {
    // SAFETY: CMOS index/data ports; selecting a register (NMI stays enabled) and reading it
    // has no memory effects.
    unsafe {
        Port::<u8>::new(0x70).write(reg);
        Port::<u8>::new(0x71).read()
    }
}

fn bcd(v: u8) -> u8 {
    (v & 0x0F) + (v >> 4) * 10
}

/// Seconds since the epoch from the RTC, or `None` if there is no (sane) RTC.
pub fn read_unix_time() -> Option<u64> {
    if cmos(0x0A) == 0xFF && cmos(0x0B) == 0xFF {
        return None;
    }
    // Wait out an update in progress (bit 7 of status A), bounded.
    let mut spins = 0u32;
    while cmos(0x0A) & 0x80 != 0 && spins < 1_000_000 {
        spins += 1;
    }
    let b = cmos(0x0B);
    let raw = [
        cmos(0x00),
        cmos(0x02),
        cmos(0x04),
        cmos(0x07),
        cmos(0x08),
        cmos(0x09),
    ];
    let conv = |v: u8| if b & 0x04 == 0 { bcd(v) } else { v };
    let (s, m, d, mo, y) = (
        conv(raw[0]),
        conv(raw[1]),
        conv(raw[3]),
        conv(raw[4]),
        conv(raw[5]),
    );
    let mut h = conv(raw[2] & 0x7F);
    if b & 0x02 == 0 && raw[2] & 0x80 != 0 {
        h = (h % 12) + 12; // 12-hour mode, PM
    }
    if s > 59 || m > 59 || h > 23 || !(1..=31).contains(&d) || !(1..=12).contains(&mo) {
        return None;
    }
    let year = 2000 + u64::from(y);
    Some(crate::util::unix_time(
        year,
        mo.into(),
        d.into(),
        h.into(),
        m.into(),
        s.into(),
    ))
}
