//! What went wrong in an image: [`StreamError`] names the record (its layer and type), the
//! offset of the record (or header) in the image and the [`Rule`] it broke.

use alloc::string::String;
use core::fmt;
use guest_abi::save_stream::{libxl_rec_name, rec_name};

/// Which part of the image a record or header belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layer {
    /// xl's save-file header and its optional data (the configuration).
    Xl,
    /// libxl's stream header and records.
    Libxl,
    /// libxc's image and domain headers and records.
    Libxc,
}

/// Where an error was found: a header or one record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Place {
    /// A fixed header (`"xl save-file header"`, `"libxl header"`, `"image header"`,
    /// `"domain header"`, `"configuration"`).
    Header(&'static str),
    /// A record of this layer and type.
    Record(Layer, u32),
    /// Past the image's last record.
    AfterEnd,
}

impl fmt::Display for Place {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Place::Header(h) => write!(f, "{h}"),
            Place::Record(Layer::Libxc, t) => {
                write!(f, "libxc {} record (type {t:#x})", rec_name(t))
            }
            Place::Record(_, t) => write!(f, "libxl {} record (type {t:#x})", libxl_rec_name(t)),
            Place::AfterEnd => write!(f, "the end of the image"),
        }
    }
}

/// The rule an image (or a page table being canonicalised) broke.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rule {
    /// The image ends `got` octets into a part of `wanted` octets.
    Truncated {
        /// Octets the part needs.
        wanted: u64,
        /// Octets there were.
        got: u64,
    },
    /// The byte source failed.
    Source(String),
    /// The byte sink failed.
    Sink(String),
    /// A magic number or identifier is wrong (the field named).
    BadMagic(&'static str),
    /// The image is big-endian (x86 images are little-endian; nothing else is supported).
    BigEndian,
    /// A version this reader does not support.
    Version(u32),
    /// xl's mandatory flags have bits this reader does not know.
    UnknownMandatoryFlags(u32),
    /// xl's optional data is inconsistent with the configuration length inside it.
    ConfigLength {
        /// The optional data's length.
        optional: u32,
        /// The configuration length it claims.
        config: u32,
    },
    /// The domain type is not x86 PV.
    DomainType(u32),
    /// The page size is not 4 KiB.
    PageShift(u16),
    /// A mandatory record type nobody defined.
    UnknownType,
    /// A defined record type this implementation cannot restore (HVM, checkpoints, ...).
    Unsupported,
    /// A body longer than the reader's limit.
    TooLong {
        /// The record's length.
        length: u32,
        /// The limit.
        max: u32,
    },
    /// A body of the wrong length.
    Length {
        /// The record's length.
        length: u32,
        /// What the record needs.
        expected: String,
    },
    /// Padding after a body is not zero (the offset of the first non-zero octet).
    Padding(u64),
    /// A record out of the order the specification requires.
    Order(&'static str),
    /// A record that may appear once appeared again.
    Duplicate,
    /// END without a record the domain cannot do without (named).
    Missing(&'static str),
    /// A PAGE_DATA record with no pfns.
    ZeroCount,
    /// PAGE_DATA entry `index` has a reserved type.
    PageType {
        /// Which pfn entry.
        index: usize,
        /// Its type bits.
        nibble: u8,
    },
    /// A pfn (entry `index` of the record) beyond the domain's p2m.
    PfnBeyond {
        /// Which entry of the record.
        index: usize,
        /// The pfn.
        pfn: u64,
        /// The number of pfns the domain has.
        limit: u64,
    },
    /// A guest width other than 8.
    GuestWidth(u8),
    /// Page-table levels other than 4.
    PtLevels(u8),
    /// X86_PV_P2M_FRAMES's range is empty or beyond the domain.
    P2mRange {
        /// First pfn.
        start: u32,
        /// Last pfn.
        end: u32,
    },
    /// A vCPU id beyond the domain's vCPUs.
    VcpuBeyond {
        /// The id.
        vcpu: u32,
        /// The domain's vCPU count.
        max: u32,
    },
    /// Octets after the image's final record.
    TrailingData,
    /// The reader could not allocate this many octets to hold a record.
    NoMemory(u64),
    /// The reader already refused the image (at the place named).
    Refused,
    /// A writer was asked for a record after its stream ended, or to end twice.
    Finished,
    /// The page-table page at `pfn` cannot be rewritten.
    PageTable {
        /// The page's pfn.
        pfn: u64,
        /// Why.
        error: super::canon::CanonError,
    },
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rule::Truncated { wanted, got } => {
                write!(f, "truncated: the image ends after {got} of {wanted} octets")
            }
            Rule::Source(e) => write!(f, "reading the image failed: {e}"),
            Rule::Sink(e) => write!(f, "writing the image failed: {e}"),
            Rule::BadMagic(what) => write!(f, "wrong {what}"),
            Rule::BigEndian => write!(f, "big-endian image (only little-endian x86 images are supported)"),
            Rule::Version(v) => write!(f, "unsupported version {v}"),
            Rule::UnknownMandatoryFlags(m) => write!(f, "unknown mandatory flags {m:#x}"),
            Rule::ConfigLength { optional, config } => write!(
                f,
                "configuration of {config} octets does not fit the {optional} octets of optional data"
            ),
            Rule::DomainType(t) => write!(f, "domain type {t} is not x86 PV (1)"),
            Rule::PageShift(s) => write!(f, "page shift {s} is not 12"),
            Rule::UnknownType => write!(f, "unknown mandatory record type"),
            Rule::Unsupported => write!(f, "record type not supported for an x86 PV domain here"),
            Rule::TooLong { length, max } => {
                write!(f, "body of {length} octets exceeds the limit of {max}")
            }
            Rule::Length { length, expected } => {
                write!(f, "body of {length} octets, expected {expected}")
            }
            Rule::Padding(at) => write!(f, "non-zero padding octet at offset {at:#x}"),
            Rule::Order(why) => write!(f, "out of order: {why}"),
            Rule::Duplicate => write!(f, "appears more than once"),
            Rule::Missing(what) => write!(f, "the stream ends without {what}"),
            Rule::ZeroCount => write!(f, "count of pfns is zero"),
            Rule::PageType { index, nibble } => {
                write!(f, "pfn entry {index} has reserved page type {nibble:#x}")
            }
            Rule::PfnBeyond { index, pfn, limit } => write!(
                f,
                "entry {index} names pfn {pfn:#x}, beyond the domain's {limit:#x} pfns"
            ),
            Rule::GuestWidth(w) => write!(f, "guest width {w} (only 8, a 64-bit guest)"),
            Rule::PtLevels(l) => write!(f, "{l} page-table levels (only 4)"),
            Rule::P2mRange { start, end } => {
                write!(f, "p2m range {start:#x}..={end:#x} is empty or beyond the domain")
            }
            Rule::VcpuBeyond { vcpu, max } => {
                write!(f, "vCPU {vcpu} beyond the domain's {max} vCPUs")
            }
            Rule::TrailingData => write!(f, "data after the final END record"),
            Rule::NoMemory(n) => write!(f, "no memory to hold {n} octets of the record"),
            Rule::Refused => write!(f, "the image was already refused here"),
            Rule::Finished => write!(f, "the stream has already ended"),
            Rule::PageTable { pfn, error } => write!(f, "page table at pfn {pfn:#x}: {error}"),
        }
    }
}

/// An image refused (reading) or not written (writing): where, and which rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamError {
    /// The header or record.
    pub place: Place,
    /// Its offset in the image (of the record's header for a record).
    pub offset: u64,
    /// What was wrong.
    pub rule: Rule,
}

impl fmt::Display for StreamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} at offset {:#x}: {}",
            self.place, self.offset, self.rule
        )
    }
}

#[cfg(feature = "std")]
impl std::error::Error for StreamError {}
