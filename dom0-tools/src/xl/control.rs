//! Commands that change a running domain: `pause`, `unpause`, `shutdown`, `reboot`,
//! `rename` (memory: [`super::memory`]).

use super::args::{self, Opt};
use super::{Toolstack, XlResult, DOM0_NAME};
use crate::config::check_name;
use crate::hv::Hypervisor;
use alloc::format;
use alloc::string::String;
use core::fmt::Write;
use guest_abi::domctl::{DominfFlags, XenDomctl, XEN_DOMCTL_PAUSEDOMAIN, XEN_DOMCTL_UNPAUSEDOMAIN};
use guest_abi::errno::Errno;
use guest_abi::sched::ShutdownReason;
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

/// Options of `xl shutdown` / `xl reboot`.
const SHUTDOWN_OPTS: &[Opt] = &[Opt::flag('w', "wait")];

/// How long `-w` waits for a domain to shut down, when the hypervisor tells the time.
const WAIT_NS: u64 = 30_000_000_000;
/// How many checks `-w` makes when it cannot tell the time.
const WAIT_POLLS: u32 = 200_000;

impl<H: Hypervisor> Toolstack<'_, H> {
    /// `xl shutdown [-w] <Domain>` (`reboot` = true: `xl reboot [-w] <Domain>`).
    pub(super) fn shutdown(
        &mut self,
        argv: &[&str],
        reboot: bool,
        out: &mut dyn Write,
    ) -> XlResult {
        let cmd = if reboot { "reboot" } else { "shutdown" };
        let p = args::parse(argv, SHUTDOWN_OPTS).map_err(|e| format!("{cmd}: {e}"))?;
        let [dom] = p.positional[..] else {
            return Err(format!("{cmd}: wrong arguments"));
        };
        let (name, id) = self.resolve_domu(cmd, dom)?;
        let reason = if reboot {
            ShutdownReason::Reboot
        } else {
            ShutdownReason::Poweroff
        };
        self.hv
            .remote_shutdown(id, reason)
            .map_err(|e| format!("{cmd}: cannot shut down domain {} (\"{name}\"): {e}", id.0))?;
        if !p.has(SHUTDOWN_OPTS, "wait") {
            return Ok(());
        }
        let _ = writeln!(out, "Waiting for 1 domains");
        let t0 = self.hv.now_ns();
        let mut polls = 0u32;
        loop {
            match self.hv.domain_info(id) {
                Err(Errno::ESRCH) => break,
                Err(e) => return Err(format!("{cmd}: domain {}: getdomaininfo: {e}", id.0)),
                Ok(i) if i.dominf_flags().contains(DominfFlags::SHUTDOWN) => {
                    let _ = writeln!(
                        out,
                        "Domain {} has been shut down, reason code {}",
                        id.0,
                        i.shutdown_code()
                    );
                    // Apply the config's action now, so it is done when the command returns.
                    self.poll_lifecycle();
                    let _ = out.write_str(&self.take_notices());
                    break;
                }
                Ok(_) => {}
            }
            polls += 1;
            let late = match (t0, self.hv.now_ns()) {
                (Some(a), Some(b)) => b.saturating_sub(a) > WAIT_NS,
                _ => polls > WAIT_POLLS,
            };
            if late {
                return Err(format!(
                    "{cmd}: domain {} (\"{name}\") did not shut down within {} s",
                    id.0,
                    WAIT_NS / 1_000_000_000
                ));
            }
            self.hv.relax();
        }
        Ok(())
    }

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
