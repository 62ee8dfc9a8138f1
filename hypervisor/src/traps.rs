//! Exceptions and user-mode `syscall`s raised by guests, routed to the handlers they
//! registered with `set_trap_table` through a bounce frame (`domain::bounce`). Without a
//! handler, or when the frame cannot be written, the domain is crashed and reported while the
//! others run on.

use crate::arch;
use crate::domain::{bounce, state, state::State, vcpu_info};
use crate::emulate::Emulation;
use crate::mm::guest_copy;
use guest_abi::arch::CpuUserRegs;

/// Vectors whose exceptions push an error code.
const ERROR_CODE_VECTORS: u32 =
    (1 << 8) | (0x1F << 10) | (1 << 17) | (1 << 21) | (1 << 29) | (1 << 30);

/// Mnemonic of an exception vector.
pub fn vector_name(v: u32) -> &'static str {
    const NAMES: [&str; 21] = [
        "divide error (#DE)",
        "debug (#DB)",
        "NMI",
        "breakpoint (#BP)",
        "overflow (#OF)",
        "bound range (#BR)",
        "invalid opcode (#UD)",
        "device not available (#NM)",
        "double fault (#DF)",
        "coprocessor segment overrun",
        "invalid TSS (#TS)",
        "segment not present (#NP)",
        "stack fault (#SS)",
        "general protection fault (#GP)",
        "page fault (#PF)",
        "reserved",
        "x87 error (#MF)",
        "alignment check (#AC)",
        "machine check (#MC)",
        "SIMD error (#XM)",
        "virtualization (#VE)",
    ];
    NAMES.get(v as usize).copied().unwrap_or("exception")
}

/// `int $n` from the guest whose trap-table entry allows it (DPL 3) is delivered to that
/// handler; the CPU reports it as #GP because every IDT gate but int3/into is DPL 0.
fn software_interrupt(st: &mut State, regs: &CpuUserRegs) -> Option<u8> {
    let mut insn = [0u8; 2];
    guest_copy::copy_from_guest(&st.mem, regs.rip, &mut insn).ok()?;
    if insn[0] != 0xCD {
        return None;
    }
    let t = st.cur_vcpu().trap_table[insn[1] as usize];
    (t.address != 0 && t.flags & 3 == 3).then_some(insn[1])
}

/// The #PF error code's user bit.
const PFEC_USER: u64 = 1 << 2;

/// A #PF error code as the guest must see it: the user bit says whether the guest was in its
/// user mode, not the hardware ring (always 3 for a PV guest).
pub fn pf_error_for_guest(hw: u64, guest_kernel: bool) -> u64 {
    if guest_kernel {
        hw & !PFEC_USER
    } else {
        hw | PFEC_USER
    }
}

/// An exception (vector 0–31) from a guest.
pub fn guest_exception(regs: &mut CpuUserRegs) {
    let vector = regs.entry_vector & 0xFF;
    let outcome = state::with(|st| {
        let (vector, error, rip_advance) = match (vector, software_interrupt(st, regs)) {
            (13, Some(n)) => (u32::from(n), None, 2),
            _ => (
                vector,
                (ERROR_CODE_VECTORS >> vector & 1 != 0).then_some(u64::from(regs.error_code)),
                0,
            ),
        };
        // Writable page tables, privileged instructions and the CPUID escape of the guest
        // kernel (`emulate`).
        let emulated = if rip_advance == 0 {
            crate::emulate::dispatch(st, regs, vector)
        } else {
            Emulation::NotEmulated
        };
        let (vector, error, cr2) = match emulated {
            Emulation::Done => return Ok(()),
            Emulation::Inject { vector, error, cr2 } => (vector, error, cr2),
            Emulation::NotEmulated => (vector, error, None),
        };
        if vector == 7 && !crate::domain::fpu::device_not_available(st) {
            // Lazy FPU switch only: retry the instruction with the vCPU's state loaded.
            return Ok(());
        }
        let t = st.cur_vcpu().trap_table[vector as usize];
        if t.address == 0 {
            return Err("no handler registered");
        }
        let mut error = error;
        if vector == 14 {
            let cr2 = cr2.unwrap_or_else(arch::cpu::read_cr2);
            vcpu_info::set_cr2(&st.cur_vcpu_info(), cr2);
            // The guest kernel runs in ring 3, so the CPU always reports a user access: as Xen
            // does, report the guest's own privilege (user only for its user mode).
            error = error.map(|e| pf_error_for_guest(e, st.cur_vcpu().in_kernel));
        }
        regs.rip += rip_advance;
        bounce::bounce(st, regs, t.address, error, t.flags & 4 != 0)
    });
    if let Err(why) = outcome {
        let mut detail = [0u8; 200];
        let mut w = crate::util::ByteWriter::new(&mut detail);
        let _ = core::fmt::write(
            &mut w,
            format_args!(
                "{} at rip {:#x}, error code {:#x}, {why}",
                vector_name(vector),
                regs.rip,
                regs.error_code
            ),
        );
        // The top of the guest's stack (its caller's return address, usually), as far as
        // the guest's own page tables let it be read.
        let top = state::with(|st| guest_copy::read::<u64>(&st.mem, regs.rsp).ok());
        let _ = core::fmt::write(&mut w, format_args!(", rsp {:#x}", regs.rsp));
        if let Some(top) = top {
            let _ = core::fmt::write(&mut w, format_args!(" ([rsp] {top:#x})"));
        }
        if vector == 14 {
            let _ = core::fmt::write(&mut w, format_args!(", cr2 {:#x}", arch::cpu::read_cr2()));
        }
        let n = w.len();
        crate::sched::crash_current(
            regs,
            core::str::from_utf8(&detail[..n]).unwrap_or("exception"),
        );
    }
}

/// RFLAGS.DF, cleared for a syscall callback (as Xen).
const RFLAGS_DF: u64 = 1 << 10;

/// A `syscall` from guest user mode: bounce to the guest kernel's syscall callback.
pub fn user_syscall(regs: &mut CpuUserRegs) {
    let r = state::with(|st| {
        let cb = st.cur_vcpu().callbacks;
        if cb.syscall == 0 {
            return Err("syscall from guest user mode with no syscall callback");
        }
        bounce::bounce(st, regs, cb.syscall, None, cb.syscall_masks_events)
    });
    match r {
        Ok(()) => regs.rflags &= !RFLAGS_DF,
        Err(why) => crate::sched::crash_current(regs, why),
    }
}

/// A compat-mode `syscall` (the frame's CS is FLAT_RING3_CS32): bounce to the syscall32
/// callback, or the 64-bit syscall callback if none is registered (as Xen). Never a
/// hypercall, even from guest kernel mode.
pub fn compat_syscall(regs: &mut CpuUserRegs) {
    let r = state::with(|st| {
        let cb = st.cur_vcpu().callbacks;
        let (to, mask) = if cb.syscall32 != 0 {
            (cb.syscall32, cb.syscall32_masks_events)
        } else {
            (cb.syscall, cb.syscall_masks_events)
        };
        if to == 0 {
            return Err("compat-mode syscall with no syscall32 or syscall callback");
        }
        bounce::bounce(st, regs, to, None, mask)
    });
    match r {
        Ok(()) => regs.rflags &= !RFLAGS_DF,
        Err(why) => crate::sched::crash_current(regs, why),
    }
}

/// A `sysenter` (the frame holds rip 0, rsp 0, cs 3, as Xen's): bounce to the sysenter
/// callback; with none registered, a #GP with error code 0 through the trap table (as Xen).
pub fn sysenter(regs: &mut CpuUserRegs) {
    let r = state::with(|st| {
        let cb = st.cur_vcpu().callbacks;
        if cb.sysenter != 0 {
            return bounce::bounce(st, regs, cb.sysenter, None, cb.sysenter_masks_events);
        }
        let gp = st.cur_vcpu().trap_table[13];
        if gp.address == 0 {
            return Err("sysenter with no sysenter callback and no #GP handler");
        }
        bounce::bounce(st, regs, gp.address, Some(0), gp.flags & 4 != 0)
    });
    if let Err(why) = r {
        crate::sched::crash_current(regs, why);
    }
}

/// `enter_guest` found a frame it cannot return to: a #GP or the failsafe callback for the
/// guest kernel (see [`bounce::bad_return`]), else the domain is crashed and another one scheduled.
pub fn bad_frame(regs: &mut CpuUserRegs) {
    if state::with(|st| bounce::bad_return(st, regs)).is_err() {
        crate::sched::crash_current(regs, "bad return frame (rip or selectors)");
    }
}
