//! Multi-vCPU PV guests: a pv-guest domU with `vcpus = 4` in `test=smp` brings its other
//! vCPUs up (VCPUOP_initialise + VCPUOP_up), each with its own timer and IPI port, passes an
//! IPI around the ring and works on every vCPU; the hostile cases get Xen's errnos; the
//! toolstack sees four vCPUs (`xl list`, `xl vcpu-list`).

use std::time::{Duration, Instant};
use tests::steps::{
    boot, check_free_memory_back, create_ok, list_with_healthy_dom0, row, xl_errors,
};
use tests::test_name;
use tests::xl::domu_line;

const T: Duration = Duration::from_secs(60);

/// The number after `key` in `text` (up to the next space or comma).
fn num_after(text: &str, key: &str) -> Option<u64> {
    text.split(key)
        .nth(1)?
        .split([' ', ','])
        .find(|s| !s.is_empty())?
        .parse()
        .ok()
}

#[test]
fn smp_guest_runs_every_vcpu() {
    let mut sys = boot(&test_name!());
    let free_before = sys.free_memory();
    let m = sys.mark();
    create_ok(
        &mut sys,
        // vCPUs 0 and 1 each alone on a CPU: the stale-TLB attack needs vCPU 1's CPU to keep
        // its TLB (no switch) while vCPU 0 pins the page it writes.
        "domu.cfg name=smp vcpus=4 cpus=[\"1\",\"2\",\"3\",\"3\"] extra=\"test=smp rounds=10\"",
    );
    let verdict = sys
        .wait_line_where(m, "(dN) smp: PASSED / FAILED", T, |l| {
            domu_line(l)
                .is_some_and(|(_, t)| t.starts_with("smp: PASSED") || t.starts_with("smp: FAILED"))
        })
        .unwrap_or_else(|f| sys.fail(f));
    let (id, verdict) = domu_line(&verdict).expect("a domU line");
    let verdict = verdict.to_string();
    let guest: Vec<String> = sys
        .lines_since(m, "smp: ")
        .iter()
        .filter_map(|l| {
            domu_line(l)
                .filter(|(d, _)| *d == id)
                .map(|x| x.1.to_string())
        })
        .collect();
    sys.check(
        guest.iter().any(|l| l == "smp: 4 vCPUs, vCPU 0 up"),
        format!("the guest did not find its 4 vCPUs: {guest:#?}"),
    );
    // Every hostile case answered as Xen answers.
    let hostile: Vec<&String> = guest
        .iter()
        .filter(|l| l.starts_with("smp: hostile:"))
        .collect();
    sys.check(
        hostile.len() >= 14,
        format!("want every hostile case reported: {hostile:#?}"),
    );
    for l in &hostile {
        let (got, want) = l
            .rsplit_once(" (want ")
            .map(|(a, w)| (a.rsplit(": ").next().unwrap_or(""), w.trim_end_matches(')')))
            .unwrap_or(("", "?"));
        sys.check(got == want, format!("hostile case answered wrong: {l}"));
    }
    // One line per vCPU: its own ports, timer ticks, IPIs and work.
    for v in 0..4 {
        let Some(l) = guest
            .iter()
            .find(|l| l.starts_with(&format!("smp: vcpu {v}: ")))
        else {
            sys.fail(format!("no report of vCPU {v}: {guest:#?}"))
        };
        let ticks = num_after(l, "ticks ").unwrap_or(0);
        let got = num_after(l, " got ").unwrap_or(0);
        let work = num_after(l, "work ").unwrap_or(0);
        sys.check(
            ticks >= 5 && got >= 10 && work >= 5,
            format!("vCPU {v} did not tick, get its IPIs and work: {l}"),
        );
        if v > 0 {
            let ran = num_after(l, "ran ").unwrap_or(0);
            sys.check(ran > 0, format!("vCPU {v} never ran: {l}"));
        }
    }
    sys.check(
        guest
            .iter()
            .any(|l| l == "smp: vCPU 3 down OK: is_up 0; up OK: is_up 1"),
        format!("vCPU 3 down and up again: {guest:#?}"),
    );
    // A page vCPU 1's CPU still cached writable became a page table: its next write faulted.
    sys.check(
        guest
            .iter()
            .any(|l| l.starts_with("smp: stale TLB: ok: pin held")),
        format!(
            "the stale-TLB attack: {:?}",
            guest.iter().find(|l| l.starts_with("smp: stale TLB"))
        ),
    );
    sys.check(
        verdict == "smp: PASSED: 4 vCPUs, 40 IPIs around the ring, every vCPU ticked and worked",
        format!("the guest's verdict: {verdict}"),
    );
    // The toolstack's view: four vCPUs, each with a row of its own.
    let rows = list_with_healthy_dom0(&mut sys);
    let Some(smp) = row(&rows, "smp").cloned() else {
        sys.fail(format!("`xl list` has no smp row: {rows:?}"))
    };
    sys.check(
        smp.vcpus == 4,
        format!("xl list: smp has {} vCPUs", smp.vcpus),
    );
    let out = sys.run("xl vcpu-list smp");
    let vcpus: Vec<Vec<&str>> = out
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .filter(|f| f.first() == Some(&"smp"))
        .collect();
    sys.check(
        vcpus.len() == 4,
        format!("`xl vcpu-list smp` wants 4 rows:\n{out}"),
    );
    for (i, f) in vcpus.iter().enumerate() {
        sys.check(
            f.get(1) == Some(&id.to_string().as_str())
                && f.get(2) == Some(&i.to_string().as_str())
                && f.get(3)
                    .and_then(|c| c.parse::<u32>().ok())
                    .is_some_and(|c| c < 4)
                && f.get(4).is_some_and(|s| *s != "---"),
            format!(
                "`xl vcpu-list` row {i} is not vCPU {i} of domain {id}, online on one of the 4 \
                 CPUs: {f:?}\n{out}"
            ),
        );
    }
    let out = sys.run("xl destroy smp");
    let errs = xl_errors(&out);
    sys.check(errs.is_empty(), format!("`xl destroy smp`: {errs:?}"));
    let deadline = Instant::now() + Duration::from_secs(10);
    while row(&list_with_healthy_dom0(&mut sys), "smp").is_some() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_secs(1));
    }
    check_free_memory_back(&mut sys, free_before, "destroying the 4-vCPU domain");
}
