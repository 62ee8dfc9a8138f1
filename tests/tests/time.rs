//! Virtual time: a guest sleeping through the one-shot timer wakes within a loose window;
//! the periodic and single-shot vcpu_op timers, poll with a timeout, runstate.

use std::time::Duration;
use tests::steps::{boot, create_ok};
use tests::system::System;
use tests::test_name;
use tests::xl::domu_line;

const T: Duration = Duration::from_secs(30);

fn lines(sys: &mut System, since: usize, prefix: &str, n: usize) -> Vec<String> {
    let r = sys.wait_line_where(since, prefix, T, |_| true);
    if let Err(f) = r {
        sys.fail(f);
    }
    let deadline = std::time::Instant::now() + T;
    loop {
        let got: Vec<String> = sys
            .lines_since(since, prefix)
            .iter()
            .filter_map(|l| domu_line(l).map(|(_, t)| t.to_string()))
            .filter(|t| t.starts_with(prefix))
            .collect();
        if got.len() >= n || std::time::Instant::now() > deadline {
            return got;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The number after `key` in `text` (up to the next space), as f64.
fn num_after(text: &str, key: &str) -> Option<f64> {
    text.split(key)
        .nth(1)?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

#[test]
fn guest_sleep_wakes_in_window() {
    let mut sys = boot(&test_name!());
    let m = sys.mark();
    create_ok(&mut sys, "sleep.cfg extra=\"test=sleep ms=200 n=3\"");
    let got = lines(&mut sys, m, "sleep: asked 200 ms, slept", 3);
    sys.check(got.len() == 3, format!("want 3 sleep reports, got {got:?}"));
    for l in &got {
        let slept = num_after(l, "slept").unwrap_or(-1.0);
        // Never early; late by at most a loose margin (a noisy host).
        sys.check(
            (200.0..400.0).contains(&slept),
            format!("a 200 ms sleep took {slept} ms: {l}"),
        );
    }
}

#[test]
fn vcpu_timers_poll_and_runstate() {
    let mut sys = boot(&test_name!());
    let m = sys.mark();
    create_ok(&mut sys, "timers.cfg");
    let l = lines(&mut sys, m, "timers: periodic", 1)
        .pop()
        .unwrap_or_default();
    let ticks = num_after(&l, "OK (").unwrap_or(0.0);
    sys.check(
        l.starts_with("timers: periodic 10 ms: OK") && (5.0..=12.0).contains(&ticks),
        format!("a 10 ms periodic timer over 100 ms: {l}"),
    );
    let l = lines(&mut sys, m, "timers: period 1 us", 1)
        .pop()
        .unwrap_or_default();
    sys.check(
        l == "timers: period 1 us EINVAL, single-shot in the past with FUTURE ETIME, vCPU 1 ENOENT, vCPU 0 up 1",
        format!("timer error cases: {l}"),
    );
    let l = lines(&mut sys, m, "timers: poll 50 ms", 1)
        .pop()
        .unwrap_or_default();
    let waited = num_after(&l, "after").unwrap_or(-1.0);
    sys.check(
        l.starts_with("timers: poll 50 ms: OK") && (50.0..200.0).contains(&waited),
        format!("poll with a 50 ms timeout: {l}"),
    );
    let l = lines(&mut sys, m, "timers: runstate", 1)
        .pop()
        .unwrap_or_default();
    let blocked = num_after(&l, "blocked").unwrap_or(0.0);
    sys.check(
        l.starts_with("timers: runstate 0 running") && blocked >= 100.0,
        format!("runstate after sleeping ~150 ms: {l}"),
    );
}
