//! `shared_info` and `vcpu_info`: the page the hypervisor and a guest share
//! for event delivery, time and p2m bookkeeping.
//!
//! Fields written concurrently by both sides (pending bits, upcall flags,
//! time versions) must be accessed with atomic or volatile operations; these
//! structures only describe the layout.

use static_assertions::{assert_eq_size, const_assert_eq};
use zerocopy::{FromBytes, FromZeros, Immutable, IntoBytes, KnownLayout};

/// vCPUs that have a `vcpu_info` inside `shared_info`.
pub const XEN_LEGACY_MAX_VCPUS: usize = 32;
/// Number of event channels of the 2-level ABI on 64-bit guests (64 × 64).
pub const EVTCHN_2L_NR_CHANNELS: usize = 4096;
/// `vcpu_time_info.flags`: the TSC is stable across vCPUs.
pub const XEN_PVCLOCK_TSC_STABLE_BIT: u8 = 1 << 0;
/// `vcpu_time_info.flags`: the guest has been stopped (paused).
pub const XEN_PVCLOCK_GUEST_STOPPED: u8 = 1 << 1;

/// Per-vCPU time base (`vcpu_time_info`, 32 bytes).
///
/// Read like a seqlock: read `version`, the fields, then `version` again;
/// retry if it changed or is odd. Then
/// `ns = system_time + scale(tsc - tsc_timestamp)`, see [`Self::scale_delta`].
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
#[repr(C)]
pub struct VcpuTimeInfo {
    /// Update counter; odd while being updated.
    pub version: u32,
    /// Padding.
    pub pad0: u32,
    /// TSC value at the last update.
    pub tsc_timestamp: u64,
    /// System time (ns since boot) at the last update.
    pub system_time: u64,
    /// TSC → ns multiplier (32.32 fixed point).
    pub tsc_to_system_mul: u32,
    /// Shift applied to the TSC delta before multiplying (negative = right).
    pub tsc_shift: i8,
    /// `XEN_PVCLOCK_*` flags.
    pub flags: u8,
    /// Padding.
    pub pad1: [u8; 2],
}

impl VcpuTimeInfo {
    /// Converts a TSC delta to nanoseconds with this record's scale.
    pub fn scale_delta(&self, delta: u64) -> u64 {
        let d = if self.tsc_shift >= 0 {
            delta << self.tsc_shift
        } else {
            delta >> (-(self.tsc_shift as i32))
        };
        ((d as u128 * self.tsc_to_system_mul as u128) >> 32) as u64
    }

    /// System time in ns at TSC value `tsc`.
    pub fn system_time_at(&self, tsc: u64) -> u64 {
        self.system_time
            .wrapping_add(self.scale_delta(tsc.wrapping_sub(self.tsc_timestamp)))
    }
}

/// x86 part of `vcpu_info` (16 bytes).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
#[repr(C)]
pub struct ArchVcpuInfo {
    /// Faulting address of the last page fault bounced to the guest.
    pub cr2: u64,
    /// Padding.
    pub pad: u64,
}

/// Per-vCPU event and time state (`vcpu_info`, 64 bytes).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
#[repr(C)]
pub struct VcpuInfo {
    /// Non-zero when an event upcall is due.
    pub evtchn_upcall_pending: u8,
    /// Non-zero masks event upcalls (the virtual interrupt flag, inverted).
    pub evtchn_upcall_mask: u8,
    /// Padding.
    pub _pad0: [u8; 6],
    /// One bit per word of `evtchn_pending` that may have pending ports.
    pub evtchn_pending_sel: u64,
    /// Architecture state.
    pub arch: ArchVcpuInfo,
    /// Time base.
    pub time: VcpuTimeInfo,
}

/// x86 part of `shared_info` (48 bytes).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
#[repr(C)]
pub struct ArchSharedInfo {
    /// Number of valid p2m entries.
    pub max_pfn: u64,
    /// Frame of the p2m frame-list-list (0 = not set up, !0 = invalid).
    pub pfn_to_mfn_frame_list_list: u64,
    /// NMI reason bits.
    pub nmi_reason: u64,
    /// CR3 of the address space where `p2m_vaddr` is valid (0 = unused).
    pub p2m_cr3: u64,
    /// Virtual address of the linear p2m list.
    pub p2m_vaddr: u64,
    /// Generation counter of the p2m mapping (odd while updating).
    pub p2m_generation: u64,
}

/// The shared info page (`shared_info`, 3136 bytes used of its 4 KiB frame).
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, KnownLayout, Immutable)]
#[repr(C)]
pub struct SharedInfo {
    /// Per-vCPU state of the first 32 vCPUs.
    pub vcpu_info: [VcpuInfo; XEN_LEGACY_MAX_VCPUS],
    /// Pending bit per event-channel port.
    pub evtchn_pending: [u64; 64],
    /// Mask bit per event-channel port.
    pub evtchn_mask: [u64; 64],
    /// Wall-clock update counter (seqlock like `VcpuTimeInfo::version`).
    pub wc_version: u32,
    /// Wall-clock seconds at system time 0 (low 32 bits).
    pub wc_sec: u32,
    /// Wall-clock nanoseconds at system time 0.
    pub wc_nsec: u32,
    /// Wall-clock seconds, high 32 bits.
    pub wc_sec_hi: u32,
    /// Architecture state.
    pub arch: ArchSharedInfo,
}

impl Default for SharedInfo {
    fn default() -> Self {
        SharedInfo::new_zeroed()
    }
}

/// Word index and bit of event-channel `port` in the pending/mask arrays.
pub const fn evtchn_word_bit(port: u32) -> (usize, u32) {
    ((port / 64) as usize, port % 64)
}

assert_eq_size!(VcpuTimeInfo, [u8; 32]);
assert_eq_size!(ArchVcpuInfo, [u8; 16]);
assert_eq_size!(VcpuInfo, [u8; 64]);
assert_eq_size!(ArchSharedInfo, [u8; 48]);
assert_eq_size!(SharedInfo, [u8; 3136]);
const_assert_eq!(core::mem::offset_of!(VcpuTimeInfo, tsc_to_system_mul), 24);
const_assert_eq!(core::mem::offset_of!(VcpuTimeInfo, tsc_shift), 28);
const_assert_eq!(core::mem::offset_of!(VcpuInfo, evtchn_pending_sel), 8);
const_assert_eq!(core::mem::offset_of!(VcpuInfo, arch), 16);
const_assert_eq!(core::mem::offset_of!(VcpuInfo, time), 32);
const_assert_eq!(core::mem::offset_of!(SharedInfo, evtchn_pending), 2048);
const_assert_eq!(core::mem::offset_of!(SharedInfo, evtchn_mask), 2560);
const_assert_eq!(core::mem::offset_of!(SharedInfo, wc_version), 3072);
const_assert_eq!(core::mem::offset_of!(SharedInfo, arch), 3088);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_scale() {
        let t = VcpuTimeInfo {
            tsc_timestamp: 1000,
            system_time: 5,
            tsc_to_system_mul: 1 << 31, // 0.5 ns per (shifted) tick
            tsc_shift: 1,
            ..Default::default()
        };
        assert_eq!(t.system_time_at(1100), 5 + 100);
        let t2 = VcpuTimeInfo { tsc_shift: -1, ..t };
        assert_eq!(t2.system_time_at(1100), 5 + 25);
    }
}
