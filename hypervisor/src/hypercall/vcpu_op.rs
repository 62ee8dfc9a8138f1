//! `vcpu_op`: is_up, runstate, and the per-vCPU one-shot and periodic timers.

use super::{HcResult, Outcome};
use crate::domain::state::State;
use crate::mm::guest_copy;
use crate::time::MIN_PERIOD_NS;
use guest_abi::arch::CpuUserRegs;
use guest_abi::errno::Errno;
use guest_abi::hypercall_args::*;
use guest_abi::vcpu::*;

/// vcpu_op(cmd, vcpuid, arg) on the caller's own vCPUs.
pub fn vcpu_op(st: &mut State, _regs: &mut CpuUserRegs, a: VcpuOpArgs) -> HcResult {
    let (cmd, vcpu, arg) = (a.cmd, u64::from(a.vcpu), a.arg);
    let d = st.cur();
    if vcpu >= u64::from(d.max_vcpus.max(1)) || vcpu >= u64::from(crate::domain::MAX_VCPUS) {
        return Err(Errno::ENOENT);
    }
    let now = crate::time::now();
    match cmd {
        VCPUOP_IS_UP => Ok(Outcome::Done(u64::from(d.vcpu.online))),
        VCPUOP_GET_RUNSTATE_INFO => {
            let info = d.vcpu.runstate.snapshot(now);
            guest_copy::write(&st.mem, arg, &info)?;
            Ok(Outcome::Done(0))
        }
        VCPUOP_SET_PERIODIC_TIMER => {
            let p: VcpuSetPeriodicTimer = guest_copy::read(&st.mem, arg)?;
            if p.period_ns < MIN_PERIOD_NS || p.period_ns > i64::MAX as u64 {
                return Err(Errno::EINVAL);
            }
            let t = &mut st.cur().timers;
            t.period = p.period_ns;
            t.periodic_next = now + p.period_ns;
            crate::sched::rearm(st);
            Ok(Outcome::Done(0))
        }
        VCPUOP_STOP_PERIODIC_TIMER => {
            d.timers.period = 0;
            Ok(Outcome::Done(0))
        }
        VCPUOP_SET_SINGLESHOT_TIMER => {
            let s: VcpuSetSingleshotTimer = guest_copy::read(&st.mem, arg)?;
            if s.flags & VCPU_SSHOTTMR_FUTURE != 0 && s.timeout_abs_ns < now {
                return Err(Errno::ETIME);
            }
            st.cur().timers.singleshot = Some(s.timeout_abs_ns);
            crate::sched::rearm(st);
            Ok(Outcome::Done(0))
        }
        VCPUOP_STOP_SINGLESHOT_TIMER => {
            d.timers.singleshot = None;
            Ok(Outcome::Done(0))
        }
        // vCPU 0 is brought up by the builder and cannot be re-initialised.
        VCPUOP_INITIALISE => Err(Errno::EEXIST),
        VCPUOP_UP => Ok(Outcome::Done(0)),
        _ => Err(Errno::ENOSYS),
    }
}
