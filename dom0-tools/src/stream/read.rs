//! The reader: one validated [`Item`] per header or record, pulled from a [`ByteSource`]
//! with [`StreamReader::next_item`]. It holds one record at a time (at most
//! [`Limits::max_record`] octets) and checks each record's length against its type before
//! reading its body, so a hostile length costs no memory.

use super::error::{Layer, Place, Rule, StreamError};
use super::validate::{expect_len, LibxcRules, LibxlRules, Limits};
use super::{ByteSource, SourceError, PAGE_SIZE};
use alloc::format;
use alloc::vec::Vec;
use guest_abi::save_stream::*;
use zerocopy::byteorder::little_endian as le;
use zerocopy::FromBytes;

/// One piece of an image, in the order of the image.
#[derive(Debug)]
pub enum Item<'a> {
    /// xl's header: the domain's configuration (JSON if `json`, else xl.cfg text).
    Config {
        /// Whether the configuration is JSON.
        json: bool,
        /// The configuration.
        text: &'a [u8],
    },
    /// libxc's image and domain headers.
    LibxcBegin {
        /// The stream's version (2 or 3).
        version: u32,
        /// The Xen version the image was saved under.
        xen_major: u32,
        /// The Xen version the image was saved under.
        xen_minor: u32,
    },
    /// X86_PV_INFO.
    PvInfo {
        /// Guest word size (8).
        guest_width: u8,
        /// Page-table levels (4).
        pt_levels: u8,
    },
    /// X86_CPUID_POLICY.
    CpuidPolicy(&'a [CpuidLeaf]),
    /// X86_MSR_POLICY.
    MsrPolicy(&'a [MsrEntry]),
    /// STATIC_DATA_END (version 3; a version 2 stream implies it at X86_PV_P2M_FRAMES).
    StaticDataEnd,
    /// X86_PV_P2M_FRAMES.
    P2mFrames {
        /// First pfn described.
        start_pfn: u32,
        /// Last pfn described.
        end_pfn: u32,
        /// The pfns of the frames holding the p2m.
        frames: &'a [le::U64],
    },
    /// PAGE_DATA.
    PageData(PageBatch<'a>),
    /// X86_PV_VCPU_{BASIC,EXTENDED,XSAVE,MSRS}.
    Vcpu {
        /// Which of the four (`REC_X86_PV_VCPU_*`).
        rtype: u32,
        /// The vCPU.
        vcpu: u32,
        /// Its context blob.
        context: &'a [u8],
    },
    /// SHARED_INFO: one page.
    SharedInfo(&'a [u8]),
    /// X86_TSC_INFO.
    TscInfo(TscInfo),
    /// An optional record this reader does not know, skipped.
    Skipped {
        /// Its layer.
        layer: Layer,
        /// Its type.
        rtype: u32,
    },
    /// libxc's END: the domain's stream is complete.
    LibxcEnd,
    /// libxl's END: the image is complete.
    End,
}

/// The pages of one PAGE_DATA record.
#[derive(Debug, Clone, Copy)]
pub struct PageBatch<'a> {
    entries: &'a [le::U64],
    data: &'a [u8],
}

impl<'a> PageBatch<'a> {
    /// Number of pfn entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are none (never, for a validated record).
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Each entry: its pfn, type and (for types that carry it) the page's contents.
    pub fn iter(&self) -> impl Iterator<Item = (u64, PageType, Option<&'a [u8]>)> + 'a {
        let mut pages = self.data.chunks_exact(PAGE_SIZE);
        self.entries.iter().map(move |e| {
            let (pfn, nibble) = split_pfn_entry(e.get());
            // Validated: every type is known and the data has one page per data type.
            let ty = PageType::from_nibble(nibble).unwrap_or(PageType::XTab);
            let data = if ty.has_data() { pages.next() } else { None };
            (pfn, ty, data)
        })
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Xl,
    LibxlHeader,
    Libxl,
    LibxcHeaders,
    Libxc,
    Done,
    /// An error was returned: the reader refuses to go on.
    Failed,
}

/// Reads an image from a [`ByteSource`], validating as it goes.
pub struct StreamReader<S> {
    src: S,
    limits: Limits,
    offset: u64,
    phase: Phase,
    libxl: LibxlRules,
    libxc: Option<LibxcRules>,
    buf: Vec<u8>,
    config: Vec<u8>,
    /// The current part: where it started and its whole size, for truncation errors.
    part: (Place, u64, u64),
}

impl<S: ByteSource> StreamReader<S> {
    /// A reader of a whole image (xl's header first) for a domain within `limits`.
    pub fn new(src: S, limits: Limits) -> StreamReader<S> {
        StreamReader {
            src,
            limits,
            offset: 0,
            phase: Phase::Xl,
            libxl: LibxlRules::default(),
            libxc: None,
            buf: Vec::new(),
            config: Vec::new(),
            part: (Place::Header("xl save-file header"), 0, 0),
        }
    }

    /// Replaces the limits, once the configuration ([`Item::Config`]) said what the domain
    /// may have; only before the domain's stream begins ([`Item::LibxcBegin`]).
    pub fn set_limits(&mut self, limits: Limits) -> Result<(), StreamError> {
        if self.libxc.is_some() || self.phase == Phase::Failed {
            let rule = Rule::Order("limits changed after the domain's stream began");
            return Err(self.err(self.part.0, self.offset, rule));
        }
        self.limits = limits;
        Ok(())
    }

    /// Octets consumed so far.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// The capacity of the record buffer (bounded by the largest record read).
    pub fn buffer_capacity(&self) -> usize {
        self.buf.capacity()
    }

    /// Pfns the image's p2m covers, once its X86_PV_P2M_FRAMES was read.
    pub fn p2m_pfns(&self) -> Option<u64> {
        self.libxc.as_ref().and_then(|r| r.p2m_pfns())
    }

    /// The source back, without checking what follows (a socket carries on).
    pub fn into_inner(self) -> S {
        self.src
    }

    /// The source back after the image's END, refusing any octet after it (a file).
    pub fn finish(mut self) -> Result<S, StreamError> {
        if self.phase != Phase::Done {
            return Err(self.fail_part(Rule::Missing("libxl's END record")));
        }
        let mut byte = [0u8];
        match self.src.read_exact(&mut byte) {
            Err(SourceError::Eof { .. }) => Ok(self.src),
            Err(SourceError::Io(e)) => Err(self.err(Place::AfterEnd, self.offset, Rule::Source(e))),
            Ok(()) => Err(self.err(Place::AfterEnd, self.offset, Rule::TrailingData)),
        }
    }

    fn err(&self, place: Place, offset: u64, rule: Rule) -> StreamError {
        StreamError {
            place,
            offset,
            rule,
        }
    }

    fn fail_part(&self, rule: Rule) -> StreamError {
        StreamError {
            place: self.part.0,
            offset: self.part.1,
            rule,
        }
    }

    fn begin_part(&mut self, place: Place, size: u64) {
        self.part = (place, self.offset, size);
    }

    /// Reads `n` more octets of the current part onto the end of the buffer.
    fn read_more(&mut self, n: usize) -> Result<(), StreamError> {
        let old = self.buf.len();
        // dom0's heap is small: a record it cannot hold is an error, not an abort.
        if self.buf.try_reserve(n).is_err() {
            return Err(self.fail_part(Rule::NoMemory((old + n) as u64)));
        }
        self.buf.resize(old + n, 0);
        match self.src.read_exact(&mut self.buf[old..]) {
            Ok(()) => {
                self.offset += n as u64;
                Ok(())
            }
            Err(SourceError::Eof { got }) => {
                let (_, start, size) = self.part;
                let got = self.offset + got as u64 - start;
                Err(self.fail_part(Rule::Truncated {
                    wanted: size.max(got + 1),
                    got,
                }))
            }
            Err(SourceError::Io(e)) => Err(self.fail_part(Rule::Source(e))),
        }
    }

    /// Reads `n` octets of the current part and drops them (without buffering them).
    fn skip(&mut self, mut n: u64) -> Result<(), StreamError> {
        while n > 0 {
            let chunk = n.min(PAGE_SIZE as u64) as usize;
            self.buf.clear();
            self.read_more(chunk)?;
            n -= chunk as u64;
        }
        Ok(())
    }

    /// Reads a record header into the buffer's start: its offset, type and length.
    fn record_header(&mut self, layer: Layer) -> Result<(u64, u32, u32), StreamError> {
        let start = self.offset;
        self.begin_part(Place::Record(layer, 0), 8);
        self.part.0 = match layer {
            Layer::Libxc => Place::Header("libxc record header"),
            _ => Place::Header("libxl record header"),
        };
        self.buf.clear();
        self.read_more(8)?;
        let h = RecordHeader::read_from_bytes(&self.buf[..8]).expect("8 octets");
        let (rtype, length) = (h.rtype.get(), h.length.get());
        let total = 8 + u64::from(length) + rec_padding(length) as u64;
        self.part = (Place::Record(layer, rtype), start, total);
        if length > self.limits.max_record.min(REC_LENGTH_MAX) {
            let max = self.limits.max_record.min(REC_LENGTH_MAX);
            return Err(self.fail_part(Rule::TooLong { length, max }));
        }
        self.buf.clear();
        Ok((start, rtype, length))
    }

    /// Reads a record's padding, refusing a non-zero octet.
    fn padding(&mut self, length: u32) -> Result<(), StreamError> {
        let n = rec_padding(length);
        let at = self.buf.len();
        self.read_more(n)?;
        if let Some(i) = self.buf[at..].iter().position(|&b| b != 0) {
            let pad_start = self.offset - n as u64;
            return Err(self.fail_part(Rule::Padding(pad_start + i as u64)));
        }
        self.buf.truncate(at);
        Ok(())
    }

    /// The next item of the image.
    /// After an error, every call fails ([`Rule::Refused`]): a refused image is not read on.
    pub fn next_item(&mut self) -> Result<Item<'_>, StreamError> {
        // Each step sets the phase that follows it when it succeeds.
        match core::mem::replace(&mut self.phase, Phase::Failed) {
            Phase::Xl => self.xl_header(),
            Phase::LibxlHeader => {
                self.libxl_header()?;
                self.next_item()
            }
            Phase::Libxl => self.libxl_record(),
            Phase::LibxcHeaders => self.libxc_headers(),
            Phase::Libxc => self.libxc_record(),
            Phase::Done => {
                self.phase = Phase::Done;
                Err(self.err(Place::AfterEnd, self.offset, Rule::Finished))
            }
            Phase::Failed => Err(self.fail_part(Rule::Refused)),
        }
    }

    fn xl_header(&mut self) -> Result<Item<'_>, StreamError> {
        self.begin_part(Place::Header("xl save-file header"), 48);
        self.buf.clear();
        self.read_more(48)?;
        let h = XlSaveHeader::read_from_bytes(&self.buf[..48]).expect("48 octets");
        if h.magic != XL_SAVE_MAGIC {
            return Err(self.fail_part(Rule::BadMagic("xl save-file magic")));
        }
        match h.byteorder.get() {
            XL_SAVE_BYTEORDER => {}
            o if o == XL_SAVE_BYTEORDER.swap_bytes() => return Err(self.fail_part(Rule::BigEndian)),
            _ => return Err(self.fail_part(Rule::BadMagic("xl byte-order marker"))),
        }
        let flags = h.mandatory_flags.get();
        if flags & !XL_MANDATORY_FLAGS_KNOWN != 0 {
            let unknown = flags & !XL_MANDATORY_FLAGS_KNOWN;
            return Err(self.fail_part(Rule::UnknownMandatoryFlags(unknown)));
        }
        if flags & XL_MANDATORY_FLAG_STREAMV2 == 0 {
            // Without the flag, libxl's legacy (pre-v2) stream follows.
            return Err(self.fail_part(Rule::Version(1)));
        }
        let optional = h.optional_data_len.get();
        self.begin_part(Place::Header("configuration"), u64::from(optional));
        if optional < 4 {
            return Err(self.fail_part(Rule::ConfigLength {
                optional,
                config: 0,
            }));
        }
        self.buf.clear();
        self.read_more(4)?;
        let config = u32::from_le_bytes(self.buf[..4].try_into().expect("4 octets"));
        if config > optional - 4 {
            return Err(self.fail_part(Rule::ConfigLength { optional, config }));
        }
        if config > self.limits.max_config {
            let max = self.limits.max_config;
            return Err(self.fail_part(Rule::TooLong {
                length: config,
                max,
            }));
        }
        self.buf.clear();
        self.read_more(config as usize)?;
        // Optional data this reader does not know (after the configuration) is skipped.
        core::mem::swap(&mut self.buf, &mut self.config);
        self.skip(u64::from(optional - 4 - config))?;
        self.phase = Phase::LibxlHeader;
        let json = flags & XL_MANDATORY_FLAG_JSON != 0;
        Ok(Item::Config {
            json,
            text: &self.config,
        })
    }

    fn libxl_header(&mut self) -> Result<(), StreamError> {
        self.begin_part(Place::Header("libxl header"), 16);
        self.buf.clear();
        self.read_more(16)?;
        let h = LibxlHeader::read_from_bytes(&self.buf[..16]).expect("16 octets");
        if h.ident.get() != LIBXL_IDENT {
            return Err(self.fail_part(Rule::BadMagic("libxl stream ident")));
        }
        if h.version.get() != LIBXL_VERSION {
            return Err(self.fail_part(Rule::Version(h.version.get())));
        }
        if h.options.get() & LIBXL_OPT_BIG_ENDIAN != 0 {
            return Err(self.fail_part(Rule::BigEndian));
        }
        self.phase = Phase::Libxl;
        Ok(())
    }

    fn libxl_record(&mut self) -> Result<Item<'_>, StreamError> {
        let (_, rtype, length) = self.record_header(Layer::Libxl)?;
        self.libxl.admit(rtype).map_err(|r| self.fail_part(r))?;
        match rtype {
            LIBXL_REC_END | LIBXL_REC_LIBXC_CONTEXT => {
                expect_len(length, 0).map_err(|r| self.fail_part(r))?;
                if rtype == LIBXL_REC_END {
                    self.phase = Phase::Done;
                    return Ok(Item::End);
                }
                self.phase = Phase::LibxcHeaders;
                self.libxc_headers()
            }
            _ => {
                self.skip(u64::from(length))?;
                self.buf.clear();
                self.padding(length)?;
                self.phase = Phase::Libxl;
                Ok(Item::Skipped {
                    layer: Layer::Libxl,
                    rtype,
                })
            }
        }
    }

    fn libxc_headers(&mut self) -> Result<Item<'_>, StreamError> {
        self.begin_part(Place::Header("image header"), 24);
        self.buf.clear();
        self.read_more(24)?;
        let h = ImageHeader::read_from_bytes(&self.buf[..24]).expect("24 octets");
        if h.marker.get() != IHDR_MARKER {
            return Err(self.fail_part(Rule::BadMagic("image header marker (a legacy image?)")));
        }
        if h.id.get() != IHDR_ID {
            return Err(self.fail_part(Rule::BadMagic("image header id")));
        }
        let version = h.version.get();
        if !(IHDR_VERSION_MIN..=IHDR_VERSION).contains(&version) {
            return Err(self.fail_part(Rule::Version(version)));
        }
        if h.options.get() & IHDR_OPT_BIG_ENDIAN != 0 {
            return Err(self.fail_part(Rule::BigEndian));
        }
        self.begin_part(Place::Header("domain header"), 16);
        self.buf.clear();
        self.read_more(16)?;
        let d = DomainHeader::read_from_bytes(&self.buf[..16]).expect("16 octets");
        if d.dtype.get() != DHDR_TYPE_X86_PV {
            return Err(self.fail_part(Rule::DomainType(d.dtype.get())));
        }
        if d.page_shift.get() != 12 {
            return Err(self.fail_part(Rule::PageShift(d.page_shift.get())));
        }
        self.libxc = Some(LibxcRules::new(self.limits, version));
        self.phase = Phase::Libxc;
        Ok(Item::LibxcBegin {
            version,
            xen_major: d.xen_major.get(),
            xen_minor: d.xen_minor.get(),
        })
    }

    fn libxc_record(&mut self) -> Result<Item<'_>, StreamError> {
        let (_, rtype, length) = self.record_header(Layer::Libxc)?;
        let Some(mut rules) = self.libxc.take() else {
            return Err(self.fail_part(Rule::Order("a libxc record before its headers")));
        };
        let result = self.libxc_body(&mut rules, rtype, length);
        self.libxc = Some(rules);
        let kind = result?;
        self.padding(length)?;
        self.phase = Phase::Libxc;
        let body = &self.buf[..];
        Ok(match kind {
            Body::End => {
                self.phase = Phase::Libxl;
                Item::LibxcEnd
            }
            Body::PvInfo => Item::PvInfo {
                guest_width: body[0],
                pt_levels: body[1],
            },
            Body::Cpuid => Item::CpuidPolicy(<[CpuidLeaf]>::ref_from_bytes(body).expect("sized")),
            Body::Msr => Item::MsrPolicy(<[MsrEntry]>::ref_from_bytes(body).expect("sized")),
            Body::StaticEnd => Item::StaticDataEnd,
            Body::P2m => {
                let h = X86PvP2mFramesHeader::read_from_bytes(&body[..8]).expect("8 octets");
                Item::P2mFrames {
                    start_pfn: h.start_pfn.get(),
                    end_pfn: h.end_pfn.get(),
                    frames: <[le::U64]>::ref_from_bytes(&body[8..]).expect("sized"),
                }
            }
            Body::Pages(count) => {
                let end = 8 + 8 * count;
                Item::PageData(PageBatch {
                    entries: <[le::U64]>::ref_from_bytes(&body[8..end]).expect("sized"),
                    data: &body[end..],
                })
            }
            Body::Vcpu(vcpu) => Item::Vcpu {
                rtype,
                vcpu,
                context: &body[8..],
            },
            Body::SharedInfo => Item::SharedInfo(body),
            Body::Tsc => Item::TscInfo(TscInfo::read_from_bytes(body).expect("24 octets")),
            Body::Skipped => Item::Skipped {
                layer: Layer::Libxc,
                rtype,
            },
        })
    }

    /// Checks a libxc record's place and length and reads (and checks) its body into the
    /// buffer; the padding is still to be read.
    fn libxc_body(
        &mut self,
        rules: &mut LibxcRules,
        rtype: u32,
        length: u32,
    ) -> Result<Body, StreamError> {
        rules.admit(rtype).map_err(|r| self.fail_part(r))?;
        let fixed = |n: usize| expect_len(length, n);
        let kind = match rtype {
            REC_END => fixed(0).map(|_| Body::End),
            REC_STATIC_DATA_END => fixed(0).map(|_| Body::StaticEnd),
            REC_X86_PV_INFO => fixed(8).map(|_| Body::PvInfo),
            REC_X86_TSC_INFO => fixed(24).map(|_| Body::Tsc),
            REC_SHARED_INFO => fixed(PAGE_SIZE).map(|_| Body::SharedInfo),
            REC_X86_CPUID_POLICY
                if !(length as usize).is_multiple_of(core::mem::size_of::<CpuidLeaf>()) =>
            {
                Err(Rule::Length {
                    length,
                    expected: "a multiple of 24".into(),
                })
            }
            REC_X86_CPUID_POLICY => Ok(Body::Cpuid),
            REC_X86_MSR_POLICY
                if !(length as usize).is_multiple_of(core::mem::size_of::<MsrEntry>()) =>
            {
                Err(Rule::Length {
                    length,
                    expected: "a multiple of 16".into(),
                })
            }
            REC_X86_MSR_POLICY => Ok(Body::Msr),
            REC_X86_PV_P2M_FRAMES
            | REC_PAGE_DATA
            | REC_X86_PV_VCPU_BASIC
            | REC_X86_PV_VCPU_EXTENDED
            | REC_X86_PV_VCPU_XSAVE
            | REC_X86_PV_VCPU_MSRS
                if length < 8 =>
            {
                Err(Rule::Length {
                    length,
                    expected: "at least 8".into(),
                })
            }
            REC_PAGE_DATA => Ok(Body::Pages(0)),
            REC_X86_PV_P2M_FRAMES => Ok(Body::P2m),
            REC_X86_PV_VCPU_BASIC
            | REC_X86_PV_VCPU_EXTENDED
            | REC_X86_PV_VCPU_XSAVE
            | REC_X86_PV_VCPU_MSRS => Ok(Body::Vcpu(0)),
            _ => Ok(Body::Skipped),
        };
        let kind = kind.map_err(|r| self.fail_part(r))?;
        match kind {
            Body::Skipped => {
                self.skip(u64::from(length))?;
                self.buf.clear();
                Ok(Body::Skipped)
            }
            Body::P2m => {
                self.read_more(8)?;
                let h = X86PvP2mFramesHeader::read_from_bytes(&self.buf[..8]).expect("8 octets");
                let (start, end) = (h.start_pfn.get(), h.end_pfn.get());
                rules
                    .check_p2m_range(start, end, length)
                    .map_err(|r| self.fail_part(r))?;
                self.read_more(length as usize - 8)?;
                let frames = <[le::U64]>::ref_from_bytes(&self.buf[8..]).expect("sized");
                rules
                    .set_p2m(end, frames.iter().map(|f| f.get()))
                    .map_err(|r| self.fail_part(r))?;
                Ok(Body::P2m)
            }
            Body::Pages(_) => {
                self.read_more(8)?;
                let h = PageDataHeader::read_from_bytes(&self.buf[..8]).expect("8 octets");
                let count = h.count.get() as usize;
                if count as u64 * 8 > u64::from(length) - 8 {
                    let expected = format!("at least {} for {count} pfns", 8 + 8 * count as u64);
                    return Err(self.fail_part(Rule::Length { length, expected }));
                }
                self.read_more(8 * count)?;
                let entries = <[le::U64]>::ref_from_bytes(&self.buf[8..]).expect("sized");
                let pages = rules
                    .check_pages(entries.iter().map(|e| e.get()))
                    .map_err(|r| self.fail_part(r))?;
                let want = 8 + 8 * count as u64 + (pages * PAGE_SIZE) as u64;
                if u64::from(length) != want {
                    let expected = format!("{want} for {count} pfns of which {pages} carry a page");
                    return Err(self.fail_part(Rule::Length { length, expected }));
                }
                self.read_more(pages * PAGE_SIZE)?;
                Ok(Body::Pages(count))
            }
            Body::Vcpu(_) => {
                self.read_more(length as usize)?;
                let h = VcpuHeader::read_from_bytes(&self.buf[..8]).expect("8 octets");
                let vcpu = h.vcpu_id.get();
                rules
                    .check_vcpu(rtype, vcpu, length as usize - 8)
                    .map_err(|r| self.fail_part(r))?;
                Ok(Body::Vcpu(vcpu))
            }
            other => {
                self.read_more(length as usize)?;
                if let Body::PvInfo = other {
                    rules
                        .check_pv_info(self.buf[0], self.buf[1])
                        .map_err(|r| self.fail_part(r))?;
                }
                Ok(other)
            }
        }
    }
}

/// What a libxc record's body turned out to be (the buffer holds it).
enum Body {
    End,
    StaticEnd,
    PvInfo,
    Cpuid,
    Msr,
    P2m,
    Pages(usize),
    Vcpu(u32),
    SharedInfo,
    Tsc,
    Skipped,
}
