//! The modelled LAPIC timer: the one-shot deadline the scheduler arms.

use spin::Mutex;

/// The timer's interrupt vector (as on bare metal).
pub const TIMER_VECTOR: u8 = 0xF0;
/// The reschedule IPI's vector (as the bare-metal backend's).
pub const RESCHED_VECTOR: u8 = 0xF4;

static DEADLINE: Mutex<Option<u64>> = Mutex::new(None);

/// Arm the one-shot timer for system time `deadline` (ns).
pub fn timer_deadline_ns(deadline: u64) {
    *DEADLINE.lock() = Some(deadline);
}

/// Brings the armed deadline forward to `deadline` if that is earlier; `false` if none is
/// armed (as the bare-metal backend's).
pub fn timer_pull_in(deadline: u64) -> bool {
    let mut d = DEADLINE.lock();
    match *d {
        None => false,
        Some(p) => {
            if deadline < p {
                *d = Some(deadline);
            }
            true
        }
    }
}

/// The armed deadline, if any.
pub fn deadline() -> Option<u64> {
    *DEADLINE.lock()
}

/// The armed deadline, disarming it (the timer fires once).
pub fn take_deadline() -> Option<u64> {
    DEADLINE.lock().take()
}
