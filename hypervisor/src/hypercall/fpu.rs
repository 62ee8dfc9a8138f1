//! `fpu_taskswitch`: the guest's virtual CR0.TS (the lazy switching is `domain::fpu`).

use super::{HcResult, Outcome};
use crate::domain::state::State;
use guest_abi::arch::CpuUserRegs;

/// fpu_taskswitch(set): set or clear the caller's virtual CR0.TS.
pub fn fpu_taskswitch(st: &mut State, _regs: &mut CpuUserRegs, a: [u64; 5]) -> HcResult {
    crate::domain::fpu::set_guest_ts(st, a[0] != 0);
    Ok(Outcome::Done(0))
}
