//! `physdev_op`: a PV guest's physical-device operations. Only what a domain without devices
//! uses is defined here so far (its virtual I/O privilege level).

use static_assertions::assert_eq_size;
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// Set the vCPU's virtual I/O privilege level ([`PhysdevSetIopl`]).
pub const PHYSDEVOP_SET_IOPL: u32 = 6;

/// Argument of `PHYSDEVOP_SET_IOPL` (4 B).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
#[repr(C)]
pub struct PhysdevSetIopl {
    /// The privilege level, 0–3.
    pub iopl: u32,
}

assert_eq_size!(PhysdevSetIopl, [u8; 4]);
