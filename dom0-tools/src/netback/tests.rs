//! netback against a front end modelled in memory: its granted pages, its two rings, its
//! packets and buffers, honest and hostile.

use super::credit::Credit;
use super::csum;
use super::ring::{self, PAGE};
use super::service::{Served, Vif, TX_PACKETS_PER_PASS};
use crate::config::vif::Rate;
use crate::hv::{GrantCopy, Hypervisor};
use crate::net::{Addressing, Network};
use alloc::collections::BTreeMap;
use alloc::vec;
use alloc::vec::Vec;
use guest_abi::errno::Errno;
use guest_abi::grant_table::GntStatus;
use guest_abi::io::netif::*;
use guest_abi::types::{DomId, GrantRef};
use zerocopy::{FromBytes, IntoBytes};

const FRONT: DomId = DomId(4);
const TX_RING: u32 = 1;
const RX_RING: u32 = 2;

/// A front end's granted pages (grant → page), as grant copy reaches them.
#[derive(Default)]
struct Front {
    pages: BTreeMap<u32, Vec<u8>>,
    tx_prod: u32,
    rx_prod: u32,
}

impl Front {
    fn new() -> Front {
        let mut f = Front::default();
        f.grant(TX_RING);
        f.grant(RX_RING);
        // Front ends initialise rsp_event to 1 (SHARED_RING_INIT) and want every response.
        f.set_rsp_event(TX_RING, 1);
        f.set_rsp_event(RX_RING, 1);
        f
    }
    fn grant(&mut self, gref: u32) {
        self.pages.insert(gref, vec![0u8; PAGE]);
    }
    fn page(&mut self, gref: u32) -> &mut Vec<u8> {
        self.pages.get_mut(&gref).expect("granted")
    }
    fn u32_at(&mut self, gref: u32, at: usize) -> u32 {
        ring::read_u32(self.page(gref), at)
    }
    fn set_u32(&mut self, gref: u32, at: usize, v: u32) {
        self.page(gref)[at..at + 4].copy_from_slice(&v.to_le_bytes());
    }
    fn set_rsp_event(&mut self, gref: u32, v: u32) {
        self.set_u32(gref, ring::RSP_EVENT, v);
    }
    /// Queues TX slots (requests or extras, 12 bytes each or fewer) and publishes them.
    fn push_tx(&mut self, slots: &[Vec<u8>]) {
        for s in slots {
            let at = ring::tx_slot(self.tx_prod);
            let p = self.page(TX_RING);
            p[at..at + ring::TX_SLOT].fill(0);
            p[at..at + s.len()].copy_from_slice(s);
            self.tx_prod += 1;
        }
        let prod = self.tx_prod;
        self.set_u32(TX_RING, ring::REQ_PROD, prod);
    }
    fn tx_response(&mut self, index: u32) -> NetifTxResponse {
        let at = ring::tx_slot(index);
        NetifTxResponse::read_from_bytes(&self.page(TX_RING)[at..at + 4]).unwrap()
    }
    fn post_rx(&mut self, id: u16, gref: u32) {
        self.grant(gref);
        let r = NetifRxRequest {
            id,
            pad: 0,
            gref: GrantRef(gref),
        };
        let at = ring::rx_slot(self.rx_prod);
        self.page(RX_RING)[at..at + 8].copy_from_slice(r.as_bytes());
        self.rx_prod += 1;
        let prod = self.rx_prod;
        self.set_u32(RX_RING, ring::REQ_PROD, prod);
    }
    fn rx_response(&mut self, index: u32) -> NetifRxResponse {
        let at = ring::rx_slot(index);
        NetifRxResponse::read_from_bytes(&self.page(RX_RING)[at..at + 8]).unwrap()
    }
}

impl Hypervisor for Front {
    crate::offline_hypervisor!();
    fn grant_copy(&mut self, ops: &mut [GrantCopy<'_>], status: &mut [i16]) -> Result<(), Errno> {
        for (op, st) in ops.iter_mut().zip(status.iter_mut()) {
            let (dom, gref, off, len) = op.target();
            let off = usize::from(off);
            *st = if dom != FRONT {
                GntStatus::BAD_DOMAIN.0
            } else if off + len > PAGE {
                GntStatus::BAD_COPY_ARG.0
            } else if let Some(p) = self.pages.get_mut(&gref) {
                match op {
                    GrantCopy::FromGuest { buf, .. } => buf.copy_from_slice(&p[off..off + len]),
                    GrantCopy::ToGuest { buf, .. } => p[off..off + len].copy_from_slice(buf),
                }
                GntStatus::OKAY.0
            } else {
                GntStatus::BAD_GNTREF.0
            };
        }
        Ok(())
    }
}

fn req(gref: u32, offset: u16, flags: u16, id: u16, size: u16) -> Vec<u8> {
    NetifTxRequest {
        gref: GrantRef(gref),
        offset,
        flags,
        id,
        size,
    }
    .as_bytes()
    .to_vec()
}

fn extra(type_: u8, flags: u8) -> Vec<u8> {
    NetifExtraInfo {
        type_,
        flags,
        u: [0x40, 0x05, XEN_NETIF_GSO_TYPE_TCPV4, 0, 0, 0],
    }
    .as_bytes()
    .to_vec()
}

/// A frame of `len` bytes: Ethernet to/from made-up addresses, then a byte pattern.
fn frame(len: usize, seed: u8) -> Vec<u8> {
    let mut f: Vec<u8> = (0..len).map(|i| (i as u8).wrapping_mul(7) ^ seed).collect();
    f[..6].copy_from_slice(&[0x00, 0x16, 0x3e, 0, 0, 9]);
    f[6..12].copy_from_slice(&[0x00, 0x16, 0x3e, 0, 0, 4]);
    f
}

/// Puts `data` into a fresh granted page `gref` at `offset`.
fn put(f: &mut Front, gref: u32, offset: usize, data: &[u8]) {
    f.grant(gref);
    f.page(gref)[offset..offset + data.len()].copy_from_slice(data);
}

fn vif() -> Vif {
    Vif::new(FRONT, TX_RING, RX_RING, None)
}

fn tx(v: &mut Vif, f: &mut Front, sent: &mut Vec<Vec<u8>>) -> Result<Served, super::tx::Fatal> {
    v.serve_tx(f, Some(0), &mut |fr| {
        sent.push(fr);
        true
    })
}

#[test]
fn single_and_multi_slot_packets_reach_the_bridge_and_every_slot_is_answered() {
    let mut f = Front::new();
    let mut v = vif();
    let mut sent = Vec::new();
    let one = frame(60, 1);
    put(&mut f, 10, 100, &one);
    f.push_tx(&[req(10, 100, 0, 7, 60)]);
    let s = tx(&mut v, &mut f, &mut sent).unwrap();
    assert!(s.notify && !s.more, "{s:?}");
    assert_eq!(sent, vec![one]);
    let r = f.tx_response(0);
    assert_eq!((r.id, r.status), (7, NETIF_RSP_OKAY));
    assert_eq!(f.u32_at(TX_RING, ring::RSP_PROD), 1);
    assert_eq!(
        f.u32_at(TX_RING, ring::REQ_EVENT),
        2,
        "asks for a notification at the next request"
    );
    // 1514 bytes in three slots: 1000 in the first (its size is the whole packet's), 500 at
    // the end of another page, 14 in a third.
    let big = frame(1514, 2);
    put(&mut f, 20, 96, &big[..1000]);
    put(&mut f, 21, PAGE - 500, &big[1000..1500]);
    put(&mut f, 22, 0, &big[1500..]);
    f.push_tx(&[
        req(20, 96, NETTXF_MORE_DATA, 1, 1514),
        req(21, (PAGE - 500) as u16, NETTXF_MORE_DATA, 2, 500),
        req(22, 0, 0, 3, 14),
    ]);
    tx(&mut v, &mut f, &mut sent).unwrap();
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[1], big);
    for (i, id) in [(1u32, 1u16), (2, 2), (3, 3)] {
        let r = f.tx_response(i);
        assert_eq!((r.id, r.status), (id, NETIF_RSP_OKAY));
    }
    assert_eq!(v.counters.tx_packets, 2);
    assert_eq!(v.counters.tx_bytes, 60 + 1514);
    // Eighteen slots is the most a packet may take, and is served.
    let mut slots = vec![req(30, 0, NETTXF_MORE_DATA, 100, 18 * 60)];
    put(&mut f, 30, 0, &frame(60, 3));
    for i in 1..18u16 {
        let flags = if i < 17 { NETTXF_MORE_DATA } else { 0 };
        slots.push(req(30, 0, flags, 100 + i, 60));
    }
    f.push_tx(&slots);
    tx(&mut v, &mut f, &mut sent).unwrap();
    assert_eq!(sent.len(), 3);
    assert_eq!(sent[2].len(), 18 * 60);
    assert_eq!(f.u32_at(TX_RING, ring::RSP_PROD), 4 + 18);
    assert_eq!(v.counters.tx_errors, 0);
}

#[test]
fn notifications_only_when_rsp_event_asks() {
    let mut f = Front::new();
    let mut v = vif();
    let mut sent = Vec::new();
    put(&mut f, 10, 0, &frame(60, 1));
    f.push_tx(&[req(10, 0, 0, 1, 60)]);
    assert!(tx(&mut v, &mut f, &mut sent).unwrap().notify);
    // The front end has not consumed, nor asked again: rsp_event stays at 1.
    f.push_tx(&[req(10, 0, 0, 2, 60)]);
    let s = tx(&mut v, &mut f, &mut sent).unwrap();
    assert!(!s.notify, "rsp_event 1 is behind: no notification");
    // It asks for the response after the next one.
    f.set_rsp_event(TX_RING, 4);
    f.push_tx(&[req(10, 0, 0, 3, 60)]);
    assert!(!tx(&mut v, &mut f, &mut sent).unwrap().notify, "3 < 4");
    f.push_tx(&[req(10, 0, 0, 4, 60)]);
    assert!(tx(&mut v, &mut f, &mut sent).unwrap().notify, "4 reached");
    assert_eq!(sent.len(), 4);
    assert_eq!(v.counters.notifications, 2);
    // Nothing new: nothing published, no notification.
    assert_eq!(tx(&mut v, &mut f, &mut sent).unwrap(), Served::default());
}

/// An independent check: the one's-complement sum, one 16-bit word at a time with the carry
/// folded back each time, of the pseudo-header and segment (checksum included) is 0xffff.
fn verifies(pseudo: &[u8], seg: &[u8]) -> bool {
    let mut bytes = pseudo.to_vec();
    bytes.extend_from_slice(seg);
    if bytes.len() % 2 == 1 {
        bytes.push(0);
    }
    let mut s: u32 = 0;
    for w in bytes.chunks(2) {
        s += (u32::from(w[0]) << 8) | u32::from(w[1]);
        if s > 0xffff {
            s -= 0xffff;
        }
    }
    s == 0xffff
}

fn ipv4_frame(proto: u8, payload: usize) -> (Vec<u8>, Vec<u8>) {
    let l4 = if proto == 6 { 20 } else { 8 } + payload;
    let mut f = frame(14 + 20 + l4, 5);
    f[12..14].copy_from_slice(&[0x08, 0x00]);
    let ip = &mut f[14..34];
    ip.fill(0);
    ip[0] = 0x45;
    ip[2..4].copy_from_slice(&((20 + l4) as u16).to_be_bytes());
    ip[6] = 0x40; // DF
    ip[8] = 64;
    ip[9] = proto;
    ip[12..16].copy_from_slice(&[10, 0, 2, 15]);
    ip[16..20].copy_from_slice(&[10, 0, 2, 16]);
    if proto == 6 {
        f[34 + 12] = 0x50;
    } else {
        f[34 + 4..34 + 6].copy_from_slice(&(l4 as u16).to_be_bytes());
    }
    // Linux leaves the pseudo-header sum in the field; anything there must not matter.
    f[34 + if proto == 6 { 16 } else { 6 }] = 0xab;
    let mut pseudo = vec![10, 0, 2, 15, 10, 0, 2, 16, 0, proto];
    pseudo.extend_from_slice(&(l4 as u16).to_be_bytes());
    (f, pseudo)
}

fn ipv6_frame(proto: u8, payload: usize) -> (Vec<u8>, Vec<u8>) {
    let l4 = if proto == 6 { 20 } else { 8 } + payload;
    // A hop-by-hop options header (8 bytes) before the transport header.
    let mut f = frame(14 + 40 + 8 + l4, 6);
    f[12..14].copy_from_slice(&[0x86, 0xdd]);
    let ip = &mut f[14..54];
    ip.fill(0);
    ip[0] = 0x60;
    ip[4..6].copy_from_slice(&((8 + l4) as u16).to_be_bytes());
    ip[6] = 0; // hop-by-hop
    ip[7] = 64;
    ip[8..24].copy_from_slice(&[0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    ip[24..40].copy_from_slice(&[0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
    f[54] = proto;
    f[55] = 0;
    f[56..62].fill(0);
    if proto == 17 {
        f[62 + 4..62 + 6].copy_from_slice(&(l4 as u16).to_be_bytes());
    } else {
        f[62 + 12] = 0x50;
    }
    let mut pseudo = f[22..54].to_vec();
    pseudo.extend_from_slice(&(l4 as u32).to_be_bytes());
    pseudo.extend_from_slice(&[0, 0, 0, proto]);
    (f, pseudo)
}

#[test]
fn blank_tcp_and_udp_checksums_are_filled_for_ipv4_and_ipv6() {
    let mut f = Front::new();
    let mut v = vif();
    let mut sent = Vec::new();
    let cases = [
        (ipv4_frame(6, 100), 34, 16),
        (ipv4_frame(17, 101), 34, 6),
        (ipv6_frame(6, 333), 62, 16),
        (ipv6_frame(17, 1), 62, 6),
    ];
    for (i, ((fr, _), _, _)) in cases.iter().enumerate() {
        let g = 40 + i as u32;
        put(&mut f, g, 0, fr);
        f.push_tx(&[req(
            g,
            0,
            NETTXF_CSUM_BLANK | NETTXF_DATA_VALIDATED,
            i as u16,
            fr.len() as u16,
        )]);
    }
    tx(&mut v, &mut f, &mut sent).unwrap();
    assert_eq!(sent.len(), 4);
    for (i, ((orig, pseudo), l4, at)) in cases.iter().enumerate() {
        let out = &sent[i];
        assert!(verifies(pseudo, &out[*l4..]), "case {i}");
        assert!(
            !verifies(pseudo, &orig[*l4..]),
            "case {i} was not already right"
        );
        let field = l4 + at;
        // Only the checksum changed.
        assert_eq!(&out[..field], &orig[..field]);
        assert_eq!(&out[field + 2..], &orig[field + 2..]);
    }
    // Without CSUM_BLANK the frame goes as it is.
    let (fr, _) = ipv4_frame(17, 20);
    put(&mut f, 50, 0, &fr);
    f.push_tx(&[req(50, 0, 0, 9, fr.len() as u16)]);
    tx(&mut v, &mut f, &mut sent).unwrap();
    assert_eq!(sent[4], fr);
    // A blank checksum on something that is not TCP/UDP over IP: dropped (answered OKAY).
    put(&mut f, 51, 0, &frame(60, 0));
    f.push_tx(&[req(51, 0, NETTXF_CSUM_BLANK, 10, 60)]);
    tx(&mut v, &mut f, &mut sent).unwrap();
    assert_eq!(sent.len(), 5);
    assert_eq!(f.tx_response(5).status, NETIF_RSP_OKAY);
    assert_eq!(v.counters.tx_dropped, 1);
}

#[test]
fn checksum_filling_refuses_what_it_cannot_parse() {
    let (mut fr, _) = ipv4_frame(6, 10);
    fr[14 + 6] = 0x20; // more fragments
    assert_eq!(csum::fill(&mut fr), Err(csum::CsumError::Fragment));
    let (mut fr, _) = ipv4_frame(6, 10);
    fr[14 + 2] = 0xff; // total length past the frame
    assert_eq!(csum::fill(&mut fr), Err(csum::CsumError::Malformed));
    let (mut fr, _) = ipv4_frame(1, 10);
    assert_eq!(csum::fill(&mut fr), Err(csum::CsumError::NotTcpUdp));
    let (mut fr, _) = ipv6_frame(17, 10);
    fr[14 + 4] = 0xff;
    assert_eq!(csum::fill(&mut fr), Err(csum::CsumError::Malformed));
    let mut short = vec![0u8; 13];
    assert_eq!(csum::fill(&mut short), Err(csum::CsumError::Malformed));
    for n in 0..80 {
        let (mut fr, _) = ipv6_frame(6, 40);
        fr.truncate(n);
        let _ = csum::fill(&mut fr);
    }
}

#[test]
fn rx_frames_go_into_posted_buffers_and_wait_in_the_bridge_without_them() {
    let mut f = Front::new();
    let mut v = vif();
    let mut queue: Vec<Vec<u8>> = vec![frame(60, 1), frame(1514, 2), frame(100, 3)];
    queue.reverse();
    let mut next = || queue.pop();
    // No buffer posted: nothing delivered, one frame held, req_event set for the next post.
    let s = v.serve_rx(&mut f, &mut next).unwrap();
    assert_eq!(s, Served::default());
    assert!(v.rx_pending() && v.rx_starved);
    assert_eq!(f.u32_at(RX_RING, ring::REQ_EVENT), 1);
    f.post_rx(11, 100);
    f.post_rx(12, 101);
    let s = v.serve_rx(&mut f, &mut next).unwrap();
    assert!(s.notify && !s.more, "{s:?}");
    for (i, (id, g, len, seed)) in [(11u16, 100u32, 60usize, 1u8), (12, 101, 1514, 2)]
        .into_iter()
        .enumerate()
    {
        let r = f.rx_response(i as u32);
        assert_eq!(
            (r.id, r.offset, r.flags, r.status),
            (id, 0, 0, len as i16),
            "{i}"
        );
        assert_eq!(&f.page(g)[..len], &frame(len, seed)[..]);
    }
    assert_eq!(f.u32_at(RX_RING, ring::RSP_PROD), 2);
    assert!(v.rx_pending(), "the third frame waits for a buffer");
    assert_eq!(queue.len(), 0);
    assert_eq!(v.counters.rx_packets, 2);
    assert_eq!(v.counters.rx_bytes, 60 + 1514);
    // A posted buffer whose grant is bad: an error response, the frame is lost.
    f.post_rx(13, 102);
    f.pages.remove(&102);
    let mut none = || None;
    v.serve_rx(&mut f, &mut none).unwrap();
    assert_eq!(f.rx_response(2).status, NETIF_RSP_ERROR);
    assert_eq!(v.counters.rx_errors, 1);
    assert!(!v.rx_pending() && !v.rx_starved);
}

#[test]
fn rate_limit_holds_a_flood_to_its_credit_and_says_when_to_come_back() {
    let mut f = Front::new();
    let rate = Rate {
        bytes_per_interval: 10_000,
        interval_us: 50_000,
    };
    let mut v = Vif::new(FRONT, TX_RING, RX_RING, Some(Credit::new(rate, Some(0))));
    put(&mut f, 10, 0, &frame(1000, 1));
    let mut sent = 0u64;
    let mut now = 0u64;
    let mut passes = 0;
    // One second of a front end keeping its ring full of 1000-byte packets.
    while now < 1_000_000_000 {
        let free = 256 - (f.tx_prod - f.u32_at(TX_RING, ring::RSP_PROD));
        let slots: Vec<Vec<u8>> = (0..free).map(|i| req(10, 0, 0, i as u16, 1000)).collect();
        f.push_tx(&slots);
        let s = v
            .serve_tx(&mut f, Some(now), &mut |fr| {
                sent += fr.len() as u64;
                true
            })
            .unwrap();
        passes += 1;
        let at = s.wait_until.expect("held back by its credit");
        assert!(at > now);
        now = at;
    }
    // 20 intervals of 10 000 bytes, and the first interval's credit.
    assert!(sent <= 21 * 10_000, "{sent}");
    assert!(sent >= 19 * 10_000, "{sent}");
    assert!(
        passes <= 25,
        "{passes} passes: dom0 comes back when there is credit only"
    );
    assert_eq!(v.counters.tx_bytes, sent);
}

#[test]
fn a_pass_takes_a_bounded_number_of_packets() {
    let mut f = Front::new();
    let mut v = vif();
    put(&mut f, 10, 0, &frame(60, 1));
    let slots: Vec<Vec<u8>> = (0..200).map(|i| req(10, 0, 0, i, 60)).collect();
    f.push_tx(&slots);
    let mut sent = Vec::new();
    let s = tx(&mut v, &mut f, &mut sent).unwrap();
    assert!(s.more);
    assert_eq!(sent.len(), TX_PACKETS_PER_PASS as usize);
    while tx(&mut v, &mut f, &mut sent).unwrap().more {}
    assert_eq!(sent.len(), 200);
}

#[test]
fn lesser_faults_cost_the_packet_only() {
    let mut f = Front::new();
    let mut v = vif();
    let mut sent = Vec::new();
    put(&mut f, 10, 0, &frame(1600, 1));
    let cases: Vec<(Vec<Vec<u8>>, Vec<i16>)> = vec![
        // A grant it never made, in the second fragment.
        (
            vec![req(10, 0, NETTXF_MORE_DATA, 1, 120), req(999, 0, 0, 2, 60)],
            vec![NETIF_RSP_ERROR, NETIF_RSP_ERROR],
        ),
        // Fragments larger than the first size leaves.
        (
            vec![req(10, 0, NETTXF_MORE_DATA, 3, 100), req(10, 0, 0, 4, 101)],
            vec![NETIF_RSP_ERROR, NETIF_RSP_ERROR],
        ),
        // A runt and an oversize frame (no GSO was offered).
        (vec![req(10, 0, 0, 5, 13)], vec![NETIF_RSP_ERROR]),
        (vec![req(10, 0, 0, 6, 1515)], vec![NETIF_RSP_ERROR]),
        (
            vec![
                req(10, 0, NETTXF_MORE_DATA, 7, 3000),
                req(10, 0, 0, 8, 1500),
            ],
            vec![NETIF_RSP_ERROR, NETIF_RSP_ERROR],
        ),
        // A GSO extra (never offered): consumed, answered NULL, the packet sent.
        (
            vec![
                req(10, 0, NETTXF_EXTRA_INFO, 9, 60),
                extra(XEN_NETIF_EXTRA_TYPE_GSO, 0),
            ],
            vec![NETIF_RSP_OKAY, NETIF_RSP_NULL],
        ),
        // A bad grant with extras: ERROR for data, NULL for the extras.
        (
            vec![
                req(998, 0, NETTXF_EXTRA_INFO | NETTXF_MORE_DATA, 10, 120),
                extra(XEN_NETIF_EXTRA_TYPE_HASH, XEN_NETIF_EXTRA_FLAG_MORE),
                extra(XEN_NETIF_EXTRA_TYPE_GSO, 0),
                req(10, 0, 0, 11, 60),
            ],
            vec![
                NETIF_RSP_ERROR,
                NETIF_RSP_NULL,
                NETIF_RSP_NULL,
                NETIF_RSP_ERROR,
            ],
        ),
        // A multicast-control message: OKAY, not sent.
        (
            vec![
                req(10, 0, NETTXF_EXTRA_INFO, 12, 0),
                extra(XEN_NETIF_EXTRA_TYPE_MCAST_ADD, 0),
            ],
            vec![NETIF_RSP_OKAY, NETIF_RSP_NULL],
        ),
        // A good packet after all that.
        (vec![req(10, 0, 0, 13, 60)], vec![NETIF_RSP_OKAY]),
    ];
    let mut index = 0u32;
    for (slots, _) in &cases {
        f.push_tx(slots);
    }
    tx(&mut v, &mut f, &mut sent).unwrap();
    for (i, (slots, want)) in cases.iter().enumerate() {
        for (k, w) in want.iter().enumerate() {
            let r = f.tx_response(index);
            assert_eq!(r.status, *w, "case {i} slot {k}");
            if *w != NETIF_RSP_NULL {
                let id = NetifTxRequest::read_from_bytes(&slots[k]).unwrap().id;
                assert_eq!(r.id, id, "case {i} slot {k}");
            }
            index += 1;
        }
    }
    assert_eq!(sent.len(), 2, "the GSO-extra packet and the last one");
    assert_eq!(v.counters.tx_errors, 6);
    assert_eq!(f.u32_at(TX_RING, ring::RSP_PROD), index);
}

/// A fresh vif served `slots` after one good packet: the pass must fail with a reason
/// containing `why`, the good packet's fate aside.
fn fatal(slots: &[Vec<u8>], why: &str) {
    let mut f = Front::new();
    let mut v = vif();
    put(&mut f, 10, 0, &frame(200, 1));
    f.push_tx(slots);
    let mut sent = Vec::new();
    let e = tx(&mut v, &mut f, &mut sent).unwrap_err();
    assert!(e.0.contains(why), "{:?} does not say {why:?}", e.0);
}

#[test]
fn fatal_faults_disable_the_vif_naming_why() {
    // 19 slots.
    let mut slots = vec![req(10, 0, NETTXF_MORE_DATA, 0, 19 * 10)];
    for i in 1..19 {
        slots.push(req(10, 0, if i < 18 { NETTXF_MORE_DATA } else { 0 }, i, 10));
    }
    fatal(&slots, "more than 18 slots");
    // Past the page, in a fragment and in the first slot.
    fatal(
        &[
            req(10, 0, NETTXF_MORE_DATA, 0, 200),
            req(10, 4000, 0, 1, 100),
        ],
        "past its page",
    );
    fatal(&[req(10, 4090, 0, 0, 60)], "first fragment past its page");
    // Extras of no known type.
    fatal(
        &[req(10, 0, NETTXF_EXTRA_INFO, 0, 60), extra(0, 0)],
        "unknown type 0",
    );
    fatal(
        &[
            req(10, 0, NETTXF_EXTRA_INFO, 0, 60),
            extra(XEN_NETIF_EXTRA_TYPE_GSO, XEN_NETIF_EXTRA_FLAG_MORE),
            extra(XEN_NETIF_EXTRA_TYPE_MAX, 0),
        ],
        "unknown type 5",
    );
    // Slots promised but not published.
    fatal(&[req(10, 0, NETTXF_MORE_DATA, 0, 120)], "run past");
    fatal(&[req(10, 0, NETTXF_EXTRA_INFO, 0, 60)], "missing");
    // Impossible indices: TX and RX.
    let mut f = Front::new();
    let mut v = vif();
    f.set_u32(TX_RING, ring::REQ_PROD, 1000);
    let mut sent = Vec::new();
    let e = tx(&mut v, &mut f, &mut sent).unwrap_err();
    assert!(e.0.contains("impossible TX ring indices"), "{e:?}");
    f.set_u32(RX_RING, ring::REQ_PROD, 257);
    let mut one = Some(frame(60, 0));
    let e = v.serve_rx(&mut f, &mut || one.take()).unwrap_err();
    assert!(e.0.contains("impossible RX ring indices"), "{e:?}");
    // A ring page it no longer grants.
    f.pages.remove(&TX_RING);
    let e = tx(&mut v, &mut f, &mut sent).unwrap_err();
    assert!(e.0.contains("grant copy"), "{e:?}");
}

#[test]
fn random_rings_never_panic() {
    // A cheap generator: every slot and index from it, served repeatedly.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut rnd = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for _ in 0..300 {
        let mut f = Front::new();
        put(&mut f, 10, 0, &frame(PAGE, 1));
        let mut v = vif();
        for b in f.page(TX_RING)[64..].iter_mut() {
            *b = rnd() as u8;
        }
        // Mostly small grants and sizes, so some packets get through.
        for i in 0..256u32 {
            let at = ring::tx_slot(i);
            let p = f.page(TX_RING);
            let g = 10 + u32::from(p[at] % 2);
            p[at..at + 4].copy_from_slice(&g.to_le_bytes());
            p[at + 4] &= 0x0f;
            p[at + 6] &= 0x0f;
        }
        let prod = (rnd() % 300) as u32;
        f.set_u32(TX_RING, ring::REQ_PROD, prod);
        let mut sent = Vec::new();
        for _ in 0..3 {
            if tx(&mut v, &mut f, &mut sent).is_err() {
                break;
            }
        }
        assert!(sent.iter().all(|s| s.len() >= 14 && s.len() <= 1514));
    }
}

#[test]
fn frames_cross_the_bridge_from_one_guest_to_another() {
    let mut net = Network::new(
        Addressing::Static {
            address: [10, 0, 0, 1],
            prefix: 24,
            gateway: None,
        },
        [0x02, 0, 0, 0, 0, 1],
    );
    let a_mac = [0x00, 0x16, 0x3e, 0, 0, 4];
    let b_mac = [0x00, 0x16, 0x3e, 0, 0, 9];
    let pa = net.attach_vif("vif4.0", a_mac);
    let pb = net.attach_vif("vif9.0", b_mac);
    // Guest A (in Front `fa`) sends a frame to B (modelled as Front `fb`, another domain id
    // in reality; the same id does for the model).
    let mut fa = Front::new();
    let mut fb = Front::new();
    let mut va = vif();
    let mut vb = vif();
    let fr = frame(200, 8);
    put(&mut fa, 10, 0, &fr);
    fa.push_tx(&[req(10, 0, 0, 1, 200)]);
    va.serve_tx(&mut fa, Some(0), &mut |f| net.vif_from_guest(pa, f))
        .unwrap();
    net.poll(0);
    fb.post_rx(5, 50);
    vb.serve_rx(&mut fb, &mut || net.vif_to_guest(pb)).unwrap();
    let r = fb.rx_response(0);
    assert_eq!((r.id, r.status), (5, 200));
    assert_eq!(&fb.page(50)[..200], &fr[..]);
}
