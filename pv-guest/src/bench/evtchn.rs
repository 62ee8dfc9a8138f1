//! The event-channel round trip between two domUs, started by dom0 (`create::evtchn`):
//!
//! - `bench=evtchn-pong`: answers every event on a port other than its timer VIRQ by
//!   signalling the same port back, straight from the upcall, and otherwise blocks.
//! - `bench=evtchn-ping evtchn_peer=<pong> evtchn_port=<p> mode=<full|smoke>`: binds the port
//!   the toolstack allocated in the pong domain, then times rounds of "send, block until the
//!   answer's upcall ran": one sample per run, cycles per round trip, printed as
//!   `BENCH evtchn_roundtrip cycles ...`. One round trip is two `EVTCHNOP_send`s, two
//!   upcalls (bounce + `iret`), two blocks and two switches between the domains.

use super::{rdtsc, sizes, Sink, Why};
use crate::{cmdline, events, println, time};
use core::sync::atomic::{AtomicU64, Ordering::SeqCst};
use guest_abi::types::DomId;

/// Answers seen by the pinger.
static ANSWERS: AtomicU64 = AtomicU64::new(0);

fn answer(port: u32) {
    if port != time::timer_port() {
        let _ = events::send(port);
    }
}

/// `bench=evtchn-pong`: answer from now on (the caller idles).
pub fn pong() {
    events::set_default_handler(answer);
    println!("bench: evtchn-pong ready");
}

fn on_answer(_port: u32) {
    ANSWERS.fetch_add(1, SeqCst);
}

/// How long a run may take before the pong domain is declared silent.
const RUN_LIMIT_NS: u64 = 5_000_000_000;

/// How long a warm-up round waits for its answer.
const WARM_UP_WAIT_NS: u64 = 50_000_000;

/// Arms the one-shot timer that bounds the next run; returns its deadline.
fn arm() -> u64 {
    let deadline = time::now().saturating_add(RUN_LIMIT_NS);
    let _ = guest_abi::guest::set_timer_op(deadline);
    deadline
}

/// One round trip: send, then block until the answer arrived (or the run's deadline).
fn round_trip(port: u32, deadline: u64) -> Result<(), Why> {
    let want = ANSWERS.load(SeqCst) + 1;
    events::send(port)?;
    time::block_until(|| ANSWERS.load(SeqCst) >= want || time::now() >= deadline);
    if ANSWERS.load(SeqCst) >= want {
        Ok(())
    } else {
        Err(Why::Text("no-answer"))
    }
}

/// `bench=evtchn-ping`: measure and print the row.
pub fn ping(cmd: &str) {
    let smoke = cmdline::param(cmd, "mode") == Some("smoke");
    let (runs, iters) = sizes(smoke);
    let num = |k| cmdline::param(cmd, k).and_then(|v| v.parse::<u32>().ok());
    let (Some(peer), Some(remote)) = (num("evtchn_peer"), num("evtchn_port")) else {
        return Sink.unavailable("evtchn_roundtrip", "no-evtchn_peer");
    };
    let port = match events::bind_interdomain(DomId(peer as u16), remote, on_answer) {
        Ok(p) => p,
        Err(e) => return Sink.unavailable("evtchn_roundtrip", e.name()),
    };
    // The pong domain may not have installed its handler yet (an event it gets before that
    // is dropped): retry with a short deadline until 8 warm-up rounds got their answer.
    let mut ok = 0;
    for _ in 0..100 {
        let deadline = time::now().saturating_add(WARM_UP_WAIT_NS);
        let _ = guest_abi::guest::set_timer_op(deadline);
        if round_trip(port, deadline).is_ok() {
            ok += 1;
            if ok == 8 {
                break;
            }
        }
    }
    if ok < 8 {
        return Sink.unavailable("evtchn_roundtrip", "no-answer");
    }
    Sink.row("evtchn_roundtrip", runs, || {
        let deadline = arm();
        let t0 = rdtsc();
        for _ in 0..iters {
            round_trip(port, deadline)?;
        }
        Ok(super::workloads::per_iter(rdtsc() - t0, iters))
    });
    let _ = events::close(port);
}
