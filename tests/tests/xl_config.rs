//! xl.cfg handling end to end: `ramdisk` and `cmdline` reach the guest, and malformed configs
//! or images are refused naming the file, line and reason (and change nothing).

use std::time::Duration;
use tests::steps::{boot, create_and_wait_guest_line, create_refused};
use tests::{test_name, OrFail};

#[test]
fn ramdisk_and_cmdline_reach_the_guest() {
    let cfg = tests::example_config("ramdisk.cfg").expect("dom0-tools/examples/ramdisk.cfg");
    let mut sys = boot(&test_name!());
    let m = sys.mark();
    let (id, hello) =
        create_and_wait_guest_line(&mut sys, "ramdisk.cfg", "Hello from pv-guest domU");
    sys.check(
        hello.ends_with("cmdline \"rd-test console=hvc0\""),
        format!("`cmdline` did not reach the guest: {hello:?}"),
    );
    // The ramdisk is the config file itself: the guest sees its exact size and first line.
    let first: String = cfg.lines().next().unwrap_or("").chars().take(60).collect();
    let want = format!(
        "(d{id}) ramdisk: {} bytes, first line \"{first}\"",
        cfg.len()
    );
    sys.wait_line_where(m, &want, Duration::from_secs(20), |l| l == want)
        .or_fail();
}

#[test]
fn malformed_configs_and_images_are_refused_naming_the_cause() {
    let mut sys = boot(&test_name!());
    create_refused(
        &mut sys,
        "bad-key.cfg",
        &["xl: /etc/xen/bad-key.cfg:4: colour: unknown setting"],
    );
    create_refused(
        &mut sys,
        "bad-memory.cfg",
        &["xl: /etc/xen/bad-memory.cfg:4: memory: expected a number of MiB, got \"lots\""],
    );
    create_refused(
        &mut sys,
        "domu.cfg kernel=/etc/xen/domu.cfg",
        &["kernel \"/etc/xen/domu.cfg\": not an ELF file"],
    );
    create_refused(
        &mut sys,
        "domu.cfg ramdisk=/boot/none",
        &["ramdisk \"/boot/none\" not found in dom0's initrd"],
    );
    create_refused(
        &mut sys,
        "domu.cfg cmdline=x",
        &["cmdline: cannot be combined with root or extra"],
    );
}
