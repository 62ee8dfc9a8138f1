//! The hypervisor's boot self-test: `selftest=ring3` on its command line.

use std::time::Duration;
use tests::{describe_exit, test_name, BootOptions, OrFail, System, BOOT_TIMEOUT, PROMPT};

const PREFIX: &str = "(XEN) selftest ring3: ";

#[test]
fn selftest_ring3_reports_ok_and_exits_33() {
    let mut sys = System::boot(BootOptions::new(&test_name!()).cmdline("selftest=ring3"));
    // Progress lines may come first; the result line says OK (maybe with details) or FAIL.
    let line = sys
        .wait_line_where(0, "(XEN) selftest ring3: OK|FAIL", BOOT_TIMEOUT, |l| {
            l.strip_prefix(PREFIX)
                .is_some_and(|r| r.starts_with("OK") || r.starts_with("FAIL"))
        })
        .or_fail();
    let result = &line[PREFIX.len()..];
    sys.check(
        result == "OK" || result.starts_with("OK "),
        format!("want `(XEN) selftest ring3: OK`, got {line:?}"),
    );
    // After the self-test the hypervisor either powers off by itself or goes on to dom0;
    // either way the run must end in a clean poweroff.
    let code = match sys.expect(PROMPT, BOOT_TIMEOUT) {
        Ok(_) => sys.poweroff(),
        Err(f) => match sys.wait_exit(Duration::from_secs(1)) {
            Ok(Some(code)) => code,
            _ => panic!("{f}"),
        },
    };
    sys.check(
        code == 33,
        format!("QEMU exited with {}, want 33", describe_exit(Some(code))),
    );
}
