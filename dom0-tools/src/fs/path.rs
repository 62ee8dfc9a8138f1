//! Paths on dom0's storage: absolute, under one of [`MOUNT_POINTS`], `/`-separated names
//! without `.` or `..`; the same path names the file on the volume (`/etc/xen/a.cfg` is
//! `\ETC\XEN\A.CFG` there).

use super::FsError;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

/// Where dom0's storage is seen; everything else is the initrd's.
pub const MOUNT_POINTS: [&str; 2] = ["/etc/xen", "/var/lib/xen"];
/// The longest path taken.
pub const MAX_PATH: usize = 255;
/// The longest name a file created by dom0 may have: FAT's short names, 8 characters, a
/// dot and 3 more.
pub const NAME_RULE: &str = "at most 8 characters, optionally a dot and at most 3 more";

/// Whether `path` is on dom0's storage (at or under a mount point).
pub fn on_storage(path: &str) -> bool {
    let p = path.trim_end_matches('/');
    MOUNT_POINTS
        .iter()
        .any(|m| p == *m || p.strip_prefix(m).is_some_and(|r| r.starts_with('/')))
}

/// The names of `path` from the volume's root (`/etc/xen/a.cfg`: `etc`, `xen`, `a.cfg`).
pub fn components(path: &str) -> Result<Vec<String>, FsError> {
    let bad = |why: &str| FsError::BadPath(path.to_string(), why.to_string());
    if path.len() > MAX_PATH {
        return Err(bad("longer than 255 bytes"));
    }
    if !path.starts_with('/') {
        return Err(bad("not absolute"));
    }
    let mut out = Vec::new();
    let names: Vec<&str> = path.split('/').filter(|c| !c.is_empty()).collect();
    if !on_storage(&alloc::format!("/{}", names.join("/"))) {
        return Err(FsError::NotOnStorage(path.to_string()));
    }
    for c in names {
        if c == "." || c == ".." {
            return Err(bad("`.` and `..` are not taken"));
        }
        if c.chars()
            .any(|ch| ch.is_control() || "\\:*?\"<>|".contains(ch))
        {
            return Err(bad("a name holds a character FAT does not take"));
        }
        out.push(c.to_string());
    }
    Ok(out)
}

/// Whether `name` fits a FAT short name (8.3, characters FAT takes in one): what dom0 can
/// create.
pub fn short_name_ok(name: &str) -> bool {
    let (base, ext) = match name.split_once('.') {
        Some((b, e)) => (b, Some(e)),
        None => (name, None),
    };
    let ok = |s: &str, max: usize| {
        !s.is_empty()
            && s.len() <= max
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "!#$%&'()-@^_`{}~".contains(c))
    };
    ok(base, 8) && ext.is_none_or(|e| ok(e, 3))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_paths_under_the_mount_points_are_on_storage() {
        assert!(on_storage("/etc/xen"));
        assert!(on_storage("/etc/xen/"));
        assert!(on_storage("/etc/xen/a.cfg"));
        assert!(on_storage("/var/lib/xen/save/x"));
        assert!(!on_storage("/etc/xenx"));
        assert!(!on_storage("/etc"));
        assert!(!on_storage("/boot/pv-guest"));
        assert!(!on_storage("etc/xen/a.cfg"));
    }

    #[test]
    fn components_refuse_relative_dot_and_foreign_paths() {
        assert_eq!(
            components("/etc//xen/a.cfg").unwrap(),
            ["etc", "xen", "a.cfg"]
        );
        assert!(matches!(components("etc/xen"), Err(FsError::BadPath(..))));
        assert!(matches!(
            components("/etc/xen/../x"),
            Err(FsError::BadPath(..))
        ));
        assert!(matches!(
            components("/etc/xen/a?b"),
            Err(FsError::BadPath(..))
        ));
        assert!(matches!(
            components("/boot/x"),
            Err(FsError::NotOnStorage(_))
        ));
        let long = alloc::format!("/etc/xen/{}", "a".repeat(300));
        assert!(matches!(components(&long), Err(FsError::BadPath(..))));
    }

    #[test]
    fn short_names_are_eight_dot_three() {
        assert!(short_name_ok("mine.cfg"));
        assert!(short_name_ok("ABCDEFGH.XYZ"));
        assert!(short_name_ok("d1-save"));
        assert!(!short_name_ok("abcdefghi.cfg"));
        assert!(!short_name_ok("a.cfgx"));
        assert!(!short_name_ok("a.b.c"));
        assert!(!short_name_ok(".cfg"));
        assert!(!short_name_ok("a b"));
        assert!(!short_name_ok(""));
    }
}
