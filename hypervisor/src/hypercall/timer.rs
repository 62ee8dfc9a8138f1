//! `set_timer_op`: the vCPU's one-shot timer at an absolute system time (0 cancels); it
//! raises VIRQ_TIMER (at once if the time has passed).

use super::{HcResult, Outcome};
use crate::domain::state::{self, State};
use guest_abi::arch::CpuUserRegs;
use guest_abi::hypercall_args::*;

/// How far ahead (2^50 ns, about 13 days) a deadline may be before it is taken for a wrapped
/// one, as Xen does.
const HUGE_NS: u64 = 1 << 50;
/// When a wrapped (negative or too distant) deadline fires instead, as Xen: 100 ms from now.
const HUGE_FALLBACK_NS: u64 = 100_000_000;

/// The deadline `set_timer_op(t)` arms at `now` (`None`: disarm). As Xen: a deadline with
/// bit 63 set (negative system time) or more than 2^50 ns ahead comes from a guest's
/// wrapped time arithmetic; it fires in 100 ms rather than never.
fn deadline_for(t: u64, now: u64) -> Option<u64> {
    if t == 0 {
        None
    } else if (t as i64) < 0 || t.saturating_sub(now) >= HUGE_NS {
        Some(now + HUGE_FALLBACK_NS)
    } else {
        Some(t)
    }
}

/// set_timer_op(timeout_abs_ns).
pub fn set_timer_op(st: &mut State, _regs: &mut CpuUserRegs, a: SetTimerArgs) -> HcResult {
    let deadline = deadline_for(a.timeout, crate::time::now());
    st.cur_vcpu().timers.singleshot.set(deadline);
    crate::sched::rearm(st);
    Ok(Outcome::Done(0))
}

/// set_timer_op without the state lock (the hypercall guests make around every sleep):
/// the caller's own one-shot through this CPU's current-vCPU slot, and this CPU's LAPIC
/// one-shot brought forward if the deadline is earlier than the pending one. A later or
/// cancelled deadline leaves the pending interrupt alone: its scheduling pass programs what
/// is due then. `None` (the locked path) when nothing is known to be pending.
pub fn set_timer_op_lockless(_regs: &CpuUserRegs, raw: RawArgs) -> Option<HcResult> {
    let a: SetTimerArgs = HypercallArgs::decode(raw).ok()?;
    let deadline = deadline_for(a.timeout, crate::time::now());
    state::with_current_oneshot(|cell| {
        if let Some(t) = deadline {
            if !crate::arch::lapic::timer_pull_in(t) {
                return None;
            }
        }
        cell.set(deadline);
        Some(Ok(Outcome::Done(0)))
    })
    .flatten()
}
