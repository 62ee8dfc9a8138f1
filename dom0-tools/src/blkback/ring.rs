//! The block ring as the back end sees it in its copy of the front end's ring pages: a
//! 64-byte header (`req_prod`, `req_event`, `rsp_prod`, `rsp_event`) then 112-byte slots,
//! as many as the largest power of two that fits in the pages (Xen's `__CONST_RING_SIZE`:
//! 32 for one page, 64 for two, ..., 512 for sixteen).

use guest_abi::io::blkif::{blkif_ring_entries, BlkifResponse, BLKIF_RING_SLOT};
use guest_abi::ring::{RING_HEADER_SIZE, RING_PAGE_SIZE};

/// Bytes of a ring page.
pub const PAGE: usize = RING_PAGE_SIZE;
/// Bytes before the first slot.
pub const HEADER: usize = RING_HEADER_SIZE;
/// Bytes of a slot (a request; a response reuses the slot).
pub const SLOT: usize = BLKIF_RING_SLOT;
/// The most ring pages a front end may use (order 4, as Linux's blkback allows).
pub const MAX_ORDER: u32 = 4;

/// Offsets of the header's indices.
pub const REQ_PROD: usize = 0;
/// The back end's request event index.
pub const REQ_EVENT: usize = 4;
/// The back end's response producer index.
pub const RSP_PROD: usize = 8;

/// Slots of a ring of `pages` pages.
pub const fn entries(pages: usize) -> u32 {
    blkif_ring_entries(pages) as u32
}

/// Byte offset of slot `index` (a free-running ring index) in a ring of `entries` slots.
pub fn slot_offset(index: u32, entries: u32) -> usize {
    guest_abi::ring::slot_offset(index, entries as usize, SLOT)
}

/// Reads a little-endian `u32` at `at` of the ring copy.
pub fn read_u32(ring: &[u8], at: usize) -> u32 {
    let mut b = [0u8; 4];
    b.copy_from_slice(&ring[at..at + 4]);
    u32::from_le_bytes(b)
}

/// How many requests the front end published past `req_cons`, or `None` if more than the
/// ring holds (impossible for an honest front end: Xen's back ends then stop serving it).
pub fn unconsumed(req_prod: u32, req_cons: u32, rsp_prod: u32, entries: u32) -> Option<u32> {
    let n = req_prod.wrapping_sub(req_cons);
    // Requests in flight plus responses not yet consumed never exceed the ring.
    let outstanding = req_prod.wrapping_sub(rsp_prod);
    (n <= entries && outstanding <= entries).then_some(n)
}

/// A response's bytes.
pub fn response_bytes(id: u64, operation: u8, status: i16) -> [u8; 16] {
    let r = BlkifResponse {
        id,
        operation,
        status,
        ..Default::default()
    };
    let mut b = [0u8; 16];
    b.copy_from_slice(zerocopy::IntoBytes::as_bytes(&r));
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_the_largest_power_of_two_that_fits() {
        assert_eq!(entries(1), 32);
        assert_eq!(entries(2), 64);
        assert_eq!(entries(4), 128);
        assert_eq!(entries(8), 256);
        assert_eq!(entries(16), 512);
        assert_eq!(slot_offset(0, 32), 64);
        assert_eq!(slot_offset(33, 32), 64 + 112);
        // A slot of a 2-page ring may cross into the second page.
        assert_eq!(slot_offset(36, 64), 64 + 36 * 112);
        assert!(slot_offset(63, 64) + SLOT <= 2 * PAGE);
        assert!(slot_offset(511, 512) + SLOT <= 16 * PAGE);
    }

    #[test]
    fn a_front_end_cannot_claim_more_requests_than_the_ring_holds() {
        assert_eq!(unconsumed(5, 2, 2, 32), Some(3));
        assert_eq!(unconsumed(2, 2, 2, 32), Some(0));
        // Wrapping indices.
        assert_eq!(unconsumed(3, u32::MAX - 1, u32::MAX - 1, 32), Some(5));
        assert_eq!(unconsumed(40, 2, 2, 32), None);
        assert_eq!(
            unconsumed(1, 2, 2, 32),
            None,
            "producer behind the consumer"
        );
        // Responses not taken plus new requests beyond the ring.
        assert_eq!(unconsumed(40, 20, 5, 32), None);
        assert_eq!(unconsumed(36, 20, 5, 32), Some(16));
    }

    #[test]
    fn responses_are_laid_out_as_blkif_response() {
        let b = response_bytes(0x1122_3344_5566_7788, 1, -1);
        assert_eq!(&b[..8], &0x1122_3344_5566_7788u64.to_le_bytes());
        assert_eq!(b[8], 1);
        assert_eq!(&b[10..12], &(-1i16).to_le_bytes());
    }
}
