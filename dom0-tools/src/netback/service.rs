//! Serving a connected vif's two rings. A TX pass takes the packets the front end published
//! ([`super::tx`]), bounded per pass, charges them to the vif's credit, grant-copies each
//! packet's fragments into one frame, fills a blank checksum ([`super::csum`]) and hands the
//! frame to the bridge; every slot is answered in ring order. An RX pass puts frames from the
//! bridge into the pages the front end posted, one slot per frame (copied to offset 0), while
//! it has both. Each pass publishes its responses, notifies the front end only when its
//! `rsp_event` asks (`RING_PUSH_RESPONSES_AND_CHECK_NOTIFY`) and, when it found the ring
//! empty, sets `req_event` for the next request and looks once more
//! (`RING_FINAL_CHECK_FOR_REQUESTS`).
//!
//! RX responses carry flags 0: netback does not know a frame's checksum is good (it came from
//! the NIC, dom0 or another guest), so the front end checks it (Linux: `CHECKSUM_NONE`).
//! `NETRXF_DATA_VALIDATED` is never claimed, nor `NETRXF_CSUM_BLANK` (a frame a guest sent
//! blank was filled in on its way in).

use super::credit::Credit;
use super::csum;
use super::ring::{self, PAGE, REQ_EVENT, REQ_PROD, RSP_EVENT, RSP_PROD, RX_ENTRIES, TX_ENTRIES};
use super::tx::{self, Fatal, Verdict};
use crate::hv::{GrantCopy, Hypervisor};
use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use guest_abi::grant_table::GntStatus;
use guest_abi::io::netif::*;
use guest_abi::ring::need_notify;
use guest_abi::types::DomId;
use zerocopy::IntoBytes;

/// TX packets taken per pass.
pub const TX_PACKETS_PER_PASS: u32 = 64;
/// RX frames delivered per pass.
pub const RX_FRAMES_PER_PASS: u32 = 64;
/// Looks at the ring per pass (a front end moving its index between our looks cannot keep
/// us here).
const ROUNDS: usize = 4;

/// What a vif's rings carried (named as the rings are: TX is what the guest sent).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    pub tx_packets: u64,
    pub tx_bytes: u64,
    /// Well-formed packets not sent: a checksum that could not be filled, the bridge's
    /// queue full.
    pub tx_dropped: u64,
    /// Packets answered `NETIF_RSP_ERROR` (bad grant, sizes, runt, oversize).
    pub tx_errors: u64,
    pub rx_packets: u64,
    pub rx_bytes: u64,
    /// Frames for the guest that could not be delivered (a bad grant in its rx request).
    pub rx_errors: u64,
    /// Event-channel notifications the passes asked for.
    pub notifications: u64,
}

/// How a pass went.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Served {
    /// Responses were published and the front end's event index asks to be told.
    pub notify: bool,
    /// Work is left for the next pass (the budget ran out).
    pub more: bool,
    /// TX waits for credit until this time.
    pub wait_until: Option<u64>,
}

/// A connected vif's back-end state.
#[derive(Debug)]
pub struct Vif {
    pub domid: DomId,
    pub tx_gref: u32,
    pub rx_gref: u32,
    pub tx_req_cons: u32,
    pub tx_rsp_prod: u32,
    pub rx_req_cons: u32,
    pub rx_rsp_prod: u32,
    /// The `rate=` limit.
    pub credit: Option<Credit>,
    /// A frame taken from the bridge for which no rx request was posted yet.
    rx_held: Option<Vec<u8>>,
    /// The last RX pass ran out of rx requests with a frame waiting: the next is worth doing
    /// only once the front end signals (it posts buffers past `req_event`).
    pub rx_starved: bool,
    pub counters: Counters,
}

/// A response to write: its byte offset in the ring page and its bytes.
type Write = (usize, Vec<u8>);

impl Vif {
    /// A vif whose front end initialised both rings (indices 0).
    pub fn new(domid: DomId, tx_gref: u32, rx_gref: u32, credit: Option<Credit>) -> Vif {
        Vif {
            domid,
            tx_gref,
            rx_gref,
            tx_req_cons: 0,
            tx_rsp_prod: 0,
            rx_req_cons: 0,
            rx_rsp_prod: 0,
            credit,
            rx_held: None,
            rx_starved: false,
            counters: Counters::default(),
        }
    }

    /// Whether a frame waits for an rx request.
    pub fn rx_pending(&self) -> bool {
        self.rx_held.is_some()
    }

    fn copy<H: Hypervisor + ?Sized>(
        &self,
        hv: &mut H,
        ops: &mut [GrantCopy<'_>],
    ) -> Result<(), String> {
        crate::hv::grant_copy_all(hv, ops, "a ring page")
    }

    /// A copy of ring page `gref`: the header first, then the slots (so no slot is older
    /// than the producer index read with it).
    fn read_page<H: Hypervisor + ?Sized>(&self, hv: &mut H, gref: u32) -> Result<Vec<u8>, String> {
        let mut page = vec![0u8; PAGE];
        {
            let (head, slots) = page.split_at_mut(ring::HEADER_BYTES);
            let mut ops = [
                GrantCopy::FromGuest {
                    domid: self.domid,
                    gref,
                    offset: 0,
                    buf: head,
                },
                GrantCopy::FromGuest {
                    domid: self.domid,
                    gref,
                    offset: ring::HEADER_BYTES as u16,
                    buf: slots,
                },
            ];
            self.copy(hv, &mut ops)?;
        }
        Ok(page)
    }

    /// Writes `writes` (responses), then the response producer `rsp_prod`, then reads the
    /// header again, in one call; returns the header read.
    fn publish<H: Hypervisor + ?Sized>(
        &self,
        hv: &mut H,
        gref: u32,
        writes: &[Write],
        rsp_prod: u32,
    ) -> Result<[u8; ring::HEADER_BYTES], String> {
        let prod = rsp_prod.to_le_bytes();
        let mut again = [0u8; ring::HEADER_BYTES];
        let mut ops: Vec<GrantCopy<'_>> = writes
            .iter()
            .map(|(at, b)| GrantCopy::ToGuest {
                domid: self.domid,
                gref,
                offset: *at as u16,
                buf: b,
            })
            .collect();
        ops.push(GrantCopy::ToGuest {
            domid: self.domid,
            gref,
            offset: RSP_PROD as u16,
            buf: &prod,
        });
        ops.push(GrantCopy::FromGuest {
            domid: self.domid,
            gref,
            offset: 0,
            buf: &mut again,
        });
        self.copy(hv, &mut ops)?;
        Ok(again)
    }

    /// Sets `req_event` to `cons + 1` and reads the producer index again; returns it.
    fn final_check<H: Hypervisor + ?Sized>(
        &self,
        hv: &mut H,
        gref: u32,
        cons: u32,
    ) -> Result<u32, String> {
        let ev = cons.wrapping_add(1).to_le_bytes();
        let mut again = [0u8; ring::HEADER_BYTES];
        let mut ops = [
            GrantCopy::ToGuest {
                domid: self.domid,
                gref,
                offset: REQ_EVENT as u16,
                buf: &ev,
            },
            GrantCopy::FromGuest {
                domid: self.domid,
                gref,
                offset: 0,
                buf: &mut again,
            },
        ];
        self.copy(hv, &mut ops)?;
        Ok(ring::read_u32(&again, REQ_PROD))
    }

    /// Serves the TX ring: packets to `deliver` (the bridge; `false`: it had no room, the
    /// frame is dropped). `Err` is fatal: the vif must be disabled, for the reason given.
    pub fn serve_tx<H: Hypervisor + ?Sized>(
        &mut self,
        hv: &mut H,
        now_ns: Option<u64>,
        deliver: &mut dyn FnMut(Vec<u8>) -> bool,
    ) -> Result<Served, Fatal> {
        let mut served = Served::default();
        let mut budget = TX_PACKETS_PER_PASS;
        for _ in 0..ROUNDS {
            let page = self.read_page(hv, self.tx_gref).map_err(Fatal)?;
            let prod = ring::read_u32(&page, REQ_PROD);
            let n = ring::unconsumed(prod, self.tx_req_cons, self.tx_rsp_prod, TX_ENTRIES)
                .ok_or_else(|| {
                    Fatal(format!(
                        "impossible TX ring indices: req_prod {prod}, ours req_cons {} \
                         rsp_prod {}",
                        self.tx_req_cons, self.tx_rsp_prod
                    ))
                })?;
            if n == 0 {
                let again = self
                    .final_check(hv, self.tx_gref, self.tx_req_cons)
                    .map_err(Fatal)?;
                if again == self.tx_req_cons {
                    break;
                }
                continue;
            }
            let mut statuses: Vec<(Option<u16>, i16)> = Vec::new();
            let mut stop = false;
            while self.tx_req_cons != prod {
                if budget == 0 {
                    served.more = true;
                    stop = true;
                    break;
                }
                let first = ring::tx_request(&page, self.tx_req_cons);
                if let Some(c) = self.credit.as_mut() {
                    if !c.take(u64::from(first.size), now_ns) {
                        served.wait_until = Some(c.next_at());
                        stop = true;
                        break;
                    }
                }
                let p = tx::gather(&page, self.tx_req_cons, prod)?;
                budget -= 1;
                self.tx_req_cons = self.tx_req_cons.wrapping_add(p.slots.len() as u32);
                let status = self.tx_packet(hv, &p, deliver);
                for slot in &p.slots {
                    statuses.push(match slot {
                        Some(id) => (Some(*id), status),
                        None => (None, NETIF_RSP_NULL),
                    });
                }
            }
            let mut writes: Vec<Write> = Vec::with_capacity(statuses.len());
            let old = self.tx_rsp_prod;
            for (id, status) in statuses {
                let r = NetifTxResponse {
                    id: id.unwrap_or(0),
                    status,
                };
                writes.push((ring::tx_slot(self.tx_rsp_prod), r.as_bytes().to_vec()));
                self.tx_rsp_prod = self.tx_rsp_prod.wrapping_add(1);
            }
            if !writes.is_empty() {
                let again = self
                    .publish(hv, self.tx_gref, &writes, self.tx_rsp_prod)
                    .map_err(Fatal)?;
                if need_notify(old, self.tx_rsp_prod, ring::read_u32(&again, RSP_EVENT)) {
                    served.notify = true;
                }
            }
            if stop {
                break;
            }
        }
        if served.notify {
            self.counters.notifications += 1;
        }
        Ok(served)
    }

    /// Copies, checks and sends one packet; its status.
    fn tx_packet<H: Hypervisor + ?Sized>(
        &mut self,
        hv: &mut H,
        p: &tx::Packet,
        deliver: &mut dyn FnMut(Vec<u8>) -> bool,
    ) -> i16 {
        match p.verdict {
            Verdict::Drop(_) => {
                self.counters.tx_errors += 1;
                return NETIF_RSP_ERROR;
            }
            Verdict::Control => return NETIF_RSP_OKAY,
            Verdict::Send => {}
        }
        let mut frame = vec![0u8; p.size];
        let ok = {
            let mut ops: Vec<GrantCopy<'_>> = Vec::with_capacity(p.pieces.len());
            let mut rest: &mut [u8] = &mut frame;
            for piece in &p.pieces {
                let (chunk, tail) = rest.split_at_mut(usize::from(piece.len));
                rest = tail;
                if !chunk.is_empty() {
                    ops.push(GrantCopy::FromGuest {
                        domid: self.domid,
                        gref: piece.gref,
                        offset: piece.offset,
                        buf: chunk,
                    });
                }
            }
            let mut st = vec![0i16; ops.len()];
            hv.grant_copy(&mut ops, &mut st).is_ok() && st.iter().all(|&s| s == GntStatus::OKAY.0)
        };
        if !ok {
            self.counters.tx_errors += 1;
            return NETIF_RSP_ERROR;
        }
        if p.flags & NETTXF_CSUM_BLANK != 0 && csum::fill(&mut frame).is_err() {
            self.counters.tx_dropped += 1;
            return NETIF_RSP_OKAY;
        }
        let len = frame.len() as u64;
        if deliver(frame) {
            self.counters.tx_packets += 1;
            self.counters.tx_bytes += len;
        } else {
            self.counters.tx_dropped += 1;
        }
        NETIF_RSP_OKAY
    }

    /// Serves the RX ring: frames from `next` (the bridge's queue for this vif) into the
    /// posted buffers. A frame is taken from `next` only when a request is there for it, but
    /// one frame may be held here between passes (taken to learn whether any waits).
    pub fn serve_rx<H: Hypervisor + ?Sized>(
        &mut self,
        hv: &mut H,
        next: &mut dyn FnMut() -> Option<Vec<u8>>,
    ) -> Result<Served, Fatal> {
        let mut served = Served::default();
        if self.rx_held.is_none() {
            self.rx_held = next();
        }
        if self.rx_held.is_none() {
            self.rx_starved = false;
            return Ok(served);
        }
        let mut budget = RX_FRAMES_PER_PASS;
        for _ in 0..ROUNDS {
            let page = self.read_page(hv, self.rx_gref).map_err(Fatal)?;
            let prod = ring::read_u32(&page, REQ_PROD);
            ring::unconsumed(prod, self.rx_req_cons, self.rx_rsp_prod, RX_ENTRIES).ok_or_else(
                || {
                    Fatal(format!(
                        "impossible RX ring indices: req_prod {prod}, ours req_cons {} \
                         rsp_prod {}",
                        self.rx_req_cons, self.rx_rsp_prod
                    ))
                },
            )?;
            if prod == self.rx_req_cons {
                let again = self
                    .final_check(hv, self.rx_gref, self.rx_req_cons)
                    .map_err(Fatal)?;
                if again == self.rx_req_cons {
                    self.rx_starved = true;
                    break;
                }
                continue;
            }
            let mut writes: Vec<Write> = Vec::new();
            let old = self.rx_rsp_prod;
            while self.rx_req_cons != prod && budget > 0 {
                let Some(frame) = self.rx_held.take().or_else(&mut *next) else {
                    break;
                };
                budget -= 1;
                let req = ring::rx_request(&page, self.rx_req_cons);
                self.rx_req_cons = self.rx_req_cons.wrapping_add(1);
                let status = self.rx_frame(hv, req.gref.0, &frame);
                let r = NetifRxResponse {
                    id: req.id,
                    offset: 0,
                    flags: 0,
                    status,
                };
                writes.push((ring::rx_slot(self.rx_rsp_prod), r.as_bytes().to_vec()));
                self.rx_rsp_prod = self.rx_rsp_prod.wrapping_add(1);
            }
            if !writes.is_empty() {
                let again = self
                    .publish(hv, self.rx_gref, &writes, self.rx_rsp_prod)
                    .map_err(Fatal)?;
                if need_notify(old, self.rx_rsp_prod, ring::read_u32(&again, RSP_EVENT)) {
                    served.notify = true;
                }
            }
            if self.rx_held.is_none() {
                self.rx_held = next();
            }
            if self.rx_held.is_none() {
                self.rx_starved = false;
                break;
            }
            if budget == 0 {
                served.more = true;
                break;
            }
        }
        if served.notify {
            self.counters.notifications += 1;
        }
        Ok(served)
    }

    /// Copies one frame into the page `gref` at offset 0; the response status.
    fn rx_frame<H: Hypervisor + ?Sized>(&mut self, hv: &mut H, gref: u32, frame: &[u8]) -> i16 {
        if frame.len() > PAGE || frame.is_empty() {
            self.counters.rx_errors += 1;
            return NETIF_RSP_ERROR;
        }
        let mut ops = [GrantCopy::ToGuest {
            domid: self.domid,
            gref,
            offset: 0,
            buf: frame,
        }];
        let mut st = [0i16];
        if hv.grant_copy(&mut ops, &mut st).is_err() || st[0] != GntStatus::OKAY.0 {
            self.counters.rx_errors += 1;
            return NETIF_RSP_ERROR;
        }
        self.counters.rx_packets += 1;
        self.counters.rx_bytes += frame.len() as u64;
        frame.len() as i16
    }
}
