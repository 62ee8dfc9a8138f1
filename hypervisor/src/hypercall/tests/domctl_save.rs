//! What a toolstack saving a domain needs of the hypervisor: a PV guest suspending itself
//! (`SCHEDOP_shutdown(SHUTDOWN_suspend)`), `XEN_DOMCTL_resumedomain` (a cancelled suspend:
//! the toolstack sets the call's return to 1 and the domain runs on in place),
//! `XEN_DOMCTL_getvcpucontext` (a stopped vCPU's whole context, the inverse of
//! setvcpucontext) and `XEN_DOMCTL_getpageframeinfo3` (page-table types), with hostile
//! callers and arguments refused as Xen refuses them.

use super::domctl::{domctl, info, kernel_l4, set_context, type_count};
use super::sched_op::{bind_virq, pending, take_events};
use super::smp::smp_domu;
use crate::mm::page_types::PageType;
use crate::testbed::{err, Testbed};
use guest_abi::arch::{VcpuGuestContext, VgcfFlags};
use guest_abi::domctl::*;
use guest_abi::errno::Errno;
use guest_abi::event_channel::VIRQ_DOM_EXC;
use guest_abi::hypercall::nr;
use guest_abi::save_stream::*;
use guest_abi::sched::*;
use guest_abi::types::DomId;

/// The current domain suspends itself; what the call returned to it.
fn suspend(tb: &mut Testbed) -> i64 {
    let buf = tb.scratch();
    tb.write(
        buf,
        &SchedShutdown {
            reason: SHUTDOWN_SUSPEND,
        },
    );
    tb.hypercall(nr::SCHED_OP, [u64::from(SCHEDOP_SHUTDOWN), buf, 0, 0, 0])
}

/// The rax vCPU 0 of `dom` will see when it runs again.
fn saved_rax(tb: &Testbed, dom: DomId) -> u64 {
    tb.st(|st| st.dom(dom).expect("domain").vcpus[0].regs.rax)
}

fn resume(tb: &mut Testbed, dom: DomId) -> i64 {
    domctl(tb, &XenDomctl::new(XEN_DOMCTL_RESUMEDOMAIN, dom)).0
}

/// getvcpucontext of `dom`'s `vcpu` into the caller's memory at `at`.
fn get_context_at(tb: &mut Testbed, dom: DomId, vcpu: u32, at: u64) -> i64 {
    let p = DomctlVcpuContext {
        vcpu,
        _pad: 0,
        ctxt: at,
    };
    domctl(
        tb,
        &XenDomctl::with_payload(XEN_DOMCTL_GETVCPUCONTEXT, dom, &p),
    )
    .0
}

/// getvcpucontext of `dom`'s `vcpu`, read back from the caller's scratch memory.
fn get_context(tb: &mut Testbed, dom: DomId, vcpu: u32) -> Result<VcpuGuestContext, i64> {
    let at = tb.scratch() + 0x2000;
    tb.write_bytes(at, &[0xEE; core::mem::size_of::<VcpuGuestContext>()]);
    match get_context_at(tb, dom, vcpu, at) {
        0 => Ok(tb.read(at)),
        e => Err(e),
    }
}

/// getpageframeinfo3 over `frames` (placed in the caller's scratch): the result and the
/// array as the caller then reads it.
fn frame_info(tb: &mut Testbed, dom: DomId, frames: &[u64]) -> (i64, Vec<u64>) {
    let at = tb.scratch() + 0x4000;
    for (i, f) in frames.iter().enumerate() {
        tb.write(at + 8 * i as u64, f);
    }
    let r = frame_info_at(tb, dom, frames.len() as u64, at);
    let out = (0..frames.len())
        .map(|i| tb.read::<u64>(at + 8 * i as u64))
        .collect();
    (r, out)
}

fn frame_info_at(tb: &mut Testbed, dom: DomId, num: u64, array: u64) -> i64 {
    let p = DomctlGetPageFrameInfo3 { num, array };
    domctl(
        tb,
        &XenDomctl::with_payload(XEN_DOMCTL_GETPAGEFRAMEINFO3, dom, &p),
    )
    .0
}

/// The first frame of `dom` whose type is `t` with a type reference held (`None`: one
/// holding no type reference).
fn frame_of(tb: &Testbed, dom: DomId, t: Option<PageType>) -> u64 {
    tb.st(|st| {
        let first = st.dom(dom).expect("domain").pages.first();
        let (ft, _) = st.frame_table();
        let mut at = first;
        while let Some(m) = at {
            let p = ft.get(m).expect("frame");
            let hit = match t {
                Some(t) => p.ptype == t && p.type_count > 0,
                None => p.type_count == 0,
            };
            if hit {
                return m.0;
            }
            at = ft.list_next(m);
        }
        panic!("no frame of type {t:?} in {dom}")
    })
}

#[test]
fn a_suspending_domain_stops_with_reason_suspend_keeps_its_state_and_tells_dom0() {
    let mut tb = Testbed::boot();
    let exc = bind_virq(&mut tb, VIRQ_DOM_EXC);
    let u = tb.domu(1024);
    take_events(&tb, DomId::DOM0);
    let pages = info(&mut tb, u).unwrap().tot_pages;
    tb.run(u);
    assert_eq!(suspend(&mut tb), 0);
    assert_eq!(
        tb.current(),
        DomId::DOM0,
        "the suspended domain left the CPU"
    );
    assert!(pending(&tb, DomId::DOM0, exc), "VIRQ_DOM_EXC raised");
    let i = info(&mut tb, u).unwrap();
    let f = i.dominf_flags();
    assert!(f.contains(DominfFlags::SHUTDOWN) && !f.contains(DominfFlags::DYING));
    assert_eq!(i.shutdown_code(), SHUTDOWN_SUSPEND);
    assert_eq!(i.tot_pages, pages, "its memory is kept");
    assert_eq!(
        saved_rax(&tb, u),
        0,
        "the call returns 0 in the kept registers"
    );
    tb.st(|st| {
        let d = st.dom(u).unwrap();
        assert!(!d.runnable());
        assert!(d.vcpus[0].initialised && d.vcpus[0].online);
    });
    // Nothing but dom0 runs.
    assert_eq!(
        tb.hypercall(nr::SCHED_OP, [u64::from(SCHEDOP_YIELD), 0, 0, 0, 0]),
        0
    );
    assert_eq!(tb.current(), DomId::DOM0);
}

#[test]
fn a_cancelled_suspend_returns_one_and_the_domain_runs_on_in_place() {
    let mut tb = Testbed::boot();
    let u = tb.domu(1024);
    tb.run(u);
    assert_eq!(suspend(&mut tb), 0);
    let rip = tb.st(|st| st.dom(u).unwrap().vcpus[0].regs.rip);
    let l4 = kernel_l4(&tb, u);
    let l4_count = type_count(&tb, l4);
    // As libxc's cancelled suspend: the context read, its rax set to 1, loaded again.
    let mut c = get_context(&mut tb, u, 0).unwrap();
    assert_eq!(c.user_regs.rax, 0);
    c.user_regs.rax = 1;
    assert_eq!(set_context(&mut tb, u, 0, &c), 0);
    assert_eq!(type_count(&tb, l4), l4_count, "the L4's references balance");
    assert_eq!(resume(&mut tb, u), 0);
    let i = info(&mut tb, u).unwrap();
    assert!(!i.dominf_flags().contains(DominfFlags::SHUTDOWN));
    assert!(tb.st(|st| st.dom(u).unwrap().runnable()));
    tb.run(u);
    assert_eq!(
        (tb.regs.rax, tb.regs.rip),
        (1, rip),
        "the call returned 1, where it stopped"
    );
    // It can suspend again, and be resumed again.
    assert_eq!(suspend(&mut tb), 0);
    assert_eq!(resume(&mut tb, u), 0);
    tb.run(u);
    assert_eq!(
        tb.regs.rax, 0,
        "without the toolstack's 1 the call returns 0"
    );
}

#[test]
fn resumedomain_refuses_domains_not_suspended_itself_missing_ones_and_domus() {
    let mut tb = Testbed::boot();
    let u = tb.domu(1024);
    let other = tb.domu(1024);
    // Running, paused and shut down for other reasons: not suspended.
    assert_eq!(resume(&mut tb, u), err(Errno::EINVAL));
    assert_eq!(
        domctl(&mut tb, &XenDomctl::new(XEN_DOMCTL_PAUSEDOMAIN, u)).0,
        0
    );
    assert_eq!(resume(&mut tb, u), err(Errno::EINVAL));
    assert_eq!(
        domctl(&mut tb, &XenDomctl::new(XEN_DOMCTL_UNPAUSEDOMAIN, u)).0,
        0
    );
    tb.run(other);
    let buf = tb.scratch();
    tb.write(
        buf,
        &SchedShutdown {
            reason: SHUTDOWN_POWEROFF,
        },
    );
    tb.hypercall(nr::SCHED_OP, [u64::from(SCHEDOP_SHUTDOWN), buf, 0, 0, 0]);
    assert_eq!(resume(&mut tb, other), err(Errno::EINVAL));
    assert_eq!(
        tb.st(|st| st.dom(other).unwrap().shutdown),
        Some(ShutdownReason::Poweroff),
        "a powered-off domain stays so"
    );
    // dom0 itself, a missing domain, a dying one.
    assert_eq!(resume(&mut tb, DomId::DOM0), err(Errno::EINVAL));
    assert_eq!(resume(&mut tb, DomId(77)), err(Errno::ESRCH));
    // A domU may not resume anyone, not even a suspended domain.
    tb.run(u);
    assert_eq!(suspend(&mut tb), 0);
    let third = tb.domu(1024);
    tb.run(third);
    assert_eq!(resume(&mut tb, u), err(Errno::EPERM));
    assert_eq!(
        tb.st(|st| st.dom(u).unwrap().shutdown),
        Some(ShutdownReason::Suspend)
    );
    tb.run(DomId::DOM0);
    let _ = domctl(&mut tb, &XenDomctl::new(XEN_DOMCTL_DESTROYDOMAIN, u));
    assert!(tb.st(|st| st.dom(u).is_none_or(|d| d.dying)));
    assert_eq!(resume(&mut tb, u), err(Errno::ESRCH));
}

#[test]
fn getvcpucontext_gives_back_what_setvcpucontext_loaded() {
    let mut tb = Testbed::boot();
    let u = tb.domu(1024);
    tb.run(u);
    // Its FPU registers are live on the CPU when it suspends (lazy switching).
    let fpu = core::array::from_fn::<u8, 512, _>(|i| (i * 7) as u8);
    tb.st(crate::domain::fpu::device_not_available);
    crate::arch::fpu_regs::set_live(fpu);
    assert_eq!(suspend(&mut tb), 0);
    let c = get_context(&mut tb, u, 0).unwrap();
    let (regs, l4, user_l4, vc_kss, vc_ksp, assist) = tb.st(|st| {
        let d = st.dom(u).unwrap();
        let v = &d.vcpus[0];
        (
            v.regs,
            v.kernel_l4,
            v.user_l4,
            v.kernel_ss,
            v.kernel_sp,
            d.vm_assist,
        )
    });
    assert_eq!(c.user_regs, regs);
    assert_eq!(c.ctrlreg[3], l4.0 << 12, "cr3 as xen_pfn_to_cr3");
    assert_eq!(c.ctrlreg[1], user_l4.0 << 12);
    assert_eq!((c.kernel_ss, c.kernel_sp), (vc_kss, vc_ksp));
    assert_eq!(c.vm_assist, assist);
    assert_eq!(c.fpu_ctxt, fpu, "the live FPU registers, saved first");
    let flags = c.vgcf_flags();
    assert!(flags.contains(VgcfFlags::I387_VALID | VgcfFlags::IN_KERNEL | VgcfFlags::ONLINE));
    // A context with everything set, loaded into a second vCPU, comes back as loaded.
    let v = smp_domu(&mut tb, 2);
    tb.run(v);
    let mut s = c;
    s.ctrlreg[3] = kernel_l4(&tb, v) << 12;
    s.ctrlreg[1] = 0;
    s.user_regs.rip = 0xFFFF_FFFF_8000_3000;
    s.user_regs.rsp = tb.scratch() + 0x8000;
    s.kernel_sp = 0xFFFF_FFFF_8040_0000;
    s.fs_base = 0x7FFF_0000_1000;
    s.gs_base_kernel = 0xFFFF_8880_0010_0000;
    s.gs_base_user = 0x7FFF_0000_2000;
    s.event_callback_eip = 0xFFFF_FFFF_8000_4000;
    s.failsafe_callback_eip = 0xFFFF_FFFF_8000_4100;
    s.syscall_callback_eip = 0xFFFF_FFFF_8000_4200;
    s.trap_ctxt[14] = guest_abi::arch::TrapInfo::new(14, 0, true, 0xe033, 0xFFFF_FFFF_8000_6000);
    s.debugreg[0] = 0xFFFF_FFFF_8000_5000;
    s.debugreg[7] = 0x1 | 1 << 16;
    s.flags = (VgcfFlags::IN_KERNEL
        | VgcfFlags::I387_VALID
        | VgcfFlags::ONLINE
        | VgcfFlags::FAILSAFE_DISABLES_EVENTS)
        .bits();
    s.ctrlreg[0] = 1 << 3; // TS as the guest set it
    s.vm_assist = 0;
    tb.run(DomId::DOM0);
    assert_eq!(
        domctl(&mut tb, &XenDomctl::new(XEN_DOMCTL_PAUSEDOMAIN, v)).0,
        0
    );
    assert_eq!(set_context(&mut tb, v, 1, &s), 0);
    let g = get_context(&mut tb, v, 1).unwrap();
    assert_eq!(g.ctrlreg[3], s.ctrlreg[3]);
    assert_eq!((g.ctrlreg[1], g.ctrlreg[0]), (0, 1 << 3));
    assert_eq!(g.user_regs.rip, s.user_regs.rip);
    assert_eq!(g.user_regs.cs, s.user_regs.cs | 3);
    assert_eq!(
        (g.fs_base, g.gs_base_kernel, g.gs_base_user),
        (s.fs_base, s.gs_base_kernel, s.gs_base_user)
    );
    assert_eq!(
        (
            g.event_callback_eip,
            g.failsafe_callback_eip,
            g.syscall_callback_eip
        ),
        (
            s.event_callback_eip,
            s.failsafe_callback_eip,
            s.syscall_callback_eip
        )
    );
    assert_eq!(g.trap_ctxt[14], s.trap_ctxt[14]);
    assert_eq!(g.trap_ctxt[13], s.trap_ctxt[13]);
    assert_eq!(g.debugreg[0], s.debugreg[0]);
    assert_eq!(g.debugreg[7] & 0xFFFF_0003, 0x1 | 1 << 16);
    assert_eq!(g.kernel_sp, s.kernel_sp);
    assert_eq!(g.flags, s.flags, "flags as set");
    assert_eq!(g.fpu_ctxt[..24], fpu[..24]);
    // vCPU 1's context does not carry the domain's assist types: the domain's are reported.
    let d_assist = tb.st(|st| st.dom(v).unwrap().vm_assist);
    assert_eq!(g.vm_assist, d_assist);
}

#[test]
fn getvcpucontext_refuses_running_domains_bad_vcpus_and_bad_pointers() {
    let mut tb = Testbed::boot();
    let u = smp_domu(&mut tb, 2);
    // Running: refused, nothing written.
    let at = tb.scratch() + 0x2000;
    tb.write_bytes(at, &[0xEE; 64]);
    assert_eq!(get_context_at(&mut tb, u, 0, at), err(Errno::EBUSY));
    assert_eq!(tb.read_bytes(at, 64), vec![0xEE; 64], "nothing written");
    // dom0's own vCPU (the caller) and dom0 (running).
    assert_eq!(
        get_context(&mut tb, DomId::DOM0, 0).err(),
        Some(err(Errno::EINVAL))
    );
    assert_eq!(
        domctl(&mut tb, &XenDomctl::new(XEN_DOMCTL_PAUSEDOMAIN, u)).0,
        0
    );
    // vCPUs it lacks; one never initialised; a missing domain.
    for vcpu in [2, 64, u32::MAX] {
        assert_eq!(
            get_context(&mut tb, u, vcpu).err(),
            Some(err(Errno::EINVAL))
        );
    }
    assert_eq!(get_context(&mut tb, u, 1).err(), Some(err(Errno::ENODATA)));
    assert_eq!(
        get_context(&mut tb, DomId(99), 0).err(),
        Some(err(Errno::ESRCH))
    );
    // Pointers it cannot write: unmapped, the hypervisor's, non-canonical, read-only,
    // one straddling the end of what is mapped.
    let ro = tb.read_only_va();
    let end = tb.mapped_end(tb.scratch());
    let size = core::mem::size_of::<VcpuGuestContext>() as u64;
    for bad in [
        0,
        0x1000,
        0xFFFF_8000_0000_1000,
        0x0000_8000_0000_0000,
        u64::MAX - 8,
        ro,
        end - size / 2,
    ] {
        assert_eq!(
            get_context_at(&mut tb, u, 0, bad),
            err(Errno::EFAULT),
            "{bad:#x}"
        );
    }
    // Paused, it answers; unpaused again, it runs on.
    assert!(get_context(&mut tb, u, 0).is_ok());
    assert_eq!(
        domctl(&mut tb, &XenDomctl::new(XEN_DOMCTL_UNPAUSEDOMAIN, u)).0,
        0
    );
    assert!(tb.st(|st| st.dom(u).unwrap().runnable()));
    // A domU may not read anyone's context, its own included.
    tb.run(u);
    for dom in [u, DomId::DOM0, DomId::SELF] {
        assert_eq!(get_context(&mut tb, dom, 0).err(), Some(err(Errno::EPERM)));
    }
}

#[test]
fn getpageframeinfo3_types_the_domains_frames_and_nothing_else() {
    let mut tb = Testbed::boot();
    let u = tb.domu(1024);
    let other = tb.domu(1024);
    let l4 = kernel_l4(&tb, u);
    let l1 = frame_of(&tb, u, Some(PageType::L1));
    let l2 = frame_of(&tb, u, Some(PageType::L2));
    let l3 = frame_of(&tb, u, Some(PageType::L3));
    let plain = frame_of(&tb, u, Some(PageType::Writable));
    let shared = tb.st(|st| st.dom(u).unwrap().shared_info.mfn().0);
    let foreign = kernel_l4(&tb, other);
    let dom0s = kernel_l4(&tb, DomId::DOM0);
    let frames = [
        l4,
        l1,
        l2,
        l3,
        plain,
        shared,
        foreign,
        dom0s,
        u64::MAX,
        1 << 40,
        0,
    ];
    let (r, t) = frame_info(&mut tb, u, &frames);
    assert_eq!(r, 0);
    let x = u64::from(XEN_DOMCTL_PFINFO_XTAB);
    assert_eq!(
        t,
        vec![
            u64::from(XEN_DOMCTL_PFINFO_L4TAB | XEN_DOMCTL_PFINFO_LPINTAB),
            u64::from(XEN_DOMCTL_PFINFO_L1TAB),
            u64::from(XEN_DOMCTL_PFINFO_L2TAB),
            u64::from(XEN_DOMCTL_PFINFO_L3TAB),
            u64::from(XEN_DOMCTL_PFINFO_NOTAB),
            x,
            x,
            x,
            x,
            x,
            x,
        ]
    );
    // The same frames asked about for the other domain: only its own L4 is typed.
    let (r, t) = frame_info(&mut tb, other, &frames);
    assert_eq!(r, 0);
    assert_eq!(
        t[6],
        u64::from(XEN_DOMCTL_PFINFO_L4TAB | XEN_DOMCTL_PFINFO_LPINTAB)
    );
    assert!(t.iter().enumerate().all(|(i, &v)| i == 6 || v == x));
    // Unpinned, the L4 is still a table in use by the vCPU: L4TAB without LPINTAB.
    tb.st(|st| {
        let (mut ft, mem) = st.frame_table();
        ft.unpin(mem, guest_abi::types::Mfn(l4), u).unwrap();
    });
    let (_, t) = frame_info(&mut tb, u, &[l4]);
    assert_eq!(t, vec![u64::from(XEN_DOMCTL_PFINFO_L4TAB)]);
    // Empty, full and one too many.
    assert_eq!(frame_info(&mut tb, u, &[]).0, 0);
    let many = vec![plain; GETPAGEFRAMEINFO3_MAX as usize];
    let (r, t) = frame_info(&mut tb, u, &many);
    assert_eq!(r, 0);
    assert!(t.iter().all(|&v| v == u64::from(XEN_DOMCTL_PFINFO_NOTAB)));
    let at = tb.scratch() + 0x4000;
    for num in [GETPAGEFRAMEINFO3_MAX + 1, u64::MAX, 1 << 32] {
        tb.write(at, &plain);
        assert_eq!(frame_info_at(&mut tb, u, num, at), err(Errno::E2BIG));
        assert_eq!(tb.read::<u64>(at), plain, "nothing answered");
    }
    // A missing domain; bad arrays; an array running off the mapped end answers the
    // entries before the fault.
    assert_eq!(frame_info(&mut tb, DomId(99), &[l4]).0, err(Errno::ESRCH));
    for bad in [
        0,
        0xFFFF_8000_0000_1000,
        0x0000_8000_0000_0000,
        tb.read_only_va(),
    ] {
        assert_eq!(frame_info_at(&mut tb, u, 1, bad), err(Errno::EFAULT));
    }
    let end = tb.mapped_end(tb.scratch());
    tb.write(end - 16, &l1);
    tb.write(end - 8, &l1);
    assert_eq!(frame_info_at(&mut tb, u, 3, end - 16), err(Errno::EFAULT));
    assert_eq!(
        (tb.read::<u64>(end - 16), tb.read::<u64>(end - 8)),
        (
            u64::from(XEN_DOMCTL_PFINFO_L1TAB),
            u64::from(XEN_DOMCTL_PFINFO_L1TAB)
        )
    );
    // A domU may not ask, about itself or anyone.
    tb.run(u);
    for dom in [u, other, DomId::DOM0] {
        assert_eq!(frame_info(&mut tb, dom, &[l4]).0, err(Errno::EPERM));
    }
}
