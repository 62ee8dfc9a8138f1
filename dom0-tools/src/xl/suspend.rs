//! Asking a domain to suspend itself, as Xen's toolstack does before saving it (what
//! `xl save` will start with): "suspend" goes into the domain's `control/shutdown`; a PV
//! guest with a suspend handler clears the node and stops with
//! `SCHEDOP_shutdown(SHUTDOWN_suspend)`, and we wait, bounded, until the hypervisor reports
//! the domain shut down with reason suspend (`xl list` state `s`). Xen's xl has no command
//! of its own for this step, so neither do we: it is reached through the save path (and by
//! hand, `xenstore-write` of the node, then `xl resume` to let the guest carry on).

use super::{Toolstack, XlResult};
use crate::hv::{is_suspended, Hypervisor};
use alloc::format;
use alloc::string::String;
use core::fmt::Write;
use guest_abi::domctl::DominfFlags;
use guest_abi::errno::Errno;
use guest_abi::sched::ShutdownReason;
use guest_abi::types::DomId;

/// How long the guest has, once it took the request, to report itself suspended (when the
/// hypervisor tells the time).
pub const SUSPEND_WAIT_NS: u64 = 30_000_000_000;
/// How many checks that wait makes when the hypervisor does not tell the time.
const SUSPEND_POLLS: u32 = 200_000;
/// Every this many checks, all back-end rings are served (not only signalled ones).
const SERVE_ALL_EVERY: u32 = 64;

impl<H: Hypervisor> Toolstack<'_, H> {
    /// Asks domain `dom` (a name or id, not Domain-0) to suspend itself through
    /// `control/shutdown` and waits until it has: its id, or an error naming the domain and
    /// what went wrong (no answer to the request, shut down for another reason, gone, not
    /// suspended in time). A domain suspended already is returned at once.
    pub fn suspend_domain(&mut self, dom: &str, out: &mut dyn Write) -> Result<DomId, String> {
        const CMD: &str = "suspend";
        let (name, id) = self.resolve_domu(CMD, dom)?;
        self.request_shutdown(CMD, id, &name, ShutdownReason::Suspend, out)?;
        self.wait_suspended(id, &name, out)?;
        Ok(id)
    }

    /// Waits until domain `id` is shut down with reason suspend.
    fn wait_suspended(&mut self, id: DomId, name: &str, out: &mut dyn Write) -> XlResult {
        let t0 = self.hv.now_ns();
        let mut polls = 0u32;
        loop {
            self.service_backends(out, polls.is_multiple_of(SERVE_ALL_EVERY));
            match self.hv.domain_info(id) {
                Err(Errno::ESRCH) => {
                    return Err(format!(
                        "suspend: domain {} (\"{name}\") went away instead of suspending",
                        id.0
                    ))
                }
                Err(e) => return Err(format!("suspend: domain {}: getdomaininfo: {e}", id.0)),
                Ok(i) if is_suspended(&i) => return Ok(()),
                Ok(i) if i.dominf_flags().contains(DominfFlags::SHUTDOWN) => {
                    let code = i.shutdown_code();
                    let why = ShutdownReason::from_u32(code)
                        .map_or_else(|| format!("code {code}"), |r| String::from(r.name()));
                    return Err(format!(
                        "suspend: domain {} (\"{name}\") shut down ({why}) instead of suspending",
                        id.0
                    ));
                }
                Ok(_) => {}
            }
            polls += 1;
            let late = match (t0, self.hv.now_ns()) {
                (Some(a), Some(b)) => b.saturating_sub(a) > SUSPEND_WAIT_NS,
                _ => polls > SUSPEND_POLLS,
            };
            if late {
                return Err(format!(
                    "suspend: domain {} (\"{name}\") took the request but did not suspend \
                     within {} s",
                    id.0,
                    SUSPEND_WAIT_NS / 1_000_000_000
                ));
            }
            self.hv.relax();
        }
    }
}
