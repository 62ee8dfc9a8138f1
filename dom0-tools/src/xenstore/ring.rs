//! Byte rings in a shared page, as the xenstore (`xenstore_domain_interface`) and console
//! (`xencons_interface`) pages hold them: a power-of-two byte array with a free-running `u32`
//! consumer and producer index; the byte at index `i` lives at `i & (size - 1)`. The
//! producer may run at most `size` bytes ahead of the consumer; anything else is a broken
//! peer.
//!
//! [`RingPage`] abstracts the page so that the same code runs over a foreign mapping in
//! dom0, over volatile accesses in the guest, and over a plain array in host tests.

use core::sync::atomic::{fence, Ordering};
use guest_abi::console::{XENCONS_IN_SIZE, XENCONS_OUT_SIZE};
use guest_abi::io::xenstore::XENSTORE_RING_SIZE;

/// A shared page holding rings.
pub trait RingPage {
    fn load_u32(&self, off: usize) -> u32;
    fn store_u32(&mut self, off: usize, v: u32);
    fn load_u8(&self, off: usize) -> u8;
    fn store_u8(&mut self, off: usize, v: u8);
}

impl RingPage for [u8] {
    fn load_u32(&self, off: usize) -> u32 {
        let mut b = [0u8; 4];
        b.copy_from_slice(&self[off..off + 4]);
        u32::from_le_bytes(b)
    }
    fn store_u32(&mut self, off: usize, v: u32) {
        self[off..off + 4].copy_from_slice(&v.to_le_bytes());
    }
    fn load_u8(&self, off: usize) -> u8 {
        self[off]
    }
    fn store_u8(&mut self, off: usize, v: u8) {
        self[off] = v;
    }
}

/// Where one ring lives in its page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RingLayout {
    /// Offset of the data bytes.
    pub data: usize,
    /// Size of the data (a power of two).
    pub size: usize,
    /// Offset of the consumer index.
    pub cons: usize,
    /// Offset of the producer index.
    pub prod: usize,
}

/// xenstore: requests (guest → xenstored).
pub const XS_REQ: RingLayout = RingLayout {
    data: 0,
    size: XENSTORE_RING_SIZE,
    cons: 2048,
    prod: 2052,
};
/// xenstore: responses and watch events (xenstored → guest).
pub const XS_RSP: RingLayout = RingLayout {
    data: 1024,
    size: XENSTORE_RING_SIZE,
    cons: 2056,
    prod: 2060,
};
/// console: input (back end → guest).
pub const CONS_IN: RingLayout = RingLayout {
    data: 0,
    size: XENCONS_IN_SIZE,
    cons: 3072,
    prod: 3076,
};
/// console: output (guest → back end).
pub const CONS_OUT: RingLayout = RingLayout {
    data: 1024,
    size: XENCONS_OUT_SIZE,
    cons: 3080,
    prod: 3084,
};
/// Offset of `xenstore_domain_interface.error`.
pub const XS_ERROR_OFFSET: usize = 2072;
/// Offset of `xenstore_domain_interface.server_features`.
pub const XS_FEATURES_OFFSET: usize = 2064;

/// The peer's indices are impossible (producer more than a ring ahead of the consumer).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BadIndex {
    pub cons: u32,
    pub prod: u32,
}

/// Bytes waiting between `cons` and `prod` in a ring of `size`, or an error if the producer
/// is more than `size` ahead.
pub fn used(cons: u32, prod: u32, size: usize) -> Result<usize, BadIndex> {
    let n = prod.wrapping_sub(cons) as usize;
    if n > size {
        Err(BadIndex { cons, prod })
    } else {
        Ok(n)
    }
}

/// Reads up to `buf.len()` waiting bytes of ring `r` and advances its consumer index.
pub fn read<P: RingPage + ?Sized>(
    page: &mut P,
    r: RingLayout,
    buf: &mut [u8],
) -> Result<usize, BadIndex> {
    let cons = page.load_u32(r.cons);
    let prod = page.load_u32(r.prod);
    let n = used(cons, prod, r.size)?.min(buf.len());
    // Read the data only after seeing the producer index.
    fence(Ordering::SeqCst);
    for (i, b) in buf[..n].iter_mut().enumerate() {
        let idx = cons.wrapping_add(i as u32) as usize & (r.size - 1);
        *b = page.load_u8(r.data + idx);
    }
    // Finish reading before giving the space back.
    fence(Ordering::SeqCst);
    page.store_u32(r.cons, cons.wrapping_add(n as u32));
    Ok(n)
}

/// Writes as much of `data` as fits into ring `r` and advances its producer index; returns
/// how many bytes went in.
pub fn write<P: RingPage + ?Sized>(
    page: &mut P,
    r: RingLayout,
    data: &[u8],
) -> Result<usize, BadIndex> {
    let cons = page.load_u32(r.cons);
    let prod = page.load_u32(r.prod);
    let free = r.size - used(cons, prod, r.size)?;
    let n = free.min(data.len());
    fence(Ordering::SeqCst);
    for (i, &b) in data[..n].iter().enumerate() {
        let idx = prod.wrapping_add(i as u32) as usize & (r.size - 1);
        page.store_u8(r.data + idx, b);
    }
    // The data must be visible before the index that publishes it.
    fence(Ordering::SeqCst);
    page.store_u32(r.prod, prod.wrapping_add(n as u32));
    Ok(n)
}

/// Bytes waiting in ring `r`.
pub fn pending<P: RingPage + ?Sized>(page: &P, r: RingLayout) -> Result<usize, BadIndex> {
    used(page.load_u32(r.cons), page.load_u32(r.prod), r.size)
}

/// Free space in ring `r`.
pub fn space<P: RingPage + ?Sized>(page: &P, r: RingLayout) -> Result<usize, BadIndex> {
    Ok(r.size - pending(page, r)?)
}

/// Copies out the waiting bytes of ring `r` without consuming them (up to `buf.len()`).
pub fn peek<P: RingPage + ?Sized>(
    page: &P,
    r: RingLayout,
    buf: &mut [u8],
) -> Result<usize, BadIndex> {
    let cons = page.load_u32(r.cons);
    let n = pending(page, r)?.min(buf.len());
    fence(Ordering::SeqCst);
    for (i, b) in buf[..n].iter_mut().enumerate() {
        let idx = cons.wrapping_add(i as u32) as usize & (r.size - 1);
        *b = page.load_u8(r.data + idx);
    }
    Ok(n)
}

/// Drops `n` waiting bytes of ring `r` (after a [`peek`]).
pub fn consume<P: RingPage + ?Sized>(page: &mut P, r: RingLayout, n: usize) {
    fence(Ordering::SeqCst);
    let cons = page.load_u32(r.cons);
    page.store_u32(r.cons, cons.wrapping_add(n as u32));
}
