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

/// The payload accessors of a control operation whose union field is `u: [u64; 16]`
/// (`XenDomctl`, `XenSysctl`), written once for both.
macro_rules! payload_accessors {
    () => {
        fn union(&self) -> &crate::payload::Payload {
            zerocopy::transmute_ref!(&self.u)
        }

        fn union_mut(&mut self) -> &mut crate::payload::Payload {
            zerocopy::transmute_mut!(&mut self.u)
        }

        /// Reads the payload as `T` (a copy; `size_of::<T>() <= 128`, checked at compile
        /// time).
        pub fn payload<T: FromBytes + KnownLayout + Immutable>(&self) -> T {
            self.union().get()
        }

        /// Borrows the payload as `T`.
        pub fn payload_ref<T: FromBytes + KnownLayout + Immutable>(&self) -> &T {
            self.union().get_ref()
        }

        /// Borrows the payload mutably as `T`.
        pub fn payload_mut<T: FromBytes + IntoBytes + KnownLayout>(&mut self) -> &mut T {
            self.union_mut().get_mut()
        }

        /// Writes `v` into the payload, zeroing the rest.
        pub fn set_payload<T: IntoBytes + Immutable>(&mut self, v: &T) {
            self.union_mut().set(v)
        }
    };
}
pub(crate) use payload_accessors;
