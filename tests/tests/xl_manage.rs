//! `xl rename`, `xl mem-max`, `--help` of every command, and errors that name the cause.

use tests::steps::{
    boot, create_and_wait_guest_line, list_with_healthy_dom0, row, run_ok, xl_errors,
};
use tests::test_name;

#[test]
fn rename_and_mem_max() {
    let mut sys = boot(&test_name!());
    create_and_wait_guest_line(&mut sys, "domu.cfg", "Hello from pv-guest domU");
    run_ok(&mut sys, "xl create /etc/xen/domu.cfg name=other");

    run_ok(&mut sys, "xl rename domu web-1");
    let rows = list_with_healthy_dom0(&mut sys);
    sys.check(
        row(&rows, "web-1").is_some_and(|r| r.id == 1) && row(&rows, "domu").is_none(),
        format!("after rename: {rows:?}"),
    );
    for (cmd, want) in [
        ("xl rename web-1 other", "xl: rename: name \"other\" is in use by domain 2"),
        ("xl rename web-1 Domain-0", "xl: rename: name \"Domain-0\" is in use by domain 0"),
        ("xl rename web-1 a/b", "xl: rename: invalid name: \"a/b\" contains '/' (allowed: letters, digits, '_', '.', '-')"),
        ("xl rename nosuch x", "xl: rename: no such domain: \"nosuch\""),
        ("xl rename 0 x", "xl: rename: not permitted on Domain-0 (domain 0)"),
    ] {
        let out = sys.run(cmd);
        sys.check(xl_errors(&out) == [want], format!("`{cmd}`: want {want:?}, got {out:?}"));
    }
    // The new name works everywhere.
    run_ok(&mut sys, "xl mem-max web-1 32");
    let out = sys.run("xl list -l web-1");
    sys.check(
        out.contains("\"max_memkb\": 32768"),
        format!("mem-max 32 not in `xl list -l`: {out}"),
    );
    run_ok(&mut sys, "xl mem-max web-1 20480k");
    let out = sys.run("xl list -l 1");
    sys.check(out.contains("\"max_memkb\": 20480"), out.clone());
    let out = sys.run("xl mem-max web-1 8");
    let errs = xl_errors(&out);
    sys.check(
        errs.len() == 1 && errs[0].contains("8192 KiB is below") && errs[0].contains("16384 KiB"),
        format!("mem-max below current memory must name both numbers: {out:?}"),
    );
    let out = sys.run("xl mem-max web-1 lots");
    sys.check(
        xl_errors(&out)
            .first()
            .is_some_and(|e| e.contains("invalid memory size \"lots\"")),
        format!("{out:?}"),
    );
}

#[test]
fn every_command_has_help_and_errors_name_the_cause() {
    let mut sys = boot(&test_name!());
    let help = sys.run("xl help");
    let cmds: Vec<String> = help
        .lines()
        .filter(|l| l.starts_with(' '))
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect();
    for want in [
        "create",
        "destroy",
        "list",
        "info",
        "pause",
        "unpause",
        "shutdown",
        "reboot",
        "rename",
        "mem-max",
        "dmesg",
        "vcpu-list",
        "uptime",
        "top",
        "mem-set",
        "sched-credit",
        "console",
    ] {
        sys.check(
            cmds.iter().any(|c| c == want),
            format!("`xl help` lacks {want}: {help}"),
        );
    }
    for c in &cmds {
        let out = sys.run(&format!("xl {c} --help"));
        sys.check(
            out.contains(&format!("Usage: xl {c}")),
            format!("`xl {c} --help` prints no usage: {out}"),
        );
    }
    for (cmd, want) in [
        ("xl pause nosuch", "xl: pause: no such domain: \"nosuch\""),
        ("xl unpause Domain-0", "xl: unpause: not permitted on Domain-0 (domain 0)"),
        ("xl destroy 0", "xl: destroy: Domain-0 (domain 0) cannot be destroyed"),
        ("xl list --bogus", "xl: list: unknown option \"--bogus\""),
        ("xl frobnicate", "xl: unknown command \"frobnicate\" (see `xl help`)"),
        ("xl create /etc/xen/domu.cfg memory=100000", "xl: <command line>:1: memory: must be between 1 and 4096 MiB, got 100000"),
        ("xl create /etc/xen/domu.cfg memory=4000", "xl: not enough memory: domain needs 4000 MiB"),
        ("xl create /etc/xen/domu.cfg on_crash=coredump-destroy", "xl: <command line>:1: on_crash: action \"coredump-destroy\" is not supported by this toolstack (supported: destroy, restart, preserve)"),
    ] {
        let out = sys.run(cmd);
        let errs = xl_errors(&out);
        sys.check(
            errs.len() == 1 && errs[0].starts_with(want),
            format!("`{cmd}`: want {want:?}..., got {out:?}"),
        );
    }
    // Out of memory names both numbers.
    let out = sys.run("xl create /etc/xen/domu.cfg memory=4000");
    sys.check(
        out.contains("MiB free"),
        format!("out-of-memory error must say how much is free: {out}"),
    );
}

/// `xl trigger <domain> nmi`: a virtual NMI reaches the guest's registered NMI handler (one
/// per trigger, the guest running or blocked); HVM-only triggers and vCPUs it does not have
/// are refused naming why, and the guest runs on.
#[test]
fn trigger_nmi_reaches_the_guests_nmi_handler() {
    let mut sys = boot(&test_name!());
    let (id, _) = create_and_wait_guest_line(&mut sys, "domu.cfg", "Hello from pv-guest domU");
    for n in 1..=3 {
        let mark = sys.mark();
        run_ok(&mut sys, "xl trigger domu nmi");
        let want = format!("pv-guest: NMI received ({n} so far)");
        sys.wait_line_where(mark, &want, tests::CMD_TIMEOUT, |l| {
            tests::xl::domu_line(l).is_some_and(|(d, t)| d == id && t == want)
        })
        .unwrap_or_else(|f| sys.fail(f.msg));
    }
    for (cmd, want) in [
        ("xl trigger domu nmi 1", "xl: trigger: domain 1 (\"domu\") has no vCPU 1"),
        ("xl trigger domu power", "xl: trigger: power to domain 1 (\"domu\"): only HVM guests have ACPI buttons (EINVAL)"),
        ("xl trigger domu reset", "xl: trigger: reset to domain 1 (\"domu\"): not supported for PV guests (ENOSYS)"),
        ("xl trigger domu halt", "xl: trigger: invalid trigger \"halt\" (one of nmi, reset, init, power, sleep, s3resume)"),
    ] {
        let out = sys.run(cmd);
        sys.check(xl_errors(&out) == [want], format!("`{cmd}`: want {want:?}, got {out:?}"));
    }
    // The guest still answers: a fourth NMI is its fourth.
    let mark = sys.mark();
    run_ok(&mut sys, "xl trigger 1 nmi 0");
    sys.wait_line_where(mark, "NMI received (4 so far)", tests::CMD_TIMEOUT, |l| {
        tests::xl::domu_line(l).is_some_and(|(d, t)| d == id && t.ends_with("(4 so far)"))
    })
    .unwrap_or_else(|f| sys.fail(f.msg));
    let rows = list_with_healthy_dom0(&mut sys);
    sys.check(
        row(&rows, "domu").is_some_and(|r| !r.is_crashed()),
        format!("{rows:?}"),
    );
}
