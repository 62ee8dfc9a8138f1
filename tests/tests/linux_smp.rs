//! Debian's Linux as a PV domU of four vCPUs (issue 17): it brings up every vCPU
//! (`VCPUOP_initialise` with its GDT, callbacks and per-CPU GS base, `VCPUOP_up`), counts 4
//! CPUs, runs four busy shell loops on all of them at once (each CPU's user time in
//! /proc/stat grows, and `xl vcpu-list` shows the vCPUs on different processors), and follows
//! `xl vcpu-set` by itself: down to 2 CPUs (its watch on cpu/N/availability takes CPUs 2-3
//! offline; `xl vcpu-list` shows those vCPUs down) and back to 4 (the kernel makes the CPUs
//! present again and announces them; the initramfs's uevent helper, /sbin/hotplug, onlines
//! them as a distribution's udev rule would, and the loops run on all four again). `xl destroy`
//! gives every page back.
//!
//! Needs Debian's guests in dom0's initrd (`cargo xtask build --guests`).

use std::time::{Duration, Instant};
use tests::linux::{attach, detach, sh, value, Create};
use tests::steps::{check_free_memory_back, list_with_healthy_dom0, row, run_ok};
use tests::{test_name, System};

/// How long Linux may take to follow `xl vcpu-set` (onlining a CPU took 10 s here under
/// emulation, with the busy loops running; the helper onlines one CPU at a time).
const HOTPLUG: Duration = Duration::from_secs(120);

/// What Linux says of its online CPUs: /sys/devices/system/cpu/online (e.g. "0-3"), the
/// count of them in /proc/cpuinfo and `nproc`'s.
#[derive(Debug, PartialEq)]
struct Online {
    list: String,
    cpuinfo: Option<u32>,
    nproc: Option<u32>,
}

fn online(sys: &mut System) -> Online {
    let out = sh(
        sys,
        "echo online=$(cat /sys/devices/system/cpu/online); \
         echo count=$(grep -c ^processor /proc/cpuinfo); echo nproc=$(nproc)",
    );
    let num = |key| value(&out, key).and_then(|c| c.parse().ok());
    Online {
        list: value(&out, "online").unwrap_or("").to_string(),
        cpuinfo: num("count"),
        nproc: num("nproc"),
    }
}

/// Each `cpuN` line's user time from /proc/stat, by N.
fn user_times(sys: &mut System) -> Vec<(u32, u64)> {
    let out = sh(sys, "grep '^cpu[0-9]' /proc/stat");
    out.lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let n = f.next()?.strip_prefix("cpu")?.parse().ok()?;
            Some((n, f.next()?.parse().ok()?))
        })
        .collect()
}

/// Wait (attached) until Linux lists `want` as its online CPUs, `count` of them in
/// /proc/cpuinfo and `nproc`.
fn wait_online(sys: &mut System, want: &str, count: u32, after: &str) {
    let deadline = Instant::now() + HOTPLUG;
    let want = Online {
        list: want.to_string(),
        cpuinfo: Some(count),
        nproc: Some(count),
    };
    loop {
        let now = online(sys);
        if now == want {
            return;
        }
        if Instant::now() > deadline {
            sys.fail(format!(
                "{after}: Linux says {now:?} of its online CPUs, want {want:?}"
            ));
        }
        std::thread::sleep(Duration::from_secs(2));
    }
}

/// Wait (attached) until Linux lists `want` as its present CPUs.
fn wait_present(sys: &mut System, want: &str, after: &str) {
    let deadline = Instant::now() + HOTPLUG;
    loop {
        let out = sh(sys, "echo present=$(cat /sys/devices/system/cpu/present)");
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

/// Wait (detached) until `xl vcpu-list linux` shows exactly the vCPUs `up` with a processor
/// and the others down (no processor: `-`).
fn wait_vcpus_up(sys: &mut System, up: &[u32], after: &str) {
    let deadline = Instant::now() + HOTPLUG;
    loop {
        let (rows, out) = vcpu_rows(sys);
        let shown: Vec<(u32, bool)> = rows.iter().map(|(v, cpu)| (*v, cpu.is_some())).collect();
        let want: Vec<(u32, bool)> = (0..4).map(|v| (v, up.contains(&v))).collect();
        if shown == want {
            return;
        }
        if Instant::now() > deadline {
            sys.fail(format!(
                "{after}: `xl vcpu-list linux` should show vCPUs {up:?} up, the others down:\n{out}"
            ));
        }
        std::thread::sleep(Duration::from_secs(1));
    }
}

/// Each CPU's user time grows by at least 50 ticks (a sixth of 3 s: QEMU's CPUs are threads
/// of a shared host) over 3 s while the busy loops run.
fn check_busy_everywhere(sys: &mut System, when: &str) {
    let before = user_times(sys);
    sh(sys, "sleep 3");
    let after = user_times(sys);
    sys.check(
        before.len() == 4 && after.len() == 4,
        format!("{when}: /proc/stat has CPUs {before:?} then {after:?}"),
    );
    for ((n, b), (_, a)) in before.iter().zip(&after) {
        sys.check(
            a.saturating_sub(*b) >= 50,
            format!(
                "{when}: cpu{n} ran {} ticks of user time in 3 s: {before:?} -> {after:?}",
                a.saturating_sub(*b)
            ),
        );
    }
}

#[test]
fn linux_runs_on_four_vcpus_and_follows_vcpu_set() {
    let mut sys = tests::linux::boot(&test_name!());
    let free_before = sys.free_memory();
    // The initramfs's /init starts the uevent helper before the shell.
    Create::linux("vcpus=4")
        .lines(&["init: uevents go to /sbin/hotplug (busybox uevent, pid "])
        .to_shell(&mut sys);
    let dmesg = sh(&mut sys, "dmesg | grep -i -e smp -e 'cpu[0-9]' -e xen_cpu");
    // Every vCPU up: four online, four in /proc/cpuinfo, nproc 4.
    let now = online(&mut sys);
    sys.check(
        now.list == "0-3" && now.cpuinfo == Some(4) && now.nproc == Some(4),
        format!("Linux says {now:?} of its online CPUs; dmesg:\n{dmesg}"),
    );

    // Four busy loops: every CPU's user time grows while they run.
    sh(
        &mut sys,
        "for i in 1 2 3 4; do (while :; do :; done) & done; sleep 1",
    );
    check_busy_everywhere(&mut sys, "on four vCPUs");
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

    // vcpu-set 2: Linux takes CPUs 2 and 3 offline and not present; their vCPUs go down.
    run_ok(&mut sys, "xl vcpu-set linux 2");
    attach(&mut sys, "linux");
    wait_online(&mut sys, "0-1", 2, "after `xl vcpu-set linux 2`");
    wait_present(&mut sys, "0-1", "after `xl vcpu-set linux 2`");
    detach(&mut sys);
    wait_vcpus_up(&mut sys, &[0, 1], "after `xl vcpu-set linux 2`");
    let rows = list_with_healthy_dom0(&mut sys);
    let vcpus = row(&rows, "linux").map(|r| r.vcpus);
    sys.check(
        vcpus == Some(2),
        format!("xl list shows linux with {vcpus:?} vCPUs after vcpu-set 2"),
    );

    // vcpu-set 4: Linux makes CPUs 2 and 3 present again and announces them; nothing here
    // onlines them: the initramfs's uevent helper does, by itself.
    run_ok(&mut sys, "xl vcpu-set linux 4");
    attach(&mut sys, "linux");
    wait_online(&mut sys, "0-3", 4, "after `xl vcpu-set linux 4`");
    wait_present(&mut sys, "0-3", "after `xl vcpu-set linux 4`");
    // The helper says so in the kernel's log.
    let log = sh(&mut sys, "dmesg | grep 'hotplug: cpu'");
    for cpu in ["cpu2", "cpu3"] {
        let want = format!("hotplug: {cpu} online");
        sys.check(
            log.lines().any(|l| l.ends_with(&want)),
            format!("no {want:?} from /sbin/hotplug in dmesg:\n{log}"),
        );
    }
    // Back on four CPUs, the loops run on all of them again.
    check_busy_everywhere(&mut sys, "back on four vCPUs");
    sh(&mut sys, "kill $(jobs -p); wait");
    detach(&mut sys);
    wait_vcpus_up(&mut sys, &[0, 1, 2, 3], "after `xl vcpu-set linux 4`");

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
