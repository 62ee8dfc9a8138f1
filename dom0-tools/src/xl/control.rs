//! Commands that change a running domain: `pause`, `unpause`, `resume`, `rename` (shutting down:
//! [`super::shutdown`]; memory: [`super::memory`]).

use super::{Toolstack, XlResult, DOM0_NAME};
use crate::config::check_name;
use crate::hv::Hypervisor;
use alloc::format;
use alloc::string::String;
use core::fmt::Write;
use guest_abi::domctl::{XenDomctl, XEN_DOMCTL_PAUSEDOMAIN, XEN_DOMCTL_UNPAUSEDOMAIN};
use guest_abi::errno::Errno;
use guest_abi::types::DomId;

impl<H: Hypervisor> Toolstack<'_, H> {
    /// A domain other than Domain-0, by name or id, for command `cmd`.
    pub(super) fn resolve_domu(&mut self, cmd: &str, dom: &str) -> Result<(String, DomId), String> {
        let (name, id) = self.resolve(dom).map_err(|e| format!("{cmd}: {e}"))?;
        if id.0 == 0 {
            return Err(format!("{cmd}: not permitted on Domain-0 (domain 0)"));
        }
        Ok((name, id))
    }

    /// `xl pause <Domain>` / `xl unpause <Domain>`.
    pub(super) fn pause(&mut self, dom: &str, pause: bool, _out: &mut dyn Write) -> XlResult {
        let cmd = if pause { "pause" } else { "unpause" };
        let (name, id) = self.resolve_domu(cmd, dom)?;
        let nr = if pause {
            XEN_DOMCTL_PAUSEDOMAIN
        } else {
            XEN_DOMCTL_UNPAUSEDOMAIN
        };
        let mut op = XenDomctl::new(nr, id);
        self.hv.domctl(&mut op).map_err(|e| match e {
            Errno::EINVAL if !pause => {
                format!("unpause: domain {} (\"{name}\") is not paused", id.0)
            }
            e => format!("{cmd}: domain {} (\"{name}\"): {e}", id.0),
        })
    }
}

impl<H: Hypervisor> Toolstack<'_, H> {
    /// `xl resume <Domain>`: a domain that suspended itself runs on in place, its suspend
    /// call returning 1 (a cancelled suspend); its next shutdown is acted on again.
    pub(super) fn resume(&mut self, dom: &str, _out: &mut dyn Write) -> XlResult {
        let (name, id) = self.resolve_domu("resume", dom)?;
        self.hv.resume_domain(id, true).map_err(|e| match e {
            Errno::EINVAL => format!("resume: domain {} (\"{name}\") is not suspended", id.0),
            e => format!("resume: domain {} (\"{name}\"): {e}", id.0),
        })?;
        if let Some(r) = self.records.iter_mut().find(|r| r.id == id) {
            r.handled = false;
        }
        Ok(())
    }
}

impl<H: Hypervisor> Toolstack<'_, H> {
    /// `xl rename <Domain> <NewName>`.
    pub(super) fn rename(&mut self, dom: &str, new: &str, _out: &mut dyn Write) -> XlResult {
        let (name, id) = self.resolve_domu("rename", dom)?;
        check_name(new).map_err(|e| format!("rename: invalid name: {e}"))?;
        if new == DOM0_NAME {
            return Err(format!("rename: name \"{new}\" is in use by domain 0"));
        }
        if let Some(r) = self.records.iter().find(|r| r.name == new && r.id != id) {
            return Err(format!(
                "rename: name \"{new}\" is in use by domain {}",
                r.id.0
            ));
        }
        let Some(r) = self.records.iter_mut().find(|r| r.id == id) else {
            return Err(format!(
                "rename: domain {} was not created by this toolstack (it has no name to change)",
                id.0
            ));
        };
        let _ = name;
        r.name = String::from(new);
        r.config.name = String::from(new);
        Ok(())
    }
}
