//! A ring slot read as a block request, checked before anything is done for it: the
//! operation, its segments (each within its 4 KiB page: `first_sect <= last_sect <= 7`),
//! their number (1..=11 direct, 1..=the advertised maximum indirect), and the sectors they
//! cover against the device's size and mode. What fails is answered, never acted on.

use alloc::vec::Vec;
use guest_abi::io::blkif::*;
use guest_abi::types::GrantRef;
use zerocopy::FromBytes;

/// Sectors in a page.
pub const SECTORS_PER_PAGE: u8 = 8;

/// One data segment: sectors `first..=last` of the page granted as `gref`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment {
    pub gref: u32,
    pub first: u8,
    pub last: u8,
}

impl Segment {
    /// Sectors it covers.
    pub fn sectors(&self) -> u64 {
        u64::from(self.last - self.first) + 1
    }
}

/// What a slot asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    /// Read or write `segments` from `sector` on (direct: the segments are in the slot).
    Rw {
        write: bool,
        sector: u64,
        segments: Vec<Segment>,
    },
    /// The same with the segments in `pages` granted pages (`count` of them in all).
    Indirect {
        write: bool,
        sector: u64,
        count: u16,
        pages: Vec<u32>,
    },
    /// Make completed writes durable.
    Flush,
}

/// Why a slot is answered with an error instead.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// An operation the back end does not do (`BLKIF_RSP_EOPNOTSUPP`).
    Unsupported,
    /// Malformed or out of bounds (`BLKIF_RSP_ERROR`).
    Invalid,
}

impl Refusal {
    /// The response status.
    pub fn status(self) -> i16 {
        match self {
            Refusal::Unsupported => BLKIF_RSP_EOPNOTSUPP,
            Refusal::Invalid => BLKIF_RSP_ERROR,
        }
    }
}

/// A slot: its id and operation (echoed in the response) and what it asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Parsed {
    pub id: u64,
    /// The operation the response names: the request's, or for `BLKIF_OP_INDIRECT` the
    /// operation done indirectly (`indirect_op`), as Linux's blkback answers and Linux's
    /// blkfront checks (it stops using a disk whose responses name `BLKIF_OP_INDIRECT`).
    pub operation: u8,
    pub request: Result<Request, Refusal>,
}

fn segment(s: &BlkifRequestSegment) -> Result<Segment, Refusal> {
    if s.first_sect > s.last_sect || s.last_sect >= SECTORS_PER_PAGE {
        return Err(Refusal::Invalid);
    }
    Ok(Segment {
        gref: s.gref.0,
        first: s.first_sect,
        last: s.last_sect,
    })
}

/// Reads the 112-byte `slot`; `max_indirect` is the advertised
/// `feature-max-indirect-segments` (0: none).
pub fn parse(slot: &[u8], max_indirect: u16) -> Parsed {
    let Ok((r, _)) = BlkifRequest::read_from_prefix(slot) else {
        return Parsed {
            id: 0,
            operation: 0,
            request: Err(Refusal::Invalid),
        };
    };
    let request = match r.operation {
        BLKIF_OP_READ | BLKIF_OP_WRITE => {
            let n = usize::from(r.nr_segments);
            if n == 0 || n > BLKIF_MAX_SEGMENTS_PER_REQUEST {
                Err(Refusal::Invalid)
            } else {
                r.seg[..n]
                    .iter()
                    .map(segment)
                    .collect::<Result<Vec<_>, _>>()
                    .map(|segments| Request::Rw {
                        write: r.operation == BLKIF_OP_WRITE,
                        sector: r.sector_number,
                        segments,
                    })
            }
        }
        BLKIF_OP_FLUSH_DISKCACHE => Ok(Request::Flush),
        BLKIF_OP_INDIRECT => indirect(slot, max_indirect),
        _ => Err(Refusal::Unsupported),
    };
    let operation = match r.operation {
        // `indirect_op`, the byte after `operation` in blkif_request_indirect.
        BLKIF_OP_INDIRECT => slot[1],
        op => op,
    };
    Parsed {
        id: r.id,
        operation,
        request,
    }
}

fn indirect(slot: &[u8], max: u16) -> Result<Request, Refusal> {
    let (r, _) = BlkifRequestIndirect::read_from_prefix(slot).map_err(|_| Refusal::Invalid)?;
    if max == 0 {
        return Err(Refusal::Unsupported);
    }
    let write = match r.indirect_op {
        BLKIF_OP_READ => false,
        BLKIF_OP_WRITE => true,
        _ => return Err(Refusal::Invalid),
    };
    if r.nr_segments == 0 || r.nr_segments > max {
        return Err(Refusal::Invalid);
    }
    let pages = usize::from(r.nr_segments).div_ceil(BLKIF_SEGMENTS_PER_INDIRECT_PAGE);
    if pages > BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST {
        return Err(Refusal::Invalid);
    }
    Ok(Request::Indirect {
        write,
        sector: r.sector_number,
        count: r.nr_segments,
        pages: r.indirect_grefs[..pages].iter().map(|g| g.0).collect(),
    })
}

/// The segments of an indirect request, from its pages' bytes (`count` of them).
pub fn indirect_segments(pages: &[u8], count: u16) -> Result<Vec<Segment>, Refusal> {
    let need = usize::from(count) * core::mem::size_of::<BlkifRequestSegment>();
    let bytes = pages.get(..need).ok_or(Refusal::Invalid)?;
    bytes
        .chunks_exact(8)
        .map(|c| {
            let s = BlkifRequestSegment::read_from_bytes(c).map_err(|_| Refusal::Invalid)?;
            segment(&s)
        })
        .collect()
}

/// Checks that `segments` from `sector` on lie inside a device of `device_sectors`, and that
/// a write is allowed; the sectors they cover.
pub fn check_bounds(
    segments: &[Segment],
    sector: u64,
    device_sectors: u64,
    write: bool,
    read_only: bool,
) -> Result<u64, Refusal> {
    if write && read_only {
        return Err(Refusal::Invalid);
    }
    let total: u64 = segments.iter().map(Segment::sectors).sum();
    match sector.checked_add(total) {
        Some(end) if end <= device_sectors => Ok(total),
        _ => Err(Refusal::Invalid),
    }
}

/// A segment as the front end writes it (tests, and pv-guest-style front ends).
pub fn segment_bytes(gref: u32, first: u8, last: u8) -> BlkifRequestSegment {
    BlkifRequestSegment {
        gref: GrantRef(gref),
        first_sect: first,
        last_sect: last,
        _pad: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use zerocopy::IntoBytes;

    fn rw(op: u8, segs: &[(u32, u8, u8)], sector: u64) -> Vec<u8> {
        let mut r = BlkifRequest {
            operation: op,
            nr_segments: segs.len() as u8,
            id: 77,
            sector_number: sector,
            ..Default::default()
        };
        for (i, s) in segs.iter().enumerate().take(BLKIF_MAX_SEGMENTS_PER_REQUEST) {
            r.seg[i] = segment_bytes(s.0, s.1, s.2);
        }
        r.as_bytes().to_vec()
    }

    #[test]
    fn reads_and_writes_with_their_segments() {
        let p = parse(&rw(BLKIF_OP_WRITE, &[(5, 0, 7), (6, 2, 3)], 100), 0);
        assert_eq!((p.id, p.operation), (77, BLKIF_OP_WRITE));
        let Ok(Request::Rw {
            write,
            sector,
            segments,
        }) = p.request
        else {
            panic!("{p:?}")
        };
        assert!(write);
        assert_eq!(sector, 100);
        assert_eq!(segments.iter().map(Segment::sectors).sum::<u64>(), 10);
        assert_eq!(check_bounds(&segments, 100, 110, true, false), Ok(10));
        assert_eq!(
            check_bounds(&segments, 101, 110, true, false),
            Err(Refusal::Invalid)
        );
        assert_eq!(
            check_bounds(&segments, u64::MAX, 110, false, false),
            Err(Refusal::Invalid)
        );
        assert_eq!(
            check_bounds(&segments, 0, 110, true, true),
            Err(Refusal::Invalid)
        );
        assert_eq!(check_bounds(&segments, 0, 110, false, true), Ok(10));
    }

    #[test]
    fn malformed_segments_and_counts_are_errors_unknown_operations_unsupported() {
        for segs in [
            &[][..],
            &[(1, 3, 2)][..],
            &[(1, 0, 8)][..],
            &[(1, 9, 9)][..],
        ] {
            let p = parse(&rw(BLKIF_OP_READ, segs, 0), 0);
            assert_eq!(p.request, Err(Refusal::Invalid), "{segs:?}");
        }
        let mut twelve = rw(BLKIF_OP_READ, &[(1, 0, 7); 11], 0);
        twelve[1] = 12;
        assert_eq!(parse(&twelve, 0).request, Err(Refusal::Invalid));
        for op in [BLKIF_OP_WRITE_BARRIER, BLKIF_OP_DISCARD, 4, 7, 255] {
            let p = parse(&rw(op, &[(1, 0, 7)], 0), 0);
            assert_eq!(p.request, Err(Refusal::Unsupported), "{op}");
            assert_eq!(p.operation, op, "echoed");
        }
        assert_eq!(
            parse(&rw(BLKIF_OP_FLUSH_DISKCACHE, &[], 0), 0).request,
            Ok(Request::Flush)
        );
        assert_eq!(parse(&[0u8; 10], 0).request, Err(Refusal::Invalid));
        assert_eq!(Refusal::Unsupported.status(), -2);
        assert_eq!(Refusal::Invalid.status(), -1);
    }

    fn ind(op: u8, n: u16, grefs: [u32; 8]) -> Vec<u8> {
        let r = BlkifRequestIndirect {
            operation: BLKIF_OP_INDIRECT,
            indirect_op: op,
            nr_segments: n,
            id: 9,
            sector_number: 64,
            indirect_grefs: grefs.map(GrantRef),
            ..Default::default()
        };
        let mut b = r.as_bytes().to_vec();
        b.resize(112, 0);
        b
    }

    #[test]
    fn indirect_requests_within_the_advertised_maximum() {
        let p = parse(&ind(BLKIF_OP_READ, 600, [1, 2, 3, 4, 5, 6, 7, 8]), 1024);
        assert_eq!(
            p.request,
            Ok(Request::Indirect {
                write: false,
                sector: 64,
                count: 600,
                pages: alloc::vec![1, 2],
            })
        );
        assert_eq!(
            p.operation, BLKIF_OP_READ,
            "the response names the indirect operation"
        );
        assert_eq!(
            parse(&ind(BLKIF_OP_WRITE, 257, [0; 8]), 256).request,
            Err(Refusal::Invalid)
        );
        assert_eq!(
            parse(&ind(BLKIF_OP_WRITE, 0, [0; 8]), 256).request,
            Err(Refusal::Invalid)
        );
        assert_eq!(
            parse(&ind(BLKIF_OP_FLUSH_DISKCACHE, 1, [0; 8]), 256).request,
            Err(Refusal::Invalid)
        );
        assert_eq!(
            parse(&ind(BLKIF_OP_READ, 1, [0; 8]), 0).request,
            Err(Refusal::Unsupported)
        );
        assert_eq!(
            parse(&ind(BLKIF_OP_READ, 4097, [0; 8]), u16::MAX).request,
            Err(Refusal::Invalid)
        );
        // The segments from the pages.
        let mut page = alloc::vec![0u8; 4096];
        page[..8].copy_from_slice(segment_bytes(40, 0, 7).as_bytes());
        page[8..16].copy_from_slice(segment_bytes(41, 1, 1).as_bytes());
        assert_eq!(
            indirect_segments(&page, 2),
            Ok(alloc::vec![
                Segment {
                    gref: 40,
                    first: 0,
                    last: 7
                },
                Segment {
                    gref: 41,
                    first: 1,
                    last: 1
                }
            ])
        );
        page[12] = 9;
        assert_eq!(indirect_segments(&page, 2), Err(Refusal::Invalid));
        assert_eq!(indirect_segments(&page[..8], 2), Err(Refusal::Invalid));
    }
}
