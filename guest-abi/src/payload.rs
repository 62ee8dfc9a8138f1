//! The union-accessor pattern shared by [`XenDomctl`](crate::domctl::XenDomctl)
//! and [`XenSysctl`](crate::sysctl::XenSysctl): a fixed 128-byte, 8-aligned
//! payload read and written as any small zerocopy type.

use zerocopy::{FromBytes, FromZeros, Immutable, IntoBytes, KnownLayout};

/// Size of a control-operation payload union.
pub const PAYLOAD_SIZE: usize = 128;

/// A 128-byte, 8-byte-aligned payload union.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
#[repr(C)]
pub struct Payload(pub [u64; 16]);

impl Payload {
    /// Reads the payload as a `T` (a copy).
    pub fn get<T: FromBytes + KnownLayout + Immutable>(&self) -> T {
        const { assert!(core::mem::size_of::<T>() <= PAYLOAD_SIZE) };
        match T::read_from_prefix(self.0.as_bytes()) {
            Ok((v, _)) => v,
            Err(_) => unreachable!("size checked at compile time"),
        }
    }

    /// Borrows the payload as a `T` (`T` must be at most 8-aligned).
    pub fn get_ref<T: FromBytes + KnownLayout + Immutable>(&self) -> &T {
        const {
            assert!(core::mem::size_of::<T>() <= PAYLOAD_SIZE);
            assert!(core::mem::align_of::<T>() <= 8);
        };
        match T::ref_from_prefix(self.0.as_bytes()) {
            Ok((v, _)) => v,
            Err(_) => unreachable!("size and alignment checked at compile time"),
        }
    }

    /// Borrows the payload mutably as a `T` (`T` must be at most 8-aligned).
    pub fn get_mut<T: FromBytes + IntoBytes + KnownLayout>(&mut self) -> &mut T {
        const {
            assert!(core::mem::size_of::<T>() <= PAYLOAD_SIZE);
            assert!(core::mem::align_of::<T>() <= 8);
        };
        match T::mut_from_prefix(self.0.as_mut_bytes()) {
            Ok((v, _)) => v,
            Err(_) => unreachable!("size and alignment checked at compile time"),
        }
    }

    /// Replaces the payload with `v`, zeroing the bytes after it.
    pub fn set<T: IntoBytes + Immutable>(&mut self, v: &T) {
        const { assert!(core::mem::size_of::<T>() <= PAYLOAD_SIZE) };
        self.0.zero();
        let src = v.as_bytes();
        self.0.as_mut_bytes()[..src.len()].copy_from_slice(src);
    }
}
