//! A machine's own writable disk: [`BootOptions::own_disk`](super::BootOptions::own_disk)
//! copies `disk.img` (sparse) into a fresh directory and attaches the copy without
//! `snapshot=on`, so what the guests write reaches the file and the test can check it on the
//! host ([`crate::disk`]) once QEMU has exited. The copy goes with the [`System`], unless the
//! test failed: then it stays for a look, and the failure names it.

use super::{Failure, System};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

/// The copy and its directory (removed on drop unless the thread is panicking).
#[derive(Debug)]
pub struct DiskCopy {
    dir: PathBuf,
    image: PathBuf,
}

impl DiskCopy {
    /// `cp --sparse=always` of `image` into a new directory under `target/e2e-disks/`,
    /// named after the test.
    pub fn new(name: &str, image: &Path) -> Result<DiskCopy, String> {
        static N: AtomicU32 = AtomicU32::new(0);
        let safe: String = name
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect();
        let dir = crate::launch::target_dir().join("e2e-disks").join(format!(
            "{safe}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let copy = dir.join(image.file_name().unwrap_or("disk.img".as_ref()));
        let out = Command::new("cp")
            .arg("--sparse=always")
            .arg(image)
            .arg(&copy)
            .output()
            .map_err(|e| format!("cp: {e}"))?;
        if !out.status.success() {
            let _ = std::fs::remove_dir_all(&dir);
            return Err(format!(
                "cp --sparse=always {} {}: {}: {}",
                image.display(),
                copy.display(),
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(DiskCopy { dir, image: copy })
    }

    pub fn path(&self) -> &Path {
        &self.image
    }
}

impl Drop for DiskCopy {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "[e2e] the failed test's disk is kept: {}",
                self.image.display()
            );
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// In QEMU's arguments, the `-drive` of `image` (by its file name) made to open `copy`
/// instead, without `snapshot=on`. Fails if no drive names such a file.
pub fn use_copy(args: &mut [String], image: &Path, copy: &Path) -> Result<(), String> {
    let name = image
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut found = false;
    for i in 1..args.len() {
        if args[i - 1] != "-drive" {
            continue;
        }
        let opts: Vec<String> = args[i].split(',').map(str::to_string).collect();
        let names_image = opts.iter().any(|o| {
            o.strip_prefix("file=")
                .is_some_and(|f| Path::new(f).file_name().is_some_and(|n| *n == *name))
        });
        if !names_image {
            continue;
        }
        let opts: Vec<String> = opts
            .into_iter()
            .filter(|o| !o.starts_with("snapshot="))
            .map(|o| {
                if o.starts_with("file=") {
                    format!("file={}", copy.display())
                } else {
                    o
                }
            })
            .collect();
        args[i] = opts.join(",");
        found = true;
    }
    if found {
        Ok(())
    } else {
        Err(format!(
            "QEMU's arguments have no -drive file=.../{name} to give a copy of: {args:?}"
        ))
    }
}

impl System {
    /// The machine's own disk image (booted with
    /// [`BootOptions::own_disk`](super::BootOptions::own_disk)); fails otherwise. Read it
    /// once QEMU has exited ([`System::poweroff`]): until then dom0 may still be writing.
    pub fn disk_image(&self) -> Result<PathBuf, Failure> {
        match &self.disk {
            Some(d) => Ok(d.path().to_path_buf()),
            None => {
                Err(self.failure("this machine has no disk of its own (BootOptions::own_disk)"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_drive_is_pointed_at_the_copy_without_snapshot() {
        let mut args: Vec<String> = [
            "-M",
            "microvm",
            "-drive",
            "file=/w/target/images/disk.img,if=none,id=vd0,format=raw,snapshot=on",
            "-device",
            "virtio-blk-device,drive=vd0",
        ]
        .map(String::from)
        .into();
        use_copy(
            &mut args,
            Path::new("/w/target/images/disk.img"),
            Path::new("/tmp/x/disk.img"),
        )
        .unwrap();
        assert_eq!(args[3], "file=/tmp/x/disk.img,if=none,id=vd0,format=raw");
        assert_eq!(args[5], "virtio-blk-device,drive=vd0");
        let mut none: Vec<String> = vec!["-M".into(), "microvm".into()];
        let e = use_copy(&mut none, Path::new("/i/disk.img"), Path::new("/c")).unwrap_err();
        assert!(e.contains("no -drive"), "{e}");
    }

    #[test]
    fn the_copy_is_sparse_and_goes_with_its_owner() {
        let dir =
            crate::launch::target_dir().join(format!("disk-copy-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let image = dir.join("disk.img");
        let f = std::fs::File::create(&image).unwrap();
        f.set_len(64 << 20).unwrap();
        use std::os::unix::fs::FileExt;
        f.write_all_at(b"data", 1 << 20).unwrap();
        drop(f);
        let copy = DiskCopy::new("a::test name", &image).unwrap();
        let path = copy.path().to_path_buf();
        assert_eq!(
            std::fs::read(&path).unwrap()[1 << 20..(1 << 20) + 4],
            *b"data"
        );
        use std::os::unix::fs::MetadataExt;
        let meta = std::fs::metadata(&path).unwrap();
        assert_eq!(meta.len(), 64 << 20);
        assert!(
            meta.blocks() * 512 < 1 << 20,
            "sparse: {} blocks",
            meta.blocks()
        );
        assert!(path
            .parent()
            .unwrap()
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("a--test-name-"));
        drop(copy);
        assert!(!path.exists() && !path.parent().unwrap().exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
