//! Domains: `XS_GET_DOMAIN_PATH`, and the toolstack's `XS_IS_DOMAIN_INTRODUCED`,
//! `XS_INTRODUCE`, `XS_RELEASE` and `XS_RESUME`, which open and close connections.

use super::conn::{Conn, RingInfo};
use super::dispatch::{ok, privileged};
use super::Xenstored;
use crate::xenstore::path::{self, domain_path};
use crate::xenstore::wire::{self, nul_joined};
use alloc::vec::Vec;
use guest_abi::errno::Errno;

/// `XS_GET_DOMAIN_PATH`.
pub(super) fn xs_get_domain_path(p: &[u8]) -> Result<Vec<u8>, Errno> {
    let d: u16 = wire::number(wire::one_string(p)?)?;
    Ok(nul_joined(&[domain_path(d)]))
}

impl Xenstored {
    /// `XS_IS_DOMAIN_INTRODUCED` (dom0 only).
    pub(super) fn xs_is_domain_introduced(&self, dom: u16, p: &[u8]) -> Result<Vec<u8>, Errno> {
        privileged(dom)?;
        let d: u16 = wire::number(wire::one_string(p)?)?;
        Ok(nul_joined(&[if self.conns.contains_key(&d) {
            "T"
        } else {
            "F"
        }]))
    }

    /// `XS_INTRODUCE` (dom0 only): connects domain `d` through its ring page and event
    /// channel.
    pub(super) fn xs_introduce(&mut self, dom: u16, p: &[u8]) -> Result<Vec<u8>, Errno> {
        privileged(dom)?;
        let items = wire::strings(p)?;
        let [d, mfn, port] = items.as_slice() else {
            return Err(Errno::EINVAL);
        };
        let d: u16 = wire::number(d)?;
        let ring = RingInfo {
            mfn: wire::number(mfn)?,
            port: wire::number(port)?,
        };
        if d == 0 {
            return Err(Errno::EINVAL);
        }
        if let Some(c) = self.conns.get(&d) {
            // Introducing again with the same ring is harmless, as in Xen.
            return if c.ring == Some(ring) {
                Ok(ok())
            } else {
                Err(Errno::EEXIST)
            };
        }
        self.conns.insert(
            d,
            Conn {
                ring: Some(ring),
                ..Conn::default()
            },
        );
        self.fire_special(path::INTRODUCE_DOMAIN);
        Ok(ok())
    }

    /// `XS_RELEASE` (dom0 only): disconnects domain `d`.
    pub(super) fn xs_release(&mut self, dom: u16, p: &[u8]) -> Result<Vec<u8>, Errno> {
        privileged(dom)?;
        let d: u16 = wire::number(wire::one_string(p)?)?;
        if d == 0 {
            return Err(Errno::EINVAL);
        }
        self.conns.remove(&d).ok_or(Errno::ENOENT)?;
        self.fire_special(path::RELEASE_DOMAIN);
        Ok(ok())
    }

    /// `XS_RESUME` (dom0 only).
    pub(super) fn xs_resume(&mut self, dom: u16, p: &[u8]) -> Result<Vec<u8>, Errno> {
        privileged(dom)?;
        let d: u16 = wire::number(wire::one_string(p)?)?;
        self.conns.get(&d).ok_or(Errno::ENOENT)?;
        Ok(ok())
    }
}
