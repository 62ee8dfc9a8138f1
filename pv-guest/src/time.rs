//! Guest time: system time from vcpu_time_info (read under its version seqlock), the
//! one-shot timer (`set_timer_op`) on VIRQ_TIMER, and a blocking `sleep`.

use crate::events;
use core::sync::atomic::{AtomicBool, AtomicU32, Ordering::SeqCst};
use guest_abi::errno::Errno;
use guest_abi::event_channel::VIRQ_TIMER;
use guest_abi::guest;

static TIMER_PORT: AtomicU32 = AtomicU32::new(0);
static FIRED: AtomicBool = AtomicBool::new(false);

/// System time in ns (0 before events are initialised).
pub fn now() -> u64 {
    let Some(s) = events::shared_info() else {
        return 0;
    };
    let t = &s.vcpu_info[0].time;
    loop {
        // SAFETY: reads of our mapped shared_info; the seqlock below discards torn reads.
        let v1 = unsafe { core::ptr::read_volatile(&t.version) };
        core::sync::atomic::fence(SeqCst);
        // SAFETY: as above.
        let snap = unsafe { core::ptr::read_volatile(t) };
        core::sync::atomic::fence(SeqCst);
        // SAFETY: as above.
        let v2 = unsafe { core::ptr::read_volatile(&t.version) };
        if v1 == v2 && v1 & 1 == 0 {
            // SAFETY: rdtsc reads the time-stamp counter; no memory effects.
            let tsc = unsafe { core::arch::x86_64::_rdtsc() };
            return snap.system_time_at(tsc);
        }
    }
}

/// The VIRQ_TIMER port (0 before `init`).
pub fn timer_port() -> u32 {
    TIMER_PORT.load(SeqCst)
}

/// Whether the one-shot fired since the last call (clears the flag).
pub fn take_fired() -> bool {
    FIRED.swap(false, SeqCst)
}

fn on_timer(_port: u32) {
    FIRED.store(true, SeqCst);
}

/// Bind VIRQ_TIMER (once).
pub fn init() -> Result<(), Errno> {
    if TIMER_PORT.load(SeqCst) == 0 {
        let p = events::bind_virq(VIRQ_TIMER, on_timer)?;
        TIMER_PORT.store(p, SeqCst);
    }
    Ok(())
}

/// Block until system time `deadline` (ns), through the one-shot timer.
pub fn sleep_until(deadline: u64) {
    while now() < deadline {
        FIRED.store(false, SeqCst);
        // Re-armed every round: a deadline already past fires at once.
        if guest::set_timer_op(deadline).is_err() {
            let _ = guest::sched_yield();
            continue;
        }
        block_until(|| FIRED.load(SeqCst));
    }
}

/// Block until `done()` holds (checked with upcalls masked, so a wake-up between the check
/// and the block is not lost: SCHEDOP_block unmasks and returns at once if one is pending).
pub fn block_until(done: impl Fn() -> bool) {
    loop {
        events::mask_upcalls();
        if done() {
            events::unmask_upcalls();
            return;
        }
        let _ = guest::sched_block();
    }
}

/// Block until any event is handled, or `timeout_ns` at most.
pub fn wait_any(timeout_ns: u64) {
    let before = events::HANDLED.load(SeqCst);
    let _ = guest::set_timer_op(now().saturating_add(timeout_ns));
    block_until(|| events::HANDLED.load(SeqCst) != before);
}

/// Block for `ns` nanoseconds.
pub fn sleep(ns: u64) {
    sleep_until(now().saturating_add(ns));
}
