//! `xl create` of a bad config prints a clear `xl: ...` error and changes nothing
//! (`xl list` and `xl info`'s free memory are the same before and after).

use tests::steps::{boot, create_and_wait_guest_line, create_refused};
use tests::test_name;
use tests::xl::cfg_value;

fn cfg_field(cfg: &str, key: &str) -> String {
    let text = tests::example_config(cfg)
        .unwrap_or_else(|| panic!("dom0-tools/examples/{cfg} is missing"));
    cfg_value(&text, key).unwrap_or_else(|| panic!("dom0-tools/examples/{cfg} has no {key}"))
}

#[test]
fn create_with_missing_kernel_is_refused() {
    let kernel = cfg_field("bad-kernel.cfg", "kernel");
    let mut sys = boot(&test_name!());
    create_refused(&mut sys, "bad-kernel.cfg", &[&kernel]);
}

#[test]
fn create_with_bad_memory_is_refused() {
    let mut sys = boot(&test_name!());
    create_refused(&mut sys, "bad-memory.cfg", &["memory"]);
}

#[test]
fn create_with_duplicate_name_is_refused() {
    let mut sys = boot(&test_name!());
    create_and_wait_guest_line(&mut sys, "domu.cfg", "Hello from pv-guest domU");
    create_refused(&mut sys, "domu.cfg", &["domu", "exists"]);
}

#[test]
fn create_with_more_than_eight_vcpus_is_refused_naming_the_limit() {
    let mut sys = boot(&test_name!());
    create_refused(
        &mut sys,
        "domu.cfg vcpus=9",
        &["vcpus = 9", "at most 8 vCPUs per domain"],
    );
    create_refused(
        &mut sys,
        "domu.cfg maxvcpus=16",
        &["maxvcpus = 16", "at most 8 vCPUs per domain"],
    );
}
