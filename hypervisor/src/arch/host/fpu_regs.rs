//! The modelled FPU: its register file as one FXSAVE image, and CR0.TS.

use crate::arch::fpu::{reset_area, FxArea};
use core::sync::atomic::{AtomicBool, Ordering};
use spin::Mutex;

static TS: AtomicBool = AtomicBool::new(false);
static LIVE: Mutex<[u8; 512]> = Mutex::new([0; 512]);

/// Whether CR0.TS is set.
pub fn ts_set() -> bool {
    TS.load(Ordering::Relaxed)
}

/// Sets CR0.TS.
pub fn set_ts() {
    TS.store(true, Ordering::Relaxed);
}

/// Clears CR0.TS.
pub fn clear_ts() {
    TS.store(false, Ordering::Relaxed);
}

/// FXSAVE: the live registers into `area` (clears TS first, as the real path does).
pub fn save(area: &mut FxArea) {
    clear_ts();
    area.0 = *LIVE.lock();
}

/// FXRSTOR: `area` becomes the live registers (clears TS first).
pub fn restore(area: &FxArea) {
    clear_ts();
    *LIVE.lock() = area.0;
}

/// The live registers (what a guest's FPU instructions would see).
pub fn live() -> [u8; 512] {
    *LIVE.lock()
}

/// A guest runs FPU code: the live registers change (tests stand in for the instructions).
pub fn set_live(regs: [u8; 512]) {
    *LIVE.lock() = regs;
}

/// The registers after reset.
pub fn reset() {
    *LIVE.lock() = reset_area().0;
    clear_ts();
}
