//! Payload structures of the domctl commands.

use crate::types::{DomId, DomainHandle};
use bitflags::bitflags;
use static_assertions::{assert_eq_size, const_assert_eq};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// `createdomain` flag: an HVM guest.
pub const XEN_DOMCTL_CDF_HVM: u32 = 1 << 0;
/// `createdomain` flag: use hardware-assisted paging.
pub const XEN_DOMCTL_CDF_HAP: u32 = 1 << 1;
/// `createdomain` flag: S3 integrity.
pub const XEN_DOMCTL_CDF_S3_INTEGRITY: u32 = 1 << 2;
/// `createdomain` flag: out-of-sync shadows off.
pub const XEN_DOMCTL_CDF_OOS_OFF: u32 = 1 << 3;
/// `createdomain` flag: a xenstore domain.
pub const XEN_DOMCTL_CDF_XS_DOMAIN: u32 = 1 << 4;
/// `createdomain` flag: may use the IOMMU.
pub const XEN_DOMCTL_CDF_IOMMU: u32 = 1 << 5;
/// `createdomain` flag: nested virtualisation.
pub const XEN_DOMCTL_CDF_NESTED_VIRT: u32 = 1 << 6;
/// `createdomain` flag: expose the vPMU.
pub const XEN_DOMCTL_CDF_VPMU: u32 = 1 << 7;
/// `grant_opts`: mask of the grant-table version.
pub const XEN_DOMCTL_GRANT_VERSION_MASK: u32 = 0xf;

/// x86 domain configuration (`xen_arch_domainconfig`, 8 B).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
#[repr(C)]
pub struct XenArchDomainconfig {
    /// `XEN_X86_EMU_*` devices to emulate (0 for PV).
    pub emulation_flags: u32,
    /// `XEN_X86_MSR_RELAXED` etc.
    pub misc_flags: u32,
}

/// Payload of `XEN_DOMCTL_CREATEDOMAIN` (`xen_domctl_createdomain`, 64 B).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
#[repr(C)]
pub struct DomctlCreateDomain {
    /// Security label.
    pub ssidref: u32,
    /// Domain handle (UUID).
    pub handle: DomainHandle,
    /// `XEN_DOMCTL_CDF_*`.
    pub flags: u32,
    /// IOMMU options.
    pub iommu_opts: u32,
    /// Maximum vCPUs.
    pub max_vcpus: u32,
    /// Highest event-channel port.
    pub max_evtchn_port: u32,
    /// Grant-table frames (< 0: default).
    pub max_grant_frames: i32,
    /// Maptrack frames (< 0: default).
    pub max_maptrack_frames: i32,
    /// Grant options (version in the low 4 bits).
    pub grant_opts: u32,
    /// Per-vCPU trace buffer size (0 = off).
    pub vmtrace_size: u32,
    /// CPU pool.
    pub cpupool_id: u32,
    /// Architecture configuration.
    pub arch: XenArchDomainconfig,
}

bitflags! {
    /// `XEN_DOMINF_*` bits of [`DomctlGetDomainInfo::flags`] (the shutdown
    /// code lives in bits 16–23, see [`DomctlGetDomainInfo::shutdown_code`]).
    #[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
    pub struct DominfFlags: u32 {
        /// Scheduled to die.
        const DYING = 1 << 0;
        /// An HVM guest.
        const HVM_GUEST = 1 << 1;
        /// Has shut down.
        const SHUTDOWN = 1 << 2;
        /// Paused by the toolstack.
        const PAUSED = 1 << 3;
        /// Blocked waiting for an event.
        const BLOCKED = 1 << 4;
        /// Currently running.
        const RUNNING = 1 << 5;
        /// Being debugged.
        const DEBUGGED = 1 << 6;
        /// A xenstore domain.
        const XS_DOMAIN = 1 << 7;
        /// Uses hardware-assisted paging.
        const HAP = 1 << 8;
    }
}

/// Shift of the shutdown code in `XEN_DOMINF` flags.
pub const XEN_DOMINF_SHUTDOWNSHIFT: u32 = 16;
/// Mask of the shutdown code (after shifting).
pub const XEN_DOMINF_SHUTDOWNMASK: u32 = 255;
/// `max_vcpu_id` of a domain without vCPUs.
pub const XEN_INVALID_MAX_VCPU_ID: u32 = !0;

/// Payload of `XEN_DOMCTL_GETDOMAININFO` (`xen_domctl_getdomaininfo`, 112 B);
/// also the element of `XEN_SYSCTL_GETDOMAININFOLIST`.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
#[repr(C)]
pub struct DomctlGetDomainInfo {
    /// The domain.
    pub domain: DomId,
    /// Padding.
    pub pad1: u16,
    /// `XEN_DOMINF_*` plus the shutdown code.
    pub flags: u32,
    /// Pages currently allocated.
    pub tot_pages: u64,
    /// Page limit.
    pub max_pages: u64,
    /// Outstanding claimed pages.
    pub outstanding_pages: u64,
    /// Shared pages.
    pub shr_pages: u64,
    /// Paged-out pages.
    pub paged_pages: u64,
    /// GMFN of the shared_info frame.
    pub shared_info_frame: u64,
    /// CPU time used (ns).
    pub cpu_time: u64,
    /// vCPUs online.
    pub nr_online_vcpus: u32,
    /// Highest vCPU id in use.
    pub max_vcpu_id: u32,
    /// Security label.
    pub ssidref: u32,
    /// Domain handle.
    pub handle: DomainHandle,
    /// CPU pool.
    pub cpupool: u32,
    /// Guest physical address bits.
    pub gpaddr_bits: u8,
    /// Padding.
    pub pad2: [u8; 7],
    /// Architecture configuration.
    pub arch_config: XenArchDomainconfig,
}

impl DomctlGetDomainInfo {
    /// The flags as [`DominfFlags`] (shutdown code bits dropped).
    pub fn dominf_flags(&self) -> DominfFlags {
        DominfFlags::from_bits_truncate(self.flags)
    }
    /// The guest-supplied shutdown code.
    pub fn shutdown_code(&self) -> u32 {
        (self.flags >> XEN_DOMINF_SHUTDOWNSHIFT) & XEN_DOMINF_SHUTDOWNMASK
    }
}

/// Payload of `XEN_DOMCTL_MAX_MEM` (8 B).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
#[repr(C)]
pub struct DomctlMaxMem {
    /// Limit in KiB.
    pub max_memkb: u64,
}

/// Payload of `XEN_DOMCTL_MAX_VCPUS` (4 B).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
#[repr(C)]
pub struct DomctlMaxVcpus {
    /// Maximum number of vCPUs.
    pub max: u32,
}

/// Payload of `XEN_DOMCTL_SETVCPUCONTEXT` / `GETVCPUCONTEXT` (16 B).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
#[repr(C)]
pub struct DomctlVcpuContext {
    /// vCPU id.
    pub vcpu: u32,
    /// Padding.
    pub _pad: u32,
    /// Caller pointer to a [`crate::arch::VcpuGuestContext`].
    pub ctxt: u64,
}

/// Payload of `XEN_DOMCTL_GETPAGEFRAMEINFO3` (16 B): `array` holds `num` frame numbers
/// (`xen_pfn_t`, 8 B each; machine frames for a PV domain), each replaced by its
/// `XEN_DOMCTL_PFINFO_*` type.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
#[repr(C)]
pub struct DomctlGetPageFrameInfo3 {
    /// How many frames `array` holds (at most [`GETPAGEFRAMEINFO3_MAX`]).
    pub num: u64,
    /// Caller pointer to the frames, overwritten with their types.
    pub array: u64,
}

/// The most frames one `XEN_DOMCTL_GETPAGEFRAMEINFO3` takes (Xen's limit; more: `E2BIG`).
pub const GETPAGEFRAMEINFO3_MAX: u64 = 1024;

/// Payload of `XEN_DOMCTL_GETVCPUINFO` (24 B).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
#[repr(C)]
pub struct DomctlGetVcpuInfo {
    /// IN: vCPU id.
    pub vcpu: u32,
    /// Online?
    pub online: u8,
    /// Blocked?
    pub blocked: u8,
    /// Running?
    pub running: u8,
    /// Padding.
    pub _pad0: u8,
    /// CPU time used (ns).
    pub cpu_time: u64,
    /// Current physical CPU.
    pub cpu: u32,
    /// Padding.
    pub _pad1: u32,
}

/// `XEN_DOMCTL_SENDTRIGGER` trigger: an NMI.
pub const XEN_DOMCTL_SENDTRIGGER_NMI: u32 = 0;
/// Trigger: reset (HVM).
pub const XEN_DOMCTL_SENDTRIGGER_RESET: u32 = 1;
/// Trigger: INIT (HVM).
pub const XEN_DOMCTL_SENDTRIGGER_INIT: u32 = 2;
/// Trigger: the ACPI power button (HVM).
pub const XEN_DOMCTL_SENDTRIGGER_POWER: u32 = 3;
/// Trigger: the ACPI sleep button (HVM).
pub const XEN_DOMCTL_SENDTRIGGER_SLEEP: u32 = 4;

/// Payload of `XEN_DOMCTL_SENDTRIGGER` (8 B).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
#[repr(C)]
pub struct DomctlSendTrigger {
    /// `XEN_DOMCTL_SENDTRIGGER_*`.
    pub trigger: u32,
    /// The vCPU it is sent to.
    pub vcpu: u32,
}

/// Payload of `XEN_DOMCTL_HYPERCALL_INIT` (8 B).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
#[repr(C)]
pub struct DomctlHypercallInit {
    /// Frame to fill as the hypercall page.
    pub gmfn: u64,
}

/// Shadow op: disable.
pub const XEN_DOMCTL_SHADOW_OP_OFF: u32 = 0;
/// Shadow op: enable with a mode.
pub const XEN_DOMCTL_SHADOW_OP_ENABLE: u32 = 32;
/// Shadow op: enable test mode.
pub const XEN_DOMCTL_SHADOW_OP_ENABLE_TEST: u32 = 1;
/// Shadow op: enable log-dirty.
pub const XEN_DOMCTL_SHADOW_OP_ENABLE_LOGDIRTY: u32 = 2;
/// Shadow op: read and clear the dirty bitmap.
pub const XEN_DOMCTL_SHADOW_OP_CLEAN: u32 = 11;
/// Shadow op: read the dirty bitmap.
pub const XEN_DOMCTL_SHADOW_OP_PEEK: u32 = 12;
/// Shadow op: get the allocation.
pub const XEN_DOMCTL_SHADOW_OP_GET_ALLOCATION: u32 = 30;
/// Shadow op: set the allocation.
pub const XEN_DOMCTL_SHADOW_OP_SET_ALLOCATION: u32 = 31;

/// Log-dirty statistics (8 B).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
#[repr(C)]
pub struct DomctlShadowOpStats {
    /// Faults since the last clean.
    pub fault_count: u32,
    /// Dirty pages since the last clean.
    pub dirty_count: u32,
}

/// Payload of `XEN_DOMCTL_SHADOW_OP` (40 B).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
#[repr(C)]
pub struct DomctlShadowOp {
    /// `XEN_DOMCTL_SHADOW_OP_*`.
    pub op: u32,
    /// Mode bits.
    pub mode: u32,
    /// Allocation in MiB.
    pub mb: u32,
    /// Padding.
    pub _pad: u32,
    /// Caller pointer to the dirty bitmap.
    pub dirty_bitmap: u64,
    /// Bitmap size in pages (bits); updated.
    pub pages: u64,
    /// Statistics.
    pub stats: DomctlShadowOpStats,
}

/// A caller-memory bitmap (`xenctl_bitmap`, 16 B).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
#[repr(C)]
pub struct XenctlBitmap {
    /// Caller pointer to the bytes.
    pub bitmap: u64,
    /// Number of bits.
    pub nr_bits: u32,
    /// Padding.
    pub _pad: u32,
}

/// `DomctlVcpuAffinity::flags`: hard affinity.
pub const XEN_VCPUAFFINITY_HARD: u32 = 1 << 0;
/// `DomctlVcpuAffinity::flags`: soft affinity.
pub const XEN_VCPUAFFINITY_SOFT: u32 = 1 << 1;
/// `DomctlVcpuAffinity::flags`: undo a pin override.
pub const XEN_VCPUAFFINITY_FORCE: u32 = 1 << 2;

/// Payload of `XEN_DOMCTL_SETVCPUAFFINITY` / `GETVCPUAFFINITY` (40 B).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
#[repr(C)]
pub struct DomctlVcpuAffinity {
    /// vCPU id.
    pub vcpu: u32,
    /// `XEN_VCPUAFFINITY_*`.
    pub flags: u32,
    /// Hard affinity map.
    pub cpumap_hard: XenctlBitmap,
    /// Soft affinity map.
    pub cpumap_soft: XenctlBitmap,
}

/// Payload of `XEN_DOMCTL_SETDOMAINHANDLE` (16 B).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
#[repr(C)]
pub struct DomctlSetDomainHandle {
    /// The new handle.
    pub handle: DomainHandle,
}

/// Payload of `XEN_DOMCTL_IRQ_PERMISSION` (8 B).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
#[repr(C)]
pub struct DomctlIrqPermission {
    /// PIRQ.
    pub pirq: u32,
    /// Non-zero to allow.
    pub allow_access: u8,
    /// Padding.
    pub pad: [u8; 3],
}

/// Payload of `XEN_DOMCTL_IOMEM_PERMISSION` (24 B).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
#[repr(C)]
pub struct DomctlIomemPermission {
    /// First frame.
    pub first_mfn: u64,
    /// Number of frames.
    pub nr_mfns: u64,
    /// Non-zero to allow.
    pub allow_access: u8,
    /// Padding.
    pub _pad: [u8; 7],
}

/// Payload of `XEN_DOMCTL_IOPORT_PERMISSION` (12 B).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
#[repr(C)]
pub struct DomctlIoportPermission {
    /// First port.
    pub first_port: u32,
    /// Number of ports.
    pub nr_ports: u32,
    /// Non-zero to allow.
    pub allow_access: u8,
    /// Padding.
    pub _pad: [u8; 3],
}

/// Payload of `XEN_DOMCTL_SETTIMEOFFSET` (8 B).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
#[repr(C)]
pub struct DomctlSetTimeOffset {
    /// Wall-clock offset in seconds.
    pub time_offset_seconds: i64,
}

/// Payload of `XEN_DOMCTL_SET_ADDRESS_SIZE` / `GET_ADDRESS_SIZE` (4 B).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
#[repr(C)]
pub struct DomctlAddressSize {
    /// Address size in bits.
    pub size: u32,
}

/// Payload of `XEN_DOMCTL_SET_TARGET` (2 B).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
#[repr(C)]
pub struct DomctlSetTarget {
    /// The target domain.
    pub target: DomId,
}

assert_eq_size!(XenArchDomainconfig, [u8; 8]);
assert_eq_size!(DomctlCreateDomain, [u8; 64]);
const_assert_eq!(core::mem::offset_of!(DomctlCreateDomain, flags), 20);
const_assert_eq!(core::mem::offset_of!(DomctlCreateDomain, max_vcpus), 28);
const_assert_eq!(core::mem::offset_of!(DomctlCreateDomain, cpupool_id), 52);
const_assert_eq!(core::mem::offset_of!(DomctlCreateDomain, arch), 56);
assert_eq_size!(DomctlGetDomainInfo, [u8; 112]);
const_assert_eq!(core::mem::offset_of!(DomctlGetDomainInfo, tot_pages), 8);
const_assert_eq!(
    core::mem::offset_of!(DomctlGetDomainInfo, shared_info_frame),
    48
);
const_assert_eq!(
    core::mem::offset_of!(DomctlGetDomainInfo, nr_online_vcpus),
    64
);
const_assert_eq!(core::mem::offset_of!(DomctlGetDomainInfo, handle), 76);
const_assert_eq!(core::mem::offset_of!(DomctlGetDomainInfo, cpupool), 92);
const_assert_eq!(core::mem::offset_of!(DomctlGetDomainInfo, arch_config), 104);
assert_eq_size!(DomctlMaxMem, [u8; 8]);
assert_eq_size!(DomctlMaxVcpus, [u8; 4]);
assert_eq_size!(DomctlVcpuContext, [u8; 16]);
assert_eq_size!(DomctlGetVcpuInfo, [u8; 24]);
const_assert_eq!(core::mem::offset_of!(DomctlGetVcpuInfo, cpu_time), 8);
assert_eq_size!(DomctlHypercallInit, [u8; 8]);
assert_eq_size!(DomctlShadowOp, [u8; 40]);
const_assert_eq!(core::mem::offset_of!(DomctlShadowOp, dirty_bitmap), 16);
assert_eq_size!(XenctlBitmap, [u8; 16]);
assert_eq_size!(DomctlVcpuAffinity, [u8; 40]);
assert_eq_size!(DomctlIomemPermission, [u8; 24]);
assert_eq_size!(DomctlIoportPermission, [u8; 12]);

/// `XEN_DOMCTL_SCHEDULER_OP` scheduler id: credit (credit1).
pub const XEN_SCHEDULER_CREDIT: u32 = 5;
/// `XEN_DOMCTL_SCHEDULER_OP` scheduler id: credit2.
pub const XEN_SCHEDULER_CREDIT2: u32 = 6;
/// `XEN_DOMCTL_SCHEDULER_OP` scheduler id: ARINC 653.
pub const XEN_SCHEDULER_ARINC653: u32 = 7;
/// `XEN_DOMCTL_SCHEDULER_OP` scheduler id: RTDS.
pub const XEN_SCHEDULER_RTDS: u32 = 8;
/// `XEN_DOMCTL_SCHEDULER_OP` scheduler id: null.
pub const XEN_SCHEDULER_NULL: u32 = 9;
/// Scheduler op: set the domain's parameters.
pub const XEN_DOMCTL_SCHEDOP_PUTINFO: u32 = 0;
/// Scheduler op: get the domain's parameters.
pub const XEN_DOMCTL_SCHEDOP_GETINFO: u32 = 1;
/// Scheduler op: set per-vCPU parameters.
pub const XEN_DOMCTL_SCHEDOP_PUTVCPUINFO: u32 = 2;
/// Scheduler op: get per-vCPU parameters.
pub const XEN_DOMCTL_SCHEDOP_GETVCPUINFO: u32 = 3;

/// Credit-scheduler parameters (`xen_domctl_sched_credit`, 4 B).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
#[repr(C)]
pub struct DomctlSchedCredit {
    /// Relative weight (1–65535; 0 in a putinfo = unchanged).
    pub weight: u16,
    /// Cap in percent of one CPU (0 = none; 0xFFFF in a putinfo = unchanged).
    pub cap: u16,
}

/// Payload of `XEN_DOMCTL_SCHEDULER_OP` (`xen_domctl_scheduler_op`, 24 B). The 16-byte
/// union holds [`DomctlSchedCredit`] at offset 8 for the credit scheduler.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
#[repr(C)]
pub struct DomctlSchedulerOp {
    /// `XEN_SCHEDULER_*`.
    pub sched_id: u32,
    /// `XEN_DOMCTL_SCHEDOP_*`.
    pub cmd: u32,
    /// The credit parameters (first member of the union).
    pub credit: DomctlSchedCredit,
    /// The rest of the union.
    pub _union_rest: [u32; 3],
}

assert_eq_size!(DomctlSchedCredit, [u8; 4]);
assert_eq_size!(DomctlSchedulerOp, [u8; 24]);
const_assert_eq!(core::mem::offset_of!(DomctlSchedulerOp, credit), 8);
