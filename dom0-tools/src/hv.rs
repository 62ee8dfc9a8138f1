//! What the toolstack needs from the hypervisor: the [`Hypervisor`] trait (pv-guest implements
//! it with real hypercalls, host tests with [`crate::sim`]) and [`ForeignMemory`], the domain
//! builder's view of another domain's memory through foreign mappings.

use crate::build::{BuildError, GuestMemory, PAGE_SIZE};
use guest_abi::arch::VcpuGuestContext;
use guest_abi::domctl::{
    DomctlGetDomainInfo, DomctlVcpuContext, XenDomctl, XEN_DOMCTL_GETDOMAININFO,
    XEN_DOMCTL_SETVCPUCONTEXT,
};
use guest_abi::errno::Errno;
use guest_abi::mmu::MmuextOp;
use guest_abi::sysctl::{SysctlPhysinfo, XenSysctl, XEN_SYSCTL_PHYSINFO};
use guest_abi::types::DomId;

/// The hypervisor as seen from dom0's toolstack.
pub trait Hypervisor {
    /// `HYPERVISOR_domctl`: `op` is updated in place with the hypervisor's answer.
    fn domctl(&mut self, op: &mut XenDomctl) -> Result<(), Errno>;
    /// `HYPERVISOR_sysctl`: `op` is updated in place.
    fn sysctl(&mut self, op: &mut XenSysctl) -> Result<(), Errno>;
    /// `XENMEM_populate_physmap` (order 0) for `domid`: PFNs in, MFNs written back; returns
    /// how many extents were done (fewer than asked when memory or the domain's limit ran out).
    fn populate_physmap(&mut self, domid: DomId, extents: &mut [u64]) -> Result<usize, Errno>;
    /// Maps machine frame `mfn` of `domid` into the toolstack, runs `f` on it, unmaps it.
    fn with_foreign_page(
        &mut self,
        domid: DomId,
        mfn: u64,
        f: &mut dyn FnMut(&mut [u8; 4096]),
    ) -> Result<(), Errno>;
    /// `HYPERVISOR_mmuext_op` with `foreigndom = domid` (e.g. `MMUEXT_PIN_L4_TABLE` of a new
    /// domain's L4).
    fn mmuext_foreign(&mut self, domid: DomId, op: &MmuextOp) -> Result<(), Errno>;
    /// `XENVER_version`: (major, minor).
    fn xen_version(&mut self) -> Result<(u16, u16), Errno>;

    /// The hypervisor's XENFEAT submap 0 (`XENVER_get_features`).
    fn features(&mut self) -> Result<u32, Errno>;

    /// `EVTCHNOP_alloc_unbound`: a port of `domid` that `remote` may bind. The default says
    /// the hypervisor has no event channels yet (`ENOSYS`); `xl create` then passes port 0.
    fn evtchn_alloc_unbound(&mut self, domid: DomId, remote: DomId) -> Result<u32, Errno> {
        let _ = (domid, remote);
        Err(Errno::ENOSYS)
    }

    /// `XEN_DOMCTL_setvcpucontext`: the domctl carries the address of `ctx`, valid for the
    /// duration of the call (the hypervisor copies it from the caller's memory).
    fn set_vcpu_context(
        &mut self,
        domid: DomId,
        vcpu: u32,
        ctx: &VcpuGuestContext,
    ) -> Result<(), Errno> {
        let payload = DomctlVcpuContext {
            vcpu,
            _pad: 0,
            ctxt: core::ptr::from_ref(ctx) as u64,
        };
        let mut op = XenDomctl::with_payload(XEN_DOMCTL_SETVCPUCONTEXT, domid, &payload);
        self.domctl(&mut op)
    }

    /// `XEN_DOMCTL_getdomaininfo` for exactly `domid` (an answer about another domain, as
    /// Xen's older "next domain at or above" semantics give, is reported as `ESRCH`).
    fn domain_info(&mut self, domid: DomId) -> Result<DomctlGetDomainInfo, Errno> {
        let mut op = XenDomctl::new(XEN_DOMCTL_GETDOMAININFO, domid);
        self.domctl(&mut op)?;
        let info: DomctlGetDomainInfo = op.payload();
        if info.domain != domid {
            return Err(Errno::ESRCH);
        }
        Ok(info)
    }

    /// `XEN_SYSCTL_physinfo`.
    fn physinfo(&mut self) -> Result<SysctlPhysinfo, Errno> {
        let mut op = XenSysctl::new(XEN_SYSCTL_PHYSINFO);
        self.sysctl(&mut op)?;
        Ok(op.payload())
    }
}

/// A domain's memory (its PFN→MFN list) reached through [`Hypervisor::with_foreign_page`].
pub struct ForeignMemory<'h, H: Hypervisor + ?Sized> {
    hv: &'h mut H,
    domid: DomId,
    mfns: &'h [u64],
}

impl<'h, H: Hypervisor + ?Sized> ForeignMemory<'h, H> {
    /// `mfns[pfn]` backs `pfn` of `domid`.
    pub fn new(hv: &'h mut H, domid: DomId, mfns: &'h [u64]) -> Self {
        Self { hv, domid, mfns }
    }

    /// Runs `f(page, offset_in_page, index_into_the_range)` on each page piece of
    /// `[gpaddr, gpaddr + len)`.
    fn for_each_piece(
        &mut self,
        gpaddr: u64,
        len: u64,
        f: &mut dyn FnMut(&mut [u8], usize),
    ) -> Result<(), BuildError> {
        let out = BuildError::OutOfRange { gpaddr, len };
        let end = gpaddr.checked_add(len).ok_or(out)?;
        if end > self.mfns.len() as u64 * PAGE_SIZE {
            return Err(out);
        }
        let mut at = gpaddr;
        while at < end {
            let pfn = at / PAGE_SIZE;
            let off = (at % PAGE_SIZE) as usize;
            let n = ((PAGE_SIZE - off as u64).min(end - at)) as usize;
            let done = (at - gpaddr) as usize;
            let mfn = self.mfns[pfn as usize];
            self.hv
                .with_foreign_page(self.domid, mfn, &mut |page| {
                    f(&mut page[off..off + n], done)
                })
                .map_err(|errno| BuildError::Map { mfn, errno })?;
            at += n as u64;
        }
        Ok(())
    }
}

impl<H: Hypervisor + ?Sized> GuestMemory for ForeignMemory<'_, H> {
    fn nr_pages(&self) -> u64 {
        self.mfns.len() as u64
    }

    fn pfn_to_mfn(&self, pfn: u64) -> u64 {
        // The builder only asks for pfn < nr_pages; anything else gets an invalid MFN.
        self.mfns.get(pfn as usize).copied().unwrap_or(u64::MAX)
    }

    fn write(&mut self, gpaddr: u64, data: &[u8]) -> Result<(), BuildError> {
        self.for_each_piece(gpaddr, data.len() as u64, &mut |piece, done| {
            piece.copy_from_slice(&data[done..done + piece.len()]);
        })
    }

    fn zero(&mut self, gpaddr: u64, len: u64) -> Result<(), BuildError> {
        self.for_each_piece(gpaddr, len, &mut |piece, _| piece.fill(0))
    }
}
