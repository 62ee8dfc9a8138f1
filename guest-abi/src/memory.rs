//! `memory_op`: reservations, physmap population and M2P queries.

use crate::types::DomId;
use static_assertions::{assert_eq_size, const_assert_eq};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// Grow the reservation ([`XenMemoryReservation`]).
pub const XENMEM_INCREASE_RESERVATION: u32 = 0;
/// Give frames back ([`XenMemoryReservation`]).
pub const XENMEM_DECREASE_RESERVATION: u32 = 1;
/// Highest machine frame in use (no argument).
pub const XENMEM_MAXIMUM_RAM_PAGE: u32 = 2;
/// Current pages of a domain (argument: `*const DomId`).
pub const XENMEM_CURRENT_RESERVATION: u32 = 3;
/// Maximum pages of a domain (argument: `*const DomId`).
pub const XENMEM_MAXIMUM_RESERVATION: u32 = 4;
/// List the M2P table frames ([`XenMachphysMfnList`]).
pub const XENMEM_MACHPHYS_MFN_LIST: u32 = 5;
/// Allocate frames at given PFNs ([`XenMemoryReservation`]).
pub const XENMEM_POPULATE_PHYSMAP: u32 = 6;
/// Map a special frame into the physmap ([`XenAddToPhysmap`]).
pub const XENMEM_ADD_TO_PHYSMAP: u32 = 7;
/// The guest's memory map ([`XenMemoryMap`]).
pub const XENMEM_MEMORY_MAP: u32 = 9;
/// The machine memory map (dom0).
pub const XENMEM_MACHINE_MEMORY_MAP: u32 = 10;
/// Exchange frames.
pub const XENMEM_EXCHANGE: u32 = 11;
/// Where the M2P is mapped ([`XenMachphysMapping`]).
pub const XENMEM_MACHPHYS_MAPPING: u32 = 12;
/// Set a domain's memory map.
pub const XENMEM_SET_MEMORY_MAP: u32 = 13;
/// Highest GPFN of a domain.
pub const XENMEM_MAXIMUM_GPFN: u32 = 14;
/// Remove a frame from the physmap.
pub const XENMEM_REMOVE_FROM_PHYSMAP: u32 = 15;

/// `XenAddToPhysmap::space`: the shared info page.
pub const XENMAPSPACE_SHARED_INFO: u32 = 0;
/// `XenAddToPhysmap::space`: a grant-table frame.
pub const XENMAPSPACE_GRANT_TABLE: u32 = 1;
/// `XenAddToPhysmap::space`: a GMFN.
pub const XENMAPSPACE_GMFN: u32 = 2;
/// `XenAddToPhysmap::space`: a range of GMFNs.
pub const XENMAPSPACE_GMFN_RANGE: u32 = 3;
/// `XenAddToPhysmap::space`: a GMFN of another domain.
pub const XENMAPSPACE_GMFN_FOREIGN: u32 = 4;

/// `mem_flags`: the address-bits limit in bits 0–7.
pub const fn xenmemf_address_bits(bits: u32) -> u32 {
    bits & 0xff
}

/// Argument of the reservation operations (`xen_memory_reservation`, 32 B).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
#[repr(C)]
pub struct XenMemoryReservation {
    /// Guest pointer to a `u64` array of extents (MFNs, or PFNs for
    /// `populate_physmap`, which writes the MFNs back).
    pub extent_start: u64,
    /// Number of extents.
    pub nr_extents: u64,
    /// log2 of pages per extent.
    pub extent_order: u32,
    /// `XENMEMF_*` flags.
    pub mem_flags: u32,
    /// Target domain.
    pub domid: DomId,
    /// Padding.
    pub _pad: [u16; 3],
}

/// Argument of `XENMEM_MACHPHYS_MFN_LIST` (24 B).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
#[repr(C)]
pub struct XenMachphysMfnList {
    /// Capacity of the array.
    pub max_extents: u32,
    /// Padding.
    pub _pad0: u32,
    /// Guest pointer to a `u64` array receiving MFNs.
    pub extent_start: u64,
    /// OUT: entries written.
    pub nr_extents: u32,
    /// Padding.
    pub _pad1: u32,
}

/// Result of `XENMEM_MACHPHYS_MAPPING` (24 B).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
#[repr(C)]
pub struct XenMachphysMapping {
    /// Start of the M2P mapping.
    pub v_start: u64,
    /// End of the M2P mapping.
    pub v_end: u64,
    /// Largest MFN that can be looked up.
    pub max_mfn: u64,
}

/// Argument of `XENMEM_ADD_TO_PHYSMAP` (24 B).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
#[repr(C)]
pub struct XenAddToPhysmap {
    /// Target domain.
    pub domid: DomId,
    /// Number of pages for `XENMAPSPACE_GMFN_RANGE`.
    pub size: u16,
    /// `XENMAPSPACE_*`.
    pub space: u32,
    /// Index within the space.
    pub idx: u64,
    /// Where to map it.
    pub gpfn: u64,
}

/// Argument of `XENMEM_MEMORY_MAP` (16 B).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
#[repr(C)]
pub struct XenMemoryMap {
    /// IN: capacity; OUT: entries written.
    pub nr_entries: u32,
    /// Padding.
    pub _pad: u32,
    /// Guest pointer to an E820 array.
    pub buffer: u64,
}

assert_eq_size!(XenMemoryReservation, [u8; 32]);
const_assert_eq!(
    core::mem::offset_of!(XenMemoryReservation, extent_order),
    16
);
const_assert_eq!(core::mem::offset_of!(XenMemoryReservation, domid), 24);
assert_eq_size!(XenMachphysMfnList, [u8; 24]);
assert_eq_size!(XenMachphysMapping, [u8; 24]);
assert_eq_size!(XenAddToPhysmap, [u8; 24]);
assert_eq_size!(XenMemoryMap, [u8; 16]);

/// `memory_op`'s command word holds the command in its low bits and, above this shift, the
/// extent a continued call restarts at (`MEMOP_EXTENT_SHIFT`).
pub const MEMOP_EXTENT_SHIFT: u32 = 6;
