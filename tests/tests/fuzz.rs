//! The hypercall fuzzer (`test=fuzz`): a million random hypercalls from a domU, with a canary
//! domU checking its memory throughout. Afterwards the hypervisor and dom0 must answer, the
//! canary's memory must be intact, nothing may have crashed but what the fuzzer did to
//! itself (nothing, by construction), and destroying both must give every frame back.
//! The seed is `$FUZZ_SEED` or the time; it is printed, and a failure names it.

use std::time::Duration;
use tests::steps::{
    boot, check_free_memory_back, create_and_wait_guest_line, list_with_healthy_dom0, run_ok,
};
use tests::test_name;

/// Calls the fuzzer makes in `cargo xtask test` (`cargo xtask soak` makes ten times more).
const CALLS: u64 = 1_000_000;

#[test]
fn a_million_random_hypercalls_leave_the_system_intact() {
    let seed = tests::canary::fuzz_seed();
    let mut sys = boot(&test_name!());
    let free_before = sys.free_memory();
    let (canary, _) = create_and_wait_guest_line(
        &mut sys,
        "domu.cfg name=canary extra=\"test=canary\"",
        "Hello from pv-guest domU",
    );
    let mark = sys.mark();
    let (fuzzer, _) = create_and_wait_guest_line(
        &mut sys,
        &format!("domu.cfg name=fuzz extra=\"test=fuzz seed={seed} count={CALLS}\""),
        &format!("fuzz: seed {seed}, {CALLS} calls"),
    );
    let done = format!("(d{fuzzer}) fuzz: done {CALLS} calls");
    if let Err(f) = sys.wait_line(mark, &done, Duration::from_secs(300)) {
        sys.fail(format!("seed {seed}: {}", f.msg));
    }
    let after = sys.mark();
    let crashes = sys.lines_since(mark, " crashed:");
    sys.check(
        crashes.is_empty(),
        format!("seed {seed}: a domain crashed: {crashes:?}"),
    );
    let rows = list_with_healthy_dom0(&mut sys);
    sys.check(
        rows.iter().any(|r| r.name == "fuzz") && rows.iter().any(|r| r.name == "canary"),
        format!("seed {seed}: both domUs must still be there: {rows:?}"),
    );
    tests::canary::check_intact(&mut sys, canary, mark, after, &format!("seed {seed}"));
    run_ok(&mut sys, "xl destroy fuzz");
    run_ok(&mut sys, "xl destroy canary");
    check_free_memory_back(
        &mut sys,
        free_before,
        "destroying the fuzzer and the canary",
    );
}
