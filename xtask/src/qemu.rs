//! The QEMU command line of docs/design.md, shared by `run` and the tests, the exit-status
//! table.

use std::path::{Path, PathBuf};
use std::process::ExitStatus;

/// The QEMU binary.
pub const QEMU: &str = "qemu-system-x86_64";

/// The boot images `cargo xtask build` produces (in `target/images/`).
#[derive(Clone, Debug)]
pub struct Images {
    /// The Multiboot hypervisor ELF.
    pub hypervisor: PathBuf,
    /// Module 1: the dom0 kernel.
    pub pv_guest: PathBuf,
    /// Module 2: dom0's initrd (cpio newc).
    pub initrd: PathBuf,
    /// The machine's disk: a raw GPT image on a virtio-mmio block device ([`crate::disk`]).
    pub disk: PathBuf,
}

impl Images {
    /// The images in `dir`.
    pub fn in_dir(dir: &Path) -> Images {
        Images {
            hypervisor: dir.join("hypervisor.elf"),
            pv_guest: dir.join("pv-guest.elf"),
            initrd: dir.join("dom0-initrd.cpio"),
            disk: dir.join("disk.img"),
        }
    }
}

/// The workspace root (the parent of xtask's manifest directory).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_path_buf()
}

/// `target/images/` of the workspace.
pub fn images_dir() -> PathBuf {
    workspace_root().join("target").join("images")
}

/// The virtual machine of docs/design.md: microvm, 512 MiB, four processors (multi-threaded
/// TCG), serial on stdio, no reboot, the isa-debug-exit device.
pub const MACHINE_ARGS: [&str; 13] = [
    "-M",
    "microvm",
    "-m",
    "512M",
    "-smp",
    "4",
    "-display",
    "none",
    "-serial",
    "stdio",
    "-no-reboot",
    "-device",
    "isa-debug-exit,iobase=0xf4,iosize=4",
];

/// QEMU's arguments (without the program name), exactly as docs/design.md gives them: the
/// machine, the images, and the disk on a (modern, version 2) virtio-mmio block device. The disk is opened with
/// `snapshot=on`: each QEMU writes to a temporary overlay, so machines booted side by side
/// (the tests) share the image without locking it, and none changes it.
pub fn qemu_args(images: &Images, hv_cmdline: &str) -> Vec<String> {
    let s = |p: &Path| p.display().to_string();
    MACHINE_ARGS
        .iter()
        .map(|a| a.to_string())
        .chain([
            "-kernel".into(),
            s(&images.hypervisor),
            "-append".into(),
            hv_cmdline.into(),
            "-initrd".into(),
            format!("{},{}", s(&images.pv_guest), s(&images.initrd)),
            "-drive".into(),
            format!(
                "file={},if=none,id=vd0,format=raw,snapshot=on",
                s(&images.disk)
            ),
            "-device".into(),
            "virtio-blk-device,drive=vd0".into(),
            // The NIC: QEMU's user-mode network (10.0.2.0/24, its DHCP server and gateway at
            // 10.0.2.2; nothing outside this machine is reachable through it but what the
            // host's loopback forwards in: `with_forwards`).
            "-netdev".into(),
            NETDEV.into(),
            "-device".into(),
            "virtio-net-device,netdev=n0".into(),
            // Virtio 1.x over MMIO (version 2), not the legacy interface microvm defaults to.
            "-global".into(),
            "virtio-mmio.force-legacy=false".into(),
        ])
        .collect()
}

/// The NIC's back end in [`qemu_args`]: QEMU's user-mode network, without forwards.
pub const NETDEV: &str = "user,id=n0";

/// `args` with host port forwards added to the NIC's user network: each (host port, guest
/// address or "" for the first DHCP address, guest port), TCP, the host side on loopback
/// only.
pub fn with_forwards(mut args: Vec<String>, forwards: &[(u16, &str, u16)]) -> Vec<String> {
    if let Some(a) = args.iter_mut().find(|a| a.as_str() == NETDEV) {
        for (host, guest, port) in forwards {
            a.push_str(&format!(",hostfwd=tcp:127.0.0.1:{host}-{guest}:{port}"));
        }
    }
    args
}

/// Writes `qemu_args` one per line into `target/images/qemu-args.txt` for the tests crate.
pub fn write_args_file(images: &Images, hv_cmdline: &str) -> Result<PathBuf, String> {
    let path = images_dir().join("qemu-args.txt");
    let mut text = qemu_args(images, hv_cmdline).join("\n");
    text.push('\n');
    std::fs::write(&path, text).map_err(|e| format!("writing {}: {e}", path.display()))?;
    Ok(path)
}

/// Makes sure QEMU is installed (see `prereq`).
pub fn ensure_qemu() -> Result<(), String> {
    crate::prereq::ensure(&crate::prereq::QEMU)
}

/// What a QEMU exit status means (docs/design.md's exit-code table).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// dom0 shut down with reason poweroff (0x10 → 33).
    Poweroff,
    /// dom0 crashed (0x11 → 35).
    Dom0Crashed,
    /// The hypervisor panicked (0x12 → 37).
    HypervisorPanic,
    /// dom0 shut down with reason reboot (0x13 → 39).
    Reboot,
    /// QEMU exited 0: a triple fault under -no-reboot, or QEMU quit otherwise. Never success.
    TripleFaultOrQuit,
    /// Any other exit status (QEMU error, unknown debug-exit value).
    Other(i32),
    /// Killed by a signal (or by a timeout).
    Killed,
}

impl Outcome {
    /// Classifies an exit status.
    pub fn from_status(status: ExitStatus) -> Outcome {
        match status.code() {
            Some(33) => Outcome::Poweroff,
            Some(35) => Outcome::Dom0Crashed,
            Some(37) => Outcome::HypervisorPanic,
            Some(39) => Outcome::Reboot,
            Some(0) => Outcome::TripleFaultOrQuit,
            Some(c) => Outcome::Other(c),
            None => Outcome::Killed,
        }
    }

    /// A one-line explanation.
    pub fn message(self) -> String {
        match self {
            Outcome::Poweroff => "dom0 shut down (poweroff): exit 33".into(),
            Outcome::Dom0Crashed => "dom0 crashed: exit 35".into(),
            Outcome::HypervisorPanic => "hypervisor panic: exit 37".into(),
            Outcome::Reboot => "dom0 shut down (reboot): exit 39".into(),
            Outcome::TripleFaultOrQuit => {
                "QEMU exited 0: a triple fault (or QEMU was quit), not a clean shutdown".into()
            }
            Outcome::Other(c) if c & 1 == 1 && c > 1 => {
                format!("unknown debug-exit value {:#x}: exit {c}", c >> 1)
            }
            Outcome::Other(c) => format!("QEMU failed: exit {c}"),
            Outcome::Killed => "QEMU was killed by a signal".into(),
        }
    }

    /// Whether this is a clean poweroff.
    pub fn is_success(self) -> bool {
        self == Outcome::Poweroff
    }
}
