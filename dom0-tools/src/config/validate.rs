//! Validation: [`build`] turns parsed settings into a [`DomainConfig`], checking each
//! setting's type and range, what is mandatory and what may not be combined; and
//! [`check_name`] for domain names.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use super::get::{get_cpu_affinity, get_range, get_string, get_string_list};
use super::parse::{src, Setting};
use super::{
    err, ConfigError, CpuAffinity, DomainConfig, ShutdownAction, DEFAULT_MEMORY_MIB,
    DEFAULT_WEIGHT, MAX_CMDLINE_LEN, MAX_MEMORY_MIB, MAX_NAME_LEN, MAX_VCPUS, MAX_WEIGHT,
};

/// Checks a domain name: 1–63 characters from `A-Za-z0-9_.-`, not starting with `-` and not
/// all digits (xl takes an all-digit argument as a domain id).
pub fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("must not be empty".to_string());
    }
    if name.len() > MAX_NAME_LEN {
        return Err(format!(
            "too long ({} characters, at most {MAX_NAME_LEN})",
            name.len()
        ));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')))
    {
        return Err(format!(
            "{name:?} contains {c:?} (allowed: letters, digits, '_', '.', '-')"
        ));
    }
    if name.starts_with('-') {
        return Err(format!("{name:?} must not start with '-'"));
    }
    if name.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "{name:?} is all digits (it would read as a domain id)"
        ));
    }
    Ok(())
}

pub(super) fn build(file: &str, settings: &[Setting]) -> Result<DomainConfig, ConfigError> {
    let mut name = None;
    let mut kernel = None;
    let mut cfg = DomainConfig {
        name: String::new(),
        kernel: String::new(),
        ramdisk: None,
        cmdline: None,
        root: None,
        extra: None,
        memory: DEFAULT_MEMORY_MIB,
        maxmem: 0,
        vcpus: 1,
        maxvcpus: 0,
        on_poweroff: ShutdownAction::Destroy,
        on_reboot: ShutdownAction::Restart,
        on_crash: ShutdownAction::Destroy,
        on_watchdog: ShutdownAction::Destroy,
        cpu_weight: DEFAULT_WEIGHT,
        cap: 0,
        disks: Vec::new(),
        vifs: Vec::new(),
        cpus: None,
        cpus_soft: None,
    };
    let mut maxmem = None;
    let mut maxvcpus = None;
    let mib = "a number of MiB";
    for s in settings {
        let at = |reason: String| err(src(file, s), s.line, format!("{}: {reason}", s.key));
        match s.key.as_str() {
            "name" => {
                let n = get_string(file, s)?;
                check_name(&n).map_err(at)?;
                name = Some(n);
            }
            "type" => {
                let t = get_string(file, s)?;
                if t != "pv" {
                    return Err(at(format!("only \"pv\" guests are supported, got {t:?}")));
                }
            }
            "kernel" => {
                let k = get_string(file, s)?;
                if k.is_empty() {
                    return Err(at("must not be empty".to_string()));
                }
                kernel = Some(k);
            }
            "ramdisk" => cfg.ramdisk = Some(get_string(file, s)?),
            "cmdline" => cfg.cmdline = Some(get_string(file, s)?),
            "root" => cfg.root = Some(get_string(file, s)?),
            "extra" => cfg.extra = Some(get_string(file, s)?),
            "memory" => cfg.memory = get_range(file, s, mib, " MiB", 1, MAX_MEMORY_MIB)?,
            "maxmem" => maxmem = Some((get_range(file, s, mib, " MiB", 1, MAX_MEMORY_MIB)?, s)),
            "vcpus" => {
                cfg.vcpus = get_range(file, s, "a number of vCPUs", "", 1, MAX_VCPUS.into())? as u32
            }
            "maxvcpus" => {
                maxvcpus = Some((
                    get_range(file, s, "a number of vCPUs", "", 1, MAX_VCPUS.into())? as u32,
                    s,
                ))
            }
            "on_poweroff" | "on_reboot" | "on_crash" | "on_watchdog" => {
                let v = get_string(file, s)?;
                let a = ShutdownAction::from_name(&v).ok_or_else(|| {
                    at(format!(
                        "unknown action {v:?} (destroy, restart, preserve, rename-restart, \
                         coredump-destroy, coredump-restart, soft-reset)"
                    ))
                })?;
                if !a.supported() {
                    return Err(at(format!(
                        "action {v:?} is not supported by this toolstack \
                         (supported: destroy, restart, preserve)"
                    )));
                }
                match s.key.as_str() {
                    "on_poweroff" => cfg.on_poweroff = a,
                    "on_reboot" => cfg.on_reboot = a,
                    "on_crash" => cfg.on_crash = a,
                    _ => cfg.on_watchdog = a,
                }
            }
            "cpu_weight" => {
                cfg.cpu_weight = get_range(file, s, "a weight", "", 1, MAX_WEIGHT.into())? as u32
            }
            "cap" => cfg.cap = get_range(file, s, "a percentage", "%", 0, 100 * 64)? as u32,
            "cpus" => cfg.cpus = Some(get_cpu_affinity(file, s)?),
            "cpus_soft" => cfg.cpus_soft = Some(get_cpu_affinity(file, s)?),
            "disk" => cfg.disks = get_string_list(file, s)?,
            "vif" => cfg.vifs = get_string_list(file, s)?,
            _ => return Err(at("unknown setting".to_string())),
        }
    }
    cfg.name = name.ok_or_else(|| {
        err(
            file,
            0,
            "name: missing (every domain needs a name)".to_string(),
        )
    })?;
    cfg.kernel = kernel.ok_or_else(|| {
        err(
            file,
            0,
            "kernel: missing (a PV guest needs kernel = \"/boot/...\")".to_string(),
        )
    })?;
    cfg.maxmem = match maxmem {
        Some((m, s)) if m < cfg.memory => {
            return Err(err(
                src(file, s),
                s.line,
                format!(
                    "maxmem: must be at least memory ({} MiB), got {m}",
                    cfg.memory
                ),
            ))
        }
        Some((m, _)) => m,
        None => cfg.memory,
    };
    cfg.maxvcpus = match maxvcpus {
        Some((m, s)) if m < cfg.vcpus => {
            return Err(err(
                src(file, s),
                s.line,
                format!("maxvcpus: must be at least vcpus ({}), got {m}", cfg.vcpus),
            ))
        }
        Some((m, _)) => m,
        None => cfg.vcpus,
    };
    // A list per vCPU has at most one list for each.
    for s in settings
        .iter()
        .filter(|s| matches!(s.key.as_str(), "cpus" | "cpus_soft"))
    {
        let aff = if s.key == "cpus" {
            &cfg.cpus
        } else {
            &cfg.cpus_soft
        };
        if let Some(CpuAffinity::PerVcpu(v)) = aff {
            if v.len() > cfg.maxvcpus as usize {
                return Err(err(
                    src(file, s),
                    s.line,
                    format!(
                        "{}: {} CPU lists (one per vCPU) for {} vCPU{} (maxvcpus = {})",
                        s.key,
                        v.len(),
                        cfg.maxvcpus,
                        if cfg.maxvcpus == 1 { "" } else { "s" },
                        cfg.maxvcpus
                    ),
                ));
            }
        }
    }
    if cfg.cmdline.is_some() && (cfg.root.is_some() || cfg.extra.is_some()) {
        let at = settings.iter().find(|s| s.key == "cmdline");
        return Err(err(
            at.map_or(file, |s| src(file, s)),
            at.map_or(0, |s| s.line),
            "cmdline: cannot be combined with root or extra".to_string(),
        ));
    }
    let cmdline = cfg.kernel_cmdline();
    if cmdline.len() > MAX_CMDLINE_LEN || cmdline.contains('\0') {
        let at = settings
            .iter()
            .find(|s| matches!(s.key.as_str(), "cmdline" | "extra" | "root"));
        return Err(err(
            at.map_or(file, |s| src(file, s)),
            at.map_or(0, |s| s.line),
            format!(
                "kernel command line too long or has a NUL ({} bytes, at most {MAX_CMDLINE_LEN})",
                cmdline.len()
            ),
        ));
    }
    Ok(cfg)
}
