//! `sched_op`: yield, block, poll (with and without timeout), shutdown with every reason,
//! shutdown_code, remote_shutdown and watchdogs; time passes through the modelled TSC and
//! the scheduler's idle loop.

use crate::arch::cpu::advance_ns;
use crate::domain::vcpu_info;
use crate::evtchn::two_level::{self, EventWords};
use crate::evtchn::SharedWords;
use crate::testbed::{err, Testbed};
use crate::time::{now, NR_WATCHDOGS, NS_PER_SEC};
use guest_abi::errno::Errno;
use guest_abi::event_channel::*;
use guest_abi::hypercall::nr;
use guest_abi::sched::*;
use guest_abi::types::{DomId, EvtchnPort};
use guest_abi::vcpu::{RUNSTATE_BLOCKED, RUNSTATE_RUNNABLE};
use std::panic::{catch_unwind, AssertUnwindSafe};

/// `sched_op(cmd, arg)` with a raw argument.
fn sched(tb: &mut Testbed, cmd: u32, arg: u64) -> i64 {
    tb.hypercall(nr::SCHED_OP, [u64::from(cmd), arg, 0, 0, 0])
}

/// `sched_op(cmd, &v)` with `v` in the current domain's scratch memory.
fn sched_with<T: zerocopy::IntoBytes + zerocopy::Immutable>(
    tb: &mut Testbed,
    cmd: u32,
    v: &T,
) -> i64 {
    let buf = tb.scratch();
    tb.write(buf, v);
    sched(tb, cmd, buf)
}

fn shutdown(tb: &mut Testbed, reason: u32) -> i64 {
    sched_with(tb, SCHEDOP_SHUTDOWN, &SchedShutdown { reason })
}

fn shutdown_code(tb: &mut Testbed, reason: u32) -> i64 {
    sched_with(tb, SCHEDOP_SHUTDOWN_CODE, &SchedShutdown { reason })
}

fn remote_shutdown(tb: &mut Testbed, dom: DomId, reason: u32) -> i64 {
    sched_with(
        tb,
        SCHEDOP_REMOTE_SHUTDOWN,
        &SchedRemoteShutdown {
            domain_id: dom,
            _pad: 0,
            reason,
        },
    )
}

fn watchdog(tb: &mut Testbed, id: u32, timeout: u32) -> i64 {
    sched_with(tb, SCHEDOP_WATCHDOG, &SchedWatchdog { id, timeout })
}

/// SCHEDOP_poll on `ports` (written after the request in scratch) until `timeout`.
fn poll(tb: &mut Testbed, ports: &[u32], timeout: u64) -> i64 {
    let buf = tb.scratch();
    let list = buf + 0x100;
    for (i, port) in ports.iter().enumerate() {
        tb.write(list + 4 * i as u64, port);
    }
    let req = SchedPoll {
        ports: list,
        nr_ports: ports.len() as u32,
        _pad: 0,
        timeout,
    };
    tb.write(buf, &req);
    sched(tb, SCHEDOP_POLL, buf)
}

/// The current domain issues `event_channel_op(T::CMD, &op)`; the result and the structure.
fn evtchn<T: EvtchnOp>(tb: &mut Testbed, op: T) -> (i64, T) {
    let buf = tb.scratch() + 0x800;
    tb.write(buf, &op);
    let r = tb.hypercall(nr::EVENT_CHANNEL_OP, [u64::from(T::CMD), buf, 0, 0, 0]);
    (r, tb.read(buf))
}

pub(super) fn bind_virq(tb: &mut Testbed, virq: u32) -> u32 {
    let (r, op) = evtchn(
        tb,
        EvtchnBindVirq {
            virq,
            vcpu: 0,
            ..Default::default()
        },
    );
    assert_eq!(r, 0, "bind_virq");
    op.port.0
}

fn bind_ipi(tb: &mut Testbed) -> u32 {
    let (r, op) = evtchn(tb, EvtchnBindIpi::default());
    assert_eq!(r, 0, "bind_ipi");
    op.port.0
}

fn send(tb: &mut Testbed, port: u32) {
    assert_eq!(
        evtchn(
            tb,
            EvtchnSend {
                port: EvtchnPort(port)
            }
        )
        .0,
        0
    );
}

/// dom0 offers a port to `u`, which binds it: (dom0's port, u's port); dom0 runs after.
fn connect(tb: &mut Testbed, u: DomId) -> (u32, u32) {
    tb.run(DomId::DOM0);
    let (r, op) = evtchn(
        tb,
        EvtchnAllocUnbound {
            dom: DomId::SELF,
            remote_dom: u,
            ..Default::default()
        },
    );
    assert_eq!(r, 0);
    tb.run(u);
    let (r, b) = evtchn(
        tb,
        EvtchnBindInterdomain {
            remote_dom: DomId(0),
            remote_port: op.port,
            ..Default::default()
        },
    );
    assert_eq!(r, 0);
    take_events(tb, u);
    tb.run(DomId::DOM0);
    (op.port.0, b.local_port.0)
}

fn words<R>(tb: &Testbed, dom: DomId, f: impl FnOnce(&SharedWords) -> R) -> R {
    tb.st(|st| f(&SharedWords::new(st.dom(dom).expect("domain"), 0)))
}

pub(super) fn pending(tb: &Testbed, dom: DomId, port: u32) -> bool {
    words(tb, dom, |w| two_level::is_pending(w, EvtchnPort(port)))
}

fn upcall_pending(tb: &Testbed, dom: DomId) -> bool {
    tb.st(|st| vcpu_info::upcall_pending(&st.dom(dom).expect("domain").vcpu_info(0)))
}

fn upcall_masked(tb: &Testbed, dom: DomId) -> bool {
    tb.st(|st| vcpu_info::upcall_masked(&st.dom(dom).expect("domain").vcpu_info(0)))
}

fn set_upcall_mask(tb: &Testbed, dom: DomId, masked: bool) {
    tb.st(|st| vcpu_info::set_upcall_mask(&st.dom(dom).expect("domain").vcpu_info(0), masked));
}

/// What the guest's upcall handler does: clear the upcall flag, the selector and every
/// pending bit.
pub(super) fn take_events(tb: &Testbed, dom: DomId) {
    use core::sync::atomic::Ordering::SeqCst;
    words(tb, dom, |w| {
        w.upcall_pending().store(0, SeqCst);
        w.selector().store(0, SeqCst);
        for i in 0..64 {
            w.pending(i).store(0, SeqCst);
        }
    });
}

fn blocked(tb: &Testbed, dom: DomId) -> bool {
    tb.st(|st| st.dom(dom).expect("domain").vcpus[0].blocked)
}

/// The vCPU of `dom` is running normally: not blocked, no poll in progress or armed.
fn not_waiting(tb: &Testbed, dom: DomId) -> bool {
    tb.st(|st| {
        let d = st.dom(dom).expect("domain");
        !d.vcpus[0].blocked
            && d.vcpus[0].poll.is_none()
            && d.vcpus[0].timers.poll_deadline.is_none()
    })
}

fn slots(tb: &Testbed, dom: DomId) -> [Option<(u64, u32)>; NR_WATCHDOGS] {
    tb.st(|st| st.dom(dom).expect("domain").watchdogs.0)
}

fn shut_down(tb: &Testbed, dom: DomId) -> Option<ShutdownReason> {
    tb.st(|st| st.dom(dom).expect("domain").shutdown)
}

/// Run `f`, which must stop the machine; the exit value it stopped with.
fn machine_exit(f: impl FnOnce()) -> String {
    let e = catch_unwind(AssertUnwindSafe(f)).expect_err("the machine must stop");
    e.downcast_ref::<String>()
        .cloned()
        .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

#[test]
fn yield_lets_another_runnable_domain_run_first() {
    let mut tb = Testbed::boot();
    // Alone, dom0 keeps the CPU.
    assert_eq!(sched(&mut tb, SCHEDOP_YIELD, 0), 0);
    assert_eq!(tb.current(), DomId::DOM0);
    assert!(
        !tb.st(|st| st.cur().vcpus[0].credit.yielded),
        "consumed by the pass"
    );
    let u = tb.domu(1024);
    assert_eq!(sched(&mut tb, SCHEDOP_YIELD, 0), 0);
    assert_eq!(tb.current(), u, "the other runnable domain goes first");
    assert_eq!(sched(&mut tb, SCHEDOP_YIELD, 0), 0);
    assert_eq!(tb.current(), DomId::DOM0);
    // The argument is not looked at.
    assert_eq!(sched(&mut tb, SCHEDOP_YIELD, 0xFFFF_8000_0000_0000), 0);
}

#[test]
fn block_unmasks_events_and_sleeps_until_an_event_arrives() {
    let mut tb = Testbed::boot();
    let u = tb.domu(1024);
    let (p0, pu) = connect(&mut tb, u);
    assert!(
        upcall_masked(&tb, u),
        "a new vCPU starts with events masked"
    );
    tb.run(u);
    assert_eq!(sched(&mut tb, SCHEDOP_BLOCK, 0), 0);
    assert_eq!(tb.current(), DomId::DOM0, "dom0 runs while u sleeps");
    assert!(blocked(&tb, u));
    assert!(!upcall_masked(&tb, u), "block enables event delivery");
    assert_eq!(
        tb.st(|st| st.dom(u).unwrap().vcpus[0].runstate.state),
        RUNSTATE_BLOCKED
    );
    // A yield of dom0 does not run the sleeping domain.
    assert_eq!(sched(&mut tb, SCHEDOP_YIELD, 0), 0);
    assert_eq!(tb.current(), DomId::DOM0);
    send(&mut tb, p0);
    assert!(not_waiting(&tb, u));
    assert!(pending(&tb, u, pu) && upcall_pending(&tb, u));
    assert_eq!(
        tb.st(|st| st.dom(u).unwrap().vcpus[0].runstate.state),
        RUNSTATE_RUNNABLE
    );
    assert!(tb.st(|st| st.dom(u).unwrap().runnable()));
}

#[test]
fn block_with_an_upcall_already_pending_returns_at_once() {
    let mut tb = Testbed::boot();
    let u = tb.domu(1024);
    tb.run(u);
    let ipi = bind_ipi(&mut tb);
    send(&mut tb, ipi);
    assert!(upcall_pending(&tb, u) && upcall_masked(&tb, u));
    assert_eq!(sched(&mut tb, SCHEDOP_BLOCK, 0), 0);
    assert_eq!(
        tb.current(),
        u,
        "no sleep: the upcall is delivered on the way out"
    );
    assert!(not_waiting(&tb, u));
    assert!(!upcall_masked(&tb, u));
}

#[test]
fn poll_returns_at_once_when_a_polled_port_is_pending_or_an_upcall_is_due() {
    let mut tb = Testbed::boot();
    let ports: Vec<u32> = (0..128).map(|_| bind_ipi(&mut tb)).collect();
    let last = *ports.last().unwrap();
    send(&mut tb, last);
    // Events masked (as at creation): only the polled port can end the poll.
    assert!(upcall_masked(&tb, DomId::DOM0));
    let t0 = now();
    assert_eq!(poll(&mut tb, &ports, 0), 0);
    assert_eq!(tb.current(), DomId::DOM0);
    assert!(not_waiting(&tb, DomId::DOM0));
    assert_eq!(now(), t0, "no time passed");
    assert!(
        pending(&tb, DomId::DOM0, last),
        "poll does not consume the event"
    );
    assert!(
        upcall_masked(&tb, DomId::DOM0),
        "poll leaves the upcall mask alone"
    );
    // Nothing polled pending, but an unmasked upcall due: back at once too.
    take_events(&tb, DomId::DOM0);
    send(&mut tb, ports[0]);
    words(&tb, DomId::DOM0, |w| {
        two_level::clear_pending(w, EvtchnPort(ports[0]))
    });
    set_upcall_mask(&tb, DomId::DOM0, false);
    assert_eq!(poll(&mut tb, &ports[1..], 0), 0);
    assert!(not_waiting(&tb, DomId::DOM0));
    // A timeout already in the past: back at once.
    set_upcall_mask(&tb, DomId::DOM0, true);
    take_events(&tb, DomId::DOM0);
    advance_ns(1000);
    assert_eq!(poll(&mut tb, &ports, 1), 0);
    assert!(not_waiting(&tb, DomId::DOM0));
}

#[test]
fn poll_sleeps_on_the_idle_cpu_until_its_timeout() {
    let mut tb = Testbed::boot();
    let ipi = bind_ipi(&mut tb);
    let timeout = now() + 5_000_000;
    assert_eq!(poll(&mut tb, &[ipi], timeout), 0);
    let t = now();
    assert!(t >= timeout, "woke at {t}, before the timeout {timeout}");
    assert!(t < timeout + 1_000_000, "woke late: {t} for {timeout}");
    assert_eq!(tb.current(), DomId::DOM0);
    assert!(not_waiting(&tb, DomId::DOM0));
    assert!(!pending(&tb, DomId::DOM0, ipi));
}

#[test]
fn poll_wakes_on_a_masked_polled_port_but_not_on_other_masked_ports() {
    let mut tb = Testbed::boot();
    let u = tb.domu(1024);
    let (p0, pu) = connect(&mut tb, u);
    let (q0, qu) = connect(&mut tb, u);
    // A spinlock-style wait: the ports masked, upcalls masked.
    words(&tb, u, |w| {
        two_level::mask(w, EvtchnPort(pu));
        two_level::mask(w, EvtchnPort(qu));
    });
    tb.run(u);
    assert_eq!(poll(&mut tb, &[pu], 0), 0);
    assert_eq!(tb.current(), DomId::DOM0);
    assert!(blocked(&tb, u));
    assert_eq!(
        tb.st(|st| st.dom(u).unwrap().vcpus[0].poll.clone()),
        Some(vec![EvtchnPort(pu)])
    );
    send(&mut tb, q0);
    assert!(
        blocked(&tb, u),
        "a port it does not poll, masked: still asleep"
    );
    assert!(pending(&tb, u, qu));
    send(&mut tb, p0);
    assert!(not_waiting(&tb, u), "its polled port woke it");
    assert!(pending(&tb, u, pu));
    assert!(!upcall_pending(&tb, u), "masked: no upcall");
    // An unmasked event on any port also ends a poll (the vCPU is kicked, as in Xen).
    take_events(&tb, u);
    words(&tb, u, |w| {
        two_level::unmask(w, EvtchnPort(qu));
    });
    tb.run(u);
    assert_eq!(poll(&mut tb, &[pu], 0), 0);
    assert!(blocked(&tb, u));
    send(&mut tb, q0);
    assert!(not_waiting(&tb, u));
}

#[test]
fn poll_refuses_bad_port_lists_and_leaves_the_vcpu_running() {
    let mut tb = Testbed::boot();
    let ipi = bind_ipi(&mut tb);
    let buf = tb.scratch();
    let check = |tb: &mut Testbed, req: SchedPoll, want: Errno| {
        tb.write(buf, &req);
        assert_eq!(sched(tb, SCHEDOP_POLL, buf), err(want), "{req:?}");
        assert_eq!(tb.current(), DomId::DOM0);
        assert!(not_waiting(tb, DomId::DOM0));
    };
    let list = buf + 0x100;
    tb.write(list, &ipi);
    let ok = SchedPoll {
        ports: list,
        nr_ports: 1,
        _pad: 0,
        timeout: 0,
    };
    for n in [129, 1 << 20, u32::MAX] {
        check(&mut tb, SchedPoll { nr_ports: n, ..ok }, Errno::EINVAL);
    }
    for ports in [
        0xFFFF_8000_0000_1000u64,
        0x0000_8000_0000_0000,
        0x1000,
        0xFFFF_FFFF_FFFF_FFFC, // wraps past the top of the address space
    ] {
        check(
            &mut tb,
            SchedPoll {
                ports,
                nr_ports: 2,
                ..ok
            },
            Errno::EFAULT,
        );
    }
    // Ports beyond dom0's limit (every 2-level port).
    for bad in [4096u32, u32::MAX] {
        tb.write(list + 4, &bad);
        check(&mut tb, SchedPoll { nr_ports: 2, ..ok }, Errno::EINVAL);
    }
    // The request itself unreadable.
    for arg in [0xFFFF_8000_0000_1000u64, 0x1000] {
        assert_eq!(sched(&mut tb, SCHEDOP_POLL, arg), err(Errno::EFAULT));
    }
    assert!(not_waiting(&tb, DomId::DOM0));
}

#[test]
fn shutdown_records_every_reason_and_tells_dom0() {
    let mut tb = Testbed::boot();
    let exc = bind_virq(&mut tb, VIRQ_DOM_EXC);
    for reason in 0..=SHUTDOWN_MAX {
        let u = tb.domu(1024);
        take_events(&tb, DomId::DOM0);
        tb.run(u);
        shutdown(&mut tb, reason);
        assert_eq!(
            tb.current(),
            DomId::DOM0,
            "reason {reason}: u does not run again"
        );
        assert_eq!(shut_down(&tb, u), ShutdownReason::from_u32(reason));
        assert!(!tb.st(|st| st.dom(u).unwrap().runnable()));
        assert!(
            pending(&tb, DomId::DOM0, exc),
            "VIRQ_DOM_EXC raised for reason {reason}"
        );
    }
    // Nothing left but dom0 to run.
    assert_eq!(sched(&mut tb, SCHEDOP_YIELD, 0), 0);
    assert_eq!(tb.current(), DomId::DOM0);
}

#[test]
fn shutdown_with_a_bad_reason_or_pointer_is_refused_and_the_domain_runs_on() {
    let mut tb = Testbed::boot();
    let exc = bind_virq(&mut tb, VIRQ_DOM_EXC);
    let u = tb.domu(1024);
    tb.run(u);
    for reason in [SHUTDOWN_MAX + 1, 255, u32::MAX] {
        assert_eq!(shutdown(&mut tb, reason), err(Errno::EINVAL));
        assert_eq!(shutdown_code(&mut tb, reason), err(Errno::EINVAL));
    }
    for arg in [0xFFFF_8000_0000_1000u64, 0x0000_8000_0000_0000, 0x1000] {
        assert_eq!(sched(&mut tb, SCHEDOP_SHUTDOWN, arg), err(Errno::EFAULT));
        assert_eq!(
            sched(&mut tb, SCHEDOP_SHUTDOWN_CODE, arg),
            err(Errno::EFAULT)
        );
    }
    assert_eq!(tb.current(), u);
    assert_eq!(shut_down(&tb, u), None);
    assert_eq!(tb.st(|st| st.dom(u).unwrap().shutdown_code), None);
    assert!(!pending(&tb, DomId::DOM0, exc));
}

#[test]
fn shutdown_code_is_latched_and_reported_by_the_later_shutdown() {
    let mut tb = Testbed::boot();
    let u = tb.domu(1024);
    tb.run(u);
    assert_eq!(shutdown_code(&mut tb, SHUTDOWN_CRASH), 0);
    assert_eq!(tb.current(), u, "only recorded: the domain runs on");
    assert_eq!(shut_down(&tb, u), None);
    // As Xen: the first code latched stays.
    assert_eq!(shutdown_code(&mut tb, SHUTDOWN_REBOOT), 0);
    shutdown(&mut tb, SHUTDOWN_POWEROFF);
    assert_eq!(shut_down(&tb, u), Some(ShutdownReason::Crash));
    // A remote shutdown of a domain with a latched code reports the code too.
    let u2 = tb.domu(1024);
    tb.run(u2);
    assert_eq!(shutdown_code(&mut tb, SHUTDOWN_SUSPEND), 0);
    tb.run(DomId::DOM0);
    assert_eq!(remote_shutdown(&mut tb, u2, SHUTDOWN_POWEROFF), 0);
    assert_eq!(shut_down(&tb, u2), Some(ShutdownReason::Suspend));
}

#[test]
fn dom0_shutting_down_stops_the_machine_with_its_reason_s_exit_value() {
    for (reason, exit) in [
        (SHUTDOWN_POWEROFF, "machine exit 0x10"),
        (SHUTDOWN_REBOOT, "machine exit 0x13"),
        (SHUTDOWN_SUSPEND, "machine exit 0x11"),
        (SHUTDOWN_CRASH, "machine exit 0x11"),
        (SHUTDOWN_WATCHDOG, "machine exit 0x11"),
        (SHUTDOWN_SOFT_RESET, "machine exit 0x11"),
    ] {
        let mut tb = Testbed::boot();
        let code = machine_exit(|| {
            shutdown(&mut tb, reason);
        });
        assert_eq!(code, exit);
    }
    // A latched code decides dom0's exit value too.
    let mut tb = Testbed::boot();
    assert_eq!(shutdown_code(&mut tb, SHUTDOWN_REBOOT), 0);
    assert_eq!(
        machine_exit(|| {
            shutdown(&mut tb, SHUTDOWN_POWEROFF);
        }),
        "machine exit 0x13"
    );
}

#[test]
fn remote_shutdown_is_for_dom0_only_and_checks_its_target() {
    let mut tb = Testbed::boot();
    let exc = bind_virq(&mut tb, VIRQ_DOM_EXC);
    let u = tb.domu(1024);
    let u2 = tb.domu(1024);
    tb.run(u);
    assert_eq!(
        remote_shutdown(&mut tb, DomId::DOM0, SHUTDOWN_POWEROFF),
        err(Errno::EPERM)
    );
    assert_eq!(
        remote_shutdown(&mut tb, u2, SHUTDOWN_POWEROFF),
        err(Errno::EPERM)
    );
    assert_eq!(
        remote_shutdown(&mut tb, u, SHUTDOWN_POWEROFF),
        err(Errno::EPERM)
    );
    assert_eq!((shut_down(&tb, u), shut_down(&tb, u2)), (None, None));
    tb.run(DomId::DOM0);
    assert_eq!(
        remote_shutdown(&mut tb, DomId(999), SHUTDOWN_POWEROFF),
        err(Errno::ESRCH)
    );
    assert_eq!(
        remote_shutdown(&mut tb, DomId::SELF, SHUTDOWN_POWEROFF),
        err(Errno::ESRCH)
    );
    assert_eq!(remote_shutdown(&mut tb, u2, 9), err(Errno::EINVAL));
    assert_eq!(
        sched(&mut tb, SCHEDOP_REMOTE_SHUTDOWN, 0x1000),
        err(Errno::EFAULT)
    );
    assert_eq!(shut_down(&tb, u2), None);
    assert!(!pending(&tb, DomId::DOM0, exc));
    assert_eq!(remote_shutdown(&mut tb, u2, SHUTDOWN_SUSPEND), 0);
    assert_eq!(shut_down(&tb, u2), Some(ShutdownReason::Suspend));
    assert_eq!(shut_down(&tb, u), None, "only the target");
    assert!(pending(&tb, DomId::DOM0, exc));
    // The call may let another domain run first (as Xen's reschedules): dom0 again.
    tb.run(DomId::DOM0);
    // A second shutdown keeps the first reason.
    assert_eq!(remote_shutdown(&mut tb, u2, SHUTDOWN_CRASH), 0);
    assert_eq!(shut_down(&tb, u2), Some(ShutdownReason::Suspend));
    // dom0 naming itself stops the machine.
    tb.run(DomId::DOM0);
    assert_eq!(
        machine_exit(|| {
            remote_shutdown(&mut tb, DomId::DOM0, SHUTDOWN_POWEROFF);
        }),
        "machine exit 0x10"
    );
}

#[test]
fn watchdog_slots_are_allocated_rearmed_and_freed() {
    let mut tb = Testbed::boot();
    let u = tb.domu(1024);
    tb.run(u);
    assert_eq!(watchdog(&mut tb, 0, 0), err(Errno::EINVAL));
    let t0 = now();
    assert_eq!(watchdog(&mut tb, 0, 10), 1);
    assert_eq!(watchdog(&mut tb, 0, 20), 2);
    assert_eq!(NR_WATCHDOGS, 2);
    assert_eq!(watchdog(&mut tb, 0, 30), err(Errno::ENOSPC));
    assert_eq!(
        slots(&tb, u),
        [
            Some((t0 + 10 * NS_PER_SEC, 10)),
            Some((t0 + 20 * NS_PER_SEC, 20))
        ]
    );
    for id in [3, 1000, u32::MAX] {
        assert_eq!(watchdog(&mut tb, id, 5), err(Errno::EINVAL));
    }
    // Re-arm slot 2 later; free slot 1; a freed slot is not re-armed, but handed out again.
    advance_ns(NS_PER_SEC);
    assert_eq!(watchdog(&mut tb, 2, 5), 0);
    assert_eq!(watchdog(&mut tb, 1, 0), 0);
    assert_eq!(slots(&tb, u), [None, Some((t0 + 6 * NS_PER_SEC, 5))]);
    assert_eq!(watchdog(&mut tb, 1, 5), err(Errno::EINVAL));
    assert_eq!(watchdog(&mut tb, 1, 0), err(Errno::EINVAL));
    assert_eq!(watchdog(&mut tb, 0, u32::MAX), 1);
    assert_eq!(
        slots(&tb, u)[0],
        Some((t0 + NS_PER_SEC + u64::from(u32::MAX) * NS_PER_SEC, u32::MAX))
    );
    assert_eq!(sched(&mut tb, SCHEDOP_WATCHDOG, 0x1000), err(Errno::EFAULT));
    // Another domain's slots are its own.
    tb.run(DomId::DOM0);
    assert_eq!(watchdog(&mut tb, 2, 0), err(Errno::EINVAL));
    assert_eq!(slots(&tb, u)[1], Some((t0 + 6 * NS_PER_SEC, 5)));
}

#[test]
fn an_expired_watchdog_shuts_the_domain_down_while_the_idle_cpu_waits() {
    let mut tb = Testbed::boot();
    let exc = bind_virq(&mut tb, VIRQ_DOM_EXC);
    take_events(&tb, DomId::DOM0);
    let u = tb.domu(1024);
    tb.run(u);
    let t0 = now();
    assert_eq!(watchdog(&mut tb, 0, 1), 1);
    assert_eq!(sched(&mut tb, SCHEDOP_BLOCK, 0), 0);
    assert_eq!(tb.current(), DomId::DOM0);
    // dom0 sleeps for up to 2 s; at 1 s u's watchdog fires and dom0 hears of it.
    assert_eq!(poll(&mut tb, &[], t0 + 2 * NS_PER_SEC), 0);
    let t = now();
    assert!(
        (t0 + NS_PER_SEC..t0 + 2 * NS_PER_SEC).contains(&t),
        "woke at {t}"
    );
    assert_eq!(shut_down(&tb, u), Some(ShutdownReason::Watchdog));
    assert!(pending(&tb, DomId::DOM0, exc));
    assert_eq!(tb.st(|st| st.dom(u).unwrap().watchdogs.0), [None, None]);
}

#[test]
fn a_kicked_watchdog_does_not_fire_and_a_disarmed_one_never_does() {
    let mut tb = Testbed::boot();
    let kicked = tb.domu(1024);
    let disarmed = tb.domu(1024);
    tb.run(kicked);
    assert_eq!(watchdog(&mut tb, 0, 2), 1);
    tb.run(disarmed);
    assert_eq!(watchdog(&mut tb, 0, 1), 1);
    assert_eq!(watchdog(&mut tb, 1, 0), 0);
    advance_ns(1_500_000_000);
    tb.run(kicked);
    assert_eq!(watchdog(&mut tb, 1, 2), 0);
    tb.run(DomId::DOM0);
    // 2.5 s after arming: past the first deadline, not the kicked one.
    advance_ns(NS_PER_SEC);
    assert_eq!(sched(&mut tb, SCHEDOP_YIELD, 0), 0);
    assert_eq!(shut_down(&tb, kicked), None);
    assert_eq!(shut_down(&tb, disarmed), None);
    // 4 s after arming: the kicked deadline (3.5 s) has passed.
    advance_ns(1_500_000_000);
    let cur = tb.current();
    tb.run(cur);
    assert_eq!(sched(&mut tb, SCHEDOP_YIELD, 0), 0);
    assert_eq!(shut_down(&tb, kicked), Some(ShutdownReason::Watchdog));
    assert_eq!(shut_down(&tb, disarmed), None);
}

#[test]
fn unknown_or_too_wide_sched_op_commands_are_refused() {
    let mut tb = Testbed::boot();
    let buf = tb.scratch();
    tb.write(buf, &[0u8; 32]);
    assert_eq!(
        sched(&mut tb, SCHEDOP_PIN_OVERRIDE, buf),
        err(Errno::ENOSYS)
    );
    assert_eq!(sched(&mut tb, 99, buf), err(Errno::ENOSYS));
    assert_eq!(
        tb.hypercall(
            nr::SCHED_OP,
            [(1 << 32) | u64::from(SCHEDOP_SHUTDOWN), buf, 0, 0, 0]
        ),
        err(Errno::EINVAL)
    );
    assert_eq!(tb.current(), DomId::DOM0);
    assert!(not_waiting(&tb, DomId::DOM0));
}
