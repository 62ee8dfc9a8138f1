//! Hostile guests on several processors at once: three hypercall fuzzers (different seeds),
//! a 4-vCPU guest sending IPIs around its vCPUs and a canary checking its memory run side by
//! side on the four CPUs. Everything is contained: no domain crashes, the canary's memory
//! stays intact, dom0 answers, nothing deadlocks, and destroying them all gives every frame
//! back.

use std::time::Duration;
use tests::steps::{
    boot, check_free_memory_back, create_and_wait_guest_line, list_with_healthy_dom0, run_ok,
};
use tests::test_name;

/// Calls each fuzzer makes.
const CALLS: u64 = 200_000;

#[test]
fn fuzzers_and_an_smp_guest_on_every_cpu_leave_the_system_intact() {
    let seed = tests::canary::fuzz_seed();
    let mut sys = boot(&test_name!());
    let free_before = sys.free_memory();
    let (canary, _) = create_and_wait_guest_line(
        &mut sys,
        "domu.cfg name=canary extra=\"test=canary\"",
        "Hello from pv-guest domU",
    );
    let mark = sys.mark();
    let mut fuzzers = Vec::new();
    for i in 0..3u64 {
        let s = seed + i;
        let (id, _) = create_and_wait_guest_line(
            &mut sys,
            &format!("domu.cfg name=fuzz{i} extra=\"test=fuzz seed={s} count={CALLS}\""),
            &format!("fuzz: seed {s}, {CALLS} calls"),
        );
        fuzzers.push(id);
    }
    // The SMP guest's IPI ring runs while the fuzzers do.
    let (smp, _) = create_and_wait_guest_line(
        &mut sys,
        "domu.cfg name=smp vcpus=4 extra=\"test=smp\"",
        "smp: 4 vCPUs",
    );
    for id in &fuzzers {
        let done = format!("(d{id}) fuzz: done {CALLS} calls");
        if let Err(f) = sys.wait_line(mark, &done, Duration::from_secs(300)) {
            sys.fail(format!("seeds {seed}..: {}", f.msg));
        }
    }
    if let Err(f) = sys.wait_line(
        mark,
        &format!("(d{smp}) smp: PASSED"),
        Duration::from_secs(120),
    ) {
        sys.fail(format!("the SMP guest next to the fuzzers: {}", f.msg));
    }
    let after = sys.mark();
    let crashes = sys.lines_since(mark, " crashed:");
    sys.check(
        crashes.is_empty(),
        format!("seeds {seed}..: a domain crashed: {crashes:?}"),
    );
    let rows = list_with_healthy_dom0(&mut sys);
    for n in ["fuzz0", "fuzz1", "fuzz2", "canary", "smp"] {
        sys.check(
            rows.iter().any(|r| r.name == n),
            format!("seeds {seed}..: {n} must still be there: {rows:?}"),
        );
    }
    tests::canary::check_intact(&mut sys, canary, mark, after, &format!("seeds {seed}.."));
    for n in ["fuzz0", "fuzz1", "fuzz2", "smp", "canary"] {
        run_ok(&mut sys, &format!("xl destroy {n}"));
    }
    check_free_memory_back(
        &mut sys,
        free_before,
        "destroying the fuzzers, the SMP guest and the canary",
    );
}
