//! `vcpu_op`: initialise, up, down, is_up, runstate (read and a registered area), vcpu_info
//! and time areas, and the per-vCPU one-shot and periodic timers, on the vCPUs of the
//! caller's domain.

use super::{HcResult, Outcome};
use crate::domain::state::State;
use crate::domain::{Vcpu, VcpuId};
use crate::mm::guest_copy;
use crate::mm::guest_walk::guest_va_ok;
use crate::time::MIN_PERIOD_NS;
use guest_abi::arch::{CpuUserRegs, VcpuGuestContext};
use guest_abi::errno::Errno;
use guest_abi::hypercall_args::*;
use guest_abi::sched::ShutdownReason;
use guest_abi::types::Mfn;
use guest_abi::vcpu::*;

/// vcpu_op(cmd, vcpuid, arg) on the caller's domain's vCPU `vcpuid` (`ENOENT` for one it
/// lacks, as Xen's `domain_vcpu`). The one-shot timer only on the calling vCPU itself
/// (`EINVAL` otherwise, as Xen).
pub fn vcpu_op(st: &mut State, _regs: &mut CpuUserRegs, a: VcpuOpArgs) -> HcResult {
    let (cmd, arg) = (a.cmd, a.arg);
    let me = st.current;
    let target = VcpuId::new(me.dom, a.vcpu);
    if st.cur().vcpu(a.vcpu).is_none() {
        return Err(Errno::ENOENT);
    }
    let now = crate::time::now();
    fn v(st: &mut State, target: VcpuId) -> &mut Vcpu {
        st.vcpu(target).expect("checked above")
    }
    match cmd {
        VCPUOP_IS_UP => Ok(Outcome::Done(u64::from(v(st, target).online))),
        VCPUOP_GET_RUNSTATE_INFO => {
            let info = v(st, target).runstate.snapshot(now);
            guest_copy::write(&st.mem, arg, &info)?;
            Ok(Outcome::Done(0))
        }
        VCPUOP_SET_PERIODIC_TIMER => {
            let p: VcpuSetPeriodicTimer = guest_copy::read(&st.mem, arg)?;
            if p.period_ns < MIN_PERIOD_NS || p.period_ns > i64::MAX as u64 {
                return Err(Errno::EINVAL);
            }
            let t = &mut v(st, target).timers;
            t.period = p.period_ns;
            t.periodic_next = now + p.period_ns;
            crate::sched::rearm(st);
            Ok(Outcome::Done(0))
        }
        VCPUOP_STOP_PERIODIC_TIMER => {
            v(st, target).timers.period = 0;
            Ok(Outcome::Done(0))
        }
        VCPUOP_SET_SINGLESHOT_TIMER => {
            if target != me {
                return Err(Errno::EINVAL);
            }
            let s: VcpuSetSingleshotTimer = guest_copy::read(&st.mem, arg)?;
            if s.flags & VCPU_SSHOTTMR_FUTURE != 0 && s.timeout_abs_ns < now {
                return Err(Errno::ETIME);
            }
            v(st, target).timers.singleshot.set(Some(s.timeout_abs_ns));
            crate::sched::rearm(st);
            Ok(Outcome::Done(0))
        }
        VCPUOP_STOP_SINGLESHOT_TIMER => {
            if target != me {
                return Err(Errno::EINVAL);
            }
            v(st, target).timers.singleshot.set(None);
            Ok(Outcome::Done(0))
        }
        VCPUOP_REGISTER_RUNSTATE_MEMORY_AREA => {
            let area: VcpuRegisterRunstateMemoryArea = guest_copy::read(&st.mem, arg)?;
            // As Xen: the record is written now and at every change of state.
            v(st, target).runstate_area = area_addr::<VcpuRunstateInfo>(area.addr)?;
            if let Some(d) = st.domains.get(&me.dom) {
                if let Some(vc) = d.vcpu(a.vcpu) {
                    crate::domain::runstate_area::publish(&st.mem, d.vm_assist, vc);
                }
            }
            Ok(Outcome::Done(0))
        }
        VCPUOP_REGISTER_VCPU_TIME_MEMORY_AREA => {
            let area: VcpuRegisterTimeMemoryArea = guest_copy::read(&st.mem, arg)?;
            // The copy is written now and whenever the vCPU's time is refreshed.
            type T = guest_abi::shared_info::VcpuTimeInfo;
            v(st, target).time_area = area_addr::<T>(area.addr)?;
            if let Some(d) = st.domains.get(&me.dom) {
                crate::domain::time_area::publish(&st.mem, d, a.vcpu);
            }
            Ok(Outcome::Done(0))
        }
        VCPUOP_REGISTER_VCPU_INFO => {
            let r: VcpuRegisterVcpuInfo = guest_copy::read(&st.mem, arg)?;
            register_vcpu_info(st, target, r)?;
            Ok(Outcome::Done(0))
        }
        VCPUOP_INITIALISE => {
            // As Xen: the context is read first (EFAULT), then EEXIST for an initialised
            // vCPU; the new vCPU stays down until VCPUOP_up.
            let ctxt: VcpuGuestContext = guest_copy::read(&st.mem, arg)?;
            if v(st, target).initialised {
                return Err(Errno::EEXIST);
            }
            crate::domain::vcpu_context::set_vcpu_context(st, target, &ctxt, false)?;
            Ok(Outcome::Done(0))
        }
        VCPUOP_UP => {
            // As Xen: EINVAL until initialised; up again is nothing.
            let vc = v(st, target);
            if !vc.initialised {
                return Err(Errno::EINVAL);
            }
            if !vc.online {
                vc.online = true;
                vc.blocked = false;
                vc.credit.wake();
                vc.runstate.change(RUNSTATE_RUNNABLE, now);
            }
            Ok(Outcome::Done(0))
        }
        VCPUOP_DOWN => {
            // As Xen: the domain's last vCPU up going down powers the domain off (Linux
            // halts this way with interrupts off, after a panic for instance); another is
            // just taken down, at once if it is the caller.
            let others_up = st.cur().vcpus.iter().any(|x| x.id != a.vcpu && x.online);
            if !others_up {
                crate::lifecycle::shutdown(st, me.dom, ShutdownReason::Poweroff);
                return Ok(Outcome::Deschedule);
            }
            let vc = v(st, target);
            vc.online = false;
            vc.poll = None;
            vc.timers.poll_deadline = None;
            // On another CPU it stops at once.
            st.kick = true;
            // The caller leaves the CPU; it returns 0 when it is brought up again.
            if target == me {
                Ok(Outcome::Reschedule(0))
            } else {
                Ok(Outcome::Done(0))
            }
        }
        _ => Err(Errno::ENOSYS),
    }
}

/// The address of a registered area holding a `T` (runstate, time): as Xen, it must lie in
/// the guest's own half of the address space without wrapping (`EFAULT`); 0 unregisters.
fn area_addr<T>(addr: u64) -> Result<u64, Errno> {
    let end = addr
        .checked_add(core::mem::size_of::<T>() as u64 - 1)
        .ok_or(Errno::EFAULT)?;
    if addr != 0 && !(guest_va_ok(addr) && guest_va_ok(end)) {
        return Err(Errno::EFAULT);
    }
    Ok(addr)
}

/// VCPUOP_register_vcpu_info: move vCPU `v`'s vcpu_info (from its slot of shared_info) into
/// frame `mfn` of the caller at `offset`, once (as Xen: `EINVAL` for a second time, an offset
/// where it would not fit, a frame that cannot be held writable). The frame is held for as
/// long as the domain lives. The offset must also be 8-byte aligned, for the atomic
/// accesses to the event selector.
fn register_vcpu_info(st: &mut State, v: VcpuId, r: VcpuRegisterVcpuInfo) -> Result<(), Errno> {
    use crate::domain::RegisteredVcpuInfo;
    use crate::mm::machine::{VcpuInfoAt, VCPU_INFO_SIZE};
    let off = r.offset as usize;
    if st.vcpu(v).is_none_or(|x| x.registered_info.is_some())
        || off > 4096 - VCPU_INFO_SIZE
        || !off.is_multiple_of(8)
    {
        return Err(Errno::EINVAL);
    }
    let (mut ft, mem) = st.frame_table();
    let page = ft
        .take_held(mem, Mfn(r.mfn), v.dom)
        .map_err(|_| Errno::EINVAL)?;
    let d = st.cur();
    if let Some(to) = VcpuInfoAt::held(&page, off) {
        let from = VcpuInfoAt::shared_slot(&d.shared_info, v.vcpu as usize);
        crate::domain::vcpu_info::move_to(&from, &to);
        crate::time::update_vcpu_time(&to);
    }
    if let Some(x) = d.vcpu_mut(v.vcpu) {
        x.registered_info = Some(RegisteredVcpuInfo { page, off });
    }
    // The unlocked upcall check follows the current vCPU's from now on.
    let cur = st.current;
    st.set_current(cur);
    Ok(())
}
