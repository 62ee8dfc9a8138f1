//! domU self-tests of event channels, timers and the scheduler (`test=<name>` on the
//! command line), each printing verdict lines the end-to-end tests assert.
//!
//! - `evtchn-pong rounds=N`: answer every event on any interdomain port by signalling it
//!   back; report after N.
//! - `evtchn-ping evtchn_peer=D evtchn_port=P rounds=N`: bind port P of domain D (the
//!   toolstack allocated it for us), send N pings, each waiting for its pong; report.
//! - `evtchn-limits`: allocate ports until the limit, and the error cases.
//! - `sleep ms=M n=K`: sleep M ms K times through the one-shot timer; report each.
//! - `timers`: the periodic and single-shot vcpu_op timers, and poll with a timeout.
//! - `busy`: spin forever on every vCPU, vCPU 0 reporting at every half second of system time
//!   its own CPU time, all vCPUs' and the system time it read them at.
//! - `spin`: spin forever silently, never yielding (hostile).
//! - `flood`: signal an IPI to ourselves as fast as possible forever (hostile).

use crate::{events, println, time};
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering::SeqCst};
use guest_abi::errno::Errno;
use guest_abi::event_channel::{EVTCHNSTAT_INTERDOMAIN, VIRQ_TIMER};
use guest_abi::guest;
use guest_abi::types::{DomId, EvtchnPort};
use guest_abi::vcpu::*;

const MS: u64 = 1_000_000;

fn arg(cmd: &str, key: &str) -> Option<u64> {
    crate::cmdline::param(cmd, key)?.parse().ok()
}

fn errname(r: Result<impl Sized, Errno>) -> &'static str {
    match r {
        Ok(_) => "OK",
        Err(e) => e.name(),
    }
}

/// Runs the self-test the command line names; false if it names none of ours.
pub fn run(cmd: &str) -> bool {
    match crate::cmdline::param(cmd, "test") {
        Some("evtchn-pong") => pong(arg(cmd, "rounds").unwrap_or(100)),
        Some("evtchn-ping") => ping(cmd),
        Some("evtchn-limits") => limits(),
        Some("sleep") => sleep(arg(cmd, "ms").unwrap_or(100), arg(cmd, "n").unwrap_or(3)),
        Some("timers") => timers(),
        Some("busy") => busy(),
        Some("spin") => loop {
            core::hint::spin_loop();
        },
        Some("flood") => flood(),
        _ => return false,
    }
    true
}

static COUNT: AtomicU64 = AtomicU64::new(0);
static ROUNDS: AtomicU64 = AtomicU64::new(0);

fn on_ping(port: u32) {
    // Any interdomain port: signal it back (ignore the VIRQ_TIMER and other ports).
    if events::status(port).is_ok_and(|s| s.status == EVTCHNSTAT_INTERDOMAIN) {
        let _ = events::send(port);
        let n = COUNT.fetch_add(1, SeqCst) + 1;
        if n == ROUNDS.load(SeqCst) {
            println!("evtchn-pong: answered {n} events");
        }
    }
}

fn pong(rounds: u64) {
    ROUNDS.store(rounds, SeqCst);
    events::set_default_handler(on_ping);
    println!("evtchn-pong: ready for {rounds} events on any interdomain port");
}

fn on_pong(_port: u32) {
    COUNT.fetch_add(1, SeqCst);
}

fn ping(cmd: &str) {
    let (Some(peer), Some(port)) = (arg(cmd, "evtchn_peer"), arg(cmd, "evtchn_port")) else {
        println!("evtchn-ping: FAILED: no evtchn_peer/evtchn_port on the command line");
        return;
    };
    let rounds = arg(cmd, "rounds").unwrap_or(100);
    let local = match events::bind_interdomain(DomId(peer as u16), port as u32, on_pong) {
        Ok(p) => p,
        Err(e) => {
            println!(
                "evtchn-ping: FAILED: bind_interdomain d{peer} port {port}: {}",
                e.name()
            );
            return;
        }
    };
    let st = events::status(local);
    let remote = st.map(|s| s.remote()).unwrap_or((DomId(0), EvtchnPort(0)));
    println!(
        "evtchn-ping: port {local} bound to d{} port {}",
        remote.0 .0, remote.1 .0
    );
    COUNT.store(0, SeqCst);
    let t0 = time::now();
    for i in 0..rounds {
        if let Err(e) = events::send(local) {
            println!("evtchn-ping: FAILED: send: {}", e.name());
            return;
        }
        let deadline = time::now() + 2_000 * MS;
        let _ = guest::set_timer_op(deadline);
        time::block_until(|| COUNT.load(SeqCst) > i || time::now() >= deadline);
        if COUNT.load(SeqCst) <= i {
            println!("evtchn-ping: FAILED: no pong for ping {} within 2 s", i + 1);
            return;
        }
    }
    let us = (time::now() - t0) / 1000;
    println!(
        "evtchn-ping: {} round trips with d{peer} in {us} us",
        COUNT.load(SeqCst)
    );
    let r = events::close(local);
    println!("evtchn-ping: closed port {local}: {}", errname(r));
}

fn limits() {
    let mut n = 0u32;
    let mut last = 0u32;
    let err = loop {
        match events::bind_ipi() {
            Ok(p) => {
                n += 1;
                last = p;
            }
            Err(e) => break e,
        }
        if n > 5000 {
            break Errno::EINVAL;
        }
    };
    println!(
        "evtchn-limits: {n} more ports (highest {last}), then {}",
        err.name()
    );
    let closed = events::close(last);
    let again = events::bind_ipi();
    println!(
        "evtchn-limits: close {last}: {}, reallocated: {}",
        errname(closed),
        again.map_or_else(|e| e.name().into(), |p| alloc::format!("port {p}"))
    );
    let bad_send = guest::evtchn_send(EvtchnPort(last + 1));
    let far_send = guest::evtchn_send(EvtchnPort(100_000));
    let dup = events::bind_virq(VIRQ_TIMER, |_| {});
    let bad_virq = events::bind_virq(99, |_| {});
    let foreign = events::status_of(DomId(0), 1);
    let bind_bad = events::bind_interdomain(DomId(0), 1, |_| {});
    println!(
        "evtchn-errors: send closed {}, send out of range {}, bind_virq twice {}, bind_virq 99 {}, status of d0 {}, bind to a port not offered {}",
        errname(bad_send),
        errname(far_send),
        errname(dup),
        errname(bad_virq),
        errname(foreign),
        errname(bind_bad)
    );
}

fn sleep(ms: u64, n: u64) {
    for _ in 0..n {
        let t0 = time::now();
        time::sleep(ms * MS);
        let slept = time::now() - t0;
        println!(
            "sleep: asked {ms} ms, slept {}.{:03} ms",
            slept / MS,
            slept % MS / 1000
        );
    }
}

static TICKS: AtomicU32 = AtomicU32::new(0);

fn timers() {
    // Periodic: 10 ms period for 100 ms of wall time.
    events::set_handler(timer_port(), |_| {
        TICKS.fetch_add(1, SeqCst);
    });
    let t0 = time::now();
    let r = guest::vcpu_set_periodic_timer(0, 10 * MS);
    time::block_until(|| time::now() >= t0 + 100 * MS);
    let _ = guest::vcpu_op(VCPUOP_STOP_PERIODIC_TIMER, 0);
    let ticks = TICKS.load(SeqCst);
    println!(
        "timers: periodic 10 ms: {} ({ticks} ticks in 100 ms)",
        errname(r)
    );
    let short = guest::vcpu_set_periodic_timer(0, 1000);
    let past = guest::vcpu_set_singleshot_timer(0, 1, VCPU_SSHOTTMR_FUTURE);
    let no_vcpu = guest::vcpu_op(VCPUOP_IS_UP, 1);
    let up = guest::vcpu_op(VCPUOP_IS_UP, 0);
    println!(
        "timers: period 1 us {}, single-shot in the past with FUTURE {}, vCPU 1 {}, vCPU 0 up {}",
        errname(short),
        errname(past),
        errname(no_vcpu),
        up.unwrap_or(0)
    );
    // Poll with a timeout on a port that never fires: returns 0 after the timeout.
    let ipi = events::bind_ipi().unwrap_or(0);
    // As Xen, poll also returns when any event becomes pending: poll again until the
    // timeout has passed (the port itself never fires).
    let t0 = time::now();
    let mut r = Ok(());
    while r.is_ok() && time::now() < t0 + 50 * MS {
        events::mask_upcalls();
        r = guest::sched_poll(&[EvtchnPort(ipi)], t0 + 50 * MS);
        events::unmask_upcalls();
    }
    let waited = (time::now() - t0) / MS;
    println!("timers: poll 50 ms: {} after {waited} ms", errname(r));
    let rs = guest::vcpu_runstate(0);
    if let Ok(rs) = rs {
        println!(
            "timers: runstate {} running {} ms blocked {} ms",
            rs.state,
            rs.time[RUNSTATE_RUNNING as usize] / MS,
            rs.time[RUNSTATE_BLOCKED as usize] / MS
        );
    }
}

fn timer_port() -> u32 {
    time::timer_port()
}

fn busy() {
    let half = 500 * MS;
    let mut next = (time::now() / half + 1) * half;
    let n = crate::smp::vcpu_count();
    loop {
        let now = time::now();
        if now >= next {
            let ran =
                |v: u32| guest::vcpu_runstate(v).map_or(0, |r| r.time[RUNSTATE_RUNNING as usize]);
            let all: u64 = (0..n).map(ran).sum();
            // The runstates are read at system time `at`, after the mark.
            let at = time::now();
            println!(
                "busy: mark {} ran {} us all {} us at {} us",
                next / half,
                ran(0) / 1000,
                all / 1000,
                at / 1000
            );
            next = (now / half + 1) * half;
        }
        for _ in 0..1000 {
            core::hint::spin_loop();
        }
    }
}

static SENT: AtomicU64 = AtomicU64::new(0);

fn flood() {
    let Ok(port) = events::bind_ipi() else {
        println!("flood: FAILED: bind_ipi");
        return;
    };
    events::set_handler(port, |_| {});
    println!("flood: flooding port {port}");
    loop {
        let _ = events::send(port);
        SENT.fetch_add(1, SeqCst);
    }
}
