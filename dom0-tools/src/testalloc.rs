//! Host tests only: the global allocator, metered per thread, so tests can bound how much
//! heap an operation needs (dom0's heap is small and fixed, and running out shuts dom0 down).
//!
//! [`peak_during`] runs a closure and returns the most bytes it had allocated at any one
//! time beyond what was live when it started. Work inside [`unmetered`] is not counted: the
//! test hypervisor's own work (its state and the copies of dom0's arguments), which on a
//! real machine lives in the hypervisor, not in dom0.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

struct Metered;

#[global_allocator]
static ALLOCATOR: Metered = Metered;

thread_local! {
    /// Bytes allocated minus freed by this thread while metered.
    static LIVE: Cell<i64> = const { Cell::new(0) };
    /// The most `LIVE` has been since the last reset.
    static PEAK: Cell<i64> = const { Cell::new(0) };
    /// Nesting depth of [`unmetered`].
    static PAUSED: Cell<u32> = const { Cell::new(0) };
}

fn note(delta: i64) {
    let _ = PAUSED.try_with(|p| {
        if p.get() == 0 {
            let _ = LIVE.try_with(|l| {
                let v = l.get() + delta;
                l.set(v);
                let _ = PEAK.try_with(|pk| pk.set(pk.get().max(v)));
            });
        }
    });
}

// SAFETY: every call is forwarded to the system allocator unchanged; the metering only
// updates thread-local counters (const-initialised, so touching them never allocates).
unsafe impl GlobalAlloc for Metered {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded as is.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            note(layout.size() as i64);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded as is.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            note(layout.size() as i64);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded as is.
        unsafe { System.dealloc(ptr, layout) };
        note(-(layout.size() as i64));
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded as is.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            note(new_size as i64 - layout.size() as i64);
        }
        p
    }
}

/// Runs `f` without counting what it allocates or frees.
pub fn unmetered<T>(f: impl FnOnce() -> T) -> T {
    PAUSED.with(|p| p.set(p.get() + 1));
    let r = f();
    PAUSED.with(|p| p.set(p.get() - 1));
    r
}

/// Runs `f`; returns its result and the most heap (bytes) it held at once beyond what was
/// live when it started.
pub fn peak_during<T>(f: impl FnOnce() -> T) -> (T, u64) {
    let base = LIVE.with(Cell::get);
    PEAK.with(|p| p.set(base));
    let r = f();
    let peak = PEAK.with(Cell::get);
    (r, (peak - base).max(0) as u64)
}
