//! xenstored's operations: one connection per domain (dom0's is built in), every `XS_*`
//! request, watches and their events, transactions and the per-domain quotas.
//!
//! Requests arrive as [`Msg`]s (from a ring, see [`Xenstored::service_ring`], or from dom0's
//! own tools through [`Xenstored::request`]); replies and watch events are queued on the
//! connection until its ring has room.
//!
//! Everything a domain can make xenstored hold is bounded ([`Quotas`]): its nodes and their
//! bytes, its watches, its transactions (each a read set and an overlay, never a copy of the
//! store: [`super::txn`]), and its unread output. A connection with `outstanding` replies or
//! `output_bytes` bytes unread is not served: its requests stay on its ring until it reads
//! its responses. Watch events past `watch_events` unread are dropped (and logged). Replies
//! never exceed `XENSTORE_PAYLOAD_MAX` (`E2BIG`; `XS_DIRECTORY_PART` lists big directories).
//! Allocations a request drives are fallible where they are large (values, replies, the
//! output queue), and a request is refused with `ENOMEM` when dom0's heap is short
//! ([`Xenstored::heap_free`]), so a guest's request never takes dom0 down.
//!
//! This file holds the daemon itself and its ring service loop; the rest is split by
//! concern: `conn` (a connection's state and output queue), `dispatch` (the checks every
//! request passes and one handler per `XS_*` type), `nodes`, `watches`, `transactions` and
//! `domains` (the handlers and what they maintain), `limits` (charges and quota checks) and
//! `client` (dom0's own tools' calls).

mod client;
mod conn;
mod dispatch;
mod domains;
mod limits;
mod nodes;
mod transactions;
mod watches;

pub use super::store::Quotas;
pub use client::split_list;
pub use conn::{Conn, RingInfo};
pub use limits::{DOM0_EVENTS, REQUEST_HEADROOM, TX_OVERHEAD, WATCH_OVERHEAD};
pub use watches::Watch;

use super::ring::{self, RingPage, XS_REQ, XS_RSP};
use super::store::Store;
use super::wire::{self, Msg, Parse};
use alloc::collections::{BTreeMap, VecDeque};
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use guest_abi::errno::Errno;
use guest_abi::io::xenstore::{XENSTORE_ERROR_PROTO, XENSTORE_ERROR_RINGIDX, XENSTORE_PAYLOAD_MAX};

/// Log lines kept until [`Xenstored::take_log`].
const LOG_LINES: usize = 64;

/// What one pass over a ring did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RingActivity {
    /// Request bytes consumed.
    pub consumed: usize,
    /// Response bytes produced.
    pub produced: usize,
}

impl RingActivity {
    /// The peer should be notified.
    pub fn notify(&self) -> bool {
        self.consumed > 0 || self.produced > 0
    }
}

/// The daemon.
#[derive(Debug)]
pub struct Xenstored {
    store: Store,
    conns: BTreeMap<u16, Conn>,
    next_tx: u32,
    pub quotas: Quotas,
    /// Free bytes in dom0's heap, if known: requests are refused (`ENOMEM`) below
    /// [`REQUEST_HEADROOM`].
    pub heap_free: Option<fn() -> usize>,
    log: VecDeque<String>,
}

impl Default for Xenstored {
    fn default() -> Self {
        Xenstored::new()
    }
}

/// Keeps a log line (the oldest go first).
fn log_line(log: &mut VecDeque<String>, line: String) {
    if log.len() >= LOG_LINES {
        log.pop_front();
    }
    log.push_back(line);
}

impl Xenstored {
    /// A fresh store with dom0 connected.
    pub fn new() -> Xenstored {
        let mut conns = BTreeMap::new();
        conns.insert(0, Conn::default());
        Xenstored {
            store: Store::new(),
            conns,
            next_tx: 1,
            quotas: Quotas::default(),
            heap_free: None,
            log: VecDeque::new(),
        }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn conn(&self, dom: u16) -> Option<&Conn> {
        self.conns.get(&dom)
    }

    /// Log lines since the last call (dropped events, connections not served).
    pub fn take_log(&mut self) -> Vec<String> {
        self.log.drain(..).collect()
    }

    /// Introduced domains (dom0 excluded) with their rings.
    pub fn domains(&self) -> Vec<(u16, Option<RingInfo>)> {
        self.conns
            .iter()
            .filter(|(&d, _)| d != 0)
            .map(|(&d, c)| (d, c.ring))
            .collect()
    }

    /// Handles request `m` from domain `dom` and returns the reply (watch events it caused
    /// are queued on their connections).
    pub fn handle(&mut self, dom: u16, m: &Msg) -> Msg {
        match self.op(dom, m) {
            Ok((_, payload)) if payload.len() > XENSTORE_PAYLOAD_MAX => {
                Msg::error(m.req_id, m.tx_id, Errno::E2BIG)
            }
            Ok((ty, payload)) => Msg {
                ty: ty as u32,
                req_id: m.req_id,
                tx_id: m.tx_id,
                payload,
            },
            Err(e) => Msg::error(m.req_id, m.tx_id, e),
        }
    }

    /// Serves domain `dom`'s ring page: writes queued replies and events as space allows,
    /// and takes and handles requests while the connection has little output waiting (a
    /// connection that does not read its responses has its requests left on its ring). A
    /// broken peer (impossible indices, an over-long message) gets `error` set in the page
    /// and is served no more.
    pub fn service_ring<P: RingPage + ?Sized>(&mut self, dom: u16, page: &mut P) -> RingActivity {
        let mut act = RingActivity::default();
        let q = self.quotas;
        match self.conns.get(&dom) {
            Some(c) if c.broken.is_none() => {}
            _ => return act,
        }
        if !self.flush(dom, page, &mut act) {
            return act;
        }
        loop {
            let Some(c) = self.conns.get_mut(&dom) else {
                return act;
            };
            if !c.can_take(dom, &q) {
                if !c.stalled {
                    c.stalled = true;
                    log_line(
                        &mut self.log,
                        format!(
                            "domain {dom}: not reading its responses ({} replies, {} bytes queued): its requests wait on its ring",
                            c.out_replies, c.out_bytes
                        ),
                    );
                }
                break;
            }
            match wire::parse(&c.inbuf) {
                Parse::Incomplete => {
                    let mut buf = [0u8; 1024];
                    match ring::read(page, XS_REQ, &mut buf) {
                        Ok(0) => break,
                        Ok(n) => {
                            if c.inbuf.try_reserve(n).is_err() {
                                break;
                            }
                            c.inbuf.extend_from_slice(&buf[..n]);
                            act.consumed += n;
                        }
                        Err(_) => {
                            c.broken = Some("bad request ring index");
                            page.store_u32(ring::XS_ERROR_OFFSET, XENSTORE_ERROR_RINGIDX);
                            return act;
                        }
                    }
                }
                Parse::TooLong(_) => {
                    c.broken = Some("over-long message");
                    c.inbuf = Vec::new();
                    page.store_u32(ring::XS_ERROR_OFFSET, XENSTORE_ERROR_PROTO);
                    return act;
                }
                Parse::Msg(m, used) => {
                    c.inbuf.drain(..used);
                    // The reply goes before any event the request itself caused (the
                    // first event of a new watch).
                    let at = c.outq.len();
                    let reply = self.handle(dom, &m);
                    let Some(c) = self.conns.get_mut(&dom) else {
                        return act;
                    };
                    let data = reply
                        .try_encode()
                        .or_else(|_| Msg::error(m.req_id, m.tx_id, Errno::ENOMEM).try_encode());
                    if let Ok(data) = data {
                        // Without room for even the error, the request goes unanswered.
                        let _ = c.push(data, false, Some(at));
                    }
                    if !self.flush(dom, page, &mut act) {
                        return act;
                    }
                }
            }
        }
        self.flush(dom, page, &mut act);
        act
    }

    /// Writes queued output to the ring as space allows; false if the ring is broken.
    fn flush<P: RingPage + ?Sized>(
        &mut self,
        dom: u16,
        page: &mut P,
        act: &mut RingActivity,
    ) -> bool {
        let Some(c) = self.conns.get_mut(&dom) else {
            return false;
        };
        while let Some(front) = c.outq.front() {
            match ring::write(page, XS_RSP, &front.data[c.sent..]) {
                Ok(n) => {
                    act.produced += n;
                    c.sent += n;
                    c.out_bytes -= n;
                    if c.sent < front.data.len() {
                        break;
                    }
                    if front.event {
                        c.out_events -= 1;
                    } else {
                        c.out_replies -= 1;
                    }
                    c.outq.pop_front();
                    c.sent = 0;
                }
                Err(_) => {
                    c.broken = Some("bad response ring index");
                    page.store_u32(ring::XS_ERROR_OFFSET, XENSTORE_ERROR_RINGIDX);
                    return false;
                }
            }
        }
        // An episode of unread output ends when all of it was read.
        if c.outq.is_empty() {
            c.dropping = false;
            c.stalled = false;
        }
        true
    }

    /// Whether `dom` has replies or events waiting for ring space.
    pub fn has_output(&self, dom: u16) -> bool {
        self.conns.get(&dom).is_some_and(|c| !c.outq.is_empty())
    }
}
