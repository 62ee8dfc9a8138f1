//! Building ring requests (pure, host-tested): direct read/write requests with up to 11
//! segments in the slot, indirect ones whose segments fill granted pages (512 to a page),
//! and cache flushes; and naming response statuses.

use super::geometry::{Seg, MAX_DIRECT_SEGMENTS, SEGMENTS_PER_INDIRECT_PAGE};
use alloc::vec::Vec;
use guest_abi::io::blkif::*;
use guest_abi::types::GrantRef;

/// The segments of a transfer laid out as `layout` says, page `i` granted as `grefs[i]`.
pub fn segments(layout: &[Seg], grefs: &[GrantRef]) -> Vec<BlkifRequestSegment> {
    layout
        .iter()
        .map(|s| BlkifRequestSegment {
            gref: grefs[s.page],
            first_sect: s.first,
            last_sect: s.last,
            _pad: 0,
        })
        .collect()
}

/// A direct read or write (`operation`, `nr_segments` = `segs.len()`, at most 11).
pub fn direct(
    operation: u8,
    handle: u16,
    id: u64,
    sector: u64,
    segs: &[BlkifRequestSegment],
) -> BlkifRequest {
    assert!(
        segs.len() <= MAX_DIRECT_SEGMENTS,
        "a direct request carries 11 segments"
    );
    let mut r = BlkifRequest {
        operation,
        nr_segments: segs.len() as u8,
        handle,
        id,
        sector_number: sector,
        ..Default::default()
    };
    r.seg[..segs.len()].copy_from_slice(segs);
    r
}

/// A cache flush (no segments; `sector_number` unused, 0).
pub fn flush(handle: u16, id: u64) -> BlkifRequest {
    direct(BLKIF_OP_FLUSH_DISKCACHE, handle, id, 0, &[])
}

/// An indirect read or write of `nr_segments` segments held in the pages `pages` grant.
pub fn indirect(
    indirect_op: u8,
    handle: u16,
    id: u64,
    sector: u64,
    nr_segments: u16,
    pages: &[GrantRef],
) -> BlkifRequestIndirect {
    assert!(pages.len() <= BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST);
    let mut r = BlkifRequestIndirect {
        operation: BLKIF_OP_INDIRECT,
        indirect_op,
        nr_segments,
        id,
        sector_number: sector,
        handle,
        ..Default::default()
    };
    r.indirect_grefs[..pages.len()].copy_from_slice(pages);
    r
}

/// The contents of the indirect pages for `segs`: page `i` holds segments `512 i..`.
pub fn indirect_pages(segs: &[BlkifRequestSegment]) -> Vec<&[BlkifRequestSegment]> {
    segs.chunks(SEGMENTS_PER_INDIRECT_PAGE).collect()
}

/// A response status as blkif.h names it.
pub fn status_name(status: i16) -> &'static str {
    match status {
        BLKIF_RSP_OKAY => "BLKIF_RSP_OKAY",
        BLKIF_RSP_ERROR => "BLKIF_RSP_ERROR",
        BLKIF_RSP_EOPNOTSUPP => "BLKIF_RSP_EOPNOTSUPP",
        _ => "not a blkif status",
    }
}

/// An operation as blkif.h names it.
pub fn op_name(op: u8) -> &'static str {
    match op {
        BLKIF_OP_READ => "read",
        BLKIF_OP_WRITE => "write",
        BLKIF_OP_WRITE_BARRIER => "write-barrier",
        BLKIF_OP_FLUSH_DISKCACHE => "flush",
        BLKIF_OP_DISCARD => "discard",
        BLKIF_OP_INDIRECT => "indirect",
        _ => "unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::blkfront::geometry::layout;
    use zerocopy::IntoBytes;

    fn grefs(n: u32) -> Vec<GrantRef> {
        (0..n).map(|i| GrantRef(100 + i)).collect()
    }

    #[test]
    fn a_direct_request_has_blkif_s_bytes() {
        let segs = segments(&layout(5, 13), &grefs(3));
        let r = direct(BLKIF_OP_WRITE, 51712, 0x1_0000_0002, 4096, &segs);
        let b = r.as_bytes();
        assert_eq!(b.len(), 112);
        assert_eq!(b[0], BLKIF_OP_WRITE);
        assert_eq!(b[1], 3, "nr_segments");
        assert_eq!(&b[2..4], &51712u16.to_le_bytes(), "handle");
        assert_eq!(&b[8..16], &0x1_0000_0002u64.to_le_bytes(), "id");
        assert_eq!(&b[16..24], &4096u64.to_le_bytes(), "sector_number");
        // seg[0] at 24: gref 100, sectors 5..=7; seg[2] at 40: gref 102, sectors 0..=1.
        assert_eq!(&b[24..32], &[100, 0, 0, 0, 5, 7, 0, 0]);
        assert_eq!(&b[32..40], &[101, 0, 0, 0, 0, 7, 0, 0]);
        assert_eq!(&b[40..48], &[102, 0, 0, 0, 0, 1, 0, 0]);
        assert!(b[48..].iter().all(|&x| x == 0), "unused segments are zero");
    }

    #[test]
    fn eleven_segments_fit_a_direct_request() {
        let segs = segments(&layout(0, 88), &grefs(11));
        let r = direct(BLKIF_OP_READ, 1, 2, 3, &segs);
        assert_eq!(r.nr_segments, 11);
        assert_eq!(r.seg[10].gref, GrantRef(110));
    }

    #[test]
    #[should_panic(expected = "11 segments")]
    fn twelve_do_not() {
        let segs = segments(&layout(0, 96), &grefs(12));
        direct(BLKIF_OP_READ, 1, 2, 3, &segs);
    }

    #[test]
    fn a_flush_has_no_segments() {
        let r = flush(7, 9);
        assert_eq!((r.operation, r.nr_segments, r.handle, r.id), (3, 0, 7, 9));
    }

    #[test]
    fn an_indirect_request_has_blkif_s_bytes() {
        let r = indirect(
            BLKIF_OP_READ,
            51712,
            5,
            1000,
            600,
            &[GrantRef(40), GrantRef(41)],
        );
        let b = r.as_bytes();
        assert_eq!(b.len(), 64);
        assert_eq!((b[0], b[1]), (BLKIF_OP_INDIRECT, BLKIF_OP_READ));
        assert_eq!(&b[2..4], &600u16.to_le_bytes(), "nr_segments");
        assert_eq!(&b[8..16], &5u64.to_le_bytes(), "id");
        assert_eq!(&b[16..24], &1000u64.to_le_bytes(), "sector_number");
        assert_eq!(&b[24..26], &51712u16.to_le_bytes(), "handle");
        assert_eq!(&b[28..32], &40u32.to_le_bytes(), "indirect_grefs[0]");
        assert_eq!(&b[32..36], &41u32.to_le_bytes(), "indirect_grefs[1]");
        assert!(b[36..].iter().all(|&x| x == 0));
    }

    #[test]
    fn indirect_pages_hold_512_segments_each() {
        let segs = segments(&layout(0, 600 * 8), &grefs(600));
        let pages = indirect_pages(&segs);
        assert_eq!(pages.len(), 2);
        assert_eq!(pages[0].len(), 512);
        assert_eq!(pages[1].len(), 88);
        assert_eq!(pages[1][0].gref, GrantRef(100 + 512));
        assert_eq!(pages[0].as_bytes().len(), 4096, "a page exactly");
    }

    #[test]
    fn statuses_and_operations_are_named() {
        assert_eq!(status_name(0), "BLKIF_RSP_OKAY");
        assert_eq!(status_name(-1), "BLKIF_RSP_ERROR");
        assert_eq!(status_name(-2), "BLKIF_RSP_EOPNOTSUPP");
        assert_eq!(status_name(5), "not a blkif status");
        assert_eq!(op_name(3), "flush");
        assert_eq!(op_name(99), "unknown");
    }
}
