//! Instructions the hypervisor completes for a guest whose execution faulted: a dispatcher
//! by exception vector, one file per kind of emulation. An emulated instruction is retired
//! (the guest's rip moved past it); anything not emulated is left for the caller to deliver
//! to the guest as the exception it was.

mod ptwr;

use crate::domain::state::State;
use guest_abi::arch::CpuUserRegs;

/// The #PF vector.
const PAGE_FAULT: u32 = 14;

/// Try to complete the instruction that raised exception `vector` for the current guest;
/// true if it was emulated and the guest resumes at `regs.rip`.
pub fn handled(st: &mut State, regs: &mut CpuUserRegs, vector: u32) -> bool {
    match vector {
        PAGE_FAULT => ptwr::page_fault(st, regs),
        _ => false,
    }
}
