//! Life-cycle actions: when a domain this toolstack created shuts down (poweroff, reboot,
//! crash, watchdog), apply its config's `on_poweroff`/`on_reboot`/`on_crash`/`on_watchdog`:
//! destroy it, restart it (destroy, then build again from the stored config, same name), or
//! preserve it (leave it shut down, for inspection; `xl destroy` removes it).
//!
//! The hypervisor raises VIRQ_DOM_EXC to dom0 whenever a domain shuts down or crashes; dom0's
//! shell loop then calls [`Toolstack::poll_lifecycle`] at once (and, as a safety net, every
//! 100 ms while idle); `xl shutdown -w` and `xl reboot -w` call it while they wait. What
//! happened is reported as `(xl) ...` notices, ending in `[VIRQ_DOM_EXC]` when the event
//! announced the shutdown, or `[poll]` when only polling found it.

use super::Toolstack;
use crate::config::ShutdownAction;
use crate::hv::Hypervisor;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write;
use guest_abi::domctl::DominfFlags;
use guest_abi::errno::Errno;
use guest_abi::sched::ShutdownReason;
use guest_abi::types::DomId;

/// A crashed domain that ran less than this is not restarted (it would crash in a loop).
pub const MIN_RUN_BEFORE_RESTART_NS: u64 = 2_000_000_000;

impl<H: Hypervisor> Toolstack<'_, H> {
    /// Checks every domain this toolstack created and applies the action for any that shut
    /// down since the last call. Notices go to the pending notices ([`Toolstack::take_notices`]).
    pub fn poll_lifecycle(&mut self) {
        // Events arriving while we look leave the check pending, so it runs again.
        let dom_exc = self.hv.dom_exc_count();
        let ids: Vec<DomId> = self.records.iter().map(|r| r.id).collect();
        for id in ids {
            match self.hv.domain_info(id) {
                Err(Errno::ESRCH) => self.records.retain(|r| r.id != id),
                Err(_) => {}
                Ok(info) => {
                    let f = info.dominf_flags();
                    let handled = self.record(id).is_none_or(|r| r.handled);
                    if f.contains(DominfFlags::SHUTDOWN)
                        && !f.contains(DominfFlags::DYING)
                        && !handled
                    {
                        self.flush_console(id);
                        self.on_shutdown(id, info.shutdown_code());
                    }
                }
            }
        }
        if let Some(n) = dom_exc {
            self.dom_exc_seen = n;
        }
    }

    /// Whether VIRQ_DOM_EXC arrived since the last [`Toolstack::poll_lifecycle`].
    pub fn dom_exc_pending(&mut self) -> bool {
        self.hv
            .dom_exc_count()
            .is_some_and(|n| n != self.dom_exc_seen)
    }

    /// Notices of life-cycle actions not yet shown (each line ends with a newline).
    pub fn take_notices(&mut self) -> String {
        core::mem::take(&mut self.notices)
    }

    fn on_shutdown(&mut self, id: DomId, code: u32) {
        let Some(rec) = self.record(id).cloned() else {
            return;
        };
        let reason = ShutdownReason::from_u32(code);
        let (key, action) = match reason {
            Some(ShutdownReason::Poweroff) => ("on_poweroff", rec.config.on_poweroff),
            Some(ShutdownReason::Reboot) => ("on_reboot", rec.config.on_reboot),
            Some(ShutdownReason::Crash) => ("on_crash", rec.config.on_crash),
            Some(ShutdownReason::Watchdog) => ("on_watchdog", rec.config.on_watchdog),
            // Suspend and soft reset need a toolstack that saves or resets the domain: not
            // supported; leave the domain as it is.
            _ => ("(none)", ShutdownAction::Preserve),
        };
        let why = reason.map_or_else(|| format!("code {code}"), |r| String::from(r.name()));
        let mut n = format!(
            "(xl) domain {} \"{}\" shut down ({why}): {key} = {}: ",
            id.0,
            rec.name,
            action.name()
        );
        if let Some(r) = self.records.iter_mut().find(|r| r.id == id) {
            r.handled = true;
        }
        match action {
            ShutdownAction::Destroy => match self.destroy_id(id) {
                Ok(()) => n.push_str("destroyed"),
                Err(e) => {
                    let _ = write!(n, "destroying it failed: {e}");
                }
            },
            ShutdownAction::Restart => {
                let ran = match (self.hv.now_ns(), rec.started_ns) {
                    (Some(now), Some(t0)) => Some(now.saturating_sub(t0)),
                    _ => None,
                };
                if reason == Some(ShutdownReason::Crash)
                    && ran.is_some_and(|r| r < MIN_RUN_BEFORE_RESTART_NS)
                {
                    let _ = write!(
                        n,
                        "not restarted: it crashed {} ms after starting (less than {} s); \
                         preserved",
                        ran.unwrap_or(0) / 1_000_000,
                        MIN_RUN_BEFORE_RESTART_NS / 1_000_000_000
                    );
                } else if let Err(e) = self.destroy_id(id) {
                    let _ = write!(n, "destroying it for the restart failed: {e}");
                } else {
                    let mut sink = String::new();
                    match self.create_from_config(rec.config.clone(), false, &mut sink) {
                        Ok(new) => {
                            let _ = write!(n, "restarted as domain {}", new.0);
                        }
                        Err(e) => {
                            let _ = write!(n, "restart failed: {e}");
                        }
                    }
                }
            }
            _ => n.push_str("preserved"),
        }
        // The hypervisor raises VIRQ_DOM_EXC in the same step that marks the domain shut
        // down, and dom0 takes the event before its next getdomaininfo returns: when the
        // count moved, the event announced this shutdown.
        n.push_str(if self.dom_exc_pending() {
            " [VIRQ_DOM_EXC]\n"
        } else {
            " [poll]\n"
        });
        self.notices.push_str(&n);
    }
}
