//! `set_timer_op`: the vCPU's one-shot timer at an absolute system time (0 cancels); it
//! raises VIRQ_TIMER (at once if the time has passed).

use super::{HcResult, Outcome};
use crate::domain::state::State;
use guest_abi::arch::CpuUserRegs;

/// set_timer_op(timeout_abs_ns).
pub fn set_timer_op(st: &mut State, _regs: &mut CpuUserRegs, a: [u64; 5]) -> HcResult {
    st.cur().timers.singleshot = (a[0] != 0).then_some(a[0]);
    crate::sched::rearm(st);
    Ok(Outcome::Done(0))
}
