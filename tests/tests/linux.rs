//! Debian's Linux kernel (linux-image-amd64, 6.1) as an unmodified PV domU with the busybox
//! initramfs xtask builds: it boots to a shell on hvc0, commands typed through `xl console`
//! run, its balloon driver follows `xl mem-set`, and `xl shutdown`/`reboot`/`destroy` and a
//! panic inside it end it as Xen's would, dom0 running on and every page returned.
//!
//! The machine has 1 GiB and dom0 512 MiB: the builder decompresses the 60-odd MiB kernel in
//! dom0's heap, which grows with dom0's memory. Needs Debian's guests in dom0's initrd, which
//! `cargo xtask test` builds (`cargo xtask build --guests` before running this file alone).

use tests::linux::{attach, boot, detach, sh, Create, BOOT, CMD};
use tests::steps::{create_ok, list_with_healthy_dom0, row};
use tests::xl::restarted_domid;
use tests::{test_name, OrFail, System};

/// The numbers on the output's lines that start with `key` followed by a number.
fn numbers_after(out: &str, key: &str) -> Vec<u64> {
    out.lines()
        .filter_map(|l| l.trim().strip_prefix(key))
        .filter_map(|rest| rest.split_whitespace().next()?.parse().ok())
        .collect()
}

/// MemTotal as Linux's `free` reports it, in KiB.
fn free_total(sys: &mut System) -> u64 {
    let out = sh(sys, "free");
    match numbers_after(&out, "Mem:").as_slice() {
        [total] => *total,
        _ => sys.fail(format!("`free` printed no single `Mem:` line:\n{out}")),
    }
}

/// `xl mem-set linux <mib>`: xl reports the target reached and lists the new size.
fn mem_set(sys: &mut System, mib: u64) {
    let out = sys.run(&format!("xl mem-set linux {mib}"));
    sys.check(
        out.contains("reached its memory target") && !out.contains("xl:"),
        format!("xl mem-set linux {mib}: {out}"),
    );
    let rows = sys.xl_list();
    let mem = row(&rows, "linux").map(|r| r.mem);
    sys.check(
        mem == Some(mib),
        format!("xl list shows linux with {mem:?} MiB after mem-set {mib}"),
    );
}

/// Linux is gone from `xl list` (dom0 healthy) and free memory is back to `free_before`.
fn gone_with_every_page(sys: &mut System, free_before: u64, after: &str) {
    let rows = list_with_healthy_dom0(sys);
    sys.check(
        row(&rows, "linux").is_none(),
        format!("linux still listed {after}: {rows:?}"),
    );
    let free = sys.free_memory();
    sys.check(
        free == free_before,
        format!("free memory {free} MiB {after}, {free_before} before"),
    );
}

#[test]
fn linux_boots_to_a_shell_runs_commands_follows_mem_set_and_shuts_down() {
    let mut sys = boot(&test_name!());
    let free_before = sys.free_memory();
    Create::linux("").to_shell(&mut sys);

    let out = sh(&mut sys, "uname -a");
    sys.check(
        out.lines()
            .any(|l| l.starts_with("Linux ") && l.contains(" 6.1.") && l.contains("x86_64")),
        format!("uname -a: {out}"),
    );
    let out = sh(&mut sys, "cat /proc/cpuinfo");
    for want in ["vendor_id", "model name", "flags"] {
        sys.check(
            out.contains(want),
            format!("/proc/cpuinfo has no {want:?}:\n{out}"),
        );
    }
    let out = sh(&mut sys, "ls /sys/hypervisor");
    for want in ["properties", "type", "version"] {
        sys.check(
            out.contains(want),
            format!("/sys/hypervisor has no {want:?}:\n{out}"),
        );
    }
    let out = sh(
        &mut sys,
        "cat /sys/hypervisor/type /sys/hypervisor/version/major",
    );
    let lines: Vec<&str> = out.lines().map(str::trim).collect();
    sys.check(
        lines.contains(&"xen") && lines.contains(&"4"),
        format!("/sys/hypervisor/type and version/major: {out:?}"),
    );
    let out = sh(&mut sys, "dmesg");
    for want in [
        "Hypervisor detected: Xen PV",
        "Booting kernel on Xen",
        "Run /init",
    ] {
        sys.check(out.contains(want), format!("dmesg has no {want:?}"));
    }
    // The vDSO's pvclock: Linux registered its time area (it says so when it cannot).
    sys.check(
        !out.contains("VDSO_CLOCKMODE_PVCLOCK not supported"),
        "Linux could not register its vCPU time area",
    );
    // User-space time (read through that clock) moves with a sleep.
    let out = sh(&mut sys, "date +%s; sleep 2; date +%s");
    let secs: Vec<u64> = out.lines().filter_map(|l| l.trim().parse().ok()).collect();
    match secs.as_slice() {
        [a, b] => sys.check(b > a, format!("date went from {a} to {b} across `sleep 2`")),
        _ => sys.fail(format!("no two times from date:\n{out}")),
    }

    // A few hundred processes, each forked and exec'd: the kernel's fork count says so.
    let out = sh(
        &mut sys,
        "grep processes /proc/stat; i=0; while [ $i -lt 300 ]; do /bin/busybox true; \
         i=$((i+1)); done; echo loop-done $i; grep processes /proc/stat",
    );
    let forks = numbers_after(&out, "processes ");
    sys.check(
        out.contains("loop-done 300"),
        format!("the loop did not finish:\n{out}"),
    );
    match forks.as_slice() {
        [before, after] => sys.check(
            after - before >= 300,
            format!(
                "300 commands ran but Linux counted {} forks",
                after - before
            ),
        ),
        _ => sys.fail(format!("no two fork counts in:\n{out}")),
    }

    // The balloon: down 32 MiB and back, inside and outside agreeing.
    let total = free_total(&mut sys);
    detach(&mut sys);
    mem_set(&mut sys, 96);
    attach(&mut sys, "linux");
    let smaller = free_total(&mut sys);
    sys.check(
        total.abs_diff(smaller + 32 * 1024) <= 1024,
        format!("Linux's MemTotal went from {total} to {smaller} KiB on mem-set 128 -> 96 MiB"),
    );
    detach(&mut sys);
    mem_set(&mut sys, 128);
    attach(&mut sys, "linux");
    let back = free_total(&mut sys);
    sys.check(
        total.abs_diff(back) <= 1024,
        format!("Linux's MemTotal is {back} KiB back at 128 MiB, was {total}"),
    );
    detach(&mut sys);

    // `xl trigger linux nmi`: Linux's own NMI handler (its trap-table vector 2) takes the
    // virtual NMI, finds no reason for it, says so and carries on.
    let mark = sys.mark();
    let out = sys.run("xl trigger linux nmi");
    sys.check(
        !out.contains("xl: "),
        format!("xl trigger linux nmi: {out}"),
    );
    for want in [
        "Uhhuh. NMI received for unknown reason 00 on CPU 0.",
        "Dazed and confused, but trying to continue",
    ] {
        sys.wait_line(mark, want, CMD).or_fail();
    }
    attach(&mut sys, "linux");
    let out = sh(&mut sys, "echo after-nmi $((6*7))");
    sys.check(
        out.contains("after-nmi 42"),
        format!("the shell after the NMI: {out}"),
    );
    detach(&mut sys);

    // `xl shutdown`: Linux's own shutdown watcher runs poweroff.
    let mark = sys.mark();
    sys.run("xl shutdown linux");
    for want in [
        "Requesting system poweroff",
        "\"linux\" shut down (poweroff)",
    ] {
        sys.wait_line(mark, want, BOOT).or_fail();
    }
    gone_with_every_page(&mut sys, free_before, "after Linux powered off");
    sys.poweroff();
}

#[test]
fn linux_reboots_is_destroyed_and_its_panic_is_contained() {
    let mut sys = boot(&test_name!());
    let free_before = sys.free_memory();

    // `xl reboot`: Linux reboots itself and xl restarts it from the config.
    let mark = sys.mark();
    create_ok(&mut sys, "linux.cfg");
    sys.wait_line(mark, "Enter 'help' for a list of built-in commands", BOOT)
        .or_fail();
    let mark = sys.mark();
    sys.run("xl reboot linux");
    let notice = sys
        .wait_line(mark, "\"linux\" shut down (reboot)", BOOT)
        .or_fail();
    let Some(new_id) = restarted_domid(&notice) else {
        sys.fail(format!("no restart in {notice:?}"))
    };
    sys.wait_line_where(mark, "the restarted Linux's shell", BOOT, |l| {
        l.starts_with(&format!("(d{new_id}) Enter 'help'"))
    })
    .or_fail();

    // `xl destroy` of a running Linux returns every page.
    let out = sys.run("xl destroy linux");
    sys.check(!out.contains("xl:"), format!("xl destroy linux: {out}"));
    gone_with_every_page(&mut sys, free_before, "after destroying Linux");

    // A panic inside Linux crashes the domain per on_crash (destroy); its last console lines
    // still reach the console, and dom0 runs on.
    Create::linux("").to_shell(&mut sys);
    let mark = sys.mark();
    sys.send("echo c > /proc/sysrq-trigger\n").or_fail();
    for want in [
        "Kernel panic - not syncing: sysrq triggered crash",
        "\"linux\" shut down (crash): on_crash = destroy: destroyed",
        "Kernel Offset: disabled",
    ] {
        sys.wait_line(mark, want, BOOT).or_fail();
    }
    // The console session ended with the domain: dom0's prompt is back.
    sys.expect_prompt().or_fail();
    gone_with_every_page(&mut sys, free_before, "after Linux crashed");
    sys.poweroff();
}

/// Bad kernels and ramdisks (made from the real ones by `cargo xtask build --guests`): each
/// refused with an `xl:` line naming the cause, nothing created, no memory lost.
#[test]
fn bad_kernels_and_ramdisks_are_refused_naming_the_cause() {
    let mut sys = tests::steps::boot(&test_name!());
    for (cfg, mention) in [
        (
            "bad-truncated.cfg",
            &["vmlinuz-truncated", "payload out of bounds"][..],
        ),
        ("bad-no-xen.cfg", &["bzimage-no-xen", "not a PV kernel"]),
        ("bad-32bit.cfg", &["vmlinux-32", "not a 64-bit"]),
        ("bad-ramdisk.cfg", &["does not fit", "KiB ramdisk"]),
    ] {
        tests::steps::create_refused(&mut sys, cfg, mention);
    }
    sys.poweroff();
}
