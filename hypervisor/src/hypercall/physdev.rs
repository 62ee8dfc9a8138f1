//! `physdev_op(cmd, arg)`: physical-device operations. A domain has no devices yet, so only
//! the virtual I/O privilege level is kept (`PHYSDEVOP_set_iopl`, which Linux sets to 1 at
//! boot and which lets its kernel's `cli`/`sti` be emulated, see `crate::emulate`); every
//! other operation is `-ENOSYS`, from which Linux falls back as it does on Xen without
//! devices (no PIRQ EOI map, no MSI).

use super::{HcResult, Outcome};
use crate::domain::state::State;
use crate::mm::guest_copy;
use guest_abi::arch::CpuUserRegs;
use guest_abi::errno::Errno;
use guest_abi::hypercall_args::CmdArg;
use guest_abi::physdev::{PhysdevSetIopl, PHYSDEVOP_SET_IOPL};

/// physdev_op(cmd, arg).
pub fn physdev_op(st: &mut State, _regs: &mut CpuUserRegs, a: CmdArg) -> HcResult {
    match a.cmd {
        PHYSDEVOP_SET_IOPL => {
            let s: PhysdevSetIopl = guest_copy::read(&st.mem, a.arg)?;
            if s.iopl > 3 {
                return Err(Errno::EINVAL);
            }
            st.cur().vcpu.iopl = s.iopl as u8;
            Ok(Outcome::Done(0))
        }
        _ => Err(Errno::ENOSYS),
    }
}
