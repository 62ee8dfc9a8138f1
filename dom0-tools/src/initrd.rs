//! Read-only access to dom0's initrd, a cpio "newc" archive (`070701`/`070702` magic).
//!
//! The parser is our own (about a hundred lines, alloc-free, bounds-checked everywhere) rather
//! than a crate: the format is tiny, we need it in `no_std` without allocation, and we want
//! every malformed archive to be an error, never a panic.
//!
//! Layout of one entry: a 110-byte ASCII header (6-byte magic, then 13 fields of 8 hex digits:
//! ino, mode, uid, gid, nlink, mtime, filesize, devmajor, devminor, rdevmajor, rdevminor,
//! namesize, check), the NUL-terminated name, padding to 4 bytes, the data, padding to 4.
//! The archive ends with an entry named `TRAILER!!!`.

use core::fmt;

const HEADER_LEN: usize = 110;
const TRAILER: &str = "TRAILER!!!";
/// File type bits of `mode`.
const S_IFMT: u32 = 0o170000;
const S_IFREG: u32 = 0o100000;
const S_IFDIR: u32 = 0o040000;
const S_IFLNK: u32 = 0o120000;
const S_IFCHR: u32 = 0o020000;

/// Why an initrd could not be parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InitrdError {
    /// An entry header does not start with `070701` or `070702`.
    BadMagic { offset: usize },
    /// A header field is not 8 hex digits.
    BadField { offset: usize },
    /// A header, name or file body runs past the end of the archive.
    Truncated { offset: usize },
    /// A name is empty, not NUL-terminated or not UTF-8.
    BadName { offset: usize },
    /// No `TRAILER!!!` entry.
    NoTrailer,
}

impl fmt::Display for InitrdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::BadMagic { offset } => {
                write!(f, "not a cpio newc archive (bad magic at byte {offset})")
            }
            Self::BadField { offset } => write!(f, "bad cpio header field at byte {offset}"),
            Self::Truncated { offset } => write!(f, "cpio entry at byte {offset} is truncated"),
            Self::BadName { offset } => write!(f, "bad file name in cpio entry at byte {offset}"),
            Self::NoTrailer => f.write_str("cpio archive has no TRAILER!!! entry"),
        }
    }
}

/// One archive member.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry<'a> {
    /// The name as stored (usually without a leading `/`, e.g. `etc/xen/domu.cfg`).
    pub name: &'a str,
    /// The mode, file type bits included.
    pub mode: u32,
    /// The contents (empty for directories and devices; a symlink's target).
    pub data: &'a [u8],
    /// A device node's major and minor number (0, 0 for everything else).
    pub rdev: (u32, u32),
}

impl Entry<'_> {
    /// Is this a regular file?
    pub fn is_file(&self) -> bool {
        self.mode & S_IFMT == S_IFREG
    }
    /// Is this a directory?
    pub fn is_dir(&self) -> bool {
        self.mode & S_IFMT == S_IFDIR
    }
    /// Is this a symbolic link (its target is `data`)?
    pub fn is_symlink(&self) -> bool {
        self.mode & S_IFMT == S_IFLNK
    }
    /// Is this a character device node?
    pub fn is_char_device(&self) -> bool {
        self.mode & S_IFMT == S_IFCHR
    }
}

/// A validated newc archive borrowed from memory.
#[derive(Debug, Clone, Copy)]
pub struct Initrd<'a> {
    data: &'a [u8],
}

impl<'a> Initrd<'a> {
    /// Validates the whole archive (every header, name and body in bounds, a trailer present).
    pub fn parse(data: &'a [u8]) -> Result<Self, InitrdError> {
        let mut off = 0;
        loop {
            match parse_entry(data, off)? {
                (None, _) => return Ok(Self { data }),
                (Some(_), next) => off = next,
            }
        }
    }

    /// An archive with no files (what dom0 sees when it was booted without an initrd).
    pub const fn empty() -> Initrd<'static> {
        Initrd { data: &[] }
    }

    /// The archive bytes.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.data
    }

    /// All members in archive order (the trailer excluded).
    pub fn files(&self) -> Files<'a> {
        Files {
            data: self.data,
            off: 0,
        }
    }

    /// The member named `path`; `/etc/x`, `etc/x` and `./etc/x` all name the same member.
    pub fn get_entry(&self, path: &str) -> Option<Entry<'a>> {
        let want = normalize(path);
        self.files().find(|e| normalize(e.name) == want)
    }

    /// The contents of the regular file at `path`.
    pub fn get(&self, path: &str) -> Option<&'a [u8]> {
        self.get_entry(path).filter(Entry::is_file).map(|e| e.data)
    }
}

/// Strips leading `/` and `./` so archive names and absolute paths compare equal.
fn normalize(mut path: &str) -> &str {
    loop {
        if let Some(rest) = path.strip_prefix('/') {
            path = rest;
        } else if let Some(rest) = path.strip_prefix("./") {
            path = rest;
        } else {
            return path;
        }
    }
}

/// Iterator over the members of an [`Initrd`].
#[derive(Debug, Clone)]
pub struct Files<'a> {
    data: &'a [u8],
    off: usize,
}

impl<'a> Iterator for Files<'a> {
    type Item = Entry<'a>;
    fn next(&mut self) -> Option<Entry<'a>> {
        // The archive was validated by `Initrd::parse`, so errors cannot happen here; if they
        // did, ending the iteration is the safe answer.
        match parse_entry(self.data, self.off) {
            Ok((Some(e), next)) => {
                self.off = next;
                Some(e)
            }
            _ => None,
        }
    }
}

fn align4(x: usize) -> Option<usize> {
    x.checked_add(3).map(|v| v & !3)
}

fn hex_field(data: &[u8], at: usize, entry: usize) -> Result<u32, InitrdError> {
    let bad = InitrdError::BadField { offset: entry };
    let field = data.get(at..at + 8).ok_or(bad)?;
    let mut v: u32 = 0;
    for &c in field {
        let d = (c as char).to_digit(16).ok_or(bad)?;
        v = (v << 4) | d;
    }
    Ok(v)
}

/// Parses the entry at `off`: `(None, _)` for the trailer, else the entry and the next offset.
fn parse_entry(data: &[u8], off: usize) -> Result<(Option<Entry<'_>>, usize), InitrdError> {
    let trunc = InitrdError::Truncated { offset: off };
    if off >= data.len() {
        return Err(InitrdError::NoTrailer);
    }
    let header = data.get(off..off + HEADER_LEN).ok_or(trunc)?;
    if &header[..6] != b"070701" && &header[..6] != b"070702" {
        return Err(InitrdError::BadMagic { offset: off });
    }
    let mut fields = [0u32; 13];
    for (i, f) in fields.iter_mut().enumerate() {
        *f = hex_field(data, off + 6 + i * 8, off)?;
    }
    let mode = fields[1];
    let rdev = (fields[9], fields[10]);
    let filesize = fields[6] as usize;
    let namesize = fields[11] as usize;
    let name_start = off + HEADER_LEN;
    let name_end = name_start.checked_add(namesize).ok_or(trunc)?;
    let name_bytes = data.get(name_start..name_end).ok_or(trunc)?;
    let bad_name = InitrdError::BadName { offset: off };
    let (&nul, name) = name_bytes.split_last().ok_or(bad_name)?;
    if nul != 0 || name.is_empty() || name.contains(&0) {
        return Err(bad_name);
    }
    let name = core::str::from_utf8(name).map_err(|_| bad_name)?;
    let data_start = align4(name_end).ok_or(trunc)?;
    let data_end = data_start.checked_add(filesize).ok_or(trunc)?;
    let body = data.get(data_start..data_end).ok_or(trunc)?;
    if name == TRAILER {
        return Ok((None, data.len()));
    }
    // The final padding may be missing after the last member; `parse_entry` then reports the
    // missing trailer.
    let next = align4(data_end).ok_or(trunc)?;
    Ok((
        Some(Entry {
            name,
            mode,
            data: body,
            rdev,
        }),
        next,
    ))
}

/// Packs `files` (path, contents) into a newc archive: regular files, mode 0644, the parent
/// directories created as needed (mode 0755), names stored without a leading `/`.
pub fn write_newc(files: &[(&str, &[u8])]) -> alloc::vec::Vec<u8> {
    let members: alloc::vec::Vec<Member<'_>> = files
        .iter()
        .map(|&(path, data)| Member::File {
            path,
            mode: 0o644,
            data,
        })
        .collect();
    write_members(&members)
}

/// One member for [`write_members`]; `mode` is the permission bits only (e.g. `0o755`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Member<'a> {
    /// A regular file.
    File {
        path: &'a str,
        mode: u32,
        data: &'a [u8],
    },
    /// A directory.
    Dir { path: &'a str, mode: u32 },
    /// A symbolic link to `target`.
    Symlink { path: &'a str, target: &'a str },
    /// A character device node.
    CharDevice {
        path: &'a str,
        mode: u32,
        major: u32,
        minor: u32,
    },
}

impl Member<'_> {
    fn path(&self) -> &str {
        match *self {
            Self::File { path, .. }
            | Self::Dir { path, .. }
            | Self::Symlink { path, .. }
            | Self::CharDevice { path, .. } => path,
        }
    }
}

/// Packs `members` into a newc archive in order, owned by root: parent directories not
/// listed before their contents are created (mode 0755), each directory once, names stored
/// without a leading `/`. What Linux unpacks as an initramfs.
pub fn write_members(members: &[Member<'_>]) -> alloc::vec::Vec<u8> {
    use alloc::string::String;
    use alloc::vec::Vec;
    let mut out = Vec::new();
    let mut dirs: Vec<String> = Vec::new();
    let mut ino = 1u32;
    for member in members {
        let path = normalize(member.path());
        // Parent directories first, each once.
        let mut from = 0;
        while let Some(i) = path[from..].find('/') {
            let dir = &path[..from + i];
            if !dir.is_empty() && !dirs.iter().any(|d| d == dir) {
                dirs.push(String::from(dir));
                push_entry(&mut out, ino, S_IFDIR | 0o755, 2, dir, &[], (0, 0));
                ino += 1;
            }
            from += i + 1;
        }
        let perm = |mode: u32| mode & 0o7777;
        match *member {
            Member::File { mode, data, .. } => {
                push_entry(&mut out, ino, S_IFREG | perm(mode), 1, path, data, (0, 0));
            }
            Member::Dir { mode, .. } => {
                let dir = path.trim_end_matches('/');
                if dir.is_empty() || dirs.iter().any(|d| d == dir) {
                    continue;
                }
                dirs.push(String::from(dir));
                push_entry(&mut out, ino, S_IFDIR | perm(mode), 2, dir, &[], (0, 0));
            }
            Member::Symlink { target, .. } => {
                let data = target.as_bytes();
                push_entry(&mut out, ino, S_IFLNK | 0o777, 1, path, data, (0, 0));
            }
            Member::CharDevice {
                mode, major, minor, ..
            } => {
                let rdev = (major, minor);
                push_entry(&mut out, ino, S_IFCHR | perm(mode), 1, path, &[], rdev);
            }
        }
        ino += 1;
    }
    push_entry(&mut out, 0, 0, 1, TRAILER, &[], (0, 0));
    out
}

fn push_entry(
    out: &mut alloc::vec::Vec<u8>,
    ino: u32,
    mode: u32,
    nlink: u32,
    name: &str,
    data: &[u8],
    rdev: (u32, u32),
) {
    use core::fmt::Write;
    let mut header = alloc::string::String::new();
    let fields = [
        ino,
        mode,
        0,
        0,
        nlink,
        0,
        data.len() as u32,
        0,
        0,
        rdev.0,
        rdev.1,
        name.len() as u32 + 1,
        0,
    ];
    header.push_str("070701");
    for f in fields {
        // Writing to a String cannot fail.
        let _ = write!(header, "{f:08x}");
    }
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(name.as_bytes());
    out.push(0);
    while !out.len().is_multiple_of(4) {
        out.push(0);
    }
    out.extend_from_slice(data);
    while !out.len().is_multiple_of(4) {
        out.push(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    fn sample() -> Vec<u8> {
        write_newc(&[
            ("/etc/xen/domu.cfg", b"name = \"domu\"\n"),
            ("boot/pv-guest", b"\x7fELF..."),
            ("/etc/xen/empty.cfg", b""),
        ])
    }

    #[test]
    fn roundtrip_and_lookup() {
        let bytes = sample();
        let rd = Initrd::parse(&bytes).unwrap();
        assert_eq!(rd.get("/etc/xen/domu.cfg"), Some(&b"name = \"domu\"\n"[..]));
        assert_eq!(rd.get("etc/xen/domu.cfg"), Some(&b"name = \"domu\"\n"[..]));
        assert_eq!(rd.get("./boot/pv-guest"), Some(&b"\x7fELF..."[..]));
        assert_eq!(rd.get("/etc/xen/empty.cfg"), Some(&b""[..]));
        assert_eq!(rd.get("/etc/xen"), None, "directories are not files");
        assert!(rd.get_entry("/etc/xen").unwrap().is_dir());
        assert_eq!(rd.get("/nope"), None);
        let files: Vec<_> = rd.files().filter(|e| e.is_file()).map(|e| e.name).collect();
        assert_eq!(
            files,
            ["etc/xen/domu.cfg", "boot/pv-guest", "etc/xen/empty.cfg"]
        );
        let dirs: Vec<_> = rd.files().filter(|e| e.is_dir()).map(|e| e.name).collect();
        assert_eq!(dirs, ["etc", "etc/xen", "boot"]);
    }

    #[test]
    fn members_of_every_kind() {
        let bytes = write_members(&[
            Member::Dir {
                path: "/dev",
                mode: 0o755,
            },
            Member::CharDevice {
                path: "/dev/console",
                mode: 0o600,
                major: 5,
                minor: 1,
            },
            Member::File {
                path: "/init",
                mode: 0o755,
                data: b"#!/bin/sh\n",
            },
            Member::File {
                path: "/bin/busybox",
                mode: 0o100_755,
                data: b"\x7fELF",
            },
            Member::Symlink {
                path: "/bin/sh",
                target: "busybox",
            },
            Member::Dir {
                path: "bin/",
                mode: 0o700,
            },
            Member::Dir {
                path: "/tmp",
                mode: 0o1777,
            },
        ]);
        let rd = Initrd::parse(&bytes).unwrap();
        let names: Vec<_> = rd.files().map(|e| e.name).collect();
        assert_eq!(
            names,
            [
                "dev",
                "dev/console",
                "init",
                "bin",
                "bin/busybox",
                "bin/sh",
                "tmp"
            ],
            "parents once, before their contents; a directory listed again is skipped"
        );
        let console = rd.get_entry("/dev/console").unwrap();
        assert!(console.is_char_device() && !console.is_file());
        assert_eq!((console.mode & 0o7777, console.rdev), (0o600, (5, 1)));
        let init = rd.get_entry("/init").unwrap();
        assert!(init.is_file());
        assert_eq!(init.mode, 0o100_755);
        assert_eq!(rd.get("/init"), Some(&b"#!/bin/sh\n"[..]));
        assert_eq!(rd.get_entry("/bin/busybox").unwrap().mode, 0o100_755);
        let sh = rd.get_entry("/bin/sh").unwrap();
        assert!(sh.is_symlink() && !sh.is_file());
        assert_eq!((sh.data, sh.mode & 0o777), (&b"busybox"[..], 0o777));
        assert_eq!(rd.get("/bin/sh"), None, "a symlink is not a regular file");
        assert_eq!(rd.get_entry("/bin").unwrap().mode, 0o040_755);
        assert_eq!(rd.get_entry("/tmp").unwrap().mode, 0o041_777);
        assert_eq!(rd.get_entry("/bin").unwrap().rdev, (0, 0));
    }

    #[test]
    fn empty_archive() {
        let bytes = write_newc(&[]);
        let rd = Initrd::parse(&bytes).unwrap();
        assert_eq!(rd.files().count(), 0);
        assert_eq!(Initrd::empty().files().count(), 0);
        assert_eq!(Initrd::parse(&[]).unwrap_err(), InitrdError::NoTrailer);
    }

    #[test]
    fn every_truncation_is_an_error() {
        let bytes = sample();
        for len in 0..bytes.len() {
            // Only the full archive (or one cut in the trailer's padding) may parse.
            if let Ok(rd) = Initrd::parse(&bytes[..len]) {
                assert!(len + 4 > bytes.len(), "truncated to {len} parsed");
                assert_eq!(rd.files().count(), 6);
            }
        }
    }

    #[test]
    fn corruption_is_an_error_not_a_panic() {
        let bytes = sample();
        for i in 0..bytes.len() {
            for v in [0u8, b'f', b'z', 0xff] {
                let mut b = bytes.clone();
                b[i] = v;
                if let Ok(rd) = Initrd::parse(&b) {
                    let _ = rd.files().count();
                    let _ = rd.get("/etc/xen/domu.cfg");
                }
            }
        }
    }

    #[test]
    fn errors_display() {
        let mut b = sample();
        b[0] = b'x';
        let e = Initrd::parse(&b).unwrap_err();
        assert_eq!(
            e.to_string(),
            "not a cpio newc archive (bad magic at byte 0)"
        );
        let mut b = sample();
        b[10] = b'g';
        assert_eq!(
            Initrd::parse(&b).unwrap_err(),
            InitrdError::BadField { offset: 0 }
        );
        // A huge filesize must not overflow.
        let mut b = sample();
        b[6 + 6 * 8..6 + 7 * 8].copy_from_slice(b"ffffffff");
        assert!(matches!(
            Initrd::parse(&b),
            Err(InitrdError::Truncated { .. })
        ));
    }
}
