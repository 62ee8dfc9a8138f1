//! dom0's storage as the host sees it: the FAT32 partition `xen-dom0` of the disk image,
//! read with Debian's mtools and checked with dosfstools' `fsck.fat`, which xtask fetches
//! into `target/dosfstools/root/` (`apt-get download` + `dpkg -x`, never installed).
//!
//! ```no_run
//! use tests::fat::{FatTools, Fat};
//! let tools = FatTools::find().unwrap();
//! let vol = Fat::in_image(&tests::disk::image()).unwrap();
//! tools.fsck(&vol).unwrap();
//! let cfg = tools.cat(&vol, "/etc/xen/mine.cfg").unwrap();
//! ```

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The GPT name of dom0's storage (`dom0_tools::fs::LABEL`).
pub const LABEL: &str = dom0_tools::fs::LABEL;

/// A FAT filesystem inside an image file, at a byte offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fat {
    pub image: PathBuf,
    pub offset: u64,
}

impl Fat {
    /// The partition labelled [`LABEL`] of the disk image at `image`.
    pub fn in_image(image: &Path) -> Result<Fat, String> {
        let gpt = crate::disk::read_gpt(image)?;
        let p = gpt
            .partitions
            .iter()
            .find(|p| p.name == LABEL)
            .ok_or_else(|| format!("{}: no partition named {LABEL}", image.display()))?;
        Ok(Fat {
            image: image.to_path_buf(),
            offset: p.byte_offset(),
        })
    }

    /// mtools' name for it: `IMAGE@@OFFSET`.
    pub fn mtools_arg(&self) -> String {
        format!("{}@@{}", self.image.display(), self.offset)
    }
}

/// Debian's dosfstools and mtools, unpacked.
#[derive(Debug, Clone)]
pub struct FatTools {
    root: PathBuf,
}

impl FatTools {
    /// The tools xtask fetched (`target/dosfstools/root/`).
    pub fn find() -> Result<FatTools, String> {
        let t = FatTools::at(&crate::launch::target_dir().join("dosfstools").join("root"));
        t.tool("fsck.fat")?;
        t.tool("mcopy")?;
        Ok(t)
    }

    /// The tools unpacked under `root`.
    pub fn at(root: &Path) -> FatTools {
        FatTools {
            root: root.to_path_buf(),
        }
    }

    fn tool(&self, tool: &str) -> Result<PathBuf, String> {
        ["sbin", "usr/sbin", "usr/bin"]
            .iter()
            .map(|d| self.root.join(d).join(tool))
            .find(|p| p.exists())
            .ok_or_else(|| {
                format!(
                    "{tool}: not under {} (`cargo xtask build` fetches Debian's dosfstools and mtools)",
                    self.root.display()
                )
            })
    }

    /// Runs `tool` with `args`; its standard output, or an error with everything it said.
    fn run(&self, tool: &str, args: &[String]) -> Result<Vec<u8>, String> {
        let out = Command::new(self.tool(tool)?)
            .args(args)
            .env("LC_ALL", "C")
            .env("MTOOLS_SKIP_CHECK", "1")
            .env("MTOOLSRC", "/dev/null")
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("{tool}: {e}"))?;
        if out.status.success() {
            return Ok(out.stdout);
        }
        Err(format!(
            "{tool} {}: {}: {}{}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stdout).trim(),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }

    /// `fsck.fat -n` of the filesystem (it reads a copy: fsck.fat takes no offset); its
    /// report if it is clean, else an error with the report.
    pub fn fsck(&self, fs: &Fat) -> Result<String, String> {
        let copy = self.extract(fs)?;
        let r = self.run("fsck.fat", &["-n".into(), copy.display().to_string()]);
        let _ = std::fs::remove_file(&copy);
        let out = r?;
        let text = String::from_utf8_lossy(&out).into_owned();
        // fsck.fat -n exits 0 also after listing problems it would fix: none may be listed.
        let problems: Vec<&str> = text
            .lines()
            .filter(|l| {
                !l.starts_with("fsck.fat ")
                    && !l.contains(" files, ")
                    && !l.trim().is_empty()
                    && !l.starts_with("There are differences between boot sector and its backup")
            })
            .collect();
        if problems.is_empty() {
            Ok(text)
        } else {
            Err(format!("fsck.fat -n: {text}"))
        }
    }

    /// The file system alone, copied out of the image (sparse) beside it.
    fn extract(&self, fs: &Fat) -> Result<PathBuf, String> {
        let gpt = crate::disk::read_gpt(&fs.image)?;
        let p = gpt
            .partitions
            .iter()
            .find(|p| p.byte_offset() == fs.offset)
            .ok_or_else(|| format!("no partition at byte {}", fs.offset))?;
        let copy = fs
            .image
            .with_extension(format!("fat.{}", std::process::id()));
        let out = Command::new("dd")
            .arg(format!("if={}", fs.image.display()))
            .arg(format!("of={}", copy.display()))
            .args(["bs=512", "conv=sparse", "status=none"])
            .arg(format!("skip={}", p.first_lba))
            .arg(format!("count={}", p.sectors()))
            .output()
            .map_err(|e| format!("dd: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "dd of the FAT partition: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        Ok(copy)
    }

    /// The bytes of file `path` (mtools' `mtype`, no conversion).
    pub fn cat(&self, fs: &Fat, path: &str) -> Result<Vec<u8>, String> {
        self.run(
            "mtype",
            &["-i".into(), fs.mtools_arg(), format!("::{path}")],
        )
    }

    /// The names in directory `path` (`mdir -b`: one path a line), without the directory.
    pub fn ls(&self, fs: &Fat, path: &str) -> Result<Vec<String>, String> {
        let out = self.run(
            "mdir",
            &[
                "-b".into(),
                "-i".into(),
                fs.mtools_arg(),
                format!("::{path}"),
            ],
        )?;
        Ok(String::from_utf8_lossy(&out)
            .lines()
            .filter_map(|l| l.trim_end_matches('/').rsplit('/').next())
            .filter(|n| !n.is_empty())
            .map(str::to_string)
            .collect())
    }
}
