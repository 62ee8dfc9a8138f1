//! Debian's dosfstools (`mkfs.fat`, `fsck.fat`) and mtools (`mmd`, `mcopy`, `mdir`, `mdel`)
//! for making, filling and checking dom0's FAT storage partition on the host, never
//! installed there: both packages depend on libc alone, and are fetched with
//! `apt-get download` and unpacked with `dpkg -x` into `target/dosfstools/` by the guests'
//! package cache ([`crate::guests::Cache`]: stamped, no apt while the cache holds them).
//! mtools reads no configuration here (`MTOOLS_SKIP_CHECK`, no `~/.mtoolsrc` asked for):
//! each command names the image with `-i IMAGE@@OFFSET`.
//!
//! The tests crate finds the same tools with `tests::disk::FatTools`.

use crate::guests::{self, Cache, CachedDeb};
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// The packages.
pub const PACKAGES: [&str; 2] = ["dosfstools", "mtools"];
/// The tools xtask and the tests run, and the option each prints its version with.
pub const TOOLS: [(&str, &str); 4] = [
    ("mkfs.fat", "--help"),
    ("fsck.fat", "--help"),
    ("mcopy", "-V"),
    ("mmd", "-V"),
];

/// The unpacked tools.
#[derive(Debug, Clone)]
pub struct FatTools {
    root: PathBuf,
    /// The `.deb` files they came from (the disk image's stamp names them).
    pub debs: Vec<CachedDeb>,
}

/// `target/dosfstools/` of the workspace.
pub fn cache_dir() -> PathBuf {
    crate::qemu::workspace_root()
        .join("target")
        .join("dosfstools")
}

impl FatTools {
    /// The tools, fetched into [`cache_dir`] first if they are not there.
    pub fn ensure() -> Result<FatTools, String> {
        let cache = Cache::at(&cache_dir());
        if let Some(debs) = cache.cached_debs() {
            let t = FatTools {
                root: cache.root(),
                debs,
            };
            if TOOLS.iter().all(|(t2, _)| t.tool(t2).is_ok()) {
                return Ok(t);
            }
        }
        guests::need_apt("mkfs.fat, fsck.fat and mtools")?;
        let debs = cache.fetch("dosfstools and mtools", &PACKAGES)?;
        let t = FatTools {
            root: cache.root(),
            debs,
        };
        t.check()?;
        Ok(t)
    }

    /// The path of `tool`: `sbin/`, `usr/sbin/` or `usr/bin/`.
    pub fn tool(&self, tool: &str) -> Result<PathBuf, String> {
        ["sbin", "usr/sbin", "usr/bin"]
            .iter()
            .map(|d| self.root.join(d).join(tool))
            .find(|p| p.exists())
            .ok_or_else(|| {
                format!(
                    "{tool}: not in {}/{{sbin,usr/sbin,usr/bin}} (Debian's dosfstools and mtools unpacked)",
                    self.root.display()
                )
            })
    }

    /// `tool` ready to run: C locale, mtools' drive checks off, no input.
    pub fn command(&self, tool: &str) -> Result<Command, String> {
        let mut cmd = Command::new(self.tool(tool)?);
        cmd.env("LC_ALL", "C")
            .env("MTOOLS_SKIP_CHECK", "1")
            .env("MTOOLSRC", "/dev/null")
            .stdin(Stdio::null());
        Ok(cmd)
    }

    /// Each tool is there and runs.
    fn check(&self) -> Result<(), String> {
        for (t, arg) in TOOLS {
            let path = self.tool(t)?;
            let out = self
                .command(t)?
                .arg(arg)
                .output()
                .map_err(|e| format!("{}: {e}", path.display()))?;
            // `--help` exits 0 or 1 depending on the version; a tool that could not start
            // has no output at all.
            if out.stdout.is_empty() && out.stderr.is_empty() {
                return Err(format!(
                    "{} {arg}: no output ({})",
                    path.display(),
                    out.status
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tools_are_found_where_the_packages_put_them() {
        let root = std::env::temp_dir().join(format!("fat-tools-test-{}", std::process::id()));
        for d in ["sbin", "usr/bin"] {
            std::fs::create_dir_all(root.join(d)).unwrap();
        }
        std::fs::write(root.join("sbin/mkfs.fat"), b"").unwrap();
        std::fs::write(root.join("usr/bin/mcopy"), b"").unwrap();
        let t = FatTools {
            root: root.clone(),
            debs: Vec::new(),
        };
        assert_eq!(t.tool("mkfs.fat").unwrap(), root.join("sbin/mkfs.fat"));
        assert_eq!(t.tool("mcopy").unwrap(), root.join("usr/bin/mcopy"));
        assert!(t.tool("fsck.fat").unwrap_err().contains("fsck.fat"));
        let _ = std::fs::remove_dir_all(root);
    }
}
