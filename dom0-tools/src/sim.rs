//! A simulated hypervisor for host tests: a frame pool, domains, and the domctl/sysctl,
//! memory, foreign-mapping and pinning semantics the toolstack relies on (no privilege checks).
//!
//! Fresh frames are filled with 0xA5 so a builder that forgets to zero something is caught;
//! frames handed out by populate_physmap are zero, as the hypervisor scrubs them (kept as a
//! mark, not a page of host memory, so that domains of gigabytes can be simulated).
//! Faults can be injected with [`SimHypervisor::fail`] to test the toolstack's error paths.

/// The XENFEAT bits the simulated hypervisor offers (as the real one: PRESERVE_AD only).
pub const SIM_FEATURES: u32 = pv_builder::TEST_FEATURES;

use crate::hv::Hypervisor;
use alloc::boxed::Box;
use alloc::collections::{BTreeMap, BTreeSet};
use alloc::vec::Vec;
use guest_abi::arch::VcpuGuestContext;
use guest_abi::domctl::*;
use guest_abi::errno::Errno;
use guest_abi::mmu::{MmuextOp, MMUEXT_PIN_L4_TABLE};
use guest_abi::sysctl::{
    SysctlPhysinfo, XenSysctl, XEN_SYSCTL_INTERFACE_VERSION, XEN_SYSCTL_PHYSINFO,
};
use guest_abi::types::DomId;

/// Where to inject a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailPoint {
    /// The domctl with this command.
    Domctl(u32),
    /// The sysctl with this command.
    Sysctl(u32),
    PopulatePhysmap,
    ForeignMap,
    Mmuext,
    SetVcpuContext,
}

/// One simulated domain.
#[derive(Debug, Clone)]
pub struct SimDomain {
    pub max_vcpus: u32,
    pub max_pages: u64,
    /// PFN → MFN.
    pub p2m: BTreeMap<u64, u64>,
    pub paused: bool,
    pub pinned_l4: Option<u64>,
    pub vcpu0: Option<Box<VcpuGuestContext>>,
    pub shared_info_mfn: u64,
    pub cpu_time_ns: u64,
    /// Shutdown code (3 = crash) once shut down.
    pub shutdown: Option<u32>,
    /// Credit scheduler parameters.
    pub weight: u16,
    pub cap: u16,
}

/// The simulated hypervisor.
pub struct SimHypervisor {
    pub total_pages: u64,
    free: Vec<u64>,
    frames: BTreeMap<u64, Box<[u8; 4096]>>,
    /// Scrubbed frames not in `frames` (they read as zero).
    scrubbed: BTreeSet<u64>,
    owner: BTreeMap<u64, u16>,
    pub domains: BTreeMap<u16, SimDomain>,
    /// Fail this operation with this errno (until cleared).
    pub fail: Option<(FailPoint, Errno)>,
    pub version: (u16, u16),
    /// The hypervisor log ring (`readconsole`), bytes as written.
    pub log: Vec<u8>,
    /// System time in ns (tests advance it).
    pub now: u64,
    /// A guest that shuts itself down: (domain, reason code, at system time); applied when
    /// time passes ([`Hypervisor::relax`]).
    pub scheduled_shutdown: Option<(u16, u32, u64)>,
    /// The most pages `XEN_DOMCTL_max_mem` lets a domain have (a hypervisor's own cap).
    pub max_pages_limit: u64,
}

const FIRST_MFN: u64 = 0x100;

impl SimHypervisor {
    /// A host of `total_mib` with dom0 (domain 0, running) holding `dom0_mib` of it.
    pub fn new(total_mib: u64, dom0_mib: u64) -> Self {
        let total_pages = total_mib * 256;
        // Hand frames out in a scrambled order: odd MFNs downwards, then even ones.
        let mut free: Vec<u64> = (0..total_pages)
            .map(|i| FIRST_MFN + i)
            .filter(|m| m % 2 == 0)
            .collect();
        free.extend(
            (0..total_pages)
                .map(|i| FIRST_MFN + i)
                .filter(|m| m % 2 == 1),
        );
        let mut sim = Self {
            total_pages,
            free,
            frames: BTreeMap::new(),
            scrubbed: BTreeSet::new(),
            owner: BTreeMap::new(),
            domains: BTreeMap::new(),
            fail: None,
            version: (4, 17),
            log: Vec::new(),
            now: 1_000_000_000,
            scheduled_shutdown: None,
            max_pages_limit: u64::MAX,
        };
        let si = sim.alloc(0).unwrap_or(0);
        let mut dom0 = SimDomain {
            max_vcpus: 1,
            max_pages: u64::MAX,
            p2m: BTreeMap::new(),
            paused: false,
            pinned_l4: None,
            vcpu0: None,
            shared_info_mfn: si,
            cpu_time_ns: 300_000_000,
            shutdown: None,
            weight: 256,
            cap: 0,
        };
        for pfn in 0..dom0_mib * 256 {
            if let Some(mfn) = sim.alloc(0) {
                dom0.p2m.insert(pfn, mfn);
            }
        }
        sim.domains.insert(0, dom0);
        sim
    }

    /// Free pages left.
    pub fn free_pages(&self) -> u64 {
        self.free.len() as u64
    }

    /// The contents of frame `mfn` (fresh frames read as 0xA5, scrubbed ones as zero).
    pub fn frame(&self, mfn: u64) -> [u8; 4096] {
        match self.frames.get(&mfn) {
            Some(f) => **f,
            None if self.scrubbed.contains(&mfn) => [0; 4096],
            None => [0xA5; 4096],
        }
    }

    /// Marks `domid` as crashed (shut down with code 3) and logs it, as the hypervisor would.
    pub fn crash(&mut self, domid: u16) {
        if let Some(d) = self.domains.get_mut(&domid) {
            d.shutdown = Some(3);
            let line = alloc::format!("(XEN) domain {domid} crashed: simulated\n");
            self.log.extend_from_slice(line.as_bytes());
        }
    }

    /// The domain's info as getdomaininfo reports it.
    fn info_of(&self, id: u16, d: &SimDomain) -> DomctlGetDomainInfo {
        let mut flags = if d.paused {
            DominfFlags::PAUSED
        } else if id == 0 {
            DominfFlags::RUNNING
        } else {
            DominfFlags::BLOCKED
        }
        .bits();
        if let Some(code) = d.shutdown {
            flags = DominfFlags::SHUTDOWN.bits() | (code << XEN_DOMINF_SHUTDOWNSHIFT);
        }
        DomctlGetDomainInfo {
            domain: DomId(id),
            flags,
            tot_pages: d.p2m.len() as u64,
            max_pages: d.max_pages,
            shared_info_frame: d.shared_info_mfn,
            cpu_time: d.cpu_time_ns,
            nr_online_vcpus: u32::from(d.vcpu0.is_some() || id == 0),
            max_vcpu_id: d.max_vcpus.saturating_sub(1),
            ..Default::default()
        }
    }

    fn alloc(&mut self, domid: u16) -> Option<u64> {
        let mfn = self.free.pop()?;
        self.owner.insert(mfn, domid);
        Some(mfn)
    }

    fn release(&mut self, mfn: u64) {
        self.owner.remove(&mfn);
        self.frames.remove(&mfn);
        self.scrubbed.remove(&mfn);
        self.free.push(mfn);
    }

    fn check_fail(&self, at: FailPoint) -> Result<(), Errno> {
        match self.fail {
            Some((p, e)) if p == at => Err(e),
            _ => Ok(()),
        }
    }

    fn dom(&mut self, domid: DomId) -> Result<&mut SimDomain, Errno> {
        self.domains.get_mut(&domid.0).ok_or(Errno::ESRCH)
    }

    fn create(&mut self, op: &mut XenDomctl) -> Result<(), Errno> {
        let c: DomctlCreateDomain = op.payload();
        if c.flags & XEN_DOMCTL_CDF_HVM != 0 {
            return Err(Errno::EINVAL);
        }
        let id = match op.domain.0 {
            0 => (1..DomId::FIRST_RESERVED.0)
                .find(|i| !self.domains.contains_key(i))
                .ok_or(Errno::ENOSPC)?,
            id if id >= DomId::FIRST_RESERVED.0 => return Err(Errno::EINVAL),
            id if self.domains.contains_key(&id) => return Err(Errno::EEXIST),
            id => id,
        };
        let si = self.alloc(id).ok_or(Errno::ENOMEM)?;
        self.domains.insert(
            id,
            SimDomain {
                max_vcpus: c.max_vcpus,
                max_pages: 0,
                p2m: BTreeMap::new(),
                paused: true,
                pinned_l4: None,
                vcpu0: None,
                shared_info_mfn: si,
                cpu_time_ns: 0,
                shutdown: None,
                weight: 256,
                cap: 0,
            },
        );
        op.domain = DomId(id);
        Ok(())
    }

    fn destroy(&mut self, domid: DomId) -> Result<(), Errno> {
        if domid.0 == 0 {
            return Err(Errno::EPERM);
        }
        let d = self.domains.remove(&domid.0).ok_or(Errno::ESRCH)?;
        for &mfn in d.p2m.values() {
            self.release(mfn);
        }
        self.release(d.shared_info_mfn);
        Ok(())
    }

    fn info(&mut self, op: &mut XenDomctl) -> Result<(), Errno> {
        let id = op.domain;
        let d = self.domains.get(&id.0).ok_or(Errno::ESRCH)?;
        let info = self.info_of(id.0, d);
        op.set_payload(&info);
        Ok(())
    }

    /// Checks an L4 as a (much simplified) PV MMU would: owned by the domain, hypervisor slots
    /// empty, every present entry pointing at one of the domain's frames.
    fn validate_l4(&self, domid: u16, mfn: u64) -> Result<(), Errno> {
        if self.owner.get(&mfn) != Some(&domid) {
            return Err(Errno::EINVAL);
        }
        let f = self.frame(mfn);
        for (slot, e) in f.chunks_exact(8).enumerate() {
            let e = u64::from_le_bytes(e.try_into().map_err(|_| Errno::EINVAL)?);
            if (256..272).contains(&slot) && e != 0 {
                return Err(Errno::EINVAL);
            }
            if e & 1 != 0 && self.owner.get(&((e >> 12) & ((1 << 40) - 1))) != Some(&domid) {
                return Err(Errno::EINVAL);
            }
        }
        Ok(())
    }
}

impl Hypervisor for SimHypervisor {
    fn domctl(&mut self, op: &mut XenDomctl) -> Result<(), Errno> {
        self.check_fail(FailPoint::Domctl(op.cmd))?;
        if op.interface_version != XEN_DOMCTL_INTERFACE_VERSION {
            return Err(Errno::EACCES);
        }
        match op.cmd {
            XEN_DOMCTL_CREATEDOMAIN => self.create(op),
            XEN_DOMCTL_DESTROYDOMAIN => self.destroy(op.domain),
            XEN_DOMCTL_PAUSEDOMAIN | XEN_DOMCTL_UNPAUSEDOMAIN => {
                let pause = op.cmd == XEN_DOMCTL_PAUSEDOMAIN;
                if op.domain.0 == 0 {
                    return Err(Errno::EINVAL);
                }
                self.dom(op.domain)?.paused = pause;
                Ok(())
            }
            XEN_DOMCTL_GETDOMAININFO => self.info(op),
            XEN_DOMCTL_MAX_MEM => {
                let m: DomctlMaxMem = op.payload();
                let limit = self.max_pages_limit;
                self.dom(op.domain)?.max_pages = (m.max_memkb / 4).min(limit);
                Ok(())
            }
            XEN_DOMCTL_MAX_VCPUS => {
                let m: DomctlMaxVcpus = op.payload();
                if m.max == 0 || m.max > 32 {
                    return Err(Errno::EINVAL);
                }
                self.dom(op.domain)?.max_vcpus = m.max;
                Ok(())
            }
            XEN_DOMCTL_SCHEDULER_OP => {
                let mut s: DomctlSchedulerOp = op.payload();
                if s.sched_id != XEN_SCHEDULER_CREDIT {
                    return Err(Errno::EINVAL);
                }
                let d = self.dom(op.domain)?;
                match s.cmd {
                    XEN_DOMCTL_SCHEDOP_GETINFO => {
                        s.credit = DomctlSchedCredit {
                            weight: d.weight,
                            cap: d.cap,
                        };
                        op.set_payload(&s);
                    }
                    XEN_DOMCTL_SCHEDOP_PUTINFO => {
                        let DomctlSchedCredit { weight, cap } = s.credit;
                        if cap != u16::MAX && cap > 100 {
                            return Err(Errno::EINVAL);
                        }
                        if weight != 0 {
                            d.weight = weight;
                        }
                        if cap != u16::MAX {
                            d.cap = cap;
                        }
                    }
                    _ => return Err(Errno::EINVAL),
                }
                Ok(())
            }
            // The context is passed by address; the simulation takes it through
            // `set_vcpu_context` instead of dereferencing a raw address.
            _ => Err(Errno::ENOSYS),
        }
    }

    fn sysctl(&mut self, op: &mut XenSysctl) -> Result<(), Errno> {
        self.check_fail(FailPoint::Sysctl(op.cmd))?;
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
                    cpu_khz: 2_000_000,
                    total_pages: self.total_pages,
                    free_pages: self.free_pages(),
                    max_mfn: FIRST_MFN + self.total_pages - 1,
                    ..Default::default()
                };
                op.set_payload(&p);
                Ok(())
            }
            _ => Err(Errno::ENOSYS),
        }
    }

    fn populate_physmap(&mut self, domid: DomId, extents: &mut [u64]) -> Result<usize, Errno> {
        self.check_fail(FailPoint::PopulatePhysmap)?;
        self.dom(domid)?;
        for (done, pfn) in extents.iter_mut().enumerate() {
            let d = self.dom(domid)?;
            if d.p2m.len() as u64 >= d.max_pages || d.p2m.contains_key(pfn) {
                return Ok(done);
            }
            let Some(mfn) = self.alloc(domid.0) else {
                return Ok(done);
            };
            self.dom(domid)?.p2m.insert(*pfn, mfn);
            // As the real hypervisor, hand out scrubbed (zeroed) frames.
            self.frames.remove(&mfn);
            self.scrubbed.insert(mfn);
            *pfn = mfn;
        }
        Ok(extents.len())
    }

    fn with_foreign_page(
        &mut self,
        domid: DomId,
        mfn: u64,
        f: &mut dyn FnMut(&mut [u8; 4096]),
    ) -> Result<(), Errno> {
        self.check_fail(FailPoint::ForeignMap)?;
        self.dom(domid)?;
        if self.owner.get(&mfn) != Some(&domid.0) {
            return Err(Errno::EPERM);
        }
        if self.domains.values().any(|d| d.pinned_l4 == Some(mfn)) {
            // A pinned page table is never writable.
            return Err(Errno::EPERM);
        }
        let fill = if self.scrubbed.remove(&mfn) { 0 } else { 0xA5 };
        let frame = self
            .frames
            .entry(mfn)
            .or_insert_with(|| Box::new([fill; 4096]));
        f(frame);
        Ok(())
    }

    fn mmuext_foreign(&mut self, domid: DomId, op: &MmuextOp) -> Result<(), Errno> {
        self.check_fail(FailPoint::Mmuext)?;
        self.dom(domid)?;
        match op.cmd {
            MMUEXT_PIN_L4_TABLE => {
                if self.dom(domid)?.pinned_l4.is_some() {
                    return Err(Errno::EINVAL);
                }
                self.validate_l4(domid.0, op.arg1)?;
                self.dom(domid)?.pinned_l4 = Some(op.arg1);
                Ok(())
            }
            _ => Err(Errno::ENOSYS),
        }
    }

    fn xen_version(&mut self) -> Result<(u16, u16), Errno> {
        Ok(self.version)
    }

    fn features(&mut self) -> Result<u32, Errno> {
        Ok(SIM_FEATURES)
    }

    fn domain_info_list(&mut self) -> Result<Vec<DomctlGetDomainInfo>, Errno> {
        self.check_fail(FailPoint::Sysctl(
            guest_abi::sysctl::XEN_SYSCTL_GETDOMAININFOLIST,
        ))?;
        Ok(self
            .domains
            .iter()
            .map(|(id, d)| self.info_of(*id, d))
            .collect())
    }

    fn vcpu_info(&mut self, domid: DomId, vcpu: u32) -> Result<DomctlGetVcpuInfo, Errno> {
        let d = self.dom(domid)?;
        if vcpu >= d.max_vcpus.max(1) {
            return Err(Errno::EINVAL);
        }
        Ok(DomctlGetVcpuInfo {
            vcpu,
            online: u8::from(d.vcpu0.is_some() || domid.0 == 0),
            blocked: u8::from(domid.0 != 0 && !d.paused),
            running: u8::from(domid.0 == 0),
            cpu_time: d.cpu_time_ns,
            ..Default::default()
        })
    }

    fn read_console(
        &mut self,
        buf: &mut [u8],
        incremental: bool,
        index: u32,
        clear: bool,
    ) -> Result<(usize, u32), Errno> {
        let start = if incremental {
            (index as usize).min(self.log.len())
        } else {
            0
        };
        let n = (self.log.len() - start).min(buf.len());
        buf[..n].copy_from_slice(&self.log[start..start + n]);
        if clear {
            self.log.clear();
        }
        Ok((n, (start + n) as u32))
    }

    fn remote_shutdown(
        &mut self,
        domid: DomId,
        reason: guest_abi::sched::ShutdownReason,
    ) -> Result<(), Errno> {
        let d = self.dom(domid)?;
        d.shutdown.get_or_insert(reason.as_u32());
        Ok(())
    }

    fn now_ns(&mut self) -> Option<u64> {
        Some(self.now)
    }

    /// A command waiting gives the CPU away: time passes (1 ms).
    fn relax(&mut self) {
        self.now += 1_000_000;
        if let Some((id, code, at)) = self.scheduled_shutdown {
            if self.now >= at {
                self.scheduled_shutdown = None;
                if let Some(d) = self.domains.get_mut(&id) {
                    d.shutdown.get_or_insert(code);
                }
            }
        }
    }

    fn set_vcpu_context(
        &mut self,
        domid: DomId,
        vcpu: u32,
        ctx: &VcpuGuestContext,
    ) -> Result<(), Errno> {
        self.check_fail(FailPoint::SetVcpuContext)?;
        self.check_fail(FailPoint::Domctl(XEN_DOMCTL_SETVCPUCONTEXT))?;
        let d = self.dom(domid)?;
        if vcpu >= d.max_vcpus {
            return Err(Errno::EINVAL);
        }
        // CR3 must be the pinned L4.
        if d.pinned_l4 != Some(ctx.ctrlreg[3] >> 12) {
            return Err(Errno::EINVAL);
        }
        d.vcpu0 = Some(Box::new(*ctx));
        Ok(())
    }
}
