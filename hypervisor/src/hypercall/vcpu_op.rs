//! `vcpu_op`: up, down, is_up, runstate (read and a registered area), and the per-vCPU
//! one-shot and periodic timers.

use super::{HcResult, Outcome};
use crate::domain::state::State;
use crate::mm::guest_copy;
use crate::mm::guest_walk::guest_va_ok;
use crate::time::MIN_PERIOD_NS;
use guest_abi::arch::CpuUserRegs;
use guest_abi::errno::Errno;
use guest_abi::hypercall_args::*;
use guest_abi::sched::ShutdownReason;
use guest_abi::types::Mfn;
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
        VCPUOP_REGISTER_RUNSTATE_MEMORY_AREA => {
            let area: VcpuRegisterRunstateMemoryArea = guest_copy::read(&st.mem, arg)?;
            // As Xen: the record is written now and at every change of state.
            st.cur().vcpu.runstate_area = area_addr::<VcpuRunstateInfo>(area.addr)?;
            let cur = st.current;
            if let Some(d) = st.domains.get(&cur) {
                crate::domain::runstate_area::publish(&st.mem, d);
            }
            Ok(Outcome::Done(0))
        }
        VCPUOP_REGISTER_VCPU_TIME_MEMORY_AREA => {
            let area: VcpuRegisterTimeMemoryArea = guest_copy::read(&st.mem, arg)?;
            // The copy is written now and whenever the vCPU's time is refreshed.
            type T = guest_abi::shared_info::VcpuTimeInfo;
            st.cur().vcpu.time_area = area_addr::<T>(area.addr)?;
            let cur = st.current;
            if let Some(d) = st.domains.get(&cur) {
                crate::domain::time_area::publish(&st.mem, d);
            }
            Ok(Outcome::Done(0))
        }
        VCPUOP_REGISTER_VCPU_INFO => {
            let r: VcpuRegisterVcpuInfo = guest_copy::read(&st.mem, arg)?;
            register_vcpu_info(st, r)?;
            Ok(Outcome::Done(0))
        }
        // vCPU 0 is brought up by the builder and cannot be re-initialised.
        VCPUOP_INITIALISE => Err(Errno::EEXIST),
        // Up again (it is running, so there is nothing to do; with more vCPUs, another one
        // would be woken here).
        VCPUOP_UP => Ok(Outcome::Done(0)),
        VCPUOP_DOWN => {
            // As Xen: the domain's last vCPU going down powers the domain off (Linux halts
            // this way with interrupts off, after a panic for instance).
            let id = st.current;
            crate::lifecycle::shutdown(st, id, ShutdownReason::Poweroff);
            Ok(Outcome::Deschedule)
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

/// VCPUOP_register_vcpu_info: move the vCPU's vcpu_info into frame `mfn` of the caller at
/// `offset`, once (as Xen: `EINVAL` for a second time, an offset where it would not fit, a
/// frame that cannot be held writable). The frame is held for as long as the domain lives.
/// The offset must also be 8-byte aligned, for the atomic accesses to the event selector.
fn register_vcpu_info(st: &mut State, r: VcpuRegisterVcpuInfo) -> Result<(), Errno> {
    use crate::domain::RegisteredVcpuInfo;
    use crate::mm::machine::{VcpuInfoAt, VCPU_INFO_SIZE};
    let off = r.offset as usize;
    if st.cur().vcpu.registered_info.is_some()
        || off > 4096 - VCPU_INFO_SIZE
        || !off.is_multiple_of(8)
    {
        return Err(Errno::EINVAL);
    }
    let cur = st.current;
    let (mut ft, mem) = st.frame_table();
    let page = ft
        .take_held(mem, Mfn(r.mfn), cur)
        .map_err(|_| Errno::EINVAL)?;
    let d = st.cur();
    if let Some(to) = VcpuInfoAt::held(&page, off) {
        crate::domain::vcpu_info::move_to(&VcpuInfoAt::shared(&d.shared_info), &to);
        crate::time::update_vcpu_time(&to);
    }
    d.vcpu.registered_info = Some(RegisteredVcpuInfo { page, off });
    // The unlocked upcall check follows it from now on.
    st.set_current(cur);
    Ok(())
}
