//! The writer: xl's header with the configuration, libxl's header and LIBXC_CONTEXT,
//! libxc's headers, then one method per record, and [`StreamWriter::finish`] for the two
//! ENDs. Every record passes the reader's rules ([`super::validate`]) before a byte of it
//! is written, so the writer refuses to produce an image the reader would refuse.

use super::error::{Layer, Place, Rule, StreamError};
use super::validate::{LibxcRules, LibxlRules, Limits};
use super::{ByteSink, PAGE_SIZE};
use guest_abi::save_stream::*;
use zerocopy::byteorder::little_endian as le;
use zerocopy::IntoBytes;

/// What the image's headers say.
#[derive(Clone, Copy, Debug)]
pub struct ImageInfo<'a> {
    /// The domain's configuration.
    pub config: &'a [u8],
    /// Whether it is JSON (else xl.cfg text).
    pub json: bool,
    /// The Xen version saving the domain.
    pub xen_major: u32,
    /// The Xen version saving the domain.
    pub xen_minor: u32,
}

/// Writes one image to a [`ByteSink`].
pub struct StreamWriter<S> {
    sink: S,
    limits: Limits,
    offset: u64,
    /// Where the record being written began (errors name it).
    record_start: u64,
    libxl: LibxlRules,
    libxc: LibxcRules,
}

impl<S: ByteSink> StreamWriter<S> {
    /// Starts an image of a domain within `limits`: writes xl's header with the
    /// configuration, libxl's header, LIBXC_CONTEXT and libxc's image and domain headers.
    pub fn new(sink: S, limits: Limits, info: &ImageInfo<'_>) -> Result<Self, StreamError> {
        let mut w = StreamWriter {
            sink,
            limits,
            offset: 0,
            record_start: 0,
            libxl: LibxlRules::default(),
            libxc: LibxcRules::new(limits, IHDR_VERSION),
        };
        let place = Place::Header("configuration");
        let config = u32::try_from(info.config.len()).unwrap_or(u32::MAX);
        if config > limits.max_config {
            return Err(w.err(
                place,
                Rule::TooLong {
                    length: config,
                    max: limits.max_config,
                },
            ));
        }
        let mut flags = XL_MANDATORY_FLAG_STREAMV2;
        if info.json {
            flags |= XL_MANDATORY_FLAG_JSON;
        }
        let xl = XlSaveHeader {
            magic: XL_SAVE_MAGIC,
            byteorder: XL_SAVE_BYTEORDER.into(),
            mandatory_flags: flags.into(),
            optional_flags: 0.into(),
            optional_data_len: (4 + config).into(),
        };
        w.put(Place::Header("xl save-file header"), xl.as_bytes())?;
        w.put(place, &config.to_le_bytes())?;
        w.put(place, info.config)?;
        let libxl = LibxlHeader {
            ident: LIBXL_IDENT.into(),
            version: LIBXL_VERSION.into(),
            options: 0.into(),
        };
        w.put(Place::Header("libxl header"), libxl.as_bytes())?;
        w.libxl_record(LIBXL_REC_LIBXC_CONTEXT)?;
        let image = ImageHeader::current();
        w.put(Place::Header("image header"), image.as_bytes())?;
        let domain = DomainHeader {
            dtype: DHDR_TYPE_X86_PV.into(),
            page_shift: 12.into(),
            _res1: 0.into(),
            xen_major: info.xen_major.into(),
            xen_minor: info.xen_minor.into(),
        };
        w.put(Place::Header("domain header"), domain.as_bytes())?;
        Ok(w)
    }

    /// Octets written so far.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    fn err(&self, place: Place, rule: Rule) -> StreamError {
        StreamError {
            place,
            offset: self.offset,
            rule,
        }
    }

    fn put(&mut self, place: Place, bytes: &[u8]) -> Result<(), StreamError> {
        if let Err(e) = self.sink.write_all(bytes) {
            let offset = match place {
                Place::Record(..) => self.record_start,
                _ => self.offset,
            };
            return Err(StreamError {
                place,
                offset,
                rule: Rule::Sink(e),
            });
        }
        self.offset += bytes.len() as u64;
        Ok(())
    }

    fn libxl_record(&mut self, rtype: u32) -> Result<(), StreamError> {
        let place = Place::Record(Layer::Libxl, rtype);
        self.record_start = self.offset;
        self.libxl.admit(rtype).map_err(|r| self.err(place, r))?;
        let h = RecordHeader {
            rtype: rtype.into(),
            length: 0.into(),
        };
        self.put(place, h.as_bytes())
    }

    /// Admits a libxc record, checks its contents with `check`, and writes its header.
    fn begin(
        &mut self,
        rtype: u32,
        length: usize,
        check: impl FnOnce(&mut LibxcRules) -> Result<(), Rule>,
    ) -> Result<Place, StreamError> {
        let place = Place::Record(Layer::Libxc, rtype);
        self.record_start = self.offset;
        let max = self.limits.max_record.min(REC_LENGTH_MAX);
        let length = u32::try_from(length).unwrap_or(u32::MAX);
        if length > max {
            return Err(self.err(place, Rule::TooLong { length, max }));
        }
        self.libxc.admit(rtype).map_err(|r| self.err(place, r))?;
        check(&mut self.libxc).map_err(|r| self.err(place, r))?;
        let h = RecordHeader {
            rtype: rtype.into(),
            length: length.into(),
        };
        self.put(place, h.as_bytes())?;
        Ok(place)
    }

    /// Writes the zero padding after a body of `length` octets.
    fn pad(&mut self, place: Place, length: usize) -> Result<(), StreamError> {
        self.put(place, &[0u8; REC_ALIGN][..rec_padding(length as u32)])
    }

    /// A record whose body is `body`, checked by `check`.
    fn simple(
        &mut self,
        rtype: u32,
        body: &[u8],
        check: impl FnOnce(&mut LibxcRules) -> Result<(), Rule>,
    ) -> Result<(), StreamError> {
        let place = self.begin(rtype, body.len(), check)?;
        self.put(place, body)?;
        self.pad(place, body.len())
    }

    /// X86_PV_INFO.
    pub fn pv_info(&mut self, guest_width: u8, pt_levels: u8) -> Result<(), StreamError> {
        let body = X86PvInfo {
            guest_width,
            pt_levels,
            _res: [0; 6],
        };
        self.simple(REC_X86_PV_INFO, body.as_bytes(), |r| {
            r.check_pv_info(guest_width, pt_levels)
        })
    }

    /// X86_CPUID_POLICY.
    pub fn cpuid_policy(&mut self, leaves: &[CpuidLeaf]) -> Result<(), StreamError> {
        self.simple(REC_X86_CPUID_POLICY, leaves.as_bytes(), |_| Ok(()))
    }

    /// X86_MSR_POLICY.
    pub fn msr_policy(&mut self, msrs: &[MsrEntry]) -> Result<(), StreamError> {
        self.simple(REC_X86_MSR_POLICY, msrs.as_bytes(), |_| Ok(()))
    }

    /// STATIC_DATA_END.
    pub fn static_data_end(&mut self) -> Result<(), StreamError> {
        self.simple(REC_STATIC_DATA_END, &[], |_| Ok(()))
    }

    /// X86_PV_P2M_FRAMES: `frames` are the pfns of the frames holding the p2m entries of
    /// pfns `start_pfn..=end_pfn`.
    pub fn p2m_frames(
        &mut self,
        start_pfn: u32,
        end_pfn: u32,
        frames: &[u64],
    ) -> Result<(), StreamError> {
        let length = 8 + 8 * frames.len();
        let place = self.begin(REC_X86_PV_P2M_FRAMES, length, |r| {
            r.check_p2m_range(start_pfn, end_pfn, length as u32)?;
            r.set_p2m(end_pfn, frames.iter().copied())
        })?;
        let h = X86PvP2mFramesHeader {
            start_pfn: start_pfn.into(),
            end_pfn: end_pfn.into(),
        };
        self.put(place, h.as_bytes())?;
        self.put_u64s(place, frames)
    }

    fn put_u64s(&mut self, place: Place, values: &[u64]) -> Result<(), StreamError> {
        let mut chunk = [le::U64::ZERO; 64];
        for part in values.chunks(chunk.len()) {
            for (d, s) in chunk.iter_mut().zip(part) {
                *d = (*s).into();
            }
            self.put(place, chunk[..part.len()].as_bytes())?;
        }
        Ok(())
    }

    /// PAGE_DATA: `entries` are pfn entries (`guest_abi::save_stream::pfn_entry`), `pages`
    /// the contents of the entries whose type carries data, one page each, in order.
    pub fn page_data(&mut self, entries: &[u64], pages: &[u8]) -> Result<(), StreamError> {
        let length = 8 + 8 * entries.len() + pages.len();
        let place = self.begin(REC_PAGE_DATA, length, |r| {
            let with_data = r.check_pages(entries.iter().copied())?;
            if pages.len() != with_data * PAGE_SIZE {
                return Err(Rule::Length {
                    length: length as u32,
                    expected: alloc::format!(
                        "{with_data} pages of contents, got {} octets",
                        pages.len()
                    ),
                });
            }
            Ok(())
        })?;
        let h = PageDataHeader {
            count: (entries.len() as u32).into(),
            _res1: 0.into(),
        };
        self.put(place, h.as_bytes())?;
        self.put_u64s(place, entries)?;
        self.put(place, pages)
    }

    /// X86_PV_VCPU_{BASIC,EXTENDED,XSAVE,MSRS} (`rtype`) of `vcpu`.
    pub fn vcpu(&mut self, rtype: u32, vcpu: u32, context: &[u8]) -> Result<(), StreamError> {
        if !matches!(
            rtype,
            REC_X86_PV_VCPU_BASIC
                | REC_X86_PV_VCPU_EXTENDED
                | REC_X86_PV_VCPU_XSAVE
                | REC_X86_PV_VCPU_MSRS
        ) {
            let place = Place::Record(Layer::Libxc, rtype);
            return Err(self.err(place, Rule::Order("not a vCPU record type")));
        }
        let length = 8 + context.len();
        let place = self.begin(rtype, length, |r| r.check_vcpu(rtype, vcpu, context.len()))?;
        let h = VcpuHeader {
            vcpu_id: vcpu.into(),
            _res1: 0.into(),
        };
        self.put(place, h.as_bytes())?;
        self.put(place, context)?;
        self.pad(place, length)
    }

    /// SHARED_INFO.
    pub fn shared_info(&mut self, page: &[u8; PAGE_SIZE]) -> Result<(), StreamError> {
        self.simple(REC_SHARED_INFO, page, |_| Ok(()))
    }

    /// X86_TSC_INFO.
    pub fn tsc_info(&mut self, info: &TscInfo) -> Result<(), StreamError> {
        self.simple(REC_X86_TSC_INFO, info.as_bytes(), |_| Ok(()))
    }

    /// libxc's END and libxl's END; the sink back.
    pub fn finish(mut self) -> Result<S, StreamError> {
        self.simple(REC_END, &[], |_| Ok(()))?;
        self.libxl_record(LIBXL_REC_END)?;
        Ok(self.sink)
    }
}
