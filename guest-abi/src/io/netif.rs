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

/// The fewest slots a back end must accept for one packet before it may call the front
/// end malicious (`XEN_NETIF_NR_SLOTS_MIN`).
pub const XEN_NETIF_NR_SLOTS_MIN: u32 = 18;
/// Extra-info type: never used (invalid).
pub const XEN_NETIF_EXTRA_TYPE_NONE: u8 = 0;
/// Extra-info type: segmentation offload (`u.gso`).
pub const XEN_NETIF_EXTRA_TYPE_GSO: u8 = 1;
/// Extra-info type: add a multicast address (`u.mcast`).
pub const XEN_NETIF_EXTRA_TYPE_MCAST_ADD: u8 = 2;
/// Extra-info type: remove a multicast address (`u.mcast`).
pub const XEN_NETIF_EXTRA_TYPE_MCAST_DEL: u8 = 3;
/// Extra-info type: a packet hash (`u.hash`).
pub const XEN_NETIF_EXTRA_TYPE_HASH: u8 = 4;
/// One past the last extra-info type.
pub const XEN_NETIF_EXTRA_TYPE_MAX: u8 = 5;
/// Extra-info flag: another extra-info slot follows.
pub const XEN_NETIF_EXTRA_FLAG_MORE: u8 = 1 << 0;
/// GSO type: none.
pub const XEN_NETIF_GSO_TYPE_NONE: u8 = 0;
/// GSO type: TCP over IPv4.
pub const XEN_NETIF_GSO_TYPE_TCPV4: u8 = 1;
/// GSO type: TCP over IPv6.
pub const XEN_NETIF_GSO_TYPE_TCPV6: u8 = 2;

/// An extra-info slot (`netif_extra_info`, 8 B), in a ring slot of its own after a
/// request or response flagged `*_EXTRA_INFO`. `u` is the union: for GSO, size (u16),
/// type (u8), pad, features (u16); for multicast, the address.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
#[repr(C)]
pub struct NetifExtraInfo {
    /// `XEN_NETIF_EXTRA_TYPE_*`.
    pub type_: u8,
    /// `XEN_NETIF_EXTRA_FLAG_*`.
    pub flags: u8,
    /// The type's fields.
    pub u: [u8; 6],
}

impl NetifExtraInfo {
    /// A GSO extra's (segment size, GSO type).
    pub fn gso(&self) -> (u16, u8) {
        (u16::from_le_bytes([self.u[0], self.u[1]]), self.u[2])
    }
}

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
assert_eq_size!(NetifExtraInfo, [u8; 8]);
const_assert_eq!(core::mem::offset_of!(NetifExtraInfo, u), 2);
