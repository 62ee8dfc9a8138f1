//! Domains of several vCPUs: `VCPUOP_initialise`/`up`/`down`/`is_up` on vCPU ids (Xen's
//! errnos for bad ids, twice, uninitialised, bad contexts), hypercalls acting on the calling
//! vCPU (timers, block, yield), the scheduler running every vCPU and charging each, per-vCPU
//! event delivery (VIRQ_TIMER, IPIs, `bind_vcpu`) into each vCPU's vcpu_info, and the
//! toolstack's view (getvcpuinfo, getdomaininfo, setvcpucontext, vCPU affinity).

use super::domctl::{context_of, domctl, info, kernel_l4, set_context, type_count};
use super::event_channel::{alloc_unbound, bind_ipi, bind_virq, evtchn, send, status};
use crate::arch::cpu::advance_ns;
use crate::domain::{vcpu_info, VcpuId, MAX_VCPUS};
use crate::evtchn::{two_level, SharedWords};
use crate::testbed::{err, Testbed};
use guest_abi::arch::{VcpuGuestContext, VgcfFlags};
use guest_abi::domctl::*;
use guest_abi::errno::Errno;
use guest_abi::event_channel::*;
use guest_abi::hypercall::nr;
use guest_abi::sched::{ShutdownReason, SCHEDOP_BLOCK, SCHEDOP_YIELD};
use guest_abi::types::{DomId, EvtchnPort};
use guest_abi::vcpu::*;

const MS: u64 = 1_000_000;

pub(super) fn vcpu_op(tb: &mut Testbed, cmd: u32, vcpu: u64, arg: u64) -> i64 {
    tb.hypercall(nr::VCPU_OP, [u64::from(cmd), vcpu, arg, 0, 0])
}

/// A domU of `n` vCPUs (only vCPU 0 up, as built).
pub(super) fn smp_domu(tb: &mut Testbed, n: u32) -> DomId {
    let u = tb.domu(1024);
    tb.st(|st| st.dom(u).unwrap().set_max_vcpus(n)).unwrap();
    u
}

/// A context for another vCPU of `dom`: its own stack in the scratch area, a kernel entry.
pub(super) fn ap_context(tb: &Testbed, dom: DomId, vcpu: u32) -> VcpuGuestContext {
    let mut c = context_of(tb, dom);
    c.user_regs.rip = 0xFFFF_FFFF_8000_3000 + u64::from(vcpu);
    c.user_regs.rsp = tb.scratch() + 0x8000 + 0x1000 * u64::from(vcpu);
    c.kernel_sp = c.user_regs.rsp;
    c.event_callback_eip = 0xFFFF_FFFF_8000_4000;
    c
}

/// The current domain's `VCPUOP_initialise` of `vcpu` with `c` (placed in its scratch).
pub(super) fn initialise(tb: &mut Testbed, vcpu: u32, c: &VcpuGuestContext) -> i64 {
    let at = tb.scratch() + 0x4000;
    tb.write(at, c);
    vcpu_op(tb, VCPUOP_INITIALISE, u64::from(vcpu), at)
}

/// Initialise and bring up vCPUs 1.. of the current domain (all it has).
fn bring_up_all(tb: &mut Testbed) {
    let (dom, n) = tb.st(|st| (st.current.dom, st.cur().max_vcpus()));
    for v in 1..n {
        let c = ap_context(tb, dom, v);
        assert_eq!(initialise(tb, v, &c), 0, "vCPU {v}");
        assert_eq!(vcpu_op(tb, VCPUOP_UP, u64::from(v), 0), 0, "vCPU {v}");
    }
}

fn vcpu<R>(tb: &Testbed, v: VcpuId, f: impl FnOnce(&crate::domain::Vcpu) -> R) -> R {
    tb.st(|st| f(st.vcpu(v).expect("vCPU exists")))
}

fn upcall_pending(tb: &Testbed, v: VcpuId) -> bool {
    tb.st(|st| vcpu_info::upcall_pending(&st.dom(v.dom).unwrap().vcpu_info(v.vcpu)))
}

fn clear_upcall(tb: &Testbed, v: VcpuId) {
    tb.st(|st| {
        let vi = st.dom(v.dom).unwrap().vcpu_info(v.vcpu);
        let _ = vi.write(0, &[0]);
    });
}

#[test]
fn initialise_then_up_brings_a_vcpu_online_with_xens_errnos() {
    let mut tb = Testbed::boot();
    let u = smp_domu(&mut tb, 4);
    let l4 = kernel_l4(&tb, u);
    let refs = type_count(&tb, l4);
    tb.run(u);
    let c = ap_context(&tb, u, 1);
    // Up before initialise: EINVAL (Xen's is_initialised check); it stays down.
    assert_eq!(vcpu_op(&mut tb, VCPUOP_UP, 1, 0), err(Errno::EINVAL));
    assert_eq!(vcpu_op(&mut tb, VCPUOP_IS_UP, 1, 0), 0);
    // Ids the domain lacks: ENOENT, for initialise too.
    for bad in [4, u64::from(MAX_VCPUS), 0xFFFF_FFFF] {
        assert_eq!(initialise(&mut tb, bad as u32, &c), err(Errno::ENOENT));
        assert_eq!(vcpu_op(&mut tb, VCPUOP_UP, bad, 0), err(Errno::ENOENT));
        assert_eq!(vcpu_op(&mut tb, VCPUOP_DOWN, bad, 0), err(Errno::ENOENT));
    }
    // Unreadable contexts: EFAULT.
    for bad in [0, 0xFFFF_8000_0000_0000, 0x0000_8000_0000_0000] {
        assert_eq!(
            vcpu_op(&mut tb, VCPUOP_INITIALISE, 1, bad),
            err(Errno::EFAULT)
        );
    }
    // Addresses the vCPU could not be entered at: EINVAL, nothing taken.
    let mut hole = c;
    hole.event_callback_eip = 0xFFFF_8000_0000_1000;
    let mut noncanon = c;
    noncanon.user_regs.rip = 0x0000_8000_0000_0000;
    let mut trap = c;
    trap.trap_ctxt[14].address = 0xFFFF_8300_0000_0000;
    let mut not_l4 = c;
    not_l4.ctrlreg[3] = tb.st(|st| st.dom(u).unwrap().shared_info.mfn().addr());
    for bad in [hole, noncanon, trap, not_l4] {
        assert!(initialise(&mut tb, 1, &bad) < 0);
    }
    assert!(!vcpu(&tb, VcpuId::new(u, 1), |v| v.initialised));
    assert_eq!(type_count(&tb, l4), refs, "no reference kept by a refusal");
    // Its events start masked, as every vCPU's.
    assert!(tb.st(|st| vcpu_info::upcall_masked(&st.dom(u).unwrap().vcpu_info(3))));
    // The good one: initialised but down until VCPUOP_up.
    assert_eq!(initialise(&mut tb, 1, &c), 0);
    assert_eq!(type_count(&tb, l4), refs + 1, "vCPU 1 holds its page table");
    let (init, online, rip, rsp) = vcpu(&tb, VcpuId::new(u, 1), |v| {
        (v.initialised, v.online, v.regs.rip, v.regs.rsp)
    });
    assert!(init && !online);
    assert_eq!((rip, rsp), (c.user_regs.rip, c.user_regs.rsp));
    assert_eq!(vcpu_op(&mut tb, VCPUOP_IS_UP, 1, 0), 0);
    // Twice, or the builder's vCPU 0: EEXIST.
    assert_eq!(initialise(&mut tb, 1, &c), err(Errno::EEXIST));
    assert_eq!(initialise(&mut tb, 0, &c), err(Errno::EEXIST));
    assert_eq!(type_count(&tb, l4), refs + 1);
    assert_eq!(vcpu_op(&mut tb, VCPUOP_UP, 1, 0), 0);
    assert_eq!(vcpu_op(&mut tb, VCPUOP_IS_UP, 1, 0), 1);
    assert_eq!(vcpu_op(&mut tb, VCPUOP_UP, 1, 0), 0, "up again is nothing");
    assert!(tb.st(|st| st.dom(u).unwrap().vcpu_runnable(1)));
    // The toolstack sees two of four up.
    tb.run(DomId::DOM0);
    let i = info(&mut tb, u).unwrap();
    assert_eq!((i.nr_online_vcpus, i.max_vcpu_id), (2, 3));
}

#[test]
fn down_takes_a_vcpu_off_and_the_last_one_powers_the_domain_off() {
    let mut tb = Testbed::boot();
    let u = smp_domu(&mut tb, 3);
    tb.run(u);
    bring_up_all(&mut tb);
    // Another vCPU goes down at once; it is no longer run.
    assert_eq!(vcpu_op(&mut tb, VCPUOP_DOWN, 2, 0), 0);
    assert_eq!(vcpu_op(&mut tb, VCPUOP_IS_UP, 2, 0), 0);
    assert!(!tb.st(|st| st.dom(u).unwrap().vcpu_runnable(2)));
    // And can come up again (it stays initialised).
    assert_eq!(vcpu_op(&mut tb, VCPUOP_UP, 2, 0), 0);
    assert_eq!(vcpu_op(&mut tb, VCPUOP_DOWN, 2, 0), 0);
    // The caller taking itself down leaves the CPU; the domain lives on.
    let call = tb.hypercall_traced(nr::VCPU_OP, [u64::from(VCPUOP_DOWN), 0, 0, 0, 0]);
    assert_eq!(call.rax, 0, "what it finds when it is brought up again");
    assert_ne!(tb.current_vcpu(), VcpuId::new(u, 0));
    assert!(!vcpu(&tb, VcpuId::new(u, 0), |v| v.online));
    assert_eq!(tb.st(|st| st.dom(u).unwrap().shutdown), None);
    // vCPU 1, the last one up, going down powers the domain off (as Xen).
    tb.run_vcpu(VcpuId::new(u, 1));
    tb.hypercall(nr::VCPU_OP, [u64::from(VCPUOP_DOWN), 1, 0, 0, 0]);
    assert_eq!(
        tb.st(|st| st.dom(u).unwrap().shutdown),
        Some(ShutdownReason::Poweroff)
    );
}

#[test]
fn hypercalls_act_on_the_calling_vcpu() {
    let mut tb = Testbed::boot();
    let u = smp_domu(&mut tb, 2);
    tb.run(u);
    bring_up_all(&mut tb);
    let (v0, v1) = (VcpuId::new(u, 0), VcpuId::new(u, 1));
    tb.run_vcpu(v1);
    assert_eq!(tb.current_vcpu(), v1);
    // set_timer_op arms the caller's one-shot only.
    let t = crate::time::now() + 5 * MS;
    assert_eq!(tb.hypercall(nr::SET_TIMER_OP, [t, 0, 0, 0, 0]), 0);
    assert_eq!(vcpu(&tb, v1, |v| v.timers.singleshot.get()), Some(t));
    assert_eq!(vcpu(&tb, v0, |v| v.timers.singleshot.get()), None);
    // The one-shot of another vCPU: EINVAL (as Xen); its periodic timer may be set.
    let buf = tb.scratch();
    tb.write(
        buf,
        &VcpuSetSingleshotTimer {
            timeout_abs_ns: t,
            ..Default::default()
        },
    );
    assert_eq!(
        vcpu_op(&mut tb, VCPUOP_SET_SINGLESHOT_TIMER, 0, buf),
        err(Errno::EINVAL)
    );
    assert_eq!(
        vcpu_op(&mut tb, VCPUOP_STOP_SINGLESHOT_TIMER, 0, 0),
        err(Errno::EINVAL)
    );
    assert_eq!(vcpu_op(&mut tb, VCPUOP_SET_SINGLESHOT_TIMER, 1, buf), 0);
    tb.write(buf, &VcpuSetPeriodicTimer { period_ns: 10 * MS });
    assert_eq!(vcpu_op(&mut tb, VCPUOP_SET_PERIODIC_TIMER, 0, buf), 0);
    assert_eq!(vcpu(&tb, v0, |v| v.timers.period), 10 * MS);
    assert_eq!(vcpu(&tb, v1, |v| v.timers.period), 0);
    // Yield gives the CPU to another vCPU that can run.
    tb.hypercall_traced(nr::SCHED_OP, [u64::from(SCHEDOP_YIELD), 0, 0, 0, 0]);
    assert_ne!(tb.current_vcpu(), v1);
    // Block blocks the caller only; another vCPU runs.
    tb.run_vcpu(v1);
    let call = tb.hypercall_traced(nr::SCHED_OP, [u64::from(SCHEDOP_BLOCK), 0, 0, 0, 0]);
    assert_eq!(call.rax, 0);
    assert!(vcpu(&tb, v1, |v| v.blocked));
    assert!(!vcpu(&tb, v0, |v| v.blocked));
    assert_ne!(tb.current_vcpu(), v1);
    // Its runstate, read from vCPU 0, says so.
    tb.run_vcpu(v0);
    tb.write(buf, &VcpuRunstateInfo::default());
    assert_eq!(vcpu_op(&mut tb, VCPUOP_GET_RUNSTATE_INFO, 1, buf), 0);
    assert_eq!(tb.read::<VcpuRunstateInfo>(buf).state, RUNSTATE_BLOCKED);
}

#[test]
fn the_scheduler_runs_every_vcpu_and_charges_each() {
    let mut tb = Testbed::boot();
    let u = smp_domu(&mut tb, 3);
    tb.run(u);
    bring_up_all(&mut tb);
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..60 {
        advance_ns(crate::domain::credit::TSLICE_NS);
        tb.pass();
        seen.insert(tb.current_vcpu());
    }
    for v in 0..3 {
        assert!(seen.contains(&VcpuId::new(u, v)), "vCPU {v} ran: {seen:?}");
    }
    let (total, each) = tb.st(|st| {
        let d = st.dom(u).unwrap();
        let each: Vec<u64> = d.vcpus.iter().map(|v| v.cpu_time_ns).collect();
        (d.cpu_time_ns, each)
    });
    assert!(each.iter().all(|&t| t > 0), "{each:?}");
    assert_eq!(
        total,
        each.iter().sum::<u64>(),
        "the domain's time is its vCPUs'"
    );
    // Weight is the domain's: dom0 (one vCPU) and the domU (three) get about half each.
    let dom0 = tb.st(|st| st.dom(DomId::DOM0).unwrap().cpu_time_ns);
    let share = total as f64 / (total + dom0) as f64;
    assert!((0.35..0.65).contains(&share), "domU share {share}");
}

#[test]
fn per_vcpu_virqs_and_ipis_go_to_their_vcpu() {
    let mut tb = Testbed::boot();
    let u = smp_domu(&mut tb, 3);
    tb.run(u);
    bring_up_all(&mut tb);
    let (v0, v1, v2) = (VcpuId::new(u, 0), VcpuId::new(u, 1), VcpuId::new(u, 2));
    // VIRQ_TIMER on each vCPU: a port each; a second on the same vCPU EEXIST.
    let t0 = bind_virq(&mut tb, VIRQ_TIMER, 0).unwrap();
    let t1 = bind_virq(&mut tb, VIRQ_TIMER, 1).unwrap();
    assert_ne!(t0, t1);
    assert_eq!(bind_virq(&mut tb, VIRQ_TIMER, 1), Err(err(Errno::EEXIST)));
    assert_eq!(bind_virq(&mut tb, VIRQ_TIMER, 3), Err(err(Errno::ENOENT)));
    assert_eq!(bind_virq(&mut tb, VIRQ_DOM_EXC, 1), Err(err(Errno::EINVAL)));
    let (r, s) = status(&mut tb, DomId::SELF, t1);
    assert_eq!((r, s.status, s.vcpu), (0, EVTCHNSTAT_VIRQ, 1));
    // vCPU 1's timer fires into vCPU 1's vcpu_info (slot 1 of shared_info), not vCPU 0's.
    clear_upcall(&tb, v0);
    clear_upcall(&tb, v1);
    tb.run_vcpu(v1);
    let t = crate::time::now() + MS;
    assert_eq!(tb.hypercall(nr::SET_TIMER_OP, [t, 0, 0, 0, 0]), 0);
    advance_ns(2 * MS);
    tb.pass();
    assert!(tb.pending(u, t1) && !tb.pending(u, t0));
    assert!(upcall_pending(&tb, v1) && !upcall_pending(&tb, v0));
    // An IPI bound to vCPU 2, sent by vCPU 1, wakes vCPU 2 blocked in SCHEDOP_block.
    tb.run_vcpu(v2);
    let ipi = bind_ipi(&mut tb, 2).unwrap();
    let (r, s) = status(&mut tb, DomId::SELF, ipi);
    assert_eq!((r, s.status, s.vcpu), (0, EVTCHNSTAT_IPI, 2));
    clear_upcall(&tb, v2);
    tb.hypercall(nr::SCHED_OP, [u64::from(SCHEDOP_BLOCK), 0, 0, 0, 0]);
    assert!(vcpu(&tb, v2, |v| v.blocked));
    tb.run_vcpu(v1);
    clear_upcall(&tb, v1);
    assert_eq!(send(&mut tb, ipi), 0);
    assert!(!vcpu(&tb, v2, |v| v.blocked), "woken");
    assert!(upcall_pending(&tb, v2) && !upcall_pending(&tb, v1));
    // An IPI port for a vCPU the domain lacks.
    assert_eq!(bind_ipi(&mut tb, 3), Err(err(Errno::ENOENT)));
}

#[test]
fn bind_vcpu_retargets_interdomain_and_global_ports() {
    let mut tb = Testbed::boot();
    let u = smp_domu(&mut tb, 4);
    let dom0_port = alloc_unbound(&mut tb, DomId::SELF, u).unwrap();
    tb.run(u);
    bring_up_all(&mut tb);
    let (r, b) = evtchn(
        &mut tb,
        EvtchnBindInterdomain {
            remote_dom: DomId::DOM0,
            remote_port: EvtchnPort(dom0_port),
            ..Default::default()
        },
    );
    assert_eq!(r, 0);
    let port = b.local_port.0;
    let bv = |tb: &mut Testbed, port: u32, vcpu: u32| {
        evtchn(
            tb,
            EvtchnBindVcpu {
                port: EvtchnPort(port),
                vcpu,
            },
        )
        .0
    };
    let ipi = bind_ipi(&mut tb, 1).unwrap();
    let timer = bind_virq(&mut tb, VIRQ_TIMER, 2).unwrap();
    let un = alloc_unbound(&mut tb, DomId::SELF, DomId::DOM0).unwrap();
    assert_eq!(bv(&mut tb, port, 4), err(Errno::ENOENT));
    assert_eq!(bv(&mut tb, ipi, 3), err(Errno::EINVAL));
    assert_eq!(bv(&mut tb, timer, 3), err(Errno::EINVAL));
    assert_eq!(bv(&mut tb, 99, 3), err(Errno::EINVAL));
    assert_eq!(bv(&mut tb, un, 2), 0);
    assert_eq!(bv(&mut tb, port, 3), 0);
    assert_eq!(status(&mut tb, DomId::SELF, port).1.vcpu, 3);
    assert_eq!(status(&mut tb, DomId::SELF, ipi).1.vcpu, 1, "unmoved");
    assert_eq!(status(&mut tb, DomId::SELF, un).1.vcpu, 2);
    // dom0's notification now lands in vCPU 3's vcpu_info (the port, raised once by the
    // bind, cleared first).
    tb.st(|st| {
        let d = st.dom(u).unwrap();
        two_level::clear_pending(&SharedWords::new(d, 0), EvtchnPort(port));
    });
    for v in 0..4 {
        clear_upcall(&tb, VcpuId::new(u, v));
    }
    tb.run(DomId::DOM0);
    assert_eq!(send(&mut tb, dom0_port), 0);
    let pend: Vec<bool> = (0..4)
        .map(|v| upcall_pending(&tb, VcpuId::new(u, v)))
        .collect();
    assert_eq!(pend, [false, false, false, true]);
}

#[test]
fn getvcpuinfo_and_setvcpucontext_for_every_vcpu() {
    let mut tb = Testbed::boot();
    let u = smp_domu(&mut tb, 3);
    let vinfo = |tb: &mut Testbed, vcpu: u32| {
        let (r, op) = domctl(
            tb,
            &XenDomctl::with_payload(
                XEN_DOMCTL_GETVCPUINFO,
                u,
                &DomctlGetVcpuInfo {
                    vcpu,
                    ..Default::default()
                },
            ),
        );
        (r, op.payload::<DomctlGetVcpuInfo>())
    };
    let (r, v2) = vinfo(&mut tb, 2);
    assert_eq!((r, v2.online, v2.cpu_time), (0, 0, 0));
    assert_eq!(vinfo(&mut tb, 3).0, err(Errno::EINVAL));
    // setvcpucontext for vCPU 2: without VGCF_online it stays down, with it it comes up.
    let mut c = ap_context(&tb, u, 2);
    c.flags = VgcfFlags::IN_KERNEL.bits();
    assert_eq!(set_context(&mut tb, u, 2, &c), 0);
    assert!(vcpu(&tb, VcpuId::new(u, 2), |v| v.initialised && !v.online));
    c.flags |= VgcfFlags::ONLINE.bits();
    assert_eq!(set_context(&mut tb, u, 2, &c), 0);
    assert_eq!(vinfo(&mut tb, 2).1.online, 1);
    assert_eq!(set_context(&mut tb, u, 3, &c), err(Errno::EINVAL));
    // It runs, and its time counts while it runs.
    let v2id = VcpuId::new(u, 2);
    tb.run_vcpu(v2id);
    advance_ns(3 * MS);
    let t = tb.st(|st| crate::sched::vcpu_cpu_time(st, v2id));
    assert!(t >= 3 * MS, "{t}");
    tb.run(DomId::DOM0);
    let (r, v2) = vinfo(&mut tb, 2);
    assert_eq!((r, v2.online, v2.running, v2.cpu), (0, 1, 0, 0));
    let i = info(&mut tb, u).unwrap();
    assert_eq!((i.nr_online_vcpus, i.max_vcpu_id), (2, 2));
}

#[test]
fn vcpu_affinity_is_kept_per_vcpu_and_must_include_a_cpu_we_run_on() {
    let mut tb = Testbed::boot();
    let u = smp_domu(&mut tb, 2);
    let buf = tb.scratch() + 0x2000;
    let (hard, soft) = (buf, buf + 0x100);
    let aff = |tb: &mut Testbed, cmd: u32, vcpu: u32, flags: u32, bits: u32| {
        let a = DomctlVcpuAffinity {
            vcpu,
            flags,
            cpumap_hard: XenctlBitmap {
                bitmap: hard,
                nr_bits: bits,
                _pad: 0,
            },
            cpumap_soft: XenctlBitmap {
                bitmap: soft,
                nr_bits: bits,
                _pad: 0,
            },
        };
        domctl(tb, &XenDomctl::with_payload(cmd, u, &a)).0
    };
    let both = XEN_VCPUAFFINITY_HARD | XEN_VCPUAFFINITY_SOFT;
    // Hard {0, 2}, soft {2, 3} on vCPU 1: set, and the effective maps written back.
    tb.write_bytes(hard, &[0b0101, 0xAA]);
    tb.write_bytes(soft, &[0b1100, 0xAA]);
    assert_eq!(aff(&mut tb, XEN_DOMCTL_SETVCPUAFFINITY, 1, both, 16), 0);
    assert_eq!(
        tb.read_bytes(hard, 2),
        [0b0001, 0],
        "online CPUs in it: CPU 0"
    );
    assert_eq!(
        tb.read_bytes(soft, 2),
        [0, 0],
        "soft within the effective hard one"
    );
    // Get: the maps as set (CPUs that do not run vCPUs included), per vCPU.
    tb.write_bytes(hard, &[0xFF; 2]);
    assert_eq!(aff(&mut tb, XEN_DOMCTL_GETVCPUAFFINITY, 1, both, 16), 0);
    assert_eq!(tb.read_bytes(hard, 2), [0b0101, 0xAA]);
    assert_eq!(tb.read_bytes(soft, 2), [0b1100, 0xAA]);
    assert_eq!(aff(&mut tb, XEN_DOMCTL_GETVCPUAFFINITY, 0, both, 16), 0);
    assert_eq!(tb.read_bytes(hard, 2), [0xFF, 0xFF], "vCPU 0: all CPUs");
    // A map beyond ours is zero-filled.
    assert_eq!(aff(&mut tb, XEN_DOMCTL_GETVCPUAFFINITY, 1, both, 300), 0);
    assert_eq!(tb.read_bytes(hard, 38)[32..], [0; 6]);
    // Refused: a hard map without CPU 0 (no CPU we run vCPUs on), no map named, a map
    // without a buffer, a vCPU the domain lacks. Nothing changes.
    tb.write_bytes(hard, &[0b1110, 0]);
    assert_eq!(
        aff(
            &mut tb,
            XEN_DOMCTL_SETVCPUAFFINITY,
            1,
            XEN_VCPUAFFINITY_HARD,
            16
        ),
        err(Errno::EINVAL)
    );
    tb.write_bytes(hard, &[0b0001, 0]);
    assert_eq!(
        aff(&mut tb, XEN_DOMCTL_SETVCPUAFFINITY, 1, 0, 16),
        err(Errno::EINVAL)
    );
    assert_eq!(
        aff(&mut tb, XEN_DOMCTL_SETVCPUAFFINITY, 2, both, 16),
        err(Errno::EINVAL)
    );
    let nulls = DomctlVcpuAffinity {
        vcpu: 1,
        flags: XEN_VCPUAFFINITY_HARD,
        ..Default::default()
    };
    assert_eq!(
        domctl(
            &mut tb,
            &XenDomctl::with_payload(XEN_DOMCTL_SETVCPUAFFINITY, u, &nulls)
        )
        .0,
        err(Errno::EINVAL)
    );
    // A hard map of 3 bits: the bits beyond are not taken from the byte.
    tb.write_bytes(hard, &[0xF9]);
    assert_eq!(
        aff(
            &mut tb,
            XEN_DOMCTL_SETVCPUAFFINITY,
            1,
            XEN_VCPUAFFINITY_HARD,
            3
        ),
        0
    );
    let h = vcpu(&tb, VcpuId::new(u, 1), |v| v.affinity.hard);
    assert_eq!(h.0[0], 0b001);
    // Only dom0 may.
    tb.run(u);
    assert_eq!(
        aff(&mut tb, XEN_DOMCTL_GETVCPUAFFINITY, 1, both, 16),
        err(Errno::EPERM)
    );
}

#[test]
fn each_vcpus_timer_wakes_it_from_block() {
    let mut tb = Testbed::boot();
    let u = smp_domu(&mut tb, 3);
    tb.run(u);
    bring_up_all(&mut tb);
    let mut ports = Vec::new();
    for v in 0..3 {
        ports.push(bind_virq(&mut tb, VIRQ_TIMER, v).unwrap());
    }
    // Every vCPU arms its one-shot and blocks.
    for v in 0..3 {
        let id = VcpuId::new(u, v);
        tb.run_vcpu(id);
        clear_upcall(&tb, id);
        let t = crate::time::now() + MS * (u64::from(v) + 1);
        assert_eq!(tb.hypercall(nr::SET_TIMER_OP, [t, 0, 0, 0, 0]), 0);
        tb.hypercall_traced(nr::SCHED_OP, [u64::from(SCHEDOP_BLOCK), 0, 0, 0, 0]);
        assert!(vcpu(&tb, id, |x| x.blocked), "vCPU {v} blocked");
    }
    // As their timers fire, each one wakes with its own port pending in its vcpu_info.
    for v in 0..3 {
        let id = VcpuId::new(u, v);
        advance_ns(MS);
        tb.pass();
        assert!(!vcpu(&tb, id, |x| x.blocked), "vCPU {v} woken");
        assert!(tb.pending(u, ports[v as usize]));
        assert!(upcall_pending(&tb, id));
        for later in v + 1..3 {
            assert!(
                vcpu(&tb, VcpuId::new(u, later), |x| x.blocked),
                "{later} still asleep"
            );
        }
    }
}
