//! The Linux guests' own programs: the crate `xtask/guest-tools` (static, `#![no_std]`, no
//! libc; `/bin/blkbench` in their initramfs and on their disk), built for the host's
//! `x86_64-unknown-linux-gnu` target when the Linux guests are built.
//!
//! The crate is its own workspace (not a member of the project's: its binaries abort on
//! panic and link without a C runtime, which the project's host builds and tests must not
//! see). Its flags live in `xtask/guest-tools/.cargo/config.toml`, read because cargo runs
//! in that directory; the environment's RUSTFLAGS and target settings, which would override
//! them, are removed, and the result is checked to be a static x86_64 executable.

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

/// The crate, from the workspace root.
pub const CRATE_DIR: &str = "xtask/guest-tools";
/// Its target: the host's (the Linux guests are x86_64 Linux too).
pub const TARGET: &str = "x86_64-unknown-linux-gnu";
/// Its target dir, from the workspace root.
pub const TARGET_DIR: &str = "target/guest-tools";

/// `cargo <subcommand> --release --target x86_64-unknown-linux-gnu --target-dir
/// target/guest-tools` in the crate's directory, with the environment cleared of what would
/// override its `.cargo/config.toml`: the one command line of the build here and of a clippy
/// run (`cargo xtask clippy` can add it: `cargo("clippy").args(["--", "-D", "warnings"])`).
pub fn cargo(subcommand: &str) -> Command {
    let root = crate::qemu::workspace_root();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(root.join(CRATE_DIR));
    for var in [
        "RUSTFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
        "CARGO_BUILD_RUSTFLAGS",
        "CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUSTFLAGS",
        "CARGO_BUILD_TARGET",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET_DIR",
        "CARGO_PROFILE_RELEASE_PANIC",
    ] {
        cmd.env_remove(var);
    }
    cmd.args([subcommand, "--release", "--target", TARGET, "--target-dir"])
        .arg(root.join(TARGET_DIR));
    cmd
}

/// Builds the crate; the path of `bin`.
pub fn build(bin: &str) -> Result<PathBuf, String> {
    let status = cargo("build")
        .args(["--bin", bin])
        .status()
        .map_err(|e| format!("running cargo for {CRATE_DIR}: {e}"))?;
    if !status.success() {
        return Err(format!("cargo build of {CRATE_DIR} (--bin {bin}) failed"));
    }
    let path = crate::qemu::workspace_root()
        .join(TARGET_DIR)
        .join(TARGET)
        .join("release")
        .join(bin);
    let data = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    check_static_elf(&data).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(path)
}

/// `/bin/blkbench` of the Linux guests: built once per xtask run (the first caller builds it;
/// cargo does nothing when it is current).
///
/// # Panics
/// If it cannot be built: the guests' file lists (`guests::busybox_root`) have no error path,
/// and a Linux guest without it would fail the block benchmark later and less clearly.
pub fn blkbench() -> &'static [u8] {
    static BLKBENCH: OnceLock<Vec<u8>> = OnceLock::new();
    BLKBENCH.get_or_init(|| {
        build("blkbench")
            .and_then(|p| std::fs::read(&p).map_err(|e| format!("{}: {e}", p.display())))
            .unwrap_or_else(|e| panic!("xtask: the Linux guests' /bin/blkbench: {e}"))
    })
}

/// Checks that `elf` is what a Linux guest can run without a loader or libraries: a 64-bit
/// little-endian x86_64 `ET_EXEC` with no `PT_INTERP` and no `PT_DYNAMIC`.
pub fn check_static_elf(elf: &[u8]) -> Result<(), String> {
    let u16_at = |o: usize| elf.get(o..o + 2).map(|b| u16::from_le_bytes([b[0], b[1]]));
    let u32_at = |o: usize| {
        elf.get(o..o + 4)
            .map(|b| u32::from_le_bytes(b.try_into().expect("4 bytes")))
    };
    let u64_at = |o: usize| {
        elf.get(o..o + 8)
            .map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")))
    };
    if elf.get(..7) != Some(&[0x7F, b'E', b'L', b'F', 2, 1, 1][..]) {
        return Err("not a 64-bit little-endian ELF".into());
    }
    const ET_EXEC: u16 = 2;
    const EM_X86_64: u16 = 62;
    if u16_at(16) != Some(ET_EXEC) {
        return Err("not a fixed-address executable (ET_EXEC): built as PIE?".into());
    }
    if u16_at(18) != Some(EM_X86_64) {
        return Err("not an x86_64 executable".into());
    }
    let (Some(phoff), Some(phentsize), Some(phnum)) = (u64_at(32), u16_at(54), u16_at(56)) else {
        return Err("truncated ELF header".into());
    };
    const PT_DYNAMIC: u32 = 2;
    const PT_INTERP: u32 = 3;
    for i in 0..u64::from(phnum) {
        let at = phoff + i * u64::from(phentsize);
        let ty = usize::try_from(at)
            .ok()
            .and_then(u32_at)
            .ok_or("program headers past the end of the file")?;
        match ty {
            PT_INTERP => return Err("has an interpreter (PT_INTERP): dynamically linked".into()),
            PT_DYNAMIC => return Err("has a dynamic section: not static".into()),
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal ELF64 header with `phnum` program headers of the given types.
    fn elf(e_type: u16, machine: u16, types: &[u32]) -> Vec<u8> {
        let mut v = vec![0u8; 64 + 56 * types.len()];
        v[..7].copy_from_slice(&[0x7F, b'E', b'L', b'F', 2, 1, 1]);
        v[16..18].copy_from_slice(&e_type.to_le_bytes());
        v[18..20].copy_from_slice(&machine.to_le_bytes());
        v[32..40].copy_from_slice(&64u64.to_le_bytes());
        v[54..56].copy_from_slice(&56u16.to_le_bytes());
        v[56..58].copy_from_slice(&(types.len() as u16).to_le_bytes());
        for (i, t) in types.iter().enumerate() {
            v[64 + 56 * i..68 + 56 * i].copy_from_slice(&t.to_le_bytes());
        }
        v
    }

    #[test]
    fn only_static_x86_64_executables_pass() {
        assert_eq!(check_static_elf(&elf(2, 62, &[1, 1, 0x6474_e551])), Ok(()));
        let err = |e: &[u8]| check_static_elf(e).unwrap_err();
        assert!(err(&elf(3, 62, &[1])).contains("PIE"));
        assert!(err(&elf(2, 3, &[1])).contains("x86_64"));
        assert!(err(&elf(2, 62, &[1, 3])).contains("PT_INTERP"));
        assert!(err(&elf(2, 62, &[2])).contains("dynamic"));
        assert!(err(b"#!/bin/sh\n").contains("ELF"));
        let mut cut = elf(2, 62, &[1, 1]);
        cut.truncate(64 + 56);
        assert!(err(&cut).contains("past the end"));
    }

    /// The real build: what the guests get is a static executable (checked by `build`).
    #[test]
    fn blkbench_builds_static() {
        let bin = blkbench();
        assert_eq!(check_static_elf(bin), Ok(()));
        let text = String::from_utf8_lossy(bin);
        assert!(text.contains("BLKBENCH"), "the program's output format");
    }
}
