//! Preemption of long hypercalls, Xen's way: a batched operation checks after each element
//! whether its slice is used up and, if so, records its progress in the caller's arguments
//! and is continued (the guest re-executes the call on the rest), so no request keeps the
//! CPU with interrupts off for long, whatever its count.

use super::tsc;

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
