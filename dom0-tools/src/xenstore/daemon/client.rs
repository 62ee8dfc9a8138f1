//! dom0's own tools' calls: a request answered at once, and one convenience per common
//! operation, taking and returning plain values instead of wire payloads.

use super::Xenstored;
use crate::xenstore::perms::Perms;
use crate::xenstore::wire::{self, nul_joined, Msg};
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use guest_abi::errno::Errno;
use guest_abi::io::xenstore::XsType;

impl Xenstored {
    /// dom0's tools: one request, answered at once (payload or errno).
    pub fn request(
        &mut self,
        dom: u16,
        ty: XsType,
        tx: u32,
        payload: Vec<u8>,
    ) -> Result<Vec<u8>, Errno> {
        let m = Msg::new(ty, 0, tx, payload);
        let r = self.handle(dom, &m);
        if r.ty == XsType::Error as u32 {
            let name = wire::error_name(&r.payload);
            return Err(Errno::from_name(&name).unwrap_or(Errno::EIO));
        }
        Ok(r.payload)
    }

    /// Convenience: read `p` as `dom`.
    pub fn read(&mut self, dom: u16, p: &str) -> Result<Vec<u8>, Errno> {
        self.request(dom, XsType::Read, 0, nul_joined(&[p]))
    }

    /// Convenience: write `p` = `v` as `dom`.
    pub fn write(&mut self, dom: u16, p: &str, v: &[u8]) -> Result<(), Errno> {
        let mut payload = nul_joined(&[p]);
        payload.extend_from_slice(v);
        self.request(dom, XsType::Write, 0, payload).map(drop)
    }

    /// Convenience: remove `p` as `dom`.
    pub fn rm(&mut self, dom: u16, p: &str) -> Result<(), Errno> {
        self.request(dom, XsType::Rm, 0, nul_joined(&[p])).map(drop)
    }

    /// Convenience: list `p` as `dom`; a directory too big for one reply is listed in
    /// parts (`XS_DIRECTORY_PART`), as libxenstore does.
    pub fn directory(&mut self, dom: u16, p: &str) -> Result<Vec<String>, Errno> {
        match self.request(dom, XsType::Directory, 0, nul_joined(&[p])) {
            Ok(r) => Ok(split_list(&r)),
            Err(Errno::E2BIG) => self.directory_parts(dom, p),
            Err(e) => Err(e),
        }
    }

    fn directory_parts(&mut self, dom: u16, p: &str) -> Result<Vec<String>, Errno> {
        'again: loop {
            let mut names = Vec::new();
            let mut off = 0usize;
            let mut gen = None;
            loop {
                let r = self.request(
                    dom,
                    XsType::DirectoryPart,
                    0,
                    nul_joined(&[p, &format!("{off}")]),
                )?;
                let mut items = r.split(|&b| b == 0);
                let g = items.next().unwrap_or_default().to_vec();
                if gen.get_or_insert_with(|| g.clone()) != &g {
                    continue 'again;
                }
                let body = r.get(g.len() + 1..).unwrap_or_default();
                // The last part ends with an empty name (one more NUL).
                let done = body == [0] || body.ends_with(&[0, 0]);
                for s in body.split(|&b| b == 0).filter(|s| !s.is_empty()) {
                    off += s.len() + 1;
                    names.push(String::from_utf8_lossy(s).into_owned());
                }
                if done || body.is_empty() {
                    return Ok(names);
                }
            }
        }
    }

    /// Convenience: permissions of `p` as `dom`.
    pub fn get_perms(&mut self, dom: u16, p: &str) -> Result<Perms, Errno> {
        let r = self.request(dom, XsType::GetPerms, 0, nul_joined(&[p]))?;
        Perms::parse(split_list(&r).iter().map(String::as_str))
    }

    /// Convenience: set permissions of `p` as `dom`.
    pub fn set_perms(&mut self, dom: u16, p: &str, perms: &Perms) -> Result<(), Errno> {
        let mut items = alloc::vec![String::from(p)];
        items.extend(perms.texts());
        self.request(dom, XsType::SetPerms, 0, nul_joined(&items))
            .map(drop)
    }

    /// Convenience: watch `p` with `token` as `dom`.
    pub fn watch(&mut self, dom: u16, p: &str, token: &str) -> Result<(), Errno> {
        self.request(dom, XsType::Watch, 0, nul_joined(&[p, token]))
            .map(drop)
    }

    /// `XS_INTRODUCE` on behalf of the toolstack.
    pub fn introduce(&mut self, domid: u16, mfn: u64, port: u32) -> Result<(), Errno> {
        let payload = nul_joined(&[format!("{domid}"), format!("{mfn}"), format!("{port}")]);
        self.request(0, XsType::Introduce, 0, payload).map(drop)
    }

    /// `XS_RELEASE` on behalf of the toolstack.
    pub fn release(&mut self, domid: u16) -> Result<(), Errno> {
        self.request(0, XsType::Release, 0, nul_joined(&[format!("{domid}")]))
            .map(drop)
    }
}

/// Splits a `a\0b\0` reply.
pub fn split_list(r: &[u8]) -> Vec<String> {
    let body = r.strip_suffix(&[0]).unwrap_or(r);
    if body.is_empty() {
        return Vec::new();
    }
    body.split(|&b| b == 0)
        .map(|s| String::from_utf8_lossy(s).into_owned())
        .collect()
}
