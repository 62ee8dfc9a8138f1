//! Preemption of long hypercalls, Xen's way: a batched operation checks after each element
//! whether its slice is used up and, if so, records its progress in the caller's arguments
//! and is continued (the guest re-executes the call on the rest), so no request keeps the
//! CPU with interrupts off for long, whatever its count.

use super::tsc;
use guest_abi::types::{DomId, Mfn};

/// How long one hypercall may work before it is continued.
pub const SLICE_NS: u64 = 100_000;

/// A hypercall's slice, started when its work starts.
#[derive(Clone, Copy, Debug)]
pub struct Slice {
    end: u64,
}

impl Slice {
    /// A slice of [`SLICE_NS`] from now.
    pub fn start() -> Slice {
        let cycles = SLICE_NS.saturating_mul(tsc::tsc_khz()) / 1_000_000;
        Slice {
            end: tsc::rdtsc().saturating_add(cycles.max(1)),
        }
    }

    /// Whether the slice is used up (callers check after each element they finish).
    pub fn expired(&self) -> bool {
        tsc::rdtsc() >= self.end
    }
}

use core::sync::atomic::{AtomicU64, Ordering};

/// The TSC deadline of the armed slice (0: disarmed: nothing is preempted).
static ARMED_END: AtomicU64 = AtomicU64::new(0);

/// Page-table (de)validation may stop when `slice` is used up, from now until [`disarm`]:
/// only a hypercall that can continue what was left part-way arms it.
pub fn arm(slice: Slice) {
    ARMED_END.store(slice.end.max(1), Ordering::Relaxed);
}

/// Nothing is preempted any more.
pub fn disarm() {
    ARMED_END.store(0, Ordering::Relaxed);
}

/// Whether the armed slice is used up (never while disarmed).
pub fn armed_expired() -> bool {
    let end = ARMED_END.load(Ordering::Relaxed);
    end != 0 && tsc::rdtsc() >= end
}

/// Tables left part-way through their devalidation, by owner: each domain's batched MMU
/// calls go on with its own before anything else.
static PENDING: crate::sync::Lock<heapless::Vec<(DomId, Mfn), 64>> = crate::sync::Lock::new(
    crate::sync::Rank::Preempt,
    "preempted frees",
    heapless::Vec::new(),
);

/// Remember table `mfn` of `owner` as part-way through its devalidation.
pub fn note_pending(owner: DomId, mfn: Mfn) {
    let mut p = PENDING.lock();
    if !p.contains(&(owner, mfn)) && p.push((owner, mfn)).is_err() {
        log::error!("too many tables part-way through devalidation; {mfn:#x} stays so");
    }
}

/// Take `owner`'s part-way tables.
pub fn take_pending(owner: DomId) -> heapless::Vec<Mfn, 64> {
    let mut p = PENDING.lock();
    let mine = p.iter().filter(|e| e.0 == owner).map(|e| e.1).collect();
    p.retain(|e| e.0 != owner);
    mine
}

/// Whether `owner` has tables part-way through their devalidation.
pub fn has_pending(owner: DomId) -> bool {
    PENDING.lock().iter().any(|e| e.0 == owner)
}

/// Forget every part-way table (a machine set up again, in the host tests).
pub fn forget_all() {
    PENDING.lock().clear();
    disarm();
}
