//! A clean `poweroff` from the dom0 shell ends QEMU with status 33 (docs/design.md).

use tests::steps::{boot, list_with_healthy_dom0};
use tests::{describe_exit, test_name, EXIT_POWEROFF};

#[test]
fn poweroff_from_dom0_shell_exits_33() {
    let mut sys = boot(&test_name!());
    list_with_healthy_dom0(&mut sys);
    let code = sys.poweroff();
    sys.check(
        code == EXIT_POWEROFF,
        format!(
            "QEMU exited with {}, want {}",
            describe_exit(Some(code)),
            describe_exit(Some(EXIT_POWEROFF))
        ),
    );
}
