//! The network device protocol (`netif`): a transmit and a receive ring.

use crate::types::GrantRef;
use static_assertions::{assert_eq_size, const_assert_eq};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// TX flag: checksum is blank (to be filled in).
pub const NETTXF_CSUM_BLANK: u16 = 1 << 0;
/// TX flag: data already validated.
pub const NETTXF_DATA_VALIDATED: u16 = 1 << 1;
/// TX flag: more fragments follow.
pub const NETTXF_MORE_DATA: u16 = 1 << 2;
/// TX flag: an extra-info slot follows.
pub const NETTXF_EXTRA_INFO: u16 = 1 << 3;
/// RX flag: data validated.
pub const NETRXF_DATA_VALIDATED: u16 = 1 << 0;
/// RX flag: checksum blank.
pub const NETRXF_CSUM_BLANK: u16 = 1 << 1;
/// RX flag: more fragments follow.
pub const NETRXF_MORE_DATA: u16 = 1 << 2;
/// RX flag: an extra-info slot follows.
pub const NETRXF_EXTRA_INFO: u16 = 1 << 3;
/// RX flag: GSO prefix.
pub const NETRXF_GSO_PREFIX: u16 = 1 << 4;
/// Response status: dropped.
pub const NETIF_RSP_DROPPED: i16 = -2;
/// Response status: error.
pub const NETIF_RSP_ERROR: i16 = -1;
/// Response status: success.
pub const NETIF_RSP_OKAY: i16 = 0;
/// Response status: null (extra-info slot).
pub const NETIF_RSP_NULL: i16 = 1;
/// Largest transmit packet.
pub const XEN_NETIF_MAX_TX_SIZE: u32 = 0xFFFF;

/// A transmit request (`netif_tx_request`, 12 B).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
#[repr(C)]
pub struct NetifTxRequest {
    /// Grant of the packet page.
    pub gref: GrantRef,
    /// Offset of the data.
    pub offset: u16,
    /// `NETTXF_*`.
    pub flags: u16,
    /// Id echoed in the response.
    pub id: u16,
    /// Packet size.
    pub size: u16,
}

/// A transmit response (`netif_tx_response`, 4 B).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
#[repr(C)]
pub struct NetifTxResponse {
    /// The request's id.
    pub id: u16,
    /// `NETIF_RSP_*`.
    pub status: i16,
}

/// A receive request: a buffer for the back end to fill (8 B).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
#[repr(C)]
pub struct NetifRxRequest {
    /// Id echoed in the response.
    pub id: u16,
    /// Padding.
    pub pad: u16,
    /// Grant of the buffer page.
    pub gref: GrantRef,
}

/// A receive response (`netif_rx_response`, 8 B).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
#[repr(C)]
pub struct NetifRxResponse {
    /// The request's id.
    pub id: u16,
    /// Offset of the data in the page.
    pub offset: u16,
    /// `NETRXF_*`.
    pub flags: u16,
    /// Size (if ≥ 0) or `NETIF_RSP_*` error.
    pub status: i16,
}

assert_eq_size!(NetifTxRequest, [u8; 12]);
const_assert_eq!(core::mem::offset_of!(NetifTxRequest, size), 10);
assert_eq_size!(NetifTxResponse, [u8; 4]);
assert_eq_size!(NetifRxRequest, [u8; 8]);
const_assert_eq!(core::mem::offset_of!(NetifRxRequest, gref), 4);
assert_eq_size!(NetifRxResponse, [u8; 8]);
