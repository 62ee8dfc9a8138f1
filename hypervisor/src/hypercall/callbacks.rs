//! Registering the guest's entry points: trap table, callbacks, kernel stack, segment bases.

use super::{HcResult, Outcome};
use crate::arch;
use crate::domain::{nmi, state::State};
use crate::mm::guest_copy;
use crate::mm::guest_walk::{canonical, guest_va_ok};
use guest_abi::arch::{
    CpuUserRegs, TrapInfo, SEGBASE_FS, SEGBASE_GS_KERNEL, SEGBASE_GS_USER, SEGBASE_GS_USER_SEL,
};
use guest_abi::callback::*;
use guest_abi::errno::Errno;
use guest_abi::hypercall_args::*;

/// set_trap_table(traps): entries until one with address 0; a null pointer clears the table.
pub fn set_trap_table(st: &mut State, _regs: &mut CpuUserRegs, a: PtrArg) -> HcResult {
    let ptr = a.ptr;
    if ptr == 0 {
        st.cur_vcpu()
            .trap_table
            .iter_mut()
            .for_each(|t| t.address = 0);
        return Ok(Outcome::Done(0));
    }
    for i in 0..256u64 {
        let t: TrapInfo = guest_copy::read(&st.mem, ptr + i * 16)?;
        if t.address == 0 {
            break;
        }
        if !guest_va_ok(t.address) {
            return Err(Errno::EINVAL);
        }
        st.cur_vcpu().trap_table[t.vector as usize] = t;
    }
    Ok(Outcome::Done(0))
}

fn check(addr: u64) -> Result<u64, Errno> {
    if addr == 0 || guest_va_ok(addr) {
        Ok(addr)
    } else {
        Err(Errno::EINVAL)
    }
}

/// set_callbacks(event, failsafe, syscall): as registering each with no flags, so neither
/// the failsafe nor the syscall callback masks events afterwards (as Xen).
pub fn set_callbacks(st: &mut State, _regs: &mut CpuUserRegs, a: SetCallbacksArgs) -> HcResult {
    let (e, f, s) = (check(a.event)?, check(a.failsafe)?, check(a.syscall)?);
    let cb = &mut st.cur_vcpu().callbacks;
    cb.event = e;
    cb.failsafe = f;
    cb.syscall = s;
    cb.failsafe_masks_events = false;
    cb.syscall_masks_events = false;
    Ok(Outcome::Done(0))
}

/// callback_op(cmd, arg). As Xen: a type it does not implement is ENOSYS, and the event,
/// failsafe and syscall callbacks cannot be unregistered (EINVAL; register 0 instead).
pub fn callback_op(st: &mut State, _regs: &mut CpuUserRegs, a: CmdArg) -> HcResult {
    let (cmd, arg) = (a.cmd, a.arg);
    let (ty, addr, flags) = match cmd {
        CALLBACKOP_REGISTER => {
            let r: CallbackRegister = guest_copy::read(&st.mem, arg)?;
            (r.type_, check(r.address)?, r.flags)
        }
        CALLBACKOP_UNREGISTER => {
            let u: CallbackUnregister = guest_copy::read(&st.mem, arg)?;
            return match u.type_ {
                CALLBACKTYPE_EVENT
                | CALLBACKTYPE_FAILSAFE
                | CALLBACKTYPE_SYSCALL
                | CALLBACKTYPE_SYSCALL32
                | CALLBACKTYPE_SYSENTER => Err(Errno::EINVAL),
                // As Xen: the NMI handler is trap-table vector 2, cleared.
                CALLBACKTYPE_NMI => {
                    st.cur_vcpu().trap_table[usize::from(nmi::NMI_VECTOR)] = nmi::callback_entry(0);
                    Ok(Outcome::Done(0))
                }
                _ => Err(Errno::ENOSYS),
            };
        }
        _ => return Err(Errno::ENOSYS),
    };
    if ty == CALLBACKTYPE_NMI {
        // As Xen: trap-table vector 2, entered with events masked (`domain::nmi`).
        st.cur_vcpu().trap_table[usize::from(nmi::NMI_VECTOR)] = nmi::callback_entry(addr);
        return Ok(Outcome::Done(0));
    }
    let cb = &mut st.cur_vcpu().callbacks;
    let mask = flags & CALLBACKF_MASK_EVENTS != 0;
    match ty {
        CALLBACKTYPE_EVENT => cb.event = addr,
        CALLBACKTYPE_FAILSAFE => {
            cb.failsafe = addr;
            cb.failsafe_masks_events = mask;
        }
        CALLBACKTYPE_SYSCALL => {
            cb.syscall = addr;
            cb.syscall_masks_events = mask;
        }
        CALLBACKTYPE_SYSCALL32 => {
            cb.syscall32 = addr;
            cb.syscall32_masks_events = mask;
        }
        CALLBACKTYPE_SYSENTER => {
            cb.sysenter = addr;
            cb.sysenter_masks_events = mask;
        }
        _ => return Err(Errno::ENOSYS),
    }
    Ok(Outcome::Done(0))
}

/// stack_switch(ss, sp): the kernel stack used when a trap arrives in guest user mode.
pub fn stack_switch(st: &mut State, _regs: &mut CpuUserRegs, a: StackSwitchArgs) -> HcResult {
    let v = st.cur_vcpu();
    v.kernel_ss = a.ss | 3;
    v.kernel_sp = a.sp;
    Ok(Outcome::Done(0))
}

/// set_segment_base(which, base). SEGBASE_GS_USER_SEL loads user mode's GS selector (the low
/// 16 bits of `base`) and takes its user GS base from the descriptor, as `mov gs` in user mode
/// would; a selector that would fault loads the null selector instead (base 0), as in Xen.
pub fn set_segment_base(st: &mut State, _regs: &mut CpuUserRegs, a: SegmentBaseArgs) -> HcResult {
    let (which, base) = (a.which, a.base);
    if which == SEGBASE_GS_USER_SEL {
        let sel = base as u16;
        let (sel, base) = match crate::domain::selectors::data_selector_base(st, sel) {
            Some(b) => (sel, b),
            None => (0, 0),
        };
        arch::cpu::load_gs_selector(sel);
        let v = st.cur_vcpu();
        v.gs_base_user = base;
        if !v.in_kernel {
            arch::cpu::set_gs_base(base);
        }
        return Ok(Outcome::Done(0));
    }
    if !canonical(base) {
        return Err(Errno::EINVAL);
    }
    let v = st.cur_vcpu();
    match which {
        SEGBASE_FS => {
            v.fs_base = base;
            arch::cpu::set_fs_base(base);
        }
        SEGBASE_GS_USER => {
            v.gs_base_user = base;
            if !v.in_kernel {
                arch::cpu::set_gs_base(base);
            }
        }
        SEGBASE_GS_KERNEL => {
            v.gs_base_kernel = base;
            if v.in_kernel {
                arch::cpu::set_gs_base(base);
            }
        }
        _ => return Err(Errno::EINVAL),
    }
    Ok(Outcome::Done(0))
}
