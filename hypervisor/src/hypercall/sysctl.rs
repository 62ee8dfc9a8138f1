//! `sysctl`: system-wide information for the privileged toolstack.

use super::{HcResult, Outcome};
use crate::domain::state::State;
use crate::mm::guest_copy;
use guest_abi::arch::CpuUserRegs;
use guest_abi::errno::Errno;
use guest_abi::sysctl::*;

/// sysctl(u_sysctl).
pub fn sysctl(st: &mut State, _regs: &mut CpuUserRegs, a: [u64; 5]) -> HcResult {
    super::require_privileged(st)?;
    let ptr = a[0];
    let mut op: XenSysctl = guest_copy::read(&st.mem, ptr)?;
    if op.interface_version != XEN_SYSCTL_INTERFACE_VERSION {
        return Err(Errno::EACCES);
    }
    match op.cmd {
        XEN_SYSCTL_PHYSINFO => {
            let p = SysctlPhysinfo {
                threads_per_core: 1,
                cores_per_socket: 1,
                nr_cpus: 1,
                nr_nodes: 1,
                cpu_khz: crate::arch::x86_64::tsc_khz() as u32,
                total_pages: crate::mm::frames::total_count(),
                free_pages: crate::mm::frames::free_count(),
                max_mfn: st.mem.max_mfn.saturating_sub(1),
                ..SysctlPhysinfo::default()
            };
            op.set_payload(&p);
        }
        _ => return Err(Errno::ENOSYS),
    }
    guest_copy::write(&st.mem, ptr, &op)?;
    Ok(Outcome::Done(0))
}
