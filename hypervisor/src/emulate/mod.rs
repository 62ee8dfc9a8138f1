//! Emulation of guest instructions that fault, entered from `traps::guest_exception` by
//! vector, one file per kind: writable page tables on #PF (`ptwr`), privileged instructions
//! on #GP and the PV CPUID escape on #UD (`privop`, `cpuid`, `msr`, reading the instruction
//! through `fetch`). Only the guest kernel is emulated for; its user mode gets the fault
//! delivered. An emulated instruction is retired (rip moved past it); anything else is
//! delivered to the guest as the exception it was, or as the one emulation chose.

pub mod cpuid;
pub mod fetch;
pub mod msr;
pub mod privop;
mod ptwr;

use crate::domain::state::State;
use guest_abi::arch::CpuUserRegs;

/// What emulating a faulting instruction came to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Emulation {
    /// Emulated: the registers, rip included, are updated; return to the guest.
    Done,
    /// Deliver this exception to the guest instead of the original fault (`cr2` for #PF).
    Inject {
        /// The vector.
        vector: u32,
        /// Its error code, for vectors that have one.
        error: Option<u64>,
        /// The faulting address of a #PF.
        cr2: Option<u64>,
    },
    /// Not emulated: deliver the original fault.
    NotEmulated,
}

impl Emulation {
    /// #GP with error code 0.
    pub const GP0: Emulation = Emulation::Inject {
        vector: 13,
        error: Some(0),
        cr2: None,
    };
}

/// Build the instruction decoder's tables now: iced-x86 makes them on first use, which takes
/// millions of instructions; at start-up, not inside a guest's fault with interrupts off.
pub fn warm_up() {
    let nop = [0x90u8];
    let mut d = iced_x86::Decoder::with_ip(64, &nop, 0, iced_x86::DecoderOptions::NONE);
    let _ = d.decode();
}

/// Try to emulate the instruction behind exception `vector` of the current vCPU.
pub fn dispatch(st: &mut State, regs: &mut CpuUserRegs, vector: u32) -> Emulation {
    if !st.cur_vcpu().in_kernel {
        return Emulation::NotEmulated;
    }
    match vector {
        6 => privop::invalid_opcode(st, regs),
        13 => privop::general_protection(st, regs),
        14 if ptwr::page_fault(st, regs) => Emulation::Done,
        _ => Emulation::NotEmulated,
    }
}

#[cfg(test)]
mod tests;
