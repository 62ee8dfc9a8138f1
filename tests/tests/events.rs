//! Event channels: two domUs ping-pong over an interdomain channel the toolstack set up
//! (`evtchn_peer=<domid>` → a port allocated in the peer for the new domain, passed as
//! `evtchn_port=`); destroying one side leaves the other's port unbound; the per-domain
//! port limit and the error cases.

use std::time::Duration;
use tests::steps::{boot, create_and_wait_guest_line, create_ok};
use tests::system::System;
use tests::test_name;
use tests::xl::domu_line;

const T: Duration = Duration::from_secs(30);

/// Wait for a console line of domain `id` starting with `prefix`; returns the text after
/// the `(dN) ` prefix.
fn line(sys: &mut System, since: usize, id: u32, prefix: &str) -> String {
    let what = format!("(d{id}) {prefix}...");
    match sys.wait_line_where(since, &what, T, |l| {
        domu_line(l).is_some_and(|(d, t)| d == id && t.starts_with(prefix))
    }) {
        Ok(l) => domu_line(&l)
            .map(|(_, t)| t.to_string())
            .unwrap_or_default(),
        Err(f) => sys.fail(f),
    }
}

#[test]
fn interdomain_ping_pong() {
    let mut sys = boot(&test_name!());
    let (pong, _) = create_and_wait_guest_line(&mut sys, "evtchn-pong.cfg", "evtchn-pong: ready");
    let m = sys.mark();
    let out = create_ok(
        &mut sys,
        &format!("evtchn-ping.cfg extra=\"test=evtchn-ping rounds=1000 evtchn_peer={pong}\""),
    );
    let ping: u32 = out
        .split("(id=")
        .nth(1)
        .and_then(|s| s.split(')').next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| sys.fail(format!("no domain id in `xl create` output: {out}")));
    let hello = line(&mut sys, m, ping, "Hello from pv-guest domU");
    sys.check(
        hello.contains(&format!("evtchn_peer={pong} evtchn_port=")),
        format!("the toolstack did not pass the port on the command line: {hello}"),
    );
    let bound = line(&mut sys, m, ping, "evtchn-ping: port");
    sys.check(
        bound.contains(&format!("bound to d{pong} port")),
        format!("ping's port is not bound to the pong domain: {bound}"),
    );
    let done = line(&mut sys, m, ping, "evtchn-ping: ");
    let done = if done.starts_with("evtchn-ping: port") {
        line(&mut sys, m, ping, "evtchn-ping: 1000 round trips")
    } else {
        done
    };
    sys.check(
        done.starts_with(&format!("evtchn-ping: 1000 round trips with d{pong}")),
        format!("want 1000 round trips, got: {done}"),
    );
    let answered = line(&mut sys, m, pong, "evtchn-pong: answered");
    sys.check(
        answered == "evtchn-pong: answered 1000 events",
        format!("pong answered a different count: {answered}"),
    );
    let closed = line(&mut sys, m, ping, "evtchn-ping: closed port");
    sys.check(
        closed.ends_with(": OK"),
        format!("closing failed: {closed}"),
    );
    // Both domains are still healthy, and dom0 answers.
    let rows = sys.xl_list();
    for name in ["evtchn-pong", "evtchn-ping"] {
        match rows.iter().find(|r| r.name == name) {
            Some(r) => sys.check(!r.is_dead(), format!("{name} is {:?}", r.state)),
            None => sys.fail(format!("{name} is missing from `xl list`: {rows:?}")),
        }
    }
}

#[test]
fn port_limit_and_errors() {
    let mut sys = boot(&test_name!());
    let m = sys.mark();
    create_ok(&mut sys, "evtchn-limits.cfg");
    let l = sys
        .wait_line(m, "evtchn-limits: ", T)
        .unwrap_or_else(|f| sys.fail(f));
    let (id, text) = domu_line(&l).unwrap_or((0, ""));
    // The toolstack created 1023 as the limit; store, console and VIRQ_TIMER took 3 ports.
    sys.check(
        text == "evtchn-limits: 1020 more ports (highest 1023), then ENOSPC",
        format!("want 1020 more ports up to 1023 then ENOSPC, got: {text}"),
    );
    let log = sys
        .wait_line(m, &format!("d{id}: event channel ports exhausted"), T)
        .unwrap_or_else(|f| sys.fail(f));
    sys.check(
        log.contains("max_evtchn_port = 1023"),
        format!("the hypervisor log does not name the limit: {log}"),
    );
    let again = line(&mut sys, m, id, "evtchn-limits: close");
    sys.check(
        again == "evtchn-limits: close 1023: OK, reallocated: port 1023",
        format!("closing and reallocating: {again}"),
    );
    let errs = line(&mut sys, m, id, "evtchn-errors:");
    sys.check(
        errs == "evtchn-errors: send closed EINVAL, send out of range EINVAL, bind_virq twice EEXIST, bind_virq 99 EINVAL, status of d0 EPERM, bind to a port not offered EINVAL",
        format!("error cases: {errs}"),
    );
    let rows = sys.xl_list();
    sys.check(
        rows.iter().any(|r| r.id == id && !r.is_dead()),
        format!("evtchn-limits is not alive after its tests: {rows:?}"),
    );
}
