//! `xl create`: config (+ overrides) → checks → createdomain → vCPU affinity (`cpus`,
//! `cpus_soft`) → memory → build → pin → vCPU → unpause (unless `-p`).
//!
//! Everything that can be checked before the domain exists is (config, name, kernel, ramdisk,
//! layout, free memory); after `createdomain`, any failure destroys the domain again.
//!
//! dom0's heap needed does not grow with the domain: the builder keeps the MFNs of the initial
//! region only (at most [`MAX_REGION_MIB`] of it), and the rest of the domain's memory is
//! populated a batch at a time while the p2m list is written ([`ForeignMemory`]). The
//! kernel is read in place, unless it is a bzImage: then its decompressed ELF is held on
//! the heap while the domain is built, within what the heap has free
//! ([`KERNEL_HEAP_HEADROOM`]).

use super::args::{self, Opt};
use super::{DomainRecord, Toolstack, XlResult, DOM0_NAME};
use crate::build::{build_pv, check_features, fill_vcpu_context, BuildError, BuildParams, Layout};
use crate::config::{CpuAffinity, DomainConfig, MAX_MEMORY_MIB};
use crate::cpumap::{CpuList, CpuMap};
use crate::elf::ElfImage;
use crate::hv::{ForeignMemory, Hypervisor};
use alloc::borrow::Cow;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write;
use guest_abi::arch::VcpuGuestContext;
use guest_abi::domctl::*;
use guest_abi::errno::Errno;
use guest_abi::mmu::{MmuextOp, MMUEXT_PIN_L4_TABLE};
use guest_abi::types::DomId;

/// Where `xl create <name>` also looks for configs.
pub const CONFIG_DIR: &str = "/etc/xen/";
/// The largest initial region (kernel, ramdisk, p2m list, page tables, boot stack) `xl
/// create` builds, in MiB: the builder keeps its MFN list on dom0's heap (8 bytes a page,
/// here at most 256 KiB). A 4 GiB guest's region is about 20 MiB.
pub const MAX_REGION_MIB: u64 = 128;
/// dom0's heap left free while a bzImage's kernel is decompressed (for the rest of `xl
/// create` and for xenstored): the decompression may take what the heap has beyond this.
pub const KERNEL_HEAP_HEADROOM: usize = 2 << 20;
/// vCPUs this hypervisor runs per domain (its `domain::MAX_VCPUS`; createdomain refuses more
/// with EINVAL, which says nothing about the limit, so `xl create` checks first).
pub const MAX_VCPUS_PER_DOMAIN: u32 = 8;

/// `xl create`'s options.
const OPTS: &[Opt] = &[
    Opt::flag('p', ""),
    Opt::with_value('f', ""),
    Opt::flag('c', ""),
    Opt::flag('q', ""),
];

/// What `xl create` checked before the domain existed: its images and their layout.
struct Images<'a> {
    kernel: &'a ElfImage<'a>,
    ramdisk: Option<&'a [u8]>,
    /// The hypervisor's XENFEAT submap 0.
    features: u32,
    layout: Layout,
    /// The host's CPU numbers (`max_cpu_id + 1`: how wide affinity maps are).
    host_cpus: u32,
    /// The host's online CPUs.
    nr_cpus: u32,
    /// Each vCPU's hard and soft affinity from `cpus`/`cpus_soft` (`None`: not set).
    pins: Vec<Pin<'a>>,
}

/// A vCPU's affinity from the config: each map with the list it came from.
#[derive(Clone, Copy)]
struct Pin<'a> {
    hard: Option<(&'a CpuList, CpuMap)>,
    soft: Option<(&'a CpuList, CpuMap)>,
}

/// Each vCPU's `cpus`/`cpus_soft` for a host with CPUs `0..host_cpus`; an error names the
/// setting, the vCPU of a per-vCPU list and the CPU the host lacks.
fn config_pins(cfg: &DomainConfig, host_cpus: u32) -> Result<Vec<Pin<'_>>, String> {
    fn resolve<'c>(
        key: &str,
        aff: &'c Option<CpuAffinity>,
        v: u32,
        host_cpus: u32,
    ) -> Result<Option<(&'c CpuList, CpuMap)>, String> {
        let Some((a, l)) = aff.as_ref().and_then(|a| a.for_vcpu(v).map(|l| (a, l))) else {
            return Ok(None);
        };
        match l.for_host(host_cpus) {
            Ok(m) => Ok(Some((l, m))),
            Err(e) => Err(match a {
                CpuAffinity::Every(_) => format!("{key}: {e}"),
                CpuAffinity::PerVcpu(_) => format!("{key}: vCPU {v}: {e}"),
            }),
        }
    }
    (0..cfg.maxvcpus)
        .map(|v| {
            Ok(Pin {
                hard: resolve("cpus", &cfg.cpus, v, host_cpus)?,
                soft: resolve("cpus_soft", &cfg.cpus_soft, v, host_cpus)?,
            })
        })
        .collect()
}

impl<H: Hypervisor> Toolstack<'_, H> {
    /// `xl create [-f] <cfg> [-p] [KEY=VALUE...]`.
    pub(super) fn create_cmd(&mut self, argv: &[&str], out: &mut dyn Write) -> XlResult {
        let p = args::parse(argv, OPTS).map_err(|e| format!("create: {e}"))?;
        let mut pos = p.positional.iter().copied();
        let path = match p.value_of(OPTS, "f") {
            Some(f) => f,
            None => pos
                .next()
                .filter(|a| !args::is_key_value(a))
                .ok_or_else(|| String::from("create: wrong arguments: no config file given"))?,
        };
        let overrides: Vec<&str> = pos.collect();
        if let Some(bad) = overrides.iter().find(|a| !args::is_key_value(a)) {
            return Err(format!(
                "create: wrong arguments: \"{bad}\" after the config file is not KEY=VALUE"
            ));
        }
        let id = self.create(path, &overrides, p.has(OPTS, "p"), out)?;
        if p.has(OPTS, "c") {
            // As `xl console`: the ring is served from creation.
            self.console_attach(id, out)
                .map_err(|e| format!("create: {e}"))?;
        }
        Ok(())
    }

    /// Creates a domain from config file `path` with `overrides`; returns its id.
    pub(super) fn create(
        &mut self,
        path: &str,
        overrides: &[&str],
        paused: bool,
        out: &mut dyn Write,
    ) -> Result<DomId, String> {
        let _ = writeln!(out, "Parsing config from {path}");
        let initrd = self.initrd;
        // dom0's storage first (a config there replaces the initrd's of the same name).
        let stored = self.stored_config(path)?;
        let text = stored
            .as_deref()
            .or_else(|| initrd.get(path))
            .or_else(|| initrd.get(&format!("{CONFIG_DIR}{path}")))
            .ok_or_else(|| {
                let storage = if self.storage.is_some() {
                    "on dom0's storage nor "
                } else {
                    ""
                };
                format!(
                    "config file \"{path}\" not found {storage}in dom0's initrd (nor under {CONFIG_DIR})"
                )
            })?;
        let cfg = DomainConfig::parse_bytes_with_overrides(path, text, overrides)
            .map_err(|e| format!("{e}"))?;
        self.create_from_config(cfg, paused, out)
    }

    /// Config `path` (or a name under [`CONFIG_DIR`]) from dom0's storage: `None` if there is
    /// no storage or no such file there; an error if the storage failed reading it.
    fn stored_config(&mut self, path: &str) -> Result<Option<alloc::vec::Vec<u8>>, String> {
        let (Some(storage), disks) = (self.storage.as_ref(), &mut self.disks) else {
            return Ok(None);
        };
        let full = if path.starts_with('/') {
            String::from(path)
        } else {
            format!("{CONFIG_DIR}{path}")
        };
        if !crate::fs::on_storage(&full) {
            return Ok(None);
        }
        match storage.read(disks, &full, crate::config::MAX_CONFIG_BYTES) {
            Ok(text) => Ok(Some(text)),
            Err(crate::fs::FsError::NotFound(_)) => Ok(None),
            Err(e) => Err(format!("config file \"{path}\": {e}")),
        }
    }

    /// Builds and starts (unless `paused`) a domain from a parsed config; returns its id.
    pub(super) fn create_from_config(
        &mut self,
        cfg: DomainConfig,
        paused: bool,
        out: &mut dyn Write,
    ) -> Result<DomId, String> {
        let initrd = self.initrd;
        self.refresh();
        if cfg.name == DOM0_NAME {
            return Err(format!(
                "domain \"{DOM0_NAME}\" already exists (domain 0); names must be unique"
            ));
        }
        if let Some(r) = self.records.iter().find(|r| r.name == cfg.name) {
            return Err(format!(
                "domain \"{}\" already exists (domain {}); names must be unique",
                cfg.name, r.id.0
            ));
        }
        // Its disks, before anything is built: each must exist in dom0 and be free to give.
        self.vbd_check_config(u16::MAX, &cfg.disks)
            .map_err(|e| format!("domain \"{}\": {e}", cfg.name))?;
        for v in self
            .vif_check_config(u16::MAX, &cfg.vifs)
            .map_err(|e| format!("domain \"{}\": {e}", cfg.name))?
        {
            for n in &v.spec.notes {
                let _ = writeln!(out, "xl: domain \"{}\": note: {n}", cfg.name);
            }
        }
        let kernel = initrd
            .get(&cfg.kernel)
            .ok_or_else(|| format!("kernel \"{}\" not found in dom0's initrd", cfg.kernel))?;
        let kernel = self.kernel_elf(&cfg.kernel, kernel)?;
        let img =
            ElfImage::parse(&kernel).map_err(|e| format!("kernel \"{}\": {e}", cfg.kernel))?;
        let ramdisk = match &cfg.ramdisk {
            Some(r) => Some(
                initrd
                    .get(r)
                    .ok_or_else(|| format!("ramdisk \"{r}\" not found in dom0's initrd"))?,
            ),
            None => None,
        };
        // What the hypervisor offers dom0, less what only dom0 gets: the domain's features.
        let features = self
            .hv
            .features()
            .map_err(|e| format!("cannot get the hypervisor's features (xen_version): {e}"))?
            & !(1 << guest_abi::version::XENFEAT_DOM0);
        check_features(&img, features).map_err(|e| format!("kernel \"{}\": {e}", cfg.kernel))?;
        if cfg.maxvcpus > MAX_VCPUS_PER_DOMAIN {
            return Err(format!(
                "domain \"{}\": vcpus = {}, maxvcpus = {}: this hypervisor runs at most \
                 {MAX_VCPUS_PER_DOMAIN} vCPUs per domain",
                cfg.name, cfg.vcpus, cfg.maxvcpus
            ));
        }
        cfg.check_sizes()
            .map_err(|e| format!("domain \"{}\": {e}", cfg.name))?;
        let nr_pages = cfg.memory_pages().ok_or_else(|| {
            format!(
                "domain \"{}\": memory = {} MiB: must be at most {MAX_MEMORY_MIB} MiB",
                cfg.name, cfg.memory
            )
        })?;
        let ramdisk_len = ramdisk.map_or(0, |r| r.len() as u64);
        let layout = Layout::compute(&img, ramdisk_len, nr_pages, true, true).map_err(|e| {
            // The ramdisk's size is named: it is often what does not fit.
            let with = match ramdisk_len {
                0 => String::new(),
                n => format!(" with its {} KiB ramdisk", n.div_ceil(1024)),
            };
            format!(
                "domain \"{}\" does not fit in memory = {} MiB{with}: {e}",
                cfg.name, cfg.memory
            )
        })?;
        if layout.region_pages > MAX_REGION_MIB * 256 {
            return Err(format!(
                "domain \"{}\": its initial region (kernel, ramdisk, p2m list, page tables) \
                 would take {} MiB; xl builds regions of at most {MAX_REGION_MIB} MiB",
                cfg.name,
                layout.region_pages.div_ceil(256)
            ));
        }
        let phys = self
            .hv
            .physinfo()
            .map_err(|e| format!("cannot get the free memory (sysctl physinfo): {e}"))?;
        // The domain's pages plus its shared_info frame.
        if phys.free_pages < nr_pages.saturating_add(1) {
            return Err(format!(
                "not enough memory: domain needs {} MiB, {} MiB free",
                cfg.memory,
                phys.free_pages / 256
            ));
        }
        if cfg.maxmem.saturating_mul(256) > phys.total_pages {
            return Err(format!(
                "domain \"{}\": maxmem = {} MiB is more than the host's memory ({} MiB)",
                cfg.name,
                cfg.maxmem,
                phys.total_pages / 256
            ));
        }
        let max_cap = 100u64.saturating_mul(phys.nr_cpus.max(1).into());
        if u64::from(cfg.cap) > max_cap {
            return Err(format!(
                "domain \"{}\": cap = {}: must be 0 to {max_cap} (percent of the host's {} \
                 CPU{}; 0: no cap)",
                cfg.name,
                cfg.cap,
                phys.nr_cpus.max(1),
                if phys.nr_cpus > 1 { "s" } else { "" }
            ));
        }
        let host_cpus = phys
            .max_cpu_id
            .saturating_add(1)
            .clamp(1, crate::cpumap::MAX_CPUS);
        let pins =
            config_pins(&cfg, host_cpus).map_err(|e| format!("domain \"{}\": {e}", cfg.name))?;

        let mut create = DomctlCreateDomain {
            max_vcpus: cfg.maxvcpus,
            max_evtchn_port: 1023,
            max_grant_frames: 32,
            max_maptrack_frames: 1024,
            ..Default::default()
        };
        create.grant_opts = 1; // grant table v1
        let mut op = XenDomctl::with_payload(XEN_DOMCTL_CREATEDOMAIN, DomId(0), &create);
        self.hv
            .domctl(&mut op)
            .map_err(|e| format!("cannot create domain \"{}\" (createdomain): {e}", cfg.name))?;
        let domid = op.domain;
        let images = Images {
            kernel: &img,
            ramdisk,
            features,
            layout,
            host_cpus,
            nr_cpus: phys.nr_cpus.max(1),
            pins,
        };
        match self.setup(domid, &cfg, &images, paused) {
            Ok(()) => {
                let what = if paused { "Created paused" } else { "Started" };
                let _ = writeln!(out, "{what} domain {} (id={})", cfg.name, domid.0);
                let started_ns = self.hv.now_ns();
                self.records.push(DomainRecord {
                    name: cfg.name.clone(),
                    id: domid,
                    config: cfg,
                    started_ns,
                    handled: false,
                });
                Ok(domid)
            }
            Err(why) => {
                self.xs_domain_gone(domid);
                let cleanup = match super::destroy_domain(&mut self.hv, domid) {
                    Ok(()) => String::new(),
                    Err(e) => format!(" (and destroying the half-built domain failed: {e})"),
                };
                Err(format!(
                    "cannot start domain \"{}\" (domain {}): {why}{cleanup}",
                    cfg.name, domid.0
                ))
            }
        }
    }

    /// Everything after createdomain; the caller destroys the domain on error.
    fn setup(
        &mut self,
        domid: DomId,
        cfg: &DomainConfig,
        images: &Images<'_>,
        paused: bool,
    ) -> Result<(), String> {
        let nr_pages = cfg
            .memory_pages()
            .ok_or_else(|| format!("memory = {} MiB: too large", cfg.memory))?;
        let memory_kib = cfg
            .memory_kib()
            .ok_or_else(|| format!("memory = {} MiB: too large", cfg.memory))?;
        let maxmem_kib = cfg
            .maxmem_kib()
            .ok_or_else(|| format!("maxmem = {} MiB: too large", cfg.maxmem))?;
        let hv = &mut self.hv;
        // createdomain already set max_vcpus; Xen 4.17 has no separate max_vcpus domctl.
        let mut op = XenDomctl::with_payload(
            XEN_DOMCTL_MAX_VCPUS,
            domid,
            &DomctlMaxVcpus { max: cfg.maxvcpus },
        );
        match hv.domctl(&mut op) {
            Ok(()) | Err(Errno::ENOSYS) => {}
            Err(e) => return Err(format!("max_vcpus {}: {e}", cfg.maxvcpus)),
        }
        // Each vCPU's affinity before anything runs (as libxl, before the domain is built).
        for (v, pin) in (0u32..).zip(images.pins.iter()) {
            if pin.hard.is_none() && pin.soft.is_none() {
                continue;
            }
            crate::hv::set_vcpu_affinity(
                &mut *hv,
                domid,
                v,
                pin.hard.map(|h| h.1),
                pin.soft.map(|s| s.1),
                false,
                images.host_cpus,
            )
            .map_err(|e| match (e, pin.hard) {
                (Errno::EINVAL, Some((l, _))) => format!(
                    "vCPU {v}: hard affinity {} (cpus) has no online CPU: {e}",
                    l.text()
                ),
                (e, _) => format!("vCPU {v}: setvcpuaffinity (cpus, cpus_soft): {e}"),
            })?;
        }
        let mut op = XenDomctl::with_payload(
            XEN_DOMCTL_MAX_MEM,
            domid,
            &DomctlMaxMem {
                max_memkb: maxmem_kib,
            },
        );
        hv.domctl(&mut op)
            .map_err(|e| format!("max_mem {} MiB: {e}", cfg.maxmem))?;
        let info = hv
            .domain_info(domid)
            .map_err(|e| format!("getdomaininfo: {e}"))?;
        // The domain's limit, as the hypervisor now has it, before any memory is given.
        if info.max_pages < nr_pages {
            return Err(format!(
                "the hypervisor limits the domain to {} pages, fewer than memory = {} MiB \
                 ({nr_pages} pages)",
                info.max_pages, cfg.memory
            ));
        }
        let store = evtchn(hv, domid)?;
        let console = evtchn(hv, domid)?;
        let cmdline = super::peer::connect(hv, domid, &cfg.kernel_cmdline())?;

        let params = BuildParams {
            kernel: images.kernel,
            initrd: images.ramdisk,
            cmdline: &cmdline,
            privileged: false,
            shared_info_maddr: info.shared_info_frame << 12,
            store_evtchn: Some(store),
            console_evtchn: Some(console),
            dom0_console: None,
            hv_features: images.features,
        };
        // The region populated first (its MFNs kept), the rest while the p2m is written.
        let build_error = |e: BuildError| match e {
            BuildError::Populate { .. } => format!("{e}"),
            e => format!("building the domain: {e}"),
        };
        let result = {
            let mut mem =
                ForeignMemory::populate(&mut *hv, domid, nr_pages, images.layout.region_pages)
                    .map_err(build_error)?;
            let result = build_pv(&mut mem, &params).map_err(build_error)?;
            mem.finish().map_err(build_error)?;
            result
        };
        hv.mmuext_foreign(domid, &MmuextOp::new(MMUEXT_PIN_L4_TABLE, result.l4_mfn, 0))
            .map_err(|e| format!("pinning the L4 (mfn {:#x}): {e}", result.l4_mfn))?;
        let mut ctx = VcpuGuestContext::default();
        fill_vcpu_context(&result, &mut ctx);
        hv.set_vcpu_context(domid, 0, &ctx)
            .map_err(|e| format!("setvcpucontext: {e}"))?;
        let store = result.store_mfn.zip((store != 0).then_some(store));
        let console = result.console_mfn.zip((console != 0).then_some(console));
        self.xs_domain_up(&super::xenstore_cmds::NewDomain {
            domid,
            name: &cfg.name,
            memory_kib,
            maxmem_kib,
            store,
            console,
            vcpus: cfg.maxvcpus,
            online_vcpus: cfg.vcpus,
        })?;
        for spec in self.vbd_check_config(domid.0, &cfg.disks)? {
            self.vbd_up(domid, spec)?;
        }
        for v in self.vif_check_config(domid.0, &cfg.vifs)? {
            self.vif_up(domid, v)?;
        }
        self.apply_sched_params(domid, cfg, images.nr_cpus)?;
        if !paused {
            let mut op = XenDomctl::new(XEN_DOMCTL_UNPAUSEDOMAIN, domid);
            self.hv
                .domctl(&mut op)
                .map_err(|e| format!("unpausedomain: {e}"))?;
        }
        Ok(())
    }
}

impl<H: Hypervisor> Toolstack<'_, H> {
    /// The ELF of the kernel at `path` (`bytes`): a plain ELF as it is, a bzImage's payload
    /// decompressed, as Xen's libxc loads kernels. The decompressed kernel and the
    /// decompressor's buffers live in dom0's heap: they may take what it has free beyond
    /// [`KERNEL_HEAP_HEADROOM`] (as xenstored reports it), and a kernel needing more is
    /// refused naming both.
    fn kernel_elf<'k>(&self, path: &str, bytes: &'k [u8]) -> Result<Cow<'k, [u8]>, String> {
        use pv_builder::decompress::Limits;
        let free = self.xs.heap_free.map(|free| free());
        let mut limits = Limits::default();
        if let Some(free) = free {
            limits.max_memory = limits
                .max_memory
                .min(free.saturating_sub(KERNEL_HEAP_HEADROOM));
        }
        pv_builder::kernel::kernel_elf_within(bytes, limits).map_err(|e| match free {
            Some(free) if e.is_memory() => format!(
                "kernel \"{path}\": {e}: dom0's heap has {} KiB free, of which {} KiB may go to \
                 decompressing a kernel (dom0's heap grows with its memory: dom0_mem=)",
                free >> 10,
                limits.max_memory >> 10
            ),
            _ => format!("kernel \"{path}\": {e}"),
        })
    }

    /// The config's `cpu_weight` and `cap`, through the credit scheduler's putinfo.
    fn apply_sched_params(
        &mut self,
        domid: DomId,
        cfg: &DomainConfig,
        nr_cpus: u32,
    ) -> Result<(), String> {
        let cap = u16::try_from(cfg.cap).map_err(|_| format!("cap = {}: too large", cfg.cap))?;
        let weight = u16::try_from(cfg.cpu_weight)
            .map_err(|_| format!("cpu_weight = {}: too large", cfg.cpu_weight))?;
        let payload = DomctlSchedulerOp {
            sched_id: XEN_SCHEDULER_CREDIT,
            cmd: XEN_DOMCTL_SCHEDOP_PUTINFO,
            credit: DomctlSchedCredit { weight, cap },
            ..Default::default()
        };
        let mut op = XenDomctl::with_payload(XEN_DOMCTL_SCHEDULER_OP, domid, &payload);
        self.hv.domctl(&mut op).map_err(|e| match e {
            Errno::EINVAL => format!(
                "the credit scheduler refused cpu_weight = {} cap = {} (EINVAL; weight 1 to \
                 65535, cap 0 to {} percent of our {nr_cpus} CPU{})",
                cfg.cpu_weight,
                cfg.cap,
                100 * u64::from(nr_cpus),
                if nr_cpus == 1 { "" } else { "s" }
            ),
            e => format!("scheduler_op putinfo (cpu_weight, cap): {e}"),
        })
    }
}

/// An unbound event channel of `domid` for dom0, or port 0 when the hypervisor has none.
fn evtchn<H: Hypervisor>(hv: &mut H, domid: DomId) -> Result<u32, String> {
    match hv.evtchn_alloc_unbound(domid, DomId(0)) {
        Ok(p) => Ok(p),
        Err(Errno::ENOSYS) => Ok(0),
        Err(e) => Err(format!("evtchn alloc_unbound: {e}")),
    }
}
