//! Time: the TSC calibrated against the PIT; `now_ns` is monotonic from boot.

use super::{cpu::rdtsc, pit};
use core::sync::atomic::{AtomicU64, Ordering};

static TSC_KHZ: AtomicU64 = AtomicU64::new(0);
static TSC_BOOT: AtomicU64 = AtomicU64::new(0);

/// Calibrates over 20 ms of PIT time (falls back to 1 GHz if the PIT does not count).
pub fn init() {
    let ticks = (pit::PIT_HZ / 50) as u16;
    let khz = match pit::measure(ticks, rdtsc) {
        Some((a, b)) => (b - a) * pit::PIT_HZ / u64::from(ticks) / 1000,
        None => {
            log::warn!("PIT does not count: assuming a 1 GHz TSC");
            1_000_000
        }
    };
    TSC_KHZ.store(khz.max(1), Ordering::Relaxed);
    TSC_BOOT.store(rdtsc(), Ordering::Relaxed);
}

/// The TSC frequency in kHz.
pub fn tsc_khz() -> u64 {
    TSC_KHZ.load(Ordering::Relaxed)
}

/// Nanoseconds since calibration (monotonic).
pub fn now_ns() -> u64 {
    let delta = rdtsc().saturating_sub(TSC_BOOT.load(Ordering::Relaxed));
    (u128::from(delta) * 1_000_000 / u128::from(tsc_khz().max(1))) as u64
}

/// The TSC value at `now_ns() == 0`.
pub fn tsc_at_boot() -> u64 {
    TSC_BOOT.load(Ordering::Relaxed)
}

/// Busy-waits `ns` nanoseconds.
pub fn delay_ns(ns: u64) {
    let end = now_ns() + ns;
    while now_ns() < end {
        core::hint::spin_loop();
    }
}
