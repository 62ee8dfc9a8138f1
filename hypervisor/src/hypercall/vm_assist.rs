//! `vm_assist(cmd, type)`: turn a VM assist on or off for the calling domain.
//!
//! As Xen for a 64-bit PV guest: the types of `VM_ASSIST_VALID` are accepted (their bit is
//! recorded) and any other is `-EINVAL`; a command other than enable/disable is `-ENOSYS`.
//! Writable page tables are always in force for 64-bit PV (see `crate::emulate`), so turning
//! that type off changes only the recorded bit; the other types record the guest's request
//! and have no further effect here (4 GiB segments and extended CR3 concern 32-bit guests).

use super::{HcResult, Outcome};
use crate::domain::state::State;
use guest_abi::arch::CpuUserRegs;
use guest_abi::errno::Errno;
use guest_abi::hypercall_args::VmAssistArgs;
use guest_abi::mmu::{VMASST_CMD_DISABLE, VMASST_CMD_ENABLE, VM_ASSIST_VALID};

/// vm_assist(cmd, type).
pub fn vm_assist(st: &mut State, _regs: &mut CpuUserRegs, a: VmAssistArgs) -> HcResult {
    if a.type_ >= 64 || VM_ASSIST_VALID >> a.type_ & 1 == 0 {
        return Err(Errno::EINVAL);
    }
    let bit = 1u64 << a.type_;
    let d = st.cur();
    match a.cmd {
        VMASST_CMD_ENABLE => d.vm_assist |= bit,
        VMASST_CMD_DISABLE => d.vm_assist &= !bit,
        _ => return Err(Errno::ENOSYS),
    }
    Ok(Outcome::Done(0))
}
