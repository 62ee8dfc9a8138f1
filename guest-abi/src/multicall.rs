//! `multicall`: a batch of hypercalls executed in order.

use static_assertions::{assert_eq_size, const_assert_eq};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// One call of a batch (`multicall_entry`, 64 B).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
#[repr(C)]
pub struct MulticallEntry {
    /// Hypercall number.
    pub op: u64,
    /// OUT: the call's return value.
    pub result: u64,
    /// Arguments.
    pub args: [u64; 6],
}

assert_eq_size!(MulticallEntry, [u8; 64]);
const_assert_eq!(core::mem::offset_of!(MulticallEntry, result), 8);
const_assert_eq!(core::mem::offset_of!(MulticallEntry, args), 16);
