//! The save/migration image: xl's save-file header, libxl's stream (v2) and libxc's domain
//! stream (v3, reading v2 too), as Xen's published specifications lay them out
//! (`docs/specs/libxl-migration-stream.pandoc`, `docs/specs/libxc-migration-stream.pandoc`).
//!
//! An image, outermost first:
//!
//! 1. xl's save-file header ([`XlSaveHeader`]) and its optional data, which carries the
//!    domain's configuration: a 32-bit length, then the configuration file's text.
//! 2. libxl's stream header ([`LibxlHeader`]), then libxl records ([`RecordHeader`] with a
//!    `LIBXL_REC_*` type); [`LIBXL_REC_LIBXC_CONTEXT`] hands the stream to libxc's layer.
//! 3. libxc's image header ([`ImageHeader`]), domain header ([`DomainHeader`]), then records
//!    with a `REC_*` type up to [`REC_END`], after which libxl's records resume (its own
//!    [`LIBXL_REC_END`] closes the image).
//!
//! Byte order: the two stream headers ([`ImageHeader`], [`LibxlHeader`]) are big-endian
//! whatever the options say; everything else is in the order their `options` name, which
//! for x86 is little-endian, the only order written and accepted here. The structures use
//! zerocopy's fixed-order integer types, so they mean the same bytes on any host (and have
//! alignment 1: they are read straight out of a byte buffer).
//!
//! Every record is padded with zeros to a multiple of [`REC_ALIGN`] octets; a record's
//! type with bit 31 ([`REC_TYPE_OPTIONAL`]) set may be skipped by a reader that does not
//! know it, any other unknown type must fail the restore.

use static_assertions::const_assert_eq;
use zerocopy::byteorder::{big_endian as be, little_endian as le};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

// ---------------------------------------------------------------------------------------
// xl's save-file header
// ---------------------------------------------------------------------------------------

/// The 32 octets an xl save file (and xl's migration stream) begins with.
pub const XL_SAVE_MAGIC: [u8; 32] = *b"Xen saved domain, xl format\n \0 \r";
/// [`XlSaveHeader::byteorder`]: this value in the writer's order, so a reader sees whether
/// the order is its own.
pub const XL_SAVE_BYTEORDER: u32 = 0x0102_0304;
/// Mandatory flag: the configuration in the optional data is JSON (else xl.cfg text).
pub const XL_MANDATORY_FLAG_JSON: u32 = 1 << 0;
/// Mandatory flag: libxl's stream that follows is the v2 stream ([`LibxlHeader`]).
pub const XL_MANDATORY_FLAG_STREAMV2: u32 = 1 << 1;
/// Every mandatory flag a reader knows; any other set bit refuses the image.
pub const XL_MANDATORY_FLAGS_KNOWN: u32 = XL_MANDATORY_FLAG_JSON | XL_MANDATORY_FLAG_STREAMV2;

/// xl's save-file header. The optional data (`optional_data_len` octets) follows it: a
/// [`u32`] configuration length, then that many octets of configuration.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned,
)]
#[repr(C)]
pub struct XlSaveHeader {
    /// [`XL_SAVE_MAGIC`].
    pub magic: [u8; 32],
    /// [`XL_SAVE_BYTEORDER`].
    pub byteorder: le::U32,
    /// `XL_MANDATORY_FLAG_*`: a flag the reader does not know refuses the image.
    pub mandatory_flags: le::U32,
    /// Flags a reader may ignore (none defined).
    pub optional_flags: le::U32,
    /// Octets of optional data after this header.
    pub optional_data_len: le::U32,
}
const_assert_eq!(core::mem::size_of::<XlSaveHeader>(), 48);

// ---------------------------------------------------------------------------------------
// libxl's stream
// ---------------------------------------------------------------------------------------

/// [`LibxlHeader::ident`]: "LibxlFmt".
pub const LIBXL_IDENT: u64 = 0x4c69_6278_6c46_6d74;
/// [`LibxlHeader::version`] of the specification implemented.
pub const LIBXL_VERSION: u32 = 2;
/// [`LibxlHeader::options`] bit 0: the stream's records are big-endian.
pub const LIBXL_OPT_BIG_ENDIAN: u32 = 1 << 0;
/// [`LibxlHeader::options`] bit 1: the stream came from the legacy conversion tool.
pub const LIBXL_OPT_LEGACY: u32 = 1 << 1;

/// libxl's stream header, big-endian.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned,
)]
#[repr(C)]
pub struct LibxlHeader {
    /// [`LIBXL_IDENT`].
    pub ident: be::U64,
    /// [`LIBXL_VERSION`].
    pub version: be::U32,
    /// `LIBXL_OPT_*`.
    pub options: be::U32,
}
const_assert_eq!(core::mem::size_of::<LibxlHeader>(), 16);

/// libxl record: the end of the image.
pub const LIBXL_REC_END: u32 = 0;
/// libxl record (empty): libxc's stream follows.
pub const LIBXL_REC_LIBXC_CONTEXT: u32 = 1;
/// libxl record: an emulator's XenStore keys ([`EmulatorHeader`], then key/value pairs).
pub const LIBXL_REC_EMULATOR_XENSTORE_DATA: u32 = 2;
/// libxl record: an emulator's context blob ([`EmulatorHeader`], then the blob).
pub const LIBXL_REC_EMULATOR_CONTEXT: u32 = 3;
/// libxl record (empty): the end of a checkpoint (Remus/COLO).
pub const LIBXL_REC_CHECKPOINT_END: u32 = 4;
/// libxl record: COLO checkpoint state.
pub const LIBXL_REC_CHECKPOINT_STATE: u32 = 5;

/// The sub-header of libxl's emulator records.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned,
)]
#[repr(C)]
pub struct EmulatorHeader {
    /// Which emulator (0 unknown, 1 qemu-traditional, 2 qemu-upstream).
    pub id: le::U32,
    /// The emulator's index for the domain.
    pub index: le::U32,
}
const_assert_eq!(core::mem::size_of::<EmulatorHeader>(), 8);

// ---------------------------------------------------------------------------------------
// Records, both layers
// ---------------------------------------------------------------------------------------

/// Every record (libxl's and libxc's) ends on a multiple of this many octets.
pub const REC_ALIGN: usize = 8;
/// A record type with this bit set is optional: a reader may skip it.
pub const REC_TYPE_OPTIONAL: u32 = 0x8000_0000;
/// The largest record body libxc accepts (its implementation limit, 128 MiB).
pub const REC_LENGTH_MAX: u32 = 128 << 20;

/// The header of every record: its type and the length of the body that follows
/// (without the padding).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned,
)]
#[repr(C)]
pub struct RecordHeader {
    /// The record type (`REC_*` or `LIBXL_REC_*`).
    pub rtype: le::U32,
    /// Octets of body.
    pub length: le::U32,
}
const_assert_eq!(core::mem::size_of::<RecordHeader>(), 8);

/// Octets of zero padding after a body of `length` octets.
pub const fn rec_padding(length: u32) -> usize {
    (REC_ALIGN - (length as usize % REC_ALIGN)) % REC_ALIGN
}

// ---------------------------------------------------------------------------------------
// libxc's stream: headers
// ---------------------------------------------------------------------------------------

/// [`ImageHeader::marker`]: all ones (a legacy image has a zero bit here).
pub const IHDR_MARKER: u64 = u64::MAX;
/// [`ImageHeader::id`]: "XENF".
pub const IHDR_ID: u32 = 0x5845_4e46;
/// The version written: 3 (Xen 4.14 and later: STATIC_DATA_END is mandatory).
pub const IHDR_VERSION: u32 = 3;
/// The oldest version read: 2 (STATIC_DATA_END implied by the first X86_PV_P2M_FRAMES).
pub const IHDR_VERSION_MIN: u32 = 2;
/// [`ImageHeader::options`] bit 0: records are big-endian.
pub const IHDR_OPT_BIG_ENDIAN: u16 = 1 << 0;

/// libxc's image header, big-endian.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned,
)]
#[repr(C)]
pub struct ImageHeader {
    /// [`IHDR_MARKER`].
    pub marker: be::U64,
    /// [`IHDR_ID`].
    pub id: be::U32,
    /// The specification version the image follows.
    pub version: be::U32,
    /// `IHDR_OPT_*`; bits 1-15 reserved.
    pub options: be::U16,
    /// Reserved.
    pub _res1: be::U16,
    /// Reserved.
    pub _res2: be::U32,
}
const_assert_eq!(core::mem::size_of::<ImageHeader>(), 24);

impl ImageHeader {
    /// The image header a writer emits: marker, id, [`IHDR_VERSION`], no options (little
    /// endian pages), reserved fields zero.
    pub fn current() -> Self {
        ImageHeader {
            marker: IHDR_MARKER.into(),
            id: IHDR_ID.into(),
            version: IHDR_VERSION.into(),
            options: 0.into(),
            _res1: 0.into(),
            _res2: 0.into(),
        }
    }
}

/// [`DomainHeader::dtype`]: an x86 PV domain.
pub const DHDR_TYPE_X86_PV: u32 = 1;
/// [`DomainHeader::dtype`]: an x86 HVM domain.
pub const DHDR_TYPE_X86_HVM: u32 = 2;
/// [`DomainHeader::dtype`]: an x86 PVH domain.
pub const DHDR_TYPE_X86_PVH: u32 = 3;
/// [`DomainHeader::dtype`]: an ARM domain.
pub const DHDR_TYPE_ARM: u32 = 4;

/// libxc's domain header (in the stream's order).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned,
)]
#[repr(C)]
pub struct DomainHeader {
    /// `DHDR_TYPE_*`.
    pub dtype: le::U32,
    /// log2 of the guest's page size (12).
    pub page_shift: le::U16,
    /// Reserved.
    pub _res1: le::U16,
    /// The Xen major version the image was saved under.
    pub xen_major: le::U32,
    /// The Xen minor version the image was saved under.
    pub xen_minor: le::U32,
}
const_assert_eq!(core::mem::size_of::<DomainHeader>(), 16);

// ---------------------------------------------------------------------------------------
// libxc's stream: record types
// ---------------------------------------------------------------------------------------

/// The end of libxc's records.
pub const REC_END: u32 = 0x00;
/// Guest memory: [`PageDataHeader`], pfn entries, page contents.
pub const REC_PAGE_DATA: u32 = 0x01;
/// [`X86PvInfo`].
pub const REC_X86_PV_INFO: u32 = 0x02;
/// [`X86PvP2mFramesHeader`] and the pfns of the guest's p2m frames.
pub const REC_X86_PV_P2M_FRAMES: u32 = 0x03;
/// [`VcpuHeader`] and a `vcpu_guest_context` (XEN_DOMCTL_{get,set}vcpucontext).
pub const REC_X86_PV_VCPU_BASIC: u32 = 0x04;
/// [`VcpuHeader`] and XEN_DOMCTL_{get,set}_ext_vcpucontext's blob.
pub const REC_X86_PV_VCPU_EXTENDED: u32 = 0x05;
/// [`VcpuHeader`] and XEN_DOMCTL_{get,set}vcpuextstate's blob.
pub const REC_X86_PV_VCPU_XSAVE: u32 = 0x06;
/// The shared info page, exactly one page.
pub const REC_SHARED_INFO: u32 = 0x07;
/// [`TscInfo`].
pub const REC_X86_TSC_INFO: u32 = 0x08;
/// HVM context blob (HVM only).
pub const REC_HVM_CONTEXT: u32 = 0x09;
/// HVM parameters (HVM only).
pub const REC_HVM_PARAMS: u32 = 0x0a;
/// Toolstack blob (deprecated).
pub const REC_TOOLSTACK: u32 = 0x0b;
/// [`VcpuHeader`] and XEN_DOMCTL_{get,set}_vcpu_msrs's entries.
pub const REC_X86_PV_VCPU_MSRS: u32 = 0x0c;
/// Verify mode: more memory follows for checking (debugging).
pub const REC_VERIFY: u32 = 0x0d;
/// End of a checkpoint (Remus/COLO).
pub const REC_CHECKPOINT: u32 = 0x0e;
/// The pfns dirtied since a checkpoint (COLO).
pub const REC_CHECKPOINT_DIRTY_PFN_LIST: u32 = 0x0f;
/// The end of the static configuration records (mandatory from version 3).
pub const REC_STATIC_DATA_END: u32 = 0x10;
/// The domain's CPUID policy: an array of [`CpuidLeaf`].
pub const REC_X86_CPUID_POLICY: u32 = 0x11;
/// The domain's MSR policy: an array of [`MsrEntry`].
pub const REC_X86_MSR_POLICY: u32 = 0x12;

/// The name of a libxc record type, for messages.
pub const fn rec_name(rtype: u32) -> &'static str {
    match rtype {
        REC_END => "END",
        REC_PAGE_DATA => "PAGE_DATA",
        REC_X86_PV_INFO => "X86_PV_INFO",
        REC_X86_PV_P2M_FRAMES => "X86_PV_P2M_FRAMES",
        REC_X86_PV_VCPU_BASIC => "X86_PV_VCPU_BASIC",
        REC_X86_PV_VCPU_EXTENDED => "X86_PV_VCPU_EXTENDED",
        REC_X86_PV_VCPU_XSAVE => "X86_PV_VCPU_XSAVE",
        REC_SHARED_INFO => "SHARED_INFO",
        REC_X86_TSC_INFO => "X86_TSC_INFO",
        REC_HVM_CONTEXT => "HVM_CONTEXT",
        REC_HVM_PARAMS => "HVM_PARAMS",
        REC_TOOLSTACK => "TOOLSTACK",
        REC_X86_PV_VCPU_MSRS => "X86_PV_VCPU_MSRS",
        REC_VERIFY => "VERIFY",
        REC_CHECKPOINT => "CHECKPOINT",
        REC_CHECKPOINT_DIRTY_PFN_LIST => "CHECKPOINT_DIRTY_PFN_LIST",
        REC_STATIC_DATA_END => "STATIC_DATA_END",
        REC_X86_CPUID_POLICY => "X86_CPUID_POLICY",
        REC_X86_MSR_POLICY => "X86_MSR_POLICY",
        t if t & REC_TYPE_OPTIONAL != 0 => "optional record",
        _ => "unknown record",
    }
}

/// The name of a libxl record type, for messages.
pub const fn libxl_rec_name(rtype: u32) -> &'static str {
    match rtype {
        LIBXL_REC_END => "LIBXL_END",
        LIBXL_REC_LIBXC_CONTEXT => "LIBXC_CONTEXT",
        LIBXL_REC_EMULATOR_XENSTORE_DATA => "EMULATOR_XENSTORE_DATA",
        LIBXL_REC_EMULATOR_CONTEXT => "EMULATOR_CONTEXT",
        LIBXL_REC_CHECKPOINT_END => "CHECKPOINT_END",
        LIBXL_REC_CHECKPOINT_STATE => "CHECKPOINT_STATE",
        t if t & REC_TYPE_OPTIONAL != 0 => "optional libxl record",
        _ => "unknown libxl record",
    }
}

// ---------------------------------------------------------------------------------------
// libxc's stream: record bodies
// ---------------------------------------------------------------------------------------

/// The start of a PAGE_DATA body: `count` pfn entries ([`pfn_entry`]) follow, then one page
/// of contents for each entry whose type carries data ([`PageType::has_data`]).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned,
)]
#[repr(C)]
pub struct PageDataHeader {
    /// Number of pfn entries (strictly positive).
    pub count: le::U32,
    /// Reserved.
    pub _res1: le::U32,
}
const_assert_eq!(core::mem::size_of::<PageDataHeader>(), 8);

/// Bits 51-0 of a PAGE_DATA pfn entry: the pfn.
pub const PAGE_DATA_PFN_MASK: u64 = 0x000f_ffff_ffff_ffff;
/// Bits 59-52 of a PAGE_DATA pfn entry: reserved.
pub const PAGE_DATA_RESERVED_MASK: u64 = 0x0ff0_0000_0000_0000;
/// Bits 63-60 of a PAGE_DATA pfn entry: the page type (`XEN_DOMCTL_PFINFO_*` shifted up
/// by 32 bits).
pub const PAGE_DATA_TYPE_MASK: u64 = 0xf000_0000_0000_0000;
/// Shift of the page type within a PAGE_DATA pfn entry.
pub const PAGE_DATA_TYPE_SHIFT: u32 = 60;

/// Shift of the type within a `XEN_DOMCTL_PFINFO_*` value (public/domctl.h).
pub const XEN_DOMCTL_PFINFO_LTAB_SHIFT: u32 = 28;
/// `XEN_DOMCTL_PFINFO_NOTAB`: an ordinary page.
pub const XEN_DOMCTL_PFINFO_NOTAB: u32 = 0x0 << 28;
/// `XEN_DOMCTL_PFINFO_L1TAB`.
pub const XEN_DOMCTL_PFINFO_L1TAB: u32 = 0x1 << 28;
/// `XEN_DOMCTL_PFINFO_L2TAB`.
pub const XEN_DOMCTL_PFINFO_L2TAB: u32 = 0x2 << 28;
/// `XEN_DOMCTL_PFINFO_L3TAB`.
pub const XEN_DOMCTL_PFINFO_L3TAB: u32 = 0x3 << 28;
/// `XEN_DOMCTL_PFINFO_L4TAB`.
pub const XEN_DOMCTL_PFINFO_L4TAB: u32 = 0x4 << 28;
/// `XEN_DOMCTL_PFINFO_LTABTYPE_MASK`: the page-table level bits.
pub const XEN_DOMCTL_PFINFO_LTABTYPE_MASK: u32 = 0x7 << 28;
/// `XEN_DOMCTL_PFINFO_LPINTAB`: the page table is pinned.
pub const XEN_DOMCTL_PFINFO_LPINTAB: u32 = 0x1 << 31;
/// `XEN_DOMCTL_PFINFO_BROKEN`: a broken page (no contents).
pub const XEN_DOMCTL_PFINFO_BROKEN: u32 = 0xd << 28;
/// `XEN_DOMCTL_PFINFO_XALLOC`: allocate only (no contents).
pub const XEN_DOMCTL_PFINFO_XALLOC: u32 = 0xe << 28;
/// `XEN_DOMCTL_PFINFO_XTAB`: an invalid page (no contents).
pub const XEN_DOMCTL_PFINFO_XTAB: u32 = 0xf << 28;
/// `XEN_DOMCTL_PFINFO_LTAB_MASK`: every type bit.
pub const XEN_DOMCTL_PFINFO_LTAB_MASK: u32 = 0xf << 28;

/// The page type of a PAGE_DATA entry (the four type bits; 5-8 are reserved and refused).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PageType {
    /// An ordinary page.
    NoTab,
    /// A page-table page of this level (1-4), unpinned.
    Table(u8),
    /// A pinned page-table page of this level (1-4).
    PinnedTable(u8),
    /// A broken page: allocated, no contents.
    Broken,
    /// Allocate only: no contents.
    XAlloc,
    /// Not (or no longer) in the guest's p2m: no contents.
    XTab,
}

impl PageType {
    /// The type of these four bits, `None` for the reserved values 5-8.
    pub const fn from_nibble(n: u8) -> Option<PageType> {
        Some(match n {
            0x0 => PageType::NoTab,
            0x1..=0x4 => PageType::Table(n),
            0x9..=0xc => PageType::PinnedTable(n - 8),
            0xd => PageType::Broken,
            0xe => PageType::XAlloc,
            0xf => PageType::XTab,
            _ => return None,
        })
    }

    /// The four type bits.
    pub const fn nibble(self) -> u8 {
        match self {
            PageType::NoTab => 0,
            PageType::Table(l) => l & 7,
            PageType::PinnedTable(l) => 8 | (l & 7),
            PageType::Broken => 0xd,
            PageType::XAlloc => 0xe,
            PageType::XTab => 0xf,
        }
    }

    /// The type as a `XEN_DOMCTL_PFINFO_*` value.
    pub const fn pfinfo(self) -> u32 {
        (self.nibble() as u32) << XEN_DOMCTL_PFINFO_LTAB_SHIFT
    }

    /// The type of a `XEN_DOMCTL_PFINFO_*` value (its type bits only).
    pub const fn from_pfinfo(v: u32) -> Option<PageType> {
        PageType::from_nibble((v >> XEN_DOMCTL_PFINFO_LTAB_SHIFT) as u8)
    }

    /// Whether a page of this type has a page of contents in the record.
    pub const fn has_data(self) -> bool {
        !matches!(self, PageType::Broken | PageType::XAlloc | PageType::XTab)
    }

    /// The page-table level (1-4) of a page-table page, pinned or not.
    pub const fn table_level(self) -> Option<u8> {
        match self {
            PageType::Table(l) | PageType::PinnedTable(l) => Some(l),
            _ => None,
        }
    }
}

/// A PAGE_DATA pfn entry of `pfn` (at most 52 bits) and `ty`.
pub const fn pfn_entry(pfn: u64, ty: PageType) -> u64 {
    ((ty.nibble() as u64) << PAGE_DATA_TYPE_SHIFT) | (pfn & PAGE_DATA_PFN_MASK)
}

/// The pfn and type bits of a PAGE_DATA pfn entry (the reserved bits are ignored).
pub const fn split_pfn_entry(entry: u64) -> (u64, u8) {
    (
        entry & PAGE_DATA_PFN_MASK,
        (entry >> PAGE_DATA_TYPE_SHIFT) as u8,
    )
}

/// X86_PV_INFO's body.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned,
)]
#[repr(C)]
pub struct X86PvInfo {
    /// The guest's word size in octets (4 or 8).
    pub guest_width: u8,
    /// Page-table levels (3 or 4).
    pub pt_levels: u8,
    /// Reserved.
    pub _res: [u8; 6],
}
const_assert_eq!(core::mem::size_of::<X86PvInfo>(), 8);

/// The start of X86_PV_P2M_FRAMES's body; the pfns (u64 each) of the frames holding the
/// guest's p2m entries for pfns `start_pfn..=end_pfn` follow.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned,
)]
#[repr(C)]
pub struct X86PvP2mFramesHeader {
    /// The first pfn the frames describe.
    pub start_pfn: le::U32,
    /// The last pfn the frames describe (inclusive).
    pub end_pfn: le::U32,
}
const_assert_eq!(core::mem::size_of::<X86PvP2mFramesHeader>(), 8);

/// The start of each X86_PV_VCPU_* body; the context blob follows.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned,
)]
#[repr(C)]
pub struct VcpuHeader {
    /// The vCPU.
    pub vcpu_id: le::U32,
    /// Reserved.
    pub _res1: le::U32,
}
const_assert_eq!(core::mem::size_of::<VcpuHeader>(), 8);

/// X86_TSC_INFO's body (XEN_DOMCTL_{get,set}tscinfo).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned,
)]
#[repr(C)]
pub struct TscInfo {
    /// `TSC_MODE_*`.
    pub mode: le::U32,
    /// TSC frequency in kHz.
    pub khz: le::U32,
    /// Elapsed time in nanoseconds.
    pub nsec: le::U64,
    /// Incarnation.
    pub incarnation: le::U32,
    /// Reserved.
    pub _res1: le::U32,
}
const_assert_eq!(core::mem::size_of::<TscInfo>(), 24);

/// `TSC_MODE_DEFAULT`.
pub const TSC_MODE_DEFAULT: u32 = 0;
/// `TSC_MODE_ALWAYS_EMULATE`.
pub const TSC_MODE_ALWAYS_EMULATE: u32 = 1;
/// `TSC_MODE_NATIVE`.
pub const TSC_MODE_NATIVE: u32 = 2;

/// One entry of X86_CPUID_POLICY (`xen_cpuid_leaf_t`).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned,
)]
#[repr(C)]
pub struct CpuidLeaf {
    /// Leaf (eax on input).
    pub leaf: le::U32,
    /// Subleaf (ecx on input).
    pub subleaf: le::U32,
    /// eax.
    pub a: le::U32,
    /// ebx.
    pub b: le::U32,
    /// ecx.
    pub c: le::U32,
    /// edx.
    pub d: le::U32,
}
const_assert_eq!(core::mem::size_of::<CpuidLeaf>(), 24);

/// One entry of X86_MSR_POLICY and X86_PV_VCPU_MSRS (`xen_msr_entry_t`).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned,
)]
#[repr(C)]
pub struct MsrEntry {
    /// The MSR's index.
    pub idx: le::U32,
    /// Reserved flags (zero).
    pub flags: le::U32,
    /// The MSR's value.
    pub val: le::U64,
}
const_assert_eq!(core::mem::size_of::<MsrEntry>(), 16);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_types_round_trip_and_match_pfinfo() {
        for n in 0u8..16 {
            match PageType::from_nibble(n) {
                Some(t) => {
                    assert_eq!(t.nibble(), n);
                    assert_eq!(PageType::from_pfinfo(t.pfinfo()), Some(t));
                }
                None => assert!((5..=8).contains(&n), "{n} refused"),
            }
        }
        assert_eq!(
            PageType::PinnedTable(3).pfinfo(),
            XEN_DOMCTL_PFINFO_LPINTAB | XEN_DOMCTL_PFINFO_L3TAB
        );
        assert_eq!(PageType::XTab.pfinfo(), XEN_DOMCTL_PFINFO_XTAB);
        assert_eq!(PageType::XAlloc.pfinfo(), XEN_DOMCTL_PFINFO_XALLOC);
        assert_eq!(PageType::Broken.pfinfo(), XEN_DOMCTL_PFINFO_BROKEN);
        assert!(!PageType::XTab.has_data() && PageType::Table(1).has_data());
    }

    #[test]
    fn pfn_entries_put_the_type_in_the_top_nibble() {
        let e = pfn_entry(0x12345, PageType::PinnedTable(4));
        assert_eq!(e, 0xc000_0000_0001_2345);
        assert_eq!(split_pfn_entry(e), (0x12345, 0xc));
        assert_eq!(split_pfn_entry(e | PAGE_DATA_RESERVED_MASK), (0x12345, 0xc));
    }

    #[test]
    fn headers_are_big_endian_on_the_wire() {
        let h = ImageHeader::current();
        assert_eq!(&h.as_bytes()[8..16], b"XENF\0\0\0\x03");
        let l = LibxlHeader {
            ident: LIBXL_IDENT.into(),
            version: LIBXL_VERSION.into(),
            options: 0.into(),
        };
        assert_eq!(&l.as_bytes()[..8], b"LibxlFmt");
        let r = RecordHeader {
            rtype: REC_PAGE_DATA.into(),
            length: 0x10.into(),
        };
        assert_eq!(r.as_bytes(), &[1, 0, 0, 0, 0x10, 0, 0, 0]);
        assert_eq!(
            (
                rec_padding(0),
                rec_padding(1),
                rec_padding(7),
                rec_padding(8)
            ),
            (0, 7, 1, 0)
        );
    }
}
