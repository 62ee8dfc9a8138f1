//! The modelled CPU's registers: CR2, CR3, the segment bases and the TSC.

use core::sync::atomic::{AtomicU64, Ordering};

/// A modelled register: a reader and a writer over one atomic.
macro_rules! register {
    ($(#[$doc:meta])* $reg:ident, $read:ident, $write:ident) => {
        static $reg: AtomicU64 = AtomicU64::new(0);
        $(#[$doc])*
        pub fn $read() -> u64 {
            $reg.load(Ordering::Relaxed)
        }
        $(#[$doc])*
        pub fn $write(v: u64) {
            $reg.store(v, Ordering::Relaxed);
        }
    };
}

register!(
    /// CR2: the faulting address of the last page fault (tests raising a fault set it).
    CR2, read_cr2, set_cr2
);
register!(
    /// FS base.
    FS_BASE, fs_base, set_fs_base
);
register!(
    /// GS base.
    GS_BASE, gs_base, set_gs_base
);

static CR3: AtomicU64 = AtomicU64::new(0);
static CR3_WRITES: AtomicU64 = AtomicU64::new(0);
/// The TSC runs at 1 GHz: one cycle a nanosecond ([`TSC_KHZ`]).
static TSC: AtomicU64 = AtomicU64::new(1);

/// The modelled TSC rate (1 GHz).
pub const TSC_KHZ: u64 = 1_000_000;

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
