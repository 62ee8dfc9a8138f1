//! A vCPU's debug registers as the guest sets them (`set_debugreg`, `mov %drN`), validated
//! as Xen does for a 64-bit PV guest. They are kept per vCPU; the CPU's own debug registers
//! are not loaded with them.

use super::state::State;
use guest_abi::arch::{HYPERVISOR_VIRT_END, HYPERVISOR_VIRT_START};
use guest_abi::cpu::debugreg::*;
use guest_abi::errno::Errno;

/// DR0–DR7 after reset: DR6 and DR7 hold their reserved-one bits.
pub const RESET: [u64; 8] = [0, 0, 0, 0, 0, 0, DR6_RESERVED_ONE, DR7_RESERVED_ONE];

/// Whether a breakpoint address is one the guest may watch: canonical and outside the
/// hypervisor hole.
fn breakpoint_ok(va: u64) -> bool {
    crate::mm::guest_walk::canonical(va)
        && !(HYPERVISOR_VIRT_START..HYPERVISOR_VIRT_END).contains(&va)
}

/// Set debug register `reg` of the current vCPU: EPERM for a breakpoint address the guest
/// may not watch or an enabled I/O breakpoint (CR4.DE is never set for a PV guest), EINVAL
/// for a value wider than DR6/DR7 or a register other than 0–3, 6, 7.
pub fn set(st: &mut State, reg: u32, value: u64) -> Result<(), Errno> {
    let value = checked(reg, value)?;
    st.cur_vcpu().debugreg[reg as usize] = value;
    Ok(())
}

/// The value debug register `reg` holds when the guest asks for `value`, or the error
/// [`set`] answers (a whole context loads its registers through this too).
pub fn checked(reg: u32, value: u64) -> Result<u64, Errno> {
    Ok(match reg {
        0..=3 if !breakpoint_ok(value) => return Err(Errno::EPERM),
        0..=3 => value,
        6 | 7 if value > u64::from(u32::MAX) => return Err(Errno::EINVAL),
        6 => (value & !DR6_RESERVED_ZERO) | DR6_RESERVED_ONE,
        7 => {
            let value = (value & !DR7_RESERVED_ZERO) | DR7_RESERVED_ONE;
            for n in 0..4 {
                let enabled = value >> (2 * n) & 3 != 0;
                if enabled && value >> (16 + 4 * n) & 3 == DR7_RW_IO {
                    return Err(Errno::EPERM);
                }
            }
            value
        }
        _ => return Err(Errno::EINVAL),
    })
}

/// Debug register `reg` of the current vCPU (EINVAL for other than 0–3, 6, 7).
pub fn get(st: &mut State, reg: u32) -> Result<u64, Errno> {
    match reg {
        0..=3 | 6 | 7 => Ok(st.cur_vcpu().debugreg[reg as usize]),
        _ => Err(Errno::EINVAL),
    }
}
