//! `cargo xtask build`: the hypervisor and pv-guest for `x86_64-unknown-none` (release), copied
//! to `target/images/`, plus dom0's initrd (`dom0-initrd.cpio`, cpio newc) holding
//! `boot/pv-guest` (and `boot/pv-guest-bzip2`, the same kernel as a bzip2 bzImage) and every `dom0-tools/examples/*.cfg` under `etc/xen/`, and the native
//! build of pv-guest's benchmark workloads (`--features native`, `pv-guest-native.elf`,
//! booted on its own by `cargo xtask bench`).
//!
//! `cargo xtask build --guests`: dom0's initrd also carries Debian's Linux guests
//! ([`crate::guests`]: `boot/vmlinuz`, `boot/initramfs-linux`, `boot/grub-x86_64-xen.bin`,
//! `etc/xen/linux.cfg`, `etc/xen/pvgrub.cfg`; ~12 MB), fetched into `target/debian/` first
//! if they are not cached there. Without `--guests` they are left out even when cached:
//! the hypervisor keeps dom0's initrd in RAM for good, and 12 MB less free memory fails
//! tests that size their domains to what a 512 MiB machine has free (xl_many).

use crate::qemu::{self, Images};
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::prereq::TARGET;

/// One bare-metal crate: its package, its RUSTFLAGS and its target dir under `target/`.
pub struct Crate {
    package: &'static str,
    rustflags: &'static str,
    target_dir: &'static str,
    /// The binary built (`--bin`) and the features it needs (empty: the package's default).
    bin: &'static str,
    features: &'static str,
}

const HYPERVISOR: Crate = Crate {
    package: "hypervisor",
    rustflags: "-C relocation-model=static -C code-model=large -C llvm-args=-align-all-functions=6",
    target_dir: "hypervisor",
    bin: "hypervisor",
    features: "",
};

/// The hypervisor with debug assertions on (overflow checks and the lock-order check of
/// `hypervisor/src/sync.rs` on every acquisition): the e2e tests boot it for the SMP paths
/// that only bare metal runs (`tests/tests/smp_checked.rs`).
const HYPERVISOR_CHECKED: Crate = Crate {
    package: "hypervisor",
    rustflags:
        "-C relocation-model=static -C code-model=large -C llvm-args=-align-all-functions=6 \
                -C debug-assertions",
    target_dir: "hypervisor-checked",
    bin: "hypervisor",
    features: "",
};

/// The checked hypervisor's file name in `target/images/`.
pub const CHECKED_HYPERVISOR_IMAGE: &str = "hypervisor-checked.elf";

const PV_GUEST: Crate = Crate {
    package: "pv-guest",
    rustflags: "-C relocation-model=static",
    target_dir: "pv-guest",
    bin: "pv-guest",
    features: "",
};

/// pv-guest's workloads on the bare machine: linked identity-mapped at 2 MiB
/// (pv-guest/link-native.ld), so the small code model fits.
const PV_GUEST_NATIVE: Crate = Crate {
    package: "pv-guest",
    rustflags: "-C relocation-model=static -C code-model=small",
    target_dir: "pv-guest-native",
    bin: "pv-guest-native",
    features: "native",
};

/// Every bare-metal build `cargo xtask build` makes (`cargo xtask clippy` checks the same).
pub const BARE_METAL: [&Crate; 3] = [&HYPERVISOR, &PV_GUEST, &PV_GUEST_NATIVE];

impl Crate {
    /// The binary built, which names the build (pv-guest has two).
    pub fn bin(&self) -> &'static str {
        self.bin
    }

    /// Its target dir: `target/<target_dir>` of the workspace at `root`.
    fn target_dir(&self, root: &Path) -> PathBuf {
        root.join("target").join(self.target_dir)
    }

    /// `cargo <subcommand> --release -p <package> --target x86_64-unknown-none --bin <bin>
    /// --target-dir target/<dir> [--features <features>]` in `root` with the crate's RUSTFLAGS:
    /// the one command line of `cargo build` here and of `cargo clippy` (xtask test), so that
    /// both see the same configuration and share the target dir.
    pub fn cargo(&self, root: &Path, subcommand: &str) -> Command {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.current_dir(root)
            .env_remove("CARGO_ENCODED_RUSTFLAGS")
            .env("RUSTFLAGS", self.rustflags)
            .args([
                subcommand,
                "--release",
                "-p",
                self.package,
                "--target",
                TARGET,
                "--bin",
                self.bin,
                "--target-dir",
            ])
            .arg(self.target_dir(root));
        if !self.features.is_empty() {
            cmd.args(["--features", self.features]);
        }
        cmd
    }
}

/// The native image's file name in `target/images/`.
pub const NATIVE_IMAGE: &str = "pv-guest-native.elf";

/// Whether dom0's initrd carries Debian's Linux guests ([`crate::guests`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinuxGuests {
    /// Yes, fetched first if not cached (`--guests`; the network on first use).
    Fetch,
    /// No (the default).
    Off,
}

/// `--guests`: [`LinuxGuests::Fetch`]; any other argument is not ours (`false`).
pub fn parse_guests_flag(arg: &str, guests: &mut LinuxGuests) -> bool {
    let ours = arg == "--guests";
    if ours {
        *guests = LinuxGuests::Fetch;
    }
    ours
}

/// `cargo xtask build [--guests]`.
pub fn run(args: &[String]) -> Result<(), String> {
    let mut guests = LinuxGuests::Off;
    for a in args {
        if !parse_guests_flag(a, &mut guests) {
            return Err(format!(
                "build: unknown argument {a:?}\nusage: cargo xtask build [--guests]"
            ));
        }
    }
    build_with(guests)
}

/// Builds everything, without the Linux guests.
pub fn build_all() -> Result<(), String> {
    build_with(LinuxGuests::Off)
}

/// dom0's files for the Linux guests per `mode` (none without them); writes the initramfs
/// to `target/images/` too.
fn linux_guests(mode: LinuxGuests) -> Result<Vec<(String, Vec<u8>)>, String> {
    if mode == LinuxGuests::Off {
        return Ok(Vec::new());
    }
    let guests = crate::guests::Cache::new().ensure(false)?;
    let files = crate::guests::dom0_files(&guests)?;
    if let Some((_, initramfs)) = files.iter().find(|(n, _)| n == "boot/initramfs-linux") {
        let path = qemu::images_dir().join(crate::guests::INITRAMFS_IMAGE);
        std::fs::write(&path, initramfs).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    let bytes: usize = files.iter().map(|(_, d)| d.len()).sum();
    eprintln!(
        "xtask: dom0's initrd carries the Linux guests ({:.1} MB, {})",
        bytes as f64 / 1e6,
        guests.vmlinuz.display()
    );
    Ok(files)
}

/// Builds everything, writing what it can even when pv-guest fails.
pub fn build_with(guests: LinuxGuests) -> Result<(), String> {
    let root = qemu::workspace_root();
    crate::prereq::ensure_toolchain(&root)?;
    let images = Images::in_dir(&qemu::images_dir());
    std::fs::create_dir_all(qemu::images_dir()).map_err(|e| format!("target/images: {e}"))?;

    let hv = cargo_build(&root, &HYPERVISOR)?;
    check_multiboot(&hv)?;
    copy(&hv, &images.hypervisor)?;
    let checked = cargo_build(&root, &HYPERVISOR_CHECKED)?;
    check_multiboot(&checked)?;
    copy(&checked, &qemu::images_dir().join(CHECKED_HYPERVISOR_IMAGE))?;

    let guest = cargo_build(&root, &PV_GUEST);
    let guest_elf = match &guest {
        Ok(path) => {
            copy(path, &images.pv_guest)?;
            Some(std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?)
        }
        Err(_) => None,
    };
    let linux = linux_guests(guests)?;
    let cpio = initrd(&root, guest_elf.as_deref(), &linux)?;
    std::fs::write(&images.initrd, cpio).map_err(|e| format!("writing initrd: {e}"))?;
    let native = cargo_build(&root, &PV_GUEST_NATIVE).and_then(|path| {
        check_multiboot(&path)?;
        copy(&path, &qemu::images_dir().join(NATIVE_IMAGE))
    });
    crate::disk::ensure(&images)?;
    let args = qemu::write_args_file(&images, "")?;
    eprintln!(
        "xtask: images in {}, QEMU args in {}",
        qemu::images_dir().display(),
        args.display()
    );
    guest
        .map(|_| ())
        .map_err(|e| format!("pv-guest did not build ({e}); the hypervisor did"))?;
    native.map_err(|e| format!("the native pv-guest image did not build: {e}"))
}

fn cargo_build(root: &Path, c: &Crate) -> Result<PathBuf, String> {
    eprintln!(
        "xtask: building {} ({TARGET}, RUSTFLAGS={:?})",
        c.package, c.rustflags
    );
    let status = c
        .cargo(root, "build")
        .status()
        .map_err(|e| format!("running cargo: {e}"))?;
    if !status.success() {
        return Err(format!("cargo build -p {} failed", c.package));
    }
    Ok(c.target_dir(root).join(TARGET).join("release").join(c.bin))
}

fn copy(from: &Path, to: &Path) -> Result<(), String> {
    std::fs::copy(from, to)
        .map(|_| ())
        .map_err(|e| format!("copying {} to {}: {e}", from.display(), to.display()))
}

/// dom0's initrd: `boot/pv-guest` (if built), `etc/xen/*.cfg` from dom0-tools/examples and
/// the `linux` guests' files ([`linux_guests`]).
fn initrd(
    root: &Path,
    guest: Option<&[u8]>,
    linux: &[(String, Vec<u8>)],
) -> Result<Vec<u8>, String> {
    let examples = root.join("dom0-tools").join("examples");
    let mut cfgs: Vec<(String, Vec<u8>)> = Vec::new();
    if let Ok(dir) = std::fs::read_dir(&examples) {
        for entry in dir.flatten() {
            let path = entry.path();
            if path.extension().is_some_and(|e| e == "cfg") {
                let name = entry.file_name().to_string_lossy().into_owned();
                let data = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
                cfgs.push((format!("etc/xen/{name}"), data));
            }
        }
    }
    cfgs.push((String::from("etc/xen/bad-huge.cfg"), huge_config()));
    cfgs.extend(linux.iter().filter(|(n, _)| n.starts_with("etc/")).cloned());
    cfgs.sort();
    // Guests get the kernel without its debug sections (12 of its 14 MB): smaller initrd,
    // more of dom0's memory left for its heap, less for a bzip2 kernel to decompress.
    let stripped = guest.map(crate::elfstrip::strip_sections).transpose()?;
    let guest = stripped.as_deref();
    let bzip2 = guest.map(crate::bzimage::bzip2_bzimage).transpose()?;
    let mut files: Vec<(&str, &[u8])> = Vec::new();
    if let (Some(g), Some(bz)) = (guest, bzip2.as_deref()) {
        files.push(("boot/pv-guest", g));
        files.push(("boot/pv-guest-bzip2", bz));
    }
    let boot = linux.iter().filter(|(n, _)| !n.starts_with("etc/"));
    files.extend(boot.map(|(n, d)| (n.as_str(), d.as_slice())));
    files.extend(cfgs.iter().map(|(n, d)| (n.as_str(), d.as_slice())));
    Ok(dom0_tools::initrd::write_newc(&files))
}

/// Settings in the generated `etc/xen/bad-huge.cfg`.
pub const HUGE_CONFIG_SETTINGS: usize = 40_000;

/// `etc/xen/bad-huge.cfg`, generated rather than kept in dom0-tools/examples (half a MiB):
/// [`HUGE_CONFIG_SETTINGS`] distinct settings, as a runaway script might write, far over
/// xl.cfg's 64 KiB file limit. `xl create` must refuse it at once (such a file once took
/// quadratic time and 60 times its size of dom0's heap).
fn huge_config() -> Vec<u8> {
    let mut text = String::from(
        "# Generated by xtask: a config of 40000 settings, far over the 64 KiB limit.\n\
         name = \"huge\"\nkernel = \"/boot/pv-guest\"\n",
    );
    for i in 0..HUGE_CONFIG_SETTINGS {
        text.push_str(&format!("setting{i:05} = {i}\n"));
    }
    text.into_bytes()
}

/// Checks the Multiboot1 header: within the first 8 KiB, 4-aligned, checksum, a.out kludge,
/// and that the file mirrors memory from the header to load_end (QEMU copies it verbatim).
fn check_multiboot(elf: &Path) -> Result<(), String> {
    let data = std::fs::read(elf).map_err(|e| format!("{}: {e}", elf.display()))?;
    let name = elf
        .file_name()
        .map_or("image".into(), |n| n.to_string_lossy());
    let word = |o: usize| u32::from_le_bytes(data[o..o + 4].try_into().expect("4 bytes"));
    let limit = data.len().min(8192).saturating_sub(32);
    let off = (0..limit)
        .step_by(4)
        .find(|&o| word(o) == 0x1BAD_B002)
        .ok_or(format!("{name}: no Multiboot header in the first 8 KiB"))?;
    let (flags, sum) = (word(off + 4), word(off + 8));
    if 0x1BAD_B002u32.wrapping_add(flags).wrapping_add(sum) != 0 || flags & (1 << 16) == 0 {
        return Err(format!("{name}: bad Multiboot checksum or no a.out kludge"));
    }
    let (header, load, load_end) = (word(off + 12), word(off + 16), word(off + 20));
    let start = off as u64 - u64::from(header - load);
    if start + u64::from(load_end - load) > data.len() as u64 {
        return Err(format!("{name}: Multiboot load range runs past the file"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsStr;

    #[test]
    fn the_initrd_holds_the_examples_and_a_config_over_the_size_limit() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .expect("workspace");
        let cpio = initrd(root, None, &[]).expect("initrd");
        let rd = dom0_tools::initrd::Initrd::parse(&cpio).expect("cpio");
        assert!(rd.get("/etc/xen/domu.cfg").is_some());
        assert!(rd.get("/etc/xen/bad-many-keys.cfg").is_some());
        let huge = rd.get("/etc/xen/bad-huge.cfg").expect("bad-huge.cfg");
        assert!(huge.len() > dom0_tools::config::MAX_CONFIG_BYTES);
        let e = dom0_tools::config::DomainConfig::parse_bytes("bad-huge.cfg", huge).unwrap_err();
        assert!(e.reason.starts_with("too large"), "{e}");
    }

    fn args(cmd: &Command) -> Vec<String> {
        cmd.get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect()
    }

    fn env<'a>(cmd: &'a Command, key: &str) -> Option<Option<&'a OsStr>> {
        cmd.get_envs().find(|(k, _)| *k == key).map(|(_, v)| v)
    }

    #[test]
    fn bare_metal_command_lines() {
        let root = Path::new("/ws");
        let native = PV_GUEST_NATIVE.cargo(root, "clippy");
        assert_eq!(
            args(&native),
            [
                "clippy",
                "--release",
                "-p",
                "pv-guest",
                "--target",
                "x86_64-unknown-none",
                "--bin",
                "pv-guest-native",
                "--target-dir",
                "/ws/target/pv-guest-native",
                "--features",
                "native",
            ]
        );
        assert_eq!(native.get_current_dir(), Some(root));
        assert_eq!(
            env(&native, "RUSTFLAGS"),
            Some(Some(OsStr::new(PV_GUEST_NATIVE.rustflags)))
        );
        assert_eq!(env(&native, "CARGO_ENCODED_RUSTFLAGS"), Some(None));

        let hv = HYPERVISOR.cargo(root, "build");
        assert_eq!(
            args(&hv),
            [
                "build",
                "--release",
                "-p",
                "hypervisor",
                "--target",
                "x86_64-unknown-none",
                "--bin",
                "hypervisor",
                "--target-dir",
                "/ws/target/hypervisor",
            ]
        );
        assert_eq!(
            env(&hv, "RUSTFLAGS"),
            Some(Some(OsStr::new(HYPERVISOR.rustflags)))
        );
        let bins: Vec<&str> = BARE_METAL.iter().map(|c| c.bin()).collect();
        assert_eq!(bins, ["hypervisor", "pv-guest", "pv-guest-native"]);
    }
}
