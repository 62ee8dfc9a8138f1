//! The shell's file commands over dom0's two file trees: the initrd (read-only: kernels,
//! the example configs) and dom0's storage (`/etc/xen`, `/var/lib/xen` on its disk,
//! [`crate::fs`]). A path on the storage is looked for there first, then in the initrd;
//! `rm`, `write` and `cp`'s target reach the storage only. Each write is on the disk
//! (flushed) when the command reports it.

use crate::block::Disks;
use crate::fs::{on_storage, FsError, Storage};
use crate::initrd::Initrd;
use alloc::borrow::Cow;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt::Write;

/// The largest file `cat` prints (a bigger one is refused, not cut).
pub const MAX_SHOWN: usize = 1 << 20;
/// The largest file `cp` copies from dom0's storage (read whole into memory first; the
/// initrd's are in memory already and copied whatever their size).
pub const MAX_COPY: usize = 4 << 20;

/// The two trees.
pub struct Files<'t, 'a> {
    pub initrd: Initrd<'a>,
    pub storage: Option<&'t Storage>,
    pub disks: &'t mut Disks,
}

/// `path` made absolute (`etc/xen/a` and `/etc/xen/a` are the same file).
fn absolute(path: &str) -> String {
    if path.starts_with('/') {
        String::from(path)
    } else {
        alloc::format!("/{path}")
    }
}

impl<'t, 'a> Files<'t, 'a> {
    /// The storage, if `path` is on it and it is mounted.
    fn storage_for(&self, path: &str) -> Option<&'t Storage> {
        self.storage.filter(|_| on_storage(path))
    }

    /// File `path`'s bytes (storage first), at most `max` of them.
    fn read(&mut self, path: &str, max: usize) -> Result<Cow<'a, [u8]>, String> {
        let p = absolute(path);
        if let Some(s) = self.storage_for(&p) {
            match s.read(self.disks, &p, max) {
                Ok(data) => return Ok(Cow::Owned(data)),
                Err(FsError::NotFound(_)) => {}
                Err(e) => return Err(e.to_string()),
            }
        }
        match self.initrd.get(&p) {
            Some(d) if d.len() <= max => Ok(Cow::Borrowed(d)),
            Some(_) => Err(alloc::format!("{path}: larger than {max} bytes")),
            None => Err(alloc::format!("{path}: No such file or directory")),
        }
    }

    /// The storage for writing `path`, or why not.
    fn writable(&self, path: &str) -> Result<&'t Storage, String> {
        if !on_storage(path) {
            return Err(alloc::format!(
                "{path}: read-only (dom0's initrd); only {} are writable",
                crate::fs::MOUNT_POINTS.join(" and ")
            ));
        }
        self.storage.ok_or_else(|| FsError::NotMounted.to_string())
    }

    /// `ls [path...]`: a directory's files (storage's, then the initrd's not shadowed by
    /// them), one path a line, directories ending in `/`.
    pub fn ls(&mut self, args: &[&str], out: &mut dyn Write) {
        let dirs: &[&str] = if args.is_empty() { &["/"] } else { args };
        for dir in dirs {
            let p = absolute(dir);
            let mut shown: Vec<String> = Vec::new();
            let mut found = false;
            if let Some(s) = self.storage_for(&p) {
                let base = p.trim_end_matches('/');
                let listed = s.stat(self.disks, base).and_then(|e| {
                    if e.dir {
                        s.list(self.disks, base).map(|es| {
                            es.into_iter()
                                .map(|e| (alloc::format!("{base}/{}", e.name), e.dir))
                                .collect()
                        })
                    } else {
                        Ok(alloc::vec![(String::from(base), false)])
                    }
                });
                match listed {
                    Ok(entries) => {
                        found = true;
                        for (line, dir) in entries {
                            let _ = writeln!(out, "{line}{}", if dir { "/" } else { "" });
                            shown.push(line.to_ascii_lowercase());
                        }
                    }
                    Err(FsError::NotFound(_)) => {}
                    Err(e) => {
                        let _ = writeln!(out, "ls: {e}");
                        continue;
                    }
                }
            }
            found |= self.ls_initrd(&p, &shown, out);
            if !found {
                let _ = writeln!(out, "ls: {dir}: No such file or directory");
            }
        }
    }

    /// The initrd's part of `ls dir` (what `shown` does not already hold); whether `dir`
    /// exists there.
    fn ls_initrd(&self, dir: &str, shown: &[String], out: &mut dyn Write) -> bool {
        let d = dir.trim_start_matches('/').trim_end_matches('/');
        if let Some(e) = self.initrd.get_entry(d).filter(|e| e.is_file()) {
            if !shown.contains(&alloc::format!("/{d}").to_ascii_lowercase()) {
                let _ = writeln!(out, "/{}", e.name.trim_start_matches("./"));
            }
            return true;
        }
        let mut any = false;
        for e in self.initrd.files().filter(|e| e.is_file()) {
            let name = e.name.trim_start_matches("./");
            let inside = d.is_empty()
                || name
                    .strip_prefix(d)
                    .is_some_and(|rest| rest.starts_with('/'));
            if inside {
                any = true;
                let full = alloc::format!("/{name}");
                if !shown.contains(&full.to_ascii_lowercase()) {
                    let _ = writeln!(out, "{full}");
                }
            }
        }
        any || (!d.is_empty() && self.initrd.get_entry(d).is_some())
    }

    /// `cat file...`.
    pub fn cat(&mut self, args: &[&str], out: &mut dyn Write) {
        if args.is_empty() {
            let _ = writeln!(out, "cat: missing file operand");
        }
        for f in args {
            match self.read(f, MAX_SHOWN) {
                Ok(data) => print_text(&data, out),
                Err(e) => {
                    let _ = writeln!(out, "cat: {e}");
                }
            }
        }
    }

    /// `rm file...` (on the storage).
    pub fn rm(&mut self, args: &[&str], out: &mut dyn Write) {
        if args.is_empty() {
            let _ = writeln!(out, "rm: missing operand");
        }
        for f in args {
            let p = absolute(f);
            let r = self
                .writable(&p)
                .and_then(|s| s.remove(self.disks, &p).map_err(|e| e.to_string()));
            if let Err(e) = r {
                let _ = writeln!(out, "rm: {e}");
            }
        }
    }

    /// `write FILE [TEXT...]`: FILE (on the storage) holds the words and a newline; `\n` in
    /// the text is a line break (a config of several lines in one command).
    pub fn write(&mut self, args: &[&str], out: &mut dyn Write) {
        let Some((f, words)) = args.split_first() else {
            let _ = writeln!(out, "usage: write FILE [TEXT...]");
            return;
        };
        let mut text = words.join(" ").replace("\\n", "\n");
        text.push('\n');
        let p = absolute(f);
        let r = self.writable(&p).and_then(|s| {
            s.write(self.disks, &p, text.as_bytes())
                .map_err(|e| e.to_string())
        });
        match r {
            Ok(()) => {
                let _ = writeln!(out, "write: {} bytes to {p}", text.len());
            }
            Err(e) => {
                let _ = writeln!(out, "write: {e}");
            }
        }
    }

    /// `cp SRC DST`: SRC from either tree, DST on the storage (a directory: SRC's name in
    /// it).
    pub fn cp(&mut self, args: &[&str], out: &mut dyn Write) {
        let [src, dst] = args else {
            let _ = writeln!(out, "usage: cp SRC DST");
            return;
        };
        let data = match self.read(src, MAX_COPY.max(self.initrd_size(src))) {
            Ok(d) => d,
            Err(e) => {
                let _ = writeln!(out, "cp: {e}");
                return;
            }
        };
        let mut p = absolute(dst);
        let into_dir = p.ends_with('/')
            || self.storage_for(&p).is_some_and(|s| {
                s.stat(self.disks, p.trim_end_matches('/'))
                    .is_ok_and(|e| e.dir)
            });
        if into_dir {
            let name = src.rsplit('/').next().unwrap_or(src);
            p = alloc::format!("{}/{name}", p.trim_end_matches('/'));
        }
        let r = self
            .writable(&p)
            .and_then(|s| s.write(self.disks, &p, &data).map_err(|e| e.to_string()));
        if let Err(e) = r {
            let _ = writeln!(out, "cp: {e}");
        }
    }
}

impl Files<'_, '_> {
    /// The size of `path` in the initrd (0 if it is not there).
    fn initrd_size(&self, path: &str) -> usize {
        self.initrd.get(&absolute(path)).map_or(0, <[u8]>::len)
    }
}

/// `data` as text (invalid UTF-8 as U+FFFD), ending in a newline.
pub fn print_text(data: &[u8], out: &mut dyn Write) {
    for chunk in data.utf8_chunks() {
        let _ = out.write_str(chunk.valid());
        if !chunk.invalid().is_empty() {
            let _ = out.write_char(char::REPLACEMENT_CHARACTER);
        }
    }
    if !data.is_empty() && !data.ends_with(b"\n") {
        let _ = out.write_char('\n');
    }
}
