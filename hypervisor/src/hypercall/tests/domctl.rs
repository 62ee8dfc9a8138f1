//! `domctl`: the toolstack's domain control — create, destroy, pause/unpause,
//! getdomaininfo, max_mem, getvcpuinfo, scheduler_op, max_vcpus, setvcpucontext — for dom0
//! only, with the interface version checked.

use super::event_channel::{alloc_unbound, evtchn};
use crate::domain::ports::Binding;
use crate::domain::MAX_VCPUS;
use crate::mm::page_types::{PageType, NO_OWNER};
use crate::testbed::{err, Testbed, DOM0_PAGES};
use guest_abi::arch::{VcpuGuestContext, VgcfFlags};
use guest_abi::domctl::*;
use guest_abi::errno::Errno;
use guest_abi::event_channel::EvtchnBindInterdomain;
use guest_abi::hypercall::nr;
use guest_abi::sched::{
    SchedRemoteShutdown, SCHEDOP_BLOCK, SCHEDOP_REMOTE_SHUTDOWN, SCHEDOP_YIELD,
};
use guest_abi::types::{DomId, EvtchnPort, Mfn};
use zerocopy::FromZeros;

/// A createdomain asking for the one vCPU there is, everything else default.
fn one_vcpu() -> DomctlCreateDomain {
    DomctlCreateDomain {
        max_vcpus: 1,
        ..Default::default()
    }
}

/// The current domain issues `domctl(&op)` with `op` in its scratch memory; the result and
/// the structure as the guest then reads it.
pub(super) fn domctl(tb: &mut Testbed, op: &XenDomctl) -> (i64, XenDomctl) {
    let buf = tb.scratch();
    tb.write(buf, op);
    let r = tb.hypercall(nr::DOMCTL, [buf, 0, 0, 0, 0]);
    (r, tb.read(buf))
}

fn simple(tb: &mut Testbed, cmd: u32, dom: DomId) -> i64 {
    domctl(tb, &XenDomctl::new(cmd, dom)).0
}

fn create(tb: &mut Testbed, dom: DomId, c: &DomctlCreateDomain) -> Result<DomId, i64> {
    let (r, op) = domctl(
        tb,
        &XenDomctl::with_payload(XEN_DOMCTL_CREATEDOMAIN, dom, c),
    );
    if r == 0 {
        Ok(op.domain)
    } else {
        Err(r)
    }
}

/// getdomaininfo for `dom`: the domain it answered for and its info.
pub(super) fn info(tb: &mut Testbed, dom: DomId) -> Result<DomctlGetDomainInfo, i64> {
    let (r, op) = domctl(tb, &XenDomctl::new(XEN_DOMCTL_GETDOMAININFO, dom));
    if r == 0 {
        let i: DomctlGetDomainInfo = op.payload();
        assert_eq!(i.domain, op.domain, "the answer names its domain");
        Ok(i)
    } else {
        Err(r)
    }
}

fn sched_op(tb: &mut Testbed, dom: DomId, s: DomctlSchedulerOp) -> (i64, DomctlSchedulerOp) {
    let (r, op) = domctl(
        tb,
        &XenDomctl::with_payload(XEN_DOMCTL_SCHEDULER_OP, dom, &s),
    );
    (r, op.payload())
}

fn credit(cmd: u32, weight: u16, cap: u16) -> DomctlSchedulerOp {
    DomctlSchedulerOp {
        sched_id: XEN_SCHEDULER_CREDIT,
        cmd,
        credit: DomctlSchedCredit { weight, cap },
        ..Default::default()
    }
}

/// dom0 sets the vCPU context of `dom` to `c` (placed after the request in scratch).
pub(super) fn set_context(tb: &mut Testbed, dom: DomId, vcpu: u32, c: &VcpuGuestContext) -> i64 {
    let at = tb.scratch() + 0x1000;
    tb.write(at, c);
    set_context_at(tb, dom, vcpu, at)
}

fn set_context_at(tb: &mut Testbed, dom: DomId, vcpu: u32, at: u64) -> i64 {
    let p = DomctlVcpuContext {
        vcpu,
        _pad: 0,
        ctxt: at,
    };
    domctl(
        tb,
        &XenDomctl::with_payload(XEN_DOMCTL_SETVCPUCONTEXT, dom, &p),
    )
    .0
}

/// A context for `dom` as it is now (its kernel page table, registers and stack).
pub(super) fn context_of(tb: &Testbed, dom: DomId) -> VcpuGuestContext {
    tb.st(|st| {
        let d = st.dom(dom).expect("domain");
        let mut c = VcpuGuestContext::new_zeroed();
        c.user_regs = d.vcpus[0].regs;
        c.ctrlreg[3] = d.vcpus[0].kernel_l4.addr();
        c.flags = VgcfFlags::IN_KERNEL.bits();
        c.kernel_ss = d.vcpus[0].kernel_ss;
        c.kernel_sp = d.vcpus[0].kernel_sp;
        c
    })
}

pub(super) fn type_count(tb: &Testbed, mfn: u64) -> u32 {
    tb.st(|st| st.frame_table().0.get(Mfn(mfn)).expect("frame").type_count)
}

pub(super) fn kernel_l4(tb: &Testbed, dom: DomId) -> u64 {
    tb.st(|st| st.dom(dom).expect("domain").vcpus[0].kernel_l4.0)
}

fn domain_count(tb: &Testbed) -> usize {
    tb.st(|st| st.domains.len())
}

fn free_frames() -> u64 {
    crate::phys::frames::free_for_domains()
}

#[test]
fn domctl_from_a_domu_is_refused_for_every_command_before_its_argument_is_read() {
    let mut tb = Testbed::boot();
    let u = tb.domu(1024);
    tb.run(u);
    let before = domain_count(&tb);
    for cmd in 0..=100 {
        for dom in [DomId::DOM0, u, DomId::SELF] {
            let op = XenDomctl::new(cmd, dom);
            assert_eq!(domctl(&mut tb, &op).0, err(Errno::EPERM), "cmd {cmd}");
        }
        let stale = XenDomctl {
            interface_version: 0,
            ..XenDomctl::new(cmd, DomId(0))
        };
        assert_eq!(domctl(&mut tb, &stale).0, err(Errno::EPERM));
    }
    for ptr in [0u64, 0x1000, 0xFFFF_8000_0000_1000] {
        assert_eq!(
            tb.hypercall(nr::DOMCTL, [ptr, 0, 0, 0, 0]),
            err(Errno::EPERM)
        );
    }
    assert_eq!(domain_count(&tb), before);
    assert_eq!(tb.current(), u);
    tb.st(|st| {
        let d0 = st.dom(DomId::DOM0).unwrap();
        assert!(d0.pause_count == 0 && !d0.dying && d0.shutdown.is_none());
        assert!(st.dom(u).unwrap().runnable());
    });
}

#[test]
fn a_wrong_interface_version_is_refused_with_eacces_before_anything_happens() {
    let mut tb = Testbed::boot();
    let before = domain_count(&tb);
    for version in [
        0,
        XEN_DOMCTL_INTERFACE_VERSION - 1,
        XEN_DOMCTL_INTERFACE_VERSION + 1,
        u32::MAX,
    ] {
        let op = XenDomctl {
            interface_version: version,
            ..XenDomctl::new(XEN_DOMCTL_GETDOMAININFO, DomId(0))
        };
        let (r, back) = domctl(&mut tb, &op);
        assert_eq!(r, err(Errno::EACCES));
        assert_eq!(back, op, "nothing written back");
        let c = XenDomctl {
            interface_version: version,
            ..XenDomctl::with_payload(XEN_DOMCTL_CREATEDOMAIN, DomId(0), &one_vcpu())
        };
        assert_eq!(domctl(&mut tb, &c).0, err(Errno::EACCES));
    }
    assert_eq!(domain_count(&tb), before);
    // An unreadable request.
    for ptr in [0u64, 0x1000, 0xFFFF_8000_0000_1000, 0x0000_8000_0000_0000] {
        assert_eq!(
            tb.hypercall(nr::DOMCTL, [ptr, 0, 0, 0, 0]),
            err(Errno::EFAULT)
        );
    }
    // Commands not implemented.
    for cmd in [
        XEN_DOMCTL_SETDOMAINHANDLE,
        XEN_DOMCTL_SHADOW_OP,
        XEN_DOMCTL_HYPERCALL_INIT,
        999,
    ] {
        assert_eq!(
            simple(&mut tb, cmd, DomId(0)),
            err(Errno::ENOSYS),
            "cmd {cmd}"
        );
    }
}

#[test]
fn createdomain_makes_a_paused_empty_domain_with_the_asked_limits() {
    let mut tb = Testbed::boot();
    let handle: [u8; 16] = core::array::from_fn(|i| i as u8 + 1);
    let c = DomctlCreateDomain {
        handle,
        max_vcpus: 1,
        max_evtchn_port: 7,
        max_grant_frames: 4,
        max_maptrack_frames: 8,
        ..Default::default()
    };
    let id = create(&mut tb, DomId::DOM0, &c).unwrap();
    assert_ne!(id, DomId::DOM0);
    tb.st(|st| {
        let d = st.dom(id).expect("created");
        assert_eq!((d.pause_count, d.tot_pages, d.max_vcpus()), (1, 0, 1));
        assert!(!d.runnable() && !d.privileged);
        assert_eq!(d.handle, handle);
        assert_eq!(d.evtchn.max_port(), EvtchnPort(7));
        let limits = crate::domain::grants::GrantState::new(4, 8);
        assert_eq!(d.grant.max_frames, limits.max_frames);
        assert_eq!(d.grant.max_maptrack, limits.max_maptrack);
        let si = d.shared_info.mfn();
        let (ft, _) = st.frame_table();
        let pi = ft.get(si).unwrap();
        assert_eq!((pi.owner, pi.xen), (id, true));
    });
    let i = info(&mut tb, id).unwrap();
    assert_eq!(i.domain, id);
    assert_eq!(i.dominf_flags(), DominfFlags::PAUSED);
    assert_eq!((i.tot_pages, i.max_vcpu_id, i.nr_online_vcpus), (0, 0, 0));
    assert_eq!(i.handle, handle);
    // Its port limit holds: 7 ports, then no more.
    for want in 1..=7 {
        assert_eq!(alloc_unbound(&mut tb, id, DomId::DOM0), Ok(want));
    }
    assert_eq!(
        alloc_unbound(&mut tb, id, DomId::DOM0),
        Err(err(Errno::ENOSPC))
    );

    // An id asked for; taken ids; reserved ids mean "any".
    assert_eq!(create(&mut tb, DomId(42), &c), Ok(DomId(42)));
    assert_eq!(create(&mut tb, DomId(42), &c), Err(err(Errno::EEXIST)));
    assert_eq!(
        create(&mut tb, DomId::DOM0, &c),
        Ok(DomId(43)),
        "ids are handed out increasing"
    );
    let any = create(&mut tb, DomId::SELF, &c).unwrap();
    assert!(any != DomId(0) && any < DomId::FIRST_RESERVED && any != DomId(42) && any != DomId(43));
}

#[test]
fn createdomain_refuses_what_it_cannot_provide_and_leaves_no_trace() {
    let mut tb = Testbed::boot();
    let before = (domain_count(&tb), free_frames());
    let bad = [
        // As Xen: no vCPU at all, and grant options beyond the version.
        DomctlCreateDomain::default(),
        DomctlCreateDomain {
            max_vcpus: 1,
            grant_opts: 1 << 4,
            ..Default::default()
        },
        DomctlCreateDomain {
            max_vcpus: MAX_VCPUS + 1,
            ..Default::default()
        },
        DomctlCreateDomain {
            max_vcpus: u32::MAX,
            ..Default::default()
        },
        DomctlCreateDomain {
            max_vcpus: 1,
            flags: XEN_DOMCTL_CDF_HVM,
            ..Default::default()
        },
        DomctlCreateDomain {
            max_vcpus: 1,
            flags: XEN_DOMCTL_CDF_HVM | XEN_DOMCTL_CDF_HAP,
            ..Default::default()
        },
        DomctlCreateDomain {
            max_vcpus: 1,
            flags: XEN_DOMCTL_CDF_HAP,
            ..Default::default()
        },
        DomctlCreateDomain {
            max_vcpus: 1,
            flags: XEN_DOMCTL_CDF_NESTED_VIRT,
            ..Default::default()
        },
        DomctlCreateDomain {
            max_vcpus: 1,
            flags: XEN_DOMCTL_CDF_IOMMU,
            ..Default::default()
        },
        DomctlCreateDomain {
            max_vcpus: 1,
            flags: 1 << 8,
            ..Default::default()
        },
        DomctlCreateDomain {
            max_vcpus: 1,
            flags: u32::MAX,
            ..Default::default()
        },
    ];
    for c in &bad {
        assert_eq!(
            create(&mut tb, DomId::DOM0, c),
            Err(err(Errno::EINVAL)),
            "{c:?}"
        );
    }
    assert_eq!((domain_count(&tb), free_frames()), before);
    // Out of hypervisor memory: refused with ENOMEM, nothing allocated.
    crate::heap::fail_reservations(true);
    let r = create(&mut tb, DomId::DOM0, &one_vcpu());
    crate::heap::fail_reservations(false);
    assert_eq!(r, Err(err(Errno::ENOMEM)));
    assert_eq!((domain_count(&tb), free_frames()), before);
    assert!(create(&mut tb, DomId::DOM0, &one_vcpu()).is_ok());
}

#[test]
fn destroydomain_gives_every_frame_back_and_unbinds_the_peers() {
    let mut tb = Testbed::boot();
    let free_before = free_frames();
    let u = tb.domu(1024);
    // A channel from dom0 to u.
    let p0 = alloc_unbound(&mut tb, DomId::DOM0, u).unwrap();
    tb.run(u);
    let (r, _) = evtchn(
        &mut tb,
        EvtchnBindInterdomain {
            remote_dom: DomId(0),
            remote_port: EvtchnPort(p0),
            ..Default::default()
        },
    );
    assert_eq!(r, 0);
    tb.run(DomId::DOM0);
    assert!(free_frames() < free_before);
    let owned: Vec<u64> = tb.st(|st| {
        let (ft, _) = st.frame_table();
        (0..ft.len()).filter(|&m| ft.owner(Mfn(m)) == u).collect()
    });
    assert_eq!(owned.len(), 1024 + 1, "its memory and its shared_info page");

    let mut calls = 0;
    let r = loop {
        calls += 1;
        let r = simple(&mut tb, XEN_DOMCTL_DESTROYDOMAIN, u);
        if r != err(Errno::EAGAIN) || calls > 1000 {
            break r;
        }
    };
    assert_eq!(r, 0, "after {calls} calls");
    assert!(tb.st(|st| st.dom(u).is_none()), "gone");
    tb.st(|st| {
        let (ft, _) = st.frame_table();
        for &m in &owned {
            let pi = ft.get(Mfn(m)).unwrap();
            assert_eq!(
                (pi.owner, pi.ptype, pi.type_count),
                (NO_OWNER, PageType::None, 0)
            );
        }
    });
    assert_eq!(
        free_frames(),
        free_before,
        "every frame back in the allocator"
    );
    // dom0's side of the channel now waits for a domain that is gone.
    assert_eq!(
        tb.st(|st| st
            .dom(DomId::DOM0)
            .unwrap()
            .evtchn
            .get(EvtchnPort(p0))
            .unwrap()),
        Binding::Unbound { remote: u }
    );
    assert_eq!(
        simple(&mut tb, XEN_DOMCTL_DESTROYDOMAIN, u),
        err(Errno::ESRCH)
    );
    assert_eq!(info(&mut tb, u).err(), Some(err(Errno::ESRCH)));
    // The id is still named by dom0's port: a new domain gets another one.
    let next = create(&mut tb, DomId::DOM0, &one_vcpu()).unwrap();
    assert_ne!(next, u);
}

#[test]
fn destroying_dom0_or_a_missing_domain_is_refused() {
    let mut tb = Testbed::boot();
    let free = free_frames();
    assert_eq!(
        simple(&mut tb, XEN_DOMCTL_DESTROYDOMAIN, DomId(0)),
        err(Errno::EINVAL)
    );
    for dom in [DomId(500), DomId::SELF, DomId::INVALID, DomId(u16::MAX)] {
        assert_eq!(
            simple(&mut tb, XEN_DOMCTL_DESTROYDOMAIN, dom),
            err(Errno::ESRCH)
        );
    }
    tb.st(|st| {
        let d = st.dom(DomId::DOM0).unwrap();
        assert!(!d.dying && d.runnable());
        assert_eq!(d.tot_pages, DOM0_PAGES);
    });
    assert_eq!(free_frames(), free);
    assert_eq!(
        info(&mut tb, DomId::DOM0).unwrap().dominf_flags(),
        DominfFlags::RUNNING
    );
}

#[test]
fn pause_and_unpause_nest_and_dom0_cannot_pause_itself() {
    let mut tb = Testbed::boot();
    let u = tb.domu(1024);
    let pauses = |tb: &Testbed| tb.st(|st| st.dom(u).unwrap().pause_count);
    assert_eq!(simple(&mut tb, XEN_DOMCTL_PAUSEDOMAIN, u), 0);
    assert_eq!(simple(&mut tb, XEN_DOMCTL_PAUSEDOMAIN, u), 0);
    assert_eq!(pauses(&tb), 2);
    assert!(info(&mut tb, u)
        .unwrap()
        .dominf_flags()
        .contains(DominfFlags::PAUSED));
    // A paused domain does not run.
    tb.hypercall(nr::SCHED_OP, [u64::from(SCHEDOP_YIELD), 0, 0, 0, 0]);
    assert_eq!(tb.current(), DomId::DOM0);
    assert_eq!(simple(&mut tb, XEN_DOMCTL_UNPAUSEDOMAIN, u), 0);
    assert_eq!(pauses(&tb), 1);
    assert_eq!(simple(&mut tb, XEN_DOMCTL_UNPAUSEDOMAIN, u), 0);
    assert_eq!(pauses(&tb), 0);
    assert!(!info(&mut tb, u)
        .unwrap()
        .dominf_flags()
        .contains(DominfFlags::PAUSED));
    assert_eq!(
        simple(&mut tb, XEN_DOMCTL_UNPAUSEDOMAIN, u),
        err(Errno::EINVAL)
    );
    assert_eq!(pauses(&tb), 0);
    // As Xen: the caller cannot pause itself (nothing could unpause it).
    assert_eq!(
        simple(&mut tb, XEN_DOMCTL_PAUSEDOMAIN, DomId(0)),
        err(Errno::EINVAL)
    );
    assert_eq!(
        simple(&mut tb, XEN_DOMCTL_UNPAUSEDOMAIN, DomId(0)),
        err(Errno::EINVAL)
    );
    assert_eq!(tb.st(|st| st.dom(DomId::DOM0).unwrap().pause_count), 0);
    for dom in [DomId(999), DomId::SELF] {
        assert_eq!(
            simple(&mut tb, XEN_DOMCTL_PAUSEDOMAIN, dom),
            err(Errno::ESRCH)
        );
        assert_eq!(
            simple(&mut tb, XEN_DOMCTL_UNPAUSEDOMAIN, dom),
            err(Errno::ESRCH)
        );
    }
    // Unpaused, it runs when dom0 yields.
    tb.hypercall(nr::SCHED_OP, [u64::from(SCHEDOP_YIELD), 0, 0, 0, 0]);
    assert_eq!(tb.current(), u);
}

#[test]
fn getdomaininfo_reports_the_domain_asked_for_or_the_next_one() {
    let mut tb = Testbed::boot();
    let i = info(&mut tb, DomId::DOM0).unwrap();
    let si = tb.st(|st| st.dom(DomId::DOM0).unwrap().shared_info.mfn());
    assert_eq!(i.domain, DomId(0));
    assert_eq!(i.dominf_flags(), DominfFlags::RUNNING);
    assert_eq!((i.tot_pages, i.max_pages), (DOM0_PAGES, DOM0_PAGES));
    assert_eq!(i.shared_info_frame, si.0);
    assert_eq!((i.nr_online_vcpus, i.max_vcpu_id), (1, 0));
    crate::arch::cpu::advance_ns(3_000_000);
    assert!(info(&mut tb, DomId::DOM0).unwrap().cpu_time >= i.cpu_time + 3_000_000);

    let u = tb.domu(1024);
    let five = create(&mut tb, DomId(5), &one_vcpu()).unwrap();
    assert_eq!(
        info(&mut tb, DomId(u.0 + 1)).unwrap().domain,
        five,
        "the next one"
    );
    assert_eq!(
        info(&mut tb, DomId(five.0 + 1)).err(),
        Some(err(Errno::ESRCH))
    );
    assert_eq!(
        info(&mut tb, DomId::MAX_DOMAIN).err(),
        Some(err(Errno::ESRCH))
    );

    // Blocked, then shut down with a reason that shows in the flags.
    tb.run(u);
    tb.hypercall(nr::SCHED_OP, [u64::from(SCHEDOP_BLOCK), 0, 0, 0, 0]);
    assert_eq!(tb.current(), DomId::DOM0);
    let i = info(&mut tb, u).unwrap();
    assert_eq!(i.dominf_flags(), DominfFlags::BLOCKED);
    assert_eq!((i.tot_pages, i.nr_online_vcpus), (1024, 1));
    let buf = tb.scratch() + 0x800;
    tb.write(
        buf,
        &SchedRemoteShutdown {
            domain_id: u,
            _pad: 0,
            reason: 2,
        },
    );
    assert_eq!(
        tb.hypercall(
            nr::SCHED_OP,
            [u64::from(SCHEDOP_REMOTE_SHUTDOWN), buf, 0, 0, 0]
        ),
        0
    );
    let i = info(&mut tb, u).unwrap();
    assert!(i.dominf_flags().contains(DominfFlags::SHUTDOWN));
    assert_eq!(i.shutdown_code(), 2);
}

#[test]
fn max_mem_sets_the_page_limit_from_kib() {
    let mut tb = Testbed::boot();
    let u = tb.domu(1024);
    let max_mem = |tb: &mut Testbed, dom: DomId, kb: u64| {
        domctl(
            tb,
            &XenDomctl::with_payload(XEN_DOMCTL_MAX_MEM, dom, &DomctlMaxMem { max_memkb: kb }),
        )
        .0
    };
    for (kb, pages) in [(8192, 2048), (4095, 1023), (0, 0), (u64::MAX, u64::MAX / 4)] {
        assert_eq!(max_mem(&mut tb, u, kb), 0);
        assert_eq!(info(&mut tb, u).unwrap().max_pages, pages);
    }
    // Below what it has: allowed (as Xen), nothing taken away.
    assert_eq!(max_mem(&mut tb, u, 1024), 0);
    assert_eq!(info(&mut tb, u).unwrap().tot_pages, 1024);
    assert_eq!(max_mem(&mut tb, DomId(999), 1024), err(Errno::ESRCH));
    assert_eq!(info(&mut tb, DomId::DOM0).unwrap().max_pages, DOM0_PAGES);
}

#[test]
fn getvcpuinfo_describes_vcpu0_and_refuses_others() {
    let mut tb = Testbed::boot();
    let u = tb.domu(1024);
    let vcpu = |tb: &mut Testbed, dom: DomId, v: u32| {
        let (r, op) = domctl(
            tb,
            &XenDomctl::with_payload(
                XEN_DOMCTL_GETVCPUINFO,
                dom,
                &DomctlGetVcpuInfo {
                    vcpu: v,
                    ..Default::default()
                },
            ),
        );
        (r, op.payload::<DomctlGetVcpuInfo>())
    };
    let (r, v) = vcpu(&mut tb, DomId::DOM0, 0);
    assert_eq!((r, v.online, v.running, v.blocked, v.cpu), (0, 1, 1, 0, 0));
    tb.run(u);
    tb.hypercall(nr::SCHED_OP, [u64::from(SCHEDOP_BLOCK), 0, 0, 0, 0]);
    assert_eq!(tb.current(), DomId::DOM0);
    let (r, v) = vcpu(&mut tb, u, 0);
    assert_eq!((r, v.online, v.running, v.blocked), (0, 1, 0, 1));
    for n in [1, 2, u32::MAX] {
        assert_eq!(vcpu(&mut tb, u, n).0, err(Errno::EINVAL));
    }
    assert_eq!(vcpu(&mut tb, DomId(999), 0).0, err(Errno::ESRCH));
}

#[test]
fn scheduler_op_gets_and_puts_the_credit_weight_and_cap() {
    let mut tb = Testbed::boot();
    let u = tb.domu(1024);
    let get = |tb: &mut Testbed| {
        let (r, s) = sched_op(tb, u, credit(XEN_DOMCTL_SCHEDOP_GETINFO, 0, 0));
        assert_eq!(r, 0);
        (s.credit.weight, s.credit.cap)
    };
    assert_eq!(get(&mut tb), (256, 0));
    assert_eq!(
        sched_op(&mut tb, u, credit(XEN_DOMCTL_SCHEDOP_PUTINFO, 512, 50)).0,
        0
    );
    assert_eq!(get(&mut tb), (512, 50));
    assert_eq!(
        tb.st(|st| {
            let c = st.dom(u).unwrap().credit;
            (c.weight, c.cap, c.parked)
        }),
        (512, 50, false)
    );
    // Weight 0 and cap 0xFFFF leave each as it is.
    assert_eq!(
        sched_op(&mut tb, u, credit(XEN_DOMCTL_SCHEDOP_PUTINFO, 0, 0xFFFF)).0,
        0
    );
    assert_eq!(get(&mut tb), (512, 50));
    assert_eq!(
        sched_op(&mut tb, u, credit(XEN_DOMCTL_SCHEDOP_PUTINFO, 0, 0)).0,
        0
    );
    assert_eq!(get(&mut tb), (512, 0));
    // A cap beyond the one CPU, another scheduler, an unknown command: refused, unchanged.
    assert_eq!(
        sched_op(&mut tb, u, credit(XEN_DOMCTL_SCHEDOP_PUTINFO, 100, 101)).0,
        err(Errno::EINVAL)
    );
    let other = DomctlSchedulerOp {
        sched_id: XEN_SCHEDULER_CREDIT2,
        ..credit(XEN_DOMCTL_SCHEDOP_PUTINFO, 100, 10)
    };
    assert_eq!(sched_op(&mut tb, u, other).0, err(Errno::EINVAL));
    assert_eq!(
        sched_op(&mut tb, u, credit(XEN_DOMCTL_SCHEDOP_PUTVCPUINFO, 100, 10)).0,
        err(Errno::EINVAL)
    );
    assert_eq!(get(&mut tb), (512, 0));
    assert_eq!(
        sched_op(
            &mut tb,
            DomId(999),
            credit(XEN_DOMCTL_SCHEDOP_GETINFO, 0, 0)
        )
        .0,
        err(Errno::ESRCH)
    );
}

#[test]
fn max_vcpus_accepts_one_to_max_and_shrinks_only_over_unused_vcpus() {
    let mut tb = Testbed::boot();
    let id = create(&mut tb, DomId::DOM0, &one_vcpu()).unwrap();
    let mv = |tb: &mut Testbed, dom: DomId, max: u32| {
        domctl(
            tb,
            &XenDomctl::with_payload(XEN_DOMCTL_MAX_VCPUS, dom, &DomctlMaxVcpus { max }),
        )
        .0
    };
    for bad in [0, MAX_VCPUS + 1, u32::MAX] {
        assert_eq!(mv(&mut tb, id, bad), err(Errno::EINVAL));
    }
    assert_eq!(mv(&mut tb, id, 1), 0);
    assert_eq!(tb.st(|st| st.dom(id).unwrap().max_vcpus()), 1);
    assert_eq!(mv(&mut tb, id, MAX_VCPUS), 0);
    let ids: Vec<u32> = tb.st(|st| st.dom(id).unwrap().vcpus.iter().map(|v| v.id).collect());
    assert_eq!(ids, (0..MAX_VCPUS).collect::<Vec<_>>());
    assert!(tb.st(|st| st
        .dom(id)
        .unwrap()
        .vcpus
        .iter()
        .all(|v| !v.online && !v.initialised)));
    // Fewer again: the vCPUs dropped were never used.
    assert_eq!(mv(&mut tb, id, 3), 0);
    assert_eq!(tb.st(|st| st.dom(id).unwrap().max_vcpus()), 3);
    // A vCPU that was given a context is not dropped.
    tb.st(|st| st.dom(id).unwrap().vcpus[2].initialised = true);
    assert_eq!(mv(&mut tb, id, 2), err(Errno::EBUSY));
    assert_eq!(tb.st(|st| st.dom(id).unwrap().max_vcpus()), 3);
    assert_eq!(mv(&mut tb, DomId(999), 1), err(Errno::ESRCH));
}

#[test]
fn setvcpucontext_loads_a_sanitised_context_and_balances_table_references() {
    let mut tb = Testbed::boot();
    let u = tb.domu(1024);
    let l4 = kernel_l4(&tb, u);
    let refs = type_count(&tb, l4);
    let mut c = context_of(&tb, u);
    c.user_regs.rip = 0xFFFF_FFFF_8000_1234;
    c.user_regs.rsp = 0xFFFF_FFFF_8000_F000;
    c.user_regs.rax = 0x1111;
    // Ring-0 selectors and IOPL 3 with TF asked for: the guest gets ring 3 and neither.
    c.user_regs.cs = 0x08;
    c.user_regs.ss = 0x10;
    c.user_regs.rflags = 0x3000 | 0x100 | 0x1;
    c.kernel_ss = 0x10;
    c.kernel_sp = 0xFFFF_FFFF_8000_E000;
    c.fs_base = 0x7000_0000;
    c.gs_base_kernel = 0xFFFF_FFFF_8000_0000;
    c.gs_base_user = 0x6000_0000;
    c.event_callback_eip = 0xFFFF_FFFF_8000_2000;
    c.failsafe_callback_eip = 0xFFFF_FFFF_8000_2100;
    c.syscall_callback_eip = 0xFFFF_FFFF_8000_2200;
    c.trap_ctxt[14].vector = 14;
    c.trap_ctxt[14].address = 0xFFFF_FFFF_8000_2300;
    assert_eq!(set_context(&mut tb, u, 0, &c), 0);
    assert_eq!(
        type_count(&tb, l4),
        refs,
        "the new reference replaced the old one"
    );
    tb.st(|st| {
        let v = &st.dom(u).unwrap().vcpus[0];
        assert_eq!(
            (v.regs.rip, v.regs.rsp, v.regs.rax),
            (c.user_regs.rip, c.user_regs.rsp, 0x1111)
        );
        assert_eq!((v.regs.cs, v.regs.ss), (0x0b, 0x13));
        assert_eq!(v.regs.rflags, 0x1 | 0x202, "IOPL and TF dropped, IF set");
        assert_eq!((v.kernel_ss, v.kernel_sp), (0x13, c.kernel_sp));
        assert_eq!((v.kernel_l4, v.user_l4), (Mfn(l4), Mfn(0)));
        assert_eq!(
            (v.callbacks.event, v.callbacks.failsafe, v.callbacks.syscall),
            (
                0xFFFF_FFFF_8000_2000,
                0xFFFF_FFFF_8000_2100,
                0xFFFF_FFFF_8000_2200
            )
        );
        assert_eq!(v.trap_table[14].address, 0xFFFF_FFFF_8000_2300);
        assert!(v.online && v.in_kernel);
    });
    // Put on the CPU, the vCPU runs what was set.
    tb.run(u);
    assert_eq!(tb.regs.rip, c.user_regs.rip);
    assert_eq!(crate::arch::cpu::read_cr3(), l4 << 12);
    assert_eq!(crate::arch::cpu::fs_base(), 0x7000_0000);
    assert_eq!(crate::arch::cpu::gs_base(), 0xFFFF_FFFF_8000_0000);
}

#[test]
fn setvcpucontext_refuses_bad_addresses_foreign_tables_and_the_caller_itself() {
    let mut tb = Testbed::boot();
    let u = tb.domu(1024);
    let (l4, l4_0) = (kernel_l4(&tb, u), kernel_l4(&tb, DomId::DOM0));
    let refs = (type_count(&tb, l4), type_count(&tb, l4_0));
    let rip = tb.st(|st| st.dom(u).unwrap().vcpus[0].regs.rip);
    let good = context_of(&tb, u);
    let non_canonical = 0x0000_8000_0000_0000;
    let hole = 0xFFFF_8000_0000_1000;
    let writable = tb.st(|st| {
        let (ft, _) = st.frame_table();
        (0..ft.len())
            .find(|&m| {
                ft.get(Mfn(m)).is_some_and(|p| {
                    p.owner == u && p.ptype == PageType::Writable && p.type_count > 0
                })
            })
            .expect("a frame u maps writable")
    });
    let mut cases: Vec<(&str, VcpuGuestContext, Errno)> = Vec::new();
    let mut with = |name, f: &dyn Fn(&mut VcpuGuestContext), e| {
        let mut c = good;
        f(&mut c);
        cases.push((name, c, e));
    };
    with("rip", &|c| c.user_regs.rip = non_canonical, Errno::EINVAL);
    with("rsp", &|c| c.user_regs.rsp = non_canonical, Errno::EINVAL);
    with("kernel_sp", &|c| c.kernel_sp = non_canonical, Errno::EINVAL);
    with("fs_base", &|c| c.fs_base = non_canonical, Errno::EINVAL);
    with(
        "gs_base_kernel",
        &|c| c.gs_base_kernel = 0x8000_0000_0000_0000,
        Errno::EINVAL,
    );
    with(
        "gs_base_user",
        &|c| c.gs_base_user = non_canonical,
        Errno::EINVAL,
    );
    with(
        "event callback",
        &|c| c.event_callback_eip = hole,
        Errno::EINVAL,
    );
    with(
        "failsafe callback",
        &|c| c.failsafe_callback_eip = hole,
        Errno::EINVAL,
    );
    with(
        "syscall callback",
        &|c| c.syscall_callback_eip = non_canonical,
        Errno::EINVAL,
    );
    with(
        "trap handler",
        &|c| c.trap_ctxt[3].address = hole,
        Errno::EINVAL,
    );
    with("dom0's L4", &|c| c.ctrlreg[3] = l4_0 << 12, Errno::EPERM);
    with(
        "dom0's L4 as user table",
        &|c| c.ctrlreg[1] = l4_0 << 12,
        Errno::EPERM,
    );
    with(
        "a data frame",
        &|c| c.ctrlreg[3] = writable << 12,
        Errno::EBUSY,
    );
    for (name, c, e) in &cases {
        assert_eq!(set_context(&mut tb, u, 0, c), err(*e), "{name}");
        assert_eq!(kernel_l4(&tb, u), l4, "{name}");
        assert_eq!(
            tb.st(|st| st.dom(u).unwrap().vcpus[0].regs.rip),
            rip,
            "{name}"
        );
        assert_eq!((type_count(&tb, l4), type_count(&tb, l4_0)), refs, "{name}");
    }
    assert_eq!(set_context(&mut tb, u, 1, &good), err(Errno::EINVAL));
    assert_eq!(
        set_context(&mut tb, DomId(999), 0, &good),
        err(Errno::ESRCH)
    );
    for at in [0x1000, hole, non_canonical] {
        assert_eq!(set_context_at(&mut tb, u, 0, at), err(Errno::EFAULT));
    }
    // As Xen: not the caller's own context, live on the CPU.
    let mine = context_of(&tb, DomId::DOM0);
    assert_eq!(
        set_context(&mut tb, DomId::DOM0, 0, &mine),
        err(Errno::EINVAL)
    );
    assert_eq!((type_count(&tb, l4), type_count(&tb, l4_0)), refs);
    assert_eq!(crate::arch::cpu::read_cr3(), l4_0 << 12);
    // The untouched context still loads.
    assert_eq!(set_context(&mut tb, u, 0, &good), 0);
    assert_eq!((type_count(&tb, l4), type_count(&tb, l4_0)), refs);
}
