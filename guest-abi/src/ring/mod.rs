//! The shared-ring protocol of split drivers.
//!
//! One 4 KiB page holds a 64-byte header and a power-of-two array of slots,
//! each big enough for a request or a response. The front end produces
//! requests and consumes responses; the back end does the opposite, reusing
//! the slots of consumed requests for its responses. Indices are free-running
//! `u32`s (they wrap at 2^32); slot `i` is `i & (entries - 1)`.
//!
//! Notification: after publishing new producer index `new` (old value
//! `old`), a side must notify its peer iff the peer's event index lies in
//! `(old, new]`, i.e. `new - event < new - old` in wrapping arithmetic. A side
//! about to sleep sets its event index to `cons + 1`, then checks again for
//! work that raced in ("final check").
//!
//! [`SharedRing`] is the page, with atomic indices and slot bytes, so either
//! side may be another domain. [`FrontRing`] and [`BackRing`] keep each side's
//! private indices.

mod back;
mod front;
#[cfg(test)]
mod tests;

pub use back::BackRing;
pub use front::FrontRing;

use core::sync::atomic::{AtomicU32, AtomicU8, Ordering};
use static_assertions::{assert_eq_size, const_assert_eq};
use zerocopy::{FromBytes, FromZeros, Immutable, IntoBytes, KnownLayout};

/// A ring index.
pub type RingIdx = u32;
/// Size of the shared page.
pub const RING_PAGE_SIZE: usize = 4096;
/// Size of the ring header (indices and padding).
pub const RING_HEADER_SIZE: usize = 64;
/// Bytes available for slots.
pub const RING_SLOTS_BYTES: usize = RING_PAGE_SIZE - RING_HEADER_SIZE;

/// Number of slots in a one-page ring whose slots must hold `slot_size`
/// bytes: the largest power of two that fits.
pub const fn ring_entries(slot_size: usize) -> usize {
    ring_entries_in_pages(1, slot_size)
}

/// Number of slots in a ring of `pages` contiguous pages (a multi-page ring, as blkif's
/// `ring-page-order` makes: the header in the first page, the slots running on across
/// the rest) whose slots hold `slot_size` bytes: the largest power of two that fits
/// (Xen's `__CONST_RING_SIZE` of `pages * 4096` bytes).
pub const fn ring_entries_in_pages(pages: usize, slot_size: usize) -> usize {
    let bytes = pages * RING_PAGE_SIZE;
    if slot_size == 0 || bytes < RING_HEADER_SIZE {
        return 0;
    }
    let n = (bytes - RING_HEADER_SIZE) / slot_size;
    if n == 0 {
        0
    } else {
        1 << (usize::BITS - 1 - n.leading_zeros())
    }
}

/// Byte offset, from the start of the ring's first page, of the slot free-running index
/// `idx` uses in a ring of `entries` slots (a power of two) of `slot_size` bytes. In a
/// multi-page ring a slot may straddle two pages.
pub const fn slot_offset(idx: RingIdx, entries: usize, slot_size: usize) -> usize {
    RING_HEADER_SIZE + (idx as usize & (entries - 1)) * slot_size
}

/// Slot size and count for request type `Req` and response type `Rsp`.
pub const fn ring_geometry<Req, Rsp>() -> (usize, usize) {
    let a = core::mem::size_of::<Req>();
    let b = core::mem::size_of::<Rsp>();
    let slot = if a > b { a } else { b };
    (slot, ring_entries(slot))
}

/// The shared ring page (`struct *_sring`), 4096 bytes.
#[derive(FromBytes, IntoBytes, KnownLayout)]
#[repr(C, align(64))]
pub struct SharedRing {
    /// Request producer index (written by the front end).
    pub req_prod: AtomicU32,
    /// Index at which the back end wants a request notification.
    pub req_event: AtomicU32,
    /// Response producer index (written by the back end).
    pub rsp_prod: AtomicU32,
    /// Index at which the front end wants a response notification.
    pub rsp_event: AtomicU32,
    /// Padding (protocol-specific private bytes in some drivers).
    pub pad: [AtomicU8; 48],
    /// The slots.
    pub ring: [AtomicU8; RING_SLOTS_BYTES],
}

assert_eq_size!(SharedRing, [u8; RING_PAGE_SIZE]);
const_assert_eq!(core::mem::offset_of!(SharedRing, rsp_event), 12);
const_assert_eq!(core::mem::offset_of!(SharedRing, ring), RING_HEADER_SIZE);

impl SharedRing {
    /// A freshly initialised ring (for host use; guests use a shared page
    /// through [`SharedRing::from_page`]).
    pub fn new() -> SharedRing {
        let r = SharedRing::new_zeroed();
        r.init_at(0);
        r
    }

    /// Views a page as a shared ring.
    pub fn from_page(page: &mut [u8; RING_PAGE_SIZE]) -> &SharedRing {
        match SharedRing::mut_from_bytes(page.as_mut_bytes()) {
            Ok(r) => r,
            // A 4096-byte page that is 64-byte aligned always fits; a less
            // aligned one is a caller bug.
            Err(_) => panic!("ring page must be 64-byte aligned"),
        }
    }

    /// Views the shared page at `ptr` as a ring.
    ///
    /// # Safety
    /// `ptr` must point to a mapped, writable, 64-byte-aligned 4 KiB region
    /// that stays mapped for `'a` and is accessed by others only through
    /// the ring protocol (atomically).
    pub unsafe fn from_ptr<'a>(ptr: *mut u8) -> &'a SharedRing {
        // SAFETY: per the contract, the region is valid, aligned and sized
        // for `SharedRing`, whose fields are all atomics (any bytes valid,
        // shared mutation allowed).
        unsafe { &*(ptr as *const SharedRing) }
    }

    /// `SHARED_RING_INIT`: producers at `start`, events at `start + 1`.
    /// The front end does this once before advertising the ring.
    pub fn init_at(&self, start: RingIdx) {
        self.req_prod.store(start, Ordering::Relaxed);
        self.rsp_prod.store(start, Ordering::Relaxed);
        self.req_event
            .store(start.wrapping_add(1), Ordering::Relaxed);
        self.rsp_event
            .store(start.wrapping_add(1), Ordering::Release);
    }

    fn write_slot<T: IntoBytes + Immutable>(&self, offset: usize, v: &T) {
        for (i, b) in v.as_bytes().iter().enumerate() {
            self.ring[offset + i].store(*b, Ordering::Relaxed);
        }
    }

    fn read_slot<T: FromBytes + IntoBytes>(&self, offset: usize) -> T {
        let mut v = T::new_zeroed();
        for (i, b) in v.as_mut_bytes().iter_mut().enumerate() {
            *b = self.ring[offset + i].load(Ordering::Relaxed);
        }
        v
    }
}

impl Default for SharedRing {
    fn default() -> Self {
        SharedRing::new()
    }
}

/// Whether a producer that moved its index from `old` to `new` must notify a
/// peer whose event index is `event`.
pub const fn need_notify(old: RingIdx, new: RingIdx, event: RingIdx) -> bool {
    new.wrapping_sub(event) < new.wrapping_sub(old)
}

/// The ring is full; the value that did not fit is returned.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct RingFull;
