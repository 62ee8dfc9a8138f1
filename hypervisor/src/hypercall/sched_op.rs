//! `sched_op`: yield, block, poll (the calling vCPU), shutdown, shutdown_code,
//! remote_shutdown, watchdog (the domain).

use super::{HcResult, Outcome};
use crate::domain::{state::State, vcpu_info};
use crate::evtchn::{two_level, SharedWords};
use crate::mm::guest_copy;
use crate::time::NS_PER_SEC;
use alloc::vec::Vec;
use guest_abi::arch::CpuUserRegs;
use guest_abi::errno::Errno;
use guest_abi::hypercall_args::*;
use guest_abi::sched::*;
use guest_abi::types::EvtchnPort;

/// The most ports one SCHEDOP_poll may wait on (as Xen).
const MAX_POLL_PORTS: u32 = 128;

/// sched_op(cmd, arg).
pub fn sched_op(st: &mut State, _regs: &mut CpuUserRegs, a: CmdArg) -> HcResult {
    let (cmd, arg) = (a.cmd, a.arg);
    match cmd {
        SCHEDOP_YIELD => {
            st.cur_vcpu().credit.yielded = true;
            Ok(Outcome::Reschedule(0))
        }
        SCHEDOP_BLOCK => block(st),
        SCHEDOP_POLL => poll(st, arg),
        SCHEDOP_SHUTDOWN => {
            let s: SchedShutdown = guest_copy::read(&st.mem, arg)?;
            let reason = ShutdownReason::from_u32(s.reason).ok_or(Errno::EINVAL)?;
            let id = st.current.dom;
            crate::lifecycle::shutdown(st, id, reason);
            if reason == ShutdownReason::Suspend {
                // As Xen: the call returns 0 in the registers the suspended vCPU keeps, so
                // a domain restored from them sees 0; a toolstack cancelling the suspend
                // sets 1 (`XEN_DOMCTL_setvcpucontext`) before `XEN_DOMCTL_resumedomain`.
                return Ok(Outcome::Reschedule(0));
            }
            Ok(Outcome::Deschedule)
        }
        SCHEDOP_SHUTDOWN_CODE => {
            let s: SchedShutdown = guest_copy::read(&st.mem, arg)?;
            let reason = ShutdownReason::from_u32(s.reason).ok_or(Errno::EINVAL)?;
            // As Xen: the code is latched, the first one set stays.
            let d = st.cur();
            d.shutdown_code = d.shutdown_code.or(Some(reason));
            Ok(Outcome::Done(0))
        }
        SCHEDOP_REMOTE_SHUTDOWN => {
            st.require_privileged()?;
            let s: SchedRemoteShutdown = guest_copy::read(&st.mem, arg)?;
            let reason = ShutdownReason::from_u32(s.reason).ok_or(Errno::EINVAL)?;
            if st.dom(s.domain_id).is_none() {
                return Err(Errno::ESRCH);
            }
            crate::lifecycle::shutdown(st, s.domain_id, reason);
            Ok(Outcome::Reschedule(0))
        }
        SCHEDOP_WATCHDOG => {
            let w: SchedWatchdog = guest_copy::read(&st.mem, arg)?;
            watchdog(st, w).map(Outcome::Done)
        }
        _ => Err(Errno::ENOSYS),
    }
}

/// Block until an event: events are unmasked first; with an upcall already pending the
/// call returns at once (the upcall is delivered on the way out).
fn block(st: &mut State) -> HcResult {
    let si = &st.cur_vcpu_info();
    vcpu_info::set_upcall_mask(si, false);
    if vcpu_info::upcall_pending(si) {
        return Ok(Outcome::Done(0));
    }
    st.cur_vcpu().blocked = true;
    Ok(Outcome::Reschedule(0))
}

/// Wait until one of the ports is pending, an unmasked event needs delivery, or the
/// absolute timeout passes; returns 0 in every case (as Xen). The upcall mask is untouched.
fn poll(st: &mut State, arg: u64) -> HcResult {
    let p: SchedPoll = guest_copy::read(&st.mem, arg)?;
    if p.nr_ports > MAX_POLL_PORTS {
        return Err(Errno::EINVAL);
    }
    let mut ports = Vec::new();
    ports
        .try_reserve_exact(p.nr_ports as usize)
        .map_err(|_| Errno::ENOMEM)?;
    for i in 0..u64::from(p.nr_ports) {
        let port: EvtchnPort = guest_copy::read(&st.mem, p.ports.wrapping_add(4 * i))?;
        if !st.cur().evtchn.valid(port) {
            return Err(Errno::EINVAL);
        }
        ports.push(port);
    }
    let me = st.current;
    let d = st.cur();
    let si = &d.vcpu_info(me.vcpu);
    if vcpu_info::upcall_pending(si) && !vcpu_info::upcall_masked(si) {
        return Ok(Outcome::Done(0));
    }
    let w = SharedWords::new(d, me.vcpu);
    if ports.iter().any(|&port| two_level::is_pending(&w, port)) {
        return Ok(Outcome::Done(0));
    }
    if p.timeout != 0 && p.timeout <= crate::time::now() {
        return Ok(Outcome::Done(0));
    }
    let v = st.cur_vcpu();
    v.poll = Some(ports);
    v.timers.poll_deadline = (p.timeout != 0).then_some(p.timeout);
    v.blocked = true;
    Ok(Outcome::Reschedule(0))
}

/// SCHEDOP_watchdog: id 0 allocates a slot (returns its id, 1-based), a known id with a
/// timeout re-arms it, with timeout 0 frees it. Expiry shuts the domain down (watchdog).
fn watchdog(st: &mut State, w: SchedWatchdog) -> Result<u64, Errno> {
    let now = crate::time::now();
    let dl = now.saturating_add(u64::from(w.timeout) * NS_PER_SEC);
    let slots = &mut st.cur().watchdogs.0;
    let r = if w.id == 0 {
        if w.timeout == 0 {
            return Err(Errno::EINVAL);
        }
        let (i, slot) = slots
            .iter_mut()
            .enumerate()
            .find(|(_, s)| s.is_none())
            .ok_or(Errno::ENOSPC)?;
        *slot = Some((dl, w.timeout));
        i as u64 + 1
    } else {
        let slot = slots
            .get_mut(w.id as usize - 1)
            .filter(|s| s.is_some())
            .ok_or(Errno::EINVAL)?;
        *slot = (w.timeout != 0).then_some((dl, w.timeout));
        0
    };
    crate::sched::rearm(st);
    Ok(r)
}
