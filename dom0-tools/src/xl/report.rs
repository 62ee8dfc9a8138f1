//! `xl list [-l] [--json]` and `xl info [--json]`.

use super::args::{self, Opt};
use super::json::Json;
use super::{Toolstack, XlResult, DOM0_NAME};
use crate::hv::Hypervisor;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write;
use guest_abi::domctl::{DomctlGetDomainInfo, DominfFlags};
use guest_abi::errno::Errno;
use guest_abi::types::DomId;

/// The `xl list` header, exactly as Xen's xl prints it.
pub const LIST_HEADER: &str =
    "Name                                        ID   Mem VCPUs\tState\tTime(s)";

/// SHUTDOWN_crash.
const SHUTDOWN_CRASH: u32 = 3;

/// The six-letter state of xl (`rbpscd`, `-` for each flag not set).
pub fn state_letters(info: &DomctlGetDomainInfo) -> String {
    let f = info.dominf_flags();
    let shutdown = f.contains(DominfFlags::SHUTDOWN);
    let letter = |on: bool, c: char| if on { c } else { '-' };
    [
        letter(f.contains(DominfFlags::RUNNING), 'r'),
        letter(f.contains(DominfFlags::BLOCKED), 'b'),
        letter(f.contains(DominfFlags::PAUSED), 'p'),
        letter(shutdown, 's'),
        letter(shutdown && info.shutdown_code() == SHUTDOWN_CRASH, 'c'),
        letter(f.contains(DominfFlags::DYING), 'd'),
    ]
    .iter()
    .collect()
}

/// A domain's memory in MiB as xl shows it.
pub fn mem_mib(info: &DomctlGetDomainInfo) -> u64 {
    (info.tot_pages.saturating_add(info.outstanding_pages)) / 256
}

/// One `xl list` row in xl's layout (name padded to 40, id/mem/vcpus width 5, the six state
/// letters `rbpscd`, CPU seconds with one decimal in width 8).
pub fn list_row(name: &str, info: &DomctlGetDomainInfo) -> String {
    let state = state_letters(info);
    // Tenths of a second, rounded.
    let tenths = info.cpu_time.saturating_add(50_000_000) / 100_000_000;
    let time = format!("{}.{}", tenths / 10, tenths % 10);
    format!(
        "{name:<40} {:>5} {:>5} {:>5}     {state}  {time:>8}",
        info.domain.0,
        mem_mib(info),
        info.nr_online_vcpus
    )
}

const LIST_OPTS: &[Opt] = &[
    Opt::flag('l', "long"),
    Opt::flag('\0', "json"),
    Opt::flag('v', "verbose"),
];
const INFO_OPTS: &[Opt] = &[Opt::flag('\0', "json")];

impl<H: Hypervisor> Toolstack<'_, H> {
    /// The name xl shows for domain `id`.
    pub(super) fn name_of(&self, id: DomId) -> String {
        if id.0 == 0 {
            return String::from(DOM0_NAME);
        }
        self.record(id)
            .map_or_else(|| String::from("(null)"), |r| r.name.clone())
    }

    /// Every domain the hypervisor has (name, info), in id order.
    pub(super) fn all_domains(&mut self) -> Result<Vec<(String, DomctlGetDomainInfo)>, Errno> {
        self.refresh();
        let infos = match self.hv.domain_info_list() {
            Ok(v) => v,
            // Without getdomaininfolist: Domain-0 and the domains we created.
            Err(Errno::ENOSYS) => {
                let mut ids: Vec<DomId> = self.records.iter().map(|r| r.id).collect();
                ids.insert(0, DomId(0));
                ids.sort_by_key(|d| d.0);
                let mut v = Vec::new();
                for id in ids {
                    match self.hv.domain_info(id) {
                        Ok(i) => v.push(i),
                        Err(Errno::ESRCH) => {}
                        Err(e) => return Err(e),
                    }
                }
                v
            }
            Err(e) => return Err(e),
        };
        Ok(infos
            .into_iter()
            .map(|i| (self.name_of(i.domain), i))
            .collect())
    }

    /// The domains named by `doms` (all when empty).
    fn selected(
        &mut self,
        cmd: &str,
        doms: &[&str],
    ) -> Result<Vec<(String, DomctlGetDomainInfo)>, String> {
        if doms.is_empty() {
            return self
                .all_domains()
                .map_err(|e| format!("{cmd}: cannot list the domains (getdomaininfolist): {e}"));
        }
        let mut v = Vec::new();
        for d in doms {
            let (name, id) = self.resolve(d).map_err(|e| format!("{cmd}: {e}"))?;
            let info = self
                .hv
                .domain_info(id)
                .map_err(|e| format!("{cmd}: cannot get information on domain {}: {e}", id.0))?;
            v.push((name, info));
        }
        Ok(v)
    }

    pub(super) fn list(&mut self, argv: &[&str], out: &mut dyn Write) -> XlResult {
        let p = args::parse(argv, LIST_OPTS).map_err(|e| format!("list: {e}"))?;
        let doms = self.selected("list", &p.positional)?;
        if p.has(LIST_OPTS, "long") {
            let arr = doms
                .iter()
                .map(|(name, info)| self.long_entry(name, info))
                .collect();
            let _ = out.write_str(&Json::Arr(arr).render());
            return Ok(());
        }
        if p.has(LIST_OPTS, "json") {
            let arr = doms
                .iter()
                .map(|(name, info)| {
                    Json::Obj(alloc::vec![
                        ("name", Json::str(name)),
                        ("domid", Json::Num(info.domain.0.into())),
                        ("mem_mib", Json::Num(mem_mib(info))),
                        (
                            "max_mem_mib",
                            Json::Num(info.max_pages.min(u64::MAX / 2) / 256)
                        ),
                        ("vcpus", Json::Num(info.nr_online_vcpus.into())),
                        ("state", Json::Str(state_letters(info))),
                        ("cpu_time_ns", Json::Num(info.cpu_time)),
                    ])
                })
                .collect();
            let _ = out.write_str(&Json::Arr(arr).render());
            return Ok(());
        }
        let _ = writeln!(out, "{LIST_HEADER}");
        for (name, info) in &doms {
            let _ = writeln!(out, "{}", list_row(name, info));
        }
        Ok(())
    }

    /// One domain of `xl list -l`: its id and configuration, in xl's libxl_domain_config
    /// JSON shape (c_info, b_info, disks, nics, on_*).
    fn long_entry(&self, name: &str, info: &DomctlGetDomainInfo) -> Json {
        let max_kib = info.max_pages.min(u64::MAX / 8) * 4;
        let cur_kib = info.tot_pages.saturating_mul(4);
        let rec = self.record(info.domain);
        let mut b_info = alloc::vec![
            ("max_vcpus", Json::Num(u64::from(info.max_vcpu_id) + 1)),
            ("max_memkb", Json::Num(max_kib)),
            ("target_memkb", Json::Num(cur_kib)),
        ];
        let mut config = Vec::new();
        match rec {
            Some(r) => {
                let c = &r.config;
                b_info.push((
                    "sched_params",
                    Json::Obj(alloc::vec![
                        ("weight", Json::Num(c.cpu_weight.into())),
                        ("cap", Json::Num(c.cap.into())),
                    ]),
                ));
                b_info.push((
                    "type.pv",
                    Json::Obj(alloc::vec![
                        ("kernel", Json::str(&c.kernel)),
                        ("cmdline", Json::Str(c.kernel_cmdline())),
                        (
                            "ramdisk",
                            c.ramdisk.as_deref().map_or(Json::Null, Json::str),
                        ),
                    ]),
                ));
                config.push((
                    "c_info",
                    Json::Obj(alloc::vec![
                        ("type", Json::str("pv")),
                        ("name", Json::str(name))
                    ]),
                ));
                config.push(("b_info", Json::Obj(b_info)));
                let strs = |v: &[String]| Json::Arr(v.iter().map(|s| Json::str(s)).collect());
                config.push(("disks", strs(&c.disks)));
                config.push(("nics", strs(&c.vifs)));
                config.push(("on_poweroff", Json::str(c.on_poweroff.name())));
                config.push(("on_reboot", Json::str(c.on_reboot.name())));
                config.push(("on_crash", Json::str(c.on_crash.name())));
            }
            None => {
                config.push((
                    "c_info",
                    Json::Obj(alloc::vec![
                        ("type", Json::str("pv")),
                        ("name", Json::str(name))
                    ]),
                ));
                config.push(("b_info", Json::Obj(b_info)));
            }
        }
        Json::Obj(alloc::vec![
            ("domid", Json::Num(info.domain.0.into())),
            ("config", Json::Obj(config)),
        ])
    }

    pub(super) fn info(&mut self, argv: &[&str], out: &mut dyn Write) -> XlResult {
        let p = args::parse(argv, INFO_OPTS).map_err(|e| format!("info: {e}"))?;
        if !p.positional.is_empty() {
            return Err(String::from("info: wrong arguments"));
        }
        let ph = self
            .hv
            .physinfo()
            .map_err(|e| format!("info: cannot get host information (sysctl physinfo): {e}"))?;
        let (major, minor) = self
            .hv
            .xen_version()
            .map_err(|e| format!("info: cannot get the hypervisor version: {e}"))?;
        let doms = self
            .all_domains()
            .map_err(|e| format!("info: cannot list the domains: {e}"))?;
        let dom_pages = doms
            .iter()
            .fold(0u64, |sum, (_, i)| sum.saturating_add(i.tot_pages));
        let xen_pages = ph
            .total_pages
            .saturating_sub(ph.free_pages)
            .saturating_sub(dom_pages);
        let per_domain: Vec<String> = doms
            .iter()
            .map(|(n, i)| format!("{n}={}", mem_mib(i)))
            .collect();
        let fields: Vec<(&'static str, Json)> = alloc::vec![
            ("host", Json::str("dom0")),
            ("nr_cpus", Json::Num(ph.nr_cpus.into())),
            ("max_cpu_id", Json::Num(ph.max_cpu_id.into())),
            ("nr_nodes", Json::Num(ph.nr_nodes.into())),
            ("cores_per_socket", Json::Num(ph.cores_per_socket.into())),
            ("threads_per_core", Json::Num(ph.threads_per_core.into())),
            ("cpu_mhz", Json::Num((ph.cpu_khz / 1000).into())),
            ("total_memory", Json::Num(ph.total_pages / 256)),
            ("free_memory", Json::Num(ph.free_pages / 256)),
            ("xen_memory", Json::Num(xen_pages / 256)),
            ("domain_memory", Json::Str(per_domain.join(" "))),
            ("xen_major", Json::Num(major.into())),
            ("xen_minor", Json::Num(minor.into())),
            ("xen_version", Json::Str(format!("{major}.{minor}"))),
            (
                "xen_caps",
                Json::str(guest_abi::version::XEN_CAPABILITIES_X86_64_PV)
            ),
            ("xen_pagesize", Json::Num(4096)),
        ];
        if p.has(INFO_OPTS, "json") {
            let mut fields = fields;
            // Per-domain memory as a structure rather than the text line.
            fields.retain(|(k, _)| *k != "domain_memory");
            let domains = doms
                .iter()
                .map(|(n, i)| {
                    Json::Obj(alloc::vec![
                        ("name", Json::str(n)),
                        ("domid", Json::Num(i.domain.0.into())),
                        ("memory", Json::Num(mem_mib(i))),
                    ])
                })
                .collect();
            fields.push(("domains", Json::Arr(domains)));
            let _ = out.write_str(&Json::Obj(fields).render());
            return Ok(());
        }
        for (k, v) in &fields {
            let _ = match v {
                Json::Str(s) => writeln!(out, "{k:<23}: {s}"),
                Json::Num(n) => writeln!(out, "{k:<23}: {n}"),
                _ => Ok(()),
            };
        }
        Ok(())
    }
}
