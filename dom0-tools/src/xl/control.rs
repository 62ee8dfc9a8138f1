//! Commands that change a running domain: `pause`, `unpause`.

use super::{Toolstack, XlResult};
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
