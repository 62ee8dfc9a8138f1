//! `event_channel_op`: allocating, binding, signalling, closing, querying and resetting
//! ports; the pending/mask/selector bits and upcall flag in the receiver's shared_info, and
//! the wake-up of a blocked receiver.

use crate::domain::ports::{Binding, DEFAULT_MAX_PORT, HARD_MAX_PORT};
use crate::evtchn::two_level::{self, EventWords};
use crate::evtchn::SharedWords;
use crate::mm::guest_walk::translate;
use crate::testbed::{err, Testbed};
use guest_abi::domctl::{XenDomctl, XEN_DOMCTL_PAUSEDOMAIN};
use guest_abi::errno::Errno;
use guest_abi::event_channel::*;
use guest_abi::hypercall::nr;
use guest_abi::sched::SCHEDOP_BLOCK;
use guest_abi::types::{DomId, EvtchnPort};

/// The current domain issues `event_channel_op(T::CMD, &op)` with `op` in its scratch
/// memory; the result and the structure as the guest then reads it.
pub(super) fn evtchn<T: EvtchnOp>(tb: &mut Testbed, op: T) -> (i64, T) {
    let buf = tb.scratch();
    tb.write(buf, &op);
    let r = tb.hypercall(nr::EVENT_CHANNEL_OP, [u64::from(T::CMD), buf, 0, 0, 0]);
    (r, tb.read(buf))
}

/// `event_channel_op(cmd, arg)` with a raw argument.
fn evtchn_raw(tb: &mut Testbed, cmd: u64, arg: u64) -> i64 {
    tb.hypercall(nr::EVENT_CHANNEL_OP, [cmd, arg, 0, 0, 0])
}

fn p(port: u32) -> EvtchnPort {
    EvtchnPort(port)
}

pub(super) fn alloc_unbound(tb: &mut Testbed, dom: DomId, remote: DomId) -> Result<u32, i64> {
    let (r, op) = evtchn(
        tb,
        EvtchnAllocUnbound {
            dom,
            remote_dom: remote,
            ..Default::default()
        },
    );
    if r == 0 {
        Ok(op.port.0)
    } else {
        Err(r)
    }
}

fn bind_interdomain(tb: &mut Testbed, remote: DomId, port: u32) -> Result<u32, i64> {
    let (r, op) = evtchn(
        tb,
        EvtchnBindInterdomain {
            remote_dom: remote,
            remote_port: p(port),
            ..Default::default()
        },
    );
    if r == 0 {
        Ok(op.local_port.0)
    } else {
        Err(r)
    }
}

pub(super) fn bind_virq(tb: &mut Testbed, virq: u32, vcpu: u32) -> Result<u32, i64> {
    let (r, op) = evtchn(
        tb,
        EvtchnBindVirq {
            virq,
            vcpu,
            ..Default::default()
        },
    );
    if r == 0 {
        Ok(op.port.0)
    } else {
        Err(r)
    }
}

pub(super) fn bind_ipi(tb: &mut Testbed, vcpu: u32) -> Result<u32, i64> {
    let (r, op) = evtchn(
        tb,
        EvtchnBindIpi {
            vcpu,
            ..Default::default()
        },
    );
    if r == 0 {
        Ok(op.port.0)
    } else {
        Err(r)
    }
}

pub(super) fn send(tb: &mut Testbed, port: u32) -> i64 {
    evtchn(tb, EvtchnSend { port: p(port) }).0
}

fn close(tb: &mut Testbed, port: u32) -> i64 {
    evtchn(tb, EvtchnClose { port: p(port) }).0
}

fn unmask(tb: &mut Testbed, port: u32) -> i64 {
    evtchn(tb, EvtchnUnmask { port: p(port) }).0
}

pub(super) fn status(tb: &mut Testbed, dom: DomId, port: u32) -> (i64, EvtchnStatus) {
    evtchn(
        tb,
        EvtchnStatus {
            dom,
            port: p(port),
            ..Default::default()
        },
    )
}

/// What port `port` of domain `dom` is bound to, in the hypervisor's table.
fn binding(tb: &Testbed, dom: DomId, port: u32) -> Binding {
    tb.st(|st| {
        st.dom(dom)
            .expect("domain")
            .evtchn
            .get(p(port))
            .expect("in range")
    })
}

/// How many ports domain `dom` has in use.
fn in_use(tb: &Testbed, dom: DomId) -> usize {
    tb.st(|st| st.dom(dom).expect("domain").evtchn.in_use().count())
}

/// Run `f` on domain `dom`'s event words in its shared_info page.
fn words<R>(tb: &Testbed, dom: DomId, f: impl FnOnce(&SharedWords) -> R) -> R {
    tb.st(|st| f(&SharedWords::new(st.dom(dom).expect("domain"), 0)))
}

fn pending(tb: &Testbed, dom: DomId, port: u32) -> bool {
    words(tb, dom, |w| two_level::is_pending(w, EvtchnPort(port)))
}

fn masked(tb: &Testbed, dom: DomId, port: u32) -> bool {
    words(tb, dom, |w| two_level::is_masked(w, EvtchnPort(port)))
}

fn selector(tb: &Testbed, dom: DomId) -> u64 {
    words(tb, dom, |w| {
        w.selector().load(core::sync::atomic::Ordering::SeqCst)
    })
}

fn upcall_pending(tb: &Testbed, dom: DomId) -> bool {
    words(tb, dom, |w| {
        w.upcall_pending()
            .load(core::sync::atomic::Ordering::SeqCst)
            != 0
    })
}

/// Every pending word of domain `dom` is zero (no event at all).
fn nothing_pending(tb: &Testbed, dom: DomId) -> bool {
    words(tb, dom, |w| {
        (0..64).all(|i| w.pending(i).load(core::sync::atomic::Ordering::SeqCst) == 0)
    })
}

/// What the guest's upcall handler does: take every event (clear the upcall flag, the
/// selector and all pending bits).
fn guest_takes_events(tb: &Testbed, dom: DomId) {
    use core::sync::atomic::Ordering::SeqCst;
    words(tb, dom, |w| {
        w.upcall_pending().store(0, SeqCst);
        w.selector().store(0, SeqCst);
        for i in 0..64 {
            w.pending(i).store(0, SeqCst);
        }
    });
}

/// The guest sets the mask bit of `port` in its shared_info.
fn guest_masks(tb: &Testbed, dom: DomId, port: u32) {
    words(tb, dom, |w| two_level::mask(w, EvtchnPort(port)));
}

/// A page the current domain maps read-only (the builder maps its page tables so) right
/// after one it maps writable, whose first 16 bytes read as zeros (unused low L4/L3
/// entries): a request there can be read but its result not written back.
pub(super) fn read_only_page(tb: &Testbed) -> u64 {
    tb.st(|st| {
        let l4 = guest_abi::types::Mfn::containing(crate::arch::cpu::read_cr3());
        let ro = |va: u64| {
            translate(&st.mem, l4, va, false).is_ok() && translate(&st.mem, l4, va, true).is_err()
        };
        let zeros = |va: u64| {
            let mut b = [0u8; 16];
            crate::mm::guest_copy::copy_from_guest(&st.mem, va, &mut b).is_ok() && b == [0; 16]
        };
        (1..4096u64)
            .map(|i| 0xFFFF_FFFF_8000_0000 + i * 4096)
            .find(|&va| ro(va) && translate(&st.mem, l4, va - 4096, true).is_ok() && zeros(va))
            .expect("a read-only page after a writable one")
    })
}

/// dom0 offers a port to `u`, which binds it: (dom0's port, u's port). dom0 is current
/// again afterwards, and `u` has taken the event its bind raised.
fn connect(tb: &mut Testbed, u: DomId) -> (u32, u32) {
    tb.run(DomId::DOM0);
    let p0 = alloc_unbound(tb, DomId::SELF, u).expect("alloc_unbound");
    tb.run(u);
    let pu = bind_interdomain(tb, DomId::DOM0, p0).expect("bind_interdomain");
    guest_takes_events(tb, u);
    tb.run(DomId::DOM0);
    (p0, pu)
}

#[test]
fn alloc_unbound_then_bind_interdomain_connects_both_ends_and_raises_the_binder() {
    let mut tb = Testbed::boot();
    let u = tb.domu(1024);
    let p0 = alloc_unbound(&mut tb, DomId::SELF, u).unwrap();
    assert_eq!(p0, 1, "port 0 is reserved: the first port is 1");
    assert_eq!(
        binding(&tb, DomId::DOM0, p0),
        Binding::Unbound { remote: u }
    );
    let (r, s) = status(&mut tb, DomId::SELF, p0);
    assert_eq!((r, s.status, s.remote().0), (0, EVTCHNSTAT_UNBOUND, u));

    tb.run(u);
    assert!(!upcall_pending(&tb, u));
    let pu = bind_interdomain(&mut tb, DomId::DOM0, p0).unwrap();
    assert_eq!(pu, 1);
    assert_eq!(
        binding(&tb, u, pu),
        Binding::Interdomain {
            remote: DomId::DOM0,
            port: p(p0)
        }
    );
    assert_eq!(
        binding(&tb, DomId::DOM0, p0),
        Binding::Interdomain {
            remote: u,
            port: p(pu)
        }
    );
    // As Xen: the new local port is raised once, so nothing sent before the bind is lost.
    assert!(pending(&tb, u, pu));
    assert_eq!(selector(&tb, u), 1 << (pu / 64));
    assert!(upcall_pending(&tb, u));
    assert!(
        !pending(&tb, DomId::DOM0, p0),
        "the offering side is not raised"
    );

    let (r, s) = status(&mut tb, DomId::SELF, pu);
    assert_eq!((r, s.status), (0, EVTCHNSTAT_INTERDOMAIN));
    assert_eq!(s.remote(), (DomId(0), p(p0)));
    tb.run(DomId::DOM0);
    let (r, s) = status(&mut tb, DomId::SELF, p0);
    assert_eq!((r, s.status), (0, EVTCHNSTAT_INTERDOMAIN));
    assert_eq!(s.remote(), (u, p(pu)));
}

#[test]
fn send_on_an_interdomain_port_sets_the_peer_pending_and_wakes_it() {
    let mut tb = Testbed::boot();
    let u = tb.domu(1024);
    let (p0, pu) = connect(&mut tb, u);
    // The receiver blocks waiting for events; dom0 runs.
    tb.run(u);
    assert_eq!(
        tb.hypercall(nr::SCHED_OP, [u64::from(SCHEDOP_BLOCK), 0, 0, 0, 0]),
        0
    );
    assert_eq!(tb.current(), DomId::DOM0);
    assert!(tb.st(|st| st.dom(u).unwrap().vcpus[0].blocked));
    assert!(nothing_pending(&tb, u));

    assert_eq!(send(&mut tb, p0), 0);
    assert!(pending(&tb, u, pu));
    assert_eq!(selector(&tb, u), 1 << (pu / 64));
    assert!(upcall_pending(&tb, u));
    let (blocked, runnable) = tb.st(|st| {
        let d = st.dom(u).unwrap();
        (d.vcpus[0].blocked, d.runnable())
    });
    assert!(!blocked && runnable, "the receiver is woken");
    assert!(
        !pending(&tb, DomId::DOM0, p0),
        "the sender's own port stays clear"
    );
    assert!(nothing_pending(&tb, DomId::DOM0));

    // The other direction: u sends, dom0's port goes pending.
    tb.run(u);
    assert_eq!(send(&mut tb, pu), 0);
    assert!(pending(&tb, DomId::DOM0, p0));
    assert_eq!(selector(&tb, DomId::DOM0), 1 << (p0 / 64));
}

#[test]
fn a_masked_port_stays_pending_without_waking_until_unmask_re_raises_it() {
    let mut tb = Testbed::boot();
    let u = tb.domu(1024);
    let (p0, pu) = connect(&mut tb, u);
    // A masked port of a blocked receiver: pending, but no upcall and no wake-up.
    guest_masks(&tb, u, pu);
    tb.run(u);
    assert_eq!(
        tb.hypercall(nr::SCHED_OP, [u64::from(SCHEDOP_BLOCK), 0, 0, 0, 0]),
        0
    );
    assert_eq!(tb.current(), DomId::DOM0);
    assert_eq!(send(&mut tb, p0), 0);
    assert!(pending(&tb, u, pu));
    assert_eq!(selector(&tb, u), 0);
    assert!(!upcall_pending(&tb, u));
    assert!(
        tb.st(|st| st.dom(u).unwrap().vcpus[0].blocked),
        "still asleep"
    );

    // An IPI to itself, masked: pending only; unmasking delivers it.
    let ipi = bind_ipi(&mut tb, 0).unwrap();
    guest_takes_events(&tb, DomId::DOM0);
    guest_masks(&tb, DomId::DOM0, ipi);
    assert_eq!(send(&mut tb, ipi), 0);
    assert!(pending(&tb, DomId::DOM0, ipi));
    assert!(!upcall_pending(&tb, DomId::DOM0));
    assert_eq!(selector(&tb, DomId::DOM0), 0);
    assert_eq!(unmask(&mut tb, ipi), 0);
    assert!(!masked(&tb, DomId::DOM0, ipi));
    assert!(pending(&tb, DomId::DOM0, ipi));
    assert_eq!(selector(&tb, DomId::DOM0), 1 << (ipi / 64));
    assert!(upcall_pending(&tb, DomId::DOM0));
    // Unmasking an unmasked port, or one not pending, raises nothing.
    guest_takes_events(&tb, DomId::DOM0);
    assert_eq!(unmask(&mut tb, ipi), 0);
    assert!(!upcall_pending(&tb, DomId::DOM0));
    assert!(nothing_pending(&tb, DomId::DOM0));
}

#[test]
fn send_refuses_closed_and_virq_ports_and_drops_sends_on_unbound_ones() {
    let mut tb = Testbed::boot();
    let u = tb.domu(1024);
    for port in [0, 5, HARD_MAX_PORT.0 + 1, u32::MAX] {
        assert_eq!(send(&mut tb, port), err(Errno::EINVAL), "port {port}");
    }
    // Unbound: nobody to tell, silently dropped (as Xen), nothing pending anywhere.
    let un = alloc_unbound(&mut tb, DomId::SELF, u).unwrap();
    assert_eq!(send(&mut tb, un), 0);
    assert!(nothing_pending(&tb, DomId::DOM0));
    assert!(nothing_pending(&tb, u));
    // A VIRQ port is the hypervisor's to raise.
    let v = bind_virq(&mut tb, VIRQ_DOM_EXC, 0).unwrap();
    assert_eq!(send(&mut tb, v), err(Errno::EINVAL));
    assert!(!pending(&tb, DomId::DOM0, v));
    // An IPI goes to the sender itself.
    let ipi = bind_ipi(&mut tb, 0).unwrap();
    assert_eq!(send(&mut tb, ipi), 0);
    assert!(pending(&tb, DomId::DOM0, ipi));
    assert!(upcall_pending(&tb, DomId::DOM0));
    assert!(nothing_pending(&tb, u));
}

#[test]
fn binding_a_port_not_offered_to_the_caller_is_refused_and_changes_nothing() {
    let mut tb = Testbed::boot();
    let u1 = tb.domu(1024);
    let u2 = tb.domu(1024);
    tb.run(u1);
    let offer = alloc_unbound(&mut tb, DomId::SELF, u2).unwrap();
    // dom0, privileged as it is, was not offered the port.
    tb.run(DomId::DOM0);
    assert_eq!(
        bind_interdomain(&mut tb, u1, offer),
        Err(err(Errno::EINVAL))
    );
    assert_eq!(binding(&tb, u1, offer), Binding::Unbound { remote: u2 });
    assert_eq!(in_use(&tb, DomId::DOM0), 0, "no local port left behind");

    tb.run(u2);
    // A closed port, ports beyond the limit, a domain that does not exist.
    assert_eq!(
        bind_interdomain(&mut tb, u1, offer + 1),
        Err(err(Errno::EINVAL))
    );
    assert_eq!(
        bind_interdomain(&mut tb, u1, DEFAULT_MAX_PORT.0 + 1),
        Err(err(Errno::EINVAL))
    );
    assert_eq!(
        bind_interdomain(&mut tb, u1, u32::MAX),
        Err(err(Errno::EINVAL))
    );
    assert_eq!(
        bind_interdomain(&mut tb, DomId(77), offer),
        Err(err(Errno::ESRCH))
    );
    // Its own closed port (DOMID_SELF), or its own port offered to someone else.
    assert_eq!(
        bind_interdomain(&mut tb, DomId::SELF, 9),
        Err(err(Errno::EINVAL))
    );
    assert_eq!(in_use(&tb, u2), 0);

    let local = bind_interdomain(&mut tb, u1, offer).unwrap();
    // Bound once: a second bind of the same port is refused.
    assert_eq!(
        bind_interdomain(&mut tb, u1, offer),
        Err(err(Errno::EINVAL))
    );
    assert_eq!(in_use(&tb, u2), 1);
    assert_eq!(
        binding(&tb, u1, offer),
        Binding::Interdomain {
            remote: u2,
            port: p(local)
        }
    );
}

#[test]
fn a_loopback_channel_to_the_caller_itself_connects_two_of_its_ports() {
    let mut tb = Testbed::boot();
    let u = tb.domu(1024);
    tb.run(u);
    let a = alloc_unbound(&mut tb, DomId::SELF, DomId::SELF).unwrap();
    assert_eq!(binding(&tb, u, a), Binding::Unbound { remote: u });
    let b = bind_interdomain(&mut tb, DomId::SELF, a).unwrap();
    assert_ne!(a, b);
    assert_eq!(
        binding(&tb, u, a),
        Binding::Interdomain {
            remote: u,
            port: p(b)
        }
    );
    assert_eq!(
        binding(&tb, u, b),
        Binding::Interdomain {
            remote: u,
            port: p(a)
        }
    );
    guest_takes_events(&tb, u);
    assert_eq!(send(&mut tb, a), 0);
    assert!(pending(&tb, u, b) && !pending(&tb, u, a));
    // Closing one end leaves the other offered back to the domain.
    assert_eq!(close(&mut tb, b), 0);
    assert_eq!(binding(&tb, u, a), Binding::Unbound { remote: u });
}

#[test]
fn closing_a_port_unbinds_the_peer_and_a_second_close_is_refused() {
    let mut tb = Testbed::boot();
    let u = tb.domu(1024);
    let (p0, pu) = connect(&mut tb, u);
    // Leave an event pending: close drops it.
    assert_eq!(send(&mut tb, p0), 0);
    tb.run(u);
    assert!(pending(&tb, u, pu));
    assert_eq!(close(&mut tb, pu), 0);
    assert_eq!(binding(&tb, u, pu), Binding::Closed);
    assert!(!pending(&tb, u, pu));
    assert_eq!(
        binding(&tb, DomId::DOM0, p0),
        Binding::Unbound { remote: u }
    );
    // Closed twice, port 0, beyond the limit.
    for port in [pu, 0, DEFAULT_MAX_PORT.0 + 1, u32::MAX] {
        assert_eq!(close(&mut tb, port), err(Errno::EINVAL), "port {port}");
    }
    // The peer's port is offered again: a send from it goes nowhere, u can bind it anew.
    tb.run(DomId::DOM0);
    assert_eq!(send(&mut tb, p0), 0);
    assert!(nothing_pending(&tb, u));
    tb.run(u);
    assert_eq!(
        bind_interdomain(&mut tb, DomId::DOM0, p0),
        Ok(pu),
        "the lowest free port again"
    );

    // A closed VIRQ port frees the VIRQ for a new bind.
    let v = bind_virq(&mut tb, VIRQ_DOM_EXC, 0).unwrap();
    assert_eq!(close(&mut tb, v), 0);
    assert_eq!(
        tb.st(|st| st.dom(u).unwrap().evtchn.virq_port(VIRQ_DOM_EXC)),
        None
    );
    assert_eq!(bind_virq(&mut tb, VIRQ_DOM_EXC, 0), Ok(v));
}

#[test]
fn ports_run_out_at_the_domain_limit_and_a_full_table_leaves_the_offer_intact() {
    let mut tb = Testbed::boot();
    let u = tb.domu(1024);
    tb.run(DomId::DOM0);
    let offer = alloc_unbound(&mut tb, DomId::SELF, u).unwrap();
    tb.run(u);
    for want in 1..=DEFAULT_MAX_PORT.0 {
        assert_eq!(alloc_unbound(&mut tb, DomId::SELF, DomId(0)), Ok(want));
    }
    assert_eq!(
        alloc_unbound(&mut tb, DomId::SELF, DomId(0)),
        Err(err(Errno::ENOSPC))
    );
    assert_eq!(bind_ipi(&mut tb, 0), Err(err(Errno::ENOSPC)));
    assert_eq!(bind_virq(&mut tb, VIRQ_TIMER, 0), Err(err(Errno::ENOSPC)));
    assert_eq!(
        tb.st(|st| st.dom(u).unwrap().evtchn.virq_port(VIRQ_TIMER)),
        None
    );
    // A bind into the full table fails before touching the remote port.
    assert_eq!(
        bind_interdomain(&mut tb, DomId::DOM0, offer),
        Err(err(Errno::ENOSPC))
    );
    assert_eq!(
        binding(&tb, DomId::DOM0, offer),
        Binding::Unbound { remote: u }
    );
    assert_eq!(in_use(&tb, u), DEFAULT_MAX_PORT.0 as usize);
    // A port closed is a port free again.
    assert_eq!(close(&mut tb, 500), 0);
    assert_eq!(bind_interdomain(&mut tb, DomId::DOM0, offer), Ok(500));
    assert_eq!(
        binding(&tb, DomId::DOM0, offer),
        Binding::Interdomain {
            remote: u,
            port: p(500)
        }
    );
}

#[test]
fn bind_virq_and_bind_ipi_check_the_number_the_vcpu_and_duplicates() {
    let mut tb = Testbed::boot();
    assert_eq!(bind_virq(&mut tb, NR_VIRQS, 0), Err(err(Errno::EINVAL)));
    assert_eq!(bind_virq(&mut tb, u32::MAX, 0), Err(err(Errno::EINVAL)));
    // A per-vCPU VIRQ on a vCPU that does not exist; a global VIRQ only on vCPU 0.
    assert_eq!(bind_virq(&mut tb, VIRQ_TIMER, 1), Err(err(Errno::ENOENT)));
    assert_eq!(bind_virq(&mut tb, VIRQ_DOM_EXC, 1), Err(err(Errno::EINVAL)));
    assert_eq!(in_use(&tb, DomId::DOM0), 0);

    let t = bind_virq(&mut tb, VIRQ_TIMER, 0).unwrap();
    assert_eq!(binding(&tb, DomId::DOM0, t), Binding::Virq(VIRQ_TIMER));
    let (r, s) = status(&mut tb, DomId::SELF, t);
    assert_eq!(
        (r, s.status, s.virq_or_pirq(), s.vcpu),
        (0, EVTCHNSTAT_VIRQ, VIRQ_TIMER, 0)
    );
    assert_eq!(bind_virq(&mut tb, VIRQ_TIMER, 0), Err(err(Errno::EEXIST)));
    assert_eq!(in_use(&tb, DomId::DOM0), 1);

    assert_eq!(bind_ipi(&mut tb, 1), Err(err(Errno::ENOENT)));
    assert_eq!(bind_ipi(&mut tb, u32::MAX), Err(err(Errno::ENOENT)));
    let i = bind_ipi(&mut tb, 0).unwrap();
    let (r, s) = status(&mut tb, DomId::SELF, i);
    assert_eq!((r, s.status), (0, EVTCHNSTAT_IPI));
    // Physical IRQs are not a PV domain's to bind.
    let (r, _) = evtchn(
        &mut tb,
        EvtchnBindPirq {
            pirq: 4,
            ..Default::default()
        },
    );
    assert_eq!(r, err(Errno::EPERM));
    assert_eq!(in_use(&tb, DomId::DOM0), 2);
}

#[test]
fn status_reports_every_binding_and_guards_other_domains() {
    let mut tb = Testbed::boot();
    let u = tb.domu(1024);
    // Stale output fields are overwritten, never passed back.
    let stale = EvtchnStatus {
        dom: DomId::SELF,
        port: p(3),
        status: 0xdead,
        vcpu: 0xbeef,
        u: [0xffff_ffff; 2],
        ..Default::default()
    };
    let (r, s) = evtchn(&mut tb, stale);
    assert_eq!(
        (r, s.status, s.vcpu, s.u),
        (0, EVTCHNSTAT_CLOSED, 0, [0, 0])
    );
    let ipi = bind_ipi(&mut tb, 0).unwrap();
    let (r, s) = evtchn(
        &mut tb,
        EvtchnStatus {
            port: p(ipi),
            ..stale
        },
    );
    assert_eq!((r, s.status, s.vcpu, s.u), (0, EVTCHNSTAT_IPI, 0, [0, 0]));
    assert_eq!(
        status(&mut tb, DomId::SELF, DEFAULT_MAX_PORT.0 + 1).0,
        0,
        "dom0 may use every 2-level port"
    );
    assert_eq!(
        status(&mut tb, DomId::SELF, HARD_MAX_PORT.0 + 1).0,
        err(Errno::EINVAL)
    );
    assert_eq!(status(&mut tb, DomId(300), 1).0, err(Errno::ESRCH));

    // dom0 may look at a domU's ports; a domU may not look at dom0's.
    tb.run(u);
    let un = alloc_unbound(&mut tb, DomId::SELF, DomId(0)).unwrap();
    assert_eq!(status(&mut tb, DomId(0), ipi).0, err(Errno::EPERM));
    assert_eq!(status(&mut tb, u, un).0, 0, "its own id is itself");
    assert_eq!(
        status(&mut tb, DomId::SELF, DEFAULT_MAX_PORT.0 + 1).0,
        err(Errno::EINVAL)
    );
    tb.run(DomId::DOM0);
    let (r, s) = status(&mut tb, u, un);
    assert_eq!(
        (r, s.status, s.remote().0),
        (0, EVTCHNSTAT_UNBOUND, DomId(0))
    );
}

#[test]
fn alloc_unbound_for_another_domain_needs_privilege() {
    let mut tb = Testbed::boot();
    let u = tb.domu(1024);
    let u2 = tb.domu(1024);
    tb.run(u);
    assert_eq!(alloc_unbound(&mut tb, DomId(0), u), Err(err(Errno::EPERM)));
    assert_eq!(alloc_unbound(&mut tb, u2, u), Err(err(Errno::EPERM)));
    assert_eq!(
        (in_use(&tb, DomId::DOM0), in_use(&tb, u), in_use(&tb, u2)),
        (0, 0, 0)
    );
    // dom0 allocates in a domU's table, for itself (DOMID_SELF is the caller).
    tb.run(DomId::DOM0);
    let port = alloc_unbound(&mut tb, u, DomId::SELF).unwrap();
    assert_eq!(
        binding(&tb, u, port),
        Binding::Unbound {
            remote: DomId::DOM0
        }
    );
    assert_eq!(in_use(&tb, DomId::DOM0), 0);
    assert_eq!(
        alloc_unbound(&mut tb, DomId(999), u),
        Err(err(Errno::ESRCH))
    );
}

#[test]
fn a_result_the_guest_cannot_take_back_undoes_the_allocation_or_bind() {
    let mut tb = Testbed::boot();
    let u = tb.domu(1024);
    let offer = alloc_unbound(&mut tb, DomId::SELF, u).unwrap();
    tb.run(u);
    let ro = read_only_page(&tb);
    // Readable (all zeros: vCPU 0, VIRQ 0), so the bind runs; not writable, so its result
    // cannot be returned: the port must not stay allocated.
    for cmd in [EVTCHNOP_BIND_IPI, EVTCHNOP_BIND_VIRQ] {
        assert_eq!(evtchn_raw(&mut tb, u64::from(cmd), ro), err(Errno::EFAULT));
        assert_eq!(in_use(&tb, u), 0, "command {cmd} leaked a port");
    }
    assert_eq!(
        tb.st(|st| st.dom(u).unwrap().evtchn.virq_port(VIRQ_TIMER)),
        None
    );
    // An interdomain bind whose request straddles into the read-only page: the remote
    // port is offered again and the event the bind raised is gone with the local port.
    let at = ro - 8;
    let saved = tb.read_bytes(at, 8);
    tb.write_bytes(at, &[0, 0, 0, 0]); // remote_dom 0, padding
    tb.write_bytes(at + 4, &offer.to_le_bytes());
    assert_eq!(
        evtchn_raw(&mut tb, u64::from(EVTCHNOP_BIND_INTERDOMAIN), at),
        err(Errno::EFAULT)
    );
    tb.write_bytes(at, &saved);
    assert_eq!(
        binding(&tb, DomId::DOM0, offer),
        Binding::Unbound { remote: u }
    );
    assert_eq!(in_use(&tb, u), 0);
    assert!(nothing_pending(&tb, u));
    // alloc_unbound likewise (dom0: domain 0 is itself, remote 0).
    tb.run(DomId::DOM0);
    let ro0 = read_only_page(&tb);
    assert_eq!(
        evtchn_raw(&mut tb, u64::from(EVTCHNOP_ALLOC_UNBOUND), ro0),
        err(Errno::EFAULT)
    );
    assert_eq!(in_use(&tb, DomId::DOM0), 1, "only the offer");
    // Unreadable arguments: the hole, non-canonical, unmapped.
    tb.run(u);
    for bad in [0xFFFF_8000_0000_1000, 0x0000_8000_0000_0000, 0x1000] {
        for cmd in [EVTCHNOP_BIND_IPI, EVTCHNOP_SEND, EVTCHNOP_STATUS] {
            assert_eq!(evtchn_raw(&mut tb, u64::from(cmd), bad), err(Errno::EFAULT));
        }
    }
    assert_eq!(in_use(&tb, u), 0);
}

#[test]
fn bind_vcpu_moves_only_what_xen_lets_move() {
    let mut tb = Testbed::boot();
    let u = tb.domu(1024);
    let (p0, _) = connect(&mut tb, u);
    let bv = |tb: &mut Testbed, port: u32, vcpu: u32| {
        evtchn(
            tb,
            EvtchnBindVcpu {
                port: p(port),
                vcpu,
            },
        )
        .0
    };
    let un = alloc_unbound(&mut tb, DomId::SELF, u).unwrap();
    let global = bind_virq(&mut tb, VIRQ_DOM_EXC, 0).unwrap();
    let per_vcpu = bind_virq(&mut tb, VIRQ_TIMER, 0).unwrap();
    let ipi = bind_ipi(&mut tb, 0).unwrap();
    assert_eq!(bv(&mut tb, p0, 1), err(Errno::ENOENT));
    assert_eq!(bv(&mut tb, p0, 0), 0);
    assert_eq!(bv(&mut tb, un, 0), 0);
    assert_eq!(bv(&mut tb, global, 0), 0);
    // As Xen: a per-vCPU VIRQ and an IPI stay with their vCPU; closed ports are refused.
    assert_eq!(bv(&mut tb, per_vcpu, 0), err(Errno::EINVAL));
    assert_eq!(bv(&mut tb, ipi, 0), err(Errno::EINVAL));
    assert_eq!(bv(&mut tb, 77, 0), err(Errno::EINVAL));
    assert_eq!(bv(&mut tb, HARD_MAX_PORT.0 + 1, 0), err(Errno::EINVAL));
    assert_eq!(binding(&tb, DomId::DOM0, ipi), Binding::Ipi);
}

#[test]
fn reset_closes_every_port_and_unbinds_peers() {
    let mut tb = Testbed::boot();
    let u = tb.domu(1024);
    let (p0, _) = connect(&mut tb, u);
    let dom0_ipi = bind_ipi(&mut tb, 0).unwrap();
    tb.run(u);
    bind_ipi(&mut tb, 0).unwrap();
    bind_virq(&mut tb, VIRQ_TIMER, 0).unwrap();
    alloc_unbound(&mut tb, DomId::SELF, DomId(0)).unwrap();
    assert_eq!(in_use(&tb, u), 4);
    // A domU may not reset dom0.
    assert_eq!(
        evtchn(&mut tb, EvtchnReset { dom: DomId(0) }).0,
        err(Errno::EPERM)
    );
    assert_eq!(in_use(&tb, DomId::DOM0), 2);
    assert_eq!(evtchn(&mut tb, EvtchnReset { dom: DomId::SELF }).0, 0);
    assert_eq!(in_use(&tb, u), 0);
    assert_eq!(
        tb.st(|st| st.dom(u).unwrap().evtchn.virq_port(VIRQ_TIMER)),
        None
    );
    assert_eq!(
        binding(&tb, DomId::DOM0, p0),
        Binding::Unbound { remote: u }
    );
    assert_eq!(binding(&tb, DomId::DOM0, dom0_ipi), Binding::Ipi);

    // dom0 resets another domain only while the toolstack has it paused (as Xen).
    tb.run(u);
    let pu = bind_interdomain(&mut tb, DomId::DOM0, p0).unwrap();
    tb.run(DomId::DOM0);
    assert_eq!(
        evtchn(&mut tb, EvtchnReset { dom: u }).0,
        err(Errno::EINVAL)
    );
    assert_eq!(
        binding(&tb, u, pu),
        Binding::Interdomain {
            remote: DomId::DOM0,
            port: p(p0)
        }
    );
    let buf = tb.scratch() + 0x1000;
    tb.write(buf, &XenDomctl::new(XEN_DOMCTL_PAUSEDOMAIN, u));
    assert_eq!(tb.hypercall(nr::DOMCTL, [buf, 0, 0, 0, 0]), 0);
    assert_eq!(evtchn(&mut tb, EvtchnReset { dom: u }).0, 0);
    assert_eq!(in_use(&tb, u), 0);
    assert_eq!(
        binding(&tb, DomId::DOM0, p0),
        Binding::Unbound { remote: u }
    );
    assert_eq!(
        evtchn(&mut tb, EvtchnReset { dom: DomId(999) }).0,
        err(Errno::ESRCH)
    );
}

#[test]
fn unmask_and_unknown_or_malformed_commands_are_refused() {
    let mut tb = Testbed::boot();
    let u = tb.domu(1024);
    tb.run(u);
    assert_eq!(unmask(&mut tb, DEFAULT_MAX_PORT.0 + 1), err(Errno::EINVAL));
    assert_eq!(unmask(&mut tb, u32::MAX), err(Errno::EINVAL));
    let buf = tb.scratch();
    tb.write(buf, &[0u8; 64]);
    // The FIFO ABI is not offered (guests fall back to 2-level); unknown commands.
    for cmd in [
        EVTCHNOP_INIT_CONTROL,
        EVTCHNOP_EXPAND_ARRAY,
        EVTCHNOP_SET_PRIORITY,
        EVTCHNOP_RESET_CONT,
        99,
    ] {
        assert_eq!(evtchn_raw(&mut tb, u64::from(cmd), buf), err(Errno::ENOSYS));
    }
    // A command wider than its 32-bit type.
    assert_eq!(
        evtchn_raw(&mut tb, (1 << 32) | u64::from(EVTCHNOP_BIND_IPI), buf),
        err(Errno::EINVAL)
    );
    assert_eq!(in_use(&tb, u), 0);
}
