//! `domctl`: domain control, for the privileged toolstack only.

use super::{HcResult, Outcome};
use crate::domain::{state::State, MAX_VCPUS};
use crate::lifecycle;
use crate::mm::guest_copy;
use guest_abi::arch::{CpuUserRegs, VcpuGuestContext};
use guest_abi::domctl::*;
use guest_abi::errno::Errno;
use guest_abi::hypercall_args::*;
use guest_abi::types::{DomId, EvtchnPort};

/// domctl(u_domctl).
pub fn domctl(st: &mut State, _regs: &mut CpuUserRegs, a: PtrArg) -> HcResult {
    st.require_privileged()?;
    let ptr = a.ptr;
    let mut op: XenDomctl = guest_copy::read(&st.mem, ptr)?;
    if op.interface_version != XEN_DOMCTL_INTERFACE_VERSION {
        return Err(Errno::EACCES);
    }
    let dom = op.domain;
    let copy_back = match op.cmd {
        XEN_DOMCTL_CREATEDOMAIN => {
            let c: DomctlCreateDomain = op.payload();
            // As Xen refuses what it cannot provide: PV only (no HVM, nor HAP or nested
            // virtualisation, which need it), no IOMMU, no vPMU; unknown flags.
            let pv_flags =
                XEN_DOMCTL_CDF_S3_INTEGRITY | XEN_DOMCTL_CDF_OOS_OFF | XEN_DOMCTL_CDF_XS_DOMAIN;
            if c.flags & !pv_flags != 0 {
                return Err(Errno::EINVAL);
            }
            // As Xen: at least one vCPU; grant options beyond the version are unknown.
            if c.max_vcpus == 0 || c.max_vcpus > MAX_VCPUS {
                return Err(Errno::EINVAL);
            }
            if c.grant_opts & !XEN_DOMCTL_GRANT_VERSION_MASK != 0 {
                return Err(Errno::EINVAL);
            }
            let want = (dom != DomId::DOM0 && dom.is_real()).then_some(dom);
            let id = lifecycle::create(st, want, false)?;
            let d = st.dom(id).ok_or(Errno::ESRCH)?;
            d.handle = c.handle;
            // Limits only: the table's pages (none yet) stay where they are.
            let limits =
                crate::domain::grants::GrantState::new(c.max_grant_frames, c.max_maptrack_frames);
            d.grant.max_frames = limits.max_frames;
            d.grant.max_maptrack = limits.max_maptrack;
            d.max_vcpus = c.max_vcpus;
            d.evtchn = crate::domain::ports::PortTable::new(EvtchnPort(c.max_evtchn_port));
            op.domain = id;
            true
        }
        XEN_DOMCTL_DESTROYDOMAIN => {
            lifecycle::destroy(st, dom)?;
            false
        }
        XEN_DOMCTL_PAUSEDOMAIN => {
            // As Xen: a domain cannot pause itself (nothing could unpause it).
            if dom == st.current {
                return Err(Errno::EINVAL);
            }
            let d = target(st, dom)?;
            d.pause_count = d.pause_count.checked_add(1).ok_or(Errno::EOVERFLOW)?;
            false
        }
        XEN_DOMCTL_UNPAUSEDOMAIN => {
            let d = target(st, dom)?;
            if d.pause_count == 0 {
                return Err(Errno::EINVAL);
            }
            d.pause_count -= 1;
            false
        }
        XEN_DOMCTL_GETDOMAININFO => {
            // As Xen: the first domain whose id is at least the one asked for.
            let d = st
                .domains
                .range(dom..)
                .next()
                .map(|(_, d)| &**d)
                .ok_or(Errno::ESRCH)?;
            op.domain = d.id;
            let mut info = domain_info(d, st.current);
            info.cpu_time = crate::sched::cpu_time(st, d.id);
            op.set_payload(&info);
            true
        }
        XEN_DOMCTL_MAX_MEM => {
            let m: DomctlMaxMem = op.payload();
            let d = target(st, dom)?;
            d.max_pages = m.max_memkb / 4;
            false
        }
        XEN_DOMCTL_GETVCPUINFO => {
            let mut v: DomctlGetVcpuInfo = op.payload();
            let current = st.current;
            let d = st.dom(dom).ok_or(Errno::ESRCH)?;
            // One vCPU per domain for now: vCPU 0.
            if v.vcpu >= d.max_vcpus.max(1) {
                return Err(Errno::EINVAL);
            }
            if v.vcpu != 0 {
                return Err(Errno::ESRCH);
            }
            v.online = u8::from(d.vcpu.online);
            v.blocked = u8::from(d.vcpu.blocked);
            v.running = u8::from(d.id == current);
            v.cpu_time = d.cpu_time_ns;
            v.cpu = 0;
            op.set_payload(&v);
            true
        }
        XEN_DOMCTL_SCHEDULER_OP => {
            let mut s: DomctlSchedulerOp = op.payload();
            crate::sched::scheduler_op(st, dom, &mut s)?;
            op.set_payload(&s);
            true
        }
        XEN_DOMCTL_MAX_VCPUS => {
            let m: DomctlMaxVcpus = op.payload();
            if m.max == 0 || m.max > MAX_VCPUS {
                return Err(Errno::EINVAL);
            }
            target(st, dom)?.max_vcpus = m.max;
            false
        }
        XEN_DOMCTL_SETVCPUCONTEXT => {
            let c: DomctlVcpuContext = op.payload();
            // As Xen: not the caller's own context, which is live on the CPU (its page
            // table loaded, its registers in the running frame).
            if dom == st.current || c.vcpu != 0 {
                return Err(Errno::EINVAL);
            }
            let ctxt: VcpuGuestContext = guest_copy::read(&st.mem, c.ctxt)?;
            crate::domain::vcpu_context::set_vcpu_context(st, dom, &ctxt)?;
            false
        }
        XEN_DOMCTL_SENDTRIGGER => {
            let t: DomctlSendTrigger = op.payload();
            let d = target(st, dom)?;
            if t.vcpu >= d.max_vcpus.max(1) || t.vcpu != 0 {
                return Err(Errno::ESRCH);
            }
            match t.trigger {
                XEN_DOMCTL_SENDTRIGGER_NMI => {
                    d.vcpu.nmi.raise();
                    d.wake(crate::time::now());
                }
                // The ACPI buttons exist only for HVM guests (as Xen).
                XEN_DOMCTL_SENDTRIGGER_POWER | XEN_DOMCTL_SENDTRIGGER_SLEEP => {
                    return Err(Errno::EINVAL)
                }
                _ => return Err(Errno::ENOSYS),
            }
            false
        }
        _ => return Err(Errno::ENOSYS),
    };
    if copy_back {
        guest_copy::write(&st.mem, ptr, &op)?;
    }
    Ok(Outcome::Done(0))
}

fn target(st: &mut State, dom: DomId) -> Result<&mut crate::domain::Domain, Errno> {
    match st.dom(dom) {
        Some(d) if !d.dying => Ok(d),
        _ => Err(Errno::ESRCH),
    }
}

/// The `getdomaininfo` view of a domain.
pub fn domain_info(d: &crate::domain::Domain, current: DomId) -> DomctlGetDomainInfo {
    let mut flags = DominfFlags::empty();
    if d.dying {
        flags |= DominfFlags::DYING;
    }
    if let Some(r) = d.shutdown {
        flags |= DominfFlags::SHUTDOWN;
        flags = DominfFlags::from_bits_retain(flags.bits() | (r.as_u32() << 16));
    }
    if d.pause_count > 0 {
        flags |= DominfFlags::PAUSED;
    }
    if d.vcpu.blocked {
        flags |= DominfFlags::BLOCKED;
    }
    if d.id == current {
        flags |= DominfFlags::RUNNING;
    }
    DomctlGetDomainInfo {
        domain: d.id,
        flags: flags.bits(),
        tot_pages: d.tot_pages,
        max_pages: d.max_pages,
        shared_info_frame: d.shared_info.mfn().0,
        cpu_time: d.cpu_time_ns,
        nr_online_vcpus: u32::from(d.vcpu.online),
        max_vcpu_id: d.max_vcpus.saturating_sub(1),
        handle: d.handle,
        ..DomctlGetDomainInfo::default()
    }
}
