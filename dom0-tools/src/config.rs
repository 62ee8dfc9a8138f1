//! xl.cfg domain configuration files (the subset a PV guest of ours needs).
//!
//! Syntax, as xl's: `key = value` settings, one per line or separated by `;` (a trailing `;`
//! is fine); values are "double-quoted" or 'single-quoted' strings (escapes `\\ \" \' \n \t`
//! in double quotes), integers (decimal or `0x` hex) or `[lists, of, values]` that may span
//! lines; `#` starts a comment; blank lines are ignored. As in xl, a quoted number is accepted
//! where a number is expected (`memory = "16"`).
//!
//! Settings: `name` (mandatory), `type` (only `"pv"`), `kernel` (mandatory: a path in dom0's
//! initrd), `ramdisk`, `cmdline`, or `root` + `extra` (the command line is `root=<root>
//! <extra>`), `memory` (MiB, default [`DEFAULT_MEMORY_MIB`] = 16: our guests are tiny, where
//! xl's default is 128), `maxmem` (MiB, default = memory), `vcpus` (default 1), `maxvcpus`
//! (default = vcpus; the domain starts with `vcpus` online, the guest may bring up the others,
//! up to `maxvcpus`, when `xl vcpu-set` asks), `cpus` and `cpus_soft` (the vCPUs' hard and
//! soft affinity: a CPU list, `"0-3,5,^1"` or `"all"`, for every vCPU, or a list of them,
//! one per vCPU: [`CpuAffinity`], [`crate::cpumap`]), `cpu_weight` (1–65535, default 256),
//! `cap` (percent of one CPU, 0 = no cap), `on_poweroff`/`on_reboot`/`on_crash`/`on_watchdog` (`destroy`, `restart`,
//! `preserve`; Xen's `rename-restart`, `coredump-*` and `soft-reset` are recognised and refused
//! as unsupported), and `disk`/`vif` (lists of strings, stored for the split drivers).
//! Anything else, a setting given twice, or a value of the wrong type or out of range is a
//! [`ConfigError`].
//!
//! Bounds (dom0's heap is small and fixed, and a config is whatever a user wrote): a file of
//! at most [`MAX_CONFIG_BYTES`], at most [`MAX_SETTINGS`] settings (overrides included),
//! names of at most [`MAX_KEY_LEN`] bytes, values of at most [`MAX_VALUE_LEN`], lists of at
//! most [`MAX_LIST_ITEMS`]; each is an error naming the limit. Parsing is one pass over the
//! text, keeping one token of look-ahead, with duplicate names found in a map: linear time,
//! and memory bounded by the parsed settings themselves.
//!
//! `xl create <cfg> KEY=VALUE...` overrides: see [`DomainConfig::parse_with_overrides`].

pub mod disk;
mod get;
mod lexer;
mod limits;
mod parse;
mod validate;
pub mod vif;

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;

use crate::cpumap::CpuList;

pub use limits::{
    DEFAULT_MEMORY_MIB, DEFAULT_WEIGHT, MAX_CMDLINE_LEN, MAX_CONFIG_BYTES, MAX_KEY_LEN,
    MAX_LIST_ITEMS, MAX_MEMORY_MIB, MAX_NAME_LEN, MAX_SETTINGS, MAX_VALUE_LEN, MAX_VCPUS,
    MAX_WEIGHT, OVERRIDES_FILE,
};
pub use validate::check_name;

use parse::{parse_override, parse_settings, too_many_settings, utf8};
use validate::build;

/// A rejected configuration: `file:line: reason` (`file: reason` when no line applies).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: String,
    /// 1-based; 0 when the error is about the file as a whole (e.g. a missing setting).
    pub line: u32,
    pub reason: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.file, self.reason)
        } else {
            write!(f, "{}:{}: {}", self.file, self.line, self.reason)
        }
    }
}

fn err(file: &str, line: u32, reason: String) -> ConfigError {
    ConfigError {
        file: file.to_string(),
        line,
        reason,
    }
}

/// What to do when a domain shuts down for some reason (recorded; xl semantics).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShutdownAction {
    Destroy,
    Restart,
    Preserve,
    RenameRestart,
    CoredumpDestroy,
    CoredumpRestart,
    SoftReset,
}

impl ShutdownAction {
    /// The action's name in xl.cfg.
    pub fn name(self) -> &'static str {
        match self {
            Self::Destroy => "destroy",
            Self::Restart => "restart",
            Self::Preserve => "preserve",
            Self::RenameRestart => "rename-restart",
            Self::CoredumpDestroy => "coredump-destroy",
            Self::CoredumpRestart => "coredump-restart",
            Self::SoftReset => "soft-reset",
        }
    }

    /// Whether this toolstack can carry the action out.
    pub fn supported(self) -> bool {
        matches!(self, Self::Destroy | Self::Restart | Self::Preserve)
    }

    fn from_name(s: &str) -> Option<Self> {
        Some(match s {
            "destroy" => Self::Destroy,
            "restart" => Self::Restart,
            "preserve" => Self::Preserve,
            "rename-restart" => Self::RenameRestart,
            "coredump-destroy" => Self::CoredumpDestroy,
            "coredump-restart" => Self::CoredumpRestart,
            "soft-reset" => Self::SoftReset,
            _ => return None,
        })
    }
}

/// A validated domain configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DomainConfig {
    pub name: String,
    /// Path of the kernel in dom0's initrd.
    pub kernel: String,
    pub ramdisk: Option<String>,
    pub cmdline: Option<String>,
    pub root: Option<String>,
    pub extra: Option<String>,
    /// MiB.
    pub memory: u64,
    /// MiB, >= memory.
    pub maxmem: u64,
    pub vcpus: u32,
    /// >= vcpus.
    pub maxvcpus: u32,
    pub on_poweroff: ShutdownAction,
    pub on_reboot: ShutdownAction,
    pub on_crash: ShutdownAction,
    pub on_watchdog: ShutdownAction,
    /// Credit scheduler weight.
    pub cpu_weight: u32,
    /// Credit scheduler cap in percent of one CPU (0 = none).
    pub cap: u32,
    /// `disk = [...]` specs, stored for the block split driver.
    pub disks: Vec<String>,
    /// `vif = [...]` specs, stored for the network split driver.
    pub vifs: Vec<String>,
    /// `cpus`: the vCPUs' hard affinity (none: every CPU).
    pub cpus: Option<CpuAffinity>,
    /// `cpus_soft`: the vCPUs' soft affinity (none: every CPU).
    pub cpus_soft: Option<CpuAffinity>,
}

/// `cpus`/`cpus_soft` as xl.cfg gives them: one CPU list for every vCPU (`cpus = "0-3,^1"`),
/// or a list of them, element `i` for vCPU `i` (`cpus = ["2", "3-5"]`; vCPUs beyond the list
/// are not pinned).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CpuAffinity {
    Every(CpuList),
    PerVcpu(Vec<CpuList>),
}

impl CpuAffinity {
    /// The list for vCPU `vcpu`, if it has one.
    pub fn for_vcpu(&self, vcpu: u32) -> Option<&CpuList> {
        match self {
            CpuAffinity::Every(l) => Some(l),
            CpuAffinity::PerVcpu(v) => v.get(vcpu as usize),
        }
    }

    /// Every list it holds.
    pub fn lists(&self) -> &[CpuList] {
        match self {
            CpuAffinity::Every(l) => core::slice::from_ref(l),
            CpuAffinity::PerVcpu(v) => v,
        }
    }
}

impl DomainConfig {
    /// Parses and validates `text`, read from `file` (used in error messages only).
    pub fn parse(file: &str, text: &str) -> Result<Self, ConfigError> {
        let settings = parse_settings(file, text)?;
        build(file, &settings)
    }

    /// Parses `text` as [`parse`](Self::parse), then applies `KEY=VALUE` overrides as xl
    /// does for the words after the config file: each replaces the file's setting of that key
    /// (or adds one). VALUE is in config syntax (`memory=32`, `extra="a b"`, `disk=['x']`);
    /// for convenience at a shell whose quotes were already removed, a VALUE that is not a
    /// valid config value is taken as a plain string (`extra=test=pong peer=1`). Errors in an
    /// override name [`OVERRIDES_FILE`] and the override's position (1-based) as the line.
    pub fn parse_with_overrides(
        file: &str,
        text: &str,
        overrides: &[&str],
    ) -> Result<Self, ConfigError> {
        let mut settings = parse_settings(file, text)?;
        for (i, ov) in overrides.iter().enumerate() {
            let line = u32::try_from(i + 1).unwrap_or(u32::MAX);
            let mut s = parse_override(ov, line)?;
            s.file = Some(OVERRIDES_FILE.to_string());
            settings.retain(|old| old.key != s.key);
            if settings.len() >= MAX_SETTINGS {
                return Err(err(OVERRIDES_FILE, line, too_many_settings(&s.key)));
            }
            settings.push(s);
        }
        build(file, &settings)
    }

    /// As [`parse_with_overrides`](Self::parse_with_overrides), for raw file contents.
    pub fn parse_bytes_with_overrides(
        file: &str,
        bytes: &[u8],
        overrides: &[&str],
    ) -> Result<Self, ConfigError> {
        let text = utf8(file, bytes)?;
        Self::parse_with_overrides(file, text, overrides)
    }

    /// As [`parse`](Self::parse), for raw file contents.
    pub fn parse_bytes(file: &str, bytes: &[u8]) -> Result<Self, ConfigError> {
        Self::parse(file, utf8(file, bytes)?)
    }

    /// The kernel command line: `cmdline`, else `root=<root> <extra>` (either part optional).
    pub fn kernel_cmdline(&self) -> String {
        if let Some(c) = &self.cmdline {
            return c.clone();
        }
        let mut s = String::new();
        if let Some(r) = &self.root {
            s.push_str("root=");
            s.push_str(r);
        }
        if let Some(e) = &self.extra {
            if !s.is_empty() {
                s.push(' ');
            }
            s.push_str(e);
        }
        s
    }

    /// Memory in 4 KiB pages (`None` if that does not fit in 64 bits).
    pub fn memory_pages(&self) -> Option<u64> {
        self.memory.checked_mul(256)
    }

    /// Memory in KiB (`None` if that does not fit in 64 bits).
    pub fn memory_kib(&self) -> Option<u64> {
        self.memory.checked_mul(1024)
    }

    /// The maximum memory in KiB (`None` if that does not fit in 64 bits).
    pub fn maxmem_kib(&self) -> Option<u64> {
        self.maxmem.checked_mul(1024)
    }

    /// Checks the sizes again, as parsing did: `memory` and `maxmem` within 1 to
    /// [`MAX_MEMORY_MIB`] and `maxmem >= memory` (a config kept for a restart may have been
    /// changed since, e.g. by `xl mem-max`). The error names the setting and the limit.
    pub fn check_sizes(&self) -> Result<(), String> {
        for (key, v) in [("memory", self.memory), ("maxmem", self.maxmem)] {
            if !(1..=MAX_MEMORY_MIB).contains(&v) {
                return Err(format!(
                    "{key} = {v} MiB: must be between 1 and {MAX_MEMORY_MIB} MiB"
                ));
            }
        }
        if self.maxmem < self.memory {
            return Err(format!(
                "maxmem = {} MiB: must be at least memory ({} MiB)",
                self.maxmem, self.memory
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
