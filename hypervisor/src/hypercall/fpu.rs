//! `fpu_taskswitch`: the guest's virtual CR0.TS (the lazy switching is `domain::fpu`).

use super::{HcResult, Outcome};
use crate::domain::state::State;
use guest_abi::arch::CpuUserRegs;
use guest_abi::hypercall_args::*;

/// fpu_taskswitch(set): set or clear the caller's virtual CR0.TS.
pub fn fpu_taskswitch(st: &mut State, _regs: &mut CpuUserRegs, a: FpuTaskswitchArgs) -> HcResult {
    crate::domain::fpu::set_guest_ts(st, a.set);
    Ok(Outcome::Done(0))
}
