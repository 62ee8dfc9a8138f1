//! `xl shutdown [-w] [-F] <Domain>` and `xl reboot [-w] [-F] <Domain>`, as Xen's xl does them:
//! the request ("poweroff" / "reboot") goes into the domain's XenStore node
//! `control/shutdown`; a PV guest watching it shuts itself down with that reason and clears
//! the node. A guest that neither clears the node nor shuts down within
//! [`ACK_WAIT_NS`] is reported; `-F` skips the request and has the hypervisor shut the domain
//! down from outside (`SCHEDOP_remote_shutdown`). `-w` then waits until the domain has shut
//! down and applies its config's action.

use super::args::{self, Opt};
use super::{Toolstack, XlResult};
use crate::hv::Hypervisor;
use crate::xenstore::path::domain_path;
use alloc::format;
use alloc::string::String;
use core::fmt::Write;
use guest_abi::domctl::DominfFlags;
use guest_abi::errno::Errno;
use guest_abi::io::control::{request_for, CONTROL_SHUTDOWN};
use guest_abi::sched::ShutdownReason;
use guest_abi::types::DomId;

/// Options of `xl shutdown` / `xl reboot`.
const SHUTDOWN_OPTS: &[Opt] = &[Opt::flag('w', "wait"), Opt::flag('F', "force")];

/// How long the guest has to act on the request (clear the node or shut down).
pub const ACK_WAIT_NS: u64 = 5_000_000_000;
/// How many checks that wait makes when the hypervisor does not tell the time.
const ACK_POLLS: u32 = 20_000;
/// How long `-w` waits for a domain to shut down, when the hypervisor tells the time.
const WAIT_NS: u64 = 30_000_000_000;
/// How many checks `-w` makes when it cannot tell the time.
const WAIT_POLLS: u32 = 200_000;
/// Every this many checks, all back-end rings are served (not only signalled ones).
const SERVE_ALL_EVERY: u32 = 64;

/// What a wait loop found.
enum Seen {
    /// The domain is gone.
    Gone,
    /// The domain has shut down, with this code.
    ShutDown(u32),
    /// Still running.
    Running,
}

impl<H: Hypervisor> Toolstack<'_, H> {
    /// `xl shutdown [-w] [-F] <Domain>` (`reboot` = true: `xl reboot [-w] [-F] <Domain>`).
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
        if p.has(SHUTDOWN_OPTS, "force") {
            self.hv.remote_shutdown(id, reason).map_err(|e| {
                format!("{cmd}: cannot shut down domain {} (\"{name}\"): {e}", id.0)
            })?;
        } else {
            self.request_shutdown(cmd, id, &name, reason, out)?;
        }
        if p.has(SHUTDOWN_OPTS, "wait") {
            self.wait_shut_down(cmd, id, &name, out)?;
        }
        Ok(())
    }

    /// Writes the request into `control/shutdown` and waits until the guest acts on it: it
    /// clears (or removes) the node, or shuts down, or is gone.
    pub(super) fn request_shutdown(
        &mut self,
        cmd: &str,
        id: DomId,
        name: &str,
        reason: ShutdownReason,
        out: &mut dyn Write,
    ) -> XlResult {
        let Some(req) = request_for(reason) else {
            return Err(format!(
                "{cmd}: no control/shutdown request for {}",
                reason.name()
            ));
        };
        if !matches!(self.seen(cmd, id)?, Seen::Running) {
            // Already shut down (or gone): nothing to ask.
            return Ok(());
        }
        let path = format!("{}/{CONTROL_SHUTDOWN}", domain_path(id.0));
        self.xs
            .write(0, &path, req.as_bytes())
            .map_err(|e| format!("{cmd}: xenstore write {path}: {e}"))?;
        let t0 = self.hv.now_ns();
        let mut polls = 0u32;
        loop {
            // The guest reads and clears the node through its xenstore ring, which we serve.
            self.service_backends(out, polls.is_multiple_of(SERVE_ALL_EVERY));
            if !matches!(self.seen(cmd, id)?, Seen::Running) {
                return Ok(());
            }
            match self.xs.read(0, &path) {
                Ok(v) if v != req.as_bytes() => return Ok(()),
                Err(Errno::ENOENT) => return Ok(()),
                _ => {}
            }
            polls += 1;
            let late = match (t0, self.hv.now_ns()) {
                (Some(a), Some(b)) => b.saturating_sub(a) > ACK_WAIT_NS,
                _ => polls > ACK_POLLS,
            };
            if late {
                // A suspend cannot be forced from outside: the guest must take part.
                let hint = if reason == ShutdownReason::Suspend {
                    "the guest has no suspend handler or is not answering"
                } else {
                    "use -F to force"
                };
                return Err(format!(
                    "domain {} (\"{name}\") did not respond to the {cmd} request in {} s; {hint}",
                    id.0,
                    ACK_WAIT_NS / 1_000_000_000
                ));
            }
            self.hv.relax();
        }
    }

    /// `-w`: waits until the domain has shut down (applying its config's action) or is gone.
    fn wait_shut_down(
        &mut self,
        cmd: &str,
        id: DomId,
        name: &str,
        out: &mut dyn Write,
    ) -> XlResult {
        let _ = writeln!(out, "Waiting for 1 domains");
        let t0 = self.hv.now_ns();
        let mut polls = 0u32;
        loop {
            self.service_backends(out, polls.is_multiple_of(SERVE_ALL_EVERY));
            match self.seen(cmd, id)? {
                Seen::Gone => return Ok(()),
                Seen::ShutDown(code) => {
                    let _ = writeln!(
                        out,
                        "Domain {} has been shut down, reason code {code}",
                        id.0
                    );
                    // Apply the config's action now, so it is done when the command returns.
                    self.poll_lifecycle();
                    let _ = out.write_str(&self.take_notices());
                    return Ok(());
                }
                Seen::Running => {}
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
    }

    fn seen(&mut self, cmd: &str, id: DomId) -> Result<Seen, String> {
        match self.hv.domain_info(id) {
            Err(Errno::ESRCH) => Ok(Seen::Gone),
            Err(e) => Err(format!("{cmd}: domain {}: getdomaininfo: {e}", id.0)),
            Ok(i) if i.dominf_flags().contains(DominfFlags::SHUTDOWN) => {
                Ok(Seen::ShutDown(i.shutdown_code()))
            }
            Ok(_) => Ok(Seen::Running),
        }
    }
}
