//! `console_io` and the PV console ring page.

use static_assertions::{assert_eq_size, const_assert_eq};
use zerocopy::{FromBytes, FromZeros, Immutable, IntoBytes, KnownLayout};

/// `console_io` command: write `count` bytes from `buf`.
pub const CONSOLEIO_WRITE: u32 = 0;
/// `console_io` command: read up to `count` bytes into `buf`.
pub const CONSOLEIO_READ: u32 = 1;

/// Size of [`XenconsInterface::in_`].
pub const XENCONS_IN_SIZE: usize = 1024;
/// Size of [`XenconsInterface::out`].
pub const XENCONS_OUT_SIZE: usize = 2048;

/// The PV console ring page (`xencons_interface`, 3088 B in 4.17).
///
/// Indices are free-running `u32`s; the byte at index `i` lives at
/// `i & (size - 1)`. The guest produces `out` and consumes `in_`.
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, KnownLayout, Immutable)]
#[repr(C)]
pub struct XenconsInterface {
    /// Input ring (back end → guest).
    pub in_: [u8; XENCONS_IN_SIZE],
    /// Output ring (guest → back end).
    pub out: [u8; XENCONS_OUT_SIZE],
    /// Input consumer index.
    pub in_cons: u32,
    /// Input producer index.
    pub in_prod: u32,
    /// Output consumer index.
    pub out_cons: u32,
    /// Output producer index.
    pub out_prod: u32,
}

impl Default for XenconsInterface {
    fn default() -> Self {
        XenconsInterface::new_zeroed()
    }
}

/// Masks a free-running console index into a ring of `size` bytes.
pub const fn xencons_mask(idx: u32, size: usize) -> usize {
    (idx as usize) & (size - 1)
}

assert_eq_size!(XenconsInterface, [u8; 3088]);
const_assert_eq!(core::mem::offset_of!(XenconsInterface, out), 1024);
const_assert_eq!(core::mem::offset_of!(XenconsInterface, in_cons), 3072);
const_assert_eq!(core::mem::offset_of!(XenconsInterface, out_prod), 3084);
