//! Time: the TSC calibrated against the PIT; `now_ns` is monotonic from boot and computed
//! with the same (mul, shift) scale the guests get in vcpu_time_info, so the hypervisor's
//! and the guests' system time agree to the nanosecond.

use core::sync::atomic::{AtomicI8, AtomicU32, AtomicU64, Ordering};

pub use super::cpu::rdtsc;

/// Nanoseconds per second.
const NS_PER_SEC: u64 = 1_000_000_000;

static TSC_KHZ: AtomicU64 = AtomicU64::new(0);
static TSC_BOOT: AtomicU64 = AtomicU64::new(0);
static MUL: AtomicU32 = AtomicU32::new(1 << 31);
static SHIFT: AtomicI8 = AtomicI8::new(1);

/// Sets the TSC rate the backend measured (x86_64: against the PIT) and starts system time
/// at the current TSC value.
pub fn init(khz: u64) {
    let khz = khz.max(1);
    TSC_KHZ.store(khz, Ordering::Relaxed);
    let (mul, shift) = scale_for_khz(khz);
    MUL.store(mul, Ordering::Relaxed);
    SHIFT.store(shift, Ordering::Relaxed);
    TSC_BOOT.store(rdtsc(), Ordering::Relaxed);
}

/// The TSC frequency in kHz.
pub fn tsc_khz() -> u64 {
    TSC_KHZ.load(Ordering::Relaxed)
}

/// The TSC → ns scale: (tsc_to_system_mul, tsc_shift).
pub fn scale() -> (u32, i8) {
    (MUL.load(Ordering::Relaxed), SHIFT.load(Ordering::Relaxed))
}

/// System time (ns since calibration) at TSC value `tsc`.
pub fn ns_at(tsc: u64) -> u64 {
    let (mul, shift) = scale();
    scale_delta(
        tsc.saturating_sub(TSC_BOOT.load(Ordering::Relaxed)),
        mul,
        shift,
    )
}

/// Nanoseconds since calibration (monotonic).
pub fn now_ns() -> u64 {
    ns_at(rdtsc())
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

/// `tsc_to_system_mul` and `tsc_shift` for a TSC of `khz`: ns = ((delta << shift) × mul) >> 32
/// with mul in [2^31, 2^32), so the scale keeps 31 bits of precision.
pub fn scale_for_khz(khz: u64) -> (u32, i8) {
    let mut tps = khz.max(1) * 1000; // ticks per second, after shifting
    let mut shift: i8 = 0;
    while tps <= NS_PER_SEC {
        tps <<= 1;
        shift += 1;
    }
    while tps > 2 * NS_PER_SEC {
        tps >>= 1;
        shift -= 1;
    }
    (
        ((u128::from(NS_PER_SEC) << 32) / u128::from(tps)) as u32,
        shift,
    )
}

/// Scale a TSC delta to ns with (mul, shift), exactly as a guest does with vcpu_time_info.
pub fn scale_delta(delta: u64, mul: u32, shift: i8) -> u64 {
    let d = if shift >= 0 {
        delta << shift
    } else {
        delta >> -i32::from(shift)
    };
    ((u128::from(d) * u128::from(mul)) >> 32) as u64
}
