//! vCPUs on every processor (`-smp 4`): CPU-bound domUs run at once on different CPUs while
//! dom0 answers, hard affinity (`cpus=` at create, `xl vcpu-pin`) decides where a vCPU may
//! run and holds under load, and domains running on other CPUs are destroyed cleanly.

use std::time::{Duration, Instant};
use tests::steps::{create_and_wait_guest_line, run_ok};
use tests::system::System;
use tests::test_name;

/// One `xl vcpu-list` row: (name, vCPU, CPU or None for "-", state).
fn vcpu_rows(sys: &mut System) -> Vec<(String, u32, Option<u32>, String)> {
    let out = run_ok(sys, "xl vcpu-list");
    out.lines()
        .filter_map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            if w.len() < 6 || w[0] == "Name" {
                return None;
            }
            Some((
                w[0].to_string(),
                w[2].parse().ok()?,
                w[3].parse().ok(),
                w[4].to_string(),
            ))
        })
        .collect()
}

fn create_busy(sys: &mut System, args: &str) -> u32 {
    create_and_wait_guest_line(sys, &format!("busy.cfg {args}"), "Hello from pv-guest domU").0
}

/// Polls `xl vcpu-list` (up to 20 s) until `ok` holds for its rows; fails with the last rows.
fn wait_rows(
    sys: &mut System,
    what: &str,
    ok: impl Fn(&[(String, u32, Option<u32>, String)]) -> bool,
) -> Vec<(String, u32, Option<u32>, String)> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let rows = vcpu_rows(sys);
        if ok(&rows) {
            return rows;
        }
        if Instant::now() > deadline {
            sys.fail(format!("{what}: `xl vcpu-list` rows {rows:?}"));
        }
        std::thread::sleep(Duration::from_millis(300));
    }
}

#[test]
fn busy_domus_run_at_once_on_different_cpus_while_dom0_answers() {
    let mut sys = tests::steps::boot(&test_name!());
    let names = ["b1", "b2", "b3"];
    for n in names {
        create_busy(&mut sys, &format!("name={n}"));
    }
    // Three CPU-bound vCPUs and dom0 (running `xl`) on four CPUs: all four run at once,
    // each on its own CPU, and at least two of the busy ones away from CPU 0.
    // (Polled: guests' console lines may break a row of the listing now and then.)
    let running_cpus = |rows: &[(String, u32, Option<u32>, String)]| -> Vec<u32> {
        rows.iter()
            .filter(|r| r.3.starts_with('r'))
            .filter_map(|r| r.2)
            .collect()
    };
    wait_rows(
        &mut sys,
        "the busy vCPUs and dom0 never ran at once, each on its own CPU",
        |rows| {
            let busy = rows
                .iter()
                .filter(|r| names.contains(&r.0.as_str()) && r.3.starts_with('r'))
                .count();
            let mut cpus = running_cpus(rows);
            let n = cpus.len();
            cpus.sort();
            cpus.dedup();
            busy == 3 && n == 4 && cpus.len() == 4
        },
    );
    // dom0's shell answers while three CPUs are saturated.
    let out = sys.run("echo still-here");
    sys.check(out.contains("still-here"), format!("dom0 echo: {out:?}"));
    // Five busy domUs on four CPUs: never more vCPUs running than CPUs, never two on one
    // CPU, and dom0 still answers.
    for n in ["b4", "b5"] {
        create_busy(&mut sys, &format!("name={n}"));
    }
    for _ in 0..5 {
        let rows = vcpu_rows(&mut sys);
        let mut cpus: Vec<u32> = rows
            .iter()
            .filter(|r| r.3.starts_with('r'))
            .filter_map(|r| r.2)
            .collect();
        let n = cpus.len();
        cpus.sort();
        cpus.dedup();
        sys.check(
            n <= 4 && cpus.len() == n && cpus.iter().all(|&c| c < 4),
            format!("{n} vCPUs running on CPUs {cpus:?} of 4: {rows:?}"),
        );
    }
    let out = sys.run("echo answers-when-oversubscribed");
    sys.check(
        out.contains("answers-when-oversubscribed"),
        format!("dom0 echo with five busy domUs: {out:?}"),
    );
    for n in ["b4", "b5"] {
        run_ok(&mut sys, &format!("xl destroy {n}"));
    }
    for n in names {
        run_ok(&mut sys, &format!("xl destroy {n}"));
    }
    let left = vcpu_rows(&mut sys);
    sys.check(
        left.iter().all(|r| r.0 == "Domain-0"),
        format!("after destroying them: {left:?}"),
    );
}

#[test]
fn hard_affinity_decides_where_a_vcpu_runs_and_holds_under_load() {
    let mut sys = tests::steps::boot(&test_name!());
    let free_before = sys.free_memory();
    // Pinned at create: p2 on CPU 2.
    create_busy(&mut sys, "name=p2 cpus=2");
    // Two more busy domains pinned together on CPU 1: they share it.
    create_busy(&mut sys, "name=s1 cpus=1");
    create_busy(&mut sys, "name=s2 cpus=1");
    let on = |rows: &[(String, u32, Option<u32>, String)], name: &str| {
        rows.iter().find(|r| r.0 == name).and_then(|r| r.2)
    };
    let rows = wait_rows(&mut sys, "p2 never ran on CPU 2", |rows| {
        on(rows, "p2") == Some(2)
    });
    for _ in 0..5 {
        let rows = vcpu_rows(&mut sys);
        sys.check(
            on(&rows, "p2") == Some(2) && on(&rows, "s1") == Some(1) && on(&rows, "s2") == Some(1),
            format!("pinned vCPUs left their CPUs: {rows:?}"),
        );
        let both = rows
            .iter()
            .filter(|r| (r.0 == "s1" || r.0 == "s2") && r.3.starts_with('r'))
            .count();
        sys.check(
            both <= 1,
            format!("s1 and s2 share CPU 1 but ran at once: {rows:?}"),
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // `xl vcpu-pin` moves p2 to CPU 3 while it runs.
    run_ok(&mut sys, "xl vcpu-pin p2 0 3");
    wait_rows(&mut sys, "p2 did not move to CPU 3", |rows| {
        on(rows, "p2") == Some(3)
    });
    for _ in 0..3 {
        let rows = vcpu_rows(&mut sys);
        sys.check(
            on(&rows, "p2") == Some(3),
            format!("p2 pinned to CPU 3 ran elsewhere: {rows:?}"),
        );
    }
    sys.check(
        rows.iter().any(|r| r.0 == "p2"),
        "p2 missing from xl vcpu-list",
    );
    // Destroyed while they run on CPUs 1 and 3: everything comes back.
    for n in ["p2", "s1", "s2"] {
        run_ok(&mut sys, &format!("xl destroy {n}"));
    }
    tests::steps::check_free_memory_back(&mut sys, free_before, "destroying three running domains");
}

#[test]
fn soft_affinity_places_a_vcpu_on_an_idle_cpu_it_prefers() {
    let mut sys = tests::steps::boot(&test_name!());
    create_busy(&mut sys, "name=soft cpus_soft=2");
    let on = |rows: &[(String, u32, Option<u32>, String)]| {
        rows.iter().find(|r| r.0 == "soft").and_then(|r| r.2)
    };
    wait_rows(
        &mut sys,
        "the vCPU preferring CPU 2 never ran there",
        |rows| on(rows) == Some(2),
    );
    // It stays there while CPU 2 is free. Soft affinity is a preference: while the vCPU
    // briefly blocks (its console output waits), dom0 may run on CPU 2 (it runs this very
    // `xl vcpu-list`), and then the vCPU rightly runs elsewhere.
    for _ in 0..5 {
        let rows = vcpu_rows(&mut sys);
        let cpu2_taken = rows
            .iter()
            .any(|r| r.0 != "soft" && r.2 == Some(2) && r.3.contains('r'));
        sys.check(
            on(&rows) == Some(2) || cpu2_taken,
            format!("the vCPU preferring CPU 2 left it while CPU 2 was free: {rows:?}"),
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    run_ok(&mut sys, "xl destroy soft");
}
