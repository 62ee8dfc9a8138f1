//! What a domU may not do is refused with Xen's errors, and it keeps running.
//!
//! The pv-guest test modes (the `extra` of the configs) print exactly:
//! - `test=domctl`:   `(dN) test=domctl: domctl returned -1 (EPERM)`
//! - `test=badhcall`: `(dN) test=badhcall: hypercall 60 returned -38 (ENOSYS)`

use tests::steps::{boot, create_and_wait_guest_line, list_with_healthy_dom0};
use tests::test_name;

#[test]
fn domu_domctl_gets_eperm() {
    let mut sys = boot(&test_name!());
    let (_, text) = create_and_wait_guest_line(&mut sys, "test-domctl.cfg", "test=domctl:");
    sys.check(
        text == "test=domctl: domctl returned -1 (EPERM)",
        format!("want `(dN) test=domctl: domctl returned -1 (EPERM)`, got {text:?}"),
    );
    list_with_healthy_dom0(&mut sys);
}

#[test]
fn domu_unknown_hypercall_gets_enosys() {
    let mut sys = boot(&test_name!());
    let (_, text) = create_and_wait_guest_line(&mut sys, "test-hypercall.cfg", "test=badhcall:");
    sys.check(
        text == "test=badhcall: hypercall 60 returned -38 (ENOSYS)",
        format!("want `(dN) test=badhcall: hypercall 60 returned -38 (ENOSYS)`, got {text:?}"),
    );
    list_with_healthy_dom0(&mut sys);
}
