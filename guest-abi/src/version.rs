//! `xen_version`: version strings and feature bits.

use static_assertions::assert_eq_size;
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// Returns `major << 16 | minor` (no argument).
pub const XENVER_VERSION: u32 = 0;
/// Extra version string ([`XenExtraversion`]).
pub const XENVER_EXTRAVERSION: u32 = 1;
/// Compile information ([`XenCompileInfo`]).
pub const XENVER_COMPILE_INFO: u32 = 2;
/// Capabilities string ([`XenCapabilitiesInfo`]).
pub const XENVER_CAPABILITIES: u32 = 3;
/// The capabilities string a 64-bit PV-only hypervisor reports (`XENVER_capabilities`,
/// `xl info`'s `xen_caps`).
pub const XEN_CAPABILITIES_X86_64_PV: &str = "xen-3.0-x86_64";
/// Changeset string ([`XenChangesetInfo`]).
pub const XENVER_CHANGESET: u32 = 4;
/// Platform parameters ([`XenPlatformParameters`]).
pub const XENVER_PLATFORM_PARAMETERS: u32 = 5;
/// Feature submap ([`XenFeatureInfo`]).
pub const XENVER_GET_FEATURES: u32 = 6;
/// Page size (return value).
pub const XENVER_PAGESIZE: u32 = 7;
/// Guest handle.
pub const XENVER_GUEST_HANDLE: u32 = 8;
/// Hypervisor command line.
pub const XENVER_COMMANDLINE: u32 = 9;
/// Build id.
pub const XENVER_BUILD_ID: u32 = 10;

/// PT updates by writing directly (trapping) are supported.
pub const XENFEAT_WRITABLE_PAGE_TABLES: u32 = 0;
/// Descriptor tables may be written directly.
pub const XENFEAT_WRITABLE_DESCRIPTOR_TABLES: u32 = 1;
/// The physmap is translated by the hypervisor.
pub const XENFEAT_AUTO_TRANSLATED_PHYSMAP: u32 = 2;
/// The guest kernel runs in ring 0.
pub const XENFEAT_SUPERVISOR_MODE_KERNEL: u32 = 3;
/// PAE page directories may be above 4 GiB.
pub const XENFEAT_PAE_PGDIR_ABOVE_4GB: u32 = 4;
/// `MMU_PT_UPDATE_PRESERVE_AD` is supported.
pub const XENFEAT_MMU_PT_UPDATE_PRESERVE_AD: u32 = 5;
/// Highmem assist.
pub const XENFEAT_HIGHMEM_ASSIST: u32 = 6;
/// Grant mappings may use available PTE bits.
pub const XENFEAT_GNTTAB_MAP_AVAIL_BITS: u32 = 7;
/// HVM callback vector.
pub const XENFEAT_HVM_CALLBACK_VECTOR: u32 = 8;
/// HVM safe pvclock.
pub const XENFEAT_HVM_SAFE_PVCLOCK: u32 = 9;
/// HVM PIRQs.
pub const XENFEAT_HVM_PIRQS: u32 = 10;
/// The domain is dom0.
pub const XENFEAT_DOM0: u32 = 11;
/// Number of 32-bit feature submaps.
pub const XENFEAT_NR_SUBMAPS: u32 = 1;

/// Argument of `XENVER_GET_FEATURES` (8 B).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
#[repr(C)]
pub struct XenFeatureInfo {
    /// IN: which 32-bit submap.
    pub submap_idx: u32,
    /// OUT: the submap.
    pub submap: u32,
}

/// Result of `XENVER_EXTRAVERSION` (NUL-terminated string).
pub type XenExtraversion = [u8; 16];
/// Result of `XENVER_CAPABILITIES` (NUL-terminated string).
pub type XenCapabilitiesInfo = [u8; 1024];
/// Result of `XENVER_CHANGESET` (NUL-terminated string).
pub type XenChangesetInfo = [u8; 64];

/// Result of `XENVER_COMPILE_INFO` (144 B).
#[derive(Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable)]
#[repr(C)]
pub struct XenCompileInfo {
    /// Compiler.
    pub compiler: [u8; 64],
    /// Built by.
    pub compile_by: [u8; 16],
    /// Build host domain.
    pub compile_domain: [u8; 32],
    /// Build date.
    pub compile_date: [u8; 32],
}

/// Result of `XENVER_PLATFORM_PARAMETERS` (8 B).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
#[repr(C)]
pub struct XenPlatformParameters {
    /// Start of the hypervisor's reserved virtual range.
    pub virt_start: u64,
}

assert_eq_size!(XenFeatureInfo, [u8; 8]);
assert_eq_size!(XenCompileInfo, [u8; 144]);
assert_eq_size!(XenPlatformParameters, [u8; 8]);

/// The Xen interface version this hypervisor implements (4.17), as major<<16 | minor: the
/// answer to `XENVER_version` and CPUID leaf 0x40000001.
pub const XEN_VERSION_IMPLEMENTED: u32 = (4 << 16) | 17;
