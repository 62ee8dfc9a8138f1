//! What xtask needs on the machine, checked before use and installed when it can be:
//! - the Rust toolchain pinned in `rust-toolchain.toml` with its targets and components
//!   (rustup installs the toolchain on first use but not always the targets it names);
//! - Debian packages: QEMU, Xen's public headers, GRUB and xorriso for the ISO, OVMF.
//!
//! As root with apt-get, a missing package is installed (`apt-get update` once, then
//! `apt-get install -y`); otherwise the error names the one command to run.

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Once;

/// The bare-metal target the hypervisor and pv-guest are built for.
pub const TARGET: &str = "x86_64-unknown-none";

/// The pinned toolchain file's fields: `(channel, targets, components)`.
fn parse_toolchain_file(text: &str) -> Option<(String, Vec<String>, Vec<String>)> {
    let mut channel = None;
    let (mut targets, mut components) = (Vec::new(), Vec::new());
    for line in text.lines() {
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let strings = || -> Vec<String> {
            value
                .split('"')
                .skip(1)
                .step_by(2)
                .map(str::to_string)
                .collect()
        };
        match key.trim() {
            "channel" => channel = strings().into_iter().next(),
            "targets" => targets = strings(),
            "components" => components = strings(),
            _ => {}
        }
    }
    Some((channel?, targets, components))
}

/// Whether `rustc` (the pinned toolchain, as rustup selects it in the workspace) has the
/// standard library of `target`.
fn has_target(root: &Path, target: &str) -> bool {
    let Ok(out) = Command::new("rustc")
        .current_dir(root)
        .args(["--print", "sysroot"])
        .output()
    else {
        return false;
    };
    let sysroot = String::from_utf8_lossy(&out.stdout).trim().to_string();
    out.status.success()
        && Path::new(&sysroot)
            .join("lib/rustlib")
            .join(target)
            .join("lib")
            .is_dir()
}

/// Whether `cargo <component>` answers `--version` (clippy, rustfmt).
fn has_component(root: &Path, component: &str) -> bool {
    let sub = match component {
        "rustfmt" => "fmt",
        "clippy" => "clippy",
        _ => return true,
    };
    Command::new("cargo")
        .current_dir(root)
        .args([sub, "--version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Makes sure the pinned toolchain has every target and component `rust-toolchain.toml`
/// names, adding the missing ones with rustup.
pub fn ensure_toolchain(root: &Path) -> Result<(), String> {
    let file = root.join("rust-toolchain.toml");
    let text = std::fs::read_to_string(&file).map_err(|e| format!("{}: {e}", file.display()))?;
    let (channel, targets, components) = parse_toolchain_file(&text)
        .ok_or_else(|| format!("{}: no `channel = \"...\"`", file.display()))?;
    let missing_targets: Vec<&String> = targets.iter().filter(|t| !has_target(root, t)).collect();
    let missing_components: Vec<&String> = components
        .iter()
        .filter(|c| !has_component(root, c))
        .collect();
    if missing_targets.is_empty() && missing_components.is_empty() {
        return Ok(());
    }
    let mut cmds: Vec<Vec<String>> = Vec::new();
    if !missing_targets.is_empty() {
        let mut c: Vec<String> = ["target", "add", "--toolchain", &channel]
            .map(String::from)
            .into();
        c.extend(missing_targets.iter().map(|t| t.to_string()));
        cmds.push(c);
    }
    if !missing_components.is_empty() {
        let mut c: Vec<String> = ["component", "add", "--toolchain", &channel]
            .map(String::from)
            .into();
        c.extend(missing_components.iter().map(|t| t.to_string()));
        cmds.push(c);
    }
    for c in &cmds {
        let shown = format!("rustup {}", c.join(" "));
        eprintln!(
            "xtask: the pinned toolchain lacks what rust-toolchain.toml names; running `{shown}`"
        );
        let ok = Command::new("rustup")
            .current_dir(root)
            .args(c)
            .stdin(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            return Err(format!(
                "`{shown}` failed (is rustup installed? https://rustup.rs): run it by hand"
            ));
        }
    }
    match targets.iter().find(|t| !has_target(root, t)) {
        Some(t) => Err(format!(
            "target {t} still missing after rustup: run `rustup target add --toolchain {channel} {t}`"
        )),
        None => Ok(()),
    }
}

/// Whether xtask runs as root (then apt-get may install and update).
pub fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

pub fn has_apt() -> bool {
    Command::new("apt-get")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_ok()
}

static APT_UPDATE: Once = Once::new();

/// `apt-get update`, at most once per xtask run (later calls do nothing).
pub fn apt_update_once() {
    APT_UPDATE.call_once(|| {
        eprintln!("xtask: apt-get update");
        let _ = Command::new("apt-get")
            .args(["update", "-q"])
            .stdin(Stdio::null())
            .status();
    });
}

/// One thing xtask needs from Debian: the packages that provide it and how to tell it is there.
pub struct Need {
    /// What it is, for messages ("QEMU", "Xen's public headers").
    pub what: &'static str,
    /// Debian packages to install.
    pub packages: &'static [&'static str],
    /// Whether it is present.
    pub present: fn() -> bool,
}

/// Makes sure `need` is present: as root with apt-get, installs its packages; otherwise says
/// exactly what to run.
pub fn ensure(need: &Need) -> Result<(), String> {
    if (need.present)() {
        return Ok(());
    }
    let pkgs = need.packages.join(" ");
    let install = format!("apt-get update && apt-get install -y {pkgs}");
    if !(is_root() && has_apt()) {
        return Err(format!(
            "{} not found: install it with `sudo sh -c '{install}'`",
            need.what
        ));
    }
    eprintln!(
        "xtask: {} not found; installing {pkgs} with apt-get",
        need.what
    );
    apt_update_once();
    let ok = Command::new("apt-get")
        .args(["install", "-y", "-q", "--no-install-recommends"])
        .args(need.packages)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .stdin(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if ok && (need.present)() {
        Ok(())
    } else {
        Err(format!("installing {pkgs} failed: run `{install}` by hand"))
    }
}

/// Whether `prog --version` runs.
pub fn runs(prog: &str) -> bool {
    Command::new(prog)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// QEMU for the end-to-end tests and `cargo xtask run`.
pub const QEMU: Need = Need {
    what: "qemu-system-x86_64",
    packages: &["qemu-system-x86"],
    present: || runs(crate::qemu::QEMU),
};

/// Xen's public headers, which guest-abi's conformance test compiles against.
pub const XEN_HEADERS: Need = Need {
    what: "Xen's public headers (/usr/include/xen/xen.h)",
    packages: &["libxen-dev"],
    present: || Path::new("/usr/include/xen/xen.h").exists(),
};

/// grub-mkrescue with GRUB's BIOS (i386-pc) platform, xorriso and mtools, for the ISO.
pub const GRUB_BIOS: Need = Need {
    what: "grub-mkrescue with GRUB for BIOS (i386-pc), xorriso and mtools",
    packages: &["grub-common", "grub-pc-bin", "xorriso", "mtools"],
    present: || {
        runs("grub-mkrescue")
            && runs("xorriso")
            && runs("mformat")
            && Path::new("/usr/lib/grub/i386-pc/multiboot.mod").exists()
    },
};

/// GRUB's UEFI (x86_64-efi) platform: grub-mkrescue then makes the ISO boot by UEFI too.
pub const GRUB_EFI: Need = Need {
    what: "GRUB for UEFI (x86_64-efi)",
    packages: &["grub-efi-amd64-bin"],
    present: || Path::new("/usr/lib/grub/x86_64-efi/multiboot.mod").exists(),
};

/// Where Debian's `ovmf` puts the UEFI firmware for QEMU (`-bios`).
pub const OVMF_FD: &str = "/usr/share/ovmf/OVMF.fd";

/// UEFI firmware for QEMU, for the end-to-end test that boots the ISO by UEFI.
pub const OVMF: Need = Need {
    what: "UEFI firmware for QEMU (OVMF)",
    packages: &["ovmf"],
    present: || Path::new(OVMF_FD).exists(),
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toolchain_file() {
        let text = "[toolchain]\nchannel = \"1.95.0\"\ntargets = [\"x86_64-unknown-none\"]\n\
                    components = [\"rustfmt\", \"clippy\"]\n";
        let (c, t, comp) = parse_toolchain_file(text).unwrap();
        assert_eq!(c, "1.95.0");
        assert_eq!(t, vec!["x86_64-unknown-none"]);
        assert_eq!(comp, vec!["rustfmt", "clippy"]);
        assert!(parse_toolchain_file("[toolchain]\n").is_none());
    }

    #[test]
    fn the_workspace_pins_the_bare_metal_target() {
        let root = crate::qemu::workspace_root();
        let text = std::fs::read_to_string(root.join("rust-toolchain.toml")).unwrap();
        let (_, targets, components) = parse_toolchain_file(&text).unwrap();
        assert!(targets.iter().any(|t| t == TARGET));
        assert!(components.iter().any(|c| c == "clippy"));
    }
}
