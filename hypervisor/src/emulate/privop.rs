//! Privileged instructions of a PV guest kernel (which runs in ring 3, so they fault with
//! #GP) and the PV CPUID escape (`ud2a; .ascii "xen"; cpuid`, a #UD): decoded at rip and
//! emulated against the vCPU's virtual state, rip advanced by the instruction's length.

use super::{cpuid, fetch, msr, Emulation};
use crate::domain::state::State;
use crate::domain::{debugreg, fpu, vcpu_context, vcpu_info};
use crate::mm::guest_copy;
use guest_abi::arch::CpuUserRegs;
use guest_abi::cpu::*;
use guest_abi::types::Mfn;
use iced_x86::{Code, Instruction, Register};

/// The 64-bit general register `r` names, or `None` for another kind (`mov` to or from a
/// control or debug register always has a 64-bit operand in long mode).
fn gpr(regs: &mut CpuUserRegs, r: Register) -> Option<&mut u64> {
    let n = (r as u32).checked_sub(Register::RAX as u32)?;
    Some(match n {
        0 => &mut regs.rax,
        1 => &mut regs.rcx,
        2 => &mut regs.rdx,
        3 => &mut regs.rbx,
        4 => &mut regs.rsp,
        5 => &mut regs.rbp,
        6 => &mut regs.rsi,
        7 => &mut regs.rdi,
        8 => &mut regs.r8,
        9 => &mut regs.r9,
        10 => &mut regs.r10,
        11 => &mut regs.r11,
        12 => &mut regs.r12,
        13 => &mut regs.r13,
        14 => &mut regs.r14,
        15 => &mut regs.r15,
        _ => return None,
    })
}

/// Answer `cpuid` from the PV policy: leaf in eax, subleaf in ecx, upper halves cleared.
fn do_cpuid(regs: &mut CpuUserRegs) {
    let (a, b, c, d) = cpuid::pv_cpuid(regs.rax as u32, regs.rcx as u32);
    regs.rax = u64::from(a);
    regs.rbx = u64::from(b);
    regs.rcx = u64::from(c);
    regs.rdx = u64::from(d);
}

/// #UD: the PV CPUID escape, the only instruction emulated on it.
pub fn invalid_opcode(st: &mut State, regs: &mut CpuUserRegs) -> Emulation {
    let mut insn = [0u8; 7];
    if !crate::mm::guest_walk::canonical(regs.rip)
        || guest_copy::copy_from_guest(&st.mem, regs.rip, &mut insn).is_err()
        || insn[..5] != XEN_EMULATE_PREFIX
        || insn[5..] != CPUID_OPCODE
    {
        return Emulation::NotEmulated;
    }
    do_cpuid(regs);
    regs.rip = regs.rip.wrapping_add(insn.len() as u64);
    Emulation::Done
}

/// #GP: decode the instruction at rip and emulate it if it is one a PV kernel may use.
pub fn general_protection(st: &mut State, regs: &mut CpuUserRegs) -> Emulation {
    let insn = match fetch::decode(st, regs.rip) {
        Ok(i) => i,
        Err(e) => return e,
    };
    match emulate(st, regs, &insn) {
        Emulation::Done => {
            regs.rip = regs.rip.wrapping_add(insn.len() as u64);
            Emulation::Done
        }
        other => other,
    }
}

/// Emulate `insn`, rip not yet advanced.
fn emulate(st: &mut State, regs: &mut CpuUserRegs, insn: &Instruction) -> Emulation {
    let edx_eax = |r: &CpuUserRegs| (r.rdx << 32) | (r.rax & 0xFFFF_FFFF);
    match insn.code() {
        Code::Cpuid => do_cpuid(regs),
        Code::Rdmsr => match msr::read(st, regs.rcx as u32) {
            Some(v) => {
                regs.rax = v & 0xFFFF_FFFF;
                regs.rdx = v >> 32;
            }
            None => return Emulation::GP0,
        },
        Code::Wrmsr => {
            if msr::write(st, regs.rcx as u32, edx_eax(regs)).is_err() {
                return Emulation::GP0;
            }
        }
        Code::Rdtsc | Code::Rdtscp => {
            let t = crate::arch::cpu::rdtsc();
            regs.rax = t & 0xFFFF_FFFF;
            regs.rdx = t >> 32;
            if insn.code() == Code::Rdtscp {
                // TSC_AUX: the vCPU id.
                regs.rcx = 0;
            }
        }
        Code::Mov_r64_cr => {
            let v = match read_cr(st, insn.op1_register()) {
                Some(v) => v,
                None => return Emulation::NotEmulated,
            };
            match gpr(regs, insn.op0_register()) {
                Some(r) => *r = v,
                None => return Emulation::NotEmulated,
            }
        }
        Code::Mov_cr_r64 => {
            let Some(v) = gpr(regs, insn.op1_register()).map(|r| *r) else {
                return Emulation::NotEmulated;
            };
            return write_cr(st, insn.op0_register(), v);
        }
        Code::Clts => fpu::set_guest_ts(st, false),
        // As Xen: with a virtual IOPL of 1 or more the guest kernel's `cli`/`sti` set and clear
        // its event mask (a later `popf` cannot restore it: the guest's own business).
        Code::Cli | Code::Sti if st.cur_vcpu().iopl >= 1 => {
            let masked = insn.code() == Code::Cli;
            vcpu_info::set_upcall_mask(&st.cur_vcpu_info(), masked);
        }
        // No cache state of the guest's own to write back.
        Code::Wbinvd => {}
        Code::Mov_r64_dr => {
            let Some(n) = dr_number(insn.op1_register()) else {
                return Emulation::NotEmulated;
            };
            let v = st.cur_vcpu().debugreg[n as usize];
            match gpr(regs, insn.op0_register()) {
                Some(r) => *r = v,
                None => return Emulation::NotEmulated,
            }
        }
        Code::Mov_dr_r64 => {
            let Some(n) = dr_number(insn.op0_register()) else {
                return Emulation::NotEmulated;
            };
            let Some(v) = gpr(regs, insn.op1_register()).map(|r| *r) else {
                return Emulation::NotEmulated;
            };
            if debugreg::set(st, n, v).is_err() {
                return Emulation::GP0;
            }
        }
        code => {
            if !port_io(regs, insn, code) {
                return Emulation::NotEmulated;
            }
        }
    }
    Emulation::Done
}

/// DR0–DR7 as a number; DR4/DR5 alias DR6/DR7 (CR4.DE is clear).
fn dr_number(r: Register) -> Option<u32> {
    match (r as u32).checked_sub(Register::DR0 as u32)? {
        n @ (0..=3 | 6 | 7) => Some(n),
        n @ (4 | 5) => Some(n + 2),
        _ => None,
    }
}

/// A control register as the PV guest kernel reads it.
fn read_cr(st: &mut State, r: Register) -> Option<u64> {
    let v = &*st.cur_vcpu();
    Some(match r {
        Register::CR0 => PV_CR0 | if v.fpu.guest_ts { CR0_TS } else { 0 },
        Register::CR2 => vcpu_info::cr2(&st.cur_vcpu_info()),
        // The machine address of the L4 in use (kernel or user).
        Register::CR3 => v.active_l4().addr(),
        Register::CR4 => PV_CR4,
        _ => return None,
    })
}

/// `mov` to a control register: CR3 loads the kernel page table (`MMUEXT_NEW_BASEPTR`, #GP
/// if the table is refused); CR0 may only toggle TS (`fpu_taskswitch`); CR4 is taken and
/// ignored.
fn write_cr(st: &mut State, r: Register, v: u64) -> Emulation {
    match r {
        Register::CR3 => {
            if vcpu_context::new_baseptr(st, false, Mfn::containing(v)).is_err() {
                return Emulation::GP0;
            }
        }
        Register::CR0 if v & !CR0_TS == PV_CR0 => fpu::set_guest_ts(st, v & CR0_TS != 0),
        // As Xen: the visible bits are the hypervisor's and the ones a guest may choose are
        // not offered (see `PV_CR4`), so the write is taken and changes nothing.
        Register::CR4 => {}
        _ => return Emulation::GP0,
    }
    Emulation::Done
}

/// `in`/`out` of a port the domain may not use (none are granted): reads give all ones,
/// writes are dropped. Whether `code` was one.
fn port_io(regs: &mut CpuUserRegs, _insn: &Instruction, code: Code) -> bool {
    let ones = |regs: &mut CpuUserRegs, mask: u64| regs.rax |= mask;
    match code {
        Code::In_AL_imm8 | Code::In_AL_DX => ones(regs, 0xFF),
        Code::In_AX_imm8 | Code::In_AX_DX => ones(regs, 0xFFFF),
        // A 32-bit destination clears the upper half, as for any 32-bit register write.
        Code::In_EAX_imm8 | Code::In_EAX_DX => regs.rax = 0xFFFF_FFFF,
        Code::Out_imm8_AL
        | Code::Out_imm8_AX
        | Code::Out_imm8_EAX
        | Code::Out_DX_AL
        | Code::Out_DX_AX
        | Code::Out_DX_EAX => {}
        _ => return false,
    }
    true
}
