//! The netif rings as the back end sees them in its copy of a ring page: a 64-byte header
//! (`req_prod`, `req_event`, `rsp_prod`, `rsp_event`) then the slots, a request or the
//! response that reuses its slot. One page each: 256 slots of 12 bytes (TX) and of 8 bytes
//! (RX), Xen's `__CONST_RING_SIZE(netif_tx, 4096)` and `(netif_rx, 4096)`.

use guest_abi::io::netif::{
    NetifExtraInfo, NetifRxRequest, NetifRxResponse, NetifTxRequest, NetifTxResponse,
};
use guest_abi::ring::{ring_geometry, RING_PAGE_SIZE};
use zerocopy::FromBytes;

/// Bytes of a ring page.
pub const PAGE: usize = RING_PAGE_SIZE;
/// Bytes of the header copied with each look at the indices.
pub const HEADER_BYTES: usize = 16;
/// The front end's request producer index.
pub const REQ_PROD: usize = 0;
/// The back end's request event index.
pub const REQ_EVENT: usize = 4;
/// The back end's response producer index.
pub const RSP_PROD: usize = 8;
/// The front end's response event index.
pub const RSP_EVENT: usize = 12;

/// TX slot bytes and slots.
pub const TX_SLOT: usize = ring_geometry::<NetifTxRequest, NetifTxResponse>().0;
pub const TX_ENTRIES: u32 = ring_geometry::<NetifTxRequest, NetifTxResponse>().1 as u32;
/// RX slot bytes and slots.
pub const RX_SLOT: usize = ring_geometry::<NetifRxRequest, NetifRxResponse>().0;
pub const RX_ENTRIES: u32 = ring_geometry::<NetifRxRequest, NetifRxResponse>().1 as u32;

/// Byte offset of TX slot `index` (a free-running index).
pub fn tx_slot(index: u32) -> usize {
    guest_abi::ring::slot_offset(index, TX_ENTRIES as usize, TX_SLOT)
}

/// Byte offset of RX slot `index`.
pub fn rx_slot(index: u32) -> usize {
    guest_abi::ring::slot_offset(index, RX_ENTRIES as usize, RX_SLOT)
}

/// A little-endian `u32` at `at` of a ring copy.
pub fn read_u32(page: &[u8], at: usize) -> u32 {
    let mut b = [0u8; 4];
    b.copy_from_slice(&page[at..at + 4]);
    u32::from_le_bytes(b)
}

/// How many requests the front end published past `req_cons`, or `None` if that cannot be
/// (more than the ring holds, or more outstanding than slots): Xen's back ends then stop
/// serving the ring.
pub fn unconsumed(req_prod: u32, req_cons: u32, rsp_prod: u32, entries: u32) -> Option<u32> {
    let n = req_prod.wrapping_sub(req_cons);
    let outstanding = req_prod.wrapping_sub(rsp_prod);
    (n <= entries && outstanding <= entries).then_some(n)
}

/// TX request `index` of a TX ring copy.
pub fn tx_request(page: &[u8], index: u32) -> NetifTxRequest {
    let at = tx_slot(index);
    NetifTxRequest::read_from_prefix(&page[at..])
        .map(|(r, _)| r)
        .unwrap_or_default()
}

/// The extra-info slot `index` of a TX ring copy.
pub fn tx_extra(page: &[u8], index: u32) -> NetifExtraInfo {
    let at = tx_slot(index);
    NetifExtraInfo::read_from_prefix(&page[at..])
        .map(|(r, _)| r)
        .unwrap_or_default()
}

/// RX request `index` of an RX ring copy.
pub fn rx_request(page: &[u8], index: u32) -> NetifRxRequest {
    let at = rx_slot(index);
    NetifRxRequest::read_from_prefix(&page[at..])
        .map(|(r, _)| r)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_page_rings_of_256_slots() {
        assert_eq!((TX_SLOT, TX_ENTRIES), (12, 256));
        assert_eq!((RX_SLOT, RX_ENTRIES), (8, 256));
        assert_eq!(tx_slot(0), 64);
        assert_eq!(tx_slot(257), 64 + 12);
        assert!(tx_slot(255) + TX_SLOT <= PAGE);
        assert!(rx_slot(255) + RX_SLOT <= PAGE);
        assert_eq!(unconsumed(3, u32::MAX - 1, u32::MAX - 1, 256), Some(5));
        assert_eq!(unconsumed(300, 2, 2, 256), None);
        assert_eq!(unconsumed(1, 2, 2, 256), None);
    }
}
