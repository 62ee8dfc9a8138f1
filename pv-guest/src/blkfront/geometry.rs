//! The arithmetic of the block protocol (pure, host-tested): how many slots a ring of
//! 2^order pages holds, where a slot lies, how a transfer of sectors is cut into page
//! segments (`first_sect..=last_sect` of each granted page), and how many indirect pages a
//! request of many segments needs.

use alloc::vec::Vec;
use guest_abi::io::blkif::{
    BlkifRequestSegment, BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST, BLKIF_MAX_SEGMENTS_PER_REQUEST,
    BLKIF_SECTOR_SIZE,
};

/// Bytes of a page (a ring page, a data page, an indirect page).
pub const PAGE_SIZE: usize = guest_abi::ring::RING_PAGE_SIZE;
/// Bytes of a ring slot: the larger of a request and a response (`union blkif_sring_entry`).
pub const SLOT: usize = guest_abi::io::blkif::BLKIF_RING_SLOT;
/// 512-byte sectors in a page.
pub const SECTORS_PER_PAGE: usize = PAGE_SIZE / BLKIF_SECTOR_SIZE;
/// Segments a direct request carries.
pub const MAX_DIRECT_SEGMENTS: usize = BLKIF_MAX_SEGMENTS_PER_REQUEST;
/// Segments (`blkif_request_segment`, 8 B) in an indirect page.
pub const SEGMENTS_PER_INDIRECT_PAGE: usize =
    PAGE_SIZE / core::mem::size_of::<BlkifRequestSegment>();
/// The most segments an indirect request can name: 8 indirect pages of 512 segments each.
pub const MAX_INDIRECT_SEGMENTS: usize =
    BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST * SEGMENTS_PER_INDIRECT_PAGE;

/// Slots in a ring of `pages` contiguous pages (guest-abi's blkif geometry).
pub const fn ring_slots(pages: usize) -> usize {
    guest_abi::io::blkif::blkif_ring_entries(pages)
}

/// Byte offset, from the start of the first ring page, of the slot a free-running ring
/// index `idx` uses in a ring of `slots` slots (a power of two). A slot may straddle two
/// pages: the pages are contiguous in both ends' address spaces.
pub const fn slot_offset(idx: u32, slots: usize) -> usize {
    guest_abi::ring::slot_offset(idx, slots, SLOT)
}

/// The ring order to use: the back end's maximum (`max-ring-page-order`, or the deprecated
/// `max-ring-pages` as a power of two), bounded by ours.
pub fn ring_order(max_order: Option<u32>, max_pages: Option<u32>, ours: u32) -> u32 {
    let from_pages = max_pages
        .filter(|p| p.is_power_of_two())
        .map_or(0, |p| p.trailing_zeros());
    max_order.unwrap_or(0).max(from_pages).min(ours)
}

/// The indirect segments per request to use: 0 (no indirect requests) if the back end does
/// not offer them or offers no more than a direct request carries; else the smaller of its
/// maximum and ours.
pub fn indirect_segments(offered: Option<u32>, ours: usize) -> usize {
    match offered {
        Some(n) if n as usize > MAX_DIRECT_SEGMENTS => {
            (n as usize).min(ours).min(MAX_INDIRECT_SEGMENTS)
        }
        _ => 0,
    }
}

/// Indirect pages needed for `segments` segments.
pub const fn indirect_pages(segments: usize) -> usize {
    segments.div_ceil(SEGMENTS_PER_INDIRECT_PAGE)
}

/// One segment of a transfer: sectors `first..=last` of the transfer's page `page`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Seg {
    /// Index of the page among the transfer's pages.
    pub page: usize,
    /// First sector within the page (0..=7).
    pub first: u8,
    /// Last sector within the page (first..=7).
    pub last: u8,
}

impl Seg {
    /// Sectors the segment covers.
    pub fn sectors(&self) -> usize {
        usize::from(self.last - self.first) + 1
    }
}

/// Cuts a transfer of `sectors` sectors into segments, the first starting `offset`
/// sectors into its page (0..=7) and the rest filling whole pages in order. Empty for 0
/// sectors.
pub fn layout(offset: u8, sectors: usize) -> Vec<Seg> {
    debug_assert!((offset as usize) < SECTORS_PER_PAGE);
    let mut segs = Vec::new();
    let mut left = sectors;
    let mut first = usize::from(offset) % SECTORS_PER_PAGE;
    let mut page = 0;
    while left > 0 {
        let n = left.min(SECTORS_PER_PAGE - first);
        segs.push(Seg {
            page,
            first: first as u8,
            last: (first + n - 1) as u8,
        });
        left -= n;
        first = 0;
        page += 1;
    }
    segs
}

/// Pages a transfer of `sectors` sectors starting `offset` sectors into its first page needs.
pub fn pages_for(offset: u8, sectors: usize) -> usize {
    if sectors == 0 {
        0
    } else {
        (usize::from(offset) + sectors).div_ceil(SECTORS_PER_PAGE)
    }
}

/// Where sector `i` of the transfer lies: (page index, byte offset within the page).
pub fn sector_at(offset: u8, i: usize) -> (usize, usize) {
    let s = usize::from(offset) + i;
    (
        s / SECTORS_PER_PAGE,
        (s % SECTORS_PER_PAGE) * BLKIF_SECTOR_SIZE,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_the_largest_power_of_two_that_fits() {
        // Xen's __CONST_RING_SIZE(blkif, n * 4096), checked with the C headers.
        let want = [(1, 32), (2, 64), (4, 128), (8, 256), (16, 512)];
        for (pages, slots) in want {
            assert_eq!(ring_slots(pages), slots, "{pages} pages");
            // Every slot fits in the pages; one more would not.
            assert!(slot_offset(slots as u32 - 1, slots) + SLOT <= pages * PAGE_SIZE);
            assert!(guest_abi::ring::RING_HEADER_SIZE + 2 * slots * SLOT > pages * PAGE_SIZE);
        }
        assert_eq!(SLOT, 112);
    }

    #[test]
    fn slot_offsets_wrap_and_straddle_pages() {
        assert_eq!(slot_offset(0, 32), 64);
        assert_eq!(slot_offset(32, 32), 64);
        assert_eq!(slot_offset(33, 32), 64 + 112);
        assert_eq!(slot_offset(u32::MAX, 64), 64 + 63 * 112);
        // Slot 36 begins exactly at the second page; slot 72 of a four-page ring begins in
        // the second page and ends in the third.
        assert_eq!(slot_offset(36, 64), PAGE_SIZE);
        let o = slot_offset(72, 128);
        assert!(o < 2 * PAGE_SIZE && o + SLOT > 2 * PAGE_SIZE, "{o}");
    }

    #[test]
    fn ring_order_takes_the_back_ends_offer_bounded_by_ours() {
        assert_eq!(ring_order(None, None, 4), 0, "absent = one page");
        assert_eq!(ring_order(Some(2), None, 4), 2);
        assert_eq!(ring_order(Some(9), None, 4), 4);
        assert_eq!(ring_order(Some(3), None, 0), 0);
        assert_eq!(
            ring_order(None, Some(8), 4),
            3,
            "max-ring-pages 8 = order 3"
        );
        assert_eq!(
            ring_order(None, Some(6), 4),
            0,
            "not a power of two: ignored"
        );
        assert_eq!(ring_order(Some(1), Some(4), 4), 2);
    }

    #[test]
    fn indirect_only_when_offered_beyond_a_direct_request() {
        assert_eq!(indirect_segments(None, 256), 0);
        assert_eq!(indirect_segments(Some(0), 256), 0);
        assert_eq!(indirect_segments(Some(11), 256), 0);
        assert_eq!(indirect_segments(Some(12), 256), 12);
        assert_eq!(indirect_segments(Some(4096), 256), 256);
        assert_eq!(
            indirect_segments(Some(9999), 9999),
            4096,
            "8 pages of 512 at most"
        );
        assert_eq!(MAX_INDIRECT_SEGMENTS, 4096);
        assert_eq!(indirect_pages(1), 1);
        assert_eq!(indirect_pages(512), 1);
        assert_eq!(indirect_pages(513), 2);
        assert_eq!(indirect_pages(4096), 8);
    }

    #[test]
    fn layout_fills_pages_from_the_offset() {
        assert!(layout(0, 0).is_empty());
        assert_eq!(
            layout(0, 1),
            [Seg {
                page: 0,
                first: 0,
                last: 0
            }]
        );
        assert_eq!(
            layout(7, 1),
            [Seg {
                page: 0,
                first: 7,
                last: 7
            }]
        );
        assert_eq!(
            layout(5, 13),
            [
                Seg {
                    page: 0,
                    first: 5,
                    last: 7
                },
                Seg {
                    page: 1,
                    first: 0,
                    last: 7
                },
                Seg {
                    page: 2,
                    first: 0,
                    last: 1
                },
            ]
        );
        let l = layout(0, 88);
        assert_eq!(l.len(), 11);
        assert!(l.iter().all(|s| s.first == 0 && s.last == 7));
        for (off, n) in [(0u8, 1usize), (3, 5), (5, 13), (0, 256), (7, 9), (1, 4095)] {
            let l = layout(off, n);
            assert_eq!(l.len(), pages_for(off, n), "{off} {n}");
            assert_eq!(l.iter().map(Seg::sectors).sum::<usize>(), n);
            assert!(l.iter().all(|s| s.first <= s.last && s.last < 8));
            assert!(l.iter().enumerate().all(|(i, s)| s.page == i));
        }
    }

    #[test]
    fn sectors_are_found_where_the_layout_puts_them() {
        assert_eq!(sector_at(0, 0), (0, 0));
        assert_eq!(sector_at(5, 0), (0, 5 * 512));
        assert_eq!(sector_at(5, 3), (1, 0));
        assert_eq!(sector_at(5, 12), (2, 512));
        // Every sector of a layout is inside its segment.
        let l = layout(3, 30);
        for i in 0..30 {
            let (p, b) = sector_at(3, i);
            let s = l[p];
            let in_page = (b / 512) as u8;
            assert!(s.first <= in_page && in_page <= s.last, "sector {i}");
        }
    }
}
