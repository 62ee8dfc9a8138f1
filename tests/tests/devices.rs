//! dom0's device access: the machine's disk is a virtio-mmio block device (QEMU's microvm puts
//! the first one in its last slot, 0xfeb02e00); dom0 reads its registers with `devmem`
//! through an uncached mapping the hypervisor grants for I/O memory (DOMID_IO), and nothing
//! else: RAM and the hypervisor's own local APIC stay out of reach.

use tests::steps::{boot, list_with_healthy_dom0};
use tests::test_name;

#[test]
fn dom0_reads_the_virtio_disks_registers_and_nothing_that_is_not_io_memory() {
    let mut sys = boot(&test_name!());
    for (cmd, want) in [
        // The virtio-mmio magic ("virt"), version 2 (virtio 1.x, not legacy) and device
        // ID 2: a block device.
        ("devmem 0xfeb02e00", "0x74726976"),
        ("devmem 0xfeb02e04", "0x00000002"),
        ("devmem 0xfeb02e08", "0x00000002"),
        // QEMU's vendor ID ("QEMU").
        ("devmem 0xfeb02e0c", "0x554D4551"),
        (
            "devmem 0xfee00000",
            "devmem: cannot map 0xfee00000: not I/O memory dom0 may map (RAM, or the \
             hypervisor's own device) (EPERM)",
        ),
        (
            "devmem 0x200000",
            "devmem: cannot map 0x200000: not I/O memory dom0 may map (RAM, or the \
             hypervisor's own device) (EPERM)",
        ),
        (
            "devmem 0xfeb02e02",
            "devmem: address 0xfeb02e02 is not aligned to 4 bytes",
        ),
    ] {
        let out = sys.run(cmd);
        sys.check(
            out.trim() == want,
            format!("`{cmd}`: want {want:?}, got {out:?}"),
        );
    }
    list_with_healthy_dom0(&mut sys);
}

/// dom0 finds the machine's devices the way the machine describes them: `lsdev` reads
/// microvm's ACPI tables (RSDP in the BIOS area, XSDT, FADT, DSDT) through I/O-memory
/// mappings, walks the DSDT's AML to its virtio-mmio transports (`_HID "LNRO0005"`) and their
/// `_CRS` (register window, interrupt), and names each by the device ID its registers give.
/// The disk is in microvm's last slot, whose interrupt is the second I/O APIC's last input,
/// level-triggered, active high; the NIC in the slot before it.
#[test]
fn dom0_lists_the_virtio_disk_as_the_acpi_tables_describe_it() {
    let mut sys = boot(&test_name!());
    let out = sys.run("lsdev");
    let want = [
        "virtio-mmio@0xfeb02c00 size 0x200 gsi 46 level high: network device",
        "virtio-mmio@0xfeb02e00 size 0x200 gsi 47 level high: block device",
    ];
    let lines: Vec<&str> = out
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    sys.check(
        lines == want,
        format!("`lsdev`: want exactly {want:?}, got {out:?}"),
    );
    list_with_healthy_dom0(&mut sys);
}

/// The machine as its ACPI tables describe it, and console input by interrupt: the I/O APIC
/// routes COM1's IRQ 4 to the hypervisor,
/// which tells dom0 (VIRQ_CONSOLE) instead of looking at the UART on every scheduling pass.
#[test]
fn console_input_arrives_by_interrupt_through_the_io_apic() {
    let mut sys = boot(&test_name!());
    // The I/O APICs as microvm's MADT lists them (the second serves the virtio devices).
    let boot_log = sys.transcript();
    for want in [
        "(XEN) ACPI: 4 CPU(s), 2 I/O APIC(s), 0 ISA override(s)",
        "(XEN) I/O APIC 0 at 0xfec00000: GSI 0-23",
        "(XEN) I/O APIC 1 at 0xfec10000: GSI 24-47",
        "(XEN) console input by interrupt (GSI 4)",
    ] {
        sys.check(
            boot_log.contains(want),
            format!("the boot log lacks {want:?}"),
        );
    }
    let before = sys.xenperf_counter("console_rx_irqs");
    let out = sys.run("echo typed-through-the-io-apic");
    sys.check(
        out.contains("typed-through-the-io-apic"),
        format!("echo: {out:?}"),
    );
    let after = sys.xenperf_counter("console_rx_irqs");
    // At least one interrupt for the command typed (the FIFO may bundle bytes).
    sys.check(
        after > before,
        format!("console_rx_irqs went from {before} to {after} across a typed command"),
    );
}
