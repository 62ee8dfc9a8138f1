//! `sysctl`: system-wide control operations used by the toolstack.
//!
//! Same pattern as [`crate::domctl`]: a command, the interface version and a
//! 128-byte payload union at offset 8.

use crate::types::DomId;
use static_assertions::{assert_eq_size, const_assert_eq};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// The sysctl interface version of Xen 4.17.
pub const XEN_SYSCTL_INTERFACE_VERSION: u32 = 0x15;

/// Read the hypervisor console ring ([`SysctlReadconsole`]).
pub const XEN_SYSCTL_READCONSOLE: u32 = 1;
/// Trace-buffer control.
pub const XEN_SYSCTL_TBUF_OP: u32 = 2;
/// Host information ([`SysctlPhysinfo`]).
pub const XEN_SYSCTL_PHYSINFO: u32 = 3;
/// Scheduler id ([`SysctlSchedId`]).
pub const XEN_SYSCTL_SCHED_ID: u32 = 4;
/// Performance counters.
pub const XEN_SYSCTL_PERFC_OP: u32 = 5;
/// List domains ([`SysctlGetdomaininfolist`]).
pub const XEN_SYSCTL_GETDOMAININFOLIST: u32 = 6;
/// Inject debug keys.
pub const XEN_SYSCTL_DEBUG_KEYS: u32 = 7;
/// Per-CPU idle times.
pub const XEN_SYSCTL_GETCPUINFO: u32 = 8;
/// Available heap.
pub const XEN_SYSCTL_AVAILHEAP: u32 = 9;
/// Power-management statistics.
pub const XEN_SYSCTL_GET_PMSTAT: u32 = 10;
/// CPU hotplug.
pub const XEN_SYSCTL_CPU_HOTPLUG: u32 = 11;
/// Power-management operations.
pub const XEN_SYSCTL_PM_OP: u32 = 12;
/// Page offlining.
pub const XEN_SYSCTL_PAGE_OFFLINE_OP: u32 = 14;
/// Lock profiling.
pub const XEN_SYSCTL_LOCKPROF_OP: u32 = 15;
/// CPU topology.
pub const XEN_SYSCTL_CPUTOPOINFO: u32 = 16;
/// NUMA information.
pub const XEN_SYSCTL_NUMAINFO: u32 = 17;
/// CPU pool operations.
pub const XEN_SYSCTL_CPUPOOL_OP: u32 = 18;
/// Scheduler operations.
pub const XEN_SYSCTL_SCHEDULER_OP: u32 = 19;
/// Coverage.
pub const XEN_SYSCTL_COVERAGE_OP: u32 = 20;
/// CPU featureset.
pub const XEN_SYSCTL_GET_CPU_FEATURESET: u32 = 26;
/// Live patching.
pub const XEN_SYSCTL_LIVEPATCH_OP: u32 = 27;
/// CPU policy.
pub const XEN_SYSCTL_GET_CPU_POLICY: u32 = 29;

/// `SysctlPhysinfo::capabilities`: HVM guests supported.
pub const XEN_SYSCTL_PHYSCAP_HVM: u32 = 1 << 0;
/// `SysctlPhysinfo::capabilities`: PV guests supported.
pub const XEN_SYSCTL_PHYSCAP_PV: u32 = 1 << 1;
/// `SysctlPhysinfo::capabilities`: direct I/O.
pub const XEN_SYSCTL_PHYSCAP_DIRECTIO: u32 = 1 << 2;
/// `SysctlPhysinfo::capabilities`: HAP.
pub const XEN_SYSCTL_PHYSCAP_HAP: u32 = 1 << 3;
/// `SysctlPhysinfo::capabilities`: shadow paging.
pub const XEN_SYSCTL_PHYSCAP_SHADOW: u32 = 1 << 4;
/// `SysctlPhysinfo::capabilities`: grant tables v1.
pub const XEN_SYSCTL_PHYSCAP_GNTTAB_V1: u32 = 1 << 8;
/// `SysctlPhysinfo::capabilities`: grant tables v2.
pub const XEN_SYSCTL_PHYSCAP_GNTTAB_V2: u32 = 1 << 9;

/// The sysctl hypercall argument (`xen_sysctl`, 136 B).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
#[repr(C)]
pub struct XenSysctl {
    /// `XEN_SYSCTL_*` command.
    pub cmd: u32,
    /// Must be [`XEN_SYSCTL_INTERFACE_VERSION`].
    pub interface_version: u32,
    /// The payload union (128 B).
    pub u: [u64; 16],
}

impl XenSysctl {
    /// A request for `cmd` with the current version and a zeroed payload.
    pub fn new(cmd: u32) -> Self {
        XenSysctl {
            cmd,
            interface_version: XEN_SYSCTL_INTERFACE_VERSION,
            u: [0; 16],
        }
    }

    /// A request carrying `payload`.
    pub fn with_payload<T: IntoBytes + Immutable>(cmd: u32, payload: &T) -> Self {
        let mut s = Self::new(cmd);
        s.set_payload(payload);
        s
    }

    crate::payload::payload_accessors!();
}

/// Payload of `XEN_SYSCTL_READCONSOLE` (24 B).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
#[repr(C)]
pub struct SysctlReadconsole {
    /// Non-zero: clear the ring after reading.
    pub clear: u8,
    /// Non-zero: start at `index`.
    pub incremental: u8,
    /// Padding.
    pub pad0: u8,
    /// Padding.
    pub pad1: u8,
    /// IN: start index (if incremental); OUT: end index.
    pub index: u32,
    /// Caller pointer to the buffer.
    pub buffer: u64,
    /// IN: buffer size; OUT: bytes written.
    pub count: u32,
    /// Padding.
    pub _pad: u32,
}

/// Payload of `XEN_SYSCTL_PHYSINFO` (112 B).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
#[repr(C)]
pub struct SysctlPhysinfo {
    /// Threads per core.
    pub threads_per_core: u32,
    /// Cores per socket.
    pub cores_per_socket: u32,
    /// CPUs online.
    pub nr_cpus: u32,
    /// Largest possible CPU id.
    pub max_cpu_id: u32,
    /// NUMA nodes online.
    pub nr_nodes: u32,
    /// Largest possible node id.
    pub max_node_id: u32,
    /// CPU frequency in kHz.
    pub cpu_khz: u32,
    /// `XEN_SYSCTL_PHYSCAP_*`.
    pub capabilities: u32,
    /// Architecture capabilities.
    pub arch_capabilities: u32,
    /// Padding.
    pub pad: u32,
    /// Total host pages.
    pub total_pages: u64,
    /// Free host pages.
    pub free_pages: u64,
    /// Pages awaiting scrubbing.
    pub scrub_pages: u64,
    /// Outstanding claims.
    pub outstanding_pages: u64,
    /// Largest possible MFN.
    pub max_mfn: u64,
    /// CPU capability words.
    pub hw_cap: [u32; 8],
}

/// Payload of `XEN_SYSCTL_GETDOMAININFOLIST` (24 B).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
#[repr(C)]
pub struct SysctlGetdomaininfolist {
    /// First domain id to report.
    pub first_domain: DomId,
    /// Padding.
    pub _pad0: u16,
    /// Capacity of the buffer.
    pub max_domains: u32,
    /// Caller pointer to an array of [`crate::domctl::DomctlGetDomainInfo`].
    pub buffer: u64,
    /// OUT: entries written.
    pub num_domains: u32,
    /// Padding.
    pub _pad1: u32,
}

/// Payload of `XEN_SYSCTL_SCHED_ID` (4 B).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
#[repr(C)]
pub struct SysctlSchedId {
    /// OUT: scheduler id.
    pub sched_id: u32,
}

/// `SysctlPerfcOp::cmd`: reset every counter to zero.
pub const XEN_SYSCTL_PERFCOP_RESET: u32 = 1;
/// `SysctlPerfcOp::cmd`: describe the counters and read their values.
pub const XEN_SYSCTL_PERFCOP_QUERY: u32 = 2;

/// Payload of `XEN_SYSCTL_PERFC_OP` (32 B): the hypervisor's performance counters.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
#[repr(C)]
pub struct SysctlPerfcOp {
    /// `XEN_SYSCTL_PERFCOP_*`.
    pub cmd: u32,
    /// OUT: number of counters (entries of `desc`).
    pub nr_counters: u32,
    /// OUT: number of values (entries of `val`, the sum of the counters' `nr_vals`).
    pub nr_vals: u32,
    /// Padding.
    pub _pad: u32,
    /// Caller pointer to `nr_counters` [`SysctlPerfcDesc`] to fill, or 0.
    pub desc: u64,
    /// Caller pointer to `nr_vals` `u32` values to fill, or 0.
    pub val: u64,
}

/// One performance counter's description (`xen_sysctl_perfc_desc`, 84 B).
#[derive(Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable)]
#[repr(C)]
pub struct SysctlPerfcDesc {
    /// NUL-terminated name.
    pub name: [u8; 80],
    /// Values of this counter (consecutive in the value array).
    pub nr_vals: u32,
}

impl Default for SysctlPerfcDesc {
    fn default() -> Self {
        SysctlPerfcDesc {
            name: [0; 80],
            nr_vals: 0,
        }
    }
}

impl SysctlPerfcDesc {
    /// The name up to its NUL.
    pub fn name(&self) -> &[u8] {
        let n = self.name.iter().position(|&b| b == 0).unwrap_or(80);
        &self.name[..n]
    }
}

assert_eq_size!(SysctlPerfcOp, [u8; 32]);
const_assert_eq!(core::mem::offset_of!(SysctlPerfcOp, desc), 16);
assert_eq_size!(SysctlPerfcDesc, [u8; 84]);

assert_eq_size!(XenSysctl, [u8; 136]);
const_assert_eq!(core::mem::offset_of!(XenSysctl, u), 8);
assert_eq_size!(SysctlReadconsole, [u8; 24]);
const_assert_eq!(core::mem::offset_of!(SysctlReadconsole, buffer), 8);
const_assert_eq!(core::mem::offset_of!(SysctlReadconsole, count), 16);
assert_eq_size!(SysctlPhysinfo, [u8; 112]);
const_assert_eq!(core::mem::offset_of!(SysctlPhysinfo, total_pages), 40);
const_assert_eq!(core::mem::offset_of!(SysctlPhysinfo, hw_cap), 80);
assert_eq_size!(SysctlGetdomaininfolist, [u8; 24]);
const_assert_eq!(
    core::mem::offset_of!(SysctlGetdomaininfolist, max_domains),
    4
);
const_assert_eq!(
    core::mem::offset_of!(SysctlGetdomaininfolist, num_domains),
    16
);
