//! The front end of a block ring of 2^order contiguous pages (Xen's `DEFINE_RING_TYPES`
//! macros for a ring larger than a page): the 64-byte header (`req_prod`, `req_event`,
//! `rsp_prod`, `rsp_event`) at the start of the first page, then [`ring_slots`] slots of 112
//! bytes, slot `i` at `64 + (i mod slots) * 112`, straddling page boundaries where they fall.
//!
//! The ring is seen as a slice of `AtomicU32` (every field and slot is 4-byte aligned), so
//! the back end, another domain, may change it under us without undefined behaviour; this
//! module is safe code and host-tested against a back end written in the tests.

use super::geometry::{ring_slots, slot_offset, PAGE_SIZE, SLOT};
use core::sync::atomic::{fence, AtomicU32, Ordering};
use guest_abi::io::blkif::BlkifResponse;
use zerocopy::{FromZeros, IntoBytes};

/// Word offsets of the header's indices.
const REQ_PROD: usize = 0;
const REQ_EVENT: usize = 1;
const RSP_PROD: usize = 2;
const RSP_EVENT: usize = 3;

/// No free slot for a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RingFull;

/// The back end published more responses than we have requests outstanding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Overrun {
    /// Its response producer index.
    pub rsp_prod: u32,
    /// Our response consumer index.
    pub rsp_cons: u32,
    /// Our request producer index.
    pub req_prod: u32,
}

/// Our end of the ring.
pub struct FrontRing<'a> {
    mem: &'a [AtomicU32],
    slots: usize,
    req_prod_pvt: u32,
    rsp_cons: u32,
}

impl<'a> FrontRing<'a> {
    /// Initialises the ring in `mem` (2^order pages: `SHARED_RING_INIT`, producers 0, events
    /// 1, slots zeroed) and attaches to it.
    pub fn init(mem: &'a [AtomicU32]) -> FrontRing<'a> {
        let pages = mem.len() * 4 / PAGE_SIZE;
        assert!(
            pages.is_power_of_two() && mem.len() * 4 == pages * PAGE_SIZE,
            "a ring is 2^order whole pages"
        );
        for w in mem {
            w.store(0, Ordering::Relaxed);
        }
        mem[REQ_EVENT].store(1, Ordering::Relaxed);
        mem[RSP_EVENT].store(1, Ordering::Release);
        FrontRing {
            mem,
            slots: ring_slots(pages),
            req_prod_pvt: 0,
            rsp_cons: 0,
        }
    }

    /// Slots in the ring.
    pub fn slots(&self) -> usize {
        self.slots
    }

    /// Requests queued (published or not) whose responses we have not consumed.
    pub fn outstanding(&self) -> usize {
        self.req_prod_pvt.wrapping_sub(self.rsp_cons) as usize
    }

    /// Slots free for new requests.
    pub fn free(&self) -> usize {
        self.slots.saturating_sub(self.outstanding())
    }

    /// Queues a request (its bytes, at most a slot; the rest of the slot is zeroed); it
    /// becomes visible to the back end at the next [`push`](Self::push).
    pub fn put(&mut self, req: &[u8]) -> Result<(), RingFull> {
        assert!(
            req.len() <= SLOT && req.len().is_multiple_of(4),
            "a request fills part of a slot"
        );
        if self.free() == 0 {
            return Err(RingFull);
        }
        let base = slot_offset(self.req_prod_pvt, self.slots) / 4;
        for w in 0..SLOT / 4 {
            let v = req
                .get(w * 4..w * 4 + 4)
                .map_or(0, |b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
            self.mem[base + w].store(v, Ordering::Relaxed);
        }
        self.req_prod_pvt = self.req_prod_pvt.wrapping_add(1);
        Ok(())
    }

    /// Publishes the queued requests; whether the back end must be notified
    /// (`RING_PUSH_REQUESTS_AND_CHECK_NOTIFY`: its `req_event` lies in (old, new]).
    pub fn push(&mut self) -> bool {
        let old = self.mem[REQ_PROD].load(Ordering::Relaxed);
        let new = self.req_prod_pvt;
        // Release: the slots are visible before the index that covers them.
        self.mem[REQ_PROD].store(new, Ordering::Release);
        // Full barrier: the index is visible before we read the back end's event index.
        fence(Ordering::SeqCst);
        let event = self.mem[REQ_EVENT].load(Ordering::Relaxed);
        new.wrapping_sub(event) < new.wrapping_sub(old)
    }

    /// Responses published and not yet consumed; an [`Overrun`] if the back end claims more
    /// than we have requests outstanding.
    pub fn unconsumed(&self) -> Result<usize, Overrun> {
        let prod = self.mem[RSP_PROD].load(Ordering::Acquire);
        let n = prod.wrapping_sub(self.rsp_cons);
        if n as usize > self.outstanding() {
            return Err(Overrun {
                rsp_prod: prod,
                rsp_cons: self.rsp_cons,
                req_prod: self.req_prod_pvt,
            });
        }
        Ok(n as usize)
    }

    /// Consumes the next response, if one is waiting (never reading past our requests).
    pub fn take(&mut self) -> Result<Option<BlkifResponse>, Overrun> {
        if self.unconsumed()? == 0 {
            return Ok(None);
        }
        let base = slot_offset(self.rsp_cons, self.slots) / 4;
        let mut rsp = BlkifResponse::new_zeroed();
        for (w, out) in rsp.as_mut_bytes().chunks_exact_mut(4).enumerate() {
            out.copy_from_slice(&self.mem[base + w].load(Ordering::Relaxed).to_le_bytes());
        }
        self.rsp_cons = self.rsp_cons.wrapping_add(1);
        Ok(Some(rsp))
    }

    /// `RING_FINAL_CHECK_FOR_RESPONSES`: asks to be notified of the next response, then
    /// looks again; whether a response (or an overrun) is waiting.
    pub fn final_check(&mut self) -> bool {
        if self.unconsumed() != Ok(0) {
            return true;
        }
        self.mem[RSP_EVENT].store(self.rsp_cons.wrapping_add(1), Ordering::Relaxed);
        fence(Ordering::SeqCst);
        self.unconsumed() != Ok(0)
    }

    /// Whether a response (or an overrun) is waiting, without consuming anything.
    pub fn pending(&self) -> bool {
        self.unconsumed() != Ok(0)
    }

    /// Hostile tests: publishes `req_prod` = our response consumer index + `ahead`, claiming
    /// requests we never queued; whether to notify.
    pub fn push_bogus(&mut self, ahead: u32) -> bool {
        self.req_prod_pvt = self.rsp_cons.wrapping_add(ahead);
        self.push()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;
    use guest_abi::io::blkif::{BlkifRequest, BLKIF_OP_READ, BLKIF_RSP_OKAY};
    use guest_abi::ring::RING_HEADER_SIZE as RING_HEADER;
    use zerocopy::FromBytes;

    fn mem(pages: usize) -> Vec<AtomicU32> {
        (0..pages * PAGE_SIZE / 4)
            .map(|_| AtomicU32::new(0xDEAD_BEEF))
            .collect()
    }

    /// A back end in the test: consumes every published request and answers each with its
    /// id and `status`, as Xen's back ends do (responses in the request slots, then
    /// `rsp_prod`; notify iff `rsp_event` in (old, new]). Returns the requests seen and
    /// whether it would notify.
    struct Back<'a> {
        mem: &'a [AtomicU32],
        slots: usize,
        req_cons: u32,
        rsp_prod: u32,
    }

    impl Back<'_> {
        fn serve(&mut self, status: i16) -> (Vec<BlkifRequest>, bool) {
            let prod = self.mem[REQ_PROD].load(Ordering::Acquire);
            let mut seen = Vec::new();
            while self.req_cons != prod {
                let base = slot_offset(self.req_cons, self.slots) / 4;
                let mut bytes = [0u8; SLOT];
                for (w, out) in bytes.chunks_exact_mut(4).enumerate() {
                    out.copy_from_slice(&self.mem[base + w].load(Ordering::Relaxed).to_le_bytes());
                }
                let req = BlkifRequest::read_from_bytes(&bytes).unwrap();
                seen.push(req);
                let rsp = BlkifResponse {
                    id: req.id,
                    operation: req.operation,
                    status,
                    ..Default::default()
                };
                let at = slot_offset(self.rsp_prod, self.slots) / 4;
                for (w, b) in rsp.as_bytes().chunks_exact(4).enumerate() {
                    let v = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
                    self.mem[at + w].store(v, Ordering::Relaxed);
                }
                self.req_cons = self.req_cons.wrapping_add(1);
                self.rsp_prod = self.rsp_prod.wrapping_add(1);
            }
            let old = self.mem[RSP_PROD].load(Ordering::Relaxed);
            self.mem[RSP_PROD].store(self.rsp_prod, Ordering::Release);
            let event = self.mem[RSP_EVENT].load(Ordering::Relaxed);
            let notify = self.rsp_prod.wrapping_sub(event) < self.rsp_prod.wrapping_sub(old);
            // RING_FINAL_CHECK_FOR_REQUESTS: wake me for the next one.
            self.mem[REQ_EVENT].store(self.req_cons.wrapping_add(1), Ordering::Relaxed);
            (seen, notify)
        }
    }

    fn req(id: u64) -> BlkifRequest {
        BlkifRequest {
            operation: BLKIF_OP_READ,
            nr_segments: 1,
            id,
            sector_number: id * 8,
            ..Default::default()
        }
    }

    #[test]
    fn init_writes_xen_s_initial_header() {
        let m = mem(2);
        let r = FrontRing::init(&m);
        assert_eq!(r.slots(), 64);
        assert_eq!(r.free(), 64);
        let words: Vec<u32> = m[..4].iter().map(|w| w.load(Ordering::Relaxed)).collect();
        assert_eq!(
            words,
            [0, 1, 0, 1],
            "req_prod, req_event, rsp_prod, rsp_event"
        );
        assert!(m.iter().skip(4).all(|w| w.load(Ordering::Relaxed) == 0));
    }

    #[test]
    fn requests_round_trip_through_every_slot_of_a_multi_page_ring() {
        for pages in [1usize, 2, 4, 16] {
            let m = mem(pages);
            let mut f = FrontRing::init(&m);
            let slots = f.slots();
            let mut b = Back {
                mem: &m,
                slots,
                req_cons: 0,
                rsp_prod: 0,
            };
            let mut next = 0u64;
            // Three times round the ring, a full ring at a time.
            for _ in 0..3 {
                for _ in 0..slots {
                    f.put(req(next).as_bytes()).unwrap();
                    next += 1;
                }
                assert_eq!(f.put(req(0).as_bytes()), Err(RingFull));
                assert!(f.push(), "the back end asked for the first request");
                let (seen, notify) = b.serve(BLKIF_RSP_OKAY);
                assert!(notify);
                assert_eq!(seen.len(), slots);
                assert!(seen
                    .iter()
                    .zip(next - slots as u64..)
                    .all(|(r, id)| *r == req(id)));
                let mut got = Vec::new();
                while let Some(r) = f.take().unwrap() {
                    got.push(r.id);
                }
                assert_eq!(
                    got,
                    (next - slots as u64..next).collect::<Vec<_>>(),
                    "{pages} pages"
                );
                assert!(!f.final_check());
            }
            // Nothing was written beyond the ring.
            let end = RING_HEADER + slots * SLOT;
            assert!(end <= pages * PAGE_SIZE);
        }
    }

    #[test]
    fn notification_follows_the_event_indices() {
        let m = mem(1);
        let mut f = FrontRing::init(&m);
        let mut b = Back {
            mem: &m,
            slots: 32,
            req_cons: 0,
            rsp_prod: 0,
        };
        f.put(req(1).as_bytes()).unwrap();
        assert!(f.push(), "req_event 1 lies in (0, 1]");
        f.put(req(2).as_bytes()).unwrap();
        assert!(
            !f.push(),
            "req_event still 1: the back end has not looked since"
        );
        let (_, notify) = b.serve(0);
        assert!(notify, "rsp_event 1 (from init) lies in (0, 2]");
        assert!(f.pending());
        f.take().unwrap();
        f.take().unwrap();
        assert!(!f.final_check(), "nothing more; rsp_event now 3");
        f.put(req(3).as_bytes()).unwrap();
        assert!(f.push(), "the back end asked for request 3 (req_event 3)");
        let (_, notify) = b.serve(0);
        assert!(notify, "we asked for response 3");
        // We have not consumed response 3 nor asked again: no notification for 4.
        f.put(req(4).as_bytes()).unwrap();
        assert!(f.push());
        let (_, notify) = b.serve(0);
        assert!(!notify, "rsp_event 3 is not in (3, 4]");
        assert_eq!(f.unconsumed(), Ok(2));
    }

    #[test]
    fn indices_wrap_at_2_pow_32() {
        let m = mem(1);
        let mut f = FrontRing::init(&m);
        let start = u32::MAX - 5;
        f.req_prod_pvt = start;
        f.rsp_cons = start;
        for w in [REQ_PROD, RSP_PROD] {
            m[w].store(start, Ordering::Relaxed);
        }
        let mut b = Back {
            mem: &m,
            slots: 32,
            req_cons: start,
            rsp_prod: start,
        };
        for id in 0..20 {
            f.put(req(id).as_bytes()).unwrap();
        }
        f.push();
        b.serve(0);
        let ids: Vec<u64> = core::iter::from_fn(|| f.take().unwrap())
            .map(|r| r.id)
            .collect();
        assert_eq!(ids, (0..20).collect::<Vec<_>>());
    }

    #[test]
    fn a_back_end_running_ahead_of_our_requests_is_refused() {
        let m = mem(1);
        let mut f = FrontRing::init(&m);
        f.put(req(1).as_bytes()).unwrap();
        f.push();
        m[RSP_PROD].store(3, Ordering::Release);
        let e = f.take().unwrap_err();
        assert_eq!((e.rsp_prod, e.rsp_cons, e.req_prod), (3, 0, 1));
        assert!(f.pending(), "an overrun is reported, not slept through");
    }

    #[test]
    fn a_short_request_zeroes_the_rest_of_its_slot() {
        let m = mem(1);
        let mut f = FrontRing::init(&m);
        f.put(&[0xAB; 64]).unwrap();
        let base = RING_HEADER / 4;
        assert!(m[base..base + 16]
            .iter()
            .all(|w| w.load(Ordering::Relaxed) == 0xABAB_ABAB));
        assert!(m[base + 16..base + SLOT / 4]
            .iter()
            .all(|w| w.load(Ordering::Relaxed) == 0));
    }

    #[test]
    fn push_bogus_claims_requests_never_queued() {
        let m = mem(1);
        let mut f = FrontRing::init(&m);
        f.push_bogus(100);
        assert_eq!(m[REQ_PROD].load(Ordering::Relaxed), 100);
        assert_eq!(f.free(), 0, "nothing more fits");
        assert_eq!(f.put(&[0; 4]), Err(RingFull));
    }
}
