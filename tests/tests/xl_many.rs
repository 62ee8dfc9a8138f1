//! 50 small domains created in a loop, `xl list` correct throughout, all destroyed: free
//! memory exactly as before.

use std::time::{Duration, Instant};
use tests::steps::{check_free_memory_back, list_with_healthy_dom0, row, run_ok, xl_errors};
use tests::{test_name, BootOptions, System};

const N: u32 = 50;
/// MiB each: the pv-guest needs about 6 (its 4 MiB heap is in .bss).
const MEM: u64 = 8;

#[test]
fn fifty_domains_leave_memory_as_before() {
    let mut sys = System::boot_to_prompt(
        BootOptions::new(&test_name!()).hard_timeout(Duration::from_secs(240)),
    );
    let t0 = Instant::now();
    let free_before = sys.free_memory();
    sys.check(
        free_before >= u64::from(N) * MEM + 8,
        format!("{free_before} MiB free is too little for {N} x {MEM} MiB"),
    );
    for i in 1..=N {
        let cmd = format!("xl create /etc/xen/domu.cfg name=small{i} memory={MEM} extra=\"n={i}\"");
        let out = sys.run(&cmd);
        let errs = xl_errors(&out);
        sys.check(errs.is_empty(), format!("`{cmd}` failed: {errs:?}"));
        if i % 10 == 0 {
            let rows = list_with_healthy_dom0(&mut sys);
            sys.check(
                rows.len() == i as usize + 1,
                format!(
                    "after {i} creates `xl list` has {} rows: {rows:?}",
                    rows.len()
                ),
            );
            for j in 1..=i {
                let name = format!("small{j}");
                let ok =
                    row(&rows, &name).is_some_and(|r| r.id == j && r.mem == MEM && !r.is_dead());
                sys.check(ok, format!("{name} missing or wrong in {rows:?}"));
            }
        }
    }
    let free_full = sys.free_memory();
    sys.check(
        free_full + u64::from(N) * MEM <= free_before,
        format!("{N} x {MEM} MiB domains but free memory went {free_before} -> {free_full}"),
    );
    for i in (1..=N).rev() {
        run_ok(&mut sys, &format!("xl destroy small{i}"));
        if i % 10 == 1 {
            let rows = list_with_healthy_dom0(&mut sys);
            sys.check(
                rows.len() == i as usize,
                format!("after destroying down to small{i}: {rows:?}"),
            );
        }
    }
    let rows = list_with_healthy_dom0(&mut sys);
    sys.check(rows.len() == 1, format!("all destroyed, but: {rows:?}"));
    check_free_memory_back(&mut sys, free_before, "} after {N} create/destroy");
    sys.check(
        t0.elapsed() < Duration::from_secs(200),
        format!("took {:?}", t0.elapsed()),
    );
}
