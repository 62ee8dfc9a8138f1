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
