//! Debian's Linux as a PV domU of four vCPUs (issue 17): it brings up every vCPU
//! (`VCPUOP_initialise` with its GDT, callbacks and per-CPU GS base, `VCPUOP_up`), counts 4
//! CPUs, runs four busy shell loops on all of them at once (each CPU's user time in
//! /proc/stat grows, and `xl vcpu-list` shows the vCPUs on different processors), follows
//! `xl vcpu-set` down to 2 CPUs and back to 4 (it watches cpu/N/availability and takes the
//! CPUs offline and online), and `xl destroy` gives every page back.
//!
//! Needs Debian's guests in dom0's initrd (`cargo xtask build --guests`); the machine has
//! 1 GiB and dom0 512 MiB, as for the other Linux tests.

use std::time::{Duration, Instant};
use tests::steps::{check_free_memory_back, list_with_healthy_dom0, row, run_ok};
use tests::{test_name, BootOptions, OrFail, System};

const LINUX_PROMPT: &str = "linux# ";
const BOOT: Duration = Duration::from_secs(180);
const CMD: Duration = Duration::from_secs(60);
/// How long Linux may take to follow `xl vcpu-set`.
const HOTPLUG: Duration = Duration::from_secs(60);

fn linux(sys: &mut System, cmd: &str) -> String {
    sys.send(&format!("{cmd}\n")).or_fail();
    match sys.expect(LINUX_PROMPT, CMD) {
        Ok(out) => out.replace('\r', ""),
        Err(f) => sys.fail(format!("{} (after typing {cmd:?} into Linux)", f.msg)),
    }
}

fn detach(sys: &mut System) {
    sys.send("\x1d").or_fail();
    sys.expect_prompt().or_fail();
}

fn attach(sys: &mut System) {
    sys.send("xl console linux\n").or_fail();
    sys.expect("Ctrl-] detaches", CMD).or_fail();
    linux(sys, "");
}

/// The value printed after `key=` on a line of `out` (commands echo `key=$(...)`).
fn value<'a>(out: &'a str, key: &str) -> Option<&'a str> {
    let key = format!("{key}=");
    out.lines()
        .filter(|l| !l.contains("$("))
        .find_map(|l| l.trim().strip_prefix(key.as_str()))
        .map(str::trim)
}

/// Linux's online CPUs (/sys/devices/system/cpu/online, e.g. "0-3") and its count of them.
fn online(sys: &mut System) -> (String, Option<u32>) {
    let out = linux(
        sys,
        "echo online=$(cat /sys/devices/system/cpu/online); echo count=$(grep -c ^processor /proc/cpuinfo)",
    );
    let list = value(&out, "online").unwrap_or("").to_string();
    let count = value(&out, "count").and_then(|c| c.parse().ok());
    (list, count)
}

/// Each `cpuN` line's user time from /proc/stat, by N.
fn user_times(sys: &mut System) -> Vec<(u32, u64)> {
    let out = linux(sys, "grep '^cpu[0-9]' /proc/stat");
    out.lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let n = f.next()?.strip_prefix("cpu")?.parse().ok()?;
            Some((n, f.next()?.parse().ok()?))
        })
        .collect()
}

/// Wait (attached) until Linux lists `want` as its online CPUs, `count` of them.
fn wait_online(sys: &mut System, want: &str, count: u32, after: &str) {
    let deadline = Instant::now() + HOTPLUG;
    loop {
        let (list, n) = online(sys);
        if list == want && n == Some(count) {
            return;
        }
        if Instant::now() > deadline {
            sys.fail(format!(
                "{after}: Linux has CPUs {list:?} online ({n:?} in /proc/cpuinfo), want {want:?}"
            ));
        }
        std::thread::sleep(Duration::from_secs(2));
    }
}

/// Wait (attached) until Linux lists `want` as its present CPUs.
fn wait_present(sys: &mut System, want: &str, after: &str) {
    let deadline = Instant::now() + HOTPLUG;
    loop {
        let out = linux(sys, "echo present=$(cat /sys/devices/system/cpu/present)");
        let list = value(&out, "present").unwrap_or("").to_string();
        if list == want {
            return;
        }
        if Instant::now() > deadline {
            sys.fail(format!(
                "{after}: Linux has CPUs {list:?} present, want {want:?}"
            ));
        }
        std::thread::sleep(Duration::from_secs(2));
    }
}

/// `xl vcpu-list linux`: (vCPU, CPU) of each vCPU running or runnable, and the row count.
fn vcpu_rows(sys: &mut System) -> (Vec<(u32, Option<u32>)>, String) {
    let out = run_ok(sys, "xl vcpu-list linux");
    let rows = out
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .filter(|f| f.first() == Some(&"linux"))
        .filter_map(|f| {
            Some((
                f.get(2)?.parse().ok()?,
                f.get(3).and_then(|c| c.parse().ok()),
            ))
        })
        .collect();
    (rows, out)
}

#[test]
fn linux_runs_on_four_vcpus_and_follows_vcpu_set() {
    let mut sys = System::boot_to_prompt(
        BootOptions::new(&test_name!())
            .memory("1G")
            .cmdline("dom0_mem=512M"),
    );
    let free_before = sys.free_memory();
    sys.send("xl create /etc/xen/linux.cfg -c vcpus=4\n")
        .or_fail();
    for want in [
        "Started domain linux (id=",
        "Linux version 6.1",
        "busybox initramfs up: Linux 6.1",
        LINUX_PROMPT,
    ] {
        if let Err(f) = sys.expect(want, BOOT) {
            sys.fail(f);
        }
    }
    let dmesg = linux(&mut sys, "dmesg | grep -i -e smp -e 'cpu[0-9]' -e xen_cpu");
    // Every vCPU up: four online, four in /proc/cpuinfo, nproc (if the applet is there) 4.
    let (list, n) = online(&mut sys);
    sys.check(
        list == "0-3" && n == Some(4),
        format!("Linux has CPUs {list:?} online, {n:?} in /proc/cpuinfo; dmesg:\n{dmesg}"),
    );
    let out = linux(&mut sys, "echo nproc=$(nproc 2>/dev/null || echo none)");
    let nproc = value(&out, "nproc").unwrap_or("");
    sys.check(
        nproc == "4" || nproc == "none",
        format!("nproc says {nproc:?}"),
    );

    // Four busy loops: every CPU's user time grows while they run.
    linux(
        &mut sys,
        "for i in 1 2 3 4; do (while :; do :; done) & done; sleep 1",
    );
    let before = user_times(&mut sys);
    linux(&mut sys, "sleep 3");
    let after = user_times(&mut sys);
    sys.check(
        before.len() == 4 && after.len() == 4,
        format!("/proc/stat has CPUs {before:?} then {after:?}"),
    );
    for ((n, b), (_, a)) in before.iter().zip(&after) {
        // 3 s of a busy loop is 300 ticks; at least a sixth of it on each CPU (QEMU's
        // CPUs are threads of a shared host).
        sys.check(
            a.saturating_sub(*b) >= 50,
            format!(
                "cpu{n} ran {} ticks of user time in 3 s: {before:?} -> {after:?}",
                a.saturating_sub(*b)
            ),
        );
    }
    detach(&mut sys);
    // The toolstack's view: four vCPUs, on at least two different processors at once.
    let mut seen = std::collections::BTreeSet::new();
    let mut last = String::new();
    for _ in 0..10 {
        let (rows, out) = vcpu_rows(&mut sys);
        sys.check(rows.len() == 4, format!("`xl vcpu-list linux`:\n{out}"));
        let cpus: std::collections::BTreeSet<u32> = rows.iter().filter_map(|r| r.1).collect();
        seen = cpus;
        last = out;
        if seen.len() >= 2 {
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    sys.check(
        seen.len() >= 2,
        format!("Linux's busy vCPUs never shown on two processors at once:\n{last}"),
    );

    // vcpu-set 2: Linux takes CPUs 2 and 3 offline; 4: it brings them back.
    run_ok(&mut sys, "xl vcpu-set linux 2");
    attach(&mut sys);
    wait_online(&mut sys, "0-1", 2, "after `xl vcpu-set linux 2`");
    wait_present(&mut sys, "0-1", "after `xl vcpu-set linux 2`");
    detach(&mut sys);
    let rows = list_with_healthy_dom0(&mut sys);
    let vcpus = row(&rows, "linux").map(|r| r.vcpus);
    sys.check(
        vcpus == Some(2),
        format!("xl list shows linux with {vcpus:?} vCPUs after vcpu-set 2"),
    );
    run_ok(&mut sys, "xl vcpu-set linux 4");
    attach(&mut sys);
    // Linux makes CPUs 2 and 3 present again (its XenStore watch); onlining them is then
    // user space's part, which a distribution's udev rule plays (`ATTR{online}="1"` on a
    // CPU's add event): the initramfs has no udev, so the test does it.
    wait_present(&mut sys, "0-3", "after `xl vcpu-set linux 4`");
    linux(
        &mut sys,
        "for c in 2 3; do echo 1 > /sys/devices/system/cpu/cpu$c/online; done",
    );
    wait_online(
        &mut sys,
        "0-3",
        4,
        "after `xl vcpu-set linux 4` and onlining CPUs 2, 3",
    );
    // Back on four CPUs, the loops run on all of them again.
    let before = user_times(&mut sys);
    linux(&mut sys, "sleep 3");
    let after = user_times(&mut sys);
    for ((n, b), (_, a)) in before.iter().zip(&after) {
        sys.check(
            after.len() == 4 && a.saturating_sub(*b) >= 50,
            format!(
                "cpu{n} back online ran {} ticks in 3 s: {before:?} -> {after:?}",
                a.saturating_sub(*b)
            ),
        );
    }
    linux(&mut sys, "kill $(jobs -p); wait");
    detach(&mut sys);

    run_ok(&mut sys, "xl destroy linux");
    let deadline = Instant::now() + Duration::from_secs(20);
    while row(&list_with_healthy_dom0(&mut sys), "linux").is_some() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_secs(1));
    }
    let rows = list_with_healthy_dom0(&mut sys);
    sys.check(
        row(&rows, "linux").is_none(),
        format!("linux still listed after destroy: {rows:?}"),
    );
    check_free_memory_back(&mut sys, free_before, "destroying the 4-vCPU Linux");
}
