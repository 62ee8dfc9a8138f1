//! Races Xen has had, run on several processors: a grantee maps, touches and unmaps a grant
//! in a tight loop on one CPU while dom0, on another, destroys the granter (the grantee only
//! sees its maps refused from then on); two domains ping-pong on an interdomain channel
//! while dom0 destroys one of them, closing the channel under the other's sends (the
//! sender only misses its answers). Never a crash, and destroying everything gives every
//! frame back.

use std::time::Duration;
use tests::steps::{
    boot, check_free_memory_back, create_and_wait_guest_line, create_ok, list_with_healthy_dom0,
    run_ok,
};
use tests::test_name;

/// (rounds, mapped, refused) of each `grant-churn:` report since `since`.
fn churn_reports(sys: &tests::System, since: usize) -> Vec<(u64, u64, u64)> {
    sys.lines_since(since, "grant-churn: ")
        .iter()
        .filter_map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            let at = w.iter().position(|x| *x == "grant-churn:")?;
            Some((
                w.get(at + 1)?.parse().ok()?,
                w.get(at + 3)?.parse().ok()?,
                w.get(at + 5)?.parse().ok()?,
            ))
        })
        .collect()
}

#[test]
fn grant_mapping_racing_with_the_granters_destruction() {
    let mut sys = boot(&test_name!());
    let free_before = sys.free_memory();
    let mark = sys.mark();
    // Fresh boot: the granter is domain 1, the grantee domain 2.
    create_ok(
        &mut sys,
        "domu.cfg name=granter extra=\"test=grant-offer peer=2\"",
    );
    create_ok(
        &mut sys,
        "domu.cfg name=churn extra=\"test=grant-churn peer=1\"",
    );
    // The churn maps the grant while the granter lives.
    sys.wait_line_where(
        mark,
        "a churn report with maps",
        Duration::from_secs(60),
        |l| l.contains("grant-churn: ") && !l.contains(" 0 mapped"),
    )
    .unwrap_or_else(|f| sys.fail(f.msg));
    let before = churn_reports(&sys, mark);
    let mapped_before = before.last().map_or(0, |r| r.1);
    sys.check(mapped_before > 0, format!("no map worked: {before:?}"));
    // Destroyed while the churn maps it from another CPU.
    let destroy = sys.mark();
    run_ok(&mut sys, "xl destroy granter");
    // The churn goes on, every map refused now.
    let after_destroy = sys.mark();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while churn_reports(&sys, after_destroy).len() < 2 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
    }
    let after = churn_reports(&sys, after_destroy);
    sys.check(
        after.len() >= 2,
        format!("the churn stopped reporting after the granter went: {after:?}"),
    );
    if let [.., a, b] = after.as_slice() {
        sys.check(
            b.1 == a.1 && b.2 > a.2,
            format!("maps of a destroyed granter's grant still worked: {a:?} then {b:?}"),
        );
    }
    let crashes = sys.lines_since(destroy, " crashed:");
    sys.check(crashes.is_empty(), format!("a domain crashed: {crashes:?}"));
    let rows = list_with_healthy_dom0(&mut sys);
    sys.check(
        rows.iter().any(|r| r.name == "churn") && !rows.iter().any(|r| r.name == "granter"),
        format!("want the churn alive and the granter gone: {rows:?}"),
    );
    run_ok(&mut sys, "xl destroy churn");
    check_free_memory_back(
        &mut sys,
        free_before,
        "destroying the granter mid-churn and the churn",
    );
}

#[test]
fn event_channel_sends_racing_with_the_peers_destruction() {
    let mut sys = boot(&test_name!());
    let free_before = sys.free_memory();
    let (pong, _) = create_and_wait_guest_line(
        &mut sys,
        "evtchn-pong.cfg extra=\"test=evtchn-pong rounds=100000000\"",
        "evtchn-pong: ready",
    );
    let m = sys.mark();
    create_ok(
        &mut sys,
        &format!("evtchn-ping.cfg extra=\"test=evtchn-ping rounds=100000000 evtchn_peer={pong}\""),
    );
    sys.wait_line(m, "evtchn-ping: port", Duration::from_secs(60))
        .unwrap_or_else(|f| sys.fail(f.msg));
    // Let the round trips run on their CPUs, then close the channel under them.
    std::thread::sleep(Duration::from_millis(1500));
    let destroy = sys.mark();
    run_ok(&mut sys, "xl destroy evtchn-pong");
    sys.wait_line_where(
        destroy,
        "the ping noticing its peer went",
        Duration::from_secs(60),
        |l| l.contains("evtchn-ping: FAILED: no pong") || l.contains("evtchn-ping: FAILED: send"),
    )
    .unwrap_or_else(|f| sys.fail(f.msg));
    let crashes = sys.lines_since(m, " crashed:");
    sys.check(crashes.is_empty(), format!("a domain crashed: {crashes:?}"));
    let rows = list_with_healthy_dom0(&mut sys);
    sys.check(
        rows.iter().any(|r| r.name == "evtchn-ping")
            && !rows.iter().any(|r| r.name == "evtchn-pong"),
        format!("want the ping alive and the pong gone: {rows:?}"),
    );
    run_ok(&mut sys, "xl destroy evtchn-ping");
    check_free_memory_back(
        &mut sys,
        free_before,
        "destroying both ends of a busy channel",
    );
}
