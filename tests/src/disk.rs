//! The machine's disk as the host sees it: `target/images/disk.img` (`cargo xtask build`
//! makes it: a GPT with `pvtest`, `linux-root` (ext4) and `boot` (ext4)), its partitions as
//! dom0-tools' own GPT reader finds them, and Debian's e2fsprogs, which xtask fetches into
//! `target/e2fsprogs/root/` (`apt-get download` + `dpkg -x`, never installed on the host),
//! to check an ext4 partition with `e2fsck -fn` and read files from it with `debugfs`.
//!
//! ```no_run
//! use tests::disk::{self, E2fsprogs};
//! let root = disk::ext4_partition(&disk::image(), disk::LINUX_ROOT).unwrap();
//! let e2fs = E2fsprogs::find().unwrap();
//! e2fs.e2fsck(&root).unwrap();
//! let init = e2fs.cat(&root, "/init").unwrap();
//! ```
//!
//! QEMU opens the image with `snapshot=on`, so a test that wants to see what a guest wrote
//! must give its machine a writable copy.

use dom0_tools::gpt::{self, BlockRead, Gpt, Partition, SECTOR};
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The partition holding our own front end's pattern tests (raw, zeros).
pub const PVTEST: u32 = 1;
/// The Linux guests' root filesystem (ext4).
pub const LINUX_ROOT: u32 = 2;
/// PV-GRUB's boot disk (ext4: `/boot/vmlinuz`, `/boot/initrd.img`, `/boot/grub/grub.cfg`).
pub const BOOT: u32 = 3;
/// The third partition's former name (it is [`BOOT`] now).
pub const SPARE: u32 = BOOT;

/// `target/images/disk.img` (or in `$E2E_IMAGES`).
pub fn image() -> PathBuf {
    crate::launch::images_dir().join("disk.img")
}

/// A disk image file read as a block device.
struct FileDisk {
    file: File,
    sectors: u64,
}

impl BlockRead for FileDisk {
    type Error = std::io::Error;
    fn sector_count(&self) -> u64 {
        self.sectors
    }
    fn read_sector(&mut self, lba: u64, buf: &mut [u8; SECTOR]) -> std::io::Result<()> {
        self.file.read_exact_at(buf, lba * SECTOR as u64)
    }
}

/// The GPT of the disk image at `path`, read with dom0-tools' reader (dom0's own).
pub fn read_gpt(path: &Path) -> Result<Gpt, String> {
    let file = File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let len = file
        .metadata()
        .map_err(|e| format!("{}: {e}", path.display()))?
        .len();
    let mut disk = FileDisk {
        file,
        sectors: len / SECTOR as u64,
    };
    gpt::read(&mut disk).map_err(|e| format!("{}: {e}", path.display()))
}

/// Partition `index` (from 1) of the image at `path`.
pub fn partition(path: &Path, index: u32) -> Result<Partition, String> {
    read_gpt(path)?
        .partition(index)
        .cloned()
        .ok_or_else(|| format!("{}: no partition {index}", path.display()))
}

/// An ext4 filesystem inside an image file, at a byte offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ext4 {
    pub image: PathBuf,
    pub offset: u64,
}

impl Ext4 {
    /// How e2fsprogs names it: `IMAGE?offset=BYTES` (their Unix I/O manager's option).
    pub fn device_arg(&self) -> String {
        format!("{}?offset={}", self.image.display(), self.offset)
    }
}

/// Partition `index` of the image at `path` as an ext4 device for [`E2fsprogs`].
pub fn ext4_partition(path: &Path, index: u32) -> Result<Ext4, String> {
    let p = partition(path, index)?;
    Ok(Ext4 {
        image: path.to_path_buf(),
        offset: p.byte_offset(),
    })
}

/// Debian's e2fsprogs unpacked by xtask: the tools run from there with the libraries
/// unpacked beside them (`LD_LIBRARY_PATH`) and the package's `mke2fs.conf`.
#[derive(Debug, Clone)]
pub struct E2fsprogs {
    root: PathBuf,
}

/// Where xtask unpacks e2fsprogs under `target/`.
pub const E2FSPROGS_DIR: &str = "e2fsprogs";

impl E2fsprogs {
    /// The tools xtask fetched into `target/e2fsprogs/root/` (`cargo xtask build` does).
    pub fn find() -> Result<E2fsprogs, String> {
        let root = crate::launch::target_dir().join(E2FSPROGS_DIR).join("root");
        let e = E2fsprogs::at(&root);
        e.tool("e2fsck").map(|_| e).map_err(|why| {
            format!("{why}: run `cargo xtask build`, which fetches Debian's e2fsprogs")
        })
    }

    /// The tools unpacked in `root` (a `dpkg -x` tree).
    pub fn at(root: &Path) -> E2fsprogs {
        E2fsprogs {
            root: root.to_path_buf(),
        }
    }

    /// The path of `tool` (`e2fsck`, `debugfs`, `mkfs.ext4`): in `sbin/` or `usr/sbin/`.
    pub fn tool(&self, tool: &str) -> Result<PathBuf, String> {
        ["sbin", "usr/sbin"]
            .iter()
            .map(|d| self.root.join(d).join(tool))
            .find(|p| p.exists())
            .ok_or_else(|| format!("{tool}: not in {}/{{sbin,usr/sbin}}", self.root.display()))
    }

    /// The directories of the unpacked shared libraries (`lib/<triplet>`,
    /// `usr/lib/<triplet>`), joined for `LD_LIBRARY_PATH`.
    pub fn library_path(&self) -> String {
        let mut dirs = Vec::new();
        for base in ["lib", "usr/lib"] {
            let Ok(list) = std::fs::read_dir(self.root.join(base)) else {
                continue;
            };
            let mut found: Vec<PathBuf> = list
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.is_dir() && p.to_string_lossy().ends_with("-linux-gnu"))
                .collect();
            found.sort();
            dirs.extend(found);
        }
        let dirs: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
        dirs.join(":")
    }

    /// `tool` ready to run: its libraries and `mke2fs.conf` from the unpacked packages,
    /// messages in English.
    pub fn command(&self, tool: &str) -> Result<Command, String> {
        let mut cmd = Command::new(self.tool(tool)?);
        cmd.env("LD_LIBRARY_PATH", self.library_path())
            .env("MKE2FS_CONFIG", self.root.join("etc/mke2fs.conf"))
            .env("LC_ALL", "C")
            .stdin(Stdio::null());
        Ok(cmd)
    }

    /// `e2fsck -fn` (a forced check that changes nothing): its report if the filesystem is
    /// clean (exit 0), else an error with the report.
    pub fn e2fsck(&self, fs: &Ext4) -> Result<String, String> {
        let out = self
            .command("e2fsck")?
            .args(["-fn", &fs.device_arg()])
            .output()
            .map_err(|e| format!("e2fsck: {e}"))?;
        let report = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        if out.status.success() {
            Ok(report)
        } else {
            Err(format!(
                "e2fsck -fn {}: {} (not clean):\n{report}",
                fs.device_arg(),
                out.status
            ))
        }
    }

    /// `debugfs -R REQUEST` (read-only): its standard output. debugfs exits 0 even when a
    /// request fails, so anything on standard error beyond its version banner is the error.
    pub fn debugfs(&self, fs: &Ext4, request: &str) -> Result<Vec<u8>, String> {
        let out = self
            .command("debugfs")?
            .args(["-R", request, &fs.device_arg()])
            .output()
            .map_err(|e| format!("debugfs: {e}"))?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        let errors: Vec<&str> = stderr
            .lines()
            .filter(|l| !l.trim().is_empty() && !l.starts_with("debugfs "))
            .collect();
        if out.status.success() && errors.is_empty() {
            Ok(out.stdout)
        } else {
            Err(format!(
                "debugfs -R {request:?} {}: {}: {}",
                fs.device_arg(),
                out.status,
                errors.join("; ")
            ))
        }
    }

    /// The contents of the file at `path` in the filesystem.
    pub fn cat(&self, fs: &Ext4, path: &str) -> Result<Vec<u8>, String> {
        self.debugfs(fs, &format!("cat {path}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tools_and_libraries_in_a_dpkg_tree() {
        let root = crate::launch::target_dir().join("disk-helper-test");
        let _ = std::fs::remove_dir_all(&root);
        for d in [
            "sbin",
            "usr/sbin",
            "lib/x86_64-linux-gnu",
            "usr/lib/x86_64-linux-gnu",
            "usr/lib/udev",
        ] {
            std::fs::create_dir_all(root.join(d)).unwrap();
        }
        std::fs::write(root.join("sbin/e2fsck"), b"").unwrap();
        std::fs::write(root.join("usr/sbin/debugfs"), b"").unwrap();
        let e = E2fsprogs::at(&root);
        assert_eq!(e.tool("e2fsck").unwrap(), root.join("sbin/e2fsck"));
        assert_eq!(e.tool("debugfs").unwrap(), root.join("usr/sbin/debugfs"));
        let missing = e.tool("mkfs.ext4").unwrap_err();
        assert!(missing.starts_with("mkfs.ext4: not in "), "{missing}");
        assert_eq!(
            e.library_path(),
            format!(
                "{}:{}",
                root.join("lib/x86_64-linux-gnu").display(),
                root.join("usr/lib/x86_64-linux-gnu").display()
            )
        );
        let cmd = e.command("e2fsck").unwrap();
        let env: Vec<_> = cmd.get_envs().collect();
        assert!(env
            .iter()
            .any(|(k, v)| *k == "MKE2FS_CONFIG"
                && *v == Some(root.join("etc/mke2fs.conf").as_os_str())));
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn e2fsprogs_names_a_partition_by_its_offset() {
        let fs = Ext4 {
            image: PathBuf::from("/t/disk.img"),
            offset: 9 << 20,
        };
        assert_eq!(fs.device_arg(), "/t/disk.img?offset=9437184");
    }
}
