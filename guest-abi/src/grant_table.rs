//! Grant tables (version 1): how a domain lets another map or copy its pages.
//!
//! The granting domain fills a [`GrantEntryV1`] in its grant table (write
//! `domid` and `frame`, then a write barrier, then `flags`); the grantee
//! names the entry by [`GrantRef`] in a
//! `grant_table_op`. Each operation structure implements [`GnttabOp`].

use crate::types::{DomId, GrantRef};
use bitflags::bitflags;
use static_assertions::{assert_eq_size, const_assert_eq};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// Map a grant ([`GnttabMapGrantRef`]).
pub const GNTTABOP_MAP_GRANT_REF: u32 = 0;
/// Unmap a grant ([`GnttabUnmapGrantRef`]).
pub const GNTTABOP_UNMAP_GRANT_REF: u32 = 1;
/// Set up / locate the grant table frames ([`GnttabSetupTable`]).
pub const GNTTABOP_SETUP_TABLE: u32 = 2;
/// Dump the table to the console ([`GnttabDumpTable`]).
pub const GNTTABOP_DUMP_TABLE: u32 = 3;
/// Transfer a page ([`GnttabTransfer`]).
pub const GNTTABOP_TRANSFER: u32 = 4;
/// Copy between granted pages ([`GnttabCopy`]).
pub const GNTTABOP_COPY: u32 = 5;
/// Query the table size ([`GnttabQuerySize`]).
pub const GNTTABOP_QUERY_SIZE: u32 = 6;
/// Unmap, replacing with another mapping ([`GnttabUnmapAndReplace`]).
pub const GNTTABOP_UNMAP_AND_REPLACE: u32 = 7;
/// Select the table version ([`GnttabSetVersion`]).
pub const GNTTABOP_SET_VERSION: u32 = 8;
/// v2 status frames.
pub const GNTTABOP_GET_STATUS_FRAMES: u32 = 9;
/// Read the table version ([`GnttabGetVersion`]).
pub const GNTTABOP_GET_VERSION: u32 = 10;
/// Swap two grant entries.
pub const GNTTABOP_SWAP_GRANT_REF: u32 = 11;
/// Cache flush.
pub const GNTTABOP_CACHE_FLUSH: u32 = 12;

/// Reserved grant entries (0–7); the toolstack uses two of them.
pub const GNTTAB_NR_RESERVED_ENTRIES: u32 = 8;
/// Reserved entry for the console ring.
pub const GNTTAB_RESERVED_CONSOLE: GrantRef = GrantRef(0);
/// Reserved entry for the xenstore ring.
pub const GNTTAB_RESERVED_XENSTORE: GrantRef = GrantRef(1);

bitflags! {
    /// `GTF_*` bits of [`GrantEntryV1::flags`]. The low two bits are the
    /// entry type ([`GtfFlags::TYPE_MASK`]).
    #[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
    pub struct GtfFlags: u16 {
        /// Type: the grantee may map/copy the frame.
        const PERMIT_ACCESS = 1;
        /// Type: the grantee may transfer a page into the frame.
        const ACCEPT_TRANSFER = 2;
        /// Type: transitive grant (v2 only).
        const TRANSITIVE = 3;
        /// Mask of the type bits.
        const TYPE_MASK = 3;
        /// Read-only access.
        const READONLY = 1 << 2;
        /// Set by the hypervisor while the grantee has it mapped/reading.
        const READING = 1 << 3;
        /// Set by the hypervisor while the grantee has it mapped writable.
        const WRITING = 1 << 4;
        /// Map with PWT.
        const PWT = 1 << 5;
        /// Map with PCD.
        const PCD = 1 << 6;
        /// Map with PAT.
        const PAT = 1 << 7;
        /// Sub-page grant (v2 only).
        const SUB_PAGE = 1 << 8;
    }
}

impl GtfFlags {
    /// Type: invalid (no grant).
    pub const INVALID: GtfFlags = GtfFlags::empty();
    /// Transfer: the transfer has been committed (shares bit 2).
    pub const TRANSFER_COMMITTED: u16 = 1 << 2;
    /// Transfer: the transfer has completed (shares bit 3).
    pub const TRANSFER_COMPLETED: u16 = 1 << 3;
    /// The entry type bits.
    pub fn entry_type(self) -> u16 {
        self.bits() & 3
    }
}

/// A version-1 grant table entry (`grant_entry_v1`, 8 B).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
#[repr(C)]
pub struct GrantEntryV1 {
    /// [`GtfFlags`] bits (written last by the granter).
    pub flags: u16,
    /// The domain being granted access.
    pub domid: DomId,
    /// The frame (MFN for PV) granted.
    pub frame: u32,
}

/// Grant entries per 4 KiB table frame (v1).
pub const GRANT_ENTRIES_PER_FRAME_V1: usize = 4096 / core::mem::size_of::<GrantEntryV1>();

bitflags! {
    /// `GNTMAP_*` flags of [`GnttabMapGrantRef::flags`].
    #[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
    pub struct GntmapFlags: u32 {
        /// Map for device (DMA) access.
        const DEVICE_MAP = 1 << 0;
        /// Map into the host address space at `host_addr`.
        const HOST_MAP = 1 << 1;
        /// Map read-only.
        const READONLY = 1 << 2;
        /// Map for user (application) access.
        const APPLICATION_MAP = 1 << 3;
        /// `host_addr` is the machine address of a PTE to write.
        const CONTAINS_PTE = 1 << 4;
    }
}

/// The first of the guest's "available" flag bits of a grant map (`_GNTMAP_guest_avail0`):
/// bits from here up are the guest's own, copied into the new PTE's available bits (9-11)
/// when the hypervisor offers `XENFEAT_gnttab_map_avail_bits`.
pub const GNTMAP_GUEST_AVAIL0: u32 = 16;
/// The guest-available flag bits of a grant map (`GNTMAP_guest_avail_mask`).
pub const GNTMAP_GUEST_AVAIL_MASK: u32 = !0 << GNTMAP_GUEST_AVAIL0;

/// A grant operation status (`GNTST_*`, an `i16` in the structures).
#[derive(
    Clone, Copy, PartialEq, Eq, Hash, Debug, Default, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
#[repr(transparent)]
pub struct GntStatus(pub i16);

macro_rules! gntst {
    ($($name:ident = $v:expr, $s:literal;)*) => {
        impl GntStatus {
            $(#[doc = $s] pub const $name: GntStatus = GntStatus($v);)*
            /// The symbolic name (`"GNTST_okay"` style, upper case).
            pub const fn name(self) -> &'static str {
                match self.0 {
                    $($v => concat!("GNTST_", stringify!($name)),)*
                    _ => "GNTST_?",
                }
            }
        }
    };
}

gntst! {
    OKAY = 0, "Success.";
    GENERAL_ERROR = -1, "Undefined error.";
    BAD_DOMAIN = -2, "Unknown domain.";
    BAD_GNTREF = -3, "Unknown or unsuitable grant reference.";
    BAD_HANDLE = -4, "Unknown or unsuitable handle.";
    BAD_VIRT_ADDR = -5, "Unsuitable virtual address.";
    BAD_DEV_ADDR = -6, "Unsuitable device address.";
    NO_DEVICE_SPACE = -7, "No I/O MMU space.";
    PERMISSION_DENIED = -8, "Not permitted.";
    BAD_PAGE = -9, "Unsuitable page.";
    BAD_COPY_ARG = -10, "Copy crosses a page boundary.";
    ADDRESS_TOO_BIG = -11, "Transfer page address too large.";
    EAGAIN = -12, "Try again.";
    NO_SPACE = -13, "Out of space (handles etc.).";
}

impl GntStatus {
    /// Whether the status is `OKAY`.
    pub const fn is_ok(self) -> bool {
        self.0 == 0
    }
}

/// A `grant_table_op` operation structure, tied to its command.
pub trait GnttabOp: FromBytes + IntoBytes + KnownLayout + Immutable {
    /// The `GNTTABOP_*` command taking an array of this structure.
    const CMD: u32;
}

crate::op::abi_op!(
    GnttabOp,
    /// `GNTTABOP_MAP_GRANT_REF` (32 B).
    GnttabMapGrantRef = GNTTABOP_MAP_GRANT_REF {
        /// IN: where to map (virtual address, or PTE address with CONTAINS_PTE).
        host_addr: u64,
        /// IN: [`GntmapFlags`].
        flags: u32,
        /// IN: the grant reference.
        ref_: GrantRef,
        /// IN: the granting domain.
        dom: DomId,
        /// OUT: [`GntStatus`].
        status: i16,
        /// OUT: handle for unmapping.
        handle: u32,
        /// OUT: bus address for device mappings.
        dev_bus_addr: u64,
    }
);
crate::op::abi_op!(
    GnttabOp,
    /// `GNTTABOP_UNMAP_GRANT_REF` (24 B).
    GnttabUnmapGrantRef = GNTTABOP_UNMAP_GRANT_REF {
        /// IN: the mapped address (0 to skip the host mapping).
        host_addr: u64,
        /// IN: the device address (0 to skip).
        dev_bus_addr: u64,
        /// IN: the handle from the map.
        handle: u32,
        /// OUT: [`GntStatus`].
        status: i16,
        /// Padding.
        _pad: u16,
    }
);
crate::op::abi_op!(
    GnttabOp,
    /// `GNTTABOP_SETUP_TABLE` (24 B).
    GnttabSetupTable = GNTTABOP_SETUP_TABLE {
        /// IN: the domain.
        dom: DomId,
        /// Padding.
        _pad0: u16,
        /// IN: frames wanted.
        nr_frames: u32,
        /// OUT: [`GntStatus`].
        status: i16,
        /// Padding.
        _pad1: [u16; 3],
        /// IN: guest pointer to a `u64` array receiving the frame numbers.
        frame_list: u64,
    }
);
crate::op::abi_op!(
    GnttabOp,
    /// `GNTTABOP_DUMP_TABLE` (4 B).
    GnttabDumpTable = GNTTABOP_DUMP_TABLE {
        /// IN: the domain.
        dom: DomId,
        /// OUT: [`GntStatus`].
        status: i16,
    }
);
crate::op::abi_op!(
    GnttabOp,
    /// `GNTTABOP_TRANSFER` (24 B).
    GnttabTransfer = GNTTABOP_TRANSFER {
        /// IN: the frame to give away.
        mfn: u64,
        /// IN: the receiving domain.
        domid: DomId,
        /// Padding.
        _pad0: u16,
        /// IN: the receiver's accept-transfer grant.
        ref_: GrantRef,
        /// OUT: [`GntStatus`].
        status: i16,
        /// Padding.
        _pad1: [u16; 3],
    }
);

/// One side of a [`GnttabCopy`] (16 B).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
#[repr(C)]
pub struct GnttabCopyPtr {
    /// Grant reference (with `GNTCOPY_*_GREF`) or frame number (u64 union).
    pub u: u64,
    /// The domain owning the page.
    pub domid: DomId,
    /// Byte offset within the page.
    pub offset: u16,
    /// Padding.
    pub _pad: u32,
}

/// `GnttabCopy::flags`: `source.u` is a grant reference.
pub const GNTCOPY_SOURCE_GREF: u16 = 1 << 0;
/// `GnttabCopy::flags`: `dest.u` is a grant reference.
pub const GNTCOPY_DEST_GREF: u16 = 1 << 1;

crate::op::abi_op!(
    GnttabOp,
    /// `GNTTABOP_COPY` (40 B).
    GnttabCopy = GNTTABOP_COPY {
        /// Source.
        source: GnttabCopyPtr,
        /// Destination.
        dest: GnttabCopyPtr,
        /// Bytes to copy (must not cross a page).
        len: u16,
        /// `GNTCOPY_*`.
        flags: u16,
        /// OUT: [`GntStatus`].
        status: i16,
        /// Padding.
        _pad: u16,
    }
);
crate::op::abi_op!(
    GnttabOp,
    /// `GNTTABOP_QUERY_SIZE` (16 B).
    GnttabQuerySize = GNTTABOP_QUERY_SIZE {
        /// IN: the domain.
        dom: DomId,
        /// Padding.
        _pad0: u16,
        /// OUT: current frames.
        nr_frames: u32,
        /// OUT: maximum frames.
        max_nr_frames: u32,
        /// OUT: [`GntStatus`].
        status: i16,
        /// Padding.
        _pad1: u16,
    }
);
crate::op::abi_op!(
    GnttabOp,
    /// `GNTTABOP_UNMAP_AND_REPLACE` (24 B).
    GnttabUnmapAndReplace = GNTTABOP_UNMAP_AND_REPLACE {
        /// IN: the mapped address.
        host_addr: u64,
        /// IN: the address whose mapping replaces it.
        new_addr: u64,
        /// IN: the handle.
        handle: u32,
        /// OUT: [`GntStatus`].
        status: i16,
        /// Padding.
        _pad: u16,
    }
);
crate::op::abi_op!(
    GnttabOp,
    /// `GNTTABOP_SET_VERSION` (4 B).
    GnttabSetVersion = GNTTABOP_SET_VERSION {
        /// IN/OUT: the version.
        version: u32,
    }
);
crate::op::abi_op!(
    GnttabOp,
    /// `GNTTABOP_GET_VERSION` (8 B).
    GnttabGetVersion = GNTTABOP_GET_VERSION {
        /// IN: the domain.
        dom: DomId,
        /// Padding.
        pad: u16,
        /// OUT: the version.
        version: u32,
    }
);

assert_eq_size!(GrantEntryV1, [u8; 8]);
const_assert_eq!(core::mem::offset_of!(GrantEntryV1, frame), 4);
assert_eq_size!(GnttabMapGrantRef, [u8; 32]);
const_assert_eq!(core::mem::offset_of!(GnttabMapGrantRef, ref_), 12);
const_assert_eq!(core::mem::offset_of!(GnttabMapGrantRef, status), 18);
const_assert_eq!(core::mem::offset_of!(GnttabMapGrantRef, handle), 20);
assert_eq_size!(GnttabUnmapGrantRef, [u8; 24]);
assert_eq_size!(GnttabSetupTable, [u8; 24]);
const_assert_eq!(core::mem::offset_of!(GnttabSetupTable, frame_list), 16);
assert_eq_size!(GnttabDumpTable, [u8; 4]);
assert_eq_size!(GnttabTransfer, [u8; 24]);
assert_eq_size!(GnttabCopyPtr, [u8; 16]);
assert_eq_size!(GnttabCopy, [u8; 40]);
const_assert_eq!(core::mem::offset_of!(GnttabCopy, len), 32);
const_assert_eq!(core::mem::offset_of!(GnttabCopy, status), 36);
assert_eq_size!(GnttabQuerySize, [u8; 16]);
assert_eq_size!(GnttabUnmapAndReplace, [u8; 24]);
assert_eq_size!(GnttabSetVersion, [u8; 4]);
assert_eq_size!(GnttabGetVersion, [u8; 8]);
