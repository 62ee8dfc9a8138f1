//! Memory commands: `xl mem-max` (the hypervisor's limit, `max_pages`) and `xl mem-set`
//! (ballooning: the target goes into XenStore as `memory/target`, in KiB, where the guest's
//! balloon driver picks it up and gives pages back or takes more, within `max_pages`).

use super::args;
use super::{Toolstack, XlResult};
use crate::config::MAX_MEMORY_MIB;
use crate::hv::Hypervisor;
use crate::xenstore::path::domain_path;
use alloc::format;
use alloc::string::String;
use core::fmt::Write;
use guest_abi::domctl::{DomctlMaxMem, DominfFlags, XenDomctl, XEN_DOMCTL_MAX_MEM};

/// How long `xl mem-set` waits for the guest to reach its target (system time).
pub const MEM_SET_WAIT_NS: u64 = 10_000_000_000;
/// How many checks it makes when the hypervisor does not tell the time.
const MEM_SET_POLLS: u32 = 20_000;
/// Every this many checks, all back-end rings are served (not only signalled ones).
const SERVE_ALL_EVERY: u32 = 64;

impl<H: Hypervisor> Toolstack<'_, H> {
    /// `xl mem-max <Domain> <Mem>`: the most memory the domain may have (enforced by the
    /// hypervisor when it allocates pages to the domain). At most [`MAX_MEMORY_MIB`] and the
    /// host's memory, and at least what the domain has now.
    pub(super) fn mem_max(&mut self, dom: &str, mem: &str, _out: &mut dyn Write) -> XlResult {
        let (name, id) = self.resolve_domu("mem-max", dom)?;
        let phys = self
            .hv
            .physinfo()
            .map_err(|e| format!("mem-max: cannot get the host's memory (sysctl physinfo): {e}"))?;
        let host_kib = phys.total_pages.saturating_mul(4);
        let limit_kib = MAX_MEMORY_MIB * 1024;
        let (max_kib, limit) = if host_kib < limit_kib {
            (
                host_kib,
                format!(
                    "the host's memory of {host_kib} KiB ({} MiB)",
                    host_kib / 1024
                ),
            )
        } else {
            (
                limit_kib,
                format!(
                    "the limit of {limit_kib} KiB ({MAX_MEMORY_MIB} MiB, the most a domain may \
                     have)"
                ),
            )
        };
        let kib = args::parse_mem_kib_at_most(mem, max_kib, &limit)
            .map_err(|e| format!("mem-max: {e}"))?;
        let info = self
            .hv
            .domain_info(id)
            .map_err(|e| format!("mem-max: domain {}: getdomaininfo: {e}", id.0))?;
        let cur_kib = info.tot_pages.saturating_mul(4);
        if kib < cur_kib {
            return Err(format!(
                "mem-max: {} KiB is below domain {} (\"{name}\")'s current memory of {cur_kib} \
                 KiB ({} MiB); shrink it first with `xl mem-set`",
                kib,
                id.0,
                cur_kib / 1024
            ));
        }
        let mut op =
            XenDomctl::with_payload(XEN_DOMCTL_MAX_MEM, id, &DomctlMaxMem { max_memkb: kib });
        self.hv
            .domctl(&mut op)
            .map_err(|e| format!("mem-max: domain {} (\"{name}\"): {e}", id.0))?;
        if let Some(r) = self.records.iter_mut().find(|r| r.id == id) {
            // Kept for a restart: a valid config (1 <= memory <= maxmem <= MAX_MEMORY_MIB).
            let maxmem = kib.div_ceil(1024).clamp(1, MAX_MEMORY_MIB);
            r.config.maxmem = maxmem;
            r.config.memory = r.config.memory.min(maxmem);
        }
        Ok(())
    }

    /// `xl mem-set <Domain> <Mem>`: sets the domain's balloon target and waits until its
    /// memory (the hypervisor's `tot_pages`) reaches it.
    pub(super) fn mem_set(&mut self, dom: &str, mem: &str, out: &mut dyn Write) -> XlResult {
        let (name, id) = self.resolve(dom).map_err(|e| format!("mem-set: {e}"))?;
        if id.0 == 0 {
            return Err(String::from(
                "mem-set: not permitted on Domain-0 (domain 0): it runs no balloon driver",
            ));
        }
        args::parse_mem(mem).map_err(|e| format!("mem-set: {e}"))?;
        let info = self
            .hv
            .domain_info(id)
            .map_err(|e| format!("mem-set: domain {}: getdomaininfo: {e}", id.0))?;
        let max_kib = info.max_pages.saturating_mul(4);
        let limit = format!(
            "domain {} (\"{name}\")'s maximum of {max_kib} KiB ({} MiB, maxmem); raise it first \
             with `xl mem-max`",
            id.0,
            max_kib / 1024
        );
        let kib = args::parse_mem_kib_at_most(mem, max_kib, &limit)
            .map_err(|e| format!("mem-set: {e}"))?;
        let want_pages = kib / 4;
        if kib == 0 {
            return Err(format!(
                "mem-set: a target of 0 KiB would leave domain {} (\"{name}\") no memory",
                id.0
            ));
        }
        let path = format!("{}/memory/target", domain_path(id.0));
        self.xs
            .write(0, &path, format!("{kib}").as_bytes())
            .map_err(|e| format!("mem-set: xenstore write {path}: {e}"))?;
        let t0 = self.hv.now_ns();
        let mut polls = 0u32;
        loop {
            // The guest reads the target and talks to us through XenStore (and maybe its
            // console) while we wait.
            self.service_backends(out, polls.is_multiple_of(SERVE_ALL_EVERY));
            let info = self
                .hv
                .domain_info(id)
                .map_err(|e| format!("mem-set: domain {}: getdomaininfo: {e}", id.0))?;
            if info.tot_pages == want_pages {
                let _ = writeln!(
                    out,
                    "Domain {} (\"{name}\") reached its memory target: {kib} KiB ({} MiB)",
                    id.0,
                    kib / 1024
                );
                return Ok(());
            }
            let f = info.dominf_flags();
            let stuck = if f.contains(DominfFlags::SHUTDOWN) || f.contains(DominfFlags::DYING) {
                Some("it is shut down")
            } else if f.contains(DominfFlags::PAUSED) {
                Some("it is paused (it balloons once unpaused)")
            } else {
                None
            };
            polls += 1;
            let late = match (t0, self.hv.now_ns()) {
                (Some(a), Some(b)) => b.saturating_sub(a) > MEM_SET_WAIT_NS,
                _ => polls > MEM_SET_POLLS,
            };
            if late || stuck.is_some() {
                return Err(format!(
                    "mem-set: domain {} (\"{name}\") has not reached its memory target of {kib} \
                     KiB: it has {} KiB{}",
                    id.0,
                    info.tot_pages.saturating_mul(4),
                    match stuck {
                        Some(why) => format!(" ({why})"),
                        None => format!(
                            " after {} s (does it run a balloon driver? its initial region \
                             cannot be given back)",
                            MEM_SET_WAIT_NS / 1_000_000_000
                        ),
                    }
                ));
            }
            self.hv.relax();
        }
    }
}
