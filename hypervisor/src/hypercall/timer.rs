//! `set_timer_op`: the vCPU's one-shot timer at an absolute system time (0 cancels); it
//! raises VIRQ_TIMER (at once if the time has passed).

use super::{HcResult, Outcome};
use crate::domain::state::State;
use guest_abi::arch::CpuUserRegs;
use guest_abi::hypercall_args::*;

/// set_timer_op(timeout_abs_ns).
pub fn set_timer_op(st: &mut State, _regs: &mut CpuUserRegs, a: SetTimerArgs) -> HcResult {
    st.cur().timers.singleshot = (a.timeout != 0).then_some(a.timeout);
    crate::sched::rearm(st);
    Ok(Outcome::Done(0))
}
