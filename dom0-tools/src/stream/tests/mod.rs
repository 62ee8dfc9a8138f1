//! Host tests of the format layer: a tiny domain's image written and read back, compared
//! byte for byte with an image built by hand from the specifications' layouts, cut at every
//! offset, corrupted record by record; page-table canonicalisation; a large domain
//! streamed through a pipe.

mod canon;
mod expected;
mod hostile;
#[cfg(feature = "std")]
mod large;
mod roundtrip;

use super::*;
use alloc::vec;
use alloc::vec::Vec;
use guest_abi::save_stream::*;
use zerocopy::IntoBytes;

/// The tiny domain's configuration.
pub const CONFIG: &[u8] = b"name = \"tiny\"\nmemory = 1\n";
/// Its limits: 4 pfns of p2m (8 allowed), 2 vCPUs.
pub const LIMITS: Limits = Limits::new(8, 2);

/// The tiny domain's pages: pfn 0 ordinary, 1 a pinned L4, 2 the p2m frame, 3 gone (XTAB).
pub fn tiny_pages() -> (Vec<u64>, Vec<u8>) {
    let entries = vec![
        pfn_entry(0, PageType::NoTab),
        pfn_entry(1, PageType::PinnedTable(4)),
        pfn_entry(2, PageType::NoTab),
        pfn_entry(3, PageType::XTab),
    ];
    let mut pages = vec![0u8; 3 * PAGE_SIZE];
    for (i, page) in pages.chunks_mut(PAGE_SIZE).enumerate() {
        page.fill(0x10 + i as u8);
    }
    (entries, pages)
}

/// The tiny domain's vCPU 0 context (any bytes: the format does not look inside).
pub fn tiny_context() -> Vec<u8> {
    (0..5168u32).map(|i| (i % 251) as u8).collect()
}

/// An extended context of 12 octets, so its record has 4 octets of padding.
pub const EXTENDED: &[u8] = b"extended-ctx";

/// The tiny domain's TSC info.
pub fn tiny_tsc() -> TscInfo {
    TscInfo {
        mode: TSC_MODE_DEFAULT.into(),
        khz: 2_000_000.into(),
        nsec: 123_456_789.into(),
        incarnation: 1.into(),
        _res1: 0.into(),
    }
}

/// Where each record of the tiny image starts.
#[derive(Debug, Default)]
pub struct Offsets {
    pub pv_info: usize,
    pub static_end: usize,
    pub p2m: usize,
    pub pages: usize,
    pub tsc: usize,
    pub shared: usize,
    pub basic: usize,
    pub extended: usize,
    pub libxc_end: usize,
    pub libxl_end: usize,
}

/// The tiny domain's image, written by [`StreamWriter`], and its record offsets.
pub fn tiny_image() -> (Vec<u8>, Offsets) {
    let info = ImageInfo {
        config: CONFIG,
        json: false,
        xen_major: 4,
        xen_minor: 17,
    };
    let mut w = StreamWriter::new(Vec::new(), LIMITS, &info).unwrap();
    let mut o = Offsets::default();
    let at = |w: &StreamWriter<Vec<u8>>| w.offset() as usize;
    o.pv_info = at(&w);
    w.pv_info(8, 4).unwrap();
    o.static_end = at(&w);
    w.static_data_end().unwrap();
    o.p2m = at(&w);
    w.p2m_frames(0, 3, &[2]).unwrap();
    o.pages = at(&w);
    let (entries, pages) = tiny_pages();
    w.page_data(&entries, &pages).unwrap();
    o.tsc = at(&w);
    w.tsc_info(&tiny_tsc()).unwrap();
    o.shared = at(&w);
    w.shared_info(&[0x5a; PAGE_SIZE]).unwrap();
    o.basic = at(&w);
    w.vcpu(REC_X86_PV_VCPU_BASIC, 0, &tiny_context()).unwrap();
    o.extended = at(&w);
    w.vcpu(REC_X86_PV_VCPU_EXTENDED, 0, EXTENDED).unwrap();
    o.libxc_end = at(&w);
    let bytes = w.finish().unwrap();
    o.libxl_end = bytes.len() - 8;
    (bytes, o)
}

/// Reads a whole image into owned items (for comparisons), or the first error.
pub fn read_all(image: &[u8], limits: Limits) -> Result<Vec<Owned>, StreamError> {
    let mut r = StreamReader::new(image, limits);
    let mut out = Vec::new();
    loop {
        let item = r.next_item()?;
        let done = matches!(item, Item::End);
        out.push(Owned::from(&item));
        if done {
            break;
        }
    }
    r.finish()?;
    Ok(out)
}

/// An [`Item`] with its borrowed data copied.
#[derive(Debug, PartialEq, Eq)]
pub enum Owned {
    Config(bool, Vec<u8>),
    Begin(u32, u32, u32),
    PvInfo(u8, u8),
    Cpuid(usize),
    Msr(usize),
    StaticEnd,
    P2m(u32, u32, Vec<u64>),
    Pages(Vec<(u64, PageType, Option<Vec<u8>>)>),
    Vcpu(u32, u32, Vec<u8>),
    Shared(Vec<u8>),
    Tsc(TscInfo),
    Skipped(Layer, u32),
    LibxcEnd,
    End,
}

impl From<&Item<'_>> for Owned {
    fn from(i: &Item<'_>) -> Owned {
        match i {
            Item::Config { json, text } => Owned::Config(*json, text.to_vec()),
            Item::LibxcBegin {
                version,
                xen_major,
                xen_minor,
            } => Owned::Begin(*version, *xen_major, *xen_minor),
            Item::PvInfo {
                guest_width,
                pt_levels,
            } => Owned::PvInfo(*guest_width, *pt_levels),
            Item::CpuidPolicy(l) => Owned::Cpuid(l.len()),
            Item::MsrPolicy(m) => Owned::Msr(m.len()),
            Item::StaticDataEnd => Owned::StaticEnd,
            Item::P2mFrames {
                start_pfn,
                end_pfn,
                frames,
            } => Owned::P2m(
                *start_pfn,
                *end_pfn,
                frames.iter().map(|f| f.get()).collect(),
            ),
            Item::PageData(b) => Owned::Pages(
                b.iter()
                    .map(|(p, t, d)| (p, t, d.map(|d| d.to_vec())))
                    .collect(),
            ),
            Item::Vcpu {
                rtype,
                vcpu,
                context,
            } => Owned::Vcpu(*rtype, *vcpu, context.to_vec()),
            Item::SharedInfo(p) => Owned::Shared(p.to_vec()),
            Item::TscInfo(t) => Owned::Tsc(*t),
            Item::Skipped { layer, rtype } => Owned::Skipped(*layer, *rtype),
            Item::LibxcEnd => Owned::LibxcEnd,
            Item::End => Owned::End,
        }
    }
}

/// One record as bytes: header, body, zero padding.
pub fn record(rtype: u32, body: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&rtype.to_le_bytes());
    v.extend_from_slice(&(body.len() as u32).to_le_bytes());
    v.extend_from_slice(body);
    v.resize(v.len() + rec_padding(body.len() as u32), 0);
    v
}

/// `image` with `insert` spliced in at `at`, replacing `remove` octets.
pub fn splice(image: &[u8], at: usize, remove: usize, insert: &[u8]) -> Vec<u8> {
    let mut v = image[..at].to_vec();
    v.extend_from_slice(insert);
    v.extend_from_slice(&image[at + remove..]);
    v
}
