//! Debian's e2fsprogs (`mkfs.ext4`, `e2fsck`, `debugfs`) for making and checking the
//! disk's ext4 filesystem on the host, never installed there: `e2fsprogs` and the libraries
//! it pre-depends on (`apt-cache depends e2fsprogs`: libext2fs, libcom-err, libss, libblkid,
//! libuuid; not libc) are fetched with `apt-get download` and unpacked with `dpkg -x` into
//! `target/e2fsprogs/` by the guests' package cache ([`crate::guests::Cache`]: stamped, no apt
//! while the cache holds them). The tools run from `root/{sbin,usr/sbin}` with
//! `LD_LIBRARY_PATH` on the unpacked libraries and `MKE2FS_CONFIG` on the package's
//! `mke2fs.conf`, so the host's own e2fsprogs, if any, plays no part.
//!
//! The tests crate finds the same tools with `tests::disk::E2fsprogs` (the disk image's
//! test checks that both agree).

use crate::guests::{self, Cache, CachedDeb};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The package.
pub const PACKAGE: &str = "e2fsprogs";
/// The tools xtask and the tests run.
pub const TOOLS: [&str; 3] = ["mkfs.ext4", "e2fsck", "debugfs"];

/// The unpacked tools.
#[derive(Debug, Clone)]
pub struct E2fsprogs {
    root: PathBuf,
    /// The `.deb` files they came from (the disk image's stamp names them).
    pub debs: Vec<CachedDeb>,
}

/// `target/e2fsprogs/` of the workspace.
pub fn cache_dir() -> PathBuf {
    crate::qemu::workspace_root()
        .join("target")
        .join("e2fsprogs")
}

impl E2fsprogs {
    /// The tools, fetched into [`cache_dir`] first if they are not there.
    pub fn ensure() -> Result<E2fsprogs, String> {
        Self::ensure_in(&cache_dir())
    }

    /// The tools in the cache at `dir`, fetched and checked if it does not hold them.
    pub fn ensure_in(dir: &Path) -> Result<E2fsprogs, String> {
        let cache = Cache::at(dir);
        if let Some(debs) = cache.cached_debs() {
            let e = E2fsprogs {
                root: cache.root(),
                debs,
            };
            if TOOLS.iter().all(|t| e.tool(t).is_ok()) {
                return Ok(e);
            }
        }
        guests::need_apt("mkfs.ext4, e2fsck and debugfs")?;
        let packages = guests::with_fresh_index(resolve_packages)?;
        let names: Vec<&str> = packages.iter().map(String::as_str).collect();
        let debs = cache.fetch(PACKAGE, &names)?;
        let e = E2fsprogs {
            root: cache.root(),
            debs,
        };
        e.check()?;
        Ok(e)
    }

    /// The path of `tool`: `sbin/` (bookworm's packages) or `usr/sbin/`.
    pub fn tool(&self, tool: &str) -> Result<PathBuf, String> {
        ["sbin", "usr/sbin"]
            .iter()
            .map(|d| self.root.join(d).join(tool))
            .find(|p| p.exists())
            .ok_or_else(|| {
                format!(
                    "{tool}: not in {}/{{sbin,usr/sbin}} (Debian's {PACKAGE} unpacked)",
                    self.root.display()
                )
            })
    }

    /// The unpacked libraries' directories (`lib/<triplet>`, `usr/lib/<triplet>`), for
    /// `LD_LIBRARY_PATH`.
    fn library_path(&self) -> String {
        let mut dirs: Vec<String> = Vec::new();
        for base in ["lib", "usr/lib"] {
            let Ok(list) = std::fs::read_dir(self.root.join(base)) else {
                continue;
            };
            let mut found: Vec<String> = list
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.is_dir() && p.to_string_lossy().ends_with("-linux-gnu"))
                .map(|p| p.display().to_string())
                .collect();
            found.sort();
            dirs.extend(found);
        }
        dirs.join(":")
    }

    /// `tool` ready to run with the unpacked libraries and `mke2fs.conf`.
    pub fn command(&self, tool: &str) -> Result<Command, String> {
        let mut cmd = Command::new(self.tool(tool)?);
        cmd.env("LD_LIBRARY_PATH", self.library_path())
            .env("MKE2FS_CONFIG", self.root.join("etc").join("mke2fs.conf"))
            .env("LC_ALL", "C")
            .stdin(Stdio::null());
        Ok(cmd)
    }

    /// Each tool is there, finds every library (`ldd` says no "not found") and runs.
    fn check(&self) -> Result<(), String> {
        for t in TOOLS {
            let path = self.tool(t)?;
            let ldd = Command::new("ldd")
                .arg(&path)
                .env("LD_LIBRARY_PATH", self.library_path())
                .stdin(Stdio::null())
                .output();
            if let Ok(out) = ldd {
                let text = String::from_utf8_lossy(&out.stdout);
                let missing: Vec<&str> = text
                    .lines()
                    .filter(|l| l.contains("not found"))
                    .map(|l| l.split_whitespace().next().unwrap_or(l))
                    .collect();
                if !missing.is_empty() {
                    return Err(format!(
                        "{}: needs {} which neither the host nor the unpacked packages have",
                        path.display(),
                        missing.join(", ")
                    ));
                }
            }
            // `-V` prints the version and exits 0 (debugfs: `-V` too).
            let out = self
                .command(t)?
                .arg("-V")
                .output()
                .map_err(|e| format!("{}: {e}", path.display()))?;
            if !out.status.success() {
                return Err(format!(
                    "{} -V: {}: {}",
                    path.display(),
                    out.status,
                    String::from_utf8_lossy(&out.stderr).trim()
                ));
            }
        }
        Ok(())
    }
}

/// `e2fsprogs` and the libraries it (pre-)depends on, from `apt-cache depends e2fsprogs`.
fn resolve_packages() -> Result<Vec<String>, String> {
    let shown = format!("apt-cache depends {PACKAGE}");
    let out = guests::run_captured(guests::apt("apt-cache").args(["depends", PACKAGE]), &shown)?;
    let text = String::from_utf8_lossy(&out.stdout);
    let packages = packages_from_depends(&text);
    if packages.len() < 2 {
        return Err(format!("`{shown}` names no library: {text:?}"));
    }
    Ok(packages)
}

/// From `apt-cache depends e2fsprogs`'s output: `e2fsprogs`, then each `lib*` package of a
/// `PreDepends:`/`Depends:` line (alternatives `|` included, virtual `<...>` names and libc,
/// which the host has, left out), once each.
pub fn packages_from_depends(text: &str) -> Vec<String> {
    let mut packages = vec![PACKAGE.to_string()];
    for line in text.lines() {
        let line = line.trim().trim_start_matches('|');
        let Some(rest) = line
            .strip_prefix("PreDepends:")
            .or_else(|| line.strip_prefix("Depends:"))
        else {
            continue;
        };
        let Some(name) = rest.split_whitespace().next() else {
            continue;
        };
        let wanted = name.starts_with("lib") && !name.starts_with("libc6");
        if wanted && !packages.iter().any(|p| p == name) {
            packages.push(name.to_string());
        }
    }
    packages
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_packages_from_apt_cache_depends() {
        let bookworm = "e2fsprogs\n  PreDepends: libblkid1\n  PreDepends: libc6\n  \
                        PreDepends: libcom-err2\n  PreDepends: libext2fs2\n  \
                        PreDepends: libss2\n  PreDepends: libuuid1\n  Depends: logsave\n  \
                        Recommends: e2fsprogs-l10n\n  Suggests: gpart\n  Suggests: fuse2fs\n";
        assert_eq!(
            packages_from_depends(bookworm),
            [
                "e2fsprogs",
                "libblkid1",
                "libcom-err2",
                "libext2fs2",
                "libss2",
                "libuuid1"
            ]
        );
        // Renamed libraries (trixie's t64), alternatives, virtual names, repeats, and
        // libraries only suggested or recommended.
        let other = "e2fsprogs\n  PreDepends: libext2fs2t64\n  |PreDepends: libss2\n  \
                     PreDepends: <libfoo-virtual>\n  Depends: libext2fs2t64\n  \
                     Depends: libc6\n  Recommends: libbar1\n  Suggests: libbaz1\n";
        assert_eq!(
            packages_from_depends(other),
            ["e2fsprogs", "libext2fs2t64", "libss2"]
        );
        assert_eq!(packages_from_depends(""), ["e2fsprogs"]);
    }

    #[test]
    fn tools_are_found_in_sbin_or_usr_sbin() {
        let root = crate::qemu::workspace_root().join("target/xtask-test/e2fs-tools");
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join("sbin")).unwrap();
        std::fs::create_dir_all(root.join("usr/sbin")).unwrap();
        std::fs::create_dir_all(root.join("lib/x86_64-linux-gnu")).unwrap();
        std::fs::write(root.join("sbin/e2fsck"), b"").unwrap();
        std::fs::write(root.join("usr/sbin/debugfs"), b"").unwrap();
        let e = E2fsprogs {
            root: root.clone(),
            debs: Vec::new(),
        };
        assert_eq!(e.tool("e2fsck").unwrap(), root.join("sbin/e2fsck"));
        assert_eq!(e.tool("debugfs").unwrap(), root.join("usr/sbin/debugfs"));
        assert!(e.tool("mkfs.ext4").is_err());
        assert_eq!(
            e.library_path(),
            root.join("lib/x86_64-linux-gnu").display().to_string()
        );
        std::fs::remove_dir_all(&root).unwrap();
    }
}
