//! Machines of every size: the frame allocator, frame table, M2P and heap are sized from the
//! memory map, RAM above 4 GiB is used, and domains get the highest memory first (so on a
//! machine with more than 4 GiB their frames lie above 4 GiB and every PTE, M2P entry and
//! grant the system handles carries a frame number past 32 bits of address).

use crate::pvmmu::{create_with, expect_lines, MM_VERDICTS};
use std::time::Duration;
use tests::steps::{
    check_free_memory_back, create_and_wait_guest_line, list_with_healthy_dom0, run_ok,
};
use tests::{test_name, BootOptions, OrFail, System};

/// The first machine frame above 4 GiB.
const FRAME_4G: u64 = 1 << 20;

/// `memory: N pages in machine frames 0xLO-0xHI` (a pv-guest greeting line) → (N, LO, HI).
fn frames_line(line: &str) -> Option<(u64, u64, u64)> {
    let rest = &line[line.find("memory: ")? + "memory: ".len()..];
    let (pages, rest) = rest.split_once(" pages in machine frames ")?;
    let (lo, hi) = rest.trim().split_once('-')?;
    let hex = |s: &str| u64::from_str_radix(s.trim_start_matches("0x"), 16).ok();
    Some((pages.parse().ok()?, hex(lo)?, hex(hi)?))
}

/// Waits for a `memory: ...` line whose text contains `who` and returns its frame range.
fn frames_of(sys: &mut System, mark: usize, who: &str) -> (u64, u64, u64) {
    let line = sys
        .wait_line_where(
            mark,
            &format!("{who}memory: ... machine frames"),
            Duration::from_secs(60),
            |l| l.contains(who) && frames_line(l).is_some(),
        )
        .or_fail();
    frames_line(&line).expect("matched")
}

/// Boots with `mem` of RAM and checks what the hypervisor and `xl info` report: total memory
/// within `want_mib` (less the BIOS's few KiB), a sane free and hypervisor share.
fn boot_sized(name: &str, mem: &str, want_mib: u64) -> System {
    let mut sys = System::boot_to_prompt(BootOptions::new(name).memory(mem));
    let info = sys.xl_info();
    let total = info.total_memory().unwrap_or_default();
    let free = info.free_memory().unwrap_or_default();
    let xen = info.num("xen_memory").unwrap_or(u64::MAX);
    sys.check(
        (want_mib - 2..=want_mib).contains(&total),
        format!("xl info: total_memory {total} MiB on a {mem} machine"),
    );
    sys.check(
        free + 64 + xen <= total && free + 64 + xen + 4 >= total,
        format!("xl info: free {free} + dom0 64 + xen {xen} MiB do not add up to total {total}"),
    );
    // The hypervisor's share (its structures and the 1/128 of RAM kept for its own growth)
    // scales with the machine but stays within 4% of it.
    sys.check(
        xen > 0 && xen * 25 < total,
        format!("xl info: xen_memory {xen} MiB of {total}"),
    );
    sys
}

/// Destroys `domains`, checks that free memory is `free` MiB again, and powers off cleanly.
fn destroy_and_power_off(sys: &mut System, domains: &[&str], free: u64) {
    for d in domains {
        run_ok(sys, &format!("xl destroy {d}"));
    }
    check_free_memory_back(sys, free, "destroying the domUs");
    let code = sys.poweroff();
    sys.check(code == 33, format!("poweroff exit {code}"));
}

#[test]
fn two_gib_machine_runs_domus() {
    let mut sys = boot_sized(&test_name!(), "2G", 2048);
    let free = sys.free_memory();
    create_and_wait_guest_line(&mut sys, "domu.cfg memory=256", "Hello from pv-guest domU");
    let mark = create_with(&mut sys, "mm", "test=mm");
    expect_lines(&mut sys, mark, MM_VERDICTS);
    let after = sys.free_memory();
    sys.check(
        after + 256 + 16 <= free,
        format!("free memory {free} MiB before two domUs (256 + 16 MiB), {after} after"),
    );
    destroy_and_power_off(&mut sys, &["domu", "mm"], free);
}

#[test]
fn eight_gib_machine_puts_domains_above_4_gib() {
    let name = test_name!();
    let mut sys = boot_sized(&name, "8G", 8192);
    let text = sys.transcript();
    sys.check(
        text.lines()
            .any(|l| l.starts_with("(XEN)  0000000100000000 - ") && l.ends_with("(usable)")),
        "the hypervisor lists no usable RAM starting at 4 GiB",
    );
    // dom0 itself lives above 4 GiB.
    let (pages, lo, _) = frames_of(&mut sys, 0, "dom0: ");
    sys.check(
        pages == 16384,
        format!("dom0 has {pages} pages, want 16384"),
    );
    sys.check(
        lo >= FRAME_4G,
        format!("dom0's lowest machine frame {lo:#x} is below 4 GiB"),
    );

    let free = sys.free_memory();
    let mark = sys.mark();
    let (id, _) =
        create_and_wait_guest_line(&mut sys, "domu.cfg memory=1024", "Hello from pv-guest domU");
    let (pages, lo, hi) = frames_of(&mut sys, mark, &format!("(d{id}) "));
    sys.check(pages == 262144, format!("the 1 GiB domU has {pages} pages"));
    sys.check(
        lo >= FRAME_4G && hi < 9 << 18,
        format!("the domU's machine frames {lo:#x}-{hi:#x} are not all between 4 and 9 GiB"),
    );
    // The PV MMU, descriptor tables and multicalls on frames above 4 GiB.
    let mark = create_with(&mut sys, "mm", "test=mm");
    let (_, lo, _) = frames_of(&mut sys, mark, "(d2) ");
    sys.check(
        lo >= FRAME_4G,
        format!("domain mm's frames start at {lo:#x}"),
    );
    expect_lines(&mut sys, mark, MM_VERDICTS);
    list_with_healthy_dom0(&mut sys);
    destroy_and_power_off(&mut sys, &["domu", "mm"], free);
}

/// A 64 GiB machine (QEMU reserves nothing up front): boots without touching every frame
/// and runs a domU at the top of memory.
#[test]
fn sixty_four_gib_machine_boots_and_runs_a_domu() {
    let mut sys = boot_sized(&test_name!(), "64G", 65536);
    let free = sys.free_memory();
    let mark = sys.mark();
    let (id, _) = create_and_wait_guest_line(&mut sys, "domu.cfg", "Hello from pv-guest domU");
    let (_, lo, hi) = frames_of(&mut sys, mark, &format!("(d{id}) "));
    sys.check(
        lo >= 63 << 18 && hi < 65 << 18,
        format!("the domU's frames {lo:#x}-{hi:#x} are not at the top of 64 GiB"),
    );
    destroy_and_power_off(&mut sys, &["domu"], free);
}

#[test]
fn greeting_frame_lines_parse() {
    assert_eq!(
        frames_line("(d1) memory: 4096 pages in machine frames 0x23b000-0x23bfff"),
        Some((4096, 0x23b000, 0x23bfff))
    );
    assert_eq!(frames_line("(d1) memory: lots"), None);
}
