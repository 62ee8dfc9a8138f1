//! The PV MMU and CPU from a guest's side: pv-guest's `test=mm`, `test=fpu` and `test=pinhold`
//! modes manage their address space, descriptor tables and FPU only through hypercalls and
//! print one verdict line per check.

use std::time::{Duration, Instant};
use tests::steps::{boot, check_free_memory_back, list_with_healthy_dom0, row};
use tests::test_name;
use tests::xl::domu_line;
use tests::System;

/// What `test=mm` prints, one verdict line per check, when every check passes.
pub const MM_VERDICTS: &[&str] = &[
    "test=mm: update_va_mapping map, write, read back: ok",
    "test=mm: mmu_update map, write, read back: ok",
    "test=mm: second read-only mapping reads the same data: ok",
    "test=mm: unmapped page faults (#PF, cr2 = its address, supervisor access): ok",
    "test=mm: remapped page still holds its data: ok",
    "test=mm: mapping our L4 writable: EBUSY",
    "test=mm: new L1 pinned, hooked into L2, page mapped through it, torn down: ok",
    "test=mm: set_gdt: our descriptor is live (lar, accessed bit): ok",
    "test=mm: update_descriptor: ring-0 code 0 (as ring 3: true), conforming EINVAL, ring-3 code 0: ok",
    "test=mm: mapping a GDT frame writable: EBUSY",
    "test=mm: set_ldt: our LDT descriptor is live (lar): ok",
    "test=mm: LDT and GDT dropped, frames writable again: ok",
    "test=mm: multicall (version, update_va_mapping, nested multicall, unknown): results written back 0, EINVAL, ENOSYS: ok",
];

/// Create `domu.cfg` with `extra` overridden; return the mark before it.
pub fn create_with(sys: &mut System, name: &str, extra: &str) -> usize {
    create_opts(sys, "", name, extra)
}

fn create_opts(sys: &mut System, opts: &str, name: &str, extra: &str) -> usize {
    let mark = sys.mark();
    let out = sys.run(&format!(
        "xl create {opts}/etc/xen/domu.cfg name={name} extra=\"{extra}\""
    ));
    sys.check(
        !out.contains("xl: "),
        format!("`xl create` of {name} failed: {out}"),
    );
    mark
}

/// Wait for the domU line starting with `prefix` and return its text (after `(dN) `).
fn guest_line(sys: &mut System, mark: usize, prefix: &str) -> String {
    let line = sys
        .wait_line_where(mark, prefix, Duration::from_secs(60), |l| {
            domu_line(l).is_some_and(|(_, t)| t.starts_with(prefix))
        })
        .unwrap_or_else(|f| sys.fail(f.msg));
    domu_line(&line).map(|(_, t)| t.to_string()).unwrap()
}

pub fn expect_lines(sys: &mut System, mark: usize, want: &[&str]) {
    for w in want {
        // The first 30 characters name the check; the rest is its verdict.
        let prefix = &w[..30.min(w.len())];
        let got = guest_line(sys, mark, prefix);
        sys.check(got == *w, format!("want `{w}`, got `{got}`"));
    }
}

#[test]
fn guest_maps_unmaps_remaps_and_uses_descriptor_tables() {
    let mut sys = boot(&test_name!());
    let mark = create_with(&mut sys, "mm", "test=mm");
    expect_lines(&mut sys, mark, MM_VERDICTS);
    let crashes = sys.lines_since(mark, " crashed:");
    sys.check(crashes.is_empty(), format!("a domain crashed: {crashes:?}"));
    list_with_healthy_dom0(&mut sys);
}

#[test]
fn fpu_state_is_per_vcpu_and_ts_raises_nm() {
    let mut sys = boot(&test_name!());
    // Two guests with different x87 control words, started together, switch back and
    // forth 300 times each.
    let m1 = create_opts(&mut sys, "-p ", "fpu1", "test=fpu fpu=1");
    let m2 = create_opts(&mut sys, "-p ", "fpu2", "test=fpu fpu=2");
    sys.run("xl unpause fpu1");
    sys.run("xl unpause fpu2");
    let _ = m2;
    for want in [
        "test=fpu: x87 control word kept across 300 yields: ok",
        "test=fpu: after fpu_taskswitch(1) the next FPU use raised #NM 1 time(s), then 0: ok",
    ] {
        // Each guest prints its verdict once: (d1) and (d2).
        let deadline = Instant::now() + Duration::from_secs(60);
        let ids = loop {
            // dom0 echoes the `xl unpause` being typed while the first guest prints: its
            // line may start after a stray echoed character.
            let mut ids: Vec<u32> = sys
                .since(m1)
                .lines()
                .filter_map(|l| domu_line(&l[l.find("(d").unwrap_or(0)..]))
                .filter(|(_, t)| t.starts_with(&want[..30]))
                .map(|(id, t)| {
                    if t != want {
                        sys.fail(format!("want `{want}`, got `{t}`"));
                    }
                    id
                })
                .collect();
            ids.sort();
            if ids.len() >= 2 || Instant::now() > deadline {
                break ids;
            }
            std::thread::sleep(Duration::from_millis(100));
        };
        sys.check(
            ids.len() == 2 && ids[0] != ids[1],
            format!("want `{want}` from both guests, got it from {ids:?}"),
        );
    }
    list_with_healthy_dom0(&mut sys);
}

#[test]
fn destroy_returns_pinned_tables_and_descriptor_frames() {
    let mut sys = boot(&test_name!());
    let free_before = sys.free_memory();
    let mark = create_with(&mut sys, "pinhold", "test=pinhold");
    let got = guest_line(&mut sys, mark, "test=pinhold:");
    sys.check(
        got == "test=pinhold: pinned 512 L1 tables, GDT and LDT set: ok",
        format!("pinhold said `{got}`"),
    );
    let free_during = sys.free_memory();
    sys.check(
        free_during + 16 <= free_before,
        format!("free memory {free_before} MiB before, {free_during} MiB with the guest"),
    );
    let out = sys.run("xl destroy pinhold");
    sys.check(!out.contains("xl: "), format!("`xl destroy` failed: {out}"));
    let deadline = Instant::now() + Duration::from_secs(10);
    while row(&list_with_healthy_dom0(&mut sys), "pinhold").is_some() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
    }
    check_free_memory_back(&mut sys, free_before, "} MiB after destroy");
}
