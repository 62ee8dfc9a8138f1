//! `cargo xtask iso`: a GRUB-bootable ISO of the system, `target/images/hypervisor.iso`.
//!
//! `grub-mkrescue` packs the images of `cargo xtask build` (`/boot/hypervisor.elf`,
//! `/boot/pv-guest.elf`, `/boot/dom0-initrd.cpio`) with the [`grub_cfg`] written here. With
//! Debian's `grub-pc-bin` and `grub-efi-amd64-bin` both installed it makes a hybrid image
//! that boots a PC by BIOS or UEFI, from a CD or a USB stick. GRUB's menu is on the serial
//! line (COM1, 115200 8N1) and the screen; its one entry loads the hypervisor by Multiboot1
//! with [`HV_CMDLINE`], dom0's kernel as the first module and its initrd as the second.

use crate::prereq;
use crate::qemu::{self, Images};
use std::path::PathBuf;
use std::process::Command;

/// The ISO's file name in `target/images/`.
pub const ISO_NAME: &str = "hypervisor.iso";

/// The hypervisor command line of the ISO's menu entry: the log on the serial line and the
/// VGA text screen (as Xen's `console=com1,vga`).
pub const HV_CMDLINE: &str = "console=com1,vga";

/// Seconds GRUB's menu waits before booting its entry.
pub const TIMEOUT_S: u32 = 3;

/// The menu entry's title (the e2e test waits for it on the serial line).
pub const ENTRY_TITLE: &str = "Xen-style PV hypervisor (Rust) with dom0";

/// GRUB's configuration: the serial terminal as well as the screen, a short timeout, one
/// entry loading the hypervisor (`multiboot`: Multiboot1; the image's a.out-kludge header
/// says where it goes) and its two modules.
pub fn grub_cfg(hv_cmdline: &str) -> String {
    format!(
        "# Written by `cargo xtask iso`.\n\
         serial --unit=0 --speed=115200 --word=8 --parity=no --stop=1\n\
         terminal_input serial console\n\
         terminal_output serial console\n\
         set timeout={TIMEOUT_S}\n\
         set default=0\n\
         \n\
         menuentry \"{ENTRY_TITLE}\" {{\n\
         \x20   echo \"Loading the hypervisor, dom0's kernel and initrd...\"\n\
         \x20   multiboot /boot/hypervisor.elf {hv_cmdline}\n\
         \x20   module /boot/pv-guest.elf\n\
         \x20   module /boot/dom0-initrd.cpio\n\
         }}\n"
    )
}

/// `cargo xtask iso`: the images, then the ISO.
pub fn run(args: &[String]) -> Result<(), String> {
    if let Some(a) = args.first() {
        return Err(format!("iso: unknown argument {a:?}"));
    }
    crate::build::build_all()?;
    let iso = build_iso()?;
    eprintln!(
        "xtask: {} (boot a PC with it; README.md, \"A bootable ISO\")",
        iso.display()
    );
    Ok(())
}

/// Makes `target/images/hypervisor.iso` from the images already built. An old ISO is
/// removed first, so a failure never leaves a stale one behind.
pub fn build_iso() -> Result<PathBuf, String> {
    let images = Images::in_dir(&qemu::images_dir());
    let iso = qemu::images_dir().join(ISO_NAME);
    match std::fs::remove_file(&iso) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(format!("removing the old {}: {e}", iso.display())),
    }
    for f in [&images.hypervisor, &images.pv_guest, &images.initrd] {
        if !f.exists() {
            return Err(format!(
                "{} is missing: `cargo xtask build` did not make it",
                f.display()
            ));
        }
    }
    prereq::ensure(&prereq::GRUB_BIOS)?;
    prereq::ensure(&prereq::GRUB_EFI)?;

    // The ISO's tree: target/iso-root/boot/{images, grub/grub.cfg}.
    let root = qemu::workspace_root().join("target").join("iso-root");
    if root.exists() {
        std::fs::remove_dir_all(&root).map_err(|e| format!("{}: {e}", root.display()))?;
    }
    let boot = root.join("boot");
    std::fs::create_dir_all(boot.join("grub")).map_err(|e| format!("{}: {e}", boot.display()))?;
    for (from, name) in [
        (&images.hypervisor, "hypervisor.elf"),
        (&images.pv_guest, "pv-guest.elf"),
        (&images.initrd, "dom0-initrd.cpio"),
    ] {
        std::fs::copy(from, boot.join(name))
            .map_err(|e| format!("copying {}: {e}", from.display()))?;
    }
    let cfg = boot.join("grub").join("grub.cfg");
    std::fs::write(&cfg, grub_cfg(HV_CMDLINE)).map_err(|e| format!("{}: {e}", cfg.display()))?;

    eprintln!(
        "xtask: grub-mkrescue -o {} {}",
        iso.display(),
        root.display()
    );
    let out = Command::new("grub-mkrescue")
        .arg("-o")
        .arg(&iso)
        .arg(&root)
        .args(["--", "-volid", "XEN_RUST_PV"])
        .output()
        .map_err(|e| format!("running grub-mkrescue: {e}"))?;
    if !out.status.success() || !iso.exists() {
        return Err(format!(
            "grub-mkrescue failed ({}):\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim_end()
        ));
    }
    Ok(iso)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grub_cfg_loads_the_hypervisor_and_both_modules_on_a_serial_menu() {
        let cfg = grub_cfg("console=com1,vga loglvl=all");
        let lines: Vec<&str> = cfg.lines().map(str::trim).collect();
        for want in [
            "serial --unit=0 --speed=115200 --word=8 --parity=no --stop=1",
            "terminal_input serial console",
            "terminal_output serial console",
            "set timeout=3",
            "set default=0",
            "multiboot /boot/hypervisor.elf console=com1,vga loglvl=all",
        ] {
            assert!(lines.contains(&want), "{want:?} not in\n{cfg}");
        }
        // Module order is the boot protocol: dom0's kernel first, then its initrd.
        let kernel = lines.iter().position(|l| *l == "module /boot/pv-guest.elf");
        let initrd = lines
            .iter()
            .position(|l| *l == "module /boot/dom0-initrd.cpio");
        assert!(
            kernel.is_some() && initrd.is_some() && kernel < initrd,
            "{cfg}"
        );
        assert!(cfg.contains(&format!("menuentry \"{ENTRY_TITLE}\" {{")));
        assert_eq!(cfg.matches('{').count(), cfg.matches('}').count());
    }
}
