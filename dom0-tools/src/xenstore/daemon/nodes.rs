//! Operations on nodes: `XS_READ`, `XS_DIRECTORY`, `XS_DIRECTORY_PART` and `XS_GET_PERMS`
//! read them, `XS_WRITE`, `XS_MKDIR`, `XS_RM` and `XS_SET_PERMS` change them, in the live
//! tree or in a transaction.

use super::dispatch::{ok, two};
use super::Xenstored;
use crate::xenstore::perms::Perms;
use crate::xenstore::store::{plan_mkdir, plan_rm, plan_set_perms, plan_write, readable, Node};
use crate::xenstore::wire;
use alloc::format;
use alloc::vec::Vec;
use guest_abi::errno::Errno;
use guest_abi::io::xenstore::XENSTORE_PAYLOAD_MAX;

impl Xenstored {
    /// `XS_READ`.
    pub(super) fn xs_read(&mut self, dom: u16, tx: u32, p: &[u8]) -> Result<Vec<u8>, Errno> {
        let path = self.path(dom, wire::one_string(p)?)?;
        self.view_op(dom, tx, |v| {
            let n = readable(v, dom, &path)?;
            if n.value.len() > XENSTORE_PAYLOAD_MAX {
                return Err(Errno::E2BIG);
            }
            try_copy(&n.value)
        })
    }

    /// `XS_DIRECTORY`.
    pub(super) fn xs_directory(&mut self, dom: u16, tx: u32, p: &[u8]) -> Result<Vec<u8>, Errno> {
        let path = self.path(dom, wire::one_string(p)?)?;
        self.view_op(dom, tx, |v| {
            let n = readable(v, dom, &path)?;
            if n.children_len() > XENSTORE_PAYLOAD_MAX {
                return Err(Errno::E2BIG);
            }
            joined(n.children.iter(), n.children_len())
        })
    }

    /// `XS_DIRECTORY_PART`.
    pub(super) fn xs_directory_part(
        &mut self,
        dom: u16,
        tx: u32,
        p: &[u8],
    ) -> Result<Vec<u8>, Errno> {
        let (path, off) = two(p)?;
        let path = self.path(dom, path)?;
        let off: usize = wire::number(off)?;
        self.view_op(dom, tx, |v| {
            let n = readable(v, dom, &path)?;
            directory_part(n, off)
        })
    }

    /// `XS_GET_PERMS`.
    pub(super) fn xs_get_perms(&mut self, dom: u16, tx: u32, p: &[u8]) -> Result<Vec<u8>, Errno> {
        let path = self.path(dom, wire::one_string(p)?)?;
        self.view_op(dom, tx, |v| {
            let n = readable(v, dom, &path)?;
            let texts = n.perms.texts();
            joined(texts.iter(), texts.iter().map(|t| t.len() + 1).sum())
        })
    }

    /// `XS_WRITE`.
    pub(super) fn xs_write(&mut self, dom: u16, tx: u32, p: &[u8]) -> Result<Vec<u8>, Errno> {
        let q = self.quotas;
        let (path, value) = wire::path_and_value(p)?;
        let path = self.path(dom, path)?;
        if dom != 0 && value.len() > q.entry_size {
            return Err(Errno::ENOSPC);
        }
        let value = try_copy(value)?;
        self.mutate(dom, tx, |v| plan_write(v, dom, &path, value, &q))?;
        Ok(ok())
    }

    /// `XS_MKDIR`.
    pub(super) fn xs_mkdir(&mut self, dom: u16, tx: u32, p: &[u8]) -> Result<Vec<u8>, Errno> {
        let q = self.quotas;
        let path = self.path(dom, wire::one_string(p)?)?;
        self.mutate(dom, tx, |v| plan_mkdir(v, dom, &path, &q))?;
        Ok(ok())
    }

    /// `XS_RM`.
    pub(super) fn xs_rm(&mut self, dom: u16, tx: u32, p: &[u8]) -> Result<Vec<u8>, Errno> {
        let path = self.path(dom, wire::one_string(p)?)?;
        self.mutate(dom, tx, |v| plan_rm(v, dom, &path))?;
        Ok(ok())
    }

    /// `XS_SET_PERMS`.
    pub(super) fn xs_set_perms(&mut self, dom: u16, tx: u32, p: &[u8]) -> Result<Vec<u8>, Errno> {
        let q = self.quotas;
        let items = wire::strings(p)?;
        let (path, perms) = items.split_first().ok_or(Errno::EINVAL)?;
        if dom != 0 && perms.len() > q.perms {
            return Err(Errno::ENOSPC);
        }
        let path = self.path(dom, path)?;
        let perms = Perms::parse(perms.iter().copied())?;
        self.mutate(dom, tx, |v| plan_set_perms(v, dom, &path, perms, &q))?;
        Ok(ok())
    }
}

/// `v` copied, or `ENOMEM`.
fn try_copy(v: &[u8]) -> Result<Vec<u8>, Errno> {
    let mut out = Vec::new();
    out.try_reserve_exact(v.len()).map_err(|_| Errno::ENOMEM)?;
    out.extend_from_slice(v);
    Ok(out)
}

/// `a\0b\0...` of `len` bytes, or `ENOMEM`.
fn joined<'s, S: AsRef<str> + 's>(
    items: impl Iterator<Item = &'s S>,
    len: usize,
) -> Result<Vec<u8>, Errno> {
    let mut out = Vec::new();
    out.try_reserve_exact(len).map_err(|_| Errno::ENOMEM)?;
    for s in items {
        out.extend_from_slice(s.as_ref().as_bytes());
        out.push(0);
    }
    Ok(out)
}

/// `XS_DIRECTORY_PART` as Xen's xenstored answers it: the node's generation, then the
/// whole child names from byte `off` of its child list that fit in one payload; the list's
/// end is marked by an empty name.
fn directory_part(n: &Node, off: usize) -> Result<Vec<u8>, Errno> {
    let gen = format!("{}", n.gen);
    let maxlen = XENSTORE_PAYLOAD_MAX - gen.len() - 2;
    let mut out = Vec::new();
    out.try_reserve_exact(XENSTORE_PAYLOAD_MAX)
        .map_err(|_| Errno::ENOMEM)?;
    out.extend_from_slice(gen.as_bytes());
    out.push(0);
    let mut at = 0usize;
    let mut done = true;
    for c in &n.children {
        let len = c.len() + 1;
        if at >= off {
            if out.len() - gen.len() - 1 + len > maxlen {
                done = false;
                break;
            }
            out.extend_from_slice(c.as_bytes());
            out.push(0);
        }
        at += len;
    }
    if done {
        out.push(0);
    }
    Ok(out)
}
