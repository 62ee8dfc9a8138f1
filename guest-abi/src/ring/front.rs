//! The front end: produces requests, consumes responses.

use super::{need_notify, ring_geometry, RingFull, RingIdx, SharedRing};
use core::marker::PhantomData;
use core::sync::atomic::{fence, Ordering};
use zerocopy::{FromBytes, Immutable, IntoBytes};

/// Front-end view of a shared ring (`struct *_front_ring`).
pub struct FrontRing<'a, Req, Rsp> {
    sring: &'a SharedRing,
    req_prod_pvt: RingIdx,
    rsp_cons: RingIdx,
    _types: PhantomData<(Req, Rsp)>,
}

impl<'a, Req, Rsp> FrontRing<'a, Req, Rsp>
where
    Req: FromBytes + IntoBytes + Immutable,
    Rsp: FromBytes + IntoBytes + Immutable,
{
    const SLOT: usize = ring_geometry::<Req, Rsp>().0;
    const SIZE: usize = ring_geometry::<Req, Rsp>().1;

    /// Initialises `sring` (`SHARED_RING_INIT`) and attaches at index 0.
    pub fn init(sring: &'a SharedRing) -> Self {
        Self::init_at(sring, 0)
    }

    /// Initialises `sring` with all indices at `start` (tests use this to
    /// exercise wrap-around) and attaches.
    pub fn init_at(sring: &'a SharedRing, start: RingIdx) -> Self {
        const { assert!(Self::SIZE > 0, "ring entry larger than the page") };
        sring.init_at(start);
        Self::attach(sring, start)
    }

    /// Attaches to an already initialised ring whose indices are `start`.
    pub fn attach(sring: &'a SharedRing, start: RingIdx) -> Self {
        FrontRing {
            sring,
            req_prod_pvt: start,
            rsp_cons: start,
            _types: PhantomData,
        }
    }

    /// The shared page.
    pub fn sring(&self) -> &'a SharedRing {
        self.sring
    }

    /// Number of slots.
    pub const fn size(&self) -> usize {
        Self::SIZE
    }

    /// Private request producer index.
    pub fn req_prod_pvt(&self) -> RingIdx {
        self.req_prod_pvt
    }

    /// Response consumer index.
    pub fn rsp_cons(&self) -> RingIdx {
        self.rsp_cons
    }

    /// Slots free for new requests.
    pub fn free_requests(&self) -> usize {
        Self::SIZE - self.req_prod_pvt.wrapping_sub(self.rsp_cons) as usize
    }

    /// Whether no request can be queued.
    pub fn is_full(&self) -> bool {
        self.free_requests() == 0
    }

    /// Queues a request privately; it becomes visible at the next
    /// [`push_requests`](Self::push_requests).
    pub fn put_request(&mut self, req: &Req) -> Result<(), RingFull> {
        if self.is_full() {
            return Err(RingFull);
        }
        let slot = (self.req_prod_pvt as usize & (Self::SIZE - 1)) * Self::SLOT;
        self.sring.write_slot(slot, req);
        self.req_prod_pvt = self.req_prod_pvt.wrapping_add(1);
        Ok(())
    }

    /// Publishes queued requests; returns whether the back end must be
    /// notified (`RING_PUSH_REQUESTS_AND_CHECK_NOTIFY`).
    pub fn push_requests(&mut self) -> bool {
        let old = self.sring.req_prod.load(Ordering::Relaxed);
        let new = self.req_prod_pvt;
        // Release: the slot contents are visible before the index.
        self.sring.req_prod.store(new, Ordering::Release);
        // Full barrier: the index is visible before we read the event.
        fence(Ordering::SeqCst);
        need_notify(old, new, self.sring.req_event.load(Ordering::Relaxed))
    }

    /// Responses published but not yet consumed.
    pub fn unconsumed_responses(&self) -> usize {
        self.sring
            .rsp_prod
            .load(Ordering::Acquire)
            .wrapping_sub(self.rsp_cons) as usize
    }

    /// Whether a response is waiting.
    pub fn has_unconsumed_responses(&self) -> bool {
        self.unconsumed_responses() != 0
    }

    /// Consumes the next response, if any.
    pub fn take_response(&mut self) -> Option<Rsp> {
        let prod = self.sring.rsp_prod.load(Ordering::Acquire);
        if prod == self.rsp_cons {
            return None;
        }
        // A peer that runs ahead of our requests is broken; never read past
        // the requests we issued.
        if prod.wrapping_sub(self.rsp_cons) > self.req_prod_pvt.wrapping_sub(self.rsp_cons) {
            return None;
        }
        let slot = (self.rsp_cons as usize & (Self::SIZE - 1)) * Self::SLOT;
        let rsp = self.sring.read_slot(slot);
        self.rsp_cons = self.rsp_cons.wrapping_add(1);
        Some(rsp)
    }

    /// `RING_FINAL_CHECK_FOR_RESPONSES`: if no response is waiting, asks to be
    /// notified of the next one, then checks again. Returns whether work is
    /// pending (if `false`, the caller may sleep until notified).
    pub fn final_check_for_responses(&mut self) -> bool {
        if self.has_unconsumed_responses() {
            return true;
        }
        self.sring
            .rsp_event
            .store(self.rsp_cons.wrapping_add(1), Ordering::Relaxed);
        fence(Ordering::SeqCst);
        self.has_unconsumed_responses()
    }
}
