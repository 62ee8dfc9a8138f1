//! Numbers and sizes from dom0's own user are bounded: `xl` arguments and configs are checked
//! (overflow, absurd sizes) with one `xl: ...` line naming the limit, and change nothing;
//! configs are parsed in bounded time and memory; and `xl create` of a big guest needs no
//! dom0 heap in proportion to it (dom0's heap is a fixed 4 MiB; running out shuts dom0 down).

use std::time::{Duration, Instant};
use tests::steps::{
    boot, check_free_memory_back, create_and_wait_guest_line, create_refused,
    list_with_healthy_dom0, row, run_ok, snapshot, xl_errors,
};
use tests::{test_name, BootOptions, OrFail, System};

/// How long a guest may take to act on a reboot request and come back.
const WAIT: Duration = Duration::from_secs(30);

/// `"max_memkb": N` of `xl list -l <dom>`.
fn max_memkb(sys: &mut System, dom: &str) -> Option<u64> {
    let out = sys.run(&format!("xl list -l {dom}"));
    let rest = &out[out.find("\"max_memkb\": ")? + "\"max_memkb\": ".len()..];
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

#[test]
fn mem_max_beyond_64_bits_is_refused_and_a_restart_still_works() {
    let mut sys = boot(&test_name!());
    create_and_wait_guest_line(&mut sys, "domu.cfg", "Hello from pv-guest domU");
    let before = snapshot(&mut sys);
    let max0 = max_memkb(&mut sys, "domu");
    sys.check(
        max0 == Some(16384),
        format!("domu's max_memkb {max0:?}, want 16384"),
    );
    // Accepted before, and the next restart overflowed `maxmem * 1024`.
    for (cmd, what) in [
        (
            "xl mem-max domu 18446744073709551615k",
            "xl: mem-max: 18446744073709551615 KiB is above the host's memory of ",
        ),
        (
            "xl mem-max domu 99999999999999999999t",
            "xl: mem-max: \"99999999999999999999t\" is above the host's memory of ",
        ),
        (
            "xl mem-max domu 4097m",
            "xl: mem-max: 4195328 KiB is above the host's memory of ",
        ),
    ] {
        let out = sys.run(cmd);
        let errs = xl_errors(&out);
        sys.check(
            errs.len() == 1 && errs[0].starts_with(what) && errs[0].ends_with(" MiB)"),
            format!("`{cmd}` must be refused naming the host's memory: {out:?}"),
        );
    }
    let after = snapshot(&mut sys);
    sys.check(
        before == after,
        format!("refused mem-max changed the system:\nbefore {before:?}\nafter  {after:?}"),
    );
    let max1 = max_memkb(&mut sys, "domu");
    sys.check(
        max1 == max0,
        format!("refused mem-max changed max_memkb to {max1:?}"),
    );

    // A valid one is kept for the restart, which builds the domain with it.
    run_ok(&mut sys, "xl mem-max domu 32");
    let m = sys.mark();
    run_ok(&mut sys, "xl reboot domu");
    let notice = sys
        .wait_line(m, "on_reboot = restart: restarted as domain ", WAIT)
        .or_fail();
    let new: u32 = tests::xl::restarted_domid(&notice)
        .unwrap_or_else(|| sys.fail(format!("no domain id in {notice:?}")));
    sys.wait_line(m, &format!("(d{new}) Hello from pv-guest domU"), WAIT)
        .or_fail();
    let max2 = max_memkb(&mut sys, "domu");
    sys.check(
        max2 == Some(32768),
        format!("the restarted domain's max_memkb is {max2:?}, want 32768"),
    );
}

#[test]
fn absurd_memory_sizes_are_refused_naming_the_limit() {
    let mut sys = boot(&test_name!());
    for (arg, mention) in [
        (
            "memory=18446744073709551616",
            "memory: must be between 1 and 4096 MiB, got 18446744073709551616",
        ),
        (
            "memory=18446744073709551615",
            "memory: must be between 1 and 4096 MiB, got 18446744073709551615",
        ),
        ("memory=99999999", "memory: must be between 1 and 4096 MiB"),
        (
            "memory=-1",
            "memory: must be between 1 and 4096 MiB, got -1",
        ),
        (
            "maxmem=0x10000000000000000",
            "maxmem: must be between 1 and 4096 MiB",
        ),
        // Within the config's limit, but not what this 512 MiB machine has.
        ("memory=4096", "not enough memory: domain needs 4096 MiB, "),
        (
            "maxmem=4096",
            "maxmem = 4096 MiB is more than the host's memory (",
        ),
        (
            "cap=6400",
            "cap = 6400: must be 0 to 400 (percent of the host's 4 CPUs; 0: no cap)",
        ),
    ] {
        let err = create_refused(&mut sys, &format!("domu.cfg {arg}"), &[mention]);
        sys.check(
            err.starts_with("xl: "),
            format!("one `xl: ` line expected for {arg}: {err:?}"),
        );
    }
}

#[test]
fn configs_with_very_many_keys_are_refused_at_once() {
    let mut sys = boot(&test_name!());
    // 200 settings in 3.5 KiB: refused at the 65th.
    let t = Instant::now();
    create_refused(
        &mut sys,
        "bad-many-keys.cfg",
        &[
            "xl: /etc/xen/bad-many-keys.cfg:67: setting063: too many settings (a config may have \
           at most 64, overrides included)",
        ],
    );
    // 40000 settings in ~810 KiB (generated by xtask): refused by its size, before parsing.
    create_refused(
        &mut sys,
        "bad-huge.cfg",
        &[
            "xl: /etc/xen/bad-huge.cfg: too large: ",
            " bytes (a config file may have at most 65536)",
        ],
    );
    // As many overrides as the shell's line holds: the same limit.
    let overrides: Vec<String> = (0..70).map(|i| format!("k{i}=1")).collect();
    create_refused(
        &mut sys,
        &format!("domu.cfg {}", overrides.join(" ")),
        &[
            "xl: <command line>:",
            "too many settings (a config may have at most 64",
        ],
    );
    // Each refusal was immediate (the snapshots around them included).
    let took = t.elapsed();
    sys.check(
        took < Duration::from_secs(60),
        format!("three refused configs took {took:?}"),
    );
    // dom0 is alive and well, its heap intact: a guest still starts.
    create_and_wait_guest_line(&mut sys, "domu.cfg", "Hello from pv-guest domU");
}

#[test]
fn a_2_gib_domu_starts_on_a_4_gib_machine_and_gives_all_memory_back() {
    let mut sys = System::boot_to_prompt(BootOptions::new(&test_name!()).memory("4G"));
    let free = sys.free_memory();
    sys.check(
        free > 2048 + 64,
        format!("a 4 GiB machine with {free} MiB free"),
    );
    // A list of its 524288 frames alone would be all of dom0's 4 MiB heap.
    let m = sys.mark();
    let (id, _) =
        create_and_wait_guest_line(&mut sys, "domu.cfg memory=2048", "Hello from pv-guest domU");
    let rows = list_with_healthy_dom0(&mut sys);
    let mem = row(&rows, "domu").map(|r| r.mem);
    sys.check(
        mem == Some(2048),
        format!("domu has {mem:?} MiB, want 2048: {rows:?}"),
    );
    sys.wait_line(m, &format!("(d{id}) memory: 524288 pages"), WAIT)
        .or_fail();
    let after = sys.free_memory();
    sys.check(
        after + 2048 <= free,
        format!("free memory {free} MiB before a 2 GiB domU, {after} MiB with it"),
    );
    run_ok(&mut sys, "xl destroy domu");
    check_free_memory_back(&mut sys, free, "destroying the 2 GiB domU");
    // dom0 still builds guests.
    create_and_wait_guest_line(&mut sys, "domu.cfg name=small", "Hello from pv-guest domU");
    let code = sys.poweroff();
    sys.check(code == 33, format!("poweroff exit {code}"));
}
