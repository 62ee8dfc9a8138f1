//! `set_debugreg` and `get_debugreg`: the caller's debug registers (`domain::debugreg`).

use super::{HcResult, Outcome};
use crate::domain::{debugreg, state::State};
use guest_abi::arch::CpuUserRegs;
use guest_abi::hypercall_args::*;

/// set_debugreg(reg, value).
pub fn set_debugreg(st: &mut State, _regs: &mut CpuUserRegs, a: SetDebugregArgs) -> HcResult {
    debugreg::set(st, a.reg, a.value)?;
    Ok(Outcome::Done(0))
}

/// get_debugreg(reg): the register's value.
pub fn get_debugreg(st: &mut State, _regs: &mut CpuUserRegs, a: GetDebugregArgs) -> HcResult {
    Ok(Outcome::Done(debugreg::get(st, a.reg)?))
}
