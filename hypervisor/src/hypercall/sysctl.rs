//! `sysctl`: system-wide information for the privileged toolstack: physinfo, readconsole
//! (the hypervisor log ring), getdomaininfolist, perfc_op (`perfc.rs`).

use super::{HcResult, Outcome};
use crate::domain::state::State;
use crate::mm::guest_copy;
use guest_abi::arch::CpuUserRegs;
use guest_abi::domctl::DomctlGetDomainInfo;
use guest_abi::errno::Errno;
use guest_abi::hypercall_args::*;
use guest_abi::sysctl::*;

/// sysctl(u_sysctl).
pub fn sysctl(st: &mut State, _regs: &mut CpuUserRegs, a: PtrArg) -> HcResult {
    st.require_privileged()?;
    let ptr = a.ptr;
    let mut op: XenSysctl = guest_copy::read(&st.mem, ptr)?;
    if op.interface_version != XEN_SYSCTL_INTERFACE_VERSION {
        return Err(Errno::EACCES);
    }
    match op.cmd {
        XEN_SYSCTL_PHYSINFO => {
            let p = SysctlPhysinfo {
                threads_per_core: 1,
                cores_per_socket: crate::cpus::online_count(),
                nr_cpus: crate::cpus::online_count(),
                max_cpu_id: crate::cpus::max_online(),
                nr_nodes: 1,
                cpu_khz: crate::arch::tsc_khz() as u32,
                total_pages: crate::phys::frames::total_count(),
                free_pages: crate::phys::frames::free_for_domains(),
                max_mfn: st.mem.max_mfn.saturating_sub(1),
                ..SysctlPhysinfo::default()
            };
            op.set_payload(&p);
        }
        XEN_SYSCTL_READCONSOLE => {
            let mut r: SysctlReadconsole = op.payload();
            let want = (r.count as usize).min(crate::console::RING_SIZE);
            let mut buf = alloc::vec::Vec::new();
            buf.try_reserve_exact(want).map_err(|_| Errno::ENOMEM)?;
            buf.resize(want, 0u8);
            // Read without clearing first: a bad buffer must not lose the log.
            let (n, index) =
                crate::console::LOG_RING
                    .lock()
                    .read(&mut buf, r.incremental != 0, r.index, false);
            guest_copy::copy_to_guest(&st.mem, r.buffer, &buf[..n])?;
            if r.clear != 0 {
                crate::console::LOG_RING
                    .lock()
                    .read(&mut [], false, 0, true);
            }
            r.count = n as u32;
            r.index = index;
            op.set_payload(&r);
        }
        XEN_SYSCTL_GETDOMAININFOLIST => {
            let mut l: SysctlGetdomaininfolist = op.payload();
            let size = core::mem::size_of::<DomctlGetDomainInfo>() as u64;
            let current = st.current;
            let infos: alloc::vec::Vec<DomctlGetDomainInfo> = st
                .domains
                .range(l.first_domain..)
                .take(l.max_domains as usize)
                .map(|(_, d)| super::domctl::domain_info(d, current))
                .collect();
            for (i, info) in infos.iter().enumerate() {
                guest_copy::write(&st.mem, l.buffer.wrapping_add(i as u64 * size), info)?;
            }
            l.num_domains = infos.len() as u32;
            op.set_payload(&l);
        }
        XEN_SYSCTL_PERFC_OP => {
            let mut p: SysctlPerfcOp = op.payload();
            super::perfc::perfc_op(&st.mem, &mut p)?;
            op.set_payload(&p);
        }
        _ => return Err(Errno::ENOSYS),
    }
    guest_copy::write(&st.mem, ptr, &op)?;
    Ok(Outcome::Done(0))
}
