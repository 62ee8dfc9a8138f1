//! One TX packet read from a copy of the TX ring, and checked before anything is done for it,
//! with Xen's netback's rules (`xenvif_tx_build_gops`, `xenvif_count_requests`,
//! `xenvif_get_extras`).
//!
//! A packet is a first request, whose `size` is the whole packet's, then its extra-info slots
//! if it is flagged `NETTXF_EXTRA_INFO` (each flagged `XEN_NETIF_EXTRA_FLAG_MORE` if another
//! follows), then one request per further fragment while the previous one is flagged
//! `NETTXF_MORE_DATA`. The first request's own fragment is what its size leaves after the
//! others'.
//!
//! Fatal (the vif is disabled, [`Fatal`]): more than `XEN_NETIF_NR_SLOTS_MIN` data slots, a
//! fragment running past the end of its page, an extra-info slot of no known type, a packet
//! whose slots run past the requests published. Dropped and answered `NETIF_RSP_ERROR`
//! ([`Verdict::Drop`]): fragments larger than the size the first request leaves them (a packet
//! of 64 KiB or more, whose size wrapped), a frame under 14 bytes or over
//! [`MAX_FRAME`](crate::net::MAX_FRAME) (nothing bigger was offered: no GSO). Extra-info slots
//! are answered `NETIF_RSP_NULL`; GSO and hash extras are consumed and ignored (GSO was never
//! offered, so the packet is no bigger than a frame anyway); a multicast-control extra makes
//! the request a control message, answered `NETIF_RSP_OKAY` and not sent (multicast control
//! was not offered: every multicast frame reaches the guest anyway).

use super::ring::{self, PAGE};
use crate::net::MAX_FRAME;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use guest_abi::io::netif::*;

/// Bytes of an Ethernet header: the smallest frame.
pub const ETH_HLEN: usize = 14;

/// Why a packet is dropped (answered `NETIF_RSP_ERROR`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DropWhy {
    /// A fragment is larger than what the first request's size leaves for it.
    SizeMismatch,
    /// Under an Ethernet header.
    Runt,
    /// Over the largest frame.
    Oversize,
}

/// What is to be done with a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Copy it and send it on the bridge.
    Send,
    /// Answer it `NETIF_RSP_ERROR`.
    Drop(DropWhy),
    /// A multicast-control message: answered `NETIF_RSP_OKAY`, not sent.
    Control,
}

/// A fragment: `len` bytes at `offset` of the page granted as `gref`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Piece {
    pub gref: u32,
    pub offset: u16,
    pub len: u16,
}

/// One packet as read from the ring.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Packet {
    /// Each slot it took, in ring order: `Some(id)` for a data slot (answered with the
    /// packet's status and its id), `None` for an extra-info slot (answered `NETIF_RSP_NULL`).
    pub slots: Vec<Option<u16>>,
    /// The data, in order (the first request's own fragment first).
    pub pieces: Vec<Piece>,
    /// The first request's flags (`NETTXF_CSUM_BLANK`, ...).
    pub flags: u16,
    /// The whole packet's size (the first request's `size`).
    pub size: usize,
    pub verdict: Verdict,
}

/// A protocol error for which the vif is disabled: the reason, for the notice and the
/// back end's `error` node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fatal(pub String);

/// Reads the packet whose first request is at `cons` of the TX ring copy `page`, the front
/// end having published requests up to `prod` (`prod - cons` already checked to be at most a
/// ring).
pub fn gather(page: &[u8], cons: u32, prod: u32) -> Result<Packet, Fatal> {
    let first = ring::tx_request(page, cons);
    let mut slots = alloc::vec![Some(first.id)];
    let mut idx = cons.wrapping_add(1);
    let mut control = false;
    if first.flags & NETTXF_EXTRA_INFO != 0 {
        loop {
            if idx == prod {
                return Err(Fatal(String::from(
                    "a packet's extra-info slot is missing (past the published requests)",
                )));
            }
            let e = ring::tx_extra(page, idx);
            idx = idx.wrapping_add(1);
            slots.push(None);
            if e.type_ == XEN_NETIF_EXTRA_TYPE_NONE || e.type_ >= XEN_NETIF_EXTRA_TYPE_MAX {
                return Err(Fatal(format!(
                    "extra-info slot of unknown type {}",
                    e.type_
                )));
            }
            if matches!(
                e.type_,
                XEN_NETIF_EXTRA_TYPE_MCAST_ADD | XEN_NETIF_EXTRA_TYPE_MCAST_DEL
            ) {
                control = true;
            }
            if e.flags & XEN_NETIF_EXTRA_FLAG_MORE == 0 {
                break;
            }
        }
    }
    let mut pieces = Vec::new();
    let mut left = u32::from(first.size);
    let mut mismatch = false;
    let mut more = first.flags & NETTXF_MORE_DATA != 0;
    let mut data_slots = 1u32;
    while more {
        if idx == prod {
            return Err(Fatal(format!(
                "a packet's fragments run past the published requests (after {data_slots} slots)"
            )));
        }
        if data_slots >= XEN_NETIF_NR_SLOTS_MIN {
            return Err(Fatal(format!(
                "a packet of more than {XEN_NETIF_NR_SLOTS_MIN} slots"
            )));
        }
        let t = ring::tx_request(page, idx);
        idx = idx.wrapping_add(1);
        slots.push(Some(t.id));
        data_slots += 1;
        if u32::from(t.size) > left {
            mismatch = true;
        }
        left = left.saturating_sub(u32::from(t.size));
        if usize::from(t.offset) + usize::from(t.size) > PAGE {
            return Err(Fatal(format!(
                "a fragment past its page (offset {} + size {})",
                t.offset, t.size
            )));
        }
        pieces.push(Piece {
            gref: t.gref.0,
            offset: t.offset,
            len: t.size,
        });
        more = t.flags & NETTXF_MORE_DATA != 0;
    }
    // `left` is at most the first size: a u16.
    let own = left as u16;
    if usize::from(first.offset) + usize::from(own) > PAGE {
        return Err(Fatal(format!(
            "a first fragment past its page (offset {} + size {own})",
            first.offset
        )));
    }
    pieces.insert(
        0,
        Piece {
            gref: first.gref.0,
            offset: first.offset,
            len: own,
        },
    );
    let size = usize::from(first.size);
    let verdict = if mismatch {
        Verdict::Drop(DropWhy::SizeMismatch)
    } else if control {
        Verdict::Control
    } else if size < ETH_HLEN {
        Verdict::Drop(DropWhy::Runt)
    } else if size > MAX_FRAME {
        Verdict::Drop(DropWhy::Oversize)
    } else {
        Verdict::Send
    };
    Ok(Packet {
        slots,
        pieces,
        flags: first.flags,
        size,
        verdict,
    })
}
