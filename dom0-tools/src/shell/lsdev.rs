//! `lsdev`: the machine's virtio-mmio devices as its ACPI tables describe them (register
//! window, GSI, trigger and polarity), each named by the device ID its registers give:
//!
//! ```text
//! virtio-mmio@0xfeb02e00 size 0x200 gsi 47 level high: block device
//! ```

use crate::acpi::{self, VirtioMmio};
use crate::hv::Hypervisor;
use alloc::format;
use alloc::string::String;
use core::fmt::Write;

/// A virtio-mmio transport's magic value ("virt", little-endian), at offset 0.
pub const VIRTIO_MMIO_MAGIC: u32 = 0x7472_6976;
/// Register offsets: magic, version (1 legacy, 2 virtio 1.x), device ID.
const MAGIC: u64 = 0;
const VERSION: u64 = 4;
const DEVICE_ID: u64 = 8;

/// The kind of device a virtio device ID names (virtio 1.2, section 5).
pub fn device_kind(id: u32) -> Option<&'static str> {
    Some(match id {
        1 => "network device",
        2 => "block device",
        3 => "console",
        4 => "entropy source",
        5 => "memory balloon",
        8 => "SCSI host",
        9 => "9P transport",
        16 => "GPU",
        18 => "input device",
        19 => "socket device",
        20 => "crypto device",
        26 => "file system",
        _ => return None,
    })
}

/// What answers at `dev`'s registers.
fn identify(hv: &mut dyn Hypervisor, dev: &VirtioMmio) -> String {
    let mut reg = |off: u64| hv.read_io(dev.base + off, 4).map(|v| v as u32);
    let regs = reg(MAGIC).and_then(|m| Ok((m, reg(VERSION)?, reg(DEVICE_ID)?)));
    match regs {
        Err(e) => format!("cannot read its registers: {e}"),
        Ok((magic, _, _)) if magic != VIRTIO_MMIO_MAGIC => {
            format!("no virtio device (magic {magic:#010x}, not {VIRTIO_MMIO_MAGIC:#010x})")
        }
        Ok((_, _, 0)) => String::from("empty slot (device ID 0)"),
        Ok((_, version, id)) => {
            let kind = device_kind(id).map_or_else(|| format!("device ID {id}"), String::from);
            match version {
                2 => kind,
                1 => format!("{kind} (legacy interface)"),
                v => format!("{kind} (unknown version {v})"),
            }
        }
    }
}

/// Runs `lsdev` with `args`.
pub fn run(hv: &mut dyn Hypervisor, args: &[&str], out: &mut dyn Write) {
    if !args.is_empty() {
        let _ = writeln!(out, "usage: lsdev");
        return;
    }
    let found = match acpi::find_virtio_mmio(hv) {
        Ok(d) => d,
        Err(e) => {
            let _ = writeln!(out, "lsdev: cannot read the ACPI tables: {e}");
            return;
        }
    };
    if found.devices.is_empty() {
        let _ = writeln!(
            out,
            "lsdev: the ACPI tables describe no virtio-mmio devices"
        );
    }
    for dev in &found.devices {
        let what = identify(hv, dev);
        let _ = writeln!(
            out,
            "virtio-mmio@{:#x} size {:#x} gsi {} {} {}: {what}",
            dev.base, dev.size, dev.gsi, dev.trigger, dev.polarity
        );
    }
    for note in &found.notes {
        let _ = writeln!(out, "lsdev: note: {note}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::acpi::testmachine::{build, virtio_regs, Machine, VIRTIO_BLK_AT};

    fn lsdev(m: &mut Machine, args: &[&str]) -> String {
        let mut out = String::new();
        run(m, args, &mut out);
        out
    }

    #[test]
    fn microvms_disk_is_listed_with_its_address_interrupt_and_kind() {
        assert_eq!(
            lsdev(&mut Machine::microvm(), &[]),
            "virtio-mmio@0xfeb02e00 size 0x200 gsi 47 level high: block device\n"
        );
        assert_eq!(lsdev(&mut Machine::microvm(), &["-x"]), "usage: lsdev\n");
    }

    #[test]
    fn what_answers_at_the_registers_is_named() {
        for (regs, want) in [
            (virtio_regs(1, 1), "network device (legacy interface)"),
            (virtio_regs(2, 0), "empty slot (device ID 0)"),
            (virtio_regs(2, 77), "device ID 77"),
            (virtio_regs(3, 4), "entropy source (unknown version 3)"),
            (
                alloc::vec![0; 16],
                "no virtio device (magic 0x00000000, not 0x74726976)",
            ),
        ] {
            let mut m = Machine::microvm();
            m.put(VIRTIO_BLK_AT, &regs);
            let out = lsdev(&mut m, &[]);
            assert_eq!(
                out,
                format!("virtio-mmio@0xfeb02e00 size 0x200 gsi 47 level high: {want}\n")
            );
        }
        // Registers in RAM (a lying table) are refused by the hypervisor, not read.
        let aml = build::scope(b"_SB_", &build::virtio_device(b"VR00", 0, 0x0010_0000, 24));
        let mut m = Machine::microvm_with_dsdt(&build::table(b"DSDT", &aml), true);
        assert_eq!(
            lsdev(&mut m, &[]),
            "virtio-mmio@0x100000 size 0x200 gsi 24 level high: cannot read its registers: EPERM\n"
        );
    }

    #[test]
    fn failures_and_notes_are_reported() {
        assert_eq!(
            lsdev(&mut Machine::empty(), &[]),
            "lsdev: cannot read the ACPI tables: no RSDP (\"RSD PTR \") in the EBDA or in \
             0xe0000-0xfffff\n"
        );
        let aml = build::scope(
            b"_SB_",
            &build::device(b"VR00", &build::name(b"_HID", &build::string("LNRO0005"))),
        );
        let mut m = Machine::microvm_with_dsdt(&build::table(b"DSDT", &aml), true);
        assert_eq!(
            lsdev(&mut m, &[]),
            "lsdev: the ACPI tables describe no virtio-mmio devices\nlsdev: note: \\_SB_.VR00 \
             (LNRO0005): no _CRS: left out\n"
        );
    }
}
