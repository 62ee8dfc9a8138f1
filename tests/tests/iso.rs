//! The bootable ISO (`cargo xtask iso`) on PCs, booted as a person would boot it: from the CD
//! drive, through the firmware and GRUB's menu on the serial line, to the hypervisor, dom0's
//! shell and a domU. `cargo xtask test` makes the ISO first; a missing or stale one fails.

use tests::steps::{check_free_memory_back, create_and_wait_guest_line, list_with_healthy_dom0};
use tests::{test_name, BootOptions, OrFail, PcBoot, System, BOOT_TIMEOUT, EXIT_POWEROFF, PROMPT};

/// The ISO's menu entry (`ENTRY_TITLE` in xtask/src/iso.rs).
const ENTRY: &str = "Xen-style PV hypervisor (Rust) with dom0";
/// The hypervisor's first line with the ISO's command line (`HV_CMDLINE` in xtask/src/iso.rs).
const BANNER: &str = "(XEN) Xen-style PV hypervisor (Rust), command line: \"console=com1,vga\"";

/// From power-on to dom0's prompt: the firmware, GRUB's menu (its entry chosen by the
/// timeout), the hypervisor.
fn boot_through_grub(sys: &mut System) {
    sys.expect("GNU GRUB", BOOT_TIMEOUT).or_fail();
    sys.expect(ENTRY, BOOT_TIMEOUT).or_fail();
    sys.expect(BANNER, BOOT_TIMEOUT).or_fail();
    sys.expect(PROMPT, BOOT_TIMEOUT).or_fail();
    // GRUB passes the modules in the order of grub.cfg, with their own (empty) command lines.
    let t = sys.transcript();
    for m in ["(XEN) module 1: ", "(XEN) module 2: "] {
        sys.check(
            t.contains(m),
            format!("no `{m}` line: GRUB passed too few modules"),
        );
    }
}

/// A domU's life on the booted PC: create it, see it greet, destroy it, get its memory back.
fn domu_round_trip(sys: &mut System) {
    let rows = list_with_healthy_dom0(sys);
    sys.check(
        rows.len() == 1,
        format!("fresh boot: want only Domain-0, got {rows:?}"),
    );
    let free_before = sys.free_memory();
    let (id, text) = create_and_wait_guest_line(sys, "domu.cfg", "Hello from pv-guest domU");
    sys.check(
        id == 1 && text == "Hello from pv-guest domU, cmdline \"greet\"",
        format!("want `(d1) Hello from pv-guest domU, cmdline \"greet\"`, got `(d{id}) {text}`"),
    );
    let out = sys.run("xl destroy domu");
    sys.check(
        !out.contains("xl: "),
        format!("`xl destroy domu` failed: {out}"),
    );
    let rows = list_with_healthy_dom0(sys);
    sys.check(
        rows.len() == 1,
        format!("after `xl destroy domu`: want only Domain-0, got {rows:?}"),
    );
    check_free_memory_back(sys, free_before, "creating and destroying domu");
}

#[test]
fn iso_boots_a_bios_pc_to_dom0_with_the_log_on_the_vga_screen() {
    let mut sys = System::boot(BootOptions::pc(&test_name!(), PcBoot::bios()).with_qmp());
    boot_through_grub(&mut sys);
    let t = sys.transcript();
    sys.check(
        t.contains("(XEN) console: com1,vga (vga: 80x25 text at 0xb8000)"),
        "the hypervisor did not report its VGA text console",
    );

    // The screen: GRUB's text is gone, the hypervisor's log is there, as a PC would show it.
    let screen = sys.vga_text().or_fail();
    let lines: Vec<&str> = screen.lines().collect();
    sys.check(
        lines.first() == Some(&BANNER),
        format!("the VGA screen does not start with the banner:\n{screen}"),
    );
    for want in ["(XEN) memory: ", "(XEN) dom0: "] {
        sys.check(
            lines.iter().any(|l| l.starts_with(want)),
            format!("no `{want}` line on the VGA screen:\n{screen}"),
        );
    }
    sys.check(
        !screen.contains("GNU GRUB") && !screen.contains("dom0# "),
        format!("the VGA screen shows GRUB's menu or dom0's shell:\n{screen}"),
    );

    domu_round_trip(&mut sys);
    // A domU's end is logged on the screen too.
    let screen = sys.vga_text().or_fail();
    sys.check(
        screen.contains("(XEN) domain 1 destroyed"),
        format!("`(XEN) domain 1 destroyed` is not on the VGA screen:\n{screen}"),
    );
    let code = sys.poweroff();
    sys.check(
        code == EXIT_POWEROFF,
        format!("poweroff: QEMU exited {code}, want {EXIT_POWEROFF}"),
    );
}

#[test]
fn iso_boots_a_uefi_pc_to_dom0() {
    let mut sys = System::boot(BootOptions::pc(&test_name!(), PcBoot::uefi()));
    boot_through_grub(&mut sys);
    // UEFI leaves no VGA text mode: the hypervisor says so and logs on the serial line only.
    let t = sys.transcript();
    sys.check(
        t.contains("(XEN) console: com1\n"),
        "the hypervisor's console line under UEFI is not `console: com1`",
    );
    sys.check(
        t.contains("(XEN) console: vga off: "),
        "no `console: vga off` line under UEFI",
    );
    domu_round_trip(&mut sys);
    let code = sys.poweroff();
    sys.check(
        code == EXIT_POWEROFF,
        format!("poweroff: QEMU exited {code}, want {EXIT_POWEROFF}"),
    );
}
