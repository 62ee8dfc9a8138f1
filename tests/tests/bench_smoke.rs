//! The benchmark's building blocks in a normal boot: the hypervisor's `bench=smoke` floor
//! line, and a domU's `bench=workloads` and `bench=first` modes started from the dom0 shell.
//! Only shape and sanity are checked (samples present, positive): never a time.

use std::time::Duration;
use tests::steps::xl_errors;
use tests::{test_name, BootOptions, OrFail, System, BOOT_TIMEOUT};

/// The comma-separated samples of a `BENCH <row> cycles ...` line, if it is one for `row`.
fn samples(line: &str, row: &str) -> Option<Vec<f64>> {
    let at = line.find("BENCH ")?;
    let mut w = line[at + 6..].split_whitespace();
    if w.next()? != row || w.next()? != "cycles" {
        return None;
    }
    w.next()?.split(',').map(|s| s.parse().ok()).collect()
}

#[test]
fn bench_floor_and_guest_modes_report_samples() {
    let mut sys = System::boot(BootOptions::new(&test_name!()).cmdline("bench=smoke"));
    let floor = sys
        .wait_line(0, "BENCH floor_syscall_sysret", BOOT_TIMEOUT)
        .or_fail();
    let f = samples(&floor, "floor_syscall_sysret");
    sys.check(
        floor.starts_with("(XEN) ")
            && f.as_ref()
                .is_some_and(|v| v.len() == 3 && v.iter().all(|&c| c > 0.0)),
        format!("want `(XEN) BENCH floor_syscall_sysret cycles a,b,c` (3 positive), got {floor:?}"),
    );
    sys.expect_prompt().or_fail();

    // The PV workloads in a domU: three rows of three positive samples, then it powers off.
    let mark = sys.mark();
    let out = sys.run("xl create /etc/xen/domu.cfg name=bw \"extra=bench=workloads mode=smoke\"");
    sys.check(
        xl_errors(&out).is_empty(),
        format!("xl create failed: {out}"),
    );
    for w in ["compute", "memory", "ptchurn"] {
        let row = format!("pv_{w}");
        let line = sys
            .wait_line(mark, &format!("BENCH {row} "), Duration::from_secs(60))
            .or_fail();
        let ok = line.starts_with("(d")
            && samples(&line, &row).is_some_and(|v| v.len() == 3 && v.iter().all(|&c| c > 0.0));
        sys.check(
            ok,
            format!("want `(dN) BENCH {row} cycles a,b,c`, got {line:?}"),
        );
    }

    // bench=first with t0=0: the guest reports its first instruction's TSC (a count since reset).
    let mark = sys.mark();
    let out =
        sys.run("xl create /etc/xen/domu.cfg name=bf \"extra=bench=first row=first_probe t0=0\"");
    sys.check(
        xl_errors(&out).is_empty(),
        format!("xl create failed: {out}"),
    );
    let line = sys
        .wait_line(mark, "BENCH first_probe ", Duration::from_secs(60))
        .or_fail();
    let v = samples(&line, "first_probe");
    sys.check(
        v.as_ref().is_some_and(|v| v.len() == 1 && v[0] > 0.0),
        format!("want `(dN) BENCH first_probe cycles <tsc>`, got {line:?}"),
    );
    let code = sys.poweroff();
    sys.check(code == 33, format!("QEMU exited with {code}, want 33"));
}
