//! The `iret` hypercall: return from a bounce frame, possibly into guest user mode.

use super::{HcResult, Outcome};
use crate::domain::{state::State, vcpu_info};
use crate::mm::guest_copy;
use guest_abi::arch::{CpuUserRegs, IretContext, VgcfFlags};
use guest_abi::hypercall_args::*;

/// Flags a guest may restore: CF PF AF ZF SF TF DF OF NT RF AC ID (IF handled apart).
const RFLAGS_GUEST: u64 = 0x0025_4FD5;
const RFLAGS_IF: u64 = 1 << 9;

/// iret(): the iret_context is on the guest stack at rsp.
pub fn iret(st: &mut State, regs: &mut CpuUserRegs, _a: NoArgs) -> HcResult {
    let c: IretContext = match guest_copy::read(&st.mem, regs.rsp) {
        Ok(c) => c,
        Err(_) => {
            return Err(crash(
                st,
                "cannot read the iret context from the guest stack",
            ))
        }
    };
    if c.cs & 3 == 3 && st.cur_vcpu().in_kernel {
        if st.cur_vcpu().user_l4 == guest_abi::types::Mfn(0) {
            return Err(crash(st, "iret to user mode with no user page tables"));
        }
        crate::domain::bounce::toggle_guest_mode(st);
    }
    // The end of an NMI handler, if one ran (as Xen: any iret ends it).
    st.cur_vcpu().nmi.in_handler = false;
    regs.rax = c.rax;
    regs.r11 = c.r11;
    regs.rcx = c.rcx;
    regs.rip = c.rip;
    regs.cs = (c.cs as u16) | 3;
    regs.rflags = (c.rflags & RFLAGS_GUEST) | RFLAGS_IF | 2;
    regs.rsp = c.rsp;
    regs.ss = (c.ss as u16) | 3;
    vcpu_info::set_upcall_mask(&st.cur_vcpu_info(), c.rflags & RFLAGS_IF == 0);
    if !crate::domain::bounce::return_frame_ok(st, regs.cs, regs.ss, regs.rip) {
        // A context the CPU cannot enter: a #GP or the failsafe callback for the guest
        // kernel (`domain::bounce::bad_return`), else the domain is crashed.
        regs.entry_vector = 0;
        return match crate::domain::bounce::bad_return(st, regs) {
            Ok(()) => Ok(Outcome::Regs),
            Err(why) => Err(crash(st, why)),
        };
    }
    // Only a return the guest marked as from `syscall` may clobber rcx/r11 through sysret.
    if VgcfFlags::from_bits_retain(c.flags).contains(VgcfFlags::IN_SYSCALL) {
        regs.rcx = c.rip;
        regs.r11 = regs.rflags;
    } else {
        regs.entry_vector = 0;
    }
    Ok(Outcome::Regs)
}

fn crash(st: &mut State, why: &str) -> guest_abi::errno::Errno {
    let id = st.current.dom;
    crate::lifecycle::crash(st, id, format_args!("{why}"));
    guest_abi::errno::Errno::EFAULT
}
