//! The credit scheduler: CPU-bound domUs get CPU in proportion to their weights, a cap holds,
//! a blocked domain uses no CPU (`xl list` Time(s) grows for busy domains only), and hostile
//! domUs (spinning, flooding events) cannot starve dom0's shell.

use std::collections::HashMap;
use std::time::{Duration, Instant};
use tests::steps::{boot, create_and_wait_guest_line, create_ok, row, xl_errors};
use tests::system::System;
use tests::test_name;
use tests::xl::domu_line;

/// (mark, CPU µs) reports of every busy domain since `since`, by domain id.
fn busy_reports(sys: &System, since: usize) -> HashMap<u32, Vec<(u64, u64)>> {
    let mut m: HashMap<u32, Vec<(u64, u64)>> = HashMap::new();
    for l in sys.lines_since(since, "busy: mark ") {
        let Some((id, t)) = domu_line(&l) else {
            continue;
        };
        let mut w = t.split_whitespace();
        let (Some(mark), Some(ran)) = (w.nth(2), w.nth(1)) else {
            continue;
        };
        if let (Ok(mark), Ok(ran)) = (mark.parse(), ran.parse()) {
            m.entry(id).or_default().push((mark, ran));
        }
    }
    m
}

/// Wait until every domain in `ids` reported mark `mark`; their CPU µs at that mark.
fn at_mark(sys: &mut System, since: usize, ids: &[u32], mark: u64) -> Vec<u64> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let r = busy_reports(sys, since);
        let got: Vec<Option<u64>> = ids
            .iter()
            .map(|id| {
                r.get(id)
                    .and_then(|v| v.iter().find(|(m, _)| *m == mark).map(|x| x.1))
            })
            .collect();
        if got.iter().all(Option::is_some) {
            return got.into_iter().flatten().collect();
        }
        if Instant::now() > deadline {
            sys.fail(format!(
                "not every busy domain {ids:?} reported mark {mark}: {r:?}"
            ));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The newest mark every domain in `ids` has reported.
fn latest_common_mark(sys: &mut System, since: usize, ids: &[u32]) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let r = busy_reports(sys, since);
        let newest = ids
            .iter()
            .map(|id| r.get(id).and_then(|v| v.last()).map(|x| x.0))
            .collect::<Option<Vec<u64>>>();
        if let Some(n) = newest {
            return n.into_iter().min().unwrap_or(0);
        }
        if Instant::now() > deadline {
            sys.fail(format!("busy domains {ids:?} do not report: {r:?}"));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A busy domain pinned to CPU 1 (`cpus=1`): the busy domains share that CPU, so their
/// weights and caps decide their shares (on a CPU each they would all get a whole one).
fn create_busy(sys: &mut System, name: &str) -> u32 {
    let (id, _) = create_and_wait_guest_line(
        sys,
        &format!("busy.cfg name={name} cpus=1"),
        "Hello from pv-guest domU",
    );
    id
}

fn sched_credit(sys: &mut System, args: &str) -> String {
    let cmd = format!("xl sched-credit {args}");
    let out = sys.run(&cmd);
    let errs = xl_errors(&out);
    sys.check(errs.is_empty(), format!("`{cmd}` failed: {errs:?}"));
    out
}

#[test]
fn weights_cap_and_blocked_domains() {
    let mut sys = boot(&test_name!());
    // A domain that only blocks.
    create_and_wait_guest_line(&mut sys, "domu.cfg", "Hello from pv-guest domU");
    let since = sys.mark();
    let ids: Vec<u32> = ["busy1", "busy2", "busy3"]
        .iter()
        .map(|n| create_busy(&mut sys, n))
        .collect();
    for (n, w) in [("busy1", 100), ("busy2", 200), ("busy3", 400)] {
        sched_credit(&mut sys, &format!("-d {n} -w {w}"));
    }
    let listing = sched_credit(&mut sys, "");
    for (n, w) in [
        ("Domain-0", 256),
        ("busy1", 100),
        ("busy2", 200),
        ("busy3", 400),
    ] {
        let ok = listing.lines().any(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            f.len() == 4 && f[0] == n && f[2] == w.to_string() && f[3] == "0"
        });
        sys.check(
            ok,
            format!("`xl sched-credit` does not show {n} weight {w} cap 0:\n{listing}"),
        );
    }
    // Let the weights settle, then measure over 3 s of system time.
    let start = latest_common_mark(&mut sys, since, &ids) + 2;
    let a = at_mark(&mut sys, since, &ids, start);
    // (The blocked domain's boot-time work, e.g. its XenStore handshake, is over by now.)
    let before = sys.xl_list();
    let b = at_mark(&mut sys, since, &ids, start + 6);
    let delta: Vec<f64> = a.iter().zip(&b).map(|(x, y)| (y - x) as f64).collect();
    let total: f64 = delta.iter().sum();
    sys.check(
        total > 2.0e6,
        format!("busy domains used only {total} µs of 3 s"),
    );
    for (i, want) in [1.0 / 7.0, 2.0 / 7.0, 4.0 / 7.0].iter().enumerate() {
        let share = delta[i] / total;
        sys.check(
            (share - want).abs() / want <= 0.10,
            format!(
                "weights 1:2:4: busy{} got {:.1}% of the CPU, want {:.1}% ± 10% ({delta:?} µs)",
                i + 1,
                share * 100.0,
                want * 100.0
            ),
        );
    }
    // `xl list` Time(s): the busy domains' grew, the blocked domain's did not.
    let after = sys.xl_list();
    let grew = |n: &str| {
        let t0 = row(&before, n).map_or(0.0, |r| r.time);
        let t1 = row(&after, n).map_or(0.0, |r| r.time);
        t1 - t0
    };
    sys.check(
        grew("busy3") >= 1.0,
        format!(
            "busy3's Time(s) grew by {} over 3 s at 4/7 of the CPU",
            grew("busy3")
        ),
    );
    sys.check(
        grew("domu") <= 0.05,
        format!(
            "the blocked domu's Time(s) grew by {}: {after:?}",
            grew("domu")
        ),
    );

    // A cap of 25% holds even when the CPU is otherwise free.
    sys.run("xl destroy busy2");
    sys.run("xl destroy busy3");
    sched_credit(&mut sys, "-d busy1 -w 256 -c 25");
    let one = [ids[0]];
    let start = latest_common_mark(&mut sys, since, &one) + 2;
    let a = at_mark(&mut sys, since, &one, start);
    let b = at_mark(&mut sys, since, &one, start + 6);
    let share = (b[0] - a[0]) as f64 / 3.0e6;
    sys.check(
        (0.20..=0.275).contains(&share),
        format!(
            "busy1 capped at 25% got {:.1}% of the CPU alone",
            share * 100.0
        ),
    );
    let shown = sched_credit(&mut sys, "-d busy1");
    sys.check(
        shown.lines().any(|l| {
            l.split_whitespace().collect::<Vec<_>>() == ["busy1", &ids[0].to_string(), "256", "25"]
        }),
        format!("`xl sched-credit -d busy1` does not show weight 256 cap 25:\n{shown}"),
    );
}

#[test]
fn sched_credit_refuses_out_of_range() {
    let mut sys = boot(&test_name!());
    for (args, mention) in [
        ("-d Domain-0 -w 0", "1 to 65535"),
        ("-d Domain-0 -w 70000", "1 to 65535"),
        // Up to one CPU's worth per CPU: the machine has four.
        (
            "-d Domain-0 -c 401",
            "0 (none) to 400 (percent of the host's 4 CPUs)",
        ),
        ("-w 5", "-d"),
    ] {
        let out = sys.run(&format!("xl sched-credit {args}"));
        let errs = xl_errors(&out);
        sys.check(
            errs.len() == 1 && errs[0].contains(mention),
            format!("`xl sched-credit {args}`: want an error naming {mention:?}, got {out:?}"),
        );
    }
    let listing = sched_credit(&mut sys, "-d 0");
    sys.check(
        listing
            .lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["Domain-0", "0", "256", "0"]),
        format!("weights changed by refused commands:\n{listing}"),
    );
}

#[test]
fn hostile_domus_cannot_starve_dom0() {
    let mut sys = boot(&test_name!());
    let m = sys.mark();
    create_ok(&mut sys, "spin.cfg");
    create_ok(&mut sys, "flood.cfg");
    sys.wait_line(m, "flood: flooding port", Duration::from_secs(30))
        .unwrap_or_else(|f| sys.fail(f));
    for _ in 0..5 {
        let t0 = Instant::now();
        let rows = sys.xl_list();
        for n in ["spin", "flood"] {
            match row(&rows, n) {
                Some(r) => sys.check(!r.is_dead(), format!("{n} died: {:?}", r.state)),
                None => sys.fail(format!("{n} is missing from `xl list`: {rows:?}")),
            }
        }
        sys.check(
            t0.elapsed() < Duration::from_secs(5),
            format!("dom0 took {:?} to answer `xl list`", t0.elapsed()),
        );
    }
    let out = sys.run("echo still here");
    sys.check(out.contains("still here"), format!("dom0's echo: {out:?}"));
    // The hostile domains did run: they used CPU (poll: spin only starts spinning after its
    // boot handshake, and a loaded host may delay it).
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let rows = sys.xl_list();
        let spin = row(&rows, "spin").map_or(0.0, |r| r.time);
        if spin > 0.0 {
            break;
        }
        if Instant::now() > deadline {
            sys.fail(format!("spin used no CPU in 20 s: {rows:?}"));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn config_cpu_weight_and_cap_apply_at_create() {
    let mut sys = boot(&test_name!());
    create_and_wait_guest_line(
        &mut sys,
        "domu.cfg cpu_weight=512 cap=30",
        "Hello from pv-guest domU",
    );
    create_ok(&mut sys, "domu.cfg name=plain");
    let listing = sched_credit(&mut sys, "");
    for want in [["domu", "1", "512", "30"], ["plain", "2", "256", "0"]] {
        sys.check(
            listing
                .lines()
                .any(|l| l.split_whitespace().collect::<Vec<_>>() == want),
            format!("`xl sched-credit` does not show {want:?}:\n{listing}"),
        );
    }
    // A cap above what the host's CPUs give: refused, nothing left behind, the error names
    // the value and the range.
    tests::steps::create_refused(
        &mut sys,
        "domu.cfg name=over cap=500",
        &["cap = 500", "0 to 400"],
    );
}
