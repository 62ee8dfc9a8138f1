//! `set_timer_op`: the vCPU's one-shot timer at an absolute system time (0 cancels); it
//! raises VIRQ_TIMER (at once if the time has passed).

use super::{HcResult, Outcome};
use crate::domain::state::State;
use guest_abi::arch::CpuUserRegs;
use guest_abi::hypercall_args::*;

/// How far ahead (2^50 ns, about 13 days) a deadline may be before it is taken for a wrapped
/// one, as Xen does.
const HUGE_NS: u64 = 1 << 50;
/// When a wrapped (negative or too distant) deadline fires instead, as Xen: 100 ms from now.
const HUGE_FALLBACK_NS: u64 = 100_000_000;

/// set_timer_op(timeout_abs_ns).
pub fn set_timer_op(st: &mut State, _regs: &mut CpuUserRegs, a: SetTimerArgs) -> HcResult {
    let now = crate::time::now();
    let t = a.timeout;
    // As Xen: a deadline with bit 63 set (negative system time) or more than 2^50 ns ahead
    // comes from a guest's wrapped time arithmetic; it fires in 100 ms rather than never.
    let deadline = if t == 0 {
        None
    } else if (t as i64) < 0 || t.saturating_sub(now) >= HUGE_NS {
        Some(now + HUGE_FALLBACK_NS)
    } else {
        Some(t)
    };
    st.cur_vcpu().timers.singleshot = deadline;
    crate::sched::rearm(st);
    Ok(Outcome::Done(0))
}
