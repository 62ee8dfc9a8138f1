//! The modelled I/O APICs: microvm's two, 48 GSIs; each input's redirection entry as the
//! hypervisor programmed it, for tests to read back and to fire
//! ([`crate::testbed::Testbed::fire_gsi`]).

use spin::Mutex;

/// GSIs the model serves.
pub const GSIS: u32 = 48;

/// One input's redirection entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The vector it delivers.
    pub vector: u8,
    /// Level-triggered (else edge).
    pub level: bool,
    /// Active low (else high).
    pub active_low: bool,
    /// Masked.
    pub masked: bool,
}

const MASKED: Entry = Entry {
    vector: 0,
    level: false,
    active_low: false,
    masked: true,
};

static ENTRIES: Mutex<[Entry; GSIS as usize]> = Mutex::new([MASKED; GSIS as usize]);

/// Every input masked (a fresh machine).
pub fn reset() {
    *ENTRIES.lock() = [MASKED; GSIS as usize];
}

/// How many GSIs the I/O APICs serve.
pub fn gsi_count() -> u32 {
    GSIS
}

/// As on bare metal: programs `gsi`, masked.
pub fn program(gsi: u32, vector: u8, level: bool, active_low: bool) -> bool {
    let mut e = ENTRIES.lock();
    let Some(slot) = e.get_mut(gsi as usize) else {
        return false;
    };
    *slot = Entry {
        vector,
        level,
        active_low,
        masked: true,
    };
    true
}

/// As on bare metal: masks or unmasks `gsi`.
pub fn set_masked(gsi: u32, masked: bool) {
    if let Some(slot) = ENTRIES.lock().get_mut(gsi as usize) {
        slot.masked = masked;
    }
}

/// `gsi`'s entry (tests).
pub fn entry(gsi: u32) -> Option<Entry> {
    ENTRIES.lock().get(gsi as usize).copied()
}
