//! Debian's PV-GRUB (grub-xen-host's `grub-x86_64-xen.bin`) as a domU: it writes to the
//! console ring named in its start_info from its first instruction and never touches the
//! xenbus console device, so it is seen only because dom0's back end serves that ring from
//! domain creation (as Xen's xenconsoled). With no disk it stops at `grub>`; commands typed
//! through `xl console` answer.
//!
//! Needs Debian's guests in dom0's initrd, which `cargo xtask test` builds (`cargo xtask
//! build --guests` before running this file alone).

use std::time::Duration;
use tests::steps::boot;
use tests::test_name;

const T: Duration = Duration::from_secs(120);

#[test]
fn pvgrub_reaches_its_prompt_and_answers_through_xl_console() {
    let mut sys = boot(&test_name!());
    sys.send("xl create /etc/xen/pvgrub.cfg -c\n")
        .unwrap_or_else(|f| sys.fail(f));
    for want in [
        "Started domain pvgrub (id=1)",
        "Connected to domain 1 console; Ctrl-] detaches",
        "Welcome to GRUB!",
        "GNU GRUB  version",
        "grub> ",
    ] {
        if let Err(f) = sys.expect(want, T) {
            sys.fail(f);
        }
    }
    // GRUB echoes each key with cursor moves; its answers are plain lines.
    sys.send("ls\r").unwrap_or_else(|f| sys.fail(f));
    if let Err(f) = sys.expect("(memdisk)", T) {
        sys.fail(f);
    }
    sys.send("echo typed-through-xl-console\r")
        .unwrap_or_else(|f| sys.fail(f));
    if let Err(f) = sys.expect("\ntyped-through-xl-console", T) {
        sys.fail(f);
    }
    sys.send("lsmod\r").unwrap_or_else(|f| sys.fail(f));
    if let Err(f) = sys.expect("Ref Count", T) {
        sys.fail(f);
    }
    // Ctrl-] detaches; dom0 and the domain run on.
    sys.send("\x1d").unwrap_or_else(|f| sys.fail(f));
    if let Err(f) = sys.expect_prompt() {
        sys.fail(f);
    }
    let out = sys.run("xl list");
    sys.check(
        out.lines().any(|l| l.starts_with("pvgrub ")),
        format!("PV-GRUB must keep running after detaching: {out}"),
    );
    let out = sys.run("xl destroy pvgrub");
    sys.check(!out.contains("xl:"), format!("xl destroy: {out}"));
    sys.poweroff();
}
