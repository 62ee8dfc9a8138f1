//! `xl vcpu-list [--json] [Domain...]`.

use super::args::{self, Opt};
use super::json::Json;
use super::{Toolstack, XlResult};
use crate::hv::Hypervisor;
use alloc::format;
use alloc::vec::Vec;
use core::fmt::Write;
use guest_abi::domctl::DominfFlags;

const OPTS: &[Opt] = &[Opt::flag('\0', "json")];

/// The `xl vcpu-list` header, in xl's layout.
pub const VCPU_HEADER: &str =
    "Name                                ID  VCPU   CPU State   Time(s) Affinity (Hard / Soft)";

impl<H: Hypervisor> Toolstack<'_, H> {
    pub(super) fn vcpu_list(&mut self, argv: &[&str], out: &mut dyn Write) -> XlResult {
        let p = args::parse(argv, OPTS).map_err(|e| format!("vcpu-list: {e}"))?;
        let doms = if p.positional.is_empty() {
            self.all_domains()
                .map_err(|e| format!("vcpu-list: cannot list the domains: {e}"))?
        } else {
            let mut v = Vec::new();
            for d in &p.positional {
                let (name, id) = self.resolve(d).map_err(|e| format!("vcpu-list: {e}"))?;
                let info = self
                    .hv
                    .domain_info(id)
                    .map_err(|e| format!("vcpu-list: domain {}: {e}", id.0))?;
                v.push((name, info));
            }
            v
        };
        let json = p.has(OPTS, "json");
        let mut rows = Vec::new();
        let mut objs = Vec::new();
        for (name, info) in &doms {
            let paused = info.dominf_flags().contains(DominfFlags::PAUSED);
            if info.max_vcpu_id == u32::MAX {
                continue;
            }
            for vcpu in 0..=info.max_vcpu_id {
                let v = match self.hv.vcpu_info(info.domain, vcpu) {
                    Ok(v) => v,
                    // The domain went away meanwhile, or has fewer vCPUs than it says.
                    Err(_) => continue,
                };
                let state: alloc::string::String = if v.online == 0 {
                    "---".into()
                } else {
                    [
                        if v.running != 0 { 'r' } else { '-' },
                        if v.blocked != 0 { 'b' } else { '-' },
                        if paused { 'p' } else { '-' },
                    ]
                    .iter()
                    .collect()
                };
                let tenths = v.cpu_time.saturating_add(50_000_000) / 100_000_000;
                if json {
                    objs.push(Json::Obj(alloc::vec![
                        ("name", Json::str(name)),
                        ("domid", Json::Num(info.domain.0.into())),
                        ("vcpu", Json::Num(vcpu.into())),
                        ("cpu", Json::Num(v.cpu.into())),
                        ("online", Json::Num(v.online.into())),
                        ("state", Json::Str(state)),
                        ("cpu_time_ns", Json::Num(v.cpu_time)),
                    ]));
                } else {
                    let cpu = if v.online != 0 {
                        format!("{}", v.cpu)
                    } else {
                        "-".into()
                    };
                    rows.push(format!(
                        "{name:<32} {:>5} {:>5} {cpu:>5}   {state}  {:>8}  all / all",
                        info.domain.0,
                        vcpu,
                        format!("{}.{}", tenths / 10, tenths % 10)
                    ));
                }
            }
        }
        if json {
            let _ = out.write_str(&Json::Arr(objs).render());
        } else {
            let _ = writeln!(out, "{VCPU_HEADER}");
            for r in rows {
                let _ = writeln!(out, "{r}");
            }
        }
        Ok(())
    }
}
