//! `domctl`: domain control, for the privileged toolstack only.

use super::{HcResult, Outcome};
use crate::domain::{state::State, CpuMask, VcpuId, CPUMASK_BITS, MAX_VCPUS};
use crate::lifecycle;
use crate::mm::guest_copy;
use guest_abi::arch::{CpuUserRegs, VcpuGuestContext, VgcfFlags};
use guest_abi::domctl::*;
use guest_abi::errno::Errno;
use guest_abi::hypercall_args::*;
use guest_abi::types::{DomId, EvtchnPort};

mod save;

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
            if let Err(e) = d.set_max_vcpus(c.max_vcpus) {
                // Out of memory for its vCPUs: the half-made domain goes again.
                let _ = lifecycle::destroy(st, id);
                return Err(e);
            }
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
            if dom == st.current.dom {
                return Err(Errno::EINVAL);
            }
            let d = target(st, dom)?;
            d.pause_count = d.pause_count.checked_add(1).ok_or(Errno::EOVERFLOW)?;
            // Its vCPUs on other CPUs stop at once.
            st.stopped();
            false
        }
        XEN_DOMCTL_UNPAUSEDOMAIN => {
            let d = target(st, dom)?;
            if d.pause_count == 0 {
                return Err(Errno::EINVAL);
            }
            d.pause_count -= 1;
            st.kick = true;
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
            let d = st.dom(dom).ok_or(Errno::ESRCH)?;
            // As Xen: an id beyond the domain's vCPUs is EINVAL.
            let vc = d.vcpu(v.vcpu).ok_or(Errno::EINVAL)?;
            let id = VcpuId::new(d.id, v.vcpu);
            v.online = u8::from(vc.online);
            v.blocked = u8::from(vc.blocked);
            v.cpu = vc.processor as u32;
            v.running = u8::from(crate::sched::is_running(id));
            v.cpu_time = crate::sched::vcpu_cpu_time(st, id);
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
            target(st, dom)?.set_max_vcpus(m.max)?;
            false
        }
        XEN_DOMCTL_SETVCPUCONTEXT => {
            let c: DomctlVcpuContext = op.payload();
            let v = VcpuId::new(dom, c.vcpu);
            // As Xen: a vCPU the domain lacks, or the caller's own vCPU, whose context is
            // live on the CPU (its page table loaded, its registers in the running frame).
            if target(st, dom)?.vcpu(c.vcpu).is_none() || v == st.current {
                return Err(Errno::EINVAL);
            }
            let ctxt: VcpuGuestContext = guest_copy::read(&st.mem, c.ctxt)?;
            // vCPU 0 comes up with its context (the builder's way); another as Xen's
            // VGCF_online says.
            let online =
                c.vcpu == 0 || VgcfFlags::from_bits_retain(ctxt.flags).contains(VgcfFlags::ONLINE);
            crate::domain::vcpu_context::set_vcpu_context(st, v, &ctxt, online)?;
            false
        }
        XEN_DOMCTL_GETVCPUCONTEXT => {
            save::get_vcpu_context(st, dom, &op.payload())?;
            false
        }
        XEN_DOMCTL_GETPAGEFRAMEINFO3 => {
            save::get_page_frame_info3(st, dom, &op.payload())?;
            false
        }
        XEN_DOMCTL_RESUMEDOMAIN => {
            save::resume_domain(st, dom)?;
            false
        }
        XEN_DOMCTL_SETVCPUAFFINITY | XEN_DOMCTL_GETVCPUAFFINITY => {
            let mut a: DomctlVcpuAffinity = op.payload();
            vcpu_affinity(st, dom, &mut a, op.cmd == XEN_DOMCTL_SETVCPUAFFINITY)?;
            op.set_payload(&a);
            true
        }
        XEN_DOMCTL_SENDTRIGGER => {
            let t: DomctlSendTrigger = op.payload();
            let d = target(st, dom)?;
            if d.vcpu(t.vcpu).is_none() {
                return Err(Errno::ESRCH);
            }
            match t.trigger {
                XEN_DOMCTL_SENDTRIGGER_NMI => {
                    if let Some(v) = d.vcpu_mut(t.vcpu) {
                        v.nmi.raise();
                    }
                    d.wake(t.vcpu, crate::time::now());
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

/// `XEN_DOMCTL_setvcpuaffinity` / `getvcpuaffinity` of vCPU `a.vcpu` of `dom`, as Xen: an
/// id beyond its vCPUs, no map named in `flags` or a map without a buffer `EINVAL`; a hard
/// affinity without an online CPU `EINVAL`. Setting writes back the effective maps (hard:
/// the online CPUs in it; soft: those also in the hard one); getting writes the maps set.
fn vcpu_affinity(
    st: &mut State,
    dom: DomId,
    a: &mut DomctlVcpuAffinity,
    set: bool,
) -> Result<(), Errno> {
    let v = target(st, dom)?.vcpu(a.vcpu).ok_or(Errno::EINVAL)?;
    let (hard_flag, soft_flag) = (
        a.flags & XEN_VCPUAFFINITY_HARD != 0,
        a.flags & XEN_VCPUAFFINITY_SOFT != 0,
    );
    if !(hard_flag || soft_flag)
        || (hard_flag && a.cpumap_hard.bitmap == 0)
        || (soft_flag && a.cpumap_soft.bitmap == 0)
    {
        return Err(Errno::EINVAL);
    }
    let online = crate::sched::online_cpus();
    let mut aff = v.affinity;
    if set {
        if hard_flag {
            aff.hard = read_cpumap(st, &a.cpumap_hard)?;
            if aff.hard.and(&online).is_empty() {
                return Err(Errno::EINVAL);
            }
        }
        if soft_flag {
            aff.soft = read_cpumap(st, &a.cpumap_soft)?;
        }
        if let Some(v) = target(st, dom)?.vcpu_mut(a.vcpu) {
            v.affinity = aff;
        }
        let eff_hard = aff.hard.and(&online);
        if hard_flag {
            write_cpumap(st, &a.cpumap_hard, &eff_hard)?;
        }
        if soft_flag {
            write_cpumap(st, &a.cpumap_soft, &aff.soft.and(&eff_hard))?;
        }
    } else {
        if hard_flag {
            write_cpumap(st, &a.cpumap_hard, &aff.hard)?;
        }
        if soft_flag {
            write_cpumap(st, &a.cpumap_soft, &aff.soft)?;
        }
    }
    Ok(())
}

/// The CPUs of the caller's map `m` (bits beyond [`CPUMASK_BITS`] ignored, as Xen ignores
/// bits beyond its CPUs).
fn read_cpumap(st: &State, m: &XenctlBitmap) -> Result<CpuMask, Errno> {
    let mut out = CpuMask::NONE;
    let bytes = (m.nr_bits as usize).div_ceil(8).min(CPUMASK_BITS / 8);
    guest_copy::copy_from_guest(&st.mem, m.bitmap, &mut out.0[..bytes])?;
    if !m.nr_bits.is_multiple_of(8) && bytes == (m.nr_bits as usize).div_ceil(8) {
        out.0[bytes - 1] &= (1u8 << (m.nr_bits % 8)) - 1;
    }
    Ok(out)
}

/// Write `mask` into the caller's map `m`: its bytes as far as both reach, zeros beyond.
fn write_cpumap(st: &State, m: &XenctlBitmap, mask: &CpuMask) -> Result<(), Errno> {
    let guest_bytes = (m.nr_bits as usize).div_ceil(8);
    let ours = guest_bytes.min(CPUMASK_BITS / 8);
    guest_copy::copy_to_guest(&st.mem, m.bitmap, &mask.0[..ours])?;
    let zeros = [0u8; 64];
    let mut at = ours;
    while at < guest_bytes {
        let n = (guest_bytes - at).min(zeros.len());
        guest_copy::copy_to_guest(&st.mem, m.bitmap.wrapping_add(at as u64), &zeros[..n])?;
        at += n;
    }
    Ok(())
}

/// The `getdomaininfo` view of a domain; `current` is the vCPU on the CPU.
pub fn domain_info(d: &crate::domain::Domain, current: VcpuId) -> DomctlGetDomainInfo {
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
    // As Xen: blocked when every vCPU that is up is blocked; running when one is on a CPU.
    let mut up = d.vcpus.iter().filter(|v| v.online).peekable();
    if up.peek().is_some() && up.all(|v| v.blocked) {
        flags |= DominfFlags::BLOCKED;
    }
    if d.id == current.dom {
        flags |= DominfFlags::RUNNING;
    }
    DomctlGetDomainInfo {
        domain: d.id,
        flags: flags.bits(),
        tot_pages: d.tot_pages,
        max_pages: d.max_pages,
        shared_info_frame: d.shared_info.mfn().0,
        cpu_time: d.cpu_time_ns,
        nr_online_vcpus: d.online_vcpus(),
        max_vcpu_id: d.max_vcpus().saturating_sub(1),
        handle: d.handle,
        ..DomctlGetDomainInfo::default()
    }
}
