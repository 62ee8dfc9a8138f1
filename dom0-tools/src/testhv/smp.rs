//! Host tests only: the multi-vCPU, multi-CPU side of the hypervisor (issue 17) as the
//! toolstack sees it, modelled around the real hypervisor ([`TestHv`]), which runs one vCPU
//! per domain. [`SmpHv`] forwards every operation to it except what it models, with Xen's
//! semantics (`xen/common/domctl.c`, as `xen-pv-abi.md` and Xen's public headers describe):
//!
//! - a host of `possible` CPUs (`physinfo.max_cpu_id + 1`), of which some are online
//!   (`physinfo.nr_cpus`);
//! - each domain's `max_vcpus` (1 to [`MODEL_MAX_VCPUS`]: createdomain and max_vcpus refuse
//!   others with `EINVAL`; the real hypervisor is given 1) and, per vCPU, whether it is up,
//!   the CPU it runs on, its hard and soft affinity and a temporary pin of the guest's;
//! - `getdomaininfo` (`max_vcpu_id`, `nr_online_vcpus`), `getvcpuinfo` of every vCPU (vCPU 0's
//!   state is the real one's, its CPU the model's), `setvcpuaffinity` (`EINVAL` for a vCPU
//!   beyond `max_vcpus`, no map named, or a hard map without an online CPU; `EBUSY` for a
//!   temporarily pinned vCPU unless `XEN_VCPUAFFINITY_FORCE`; the affinity in effect written
//!   back: the hard map, and the soft map within it) and `getvcpuaffinity`;
//! - what a guest does itself: bringing its vCPUs up and down (`VCPUOP_up`/`down`, as
//!   Linux does when `cpu/<n>/availability` changes) and pinning one temporarily.
//!
//! When the hypervisor runs several vCPUs itself, the tests can run on [`TestHv`] alone.

use super::{FailPoint, TestHv};
use crate::cpumap::CpuMap;
use crate::hv::{GrantCopy, Hypervisor};
use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use guest_abi::arch::VcpuGuestContext;
use guest_abi::domctl::*;
use guest_abi::errno::Errno;
use guest_abi::mmu::MmuextOp;
use guest_abi::sched::ShutdownReason;
use guest_abi::sysctl::*;
use guest_abi::types::DomId;

/// The most vCPUs a domain may have (the hypervisor's limit of issue 17).
pub const MODEL_MAX_VCPUS: u32 = 8;

/// One vCPU as the model keeps it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ModelVcpu {
    /// Brought up by the guest (vCPUs other than 0; vCPU 0's state is the hypervisor's).
    pub up: bool,
    /// The CPU it runs on (or last ran on).
    pub cpu: u32,
    pub hard: CpuMap,
    pub soft: CpuMap,
    /// The guest pinned it to this CPU for a while (`SCHEDOP_pin_override`).
    pub pinned: Option<u32>,
    pub cpu_time: u64,
}

/// One `setvcpuaffinity`/`getvcpuaffinity` as it reached the model.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AffinityCall {
    pub cmd: u32,
    pub domid: DomId,
    pub vcpu: u32,
    pub flags: u32,
    /// The maps as given (a set's input).
    pub hard: CpuMap,
    pub soft: CpuMap,
    /// Bits of each map.
    pub nr_bits: usize,
}

/// The real hypervisor, with several CPUs and multi-vCPU domains modelled around it.
pub struct SmpHv {
    pub hv: TestHv,
    /// CPUs `0..possible` exist.
    possible: u32,
    online: CpuMap,
    threads_per_core: u32,
    doms: BTreeMap<u16, Vec<ModelVcpu>>,
    /// Every affinity operation, in order.
    pub affinity_calls: Vec<AffinityCall>,
}

impl SmpHv {
    /// A machine with `mib` MiB of RAM (as [`TestHv::boot`]) and CPUs `0..cpus`, all online,
    /// one thread per core.
    pub fn boot(mib: u64, cpus: u32) -> SmpHv {
        assert!((1..=crate::cpumap::MAX_CPUS).contains(&cpus));
        SmpHv {
            hv: TestHv::boot(mib),
            possible: cpus,
            online: CpuMap::first(cpus),
            threads_per_core: 1,
            doms: BTreeMap::new(),
            affinity_calls: Vec::new(),
        }
    }

    /// Takes CPU `cpu` offline, or brings it back.
    pub fn set_cpu_online(&mut self, cpu: u32, online: bool) {
        assert!(cpu < self.possible);
        if online {
            self.online.insert(cpu);
        } else {
            self.online.remove(cpu);
        }
    }

    /// Two threads per core (or one).
    pub fn set_threads_per_core(&mut self, n: u32) {
        self.threads_per_core = n;
    }

    /// The model's vCPUs of `dom` (taking up a domain it has not seen yet).
    pub fn vcpus(&mut self, dom: DomId) -> Option<&mut Vec<ModelVcpu>> {
        if !self.doms.contains_key(&dom.0) {
            let info = self.hv.domain_info(dom).ok()?;
            let n = info.max_vcpu_id.saturating_add(1).max(1);
            let v = self.fresh_vcpus(n);
            self.doms.insert(dom.0, v);
        }
        self.doms.get_mut(&dom.0)
    }

    /// What the guest does on `VCPUOP_up` (`true`) or `VCPUOP_down` of vCPU `vcpu` (1 or
    /// more: vCPU 0 is the hypervisor's).
    pub fn guest_vcpu_up(&mut self, dom: DomId, vcpu: u32, up: bool) {
        assert!(vcpu > 0, "vCPU 0 is the real hypervisor's");
        let v = &mut self.vcpus(dom).expect("the domain exists")[vcpu as usize];
        v.up = up;
    }

    /// What the guest does with `SCHEDOP_pin_override` (`Some(cpu)`) or its end (`None`).
    pub fn guest_pin_override(&mut self, dom: DomId, vcpu: u32, cpu: Option<u32>) {
        let v = &mut self.vcpus(dom).expect("the domain exists")[vcpu as usize];
        v.pinned = cpu;
        if let Some(c) = cpu {
            v.cpu = c;
        }
    }

    /// `n` vCPUs as Xen creates them: down, free to run anywhere, spread over the online CPUs.
    fn fresh_vcpus(&self, n: u32) -> Vec<ModelVcpu> {
        let online: Vec<u32> = self.online.iter().collect();
        (0..n)
            .map(|i| ModelVcpu {
                up: false,
                cpu: online[i as usize % online.len()],
                hard: CpuMap::first(self.possible),
                soft: CpuMap::first(self.possible),
                pinned: None,
                cpu_time: 0,
            })
            .collect()
    }

    /// The getdomaininfo view with the model's vCPUs.
    fn patch_info(&mut self, info: &mut DomctlGetDomainInfo) {
        let dom = info.domain;
        let vcpu0 = info.nr_online_vcpus.min(1);
        if let Some(v) = self.vcpus(dom) {
            info.max_vcpu_id = v.len() as u32 - 1;
            info.nr_online_vcpus = vcpu0 + v.iter().skip(1).filter(|v| v.up).count() as u32;
        }
    }

    fn max_vcpus(max: u32) -> Result<(), Errno> {
        if max == 0 || max > MODEL_MAX_VCPUS {
            return Err(Errno::EINVAL);
        }
        Ok(())
    }

    fn getvcpuinfo(&mut self, op: &mut XenDomctl) -> Result<(), Errno> {
        let mut q: DomctlGetVcpuInfo = op.payload();
        let dom = op.domain;
        if q.vcpu != 0 {
            self.hv.point(FailPoint::Domctl(op.cmd))?;
        }
        let n = self.vcpus(dom).ok_or(Errno::ESRCH)?.len() as u32;
        if q.vcpu >= n {
            return Err(Errno::EINVAL);
        }
        let m = self.vcpus(dom).ok_or(Errno::ESRCH)?[q.vcpu as usize];
        if q.vcpu == 0 {
            // The real vCPU 0 (the operation reaches the hypervisor, failure points and all).
            q = self.hv.vcpu_info(dom, 0)?;
        } else {
            q.online = u8::from(m.up);
            q.blocked = u8::from(m.up);
            q.running = 0;
            q.cpu_time = m.cpu_time;
        }
        q.cpu = m.cpu;
        op.set_payload(&q);
        Ok(())
    }

    fn set_affinity(
        &mut self,
        domid: DomId,
        vcpu: u32,
        flags: u32,
        hard: &mut [u8],
        soft: &mut [u8],
    ) -> Result<(), Errno> {
        let possible = CpuMap::first(self.possible);
        let online = self.online;
        let v = &mut self.doms.get_mut(&domid.0).ok_or(Errno::ESRCH)?[vcpu as usize];
        let new_hard = CpuMap::from_bytes(hard).and(&possible);
        let new_soft = CpuMap::from_bytes(soft).and(&possible);
        if flags & XEN_VCPUAFFINITY_FORCE != 0 {
            v.pinned = None;
        }
        if flags & XEN_VCPUAFFINITY_HARD != 0 {
            if v.pinned.is_some() {
                return Err(Errno::EBUSY);
            }
            if new_hard.and(&online).is_empty() {
                return Err(Errno::EINVAL);
            }
            v.hard = new_hard;
        }
        if flags & XEN_VCPUAFFINITY_SOFT != 0 {
            v.soft = new_soft;
        }
        // It moves where it may run, to a CPU it prefers if there is one.
        let may = v.hard.and(&online);
        if !may.contains(v.cpu) || !v.soft.contains(v.cpu) {
            let prefer = may.and(&v.soft);
            v.cpu = prefer.first_cpu().or(may.first_cpu()).unwrap_or(v.cpu);
        }
        let (h, s) = (v.hard, v.soft.and(&v.hard));
        write_map(hard, &h);
        write_map(soft, &s);
        Ok(())
    }
}

/// `map` into `xenctl_bitmap` bytes, the bits beyond it cleared.
fn write_map(bytes: &mut [u8], map: &CpuMap) {
    let len = bytes.len();
    let b = map.to_bytes(len as u32 * 8);
    bytes.copy_from_slice(&b[..len]);
}

impl Hypervisor for SmpHv {
    fn domctl(&mut self, op: &mut XenDomctl) -> Result<(), Errno> {
        match op.cmd {
            XEN_DOMCTL_CREATEDOMAIN => {
                let mut c: DomctlCreateDomain = op.payload();
                let want = c.max_vcpus;
                Self::max_vcpus(want)?;
                c.max_vcpus = 1;
                op.set_payload(&c);
                let r = self.hv.domctl(op);
                c.max_vcpus = want;
                op.set_payload(&c);
                r?;
                let v = self.fresh_vcpus(want);
                self.doms.insert(op.domain.0, v);
                Ok(())
            }
            XEN_DOMCTL_MAX_VCPUS => {
                let m: DomctlMaxVcpus = op.payload();
                Self::max_vcpus(m.max)?;
                let mut one =
                    XenDomctl::with_payload(op.cmd, op.domain, &DomctlMaxVcpus { max: 1 });
                self.hv.domctl(&mut one)?;
                let fresh = self.fresh_vcpus(m.max);
                let v = self.vcpus(op.domain).ok_or(Errno::ESRCH)?;
                v.truncate(m.max as usize);
                let have = v.len();
                v.extend_from_slice(&fresh[have..]);
                Ok(())
            }
            XEN_DOMCTL_DESTROYDOMAIN => {
                let r = self.hv.domctl(op);
                if matches!(r, Ok(()) | Err(Errno::ESRCH)) {
                    self.doms.remove(&op.domain.0);
                }
                r
            }
            XEN_DOMCTL_GETDOMAININFO => {
                self.hv.domctl(op)?;
                let mut info: DomctlGetDomainInfo = op.payload();
                self.patch_info(&mut info);
                op.set_payload(&info);
                Ok(())
            }
            XEN_DOMCTL_GETVCPUINFO => self.getvcpuinfo(op),
            _ => self.hv.domctl(op),
        }
    }

    fn sysctl(&mut self, op: &mut XenSysctl) -> Result<(), Errno> {
        self.hv.sysctl(op)?;
        if op.cmd == XEN_SYSCTL_PHYSINFO {
            let mut p: SysctlPhysinfo = op.payload();
            p.nr_cpus = self.online.count();
            p.max_cpu_id = self.possible - 1;
            p.threads_per_core = self.threads_per_core;
            p.cores_per_socket = self.possible / self.threads_per_core.max(1);
            op.set_payload(&p);
        }
        Ok(())
    }

    fn vcpu_affinity_op(
        &mut self,
        cmd: u32,
        domid: DomId,
        vcpu: u32,
        flags: u32,
        hard: &mut [u8],
        soft: &mut [u8],
    ) -> Result<(), Errno> {
        self.hv.point(FailPoint::Domctl(cmd))?;
        self.affinity_calls.push(AffinityCall {
            cmd,
            domid,
            vcpu,
            flags,
            hard: CpuMap::from_bytes(hard),
            soft: CpuMap::from_bytes(soft),
            nr_bits: hard.len() * 8,
        });
        let n = self.vcpus(domid).ok_or(Errno::ESRCH)?.len() as u32;
        if vcpu >= n || flags & (XEN_VCPUAFFINITY_HARD | XEN_VCPUAFFINITY_SOFT) == 0 {
            return Err(Errno::EINVAL);
        }
        match cmd {
            XEN_DOMCTL_SETVCPUAFFINITY => self.set_affinity(domid, vcpu, flags, hard, soft),
            XEN_DOMCTL_GETVCPUAFFINITY => {
                let v = self.vcpus(domid).ok_or(Errno::ESRCH)?[vcpu as usize];
                if flags & XEN_VCPUAFFINITY_HARD != 0 {
                    write_map(hard, &v.hard);
                }
                if flags & XEN_VCPUAFFINITY_SOFT != 0 {
                    write_map(soft, &v.soft);
                }
                Ok(())
            }
            _ => Err(Errno::ENOSYS),
        }
    }

    fn domain_info_batch(
        &mut self,
        first: DomId,
        buf: &mut [DomctlGetDomainInfo],
    ) -> Result<usize, Errno> {
        let n = self.hv.domain_info_batch(first, buf)?;
        for info in &mut buf[..n] {
            self.patch_info(info);
        }
        Ok(n)
    }

    fn populate_physmap(&mut self, domid: DomId, extents: &mut [u64]) -> Result<usize, Errno> {
        self.hv.populate_physmap(domid, extents)
    }
    fn with_foreign_page(
        &mut self,
        domid: DomId,
        mfn: u64,
        f: &mut dyn FnMut(&mut [u8; 4096]),
    ) -> Result<(), Errno> {
        self.hv.with_foreign_page(domid, mfn, f)
    }
    fn mmuext_foreign(&mut self, domid: DomId, op: &MmuextOp) -> Result<(), Errno> {
        self.hv.mmuext_foreign(domid, op)
    }
    fn xen_version(&mut self) -> Result<(u16, u16), Errno> {
        self.hv.xen_version()
    }
    fn features(&mut self) -> Result<u32, Errno> {
        self.hv.features()
    }
    fn evtchn_alloc_unbound(&mut self, domid: DomId, remote: DomId) -> Result<u32, Errno> {
        self.hv.evtchn_alloc_unbound(domid, remote)
    }
    fn evtchn_bind_interdomain(&mut self, remote: DomId, remote_port: u32) -> Result<u32, Errno> {
        self.hv.evtchn_bind_interdomain(remote, remote_port)
    }
    fn evtchn_take_pending(&mut self, port: u32) -> bool {
        self.hv.evtchn_take_pending(port)
    }
    fn evtchn_send(&mut self, port: u32) -> Result<(), Errno> {
        self.hv.evtchn_send(port)
    }
    fn evtchn_close(&mut self, port: u32) -> Result<(), Errno> {
        self.hv.evtchn_close(port)
    }
    fn set_vcpu_context(
        &mut self,
        domid: DomId,
        vcpu: u32,
        ctx: &VcpuGuestContext,
    ) -> Result<(), Errno> {
        self.hv.set_vcpu_context(domid, vcpu, ctx)
    }
    fn get_vcpu_context(&mut self, domid: DomId, vcpu: u32) -> Result<VcpuGuestContext, Errno> {
        self.hv.get_vcpu_context(domid, vcpu)
    }
    fn page_frame_info(&mut self, domid: DomId, frames: &mut [u64]) -> Result<(), Errno> {
        self.hv.page_frame_info(domid, frames)
    }
    fn read_io(&mut self, maddr: u64, width: u8) -> Result<u64, Errno> {
        self.hv.read_io(maddr, width)
    }
    fn grant_copy(&mut self, ops: &mut [GrantCopy<'_>], status: &mut [i16]) -> Result<(), Errno> {
        self.hv.grant_copy(ops, status)
    }
    fn perfc_op(
        &mut self,
        cmd: u32,
        out: Option<(&mut [SysctlPerfcDesc], &mut [u32])>,
    ) -> Result<SysctlPerfcOp, Errno> {
        self.hv.perfc_op(cmd, out)
    }
    fn read_console(
        &mut self,
        buf: &mut [u8],
        incremental: bool,
        index: u32,
        clear: bool,
    ) -> Result<(usize, u32), Errno> {
        self.hv.read_console(buf, incremental, index, clear)
    }
    fn remote_shutdown(&mut self, domid: DomId, reason: ShutdownReason) -> Result<(), Errno> {
        self.hv.remote_shutdown(domid, reason)
    }
    fn dom_exc_count(&mut self) -> Option<u64> {
        self.hv.dom_exc_count()
    }
    fn now_ns(&mut self) -> Option<u64> {
        self.hv.now_ns()
    }
    fn relax(&mut self) {
        self.hv.relax()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hv::{set_vcpu_affinity, vcpu_affinity, Affinity};

    fn map(cpus: &[u32]) -> CpuMap {
        let mut m = CpuMap::empty();
        for &c in cpus {
            m.insert(c);
        }
        m
    }

    /// A domain of `n` vCPUs on a host of 4 CPUs.
    fn domain(n: u32) -> (SmpHv, DomId) {
        let mut hv = SmpHv::boot(64, 4);
        let mut op = XenDomctl::with_payload(
            XEN_DOMCTL_CREATEDOMAIN,
            DomId(0),
            &DomctlCreateDomain {
                max_vcpus: n,
                ..Default::default()
            },
        );
        hv.domctl(&mut op).unwrap();
        assert_eq!(op.payload::<DomctlCreateDomain>().max_vcpus, n);
        (hv, op.domain)
    }

    #[test]
    fn max_vcpus_as_xen_checks_it() {
        for bad in [0, MODEL_MAX_VCPUS + 1] {
            let mut hv = SmpHv::boot(64, 4);
            let mut op = XenDomctl::with_payload(
                XEN_DOMCTL_CREATEDOMAIN,
                DomId(0),
                &DomctlCreateDomain {
                    max_vcpus: bad,
                    ..Default::default()
                },
            );
            assert_eq!(hv.domctl(&mut op), Err(Errno::EINVAL));
            assert_eq!(hv.hv.domain_ids(), [DomId(0)]);
        }
        let (mut hv, d) = domain(3);
        let info = hv.domain_info(d).unwrap();
        assert_eq!((info.max_vcpu_id, info.nr_online_vcpus), (2, 0));
        assert_eq!(hv.vcpu_info(d, 3), Err(Errno::EINVAL));
        assert_eq!(hv.vcpu_info(d, 2).unwrap().online, 0);
        hv.guest_vcpu_up(d, 2, true);
        assert_eq!(hv.vcpu_info(d, 2).unwrap().online, 1);
        assert_eq!(hv.domain_info(d).unwrap().nr_online_vcpus, 1);
        let mut op = XenDomctl::with_payload(XEN_DOMCTL_MAX_VCPUS, d, &DomctlMaxVcpus { max: 5 });
        hv.domctl(&mut op).unwrap();
        assert_eq!(hv.domain_info(d).unwrap().max_vcpu_id, 4);
        assert_eq!(hv.vcpu_info(d, 2).unwrap().online, 1, "kept");
        crate::xl::destroy_domain(&mut hv, d).unwrap();
        assert_eq!(hv.vcpu_info(d, 0), Err(Errno::ESRCH));
        assert_eq!(vcpu_affinity(&mut hv, d, 0, 4), Err(Errno::ESRCH));
    }

    #[test]
    fn affinity_as_xen_sets_and_reports_it() {
        let (mut hv, d) = domain(2);
        let all = CpuMap::first(4);
        assert_eq!(
            vcpu_affinity(&mut hv, d, 1, 4),
            Ok(Affinity {
                hard: all,
                soft: all
            })
        );
        // The affinity in effect comes back: the soft map within the hard one.
        let set = set_vcpu_affinity(
            &mut hv,
            d,
            1,
            Some(CpuMap::first(2)),
            Some(map(&[1, 3])),
            false,
            4,
        );
        assert_eq!(
            set,
            Ok(Affinity {
                hard: CpuMap::first(2),
                soft: CpuMap::single(1)
            })
        );
        assert_eq!(
            vcpu_affinity(&mut hv, d, 1, 4).unwrap().soft,
            map(&[1, 3]),
            "the soft map is kept as given"
        );
        assert_eq!(hv.vcpus(d).unwrap()[1].cpu, 1, "moved where it prefers");
        // Refusals.
        let one = Some(CpuMap::single(0));
        assert_eq!(
            set_vcpu_affinity(&mut hv, d, 2, one, None, false, 4),
            Err(Errno::EINVAL)
        );
        assert_eq!(
            set_vcpu_affinity(&mut hv, d, 0, None, None, false, 4),
            Err(Errno::EINVAL),
            "no map named"
        );
        hv.set_cpu_online(3, false);
        assert_eq!(
            set_vcpu_affinity(&mut hv, d, 0, Some(CpuMap::single(3)), None, false, 4),
            Err(Errno::EINVAL),
            "no online CPU"
        );
        hv.guest_pin_override(d, 0, Some(2));
        assert_eq!(
            set_vcpu_affinity(&mut hv, d, 0, one, None, false, 4),
            Err(Errno::EBUSY)
        );
        assert_eq!(
            set_vcpu_affinity(&mut hv, d, 0, None, one, false, 4).map(|a| a.soft),
            Ok(CpuMap::single(0)),
            "the soft map may change under a temporary pin"
        );
        assert_eq!(
            set_vcpu_affinity(&mut hv, d, 0, one, None, true, 4).map(|a| a.hard),
            Ok(CpuMap::single(0))
        );
        assert_eq!(hv.vcpus(d).unwrap()[0].pinned, None);
        // Bits beyond the host's CPUs are not CPUs.
        let mut hard = [0xFFu8; 2];
        let mut soft = [0u8; 2];
        hv.vcpu_affinity_op(
            XEN_DOMCTL_SETVCPUAFFINITY,
            d,
            0,
            XEN_VCPUAFFINITY_HARD,
            &mut hard,
            &mut soft,
        )
        .unwrap();
        assert_eq!(hard, [0x0F, 0]);
    }
}
