//! Time: the TSC calibrated against the PIT; `now_ns` is monotonic from boot and computed
//! with the same (mul, shift) scale the guests get in vcpu_time_info, so the hypervisor's
//! and the guests' system time agree to the nanosecond.

use core::sync::atomic::{AtomicI8, AtomicU32, AtomicU64, Ordering};

pub use super::cpu::rdtsc;

static TSC_KHZ: AtomicU64 = AtomicU64::new(0);
static TSC_BOOT: AtomicU64 = AtomicU64::new(0);
static MUL: AtomicU32 = AtomicU32::new(1 << 31);
static SHIFT: AtomicI8 = AtomicI8::new(1);

/// Sets the TSC rate the backend measured (x86_64: against the PIT) and starts system time
/// at the current TSC value.
pub fn init(khz: u64) {
    let khz = khz.max(1);
    TSC_KHZ.store(khz, Ordering::Relaxed);
    let (mul, shift) = crate::time::scale_for_khz(khz);
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
    crate::time::scale_delta(
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
