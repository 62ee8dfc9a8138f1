//! The domctls a toolstack saving a domain uses: `XEN_DOMCTL_getvcpucontext` (a stopped
//! vCPU's whole context), `XEN_DOMCTL_getpageframeinfo3` (the page-table types of a batch of
//! the domain's frames, which tell it what to canonicalise) and `XEN_DOMCTL_resumedomain`
//! (a suspended domain runs on in place). Reached through [`super::domctl`], dom0 only.

use crate::domain::{state::State, VcpuId};
use crate::mm::guest_copy;
use crate::mm::page_types::PageType;
use guest_abi::domctl::{DomctlGetPageFrameInfo3, DomctlVcpuContext, GETPAGEFRAMEINFO3_MAX};
use guest_abi::errno::Errno;
use guest_abi::save_stream::{
    XEN_DOMCTL_PFINFO_L1TAB, XEN_DOMCTL_PFINFO_L2TAB, XEN_DOMCTL_PFINFO_L3TAB,
    XEN_DOMCTL_PFINFO_L4TAB, XEN_DOMCTL_PFINFO_LPINTAB, XEN_DOMCTL_PFINFO_NOTAB,
    XEN_DOMCTL_PFINFO_XTAB,
};
use guest_abi::types::{DomId, Mfn};

/// `XEN_DOMCTL_getvcpucontext`: vCPU `p.vcpu` of `dom`'s context written to `p.ctxt`
/// through the checked copy layer. As Xen: a vCPU beyond the domain's or the caller's own
/// `EINVAL`, one never initialised `ENODATA`, a missing or dying domain `ESRCH`. A domain
/// neither paused nor shut down is refused with `EBUSY` (its registers change under the
/// reader; Xen pauses the vCPU for the copy, the toolstack pauses or suspends it first
/// here), and one whose vCPU another CPU has not yet let go of with `EAGAIN` (call again).
pub fn get_vcpu_context(st: &mut State, dom: DomId, p: &DomctlVcpuContext) -> Result<(), Errno> {
    let v = VcpuId::new(dom, p.vcpu);
    let me = st.current;
    let d = match st.dom(dom) {
        Some(d) if !d.dying => d,
        _ => return Err(Errno::ESRCH),
    };
    if d.vcpu(p.vcpu).is_none() || v == me {
        return Err(Errno::EINVAL);
    }
    if !d.vcpu(p.vcpu).is_some_and(|vc| vc.initialised) {
        return Err(Errno::ENODATA);
    }
    if d.pause_count == 0 && d.shutdown.is_none() {
        return Err(Errno::EBUSY);
    }
    if st.cpus_with(dom) & !(1 << st.me) != 0 {
        st.stopped();
        return Err(Errno::EAGAIN);
    }
    let c = crate::domain::vcpu_context::get_vcpu_context(st, v)?;
    guest_copy::write(&st.mem, p.ctxt, &c)
}

/// The `XEN_DOMCTL_PFINFO_*` type of frame `mfn` as seen from domain `dom`: `XTAB` for a
/// frame that is not `dom`'s memory (another domain's, free, the hypervisor's shared with
/// it, beyond RAM), its page-table level while it is a table in use (`L1TAB`..`L4TAB`, with
/// `LPINTAB` if pinned), else `NOTAB`.
pub fn frame_type(st: &mut State, dom: DomId, mfn: u64) -> u32 {
    let (ft, _) = st.frame_table();
    let Some(p) = ft.get(Mfn(mfn)) else {
        return XEN_DOMCTL_PFINFO_XTAB;
    };
    if p.owner != dom || p.xen {
        return XEN_DOMCTL_PFINFO_XTAB;
    }
    let level = if p.type_count > 0 {
        p.ptype
    } else {
        PageType::None
    };
    let t = match level {
        PageType::L1 => XEN_DOMCTL_PFINFO_L1TAB,
        PageType::L2 => XEN_DOMCTL_PFINFO_L2TAB,
        PageType::L3 => XEN_DOMCTL_PFINFO_L3TAB,
        PageType::L4 => XEN_DOMCTL_PFINFO_L4TAB,
        _ => return XEN_DOMCTL_PFINFO_NOTAB,
    };
    if p.pinned {
        t | XEN_DOMCTL_PFINFO_LPINTAB
    } else {
        t
    }
}

/// `XEN_DOMCTL_getpageframeinfo3`: each of the `p.num` frame numbers (8 bytes each) at
/// `p.array` replaced by its type ([`frame_type`]), in order, as Xen: more than
/// [`GETPAGEFRAMEINFO3_MAX`] `E2BIG` (nothing read); an entry that cannot be read or
/// written `EFAULT`, the entries before it answered; a missing domain `ESRCH`.
pub fn get_page_frame_info3(
    st: &mut State,
    dom: DomId,
    p: &DomctlGetPageFrameInfo3,
) -> Result<(), Errno> {
    if st.dom(dom).is_none() {
        return Err(Errno::ESRCH);
    }
    if p.num > GETPAGEFRAMEINFO3_MAX {
        return Err(Errno::E2BIG);
    }
    for i in 0..p.num {
        let at = p.array.wrapping_add(i * 8);
        let mfn: u64 = guest_copy::read(&st.mem, at)?;
        let t = u64::from(frame_type(st, dom, mfn));
        guest_copy::write(&st.mem, at, &t)?;
    }
    Ok(())
}

/// `XEN_DOMCTL_resumedomain`: `dom` resumes where it suspended itself
/// ([`crate::lifecycle::resume`]); the caller's own domain `EINVAL`, as Xen.
pub fn resume_domain(st: &mut State, dom: DomId) -> Result<(), Errno> {
    if dom == st.current.dom {
        return Err(Errno::EINVAL);
    }
    crate::lifecycle::resume(st, dom)
}
