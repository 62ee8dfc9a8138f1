//! The bookkeeping of netfront's two rings (pure, host-tested against a back end written in
//! the tests): which buffer page each request names, which are in flight, and reassembling
//! received frames from their responses. The buffers' memory is the caller's: a transmit
//! is queued after the caller filled its page, a receive hands each fragment's page, offset
//! and size to a `copy` closure.
//!
//! - Transmit: one request per frame (one slot: frames are at most a page), `gref` of the
//!   buffer page, `offset`, `size`, flags 0, `id` = the buffer's index; the response (by id)
//!   frees the buffer. `NETIF_RSP_NULL` answers an extra-info slot and frees nothing.
//! - Receive: every free buffer is posted (`id` = its index, `gref` of its page) while the
//!   ring has room. The back end answers requests in ring order (Linux netback does; a
//!   response slot says nothing else about which buffer an extra-info slot used), so the
//!   buffer of each response is the one posted at its index; a response naming another id
//!   is counted. `NETRXF_MORE_DATA` chains fragments into one frame, `NETRXF_EXTRA_INFO`
//!   says extra-info slots follow (skipped: we ask for no GSO), a negative status drops the
//!   frame.

use alloc::collections::VecDeque;
use alloc::vec::Vec;
use guest_abi::io::netif::*;
use guest_abi::ring::{FrontRing, RingFull, SharedRing};
use guest_abi::types::GrantRef;

/// A page.
pub const PAGE_SIZE: usize = 4096;
/// The largest frame we assemble from fragments (a netif packet's size is a u16).
pub const MAX_ASSEMBLED: usize = XEN_NETIF_MAX_TX_SIZE as usize;
/// `XEN_NETIF_EXTRA_FLAG_MORE`: another extra-info slot follows.
const EXTRA_FLAG_MORE: u8 = 1;

/// Transmit counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TxStats {
    /// Requests queued.
    pub queued: u64,
    /// Responses `NETIF_RSP_OKAY`.
    pub okay: u64,
    /// Responses `NETIF_RSP_ERROR`.
    pub error: u64,
    /// Responses `NETIF_RSP_DROPPED`.
    pub dropped: u64,
    /// Responses `NETIF_RSP_NULL` (extra-info slots).
    pub null: u64,
    /// Responses with an id not in flight, or another status.
    pub bogus: u64,
}

/// Our end of the transmit ring.
pub struct TxRing<'a> {
    ring: FrontRing<'a, NetifTxRequest, NetifTxResponse>,
    grefs: Vec<GrantRef>,
    free: Vec<u16>,
    busy: Vec<bool>,
    /// Counters.
    pub stats: TxStats,
}

impl<'a> TxRing<'a> {
    /// Initialises the shared ring and attaches, with one buffer per grant in `grefs`.
    pub fn new(sring: &'a SharedRing, grefs: Vec<GrantRef>) -> TxRing<'a> {
        assert!(grefs.len() <= usize::from(u16::MAX), "ids are u16");
        let n = grefs.len();
        TxRing {
            ring: FrontRing::init(sring),
            free: (0..n as u16).rev().collect(),
            busy: alloc::vec![false; n],
            grefs,
            stats: TxStats::default(),
        }
    }

    /// Ring slots.
    #[cfg(test)]
    pub fn slots(&self) -> usize {
        self.ring.size()
    }

    /// Whether a frame can be queued now (a free buffer and a free slot).
    pub fn can_send(&self) -> bool {
        !self.free.is_empty() && !self.ring.is_full()
    }

    /// Requests in flight (queued or published, not answered).
    #[cfg(test)]
    pub fn in_flight(&self) -> usize {
        self.busy.iter().filter(|&&b| b).count()
    }

    /// Takes a free buffer for the caller to fill (then [`send`](Self::send) or
    /// [`queue_raw`](Self::queue_raw) it).
    pub fn alloc(&mut self) -> Option<u16> {
        if self.ring.is_full() {
            return None;
        }
        let id = self.free.pop()?;
        self.busy[usize::from(id)] = true;
        Some(id)
    }

    /// The grant of buffer `id`.
    pub fn gref(&self, id: u16) -> GrantRef {
        self.grefs[usize::from(id)]
    }

    /// Queues the frame the caller put at `offset` in buffer `id` (from
    /// [`alloc`](Self::alloc)), `size` bytes, flags 0.
    pub fn send(&mut self, id: u16, offset: u16, size: u16) -> Result<(), RingFull> {
        let req = NetifTxRequest {
            gref: self.gref(id),
            offset,
            flags: 0,
            id,
            size,
        };
        self.queue_raw(&req)
    }

    /// Queues `req` as it is (the hostile tests' malformed requests); its id should be a
    /// buffer from [`alloc`](Self::alloc), whose answer then frees it.
    pub fn queue_raw(&mut self, req: &NetifTxRequest) -> Result<(), RingFull> {
        self.ring.put_request(req)?;
        self.stats.queued += 1;
        Ok(())
    }

    /// Publishes the queued requests; whether to notify the back end
    /// (`RING_PUSH_REQUESTS_AND_CHECK_NOTIFY`).
    pub fn push(&mut self) -> bool {
        self.ring.push_requests()
    }

    /// Takes every response waiting, freeing the buffers answered; calls `seen` with each.
    /// Returns how many were taken.
    pub fn reap(&mut self, mut seen: impl FnMut(&NetifTxResponse)) -> usize {
        let mut n = 0;
        while let Some(rsp) = self.ring.take_response() {
            n += 1;
            seen(&rsp);
            if rsp.status == NETIF_RSP_NULL {
                self.stats.null += 1;
                continue;
            }
            match rsp.status {
                NETIF_RSP_OKAY => self.stats.okay += 1,
                NETIF_RSP_ERROR => self.stats.error += 1,
                NETIF_RSP_DROPPED => self.stats.dropped += 1,
                _ => self.stats.bogus += 1,
            }
            match self.busy.get_mut(usize::from(rsp.id)) {
                Some(b) if *b => {
                    *b = false;
                    self.free.push(rsp.id);
                }
                _ => self.stats.bogus += 1,
            }
        }
        n
    }

    /// Whether a response waits.
    pub fn pending(&self) -> bool {
        self.ring.has_unconsumed_responses()
    }

    /// `RING_FINAL_CHECK_FOR_RESPONSES`: whether a response waits, having asked to be
    /// notified of the next one if none does.
    pub fn final_check(&mut self) -> bool {
        self.ring.final_check_for_responses()
    }
}

/// Receive counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RxStats {
    /// Frames assembled.
    pub frames: u64,
    /// Responses with a negative status (their frame dropped).
    pub errors: u64,
    /// Fragments past the end of their page, or frames over [`MAX_ASSEMBLED`] (dropped).
    pub malformed: u64,
    /// Extra-info slots skipped.
    pub extras: u64,
    /// Responses naming another id than the buffer posted at their index.
    pub wrong_ids: u64,
}

/// Our end of the receive ring.
pub struct RxRing<'a> {
    ring: FrontRing<'a, NetifRxRequest, NetifRxResponse>,
    grefs: Vec<GrantRef>,
    free: Vec<u16>,
    posted: VecDeque<u16>,
    frame: Vec<u8>,
    bad_frame: bool,
    extras: bool,
    /// Counters.
    pub stats: RxStats,
}

impl<'a> RxRing<'a> {
    /// Initialises the shared ring and attaches, with one buffer per grant in `grefs` (none
    /// posted yet: [`refill`](Self::refill)).
    pub fn new(sring: &'a SharedRing, grefs: Vec<GrantRef>) -> RxRing<'a> {
        assert!(grefs.len() <= usize::from(u16::MAX), "ids are u16");
        RxRing {
            ring: FrontRing::init(sring),
            free: (0..grefs.len() as u16).rev().collect(),
            posted: VecDeque::new(),
            grefs,
            frame: Vec::new(),
            bad_frame: false,
            extras: false,
            stats: RxStats::default(),
        }
    }

    /// Buffers posted to the back end.
    #[cfg(test)]
    pub fn posted(&self) -> usize {
        self.posted.len()
    }

    /// Posts every free buffer the ring has room for and publishes them; whether to notify
    /// the back end.
    pub fn refill(&mut self) -> bool {
        let mut any = false;
        while !self.ring.is_full() {
            let Some(id) = self.free.pop() else { break };
            let req = NetifRxRequest {
                id,
                pad: 0,
                gref: self.grefs[usize::from(id)],
            };
            // Room was checked above.
            if self.ring.put_request(&req).is_err() {
                self.free.push(id);
                break;
            }
            self.posted.push_back(id);
            any = true;
        }
        any && self.ring.push_requests()
    }

    /// Whether a response waits.
    pub fn pending(&self) -> bool {
        self.ring.has_unconsumed_responses()
    }

    /// `RING_FINAL_CHECK_FOR_RESPONSES`.
    pub fn final_check(&mut self) -> bool {
        self.ring.final_check_for_responses()
    }

    /// The next whole frame received, if its last fragment has arrived; `copy(id, offset,
    /// len, out)` appends `len` bytes at `offset` of buffer `id` to `out`. Every buffer
    /// answered is free again (post it with [`refill`](Self::refill)).
    pub fn next_frame(
        &mut self,
        mut copy: impl FnMut(u16, usize, usize, &mut Vec<u8>),
    ) -> Option<Vec<u8>> {
        while let Some(rsp) = self.ring.take_response() {
            // Responses never outrun our requests (FrontRing checks), so one was posted.
            let Some(buf) = self.posted.pop_front() else {
                continue;
            };
            self.free.push(buf);
            if self.extras {
                // An extra-info slot (type, flags, ...): the id's high byte is its flags.
                self.stats.extras += 1;
                self.extras = (rsp.id >> 8) as u8 & EXTRA_FLAG_MORE != 0;
                continue;
            }
            if rsp.id != buf {
                self.stats.wrong_ids += 1;
            }
            if rsp.status < 0 {
                self.stats.errors += 1;
                self.bad_frame = true;
            } else {
                let (off, len) = (usize::from(rsp.offset), rsp.status as usize);
                if off + len > PAGE_SIZE || self.frame.len() + len > MAX_ASSEMBLED {
                    self.stats.malformed += 1;
                    self.bad_frame = true;
                } else if !self.bad_frame {
                    copy(buf, off, len, &mut self.frame);
                }
            }
            self.extras = rsp.flags & NETRXF_EXTRA_INFO != 0;
            if rsp.flags & NETRXF_MORE_DATA != 0 {
                continue;
            }
            let frame = core::mem::take(&mut self.frame);
            if core::mem::take(&mut self.bad_frame) {
                continue;
            }
            self.stats.frames += 1;
            return Some(frame);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::boxed::Box;
    use alloc::vec;
    use guest_abi::ring::BackRing;

    fn sring() -> Box<SharedRing> {
        Box::new(SharedRing::new())
    }

    fn grefs(n: u32) -> Vec<GrantRef> {
        (100..100 + n).map(GrantRef).collect()
    }

    #[test]
    fn tx_frames_go_out_one_slot_each_and_their_answers_free_the_buffers() {
        let s = sring();
        let mut tx = TxRing::new(&s, grefs(4));
        assert_eq!(tx.slots(), 256);
        let mut back: BackRing<NetifTxRequest, NetifTxResponse> = BackRing::attach(&s, 0);
        let mut ids = Vec::new();
        for i in 0..4u16 {
            let id = tx.alloc().unwrap();
            tx.send(id, 0, 60 + i).unwrap();
            ids.push(id);
        }
        assert!(!tx.can_send(), "4 buffers, all in flight");
        assert_eq!(tx.alloc(), None);
        assert!(tx.push(), "the back end's req_event is 1");
        assert_eq!(tx.in_flight(), 4);
        let mut seen = Vec::new();
        while let Some(r) = back.take_request() {
            assert_eq!(r.gref, tx.gref(r.id));
            assert_eq!((r.offset, r.flags), (0, 0));
            seen.push((r.id, r.size));
        }
        assert_eq!(seen.len(), 4);
        assert_eq!(seen[2].1, 62);
        for (i, &(id, _)) in seen.iter().enumerate() {
            let status = [
                NETIF_RSP_OKAY,
                NETIF_RSP_ERROR,
                NETIF_RSP_DROPPED,
                NETIF_RSP_OKAY,
            ][i];
            back.put_response(&NetifTxResponse { id, status }).unwrap();
        }
        assert!(back.push_responses(), "rsp_event 1 from init");
        assert_eq!(tx.reap(|_| {}), 4);
        assert_eq!(tx.in_flight(), 0);
        assert_eq!(
            (
                tx.stats.okay,
                tx.stats.error,
                tx.stats.dropped,
                tx.stats.queued
            ),
            (2, 1, 1, 4)
        );
        assert!(tx.can_send());
        assert!(!tx.final_check());
    }

    #[test]
    fn tx_null_and_unknown_answers_free_nothing() {
        let s = sring();
        let mut tx = TxRing::new(&s, grefs(2));
        let mut back: BackRing<NetifTxRequest, NetifTxResponse> = BackRing::attach(&s, 0);
        let id = tx.alloc().unwrap();
        tx.queue_raw(&NetifTxRequest {
            id,
            flags: NETTXF_EXTRA_INFO,
            ..Default::default()
        })
        .unwrap();
        tx.queue_raw(&NetifTxRequest::default()).unwrap();
        tx.push();
        while back.take_request().is_some() {}
        back.put_response(&NetifTxResponse { id, status: 0 })
            .unwrap();
        back.put_response(&NetifTxResponse {
            id: 0xFFFF,
            status: NETIF_RSP_NULL,
        })
        .unwrap();
        back.push_responses();
        tx.reap(|_| {});
        assert_eq!((tx.stats.okay, tx.stats.null, tx.stats.bogus), (1, 1, 0));
        assert_eq!(tx.in_flight(), 0);
        // An answer to an id not in flight is counted, not freed twice.
        let id2 = tx.alloc().unwrap();
        tx.send(id2, 0, 60).unwrap();
        tx.push();
        back.take_request();
        back.put_response(&NetifTxResponse { id: 1, status: 0 })
            .unwrap();
        back.push_responses();
        tx.reap(|_| {});
        assert_eq!(tx.stats.bogus, if id2 == 1 { 0 } else { 1 });
    }

    /// A receive back end: fills posted buffers (as `mem[id]`) with `frames`, each split
    /// into fragments of at most `frag` bytes at offset `off`.
    fn deliver(
        back: &mut BackRing<NetifRxRequest, NetifRxResponse>,
        mem: &mut [Vec<u8>],
        frames: &[Vec<u8>],
        frag: usize,
        off: usize,
    ) -> usize {
        let mut used = 0;
        for f in frames {
            let chunks: Vec<&[u8]> = f.chunks(frag).collect();
            for (i, c) in chunks.iter().enumerate() {
                let req = back.take_request().expect("a posted buffer");
                mem[usize::from(req.id)][off..off + c.len()].copy_from_slice(c);
                let more = i + 1 < chunks.len();
                back.put_response(&NetifRxResponse {
                    id: req.id,
                    offset: off as u16,
                    flags: if more { NETRXF_MORE_DATA } else { 0 },
                    status: c.len() as i16,
                })
                .unwrap();
                used += 1;
            }
        }
        back.push_responses();
        used
    }

    fn copier(mem: &[Vec<u8>]) -> impl FnMut(u16, usize, usize, &mut Vec<u8>) + '_ {
        |id, off, len, out| out.extend_from_slice(&mem[usize::from(id)][off..off + len])
    }

    #[test]
    fn rx_keeps_the_ring_filled_and_assembles_fragments() {
        let s = sring();
        let mut rx = RxRing::new(&s, grefs(8));
        assert!(rx.refill(), "first post notifies");
        assert_eq!(rx.posted(), 8);
        assert!(!rx.refill(), "nothing more to post");
        let mut back: BackRing<NetifRxRequest, NetifRxResponse> = BackRing::attach(&s, 0);
        let mut mem = vec![vec![0u8; PAGE_SIZE]; 8];
        let a: Vec<u8> = (0..1514).map(|i| i as u8).collect();
        let b = vec![7u8; 60];
        assert_eq!(
            deliver(&mut back, &mut mem, &[a.clone(), b.clone()], 600, 10),
            4
        );
        let got: Vec<Vec<u8>> = core::iter::from_fn(|| rx.next_frame(copier(&mem))).collect();
        assert_eq!(got, vec![a, b]);
        assert_eq!(rx.posted(), 4);
        // The back end has 4 requests it has not looked at: no notification needed.
        assert!(!rx.refill());
        assert_eq!(rx.posted(), 8, "answered buffers are posted again");
        // Round the ring many times.
        for round in 0..100u32 {
            let f = vec![round as u8; 100 + round as usize];
            deliver(&mut back, &mut mem, core::slice::from_ref(&f), 4096, 0);
            assert_eq!(rx.next_frame(copier(&mem)), Some(f));
            rx.refill();
        }
        assert_eq!(rx.stats.frames, 102);
        assert!(!rx.final_check());
    }

    #[test]
    fn rx_waits_for_a_frame_s_last_fragment() {
        let s = sring();
        let mut rx = RxRing::new(&s, grefs(4));
        rx.refill();
        let mut back: BackRing<NetifRxRequest, NetifRxResponse> = BackRing::attach(&s, 0);
        let mut mem = vec![vec![0u8; PAGE_SIZE]; 4];
        let req = back.take_request().unwrap();
        mem[usize::from(req.id)][..3].copy_from_slice(b"abc");
        back.put_response(&NetifRxResponse {
            id: req.id,
            offset: 0,
            flags: NETRXF_MORE_DATA,
            status: 3,
        })
        .unwrap();
        back.push_responses();
        assert_eq!(rx.next_frame(copier(&mem)), None);
        deliver(&mut back, &mut mem, &[b"def".to_vec()], 64, 0);
        assert_eq!(rx.next_frame(copier(&mem)).as_deref(), Some(&b"abcdef"[..]));
    }

    #[test]
    fn rx_drops_errors_and_bad_fragments_and_skips_extras() {
        let s = sring();
        let mut rx = RxRing::new(&s, grefs(8));
        rx.refill();
        let mut back: BackRing<NetifRxRequest, NetifRxResponse> = BackRing::attach(&s, 0);
        let mut mem = vec![vec![0u8; PAGE_SIZE]; 8];
        let answer = |back: &mut BackRing<NetifRxRequest, NetifRxResponse>,
                      id: Option<u16>,
                      offset: u16,
                      flags: u16,
                      status: i16| {
            let req = back.take_request().unwrap();
            back.put_response(&NetifRxResponse {
                id: id.unwrap_or(req.id),
                offset,
                flags,
                status,
            })
            .unwrap();
        };
        // An error.
        answer(&mut back, None, 0, 0, NETIF_RSP_ERROR);
        // A fragment past its page, then its last fragment: the frame is dropped.
        answer(&mut back, None, 4000, NETRXF_MORE_DATA, 200);
        answer(&mut back, None, 0, 0, 10);
        // A frame with two extra-info slots (the first says more follow), then a good one.
        answer(&mut back, None, 0, NETRXF_EXTRA_INFO, 5);
        answer(&mut back, Some(0x0101), 0, 0, 0);
        answer(&mut back, Some(0x0001), 0, 0, 0);
        back.push_responses();
        deliver(&mut back, &mut mem, &[vec![9u8; 5]], 64, 0);
        let frames: Vec<Vec<u8>> = core::iter::from_fn(|| rx.next_frame(copier(&mem))).collect();
        assert_eq!(frames.len(), 2, "the extras' frame and the good one");
        assert_eq!(frames[1], vec![9u8; 5]);
        assert_eq!(
            (rx.stats.errors, rx.stats.malformed, rx.stats.extras),
            (1, 1, 2)
        );
        assert_eq!(rx.stats.wrong_ids, 0);
        assert_eq!(rx.posted(), 1, "seven answered");
        rx.refill();
        assert_eq!(rx.posted(), 8);
    }
}
