//! `xl list` and `xl info`.

use super::{Toolstack, XlResult, DOM0_NAME};
use crate::hv::Hypervisor;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write;
use guest_abi::domctl::{DomctlGetDomainInfo, DominfFlags};
use guest_abi::types::DomId;

/// The `xl list` header, exactly as Xen's xl prints it.
pub const LIST_HEADER: &str =
    "Name                                        ID   Mem VCPUs\tState\tTime(s)";

/// SHUTDOWN_crash.
const SHUTDOWN_CRASH: u32 = 3;

/// One `xl list` row in xl's layout (name padded to 40, id/mem/vcpus width 5, the six state
/// letters `rbpscd`, CPU seconds with one decimal in width 8).
pub fn list_row(name: &str, info: &DomctlGetDomainInfo) -> String {
    let f = info.dominf_flags();
    let shutdown = f.contains(DominfFlags::SHUTDOWN);
    let letter = |on: bool, c: char| if on { c } else { '-' };
    let state: String = [
        letter(f.contains(DominfFlags::RUNNING), 'r'),
        letter(f.contains(DominfFlags::BLOCKED), 'b'),
        letter(f.contains(DominfFlags::PAUSED), 'p'),
        letter(shutdown, 's'),
        letter(shutdown && info.shutdown_code() == SHUTDOWN_CRASH, 'c'),
        letter(f.contains(DominfFlags::DYING), 'd'),
    ]
    .iter()
    .collect();
    let mem_mib = (info.tot_pages.saturating_add(info.outstanding_pages)) / 256;
    // Tenths of a second, rounded.
    let tenths = info.cpu_time.saturating_add(50_000_000) / 100_000_000;
    let time = format!("{}.{}", tenths / 10, tenths % 10);
    format!(
        "{name:<40} {:>5} {mem_mib:>5} {:>5}     {state}  {time:>8}",
        info.domain.0, info.nr_online_vcpus
    )
}

impl<H: Hypervisor> Toolstack<'_, H> {
    pub(super) fn list(&mut self, doms: &[&str], out: &mut dyn Write) -> XlResult {
        self.refresh();
        let mut wanted: Vec<(String, DomId)> = Vec::new();
        if doms.is_empty() {
            wanted.push((String::from(DOM0_NAME), DomId(0)));
            let mut mine: Vec<(String, DomId)> = self
                .records
                .iter()
                .map(|r| (r.name.clone(), r.id))
                .collect();
            mine.sort_by_key(|(_, id)| id.0);
            wanted.extend(mine);
        } else {
            for d in doms {
                wanted.push(self.resolve(d)?);
            }
        }
        let mut rows = Vec::new();
        for (name, id) in wanted {
            match self.hv.domain_info(id) {
                Ok(info) => rows.push(list_row(&name, &info)),
                Err(e) => {
                    return Err(format!(
                        "list: cannot get information on domain {}: {e}",
                        id.0
                    ))
                }
            }
        }
        let _ = writeln!(out, "{LIST_HEADER}");
        for r in rows {
            let _ = writeln!(out, "{r}");
        }
        Ok(())
    }

    pub(super) fn info(&mut self, out: &mut dyn Write) -> XlResult {
        let p = self
            .hv
            .physinfo()
            .map_err(|e| format!("info: cannot get host information (sysctl physinfo): {e}"))?;
        let (major, minor) = self
            .hv
            .xen_version()
            .map_err(|e| format!("info: cannot get the hypervisor version: {e}"))?;
        let mut line = |k: &str, v: &dyn core::fmt::Display| {
            let _ = writeln!(out, "{k:<23}: {v}");
        };
        line("host", &"dom0");
        line("nr_cpus", &p.nr_cpus);
        line("nr_nodes", &p.nr_nodes);
        line("cores_per_socket", &p.cores_per_socket);
        line("threads_per_core", &p.threads_per_core);
        line("cpu_mhz", &(p.cpu_khz / 1000));
        line("total_memory", &(p.total_pages / 256));
        line("free_memory", &(p.free_pages / 256));
        line("xen_major", &major);
        line("xen_minor", &minor);
        line("xen_version", &format!("{major}.{minor}"));
        line("xen_caps", &"xen-3.0-x86_64");
        line("xen_pagesize", &4096);
        Ok(())
    }
}
