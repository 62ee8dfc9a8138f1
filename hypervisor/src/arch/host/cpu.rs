//! The modelled CPU's registers: CR2, CR3, the segment bases and the TSC.

use core::sync::atomic::{AtomicU64, Ordering};

static CR2: AtomicU64 = AtomicU64::new(0);
static CR3: AtomicU64 = AtomicU64::new(0);
static FS_BASE: AtomicU64 = AtomicU64::new(0);
static GS_BASE: AtomicU64 = AtomicU64::new(0);
static CR3_WRITES: AtomicU64 = AtomicU64::new(0);
/// The TSC runs at 1 GHz: one cycle a nanosecond ([`TSC_KHZ`]).
static TSC: AtomicU64 = AtomicU64::new(1);

/// The modelled TSC rate (1 GHz).
pub const TSC_KHZ: u64 = 1_000_000;

/// The faulting address of the last page fault.
pub fn read_cr2() -> u64 {
    CR2.load(Ordering::Relaxed)
}

/// What a page fault at `va` leaves in CR2 (tests raising a fault set it).
pub fn set_cr2(va: u64) {
    CR2.store(va, Ordering::Relaxed);
}

/// CR3: the live page table's physical address.
pub fn read_cr3() -> u64 {
    CR3.load(Ordering::Relaxed)
}

/// Load CR3 (a full TLB flush on a real CPU; counted here).
pub fn write_cr3(pa: u64) {
    CR3.store(pa, Ordering::Relaxed);
    CR3_WRITES.fetch_add(1, Ordering::Relaxed);
}

/// How many times CR3 was loaded.
pub fn cr3_writes() -> u64 {
    CR3_WRITES.load(Ordering::Relaxed)
}

/// FS base.
pub fn fs_base() -> u64 {
    FS_BASE.load(Ordering::Relaxed)
}

/// Set FS base.
pub fn set_fs_base(v: u64) {
    FS_BASE.store(v, Ordering::Relaxed);
}

/// GS base.
pub fn gs_base() -> u64 {
    GS_BASE.load(Ordering::Relaxed)
}

/// Set GS base.
pub fn set_gs_base(v: u64) {
    GS_BASE.store(v, Ordering::Relaxed);
}

/// The time-stamp counter (moves only when time is advanced).
pub fn rdtsc() -> u64 {
    TSC.load(Ordering::Relaxed)
}

/// Let `ns` nanoseconds pass.
pub fn advance_ns(ns: u64) {
    TSC.fetch_add(ns.saturating_mul(TSC_KHZ) / 1_000_000, Ordering::Relaxed);
}

/// Let time pass until system time `ns` (no-op if it is already later).
pub fn advance_to_ns(ns: u64) {
    let now = crate::arch::now_ns();
    if ns > now {
        advance_ns(ns - now);
    }
}
