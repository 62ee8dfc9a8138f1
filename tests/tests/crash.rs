//! A domU executing a privileged instruction with no handler is crashed and reported as
//! `(XEN) domain N crashed: <reason>`; dom0 keeps running and sees it crashed or gone.

use tests::steps::{boot, create_expect_crash};
use tests::test_name;
use tests::xl::cfg_value;

/// The example config must select the guest test mode `want` (its `extra`).
fn config_selects(cfg: &str, want: &str) {
    let text = tests::example_config(cfg)
        .unwrap_or_else(|| panic!("dom0-tools/examples/{cfg} is missing"));
    let extra = cfg_value(&text, "extra");
    assert_eq!(
        extra.as_deref(),
        Some(want),
        "dom0-tools/examples/{cfg} must have `extra = \"{want}\"`"
    );
}

#[test]
fn domu_hlt_is_crashed_dom0_survives() {
    config_selects("test-hlt.cfg", "test=hlt");
    let mut sys = boot(&test_name!());
    create_expect_crash(&mut sys, "test-hlt.cfg");
}

#[test]
fn domu_cli_is_crashed_dom0_survives() {
    config_selects("test-cli.cfg", "test=cli");
    let mut sys = boot(&test_name!());
    create_expect_crash(&mut sys, "test-cli.cfg");
}

#[test]
fn domu_mov_cr3_is_crashed_dom0_survives() {
    config_selects("test-crash-cr3.cfg", "test=movcr3");
    let mut sys = boot(&test_name!());
    create_expect_crash(&mut sys, "test-crash-cr3.cfg");
}
