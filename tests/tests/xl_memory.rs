//! `xl mem-set`: ballooning a domU through XenStore's `memory/target` and its balloon
//! driver (decrease_reservation / populate_physmap), within `maxmem`.

use std::time::Duration;
use tests::steps::{
    boot, create_and_wait_guest_line, list_with_healthy_dom0, row, run_ok, xl_errors,
};
use tests::{test_name, OrFail, System};

/// `domu`'s memory in `xl list` (MiB).
fn domu_mem(sys: &mut System) -> u64 {
    let rows = list_with_healthy_dom0(sys);
    match row(&rows, "domu") {
        Some(r) => r.mem,
        None => sys.fail(format!("domu is not listed: {rows:?}")),
    }
}

/// `xl mem-set domu <mib>` that must succeed and say the guest got there.
fn mem_set_ok(sys: &mut System, mib: u64) {
    let cmd = format!("xl mem-set domu {mib}");
    let out = run_ok(sys, &cmd);
    let want = format!(
        "Domain 1 (\"domu\") reached its memory target: {} KiB ({mib} MiB)",
        mib * 1024
    );
    sys.check(
        out.contains(&want),
        format!("`{cmd}` did not report {want:?}: {out}"),
    );
}

#[test]
fn mem_set_balloons_down_and_up_within_maxmem() {
    let mut sys = boot(&test_name!());
    let free_boot = sys.free_memory();
    create_and_wait_guest_line(&mut sys, "domu.cfg memory=32", "Hello from pv-guest domU");
    let m = sys.mark();
    let mem = domu_mem(&mut sys);
    sys.check(mem == 32, format!("domu must start with 32 MiB, has {mem}"));
    let free0 = sys.free_memory();
    sys.check(
        free0 + 32 <= free_boot,
        format!("free memory {free_boot} MiB at boot, {free0} with a 32 MiB domU"),
    );

    // Down to 16 MiB: the guest gives 4096 pages back, the host gets 16 MiB.
    mem_set_ok(&mut sys, 16);
    sys.wait_line(
        m,
        "(d1) balloon: target 16384 KiB: gave back 4096 pages, now 16384 KiB",
        Duration::from_secs(20),
    )
    .or_fail();
    let mem = domu_mem(&mut sys);
    sys.check(
        mem == 16,
        format!("`xl list` shows domu with {mem} MiB, want 16"),
    );
    let free1 = sys.free_memory();
    sys.check(
        free1 == free0 + 16,
        format!("free memory {free0} MiB before mem-set 16, {free1} after: want +16"),
    );
    // The target is in XenStore, where the guest read it.
    let out = sys.run("xenstore-read /local/domain/1/memory/target");
    sys.check(
        out.lines().any(|l| l.trim() == "16384"),
        format!("memory/target after mem-set 16: {out:?}"),
    );

    // Back up to 24 MiB (within maxmem = memory = 32).
    let m = sys.mark();
    mem_set_ok(&mut sys, 24);
    sys.wait_line(
        m,
        "(d1) balloon: target 24576 KiB: took 2048 pages, now 24576 KiB",
        Duration::from_secs(20),
    )
    .or_fail();
    let mem = domu_mem(&mut sys);
    sys.check(
        mem == 24,
        format!("`xl list` shows domu with {mem} MiB, want 24"),
    );
    let free2 = sys.free_memory();
    sys.check(
        free2 == free0 + 8,
        format!("free memory {free0} MiB with 32 MiB domU, {free2} at 24 MiB: want +8"),
    );

    // Above maxmem: refused, naming the limit; nothing changes.
    let out = sys.run("xl mem-set domu 64");
    let errs = xl_errors(&out);
    sys.check(
        errs.len() == 1
            && errs[0].contains("65536 KiB is above")
            && errs[0].contains("maximum of 32768 KiB")
            && errs[0].contains("maxmem"),
        format!("mem-set above maxmem must be refused naming the limit: {out:?}"),
    );
    let mem = domu_mem(&mut sys);
    sys.check(
        mem == 24,
        format!("a refused mem-set changed domu's memory to {mem} MiB"),
    );
    for (cmd, want) in [
        (
            "xl mem-set 0 16",
            "xl: mem-set: not permitted on Domain-0 (domain 0): it runs no balloon driver",
        ),
        (
            "xl mem-set nosuch 16",
            "xl: mem-set: no such domain: \"nosuch\"",
        ),
    ] {
        let out = sys.run(cmd);
        sys.check(
            xl_errors(&out) == [want],
            format!("`{cmd}`: want {want:?}, got {out:?}"),
        );
    }

    // Everything goes back on destroy.
    run_ok(&mut sys, "xl destroy domu");
    let free3 = sys.free_memory();
    sys.check(
        free3 == free_boot,
        format!("free memory {free_boot} MiB at boot, {free3} after destroying the ballooned domU"),
    );
}

#[test]
fn mem_set_beyond_the_initial_region_times_out_naming_target_and_current() {
    let mut sys = boot(&test_name!());
    create_and_wait_guest_line(&mut sys, "domu.cfg", "Hello from pv-guest domU");
    // 1 MiB is below the guest's initial region (kernel, p2m, page tables): the balloon
    // driver gives back what it can and says why it stops.
    let m = sys.mark();
    let out = sys.run("xl mem-set domu 1");
    let errs = xl_errors(&out);
    sys.check(
        errs.len() == 1
            && errs[0].contains("has not reached its memory target of 1024 KiB: it has ")
            && errs[0].contains(" KiB after 10 s"),
        format!("mem-set below the initial region: {out:?}"),
    );
    sys.wait_line(m, "(d1) balloon: stopped ", Duration::from_secs(20))
        .or_fail();
    let mem = domu_mem(&mut sys);
    sys.check(
        (2..16).contains(&mem),
        format!("domu should have given back what it could: {mem} MiB"),
    );
}

#[test]
fn mem_set_grows_past_the_boot_memory_up_to_maxmem() {
    let mut sys = boot(&test_name!());
    create_and_wait_guest_line(
        &mut sys,
        "domu.cfg memory=16 maxmem=32",
        "Hello from pv-guest domU",
    );
    let free0 = sys.free_memory();
    let m = sys.mark();
    // PFNs beyond the 16 MiB it booted with: the driver extends its p2m.
    mem_set_ok(&mut sys, 24);
    sys.wait_line(
        m,
        "(d1) balloon: target 24576 KiB: took 2048 pages, now 24576 KiB",
        Duration::from_secs(20),
    )
    .or_fail();
    let mem = domu_mem(&mut sys);
    sys.check(
        mem == 24,
        format!("`xl list` shows domu with {mem} MiB, want 24"),
    );
    let free1 = sys.free_memory();
    sys.check(
        free1 + 8 == free0,
        format!("free memory {free0} MiB before growing by 8 MiB, {free1} after"),
    );
    // And back down below the boot memory.
    mem_set_ok(&mut sys, 12);
    let mem = domu_mem(&mut sys);
    sys.check(
        mem == 12,
        format!("`xl list` shows domu with {mem} MiB, want 12"),
    );
}
