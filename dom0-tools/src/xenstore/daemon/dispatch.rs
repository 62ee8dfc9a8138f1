//! Request dispatch: the checks every request passes, then one handler per `XS_*` type;
//! and the payload helpers the handlers share.

use super::domains::xs_get_domain_path;
use super::limits::{check_path_len, REQUEST_HEADROOM};
use super::Xenstored;
use crate::xenstore::path::canonical;
use crate::xenstore::wire::{self, nul_joined, Msg};
use alloc::string::String;
use alloc::vec::Vec;
use guest_abi::errno::Errno;
use guest_abi::io::xenstore::XsType;

impl Xenstored {
    /// Canonical path `s` as `dom` sent it; an unprivileged domain's paths are limited to
    /// `path_len` bytes below its home (or absolute elsewhere), `EINVAL` beyond, as Xen.
    pub(super) fn path(&self, dom: u16, s: &str) -> Result<String, Errno> {
        let p = canonical(dom, s)?;
        check_path_len(dom, &p, &self.quotas)?;
        Ok(p)
    }

    /// Request `m` from domain `dom`: its type and reply payload, or the error to send.
    pub(super) fn op(&mut self, dom: u16, m: &Msg) -> Result<(XsType, Vec<u8>), Errno> {
        let ty = XsType::from_u32(m.ty).ok_or(Errno::EINVAL)?;
        if !self.conns.contains_key(&dom) {
            return Err(Errno::EACCES);
        }
        if self.heap_free.is_some_and(|free| free() < REQUEST_HEADROOM) {
            return Err(Errno::ENOMEM);
        }
        let (tx, p) = (m.tx_id, &m.payload[..]);
        let reply = match ty {
            XsType::Read => self.xs_read(dom, tx, p)?,
            XsType::Directory => self.xs_directory(dom, tx, p)?,
            XsType::DirectoryPart => self.xs_directory_part(dom, tx, p)?,
            XsType::GetPerms => self.xs_get_perms(dom, tx, p)?,
            XsType::Write => self.xs_write(dom, tx, p)?,
            XsType::Mkdir => self.xs_mkdir(dom, tx, p)?,
            XsType::Rm => self.xs_rm(dom, tx, p)?,
            XsType::SetPerms => self.xs_set_perms(dom, tx, p)?,
            XsType::Watch => self.xs_watch(dom, p)?,
            XsType::Unwatch => self.xs_unwatch(dom, p)?,
            XsType::ResetWatches => self.xs_reset_watches(dom),
            XsType::TransactionStart => self.xs_transaction_start(dom)?,
            XsType::TransactionEnd => self.xs_transaction_end(dom, tx, p)?,
            XsType::GetDomainPath => xs_get_domain_path(p)?,
            XsType::IsDomainIntroduced => self.xs_is_domain_introduced(dom, p)?,
            XsType::Introduce => self.xs_introduce(dom, p)?,
            XsType::Release => self.xs_release(dom, p)?,
            XsType::Resume => self.xs_resume(dom, p)?,
            XsType::Control
            | XsType::SetTarget
            | XsType::WatchEvent
            | XsType::Error
            | XsType::Invalid => return Err(Errno::ENOSYS),
        };
        Ok((ty, reply))
    }
}

/// The reply payload of a request that succeeded with nothing to return.
pub(super) fn ok() -> Vec<u8> {
    nul_joined(&["OK"])
}

/// `EACCES` unless `dom` is dom0.
pub(super) fn privileged(dom: u16) -> Result<(), Errno> {
    if dom == 0 {
        Ok(())
    } else {
        Err(Errno::EACCES)
    }
}

/// A payload of exactly two strings.
pub(super) fn two(p: &[u8]) -> Result<(&str, &str), Errno> {
    match wire::strings(p)?.as_slice() {
        [a, b] => Ok((a, b)),
        _ => Err(Errno::EINVAL),
    }
}
