//! `set_timer_op`: the one-shot timer at an absolute system time, VIRQ_TIMER when it is due
//! (time moved with the modelled TSC, timers fired by a scheduling pass), 0 to cancel, and
//! Xen's treatment of a deadline in the past or absurdly far ahead.

use crate::arch::cpu::advance_ns;
use crate::evtchn::two_level::{self, EventWords};
use crate::evtchn::SharedWords;
use crate::testbed::Testbed;
use guest_abi::hypercall::nr;
use guest_abi::types::{DomId, EvtchnPort};

const MS: u64 = 1_000_000;

fn now() -> u64 {
    crate::time::now()
}

fn set_timer(tb: &mut Testbed, deadline: u64) -> i64 {
    tb.hypercall(nr::SET_TIMER_OP, [deadline, 0, 0, 0, 0])
}

fn upcall_pending(tb: &Testbed, dom: DomId) -> u8 {
    tb.st(|st| {
        let d = st.dom(dom).expect("domain exists");
        SharedWords::new(d, 0)
            .upcall_pending()
            .load(core::sync::atomic::Ordering::SeqCst)
    })
}

fn clear(tb: &Testbed, dom: DomId, port: u32) {
    tb.st(|st| {
        let d = st.dom(dom).expect("domain exists");
        two_level::clear_pending(&SharedWords::new(d, 0), EvtchnPort(port));
    });
}

fn singleshot(tb: &Testbed, dom: DomId) -> Option<u64> {
    tb.st(|st| {
        st.dom(dom).expect("domain exists").vcpus[0]
            .timers
            .singleshot
            .get()
    })
}

#[test]
fn set_timer_op_arms_the_one_shot_and_programs_the_lapic_for_it() {
    let mut tb = Testbed::boot();
    advance_ns(MS);
    let t = now() + 2 * MS;
    assert_eq!(set_timer(&mut tb, t), 0);
    assert_eq!(singleshot(&tb, DomId::DOM0), Some(t));
    // Earlier than the end of the slice and the accounting period: the LAPIC fires for it.
    assert_eq!(crate::arch::lapic::deadline(), Some(t));
}

#[test]
fn the_timer_raises_virq_timer_when_due_and_only_once() {
    let mut tb = Testbed::boot();
    let port = tb.bind_timer_virq();
    advance_ns(MS);
    let t = now() + MS;
    assert_eq!(set_timer(&mut tb, t), 0);
    advance_ns(MS - 1);
    tb.pass();
    assert!(!tb.pending(DomId::DOM0, port), "1 ns early");
    assert_eq!(singleshot(&tb, DomId::DOM0), Some(t), "still armed");
    advance_ns(1);
    tb.pass();
    assert!(tb.pending(DomId::DOM0, port), "due at {t}, now {}", now());
    assert_eq!(upcall_pending(&tb, DomId::DOM0), 1);
    assert_eq!(
        singleshot(&tb, DomId::DOM0),
        None,
        "a one-shot is disarmed when it fires"
    );
    // It does not fire again.
    clear(&tb, DomId::DOM0, port);
    advance_ns(50 * MS);
    tb.pass();
    assert!(!tb.pending(DomId::DOM0, port));
}

#[test]
fn zero_cancels_the_timer() {
    let mut tb = Testbed::boot();
    let port = tb.bind_timer_virq();
    let t = now() + MS;
    assert_eq!(set_timer(&mut tb, t), 0);
    assert_eq!(set_timer(&mut tb, 0), 0);
    assert_eq!(singleshot(&tb, DomId::DOM0), None);
    // The LAPIC may still interrupt at `t` (the lock-free path leaves a pending one-shot
    // alone): that pass raises nothing and arms nothing for `t`.
    advance_ns(5 * MS);
    tb.pass();
    assert!(!tb.pending(DomId::DOM0, port));
    assert_ne!(
        crate::arch::lapic::deadline(),
        Some(t),
        "the LAPIC is no longer armed for the cancelled deadline"
    );
    // Cancelling with nothing armed is fine too.
    assert_eq!(set_timer(&mut tb, 0), 0);
    assert_eq!(singleshot(&tb, DomId::DOM0), None);
}

#[test]
fn a_deadline_in_the_past_fires_on_the_next_pass() {
    let mut tb = Testbed::boot();
    let port = tb.bind_timer_virq();
    advance_ns(5 * MS);
    let t = now() - MS;
    assert_eq!(set_timer(&mut tb, t), 0);
    assert_eq!(singleshot(&tb, DomId::DOM0), Some(t));
    assert!(
        crate::arch::lapic::deadline().is_some_and(|d| d <= now()),
        "the LAPIC fires at once: {:?}",
        crate::arch::lapic::deadline()
    );
    // No time passes: the interrupt is immediate.
    tb.pass();
    assert!(tb.pending(DomId::DOM0, port));
    assert_eq!(singleshot(&tb, DomId::DOM0), None);
}

#[test]
fn a_new_deadline_replaces_the_old_one() {
    let mut tb = Testbed::boot();
    let port = tb.bind_timer_virq();
    let first = now() + MS;
    let second = now() + 5 * MS;
    assert_eq!(set_timer(&mut tb, first), 0);
    assert_eq!(set_timer(&mut tb, second), 0);
    assert_eq!(singleshot(&tb, DomId::DOM0), Some(second));
    advance_ns(2 * MS);
    tb.pass();
    assert!(!tb.pending(DomId::DOM0, port), "the first deadline is gone");
    advance_ns(3 * MS);
    tb.pass();
    assert!(tb.pending(DomId::DOM0, port));
}

#[test]
fn a_timer_without_a_bound_virq_expires_silently() {
    let mut tb = Testbed::boot();
    let t = now() + MS;
    assert_eq!(set_timer(&mut tb, t), 0);
    advance_ns(2 * MS);
    tb.pass();
    assert_eq!(singleshot(&tb, DomId::DOM0), None, "expired");
    assert_eq!(
        upcall_pending(&tb, DomId::DOM0),
        0,
        "nothing to deliver it on"
    );
    // Binding afterwards does not replay it.
    let port = tb.bind_timer_virq();
    tb.pass();
    assert!(!tb.pending(DomId::DOM0, port));
}

#[test]
fn wrapped_or_far_away_deadlines_fire_in_100ms_as_in_xen() {
    let mut tb = Testbed::boot();
    let port = tb.bind_timer_virq();
    advance_ns(MS);
    let fallback = now() + 100 * MS;
    // Bit 63 set: a negative system time.
    assert_eq!(set_timer(&mut tb, u64::MAX), 0);
    assert_eq!(singleshot(&tb, DomId::DOM0), Some(fallback));
    assert_eq!(set_timer(&mut tb, 1 << 63), 0);
    assert_eq!(singleshot(&tb, DomId::DOM0), Some(fallback));
    // 2^50 ns (about 13 days) or more ahead.
    assert_eq!(set_timer(&mut tb, now() + (1 << 50)), 0);
    assert_eq!(singleshot(&tb, DomId::DOM0), Some(fallback));
    // Just under is taken as it is.
    let far = now() + (1 << 50) - 1;
    assert_eq!(set_timer(&mut tb, far), 0);
    assert_eq!(singleshot(&tb, DomId::DOM0), Some(far));
    // The fallback does fire.
    assert_eq!(set_timer(&mut tb, u64::MAX), 0);
    advance_ns(100 * MS - 1);
    tb.pass();
    assert!(!tb.pending(DomId::DOM0, port));
    advance_ns(1);
    tb.pass();
    assert!(tb.pending(DomId::DOM0, port));
}

#[test]
fn each_domain_has_its_own_timer() {
    let mut tb = Testbed::boot();
    let port0 = tb.bind_timer_virq();
    let d0_deadline = now() + 50 * MS;
    assert_eq!(set_timer(&mut tb, d0_deadline), 0);
    let u = tb.domu(1024);
    tb.run(u);
    let port_u = tb.bind_timer_virq();
    let t = now() + MS;
    assert_eq!(set_timer(&mut tb, t), 0);
    assert_eq!(singleshot(&tb, u), Some(t));
    assert_eq!(
        singleshot(&tb, DomId::DOM0),
        Some(d0_deadline),
        "dom0's is untouched"
    );
    assert_eq!(
        crate::arch::lapic::deadline(),
        Some(t),
        "the LAPIC follows the earliest deadline of any domain"
    );
    advance_ns(MS);
    tb.pass();
    assert!(tb.pending(u, port_u));
    assert!(!tb.pending(DomId::DOM0, port0));
    assert_eq!(singleshot(&tb, DomId::DOM0), Some(d0_deadline));
    // Cancelling one domain's timer leaves the other's.
    tb.run(DomId::DOM0);
    assert_eq!(set_timer(&mut tb, 0), 0);
    assert_eq!(singleshot(&tb, DomId::DOM0), None);
    tb.run(u);
    let t2 = now() + MS;
    assert_eq!(set_timer(&mut tb, t2), 0);
    tb.run(DomId::DOM0);
    assert_eq!(set_timer(&mut tb, 0), 0);
    assert_eq!(singleshot(&tb, u), Some(t2));
}

#[test]
fn the_timer_of_a_shut_down_domain_does_not_fire() {
    let mut tb = Testbed::boot();
    let u = tb.domu(1024);
    tb.run(u);
    let port = tb.bind_timer_virq();
    assert_eq!(set_timer(&mut tb, now() + MS), 0);
    tb.run(DomId::DOM0);
    tb.st(|st| crate::lifecycle::shutdown(st, u, guest_abi::sched::ShutdownReason::Poweroff));
    advance_ns(2 * MS);
    tb.pass();
    assert!(!tb.pending(u, port));
}

#[test]
fn the_timeout_is_a_full_64_bit_value() {
    // set_timer_op takes one 64-bit register: no width check can refuse it, and the high
    // half is kept (rather than truncated to a near deadline that fires at once).
    let mut tb = Testbed::boot();
    advance_ns(MS);
    let t = (1u64 << 32) + 7;
    assert_eq!(set_timer(&mut tb, t), 0);
    assert_eq!(singleshot(&tb, DomId::DOM0), Some(t));
}

/// set_timer_op takes no lock when a one-shot is pending on the CPU: it arms the caller's
/// timer and brings the LAPIC forward while another CPU holds the global state; with
/// nothing known to be pending it waits for the state (a pass must decide).
#[test]
fn set_timer_op_arms_without_the_state_lock_when_the_lapic_is_armed() {
    use std::sync::mpsc;
    use std::time::Duration;
    let mut tb = Testbed::boot();
    let port = tb.bind_timer_virq();
    // A pass arms the LAPIC (the slice's end).
    tb.pass();
    let armed = crate::arch::lapic::deadline().expect("a pass arms the LAPIC");
    let t = now() + MS;
    assert!(
        t < armed,
        "the test's deadline comes before the slice's end"
    );
    let regs0 = tb.regs;
    let call = move |t: u64| {
        let mut regs = regs0;
        regs.rax = nr::SET_TIMER_OP as u64;
        regs.rdi = t;
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            crate::hypercall::syscall_entry(&mut regs);
            let _ = tx.send(regs.rax);
        });
        rx
    };
    let wait = Duration::from_secs(20);
    {
        let _held = crate::domain::state::STATE.lock();
        assert_eq!(call(t).recv_timeout(wait), Ok(0), "set under the lock");
        assert_eq!(
            crate::arch::lapic::deadline(),
            Some(t),
            "the LAPIC brought forward"
        );
    }
    assert_eq!(singleshot(&tb, DomId::DOM0), Some(t));
    advance_ns(2 * MS);
    tb.pass();
    assert!(tb.pending(DomId::DOM0, port), "it fires");
    assert_eq!(singleshot(&tb, DomId::DOM0), None);
    // A hostile deadline on the lock-free path: wrapped (bit 63) fires in 100 ms, as Xen.
    tb.pass();
    assert!(
        crate::arch::lapic::deadline().is_some(),
        "a pass arms the LAPIC"
    );
    let fallback = now() + 100 * MS;
    {
        let _held = crate::domain::state::STATE.lock();
        assert_eq!(
            call(u64::MAX).recv_timeout(wait),
            Ok(0),
            "wrapped, under the lock"
        );
        assert_eq!(
            call(1 << 63).recv_timeout(wait),
            Ok(0),
            "bit 63, under the lock"
        );
    }
    assert_eq!(singleshot(&tb, DomId::DOM0), Some(fallback));
    // Nothing pending on the LAPIC: the call waits for the state.
    crate::arch::lapic::take_deadline();
    let held = crate::domain::state::STATE.lock();
    let r = call(now() + MS);
    assert!(
        r.recv_timeout(Duration::from_millis(300)).is_err(),
        "answered under the lock"
    );
    drop(held);
    assert_eq!(r.recv_timeout(wait), Ok(0));
    assert!(
        crate::arch::lapic::deadline().is_some(),
        "armed by the locked path"
    );
}
