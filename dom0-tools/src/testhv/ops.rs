//! The toolstack's operations as dom0's hypercalls, arguments marshalled through dom0's
//! scratch memory (see [`super`]).

use super::{FailPoint, TestHv, ARG, BUF, BUF_LEN, PTE_RW};
use crate::hv::Hypervisor;
use guest_abi::arch::VcpuGuestContext;
use guest_abi::domctl::*;
use guest_abi::errno::Errno;
use guest_abi::event_channel::{
    EvtchnAllocUnbound, EvtchnBindInterdomain, EvtchnClose, EvtchnSend,
};
use guest_abi::hypercall::nr;
use guest_abi::memory::{XenMemoryReservation, XENMEM_POPULATE_PHYSMAP};
use guest_abi::mmu::{MmuextOp, UvmfFlags};
use guest_abi::sched::{SchedRemoteShutdown, ShutdownReason, SCHEDOP_REMOTE_SHUTDOWN};
use guest_abi::sysctl::*;
use guest_abi::types::{DomId, EvtchnPort};
use guest_abi::version::{XenFeatureInfo, XENVER_GET_FEATURES, XENVER_VERSION};
use zerocopy::IntoBytes;

/// How long [`Hypervisor::relax`] lets pass (pv-guest's dom0 blocks at most 1 ms).
const RELAX_NS: u64 = 1_000_000;

impl TestHv {
    /// A domctl as it is, from dom0's memory.
    fn domctl_raw(&mut self, op: &mut XenDomctl) -> Result<(), Errno> {
        let va = self.put(ARG, op);
        let r = self.call(nr::DOMCTL, [va, 0, 0, 0, 0]);
        *op = self.get(ARG);
        r.map(|_| ())
    }

    /// A sysctl as it is, from dom0's memory.
    fn sysctl_raw(&mut self, op: &mut XenSysctl) -> Result<(), Errno> {
        let va = self.put(ARG, op);
        let r = self.call(nr::SYSCTL, [va, 0, 0, 0, 0]);
        *op = self.get(ARG);
        r.map(|_| ())
    }

    /// Asserts that `len` bytes of buffers fit the scratch memory (a limit of this adapter,
    /// not of the hypervisor: the toolstack's buffers are far smaller).
    fn fits(len: usize) -> u64 {
        assert!(
            len as u64 <= BUF_LEN,
            "{len} bytes of buffers: more than the test adapter's scratch memory"
        );
        len as u64
    }
}

impl Hypervisor for TestHv {
    fn domctl(&mut self, op: &mut XenDomctl) -> Result<(), Errno> {
        self.point(FailPoint::Domctl(op.cmd))?;
        assert!(
            !matches!(
                op.cmd,
                XEN_DOMCTL_SETVCPUCONTEXT
                    | XEN_DOMCTL_GETVCPUCONTEXT
                    | XEN_DOMCTL_GETPAGEFRAMEINFO3
                    | XEN_DOMCTL_SHADOW_OP
                    | XEN_DOMCTL_SETVCPUAFFINITY
                    | XEN_DOMCTL_GETVCPUAFFINITY
            ),
            "domctl {} carries a pointer into the caller's memory: use its typed method",
            op.cmd
        );
        self.domctl_raw(op)
    }

    fn sysctl(&mut self, op: &mut XenSysctl) -> Result<(), Errno> {
        self.point(FailPoint::Sysctl(op.cmd))?;
        let pointers = match op.cmd {
            XEN_SYSCTL_READCONSOLE | XEN_SYSCTL_GETDOMAININFOLIST => true,
            XEN_SYSCTL_PERFC_OP => {
                let p: SysctlPerfcOp = op.payload();
                p.desc != 0 || p.val != 0
            }
            _ => false,
        };
        assert!(
            !pointers,
            "sysctl {} carries a pointer into the caller's memory: use its typed method",
            op.cmd
        );
        self.sysctl_raw(op)
    }

    fn populate_physmap(&mut self, domid: DomId, extents: &mut [u64]) -> Result<usize, Errno> {
        self.point(FailPoint::PopulatePhysmap)?;
        Self::fits(extents.len() * 8);
        let list = self.put_bytes(BUF, extents.as_bytes());
        let res = XenMemoryReservation {
            extent_start: list,
            nr_extents: extents.len() as u64,
            extent_order: 0,
            mem_flags: 0,
            domid,
            _pad: [0; 3],
        };
        let arg = self.put(ARG, &res);
        let r = self.call(
            nr::MEMORY_OP,
            [u64::from(XENMEM_POPULATE_PHYSMAP), arg, 0, 0, 0],
        );
        // The MFNs replaced the PFNs of the extents done.
        self.get_bytes(BUF, extents.as_mut_bytes());
        r.map(|done| done as usize)
    }

    fn with_foreign_page(
        &mut self,
        domid: DomId,
        mfn: u64,
        f: &mut dyn FnMut(&mut [u8; 4096]),
    ) -> Result<(), Errno> {
        self.point(FailPoint::ForeignMap)?;
        let pte = (mfn << 12) | PTE_RW;
        self.call(
            nr::UPDATE_VA_MAPPING_OTHERDOMAIN,
            [
                self.window,
                pte,
                UvmfFlags::INVLPG.bits(),
                u64::from(domid.0),
                0,
            ],
        )?;
        let mut page = [0u8; 4096];
        let bytes = self.tb.read_bytes(self.window, page.len());
        page.copy_from_slice(&bytes);
        f(&mut page);
        self.tb.write_bytes(self.window, &page);
        self.unmap_window()
    }

    fn mmuext_foreign(&mut self, domid: DomId, op: &MmuextOp) -> Result<(), Errno> {
        self.point(FailPoint::Mmuext)?;
        let ops = self.put(ARG, op);
        let done = self.put(ARG + 0x100, &0u32);
        self.call(nr::MMUEXT_OP, [ops, 1, done, u64::from(domid.0), 0])
            .map(|_| ())
    }

    fn xen_version(&mut self) -> Result<(u16, u16), Errno> {
        let v = self.call(nr::XEN_VERSION, [u64::from(XENVER_VERSION), 0, 0, 0, 0])?;
        Ok(((v >> 16) as u16, v as u16))
    }

    fn features(&mut self) -> Result<u32, Errno> {
        let va = self.put(
            ARG,
            &XenFeatureInfo {
                submap_idx: 0,
                submap: 0,
            },
        );
        self.call(
            nr::XEN_VERSION,
            [u64::from(XENVER_GET_FEATURES), va, 0, 0, 0],
        )?;
        Ok(self.get::<XenFeatureInfo>(ARG).submap)
    }

    fn evtchn_alloc_unbound(&mut self, domid: DomId, remote: DomId) -> Result<u32, Errno> {
        let mut op = EvtchnAllocUnbound {
            dom: domid,
            remote_dom: remote,
            port: EvtchnPort(0),
        };
        self.evtchn_op(&mut op)?;
        Ok(op.port.0)
    }

    fn evtchn_bind_interdomain(&mut self, remote: DomId, remote_port: u32) -> Result<u32, Errno> {
        let mut op = EvtchnBindInterdomain {
            remote_dom: remote,
            _pad: 0,
            remote_port: EvtchnPort(remote_port),
            local_port: EvtchnPort(0),
        };
        self.evtchn_op(&mut op)?;
        Ok(op.local_port.0)
    }

    fn evtchn_take_pending(&mut self, port: u32) -> bool {
        self.take_pending(port)
    }

    fn evtchn_send(&mut self, port: u32) -> Result<(), Errno> {
        self.evtchn_op(&mut EvtchnSend {
            port: EvtchnPort(port),
        })
    }

    fn evtchn_close(&mut self, port: u32) -> Result<(), Errno> {
        self.evtchn_op(&mut EvtchnClose {
            port: EvtchnPort(port),
        })
    }

    fn set_vcpu_context(
        &mut self,
        domid: DomId,
        vcpu: u32,
        ctx: &VcpuGuestContext,
    ) -> Result<(), Errno> {
        self.point(FailPoint::SetVcpuContext)?;
        self.point(FailPoint::Domctl(XEN_DOMCTL_SETVCPUCONTEXT))?;
        let ctxt = self.put(BUF, ctx);
        let payload = DomctlVcpuContext {
            vcpu,
            _pad: 0,
            ctxt,
        };
        let mut op = XenDomctl::with_payload(XEN_DOMCTL_SETVCPUCONTEXT, domid, &payload);
        self.domctl_raw(&mut op)
    }

    fn get_vcpu_context(&mut self, domid: DomId, vcpu: u32) -> Result<VcpuGuestContext, Errno> {
        self.point(FailPoint::Domctl(XEN_DOMCTL_GETVCPUCONTEXT))?;
        let size = Self::fits(core::mem::size_of::<VcpuGuestContext>());
        let ctxt = self.put_bytes(BUF, &alloc::vec![0u8; size as usize]);
        let payload = DomctlVcpuContext {
            vcpu,
            _pad: 0,
            ctxt,
        };
        let mut op = XenDomctl::with_payload(XEN_DOMCTL_GETVCPUCONTEXT, domid, &payload);
        self.domctl_raw(&mut op)?;
        Ok(self.get(BUF))
    }

    fn page_frame_info(&mut self, domid: DomId, frames: &mut [u64]) -> Result<(), Errno> {
        for chunk in frames.chunks_mut(GETPAGEFRAMEINFO3_MAX as usize) {
            self.point(FailPoint::Domctl(XEN_DOMCTL_GETPAGEFRAMEINFO3))?;
            Self::fits(chunk.len() * 8);
            let array = self.put_bytes(BUF, chunk.as_bytes());
            let p = DomctlGetPageFrameInfo3 {
                num: chunk.len() as u64,
                array,
            };
            let mut op = XenDomctl::with_payload(XEN_DOMCTL_GETPAGEFRAMEINFO3, domid, &p);
            let r = self.domctl_raw(&mut op);
            self.get_bytes(BUF, chunk.as_mut_bytes());
            r?;
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
        self.point(FailPoint::Domctl(cmd))?;
        Self::fits(hard.len() + soft.len());
        let hard_va = self.put_bytes(BUF, hard);
        let soft_va = self.put_bytes(BUF + hard.len() as u64, soft);
        let payload = DomctlVcpuAffinity {
            vcpu,
            flags,
            cpumap_hard: XenctlBitmap {
                bitmap: hard_va,
                nr_bits: (hard.len() * 8) as u32,
                _pad: 0,
            },
            cpumap_soft: XenctlBitmap {
                bitmap: soft_va,
                nr_bits: (soft.len() * 8) as u32,
                _pad: 0,
            },
        };
        let mut op = XenDomctl::with_payload(cmd, domid, &payload);
        let r = self.domctl_raw(&mut op);
        self.get_bytes(BUF, hard);
        self.get_bytes(BUF + hard.len() as u64, soft);
        r
    }

    fn perfc_op(
        &mut self,
        cmd: u32,
        out: Option<(&mut [SysctlPerfcDesc], &mut [u32])>,
    ) -> Result<SysctlPerfcOp, Errno> {
        self.point(FailPoint::Sysctl(XEN_SYSCTL_PERFC_OP))?;
        let desc_len = out.as_ref().map_or(0, |(d, _)| d.as_bytes().len());
        let val_len = out.as_ref().map_or(0, |(_, v)| v.as_bytes().len());
        Self::fits(desc_len + val_len);
        let (desc, val) = match out {
            Some(_) => (self.scratch + BUF, self.scratch + BUF + desc_len as u64),
            None => (0, 0),
        };
        let p = SysctlPerfcOp {
            cmd,
            desc,
            val,
            ..Default::default()
        };
        let mut op = XenSysctl::with_payload(XEN_SYSCTL_PERFC_OP, &p);
        self.sysctl_raw(&mut op)?;
        if let Some((d, v)) = out {
            self.get_bytes(BUF, d.as_mut_bytes());
            self.get_bytes(BUF + desc_len as u64, v.as_mut_bytes());
        }
        Ok(op.payload())
    }

    fn domain_info_batch(
        &mut self,
        first: DomId,
        buf: &mut [DomctlGetDomainInfo],
    ) -> Result<usize, Errno> {
        self.point(FailPoint::Sysctl(XEN_SYSCTL_GETDOMAININFOLIST))?;
        Self::fits(buf.as_bytes().len());
        let l = SysctlGetdomaininfolist {
            first_domain: first,
            max_domains: buf.len() as u32,
            buffer: self.scratch + BUF,
            ..Default::default()
        };
        let mut op = XenSysctl::with_payload(XEN_SYSCTL_GETDOMAININFOLIST, &l);
        self.sysctl_raw(&mut op)?;
        let n = (op.payload::<SysctlGetdomaininfolist>().num_domains as usize).min(buf.len());
        self.get_bytes(BUF, buf[..n].as_mut_bytes());
        Ok(n)
    }

    fn read_console(
        &mut self,
        buf: &mut [u8],
        incremental: bool,
        index: u32,
        clear: bool,
    ) -> Result<(usize, u32), Errno> {
        self.point(FailPoint::Sysctl(XEN_SYSCTL_READCONSOLE))?;
        Self::fits(buf.len());
        let r = SysctlReadconsole {
            clear: u8::from(clear),
            incremental: u8::from(incremental),
            index,
            buffer: self.scratch + BUF,
            count: buf.len() as u32,
            ..Default::default()
        };
        let mut op = XenSysctl::with_payload(XEN_SYSCTL_READCONSOLE, &r);
        self.sysctl_raw(&mut op)?;
        let r: SysctlReadconsole = op.payload();
        let n = (r.count as usize).min(buf.len());
        self.get_bytes(BUF, &mut buf[..n]);
        Ok((n, r.index))
    }

    fn remote_shutdown(&mut self, domid: DomId, reason: ShutdownReason) -> Result<(), Errno> {
        let va = self.put(
            ARG,
            &SchedRemoteShutdown {
                domain_id: domid,
                _pad: 0,
                reason: reason.as_u32(),
            },
        );
        self.call(
            nr::SCHED_OP,
            [u64::from(SCHEDOP_REMOTE_SHUTDOWN), va, 0, 0, 0],
        )
        .map(|_| ())
    }

    fn dom_exc_count(&mut self) -> Option<u64> {
        let port = self.dom_exc_port?;
        if self.take_pending(port) {
            self.dom_exc += 1;
        }
        Some(self.dom_exc)
    }

    fn now_ns(&mut self) -> Option<u64> {
        Some(self.guest_time())
    }

    /// dom0 gives the CPU away (`SCHEDOP_yield`) and 1 ms passes.
    fn relax(&mut self) {
        let _ = self.call(
            nr::SCHED_OP,
            [u64::from(guest_abi::sched::SCHEDOP_YIELD), 0, 0, 0, 0],
        );
        self.pass_time(RELAX_NS);
    }
}
