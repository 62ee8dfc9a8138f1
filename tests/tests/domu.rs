//! The domU life cycle: `xl create` the example guest, see it greet and in `xl list`,
//! `xl destroy` it and get its memory back.

use std::time::{Duration, Instant};
use tests::steps::{
    boot, check_free_memory_back, create_and_wait_guest_line, list_with_healthy_dom0, row,
    xl_errors,
};
use tests::test_name;

#[test]
fn create_list_destroy_domu() {
    let mut sys = boot(&test_name!());
    let rows = list_with_healthy_dom0(&mut sys);
    sys.check(
        rows.len() == 1,
        format!("fresh boot: want only Domain-0, got {rows:?}"),
    );
    let free_before = sys.free_memory();

    // Create: the guest greets on the console with its domain ID prefix.
    let (id, text) = create_and_wait_guest_line(&mut sys, "domu.cfg", "Hello from pv-guest domU");
    sys.check(
        text == "Hello from pv-guest domU, cmdline \"greet\"",
        format!("want `(d{id}) Hello from pv-guest domU, cmdline \"greet\"`, got `(d{id}) {text}`"),
    );
    sys.check(id == 1, format!("the first domU got ID {id}, want 1"));

    // `xl list`: Domain-0 and domu, with 16 MiB and a live state.
    let rows = list_with_healthy_dom0(&mut sys);
    let Some(domu) = row(&rows, "domu").cloned() else {
        sys.fail(format!("`xl list` has no domu row: {rows:?}"))
    };
    sys.check(
        rows.len() == 2,
        format!("want Domain-0 and domu, got {rows:?}"),
    );
    sys.check(
        domu.id == id,
        format!("domu has ID {} but its console says d{id}", domu.id),
    );
    sys.check(
        domu.mem == 16,
        format!("domu has {} MiB, its config says 16", domu.mem),
    );
    sys.check(
        domu.vcpus == 1,
        format!("domu has {} vCPUs, want 1", domu.vcpus),
    );
    sys.check(
        !domu.is_dead(),
        format!("domu state {:?} is not running/blocked", domu.state),
    );

    // Its memory came out of the free pool.
    let free_during = sys.free_memory();
    sys.check(
        free_during + 16 <= free_before,
        format!("free memory went from {free_before} to {free_during} MiB creating a 16 MiB domU"),
    );

    // Destroy: it leaves `xl list` and its memory returns to the free pool.
    let out = sys.run("xl destroy domu");
    let errs = xl_errors(&out);
    sys.check(
        errs.is_empty(),
        format!("`xl destroy domu` failed: {}", errs.join(" / ")),
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    let rows = loop {
        let rows = list_with_healthy_dom0(&mut sys);
        if row(&rows, "domu").is_none() || Instant::now() > deadline {
            break rows;
        }
        std::thread::sleep(Duration::from_secs(1));
    };
    sys.check(
        rows.len() == 1 && row(&rows, "domu").is_none(),
        format!("after `xl destroy domu` want only Domain-0, got {rows:?}"),
    );
    check_free_memory_back(&mut sys, free_before, "} after destroy");
}
