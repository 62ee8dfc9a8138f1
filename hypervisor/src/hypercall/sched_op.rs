//! `sched_op`: yield, block, shutdown.

use super::{HcResult, Outcome};
use crate::domain::state::State;
use crate::mm::guest_copy;
use guest_abi::arch::CpuUserRegs;
use guest_abi::errno::Errno;
use guest_abi::sched::*;

/// sched_op(cmd, arg).
pub fn sched_op(st: &mut State, _regs: &mut CpuUserRegs, a: [u64; 5]) -> HcResult {
    let (cmd, arg) = (a[0] as u32, a[1]);
    match cmd {
        SCHEDOP_YIELD => Ok(Outcome::Reschedule(0)),
        SCHEDOP_BLOCK => {
            // Blocking re-enables event delivery; with no event sources bound yet a blocked
            // vCPU sleeps until the domain is destroyed.
            st.cur().vcpu.blocked = true;
            Ok(Outcome::Deschedule)
        }
        SCHEDOP_SHUTDOWN => {
            let s: SchedShutdown = guest_copy::read(&st.mem, arg)?;
            let reason = ShutdownReason::from_u32(s.reason).ok_or(Errno::EINVAL)?;
            let id = st.current;
            crate::domain::lifecycle::shutdown(st, id, reason);
            Ok(Outcome::Deschedule)
        }
        SCHEDOP_REMOTE_SHUTDOWN => {
            super::require_privileged(st)?;
            let s: SchedRemoteShutdown = guest_copy::read(&st.mem, arg)?;
            let reason = ShutdownReason::from_u32(s.reason).ok_or(Errno::EINVAL)?;
            if st.dom(s.domain_id.0).is_none() {
                return Err(Errno::ESRCH);
            }
            crate::domain::lifecycle::shutdown(st, s.domain_id.0, reason);
            Ok(Outcome::Reschedule(0))
        }
        _ => Err(Errno::ENOSYS),
    }
}
