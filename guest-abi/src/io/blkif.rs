//! The block device protocol (`blkif`).

use crate::types::GrantRef;
use static_assertions::{assert_eq_size, const_assert_eq};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// Read sectors.
pub const BLKIF_OP_READ: u8 = 0;
/// Write sectors.
pub const BLKIF_OP_WRITE: u8 = 1;
/// Write with a barrier.
pub const BLKIF_OP_WRITE_BARRIER: u8 = 2;
/// Flush the disk cache.
pub const BLKIF_OP_FLUSH_DISKCACHE: u8 = 3;
/// Discard sectors.
pub const BLKIF_OP_DISCARD: u8 = 5;
/// Indirect request.
pub const BLKIF_OP_INDIRECT: u8 = 6;
/// Segments in a direct request.
pub const BLKIF_MAX_SEGMENTS_PER_REQUEST: usize = 11;
/// Grant pages of segments an indirect request may name.
pub const BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST: usize = 8;
/// Segments (`BlkifRequestSegment`, 8 B) in one indirect page.
pub const BLKIF_SEGMENTS_PER_INDIRECT_PAGE: usize = 4096 / 8;
/// Response status: success.
pub const BLKIF_RSP_OKAY: i16 = 0;
/// Response status: error.
pub const BLKIF_RSP_ERROR: i16 = -1;
/// Response status: operation not supported.
pub const BLKIF_RSP_EOPNOTSUPP: i16 = -2;
/// Sector size of `sector_number`, `first_sect`, `last_sect`.
pub const BLKIF_SECTOR_SIZE: usize = 512;
/// `info` bit: CD-ROM.
pub const VDISK_CDROM: u32 = 0x1;
/// `info` bit: removable.
pub const VDISK_REMOVABLE: u32 = 0x2;
/// `info` bit: read-only.
pub const VDISK_READONLY: u32 = 0x4;

/// One data segment: sectors `first_sect..=last_sect` of a granted page (8 B).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
#[repr(C)]
pub struct BlkifRequestSegment {
    /// Grant of the buffer page.
    pub gref: GrantRef,
    /// First sector within the page.
    pub first_sect: u8,
    /// Last sector within the page (inclusive).
    pub last_sect: u8,
    /// Padding.
    pub _pad: u16,
}

/// A block request (`blkif_request`, 112 B).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
#[repr(C)]
pub struct BlkifRequest {
    /// `BLKIF_OP_*`.
    pub operation: u8,
    /// Segments used.
    pub nr_segments: u8,
    /// Virtual device handle.
    pub handle: u16,
    /// Padding.
    pub _pad: u32,
    /// Front-end private id, echoed in the response.
    pub id: u64,
    /// Start sector (512-byte units).
    pub sector_number: u64,
    /// Segments.
    pub seg: [BlkifRequestSegment; BLKIF_MAX_SEGMENTS_PER_REQUEST],
}

/// An indirect block request (`blkif_request_indirect`, 64 B on x86_64, in a 112-byte
/// ring slot): its segments are in the pages `indirect_grefs` grant, 512 to a page.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
#[repr(C)]
pub struct BlkifRequestIndirect {
    /// `BLKIF_OP_INDIRECT`.
    pub operation: u8,
    /// `BLKIF_OP_READ` or `BLKIF_OP_WRITE`.
    pub indirect_op: u8,
    /// Segments in all.
    pub nr_segments: u16,
    /// Padding.
    pub _pad1: u32,
    /// Front-end private id, echoed in the response.
    pub id: u64,
    /// Start sector (512-byte units).
    pub sector_number: u64,
    /// Virtual device handle.
    pub handle: u16,
    /// Padding.
    pub _pad2: u16,
    /// Grants of the pages holding the segments.
    pub indirect_grefs: [GrantRef; BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST],
    /// Padding (x86_64).
    pub _pad3: u32,
}

/// Bytes of a blkif ring slot (`union blkif_sring_entry`: a request or a response).
pub const BLKIF_RING_SLOT: usize = crate::ring::ring_geometry::<BlkifRequest, BlkifResponse>().0;

/// Slots in a blkif ring of `pages` pages (`ring-page-order` = log2 `pages`): 32 for one
/// page, 64 for two, ..., 512 for sixteen.
pub const fn blkif_ring_entries(pages: usize) -> usize {
    crate::ring::ring_entries_in_pages(pages, BLKIF_RING_SLOT)
}

/// A block response (`blkif_response`, 16 B).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
#[repr(C)]
pub struct BlkifResponse {
    /// The request's id.
    pub id: u64,
    /// The request's operation.
    pub operation: u8,
    /// Padding.
    pub _pad0: u8,
    /// `BLKIF_RSP_*`.
    pub status: i16,
    /// Padding.
    pub _pad1: u32,
}

assert_eq_size!(BlkifRequestSegment, [u8; 8]);
assert_eq_size!(BlkifRequest, [u8; 112]);
const_assert_eq!(core::mem::offset_of!(BlkifRequest, id), 8);
const_assert_eq!(core::mem::offset_of!(BlkifRequest, sector_number), 16);
const_assert_eq!(core::mem::offset_of!(BlkifRequest, seg), 24);
assert_eq_size!(BlkifRequestIndirect, [u8; 64]);
const_assert_eq!(core::mem::offset_of!(BlkifRequestIndirect, id), 8);
const_assert_eq!(
    core::mem::offset_of!(BlkifRequestIndirect, sector_number),
    16
);
const_assert_eq!(core::mem::offset_of!(BlkifRequestIndirect, handle), 24);
const_assert_eq!(
    core::mem::offset_of!(BlkifRequestIndirect, indirect_grefs),
    28
);
assert_eq_size!(BlkifResponse, [u8; 16]);
const_assert_eq!(BLKIF_RING_SLOT, 112);
const_assert_eq!(blkif_ring_entries(1), 32);
const_assert_eq!(blkif_ring_entries(2), 64);
const_assert_eq!(blkif_ring_entries(16), 512);
const_assert_eq!(core::mem::offset_of!(BlkifResponse, operation), 8);
const_assert_eq!(core::mem::offset_of!(BlkifResponse, status), 10);
