//! What the toolstack needs from the hypervisor: the [`Hypervisor`] trait (pv-guest implements
//! it with real hypercalls; the host tests with the same hypercalls, issued as dom0 of the real
//! hypervisor on its modelled machine: `crate::testhv`) and [`ForeignMemory`], the domain
//! builder's view of another domain's memory through foreign mappings.
//!
//! Operations whose arguments embed pointers into the caller's memory are methods of their own
//! (`set_vcpu_context`, `get_vcpu_context`, `page_frame_info`, `vcpu_affinity_op`, `perfc_op`,
//! `domain_info_batch`, `read_console`), so that an
//! implementation whose memory is not the hypervisor's view of dom0 can marshal them.

use crate::build::{BuildError, GuestMemory, PAGE_SIZE};
use crate::cpumap::CpuMap;
use alloc::vec::Vec;
use guest_abi::arch::VcpuGuestContext;
use guest_abi::domctl::{
    DomctlGetDomainInfo, DomctlGetPageFrameInfo3, DomctlGetVcpuInfo, DomctlVcpuAffinity,
    DomctlVcpuContext, DominfFlags, XenDomctl, XenctlBitmap, GETPAGEFRAMEINFO3_MAX,
    XEN_DOMCTL_GETDOMAININFO, XEN_DOMCTL_GETPAGEFRAMEINFO3, XEN_DOMCTL_GETVCPUAFFINITY,
    XEN_DOMCTL_GETVCPUCONTEXT, XEN_DOMCTL_GETVCPUINFO, XEN_DOMCTL_RESUMEDOMAIN,
    XEN_DOMCTL_SETVCPUAFFINITY, XEN_DOMCTL_SETVCPUCONTEXT, XEN_VCPUAFFINITY_FORCE,
    XEN_VCPUAFFINITY_HARD, XEN_VCPUAFFINITY_SOFT,
};
use guest_abi::errno::Errno;
use guest_abi::mmu::MmuextOp;
use guest_abi::sched::{ShutdownReason, SHUTDOWN_SUSPEND};
use guest_abi::sysctl::{
    SysctlGetdomaininfolist, SysctlPerfcDesc, SysctlPerfcOp, SysctlPhysinfo, SysctlReadconsole,
    XenSysctl, XEN_SYSCTL_GETDOMAININFOLIST, XEN_SYSCTL_PERFCOP_QUERY, XEN_SYSCTL_PERFCOP_RESET,
    XEN_SYSCTL_PERFC_OP, XEN_SYSCTL_PHYSINFO, XEN_SYSCTL_READCONSOLE,
};
use guest_abi::types::DomId;

/// How many times [`Hypervisor::get_vcpu_context`] asks while the hypervisor answers `EAGAIN`.
const CONTEXT_TRIES: u32 = 100;

/// Whether a domain has suspended itself (`SCHEDOP_shutdown(SHUTDOWN_suspend)`) and waits,
/// its memory and vCPUs kept, to be saved, resumed or destroyed (`xl list` state `s`).
pub fn is_suspended(info: &DomctlGetDomainInfo) -> bool {
    let f = info.dominf_flags();
    f.contains(DominfFlags::SHUTDOWN)
        && !f.contains(DominfFlags::DYING)
        && info.shutdown_code() == SHUTDOWN_SUSPEND
}

/// The widest access (8, 4, 2 or 1 bytes) aligned at `addr` that reads no more than `left`
/// bytes: how [`Hypervisor::read_io_bytes`] walks a range.
pub fn io_access_width(addr: u64, left: usize) -> u8 {
    [8u8, 4, 2]
        .into_iter()
        .find(|&w| addr.is_multiple_of(u64::from(w)) && usize::from(w) <= left)
        .unwrap_or(1)
}

/// One piece of a grant copy between our memory and a page another domain granted us:
/// bytes `offset..offset + buf.len()` of page `gref` of `domid` (within the page).
pub enum GrantCopy<'a> {
    /// From the granted page into `buf`.
    FromGuest {
        domid: DomId,
        gref: u32,
        offset: u16,
        buf: &'a mut [u8],
    },
    /// From `buf` into the granted page.
    ToGuest {
        domid: DomId,
        gref: u32,
        offset: u16,
        buf: &'a [u8],
    },
}

impl GrantCopy<'_> {
    /// (domain, grant, offset, length) of the granted side.
    pub fn target(&self) -> (DomId, u32, u16, usize) {
        match self {
            GrantCopy::FromGuest {
                domid,
                gref,
                offset,
                buf,
            } => (*domid, *gref, *offset, buf.len()),
            GrantCopy::ToGuest {
                domid,
                gref,
                offset,
                buf,
            } => (*domid, *gref, *offset, buf.len()),
        }
    }
}

/// Does every operation of `ops` ([`Hypervisor::grant_copy`]) and checks each one's status;
/// `Err` names the call's error or the first failed status, saying they were `what`.
pub fn grant_copy_all<H: Hypervisor + ?Sized>(
    hv: &mut H,
    ops: &mut [GrantCopy<'_>],
    what: &str,
) -> Result<(), alloc::string::String> {
    let mut st = alloc::vec![0i16; ops.len()];
    hv.grant_copy(ops, &mut st)
        .map_err(|e| alloc::format!("grant copy of {what}: {e}"))?;
    match st
        .iter()
        .find(|&&s| s != guest_abi::grant_table::GntStatus::OKAY.0)
    {
        Some(s) => Err(alloc::format!("grant copy of {what}: status {s}")),
        None => Ok(()),
    }
}

/// The hypervisor as seen from dom0's toolstack.
pub trait Hypervisor {
    /// `HYPERVISOR_domctl`: `op` is updated in place with the hypervisor's answer.
    fn domctl(&mut self, op: &mut XenDomctl) -> Result<(), Errno>;
    /// `HYPERVISOR_sysctl`: `op` is updated in place.
    fn sysctl(&mut self, op: &mut XenSysctl) -> Result<(), Errno>;
    /// `XENMEM_populate_physmap` (order 0) for `domid`: PFNs in, MFNs written back; returns
    /// how many extents were done (fewer than asked when memory or the domain's limit ran out).
    /// The frames come zeroed (the hypervisor scrubs every frame it hands out), which
    /// [`ForeignMemory`] relies on to skip zeroing pages it never wrote.
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

    /// `EVTCHNOP_bind_interdomain`: binds `remote_port` of domain `remote` to a new port of
    /// ours (which it returns); events on either end then reach the other.
    fn evtchn_bind_interdomain(&mut self, remote: DomId, remote_port: u32) -> Result<u32, Errno> {
        let _ = (remote, remote_port);
        Err(Errno::ENOSYS)
    }

    /// Whether our `port` was signalled since the last call (clearing the flag). Without a
    /// way to tell, every port counts as signalled (the caller then polls).
    fn evtchn_take_pending(&mut self, port: u32) -> bool {
        let _ = port;
        true
    }

    /// `EVTCHNOP_send` on our `port`.
    fn evtchn_send(&mut self, port: u32) -> Result<(), Errno> {
        let _ = port;
        Err(Errno::ENOSYS)
    }

    /// `EVTCHNOP_close` of our `port`.
    fn evtchn_close(&mut self, port: u32) -> Result<(), Errno> {
        let _ = port;
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

    /// `XEN_DOMCTL_getvcpucontext`: vCPU `vcpu` of a paused or suspended `domid`, written by
    /// the hypervisor into a context of ours whose address the domctl carries. `EAGAIN`
    /// (another CPU has not yet let go of the vCPU) is asked again a few times, relaxing
    /// between; `EBUSY` for a domain running.
    fn get_vcpu_context(&mut self, domid: DomId, vcpu: u32) -> Result<VcpuGuestContext, Errno> {
        use zerocopy::FromZeros;
        let mut ctx = VcpuGuestContext::new_zeroed();
        for _ in 0..CONTEXT_TRIES {
            let payload = DomctlVcpuContext {
                vcpu,
                _pad: 0,
                ctxt: core::ptr::from_mut(&mut ctx) as u64,
            };
            let mut op = XenDomctl::with_payload(XEN_DOMCTL_GETVCPUCONTEXT, domid, &payload);
            match self.domctl(&mut op) {
                Err(Errno::EAGAIN) => self.relax(),
                r => return r.map(|()| ctx),
            }
        }
        Err(Errno::EAGAIN)
    }

    /// `XEN_DOMCTL_getpageframeinfo3` over `frames` (a PV domain's machine frames), each
    /// replaced in place by its `XEN_DOMCTL_PFINFO_*` type: in batches of the hypervisor's
    /// limit ([`GETPAGEFRAMEINFO3_MAX`]); the first refusal ends it.
    fn page_frame_info(&mut self, domid: DomId, frames: &mut [u64]) -> Result<(), Errno> {
        for chunk in frames.chunks_mut(GETPAGEFRAMEINFO3_MAX as usize) {
            let p = DomctlGetPageFrameInfo3 {
                num: chunk.len() as u64,
                array: chunk.as_mut_ptr() as u64,
            };
            let mut op = XenDomctl::with_payload(XEN_DOMCTL_GETPAGEFRAMEINFO3, domid, &p);
            self.domctl(&mut op)?;
        }
        Ok(())
    }

    /// Resume `domid`, which suspended itself, in place (`XEN_DOMCTL_resumedomain`). With
    /// `cancelled` (a snapshot: the domain carries on rather than being restored elsewhere)
    /// its `SCHEDOP_shutdown` returns 1 instead of 0, as libxc's cooperative resume: vCPU 0's
    /// rax is set through get/setvcpucontext first. `EINVAL` (nothing changed) for a domain
    /// not suspended.
    fn resume_domain(&mut self, domid: DomId, cancelled: bool) -> Result<(), Errno> {
        if !is_suspended(&self.domain_info(domid)?) {
            return Err(Errno::EINVAL);
        }
        if cancelled {
            let mut c = self.get_vcpu_context(domid, 0)?;
            c.user_regs.rax = 1;
            self.set_vcpu_context(domid, 0, &c)?;
        }
        self.domctl(&mut XenDomctl::new(XEN_DOMCTL_RESUMEDOMAIN, domid))
    }

    /// Read `width` bytes (1, 2, 4 or 8; aligned) of device memory at machine address `maddr`
    /// through an uncached mapping the hypervisor grants dom0 for I/O memory only (DOMID_IO);
    /// `EPERM` for RAM and the hypervisor's own devices. Not every hypervisor has it.
    fn read_io(&mut self, maddr: u64, width: u8) -> Result<u64, Errno> {
        let _ = (maddr, width);
        Err(Errno::ENOSYS)
    }

    /// Reads `buf.len()` bytes of I/O memory starting at machine address `maddr` (any
    /// alignment), touching no byte outside the range: each access is the widest aligned
    /// [`read_io`](Self::read_io) that fits. `EINVAL` if the range wraps past the end of the
    /// address space; the first refusal otherwise (`EPERM`: RAM or the hypervisor's device).
    /// Implementations that can map a page once for many reads override it.
    fn read_io_bytes(&mut self, maddr: u64, buf: &mut [u8]) -> Result<(), Errno> {
        maddr.checked_add(buf.len() as u64).ok_or(Errno::EINVAL)?;
        let mut at = 0usize;
        while at < buf.len() {
            let addr = maddr + at as u64;
            let width = io_access_width(addr, buf.len() - at);
            let v = self.read_io(addr, width)?;
            let n = usize::from(width);
            buf[at..at + n].copy_from_slice(&v.to_le_bytes()[..n]);
            at += n;
        }
        Ok(())
    }

    /// `GNTTABOP_copy` of each of `ops` (in order), its `GNTST_*` status in `status` (as
    /// long as `ops`); `Err` only if the operation as a whole could not be issued. A piece
    /// reaching past its page is `GNTST_bad_copy_arg` without being tried.
    fn grant_copy(&mut self, ops: &mut [GrantCopy<'_>], status: &mut [i16]) -> Result<(), Errno> {
        let _ = (ops, status);
        Err(Errno::ENOSYS)
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

    /// `XEN_SYSCTL_perfc_op` query: every performance counter's name and values (the
    /// counters xenperf shows).
    fn perf_counters(&mut self) -> Result<Vec<(alloc::string::String, Vec<u32>)>, Errno> {
        let n = self.perfc_op(XEN_SYSCTL_PERFCOP_QUERY, None)?;
        let (counters, vals) = (n.nr_counters as usize, n.nr_vals as usize);
        if counters > 1024 || vals > 4096 {
            return Err(Errno::E2BIG);
        }
        let mut descs = alloc::vec![SysctlPerfcDesc::default(); counters];
        let mut values = alloc::vec![0u32; vals];
        let again = self.perfc_op(XEN_SYSCTL_PERFCOP_QUERY, Some((&mut descs, &mut values)))?;
        if again.nr_counters as usize != counters || again.nr_vals as usize != vals {
            return Err(Errno::EAGAIN);
        }
        let mut out = Vec::new();
        let mut at = 0usize;
        for d in &descs {
            let end = at.saturating_add(d.nr_vals as usize).min(vals);
            let name = alloc::string::String::from_utf8_lossy(d.name()).into_owned();
            out.push((name, values[at..end].to_vec()));
            at = end;
        }
        Ok(out)
    }

    /// `XEN_SYSCTL_perfc_op` reset: zero the counters that can be zeroed.
    fn perf_reset(&mut self) -> Result<(), Errno> {
        self.perfc_op(XEN_SYSCTL_PERFCOP_RESET, None).map(|_| ())
    }

    /// One `XEN_SYSCTL_perfc_op`, filling `out`'s description and value arrays (`None`: only
    /// the counts), which must be as long as the counts a query without them reported.
    fn perfc_op(
        &mut self,
        cmd: u32,
        out: Option<(&mut [SysctlPerfcDesc], &mut [u32])>,
    ) -> Result<SysctlPerfcOp, Errno> {
        let (desc, val) = out.map_or((0, 0), |(d, v)| {
            (d.as_mut_ptr() as u64, v.as_mut_ptr() as u64)
        });
        let p = SysctlPerfcOp {
            cmd,
            desc,
            val,
            ..Default::default()
        };
        let mut op = XenSysctl::with_payload(XEN_SYSCTL_PERFC_OP, &p);
        self.sysctl(&mut op)?;
        Ok(op.payload())
    }

    /// `XEN_SYSCTL_physinfo`.
    fn physinfo(&mut self) -> Result<SysctlPhysinfo, Errno> {
        let mut op = XenSysctl::new(XEN_SYSCTL_PHYSINFO);
        self.sysctl(&mut op)?;
        Ok(op.payload())
    }

    /// `XEN_SYSCTL_getdomaininfolist`: every domain, in id order.
    fn domain_info_list(&mut self) -> Result<Vec<DomctlGetDomainInfo>, Errno> {
        const BATCH: usize = 64;
        let mut all = Vec::new();
        let mut first = 0u16;
        loop {
            let mut buf = [DomctlGetDomainInfo::default(); BATCH];
            let n = self.domain_info_batch(DomId(first), &mut buf)?.min(BATCH);
            all.extend_from_slice(&buf[..n]);
            match buf[..n].last() {
                Some(last) if n == BATCH && last.domain.0 < u16::MAX => first = last.domain.0 + 1,
                _ => return Ok(all),
            }
        }
    }

    /// One `XEN_SYSCTL_getdomaininfolist` call: the domains from `first` on, into `buf`;
    /// returns how many it holds.
    fn domain_info_batch(
        &mut self,
        first: DomId,
        buf: &mut [DomctlGetDomainInfo],
    ) -> Result<usize, Errno> {
        let l = SysctlGetdomaininfolist {
            first_domain: first,
            max_domains: u32::try_from(buf.len()).map_err(|_| Errno::E2BIG)?,
            buffer: buf.as_mut_ptr() as u64,
            ..Default::default()
        };
        let mut op = XenSysctl::with_payload(XEN_SYSCTL_GETDOMAININFOLIST, &l);
        self.sysctl(&mut op)?;
        Ok(op.payload::<SysctlGetdomaininfolist>().num_domains as usize)
    }

    /// `XEN_DOMCTL_setvcpuaffinity` or `XEN_DOMCTL_getvcpuaffinity` (`cmd`) of vCPU `vcpu`
    /// of `domid`, for the maps `flags` names (`XEN_VCPUAFFINITY_HARD`, `_SOFT`, `_FORCE`):
    /// `hard` and `soft` are `xenctl_bitmap` bytes (bit `c % 8` of byte `c / 8` is CPU `c`)
    /// the domctl points at, read by a set and written back by both (a set returns the
    /// affinity in effect: the hard map, and the soft map within it).
    fn vcpu_affinity_op(
        &mut self,
        cmd: u32,
        domid: DomId,
        vcpu: u32,
        flags: u32,
        hard: &mut [u8],
        soft: &mut [u8],
    ) -> Result<(), Errno> {
        let bits = |b: &[u8]| u32::try_from(b.len() * 8).map_err(|_| Errno::E2BIG);
        let payload = DomctlVcpuAffinity {
            vcpu,
            flags,
            cpumap_hard: XenctlBitmap {
                bitmap: hard.as_mut_ptr() as u64,
                nr_bits: bits(hard)?,
                _pad: 0,
            },
            cpumap_soft: XenctlBitmap {
                bitmap: soft.as_mut_ptr() as u64,
                nr_bits: bits(soft)?,
                _pad: 0,
            },
        };
        let mut op = XenDomctl::with_payload(cmd, domid, &payload);
        self.domctl(&mut op)
    }

    /// `XEN_DOMCTL_getvcpuinfo` for vCPU `vcpu` of `domid`.
    fn vcpu_info(&mut self, domid: DomId, vcpu: u32) -> Result<DomctlGetVcpuInfo, Errno> {
        let payload = DomctlGetVcpuInfo {
            vcpu,
            ..Default::default()
        };
        let mut op = XenDomctl::with_payload(XEN_DOMCTL_GETVCPUINFO, domid, &payload);
        self.domctl(&mut op)?;
        Ok(op.payload())
    }

    /// `XEN_SYSCTL_readconsole` into `buf`: from the oldest kept byte, or from `index` if
    /// `incremental`; `clear` empties the ring. Returns (bytes read, index after them).
    fn read_console(
        &mut self,
        buf: &mut [u8],
        incremental: bool,
        index: u32,
        clear: bool,
    ) -> Result<(usize, u32), Errno> {
        let r = SysctlReadconsole {
            clear: u8::from(clear),
            incremental: u8::from(incremental),
            index,
            buffer: buf.as_mut_ptr() as u64,
            count: buf.len() as u32,
            ..Default::default()
        };
        let mut op = XenSysctl::with_payload(XEN_SYSCTL_READCONSOLE, &r);
        self.sysctl(&mut op)?;
        let r: SysctlReadconsole = op.payload();
        Ok(((r.count as usize).min(buf.len()), r.index))
    }

    /// `SCHEDOP_remote_shutdown`: asks the hypervisor to shut `domid` down for `reason`.
    fn remote_shutdown(&mut self, domid: DomId, reason: ShutdownReason) -> Result<(), Errno> {
        let _ = (domid, reason);
        Err(Errno::ENOSYS)
    }

    /// How many VIRQ_DOM_EXC events (a domain shut down or crashed) dom0 has received, if it
    /// receives them (`None`: the toolstack finds out by polling only).
    fn dom_exc_count(&mut self) -> Option<u64> {
        None
    }

    /// The hypervisor's system time in nanoseconds (monotonic from boot), if known.
    fn now_ns(&mut self) -> Option<u64> {
        None
    }

    /// Gives the CPU away briefly while a command waits (e.g. `xl shutdown -w`).
    fn relax(&mut self) {}
}

/// A vCPU's affinity: its hard affinity (where it may run) and its soft affinity (where it
/// prefers to).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Affinity {
    pub hard: CpuMap,
    pub soft: CpuMap,
}

/// `XEN_DOMCTL_getvcpuaffinity` of vCPU `vcpu` of `domid`, both maps, on a host whose CPUs
/// are numbered below `nr_cpus` (`max_cpu_id + 1`: the size of the maps).
pub fn vcpu_affinity<H: Hypervisor + ?Sized>(
    hv: &mut H,
    domid: DomId,
    vcpu: u32,
    nr_cpus: u32,
) -> Result<Affinity, Errno> {
    let mut hard = CpuMap::empty().to_bytes(nr_cpus);
    let mut soft = hard.clone();
    hv.vcpu_affinity_op(
        XEN_DOMCTL_GETVCPUAFFINITY,
        domid,
        vcpu,
        XEN_VCPUAFFINITY_HARD | XEN_VCPUAFFINITY_SOFT,
        &mut hard,
        &mut soft,
    )?;
    Ok(Affinity {
        hard: CpuMap::from_bytes(&hard),
        soft: CpuMap::from_bytes(&soft),
    })
}

/// `XEN_DOMCTL_setvcpuaffinity` of vCPU `vcpu` of `domid`: its hard and/or soft affinity
/// (`None`: left as it is; at least one is given), breaking a temporary pin of the guest's
/// with `force`. Returns the affinity now in effect (as the hypervisor reports it; a map
/// not set is reported empty).
pub fn set_vcpu_affinity<H: Hypervisor + ?Sized>(
    hv: &mut H,
    domid: DomId,
    vcpu: u32,
    hard: Option<CpuMap>,
    soft: Option<CpuMap>,
    force: bool,
    nr_cpus: u32,
) -> Result<Affinity, Errno> {
    let mut flags = 0;
    if hard.is_some() {
        flags |= XEN_VCPUAFFINITY_HARD;
    }
    if soft.is_some() {
        flags |= XEN_VCPUAFFINITY_SOFT;
    }
    if force {
        flags |= XEN_VCPUAFFINITY_FORCE;
    }
    let mut h = hard.unwrap_or_default().to_bytes(nr_cpus);
    let mut s = soft.unwrap_or_default().to_bytes(nr_cpus);
    hv.vcpu_affinity_op(
        XEN_DOMCTL_SETVCPUAFFINITY,
        domid,
        vcpu,
        flags,
        &mut h,
        &mut s,
    )?;
    Ok(Affinity {
        hard: if hard.is_some() {
            CpuMap::from_bytes(&h)
        } else {
            CpuMap::empty()
        },
        soft: if soft.is_some() {
            CpuMap::from_bytes(&s)
        } else {
            CpuMap::empty()
        },
    })
}

/// Extents per `populate_physmap` call (one p2m page's worth: 4 KiB of MFNs).
pub const POPULATE_BATCH: usize = 512;

/// A new domain's memory as the builder sees it, reached through
/// [`Hypervisor::with_foreign_page`].
///
/// Only the initial region's frames are kept: [`ForeignMemory::populate`] populates the
/// region's PFNs and remembers their MFNs (8 bytes a page of the region, which holds the
/// kernel, the ramdisk and the p2m list: about 1/512 of the domain plus its images); the
/// rest of the domain is populated [`POPULATE_BATCH`] pages at a time while the builder
/// writes the p2m list ([`GuestMemory::mfns`]) and forgotten at once. So building a domain
/// of any size needs a bounded amount of dom0's memory, never a list of all its pages.
pub struct ForeignMemory<'h, H: Hypervisor + ?Sized> {
    hv: &'h mut H,
    domid: DomId,
    /// The domain's pages.
    nr_pages: u64,
    /// MFNs of the region's PFNs (`region[pfn]`).
    region: Vec<u64>,
    /// PFNs below this are populated (the region's at least).
    next_pfn: u64,
    /// Region pages written so far (one bit per PFN); the others are still as
    /// populate_physmap left them: zero.
    written: Vec<u64>,
    /// Foreign mappings made (for the builder's cost accounting and tests).
    pub maps: u64,
}

impl<'h, H: Hypervisor + ?Sized> ForeignMemory<'h, H> {
    /// Populates PFNs `0..region_pages` of `domid`, a domain of `nr_pages` pages (nothing
    /// populated yet; its frames come zeroed), and returns its memory for the builder. The
    /// region's MFN list is the only allocation, and a failed one is an error (`ENOMEM`), not
    /// the end of dom0.
    pub fn populate(
        hv: &'h mut H,
        domid: DomId,
        nr_pages: u64,
        region_pages: u64,
    ) -> Result<Self, BuildError> {
        let out_of_memory = BuildError::Populate {
            done: 0,
            wanted: nr_pages,
            errno: Some(Errno::ENOMEM),
        };
        let region_len = usize::try_from(region_pages.min(nr_pages)).map_err(|_| out_of_memory)?;
        let mut region = Vec::new();
        region
            .try_reserve_exact(region_len)
            .map_err(|_| out_of_memory)?;
        let mut written = Vec::new();
        written
            .try_reserve_exact(region_len.div_ceil(64))
            .map_err(|_| out_of_memory)?;
        written.resize(region_len.div_ceil(64), 0);
        let mut mem = Self {
            hv,
            domid,
            nr_pages,
            region,
            next_pfn: 0,
            written,
            maps: 0,
        };
        let mut batch = [0u64; POPULATE_BATCH];
        while mem.region.len() < region_len {
            let n = (region_len - mem.region.len()).min(POPULATE_BATCH);
            let first = mem.next_pfn;
            mem.populate_batch(first, &mut batch[..n])?;
            mem.region.extend_from_slice(&batch[..n]);
        }
        Ok(mem)
    }

    /// Populates PFNs `first..first + out.len()` (the next ones: `first == next_pfn`), their
    /// MFNs into `out`.
    fn populate_batch(&mut self, first: u64, out: &mut [u64]) -> Result<(), BuildError> {
        if first != self.next_pfn {
            return Err(BuildError::Layout(
                "the domain's memory was asked for out of order",
            ));
        }
        for (pfn, e) in (first..).zip(out.iter_mut()) {
            *e = pfn;
        }
        let done =
            self.hv
                .populate_physmap(self.domid, out)
                .map_err(|errno| BuildError::Populate {
                    done: self.next_pfn,
                    wanted: self.nr_pages,
                    errno: Some(errno),
                })?;
        self.next_pfn += done.min(out.len()) as u64;
        if done != out.len() {
            return Err(BuildError::Populate {
                done: self.next_pfn,
                wanted: self.nr_pages,
                errno: None,
            });
        }
        Ok(())
    }

    /// Populates whatever of the domain the builder did not ask for (nothing, after
    /// [`crate::build::build_pv`]); after this every page of the domain is there.
    pub fn finish(mut self) -> Result<(), BuildError> {
        let mut batch = [0u64; POPULATE_BATCH];
        while self.next_pfn < self.nr_pages {
            let n = (self.nr_pages - self.next_pfn).min(POPULATE_BATCH as u64) as usize;
            let first = self.next_pfn;
            self.populate_batch(first, &mut batch[..n])?;
        }
        Ok(())
    }

    /// Pages populated so far.
    pub fn populated(&self) -> u64 {
        self.next_pfn
    }

    fn is_written(&self, pfn: u64) -> bool {
        self.written
            .get((pfn / 64) as usize)
            .is_some_and(|w| w & (1 << (pfn % 64)) != 0)
    }

    /// Runs `f(page, offset_in_page, index_into_the_range)` on each page piece of
    /// `[gpaddr, gpaddr + len)`, which must lie in the region.
    /// With `zeroing`, pages never written are skipped: they are zero already.
    fn for_each_piece(
        &mut self,
        gpaddr: u64,
        len: u64,
        zeroing: bool,
        f: &mut dyn FnMut(&mut [u8], usize),
    ) -> Result<(), BuildError> {
        let out = BuildError::OutOfRange { gpaddr, len };
        let end = gpaddr.checked_add(len).ok_or(out)?;
        let region_end = (self.region.len() as u64)
            .checked_mul(PAGE_SIZE)
            .ok_or(out)?;
        if end > region_end {
            return Err(out);
        }
        let mut at = gpaddr;
        while at < end {
            let pfn = at / PAGE_SIZE;
            let off = (at % PAGE_SIZE) as usize;
            let n = ((PAGE_SIZE - off as u64).min(end - at)) as usize;
            let done = (at - gpaddr) as usize;
            let mfn = self.region[pfn as usize];
            if !zeroing || self.is_written(pfn) {
                self.maps += 1;
                self.hv
                    .with_foreign_page(self.domid, mfn, &mut |page| {
                        f(&mut page[off..off + n], done)
                    })
                    .map_err(|errno| BuildError::Map { mfn, errno })?;
                if let Some(w) = self.written.get_mut((pfn / 64) as usize) {
                    *w |= 1 << (pfn % 64);
                }
            }
            at += n as u64;
        }
        Ok(())
    }
}

impl<H: Hypervisor + ?Sized> GuestMemory for ForeignMemory<'_, H> {
    fn nr_pages(&self) -> u64 {
        self.nr_pages
    }

    fn pfn_to_mfn(&self, pfn: u64) -> u64 {
        // The builder only asks about the region; anything else gets an invalid MFN.
        usize::try_from(pfn)
            .ok()
            .and_then(|p| self.region.get(p))
            .copied()
            .unwrap_or(u64::MAX)
    }

    fn mfns(&mut self, first: u64, out: &mut [u64]) -> Result<(), BuildError> {
        let len = out.len() as u64;
        let bad = BuildError::OutOfRange {
            gpaddr: first.saturating_mul(PAGE_SIZE),
            len: len.saturating_mul(PAGE_SIZE),
        };
        if first.checked_add(len).is_none_or(|end| end > self.nr_pages) {
            return Err(bad);
        }
        // The region's part from the list, the rest populated now.
        let in_region = (self.region.len() as u64).saturating_sub(first).min(len) as usize;
        let (known, rest) = out.split_at_mut(in_region);
        for (pfn, m) in (first..).zip(known.iter_mut()) {
            *m = self.region[pfn as usize];
        }
        if !rest.is_empty() {
            self.populate_batch(first + in_region as u64, rest)?;
        }
        Ok(())
    }

    fn write(&mut self, gpaddr: u64, data: &[u8]) -> Result<(), BuildError> {
        self.for_each_piece(gpaddr, data.len() as u64, false, &mut |piece, done| {
            piece.copy_from_slice(&data[done..done + piece.len()]);
        })
    }

    fn zero(&mut self, gpaddr: u64, len: u64) -> Result<(), BuildError> {
        self.for_each_piece(gpaddr, len, true, &mut |piece, _| piece.fill(0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testhv::{FailPoint, TestHv};
    use guest_abi::domctl::{DomctlMaxMem, XEN_DOMCTL_MAX_MEM};

    /// A new domain that may have `pages` pages; nothing populated yet.
    fn fresh_domain(hv: &mut TestHv, pages: u64) -> DomId {
        let mut op = crate::testhv::createdomain_op();
        hv.domctl(&mut op).unwrap();
        let dom = op.domain;
        let mut op = XenDomctl::with_payload(
            XEN_DOMCTL_MAX_MEM,
            dom,
            &DomctlMaxMem {
                max_memkb: pages * 4,
            },
        );
        hv.domctl(&mut op).unwrap();
        dom
    }

    #[test]
    fn zeroing_pages_never_written_maps_nothing() {
        let mut hv = TestHv::boot(64);
        let dom = fresh_domain(&mut hv, 64);
        let mut mem = ForeignMemory::populate(&mut hv, dom, 64, 64).unwrap();
        let (m5, m40) = (mem.pfn_to_mfn(5), mem.pfn_to_mfn(40));
        mem.write(5 * PAGE_SIZE + 10, b"data").unwrap();
        assert_eq!(mem.maps, 1);
        // Zeroing the whole domain maps only the one page that was written.
        mem.zero(0, 64 * PAGE_SIZE).unwrap();
        assert_eq!(mem.maps, 2);
        let mut seen = [0xFFu8; 4];
        hv.with_foreign_page(dom, m5, &mut |p| seen.copy_from_slice(&p[10..14]))
            .unwrap();
        assert_eq!(seen, [0; 4], "the written page was zeroed");
        // Dirty a frame, give it back and have it handed out again: it comes zeroed.
        hv.with_foreign_page(dom, m40, &mut |p| p.fill(0xA5))
            .unwrap();
        assert_eq!(hv.frame(m40), [0xA5; 4096]);
        let mut untouched = 0xFFu8;
        hv.with_foreign_page(dom, m40, &mut |p| untouched = p[123])
            .unwrap();
        assert_eq!(
            untouched, 0xA5,
            "writes through the mapping reach the frame"
        );
        destroy(&mut hv, dom);
        let dom = fresh_domain(&mut hv, 64);
        let mut all = [0u64; 64];
        for (pfn, e) in all.iter_mut().enumerate() {
            *e = pfn as u64;
        }
        assert_eq!(hv.populate_physmap(dom, &mut all), Ok(64));
        assert!(all.contains(&m40), "the freed frame is handed out again");
        hv.with_foreign_page(dom, m40, &mut |p| untouched = p[123])
            .unwrap();
        assert_eq!(untouched, 0, "populate_physmap hands out zeroed frames");
    }

    /// Destroys `dom` as the toolstack does (again while the hypervisor answers EAGAIN).
    fn destroy(hv: &mut TestHv, dom: DomId) {
        crate::xl::destroy_domain(hv, dom).unwrap();
        assert_eq!(hv.domain(dom), None);
    }

    #[test]
    fn only_the_region_is_kept_and_the_rest_is_populated_in_order() {
        let mut hv = TestHv::boot(64);
        let dom = fresh_domain(&mut hv, 2000);
        let mut mem = ForeignMemory::populate(&mut hv, dom, 2000, 100).unwrap();
        assert_eq!((mem.nr_pages(), mem.populated()), (2000, 100));
        assert_eq!(mem.region.capacity(), 100, "a list of the region only");
        assert_eq!(mem.pfn_to_mfn(100), u64::MAX);
        assert_eq!(
            mem.write(100 * PAGE_SIZE - 1, b"xy"),
            Err(BuildError::OutOfRange {
                gpaddr: 100 * PAGE_SIZE - 1,
                len: 2
            }),
            "the builder writes only into the region"
        );
        let mut head = [0u64; 50];
        mem.mfns(0, &mut head).unwrap();
        assert!(head
            .iter()
            .enumerate()
            .all(|(p, &m)| m == mem.pfn_to_mfn(p as u64)));
        // Straddling the region's end: 50 known, 100 populated now.
        let mut next = [0u64; 150];
        mem.mfns(50, &mut next).unwrap();
        assert_eq!(mem.populated(), 200);
        // Only in order, and never past the domain's end.
        assert!(mem.mfns(300, &mut next[..10]).is_err());
        assert!(mem.mfns(1990, &mut next[..20]).is_err());
        assert_eq!(mem.populated(), 200);
        mem.finish().unwrap();
        assert_eq!(hv.domain(dom).unwrap().tot_pages, 2000);
        // The hypervisor put each frame at the PFN it was asked for.
        for (pfn, &mfn) in (50u64..200).zip(next.iter()) {
            assert_eq!((hv.owner(mfn), hv.m2p(mfn)), (dom, pfn));
        }
    }

    #[test]
    fn populate_failures_name_how_far_it_got() {
        let mut hv = TestHv::boot(64);
        // The domain may have 150 pages but is to get 200.
        let dom = fresh_domain(&mut hv, 150);
        let mem = ForeignMemory::populate(&mut hv, dom, 200, 100).unwrap();
        assert_eq!(
            mem.finish(),
            Err(BuildError::Populate {
                done: 150,
                wanted: 200,
                errno: None
            })
        );
        let dom = fresh_domain(&mut hv, 150);
        hv.fail = Some((FailPoint::PopulatePhysmap, Errno::ENOMEM));
        let e = ForeignMemory::populate(&mut hv, dom, 100, 100).err();
        assert_eq!(
            e.map(|e| e.to_string()).as_deref(),
            Some("populate_physmap: ENOMEM")
        );
    }
}
