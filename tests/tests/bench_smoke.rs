//! The benchmark's building blocks in a normal boot: the hypervisor's `bench=smoke` floor
//! line, and a domU's `bench=workloads` and `bench=first` modes started from the dom0 shell;
//! and the native image (`pv-guest-native.elf`) booted on the bare virtual machine.
//! Only shape and sanity are checked (samples present, positive): never a time.

use std::time::Duration;
use tests::steps::{run_ok, xl_errors};
use tests::{launch, test_name, BootOptions, OrFail, System, BOOT_TIMEOUT, NOT_BUILT};

/// The workloads both builds run (rows `pv_<w>` and `native_<w>`).
const WORKLOADS: [&str; 4] = ["compute", "memory", "ptchurn", "ctxswitch"];

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

    // The PV workloads in a domU: a row of three positive samples each (ctxswitch's only if
    // both user tasks got their own registers back at every switch), then it powers off.
    let mark = sys.mark();
    run_ok(
        &mut sys,
        "xl create /etc/xen/domu.cfg name=bw \"extra=bench=workloads mode=smoke\"",
    );
    for w in WORKLOADS {
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

/// The event-channel round-trip row from the dom0 shell: a `bench=evtchn-pong` domU, then a
/// `bench=evtchn-ping` domU bound to it through `evtchn_peer=` reports three positive samples.
#[test]
fn bench_evtchn_roundtrip_reports_samples() {
    let mut sys = tests::steps::boot(&test_name!());
    let (pong, _) = tests::steps::create_and_wait_guest_line(
        &mut sys,
        "domu.cfg name=pong \"extra=bench=evtchn-pong\"",
        "bench: evtchn-pong ready",
    );
    let mark = sys.mark();
    tests::steps::create_ok(
        &mut sys,
        &format!("domu.cfg name=ping \"extra=bench=evtchn-ping evtchn_peer={pong} mode=smoke\""),
    );
    let line = sys
        .wait_line(mark, "BENCH evtchn_roundtrip ", Duration::from_secs(60))
        .or_fail();
    let v = samples(&line, "evtchn_roundtrip");
    sys.check(
        line.starts_with("(d")
            && v.as_ref()
                .is_some_and(|v| v.len() == 3 && v.iter().all(|&c| c > 0.0)),
        format!("want `(dN) BENCH evtchn_roundtrip cycles a,b,c` (3 positive), got {line:?}"),
    );
    let code = sys.poweroff();
    sys.check(code == 33, format!("QEMU exited with {code}, want 33"));
}

/// The QEMU command of a normal boot with the hypervisor swapped for the native image, no
/// modules, and `cmdline` as its Multiboot command line.
fn native_command(cmdline: &str) -> (String, Vec<String>) {
    let image = launch::images_dir().join("pv-guest-native.elf");
    assert!(
        image.exists(),
        "{NOT_BUILT}: {} is missing",
        image.display()
    );
    let (prog, args) = launch::qemu_command(None).unwrap_or_else(|e| panic!("{e}"));
    let mut out = Vec::new();
    let mut it = args.into_iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "-kernel" => {
                it.next();
                out.extend(["-kernel".to_string(), image.display().to_string()]);
            }
            "-append" => {
                it.next();
                out.extend(["-append".to_string(), cmdline.to_string()]);
            }
            "-initrd" => {
                it.next();
            }
            _ => out.push(a),
        }
    }
    (prog, out)
}

#[test]
fn native_image_runs_the_workloads_on_the_bare_machine() {
    let (prog, args) = native_command("bench=smoke");
    let mut sys = System::spawn(&test_name!(), &prog, &args, Duration::from_secs(120));
    let banner = sys
        .wait_line(0, "pv-guest-native: ring 0", BOOT_TIMEOUT)
        .or_fail();
    sys.check(
        banner.contains("bench=smoke"),
        format!("the native kernel should echo its Multiboot command line: {banner:?}"),
    );
    for w in WORKLOADS {
        let row = format!("native_{w}");
        let line = sys
            .wait_line(0, &format!("BENCH {row} "), Duration::from_secs(60))
            .or_fail();
        // No prefix: nothing but the native kernel writes to this console.
        let ok = line.starts_with("BENCH ")
            && samples(&line, &row).is_some_and(|v| v.len() == 3 && v.iter().all(|&c| c > 0.0));
        sys.check(
            ok,
            format!("want `BENCH {row} cycles a,b,c` (3 positive), got {line:?}"),
        );
    }
    sys.wait_line(0, "BENCH-DONE", Duration::from_secs(60))
        .or_fail();
    let code = sys.wait_exit(Duration::from_secs(30)).or_fail();
    sys.check(
        code == Some(33),
        format!("the native image should power off through isa-debug-exit (33), got {code:?}"),
    );
}

#[test]
fn native_image_reports_a_fault_as_a_crash() {
    // `bench=fault` reads the unmapped page 0: the native kernel's #PF handler must report it
    // and end the run with the "crashed" exit code, never a clean poweroff.
    let (prog, args) = native_command("bench=fault");
    let mut sys = System::spawn(&test_name!(), &prog, &args, Duration::from_secs(60));
    let line = sys
        .wait_line(0, "native: exception", BOOT_TIMEOUT)
        .or_fail();
    sys.check(
        line.contains("exception 14 ") && line.contains("cr2 0x0"),
        format!("want a #PF (14) at cr2 0x0 reported, got {line:?}"),
    );
    let code = sys.wait_exit(Duration::from_secs(30)).or_fail();
    sys.check(
        code == Some(35),
        format!("want exit 35 (crashed), got {code:?}"),
    );
}
