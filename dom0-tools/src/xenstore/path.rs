//! Xenstore paths: absolute (`/local/domain/1/name`), relative to the caller's home
//! (`name` = `/local/domain/<caller>/name`), or special (`@introduceDomain`).

use alloc::format;
use alloc::string::String;
use guest_abi::errno::Errno;
use guest_abi::io::xenstore::{XENSTORE_ABS_PATH_MAX, XENSTORE_REL_PATH_MAX};

/// Watch path fired when a domain is introduced.
pub const INTRODUCE_DOMAIN: &str = "@introduceDomain";
/// Watch path fired when a domain is released.
pub const RELEASE_DOMAIN: &str = "@releaseDomain";

/// The home directory of domain `domid`.
pub fn domain_path(domid: u16) -> String {
    format!("/local/domain/{domid}")
}

/// Whether `p` is one of the special watch paths.
pub fn is_special(p: &str) -> bool {
    p == INTRODUCE_DOMAIN || p == RELEASE_DOMAIN
}

/// Characters Xen allows in a path (besides `/`).
fn valid_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'-' | b'/' | b'_' | b'@' | b'.')
}

/// Resolves `p` as domain `domid` sent it: relative paths are under its home. Rejects empty
/// names, `//`, a trailing `/` (except the root), bad characters and over-long paths
/// (`EINVAL`).
pub fn canonical(domid: u16, p: &str) -> Result<String, Errno> {
    if p.is_empty() || !p.bytes().all(valid_char) {
        return Err(Errno::EINVAL);
    }
    let abs = if p.starts_with('/') {
        if p.len() > XENSTORE_ABS_PATH_MAX {
            return Err(Errno::EINVAL);
        }
        String::from(p)
    } else {
        if p.len() > XENSTORE_REL_PATH_MAX {
            return Err(Errno::EINVAL);
        }
        format!("{}/{p}", domain_path(domid))
    };
    if abs != "/" && (abs.ends_with('/') || abs.contains("//")) {
        return Err(Errno::EINVAL);
    }
    if abs.contains('@') {
        return Err(Errno::EINVAL);
    }
    Ok(abs)
}

/// Like [`canonical`], but also accepts the special watch paths.
pub fn canonical_watch(domid: u16, p: &str) -> Result<String, Errno> {
    if is_special(p) {
        Ok(String::from(p))
    } else {
        canonical(domid, p)
    }
}

/// The parent of an absolute path (`None` for `/`).
pub fn parent(p: &str) -> Option<&str> {
    if p == "/" {
        return None;
    }
    match p.rfind('/') {
        Some(0) => Some("/"),
        Some(i) => Some(&p[..i]),
        None => None,
    }
}

/// The last component of an absolute path.
pub fn base(p: &str) -> &str {
    p.rsplit('/').next().unwrap_or(p)
}

/// `parent` joined with child name `name`.
pub fn join(parent: &str, name: &str) -> String {
    if parent == "/" {
        format!("/{name}")
    } else {
        format!("{parent}/{name}")
    }
}

/// Whether `p` is `prefix` or below it.
pub fn is_at_or_below(p: &str, prefix: &str) -> bool {
    prefix == "/"
        || p == prefix
        || (p.starts_with(prefix) && p.as_bytes().get(prefix.len()) == Some(&b'/'))
}
