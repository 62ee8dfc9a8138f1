//! `vcpu_op`: bringing vCPUs up and down, runstate and per-vCPU timers.

use static_assertions::{assert_eq_size, const_assert_eq};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// Initialise a vCPU's context (`VcpuGuestContext`).
pub const VCPUOP_INITIALISE: u32 = 0;
/// Bring a vCPU up.
pub const VCPUOP_UP: u32 = 1;
/// Take a vCPU down.
pub const VCPUOP_DOWN: u32 = 2;
/// Is the vCPU up? (returns 0/1)
pub const VCPUOP_IS_UP: u32 = 3;
/// Read runstate ([`VcpuRunstateInfo`]).
pub const VCPUOP_GET_RUNSTATE_INFO: u32 = 4;
/// Register a runstate area.
pub const VCPUOP_REGISTER_RUNSTATE_MEMORY_AREA: u32 = 5;
/// Start a periodic timer ([`VcpuSetPeriodicTimer`]).
pub const VCPUOP_SET_PERIODIC_TIMER: u32 = 6;
/// Stop the periodic timer.
pub const VCPUOP_STOP_PERIODIC_TIMER: u32 = 7;
/// Arm a one-shot timer ([`VcpuSetSingleshotTimer`]).
pub const VCPUOP_SET_SINGLESHOT_TIMER: u32 = 8;
/// Cancel the one-shot timer.
pub const VCPUOP_STOP_SINGLESHOT_TIMER: u32 = 9;
/// Move `vcpu_info` elsewhere ([`VcpuRegisterVcpuInfo`]).
pub const VCPUOP_REGISTER_VCPU_INFO: u32 = 10;
/// Send an NMI to a vCPU.
pub const VCPUOP_SEND_NMI: u32 = 11;
/// Get the physical CPU id.
pub const VCPUOP_GET_PHYSID: u32 = 12;
/// Register a time memory area.
pub const VCPUOP_REGISTER_VCPU_TIME_MEMORY_AREA: u32 = 13;

/// Runstate: running on a physical CPU.
pub const RUNSTATE_RUNNING: i32 = 0;
/// Runstate: runnable, waiting for a CPU.
pub const RUNSTATE_RUNNABLE: i32 = 1;
/// Runstate: blocked.
pub const RUNSTATE_BLOCKED: i32 = 2;
/// Runstate: offline.
pub const RUNSTATE_OFFLINE: i32 = 3;

/// `VcpuSetSingleshotTimer::flags`: fail with `-ETIME` if already past.
pub const VCPU_SSHOTTMR_FUTURE: u32 = 1 << 0;

/// A vCPU's runstate accounting (`vcpu_runstate_info`, 48 B).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
#[repr(C)]
pub struct VcpuRunstateInfo {
    /// `RUNSTATE_*`.
    pub state: i32,
    /// Padding.
    pub _pad: u32,
    /// System time at which the current state was entered.
    pub state_entry_time: u64,
    /// Time spent in each state (ns).
    pub time: [u64; 4],
}

/// Argument of `VCPUOP_SET_PERIODIC_TIMER` (8 B).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
#[repr(C)]
pub struct VcpuSetPeriodicTimer {
    /// Period in ns.
    pub period_ns: u64,
}

/// Argument of `VCPUOP_SET_SINGLESHOT_TIMER` (16 B).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
#[repr(C)]
pub struct VcpuSetSingleshotTimer {
    /// Absolute system time in ns.
    pub timeout_abs_ns: u64,
    /// `VCPU_SSHOTTMR_*`.
    pub flags: u32,
    /// Padding.
    pub _pad: u32,
}

/// Set in the guest's copy of `VcpuRunstateInfo::state_entry_time` while the hypervisor
/// rewrites a registered runstate area (with `VMASST_TYPE_RUNSTATE_UPDATE_FLAG` on).
pub const XEN_RUNSTATE_UPDATE: u64 = 1 << 63;

/// Argument of `VCPUOP_REGISTER_RUNSTATE_MEMORY_AREA` (8 B): the guest virtual address the
/// hypervisor keeps a [`VcpuRunstateInfo`] at (0: none).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
#[repr(C)]
pub struct VcpuRegisterRunstateMemoryArea {
    /// The area's address (a union of handle, virtual and physical address in Xen's header;
    /// 64-bit PV guests pass a virtual address).
    pub addr: u64,
}

/// Argument of `VCPUOP_REGISTER_VCPU_TIME_MEMORY_AREA` (8 B): the guest virtual address the
/// hypervisor keeps a copy of the vCPU's `vcpu_time_info` at (0: none).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
#[repr(C)]
pub struct VcpuRegisterTimeMemoryArea {
    /// The area's address (a union of handle, pointer and physical address in Xen's header;
    /// 64-bit PV guests pass a virtual address).
    pub addr: u64,
}

/// Argument of `VCPUOP_REGISTER_VCPU_INFO` (16 B).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
#[repr(C)]
pub struct VcpuRegisterVcpuInfo {
    /// Frame to hold the `vcpu_info`.
    pub mfn: u64,
    /// Offset within the frame.
    pub offset: u32,
    /// Reserved.
    pub rsvd: u32,
}

assert_eq_size!(VcpuRunstateInfo, [u8; 48]);
const_assert_eq!(core::mem::offset_of!(VcpuRunstateInfo, state_entry_time), 8);
const_assert_eq!(core::mem::offset_of!(VcpuRunstateInfo, time), 16);
assert_eq_size!(VcpuSetPeriodicTimer, [u8; 8]);
assert_eq_size!(VcpuSetSingleshotTimer, [u8; 16]);
assert_eq_size!(VcpuRegisterVcpuInfo, [u8; 16]);
assert_eq_size!(VcpuRegisterRunstateMemoryArea, [u8; 8]);
assert_eq_size!(VcpuRegisterTimeMemoryArea, [u8; 8]);
