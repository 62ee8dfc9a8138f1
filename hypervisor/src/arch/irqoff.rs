//! How long the hypervisor runs with interrupts off: from each entry (a hypercall, a trap,
//! an interrupt, a wake-up in the idle loop) to the next return to a guest or halt. The
//! longest stretch is a perfc counter (`irqoff_max_ns`) that `xenperf -r` resets, so a test
//! can bound the work any guest request makes the hypervisor do at once. Measured only when
//! the command line has `irqoff_stats` (two TSC reads per entry cost the hot path).

use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// Whether stretches are measured.
static ENABLED: AtomicBool = AtomicBool::new(false);

/// Measure from now on.
pub fn enable() {
    ENABLED.store(true, Ordering::Relaxed);
}

/// TSC at the current stretch's start (0: none open).
static START: AtomicU64 = AtomicU64::new(0);
/// The longest stretch in TSC cycles since the last reset.
static MAX: AtomicU64 = AtomicU64::new(0);

/// A stretch with interrupts off starts (an entry from a guest, or the idle loop woke).
pub fn enter() {
    if !ENABLED.load(Ordering::Relaxed) {
        return;
    }
    START.store(super::tsc::rdtsc(), Ordering::Relaxed);
}

/// The stretch ends (return to a guest, or halt): record it.
pub fn leave() {
    if !ENABLED.load(Ordering::Relaxed) {
        return;
    }
    let start = START.swap(0, Ordering::Relaxed);
    if start != 0 {
        let len = super::tsc::rdtsc().saturating_sub(start);
        MAX.fetch_max(len, Ordering::Relaxed);
    }
}

/// The longest stretch since the last reset, in ns.
pub fn max_ns() -> u64 {
    let khz = super::tsc::tsc_khz().max(1);
    MAX.load(Ordering::Relaxed).saturating_mul(1_000_000) / khz
}

/// Forget the longest stretch so far.
pub fn reset() {
    MAX.store(0, Ordering::Relaxed);
}
