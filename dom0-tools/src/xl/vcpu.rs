//! `xl vcpu-list [--json] [Domain...]`, `xl vcpu-pin [-f] <Domain> <VCPU|all> <Hard>
//! [Soft]` and `xl vcpu-set [-i] <Domain> <vCPUs>`.
//!
//! Affinities are CPU lists ([`crate::cpumap`]) set and read with
//! `XEN_DOMCTL_setvcpuaffinity`/`getvcpuaffinity`; the maps are as wide as the host's CPU
//! numbers (`physinfo.max_cpu_id + 1`). `vcpu-set` is what libxl does for a PV guest: it
//! rewrites the domain's `cpu/<n>/availability` nodes, and the guest brings its vCPUs up or
//! down (`VCPUOP_up`/`down`) as it reads them.

use super::args::{self, Opt};
use super::json::Json;
use super::{Toolstack, XlResult};
use crate::cpumap::{CpuList, CpuMap};
use crate::hv::{self, Affinity, Hypervisor};
use crate::xenstore::path::domain_path;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write;
use guest_abi::errno::Errno;
use guest_abi::types::DomId;

const LIST_OPTS: &[Opt] = &[Opt::flag('\0', "json")];
const PIN_OPTS: &[Opt] = &[Opt::flag('f', "force")];
const SET_OPTS: &[Opt] = &[Opt::flag('i', "ignore-host")];

/// The `xl vcpu-list` header, in xl's layout.
pub const VCPU_HEADER: &str =
    "Name                                ID  VCPU   CPU State   Time(s) Affinity (Hard / Soft)";

/// The state xl shows for a vCPU: `r`unning, `b`locked, or `--p` for one that is down.
fn vcpu_state(v: &guest_abi::domctl::DomctlGetVcpuInfo) -> String {
    if v.online == 0 {
        return String::from("--p");
    }
    [
        if v.running != 0 { 'r' } else { '-' },
        if v.blocked != 0 { 'b' } else { '-' },
        '-',
    ]
    .iter()
    .collect()
}

impl<H: Hypervisor> Toolstack<'_, H> {
    /// The host's CPU numbers: `physinfo.max_cpu_id + 1` (how wide affinity maps are).
    fn host_cpus(&mut self, cmd: &str) -> Result<u32, String> {
        let p = self
            .hv
            .physinfo()
            .map_err(|e| format!("{cmd}: cannot get the host's CPUs (sysctl physinfo): {e}"))?;
        Ok(p.max_cpu_id
            .saturating_add(1)
            .clamp(1, crate::cpumap::MAX_CPUS))
    }

    /// vCPU `vcpu`'s affinity; a hypervisor without vCPU affinity (`ENOSYS`) lets every vCPU
    /// run on every CPU, which is what it shows.
    fn affinity_or_all(&mut self, id: DomId, vcpu: u32, nr: u32) -> Result<Affinity, Errno> {
        match hv::vcpu_affinity(&mut self.hv, id, vcpu, nr) {
            Err(Errno::ENOSYS) => Ok(Affinity {
                hard: CpuMap::first(nr),
                soft: CpuMap::first(nr),
            }),
            r => r,
        }
    }

    pub(super) fn vcpu_list(&mut self, argv: &[&str], out: &mut dyn Write) -> XlResult {
        let p = args::parse(argv, LIST_OPTS).map_err(|e| format!("vcpu-list: {e}"))?;
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
        let nr = self.host_cpus("vcpu-list")?;
        let json = p.has(LIST_OPTS, "json");
        let mut rows = Vec::new();
        let mut objs = Vec::new();
        for (name, info) in &doms {
            if info.max_vcpu_id == u32::MAX {
                continue;
            }
            for vcpu in 0..=info.max_vcpu_id {
                let v = match self.hv.vcpu_info(info.domain, vcpu) {
                    Ok(v) => v,
                    // The domain went away meanwhile, or has fewer vCPUs than it says.
                    Err(_) => continue,
                };
                let aff = match self.affinity_or_all(info.domain, vcpu, nr) {
                    Ok(a) => a,
                    Err(Errno::ESRCH) => continue,
                    Err(e) => {
                        return Err(format!(
                            "vcpu-list: vCPU {vcpu} of domain {}: getvcpuaffinity: {e}",
                            info.domain.0
                        ))
                    }
                };
                let (hard, soft) = (aff.hard.show(nr), aff.soft.show(nr));
                let state = vcpu_state(&v);
                let online = v.online != 0;
                let tenths = v.cpu_time.saturating_add(50_000_000) / 100_000_000;
                if json {
                    objs.push(Json::Obj(alloc::vec![
                        ("name", Json::str(name)),
                        ("domid", Json::Num(info.domain.0.into())),
                        ("vcpu", Json::Num(vcpu.into())),
                        (
                            "cpu",
                            if online {
                                Json::Num(v.cpu.into())
                            } else {
                                Json::Null
                            }
                        ),
                        ("online", Json::Num(v.online.into())),
                        ("state", Json::Str(state)),
                        ("cpu_time_ns", Json::Num(v.cpu_time)),
                        ("hard_affinity", Json::Str(hard)),
                        ("soft_affinity", Json::Str(soft)),
                    ]));
                } else {
                    let cpu = if online {
                        format!("{}", v.cpu)
                    } else {
                        "-".into()
                    };
                    rows.push(format!(
                        "{name:<32} {:>5} {:>5} {cpu:>5}   {state}  {:>8}  {hard} / {soft}",
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

    /// `xl vcpu-pin [-f|--force] <Domain> <VCPU|all> <Hard> [Soft]`: `-` leaves a map as it
    /// is. Either every vCPU named gets the affinity, or none keeps a change (those done
    /// before a refusal get their old affinity back).
    pub(super) fn vcpu_pin(&mut self, argv: &[&str], out: &mut dyn Write) -> XlResult {
        let p = args::parse(argv, PIN_OPTS).map_err(|e| format!("vcpu-pin: {e}"))?;
        let force = p.has(PIN_OPTS, "force");
        let (dom, which, hard, soft) = match p.positional[..] {
            [d, w, h] => (d, w, h, "-"),
            [d, w, h, s] => (d, w, h, s),
            _ => {
                return Err(String::from(
                    "vcpu-pin: wrong arguments: give a domain, a vCPU (or all), the hard \
                     affinity and optionally the soft affinity",
                ))
            }
        };
        let (name, id) = self.resolve(dom).map_err(|e| format!("vcpu-pin: {e}"))?;
        let info = self
            .hv
            .domain_info(id)
            .map_err(|e| format!("vcpu-pin: domain {}: getdomaininfo: {e}", id.0))?;
        let n = info.max_vcpu_id.saturating_add(1);
        let vcpus: Vec<u32> = if which == "all" {
            (0..n).collect()
        } else {
            let v: u32 = which
                .parse()
                .ok()
                .filter(|_| which.bytes().all(|b| b.is_ascii_digit()))
                .ok_or_else(|| {
                    format!("vcpu-pin: \"{which}\" is not a vCPU number (nor \"all\")")
                })?;
            if v >= n {
                return Err(format!(
                    "vcpu-pin: domain {} (\"{name}\") has vCPUs 0-{}: there is no vCPU {v}",
                    id.0,
                    n - 1
                ));
            }
            alloc::vec![v]
        };
        let nr = self.host_cpus("vcpu-pin")?;
        let map = |what: &str, text: &str| -> Result<Option<(CpuList, CpuMap)>, String> {
            if text == "-" {
                return Ok(None);
            }
            let l = CpuList::parse(text).map_err(|e| format!("vcpu-pin: {what} affinity: {e}"))?;
            let m = l
                .for_host(nr)
                .map_err(|e| format!("vcpu-pin: {what} affinity: {e}"))?;
            Ok(Some((l, m)))
        };
        let hard = map("hard", hard)?;
        let soft = map("soft", soft)?;
        if hard.is_none() && soft.is_none() {
            return Err(String::from(
                "vcpu-pin: nothing to do: hard and soft affinity are both \"-\" (left as they are)",
            ));
        }
        // What each vCPU had, to give it back if a later one is refused.
        let mut before = Vec::new();
        for &v in &vcpus {
            let a = hv::vcpu_affinity(&mut self.hv, id, v, nr).map_err(|e| {
                format!(
                    "vcpu-pin: vCPU {v} of domain {}: getvcpuaffinity: {e}",
                    id.0
                )
            })?;
            before.push((v, a));
        }
        for (i, &v) in vcpus.iter().enumerate() {
            let r = hv::set_vcpu_affinity(
                &mut self.hv,
                id,
                v,
                hard.as_ref().map(|h| h.1),
                soft.as_ref().map(|s| s.1),
                force,
                nr,
            );
            let done = match r {
                Ok(done) => done,
                Err(e) => {
                    for &(u, old) in &before[..i] {
                        let _ = hv::set_vcpu_affinity(
                            &mut self.hv,
                            id,
                            u,
                            Some(old.hard),
                            Some(old.soft),
                            false,
                            nr,
                        );
                    }
                    let why = match (e, &hard) {
                        (Errno::EINVAL, Some((l, _))) => {
                            format!("hard affinity {} has no online CPU", l.text())
                        }
                        (Errno::EBUSY, _) => String::from(
                            "the guest has pinned it for now (-f/--force overrides its pin)",
                        ),
                        _ => String::from("setvcpuaffinity"),
                    };
                    return Err(format!("vcpu-pin: vCPU {v} of domain {}: {why}: {e}", id.0));
                }
            };
            if let Some((l, _)) = &soft {
                if done.soft.is_empty() {
                    let _ = writeln!(
                        out,
                        "xl: vcpu-pin: note: vCPU {v} of domain {}: soft affinity {} has no CPU \
                         within its hard affinity: it has no effect",
                        id.0,
                        l.text()
                    );
                }
            }
        }
        Ok(())
    }

    /// `xl vcpu-set [-i|--ignore-host] <Domain> <vCPUs>`: vCPUs `0..N` available, the rest
    /// (up to the domain's maxvcpus) not, in its `cpu/<n>/availability` nodes.
    pub(super) fn vcpu_set(&mut self, argv: &[&str], _out: &mut dyn Write) -> XlResult {
        let p = args::parse(argv, SET_OPTS).map_err(|e| format!("vcpu-set: {e}"))?;
        let [dom, count] = p.positional[..] else {
            return Err(String::from(
                "vcpu-set: wrong arguments: give a domain and a number of vCPUs",
            ));
        };
        let (name, id) = self.resolve(dom).map_err(|e| format!("vcpu-set: {e}"))?;
        let want: u32 = count
            .parse()
            .ok()
            .filter(|_| count.bytes().all(|b| b.is_ascii_digit()))
            .ok_or_else(|| format!("vcpu-set: \"{count}\" is not a number of vCPUs"))?;
        let info = self
            .hv
            .domain_info(id)
            .map_err(|e| format!("vcpu-set: domain {}: getdomaininfo: {e}", id.0))?;
        let max = info.max_vcpu_id.saturating_add(1);
        if want == 0 || want > max {
            return Err(format!(
                "vcpu-set: domain {} (\"{name}\") may have 1 to {max} vCPUs (its maxvcpus), not \
                 {want}",
                id.0
            ));
        }
        if !p.has(SET_OPTS, "ignore-host") {
            let host = self
                .hv
                .physinfo()
                .map_err(|e| format!("vcpu-set: cannot get the host's CPUs: {e}"))?
                .nr_cpus;
            if want > host {
                return Err(format!(
                    "vcpu-set: {want} vCPUs for domain {} (\"{name}\") are more than the host's \
                     {host} CPU{}: that overcommits them (-i/--ignore-host to do it anyway)",
                    id.0,
                    if host == 1 { "" } else { "s" }
                ));
            }
        }
        let home = domain_path(id.0);
        for v in 0..max {
            let path = format!("{home}/cpu/{v}/availability");
            let avail: &[u8] = if v < want { b"online" } else { b"offline" };
            self.xs
                .write(0, &path, avail)
                .map_err(|e| format!("vcpu-set: xenstore write {path}: {e}"))?;
        }
        // A restart brings the domain back with as many.
        if let Some(r) = self.records.iter_mut().find(|r| r.id == id) {
            r.config.vcpus = want.min(r.config.maxvcpus);
        }
        Ok(())
    }
}
