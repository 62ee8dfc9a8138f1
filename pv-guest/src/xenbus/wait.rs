//! Blocking with a deadline: until a condition holds or system time passes a deadline,
//! woken by any event (checked with upcalls masked so a wake-up is never lost).

use crate::{events, time};
use guest_abi::guest;

/// The longest single block (the timer re-arms after it).
const SLICE_NS: u64 = 20_000_000;

/// Waits until `done()` (true) or `timeout_ns` passed (false).
pub fn until(timeout_ns: u64, mut done: impl FnMut() -> bool) -> bool {
    let deadline = time::now().saturating_add(timeout_ns);
    if upcalls_masked() {
        // In an event handler or a section that masked events: blocking would unmask
        // them, so poll.
        return yielding(timeout_ns, done);
    }
    loop {
        events::mask_upcalls();
        if done() {
            events::unmask_upcalls();
            return true;
        }
        let now = time::now();
        if now >= deadline {
            events::unmask_upcalls();
            return false;
        }
        if guest::set_timer_op(deadline.min(now + SLICE_NS)).is_err() {
            events::unmask_upcalls();
            let _ = guest::sched_yield();
            continue;
        }
        // Unmasks and returns at once if an event is pending.
        let _ = guest::sched_block();
    }
}

fn upcalls_masked() -> bool {
    events::shared_info().is_some_and(|s| {
        // SAFETY: a byte of our mapped shared_info, which the hypervisor also writes.
        unsafe {
            core::ptr::read_volatile(&s.vcpu_info[crate::smp::current()].evtchn_upcall_mask) != 0
        }
    })
}

/// Waits until `done()` (true) or `timeout_ns` passed (false), yielding the CPU in between
/// instead of blocking.
pub fn yielding(timeout_ns: u64, mut done: impl FnMut() -> bool) -> bool {
    let deadline = time::now().saturating_add(timeout_ns);
    while !done() {
        if time::now() >= deadline {
            return false;
        }
        let _ = guest::sched_yield();
    }
    true
}
