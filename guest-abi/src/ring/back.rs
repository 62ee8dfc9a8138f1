//! The back end: consumes requests, produces responses.

use super::{need_notify, ring_geometry, RingFull, RingIdx, SharedRing};
use core::marker::PhantomData;
use core::sync::atomic::{fence, Ordering};
use zerocopy::{FromBytes, Immutable, IntoBytes};

/// Back-end view of a shared ring (`struct *_back_ring`).
pub struct BackRing<'a, Req, Rsp> {
    sring: &'a SharedRing,
    rsp_prod_pvt: RingIdx,
    req_cons: RingIdx,
    _types: PhantomData<(Req, Rsp)>,
}

impl<'a, Req, Rsp> BackRing<'a, Req, Rsp>
where
    Req: FromBytes + IntoBytes + Immutable,
    Rsp: FromBytes + IntoBytes + Immutable,
{
    const SLOT: usize = ring_geometry::<Req, Rsp>().0;
    const SIZE: usize = ring_geometry::<Req, Rsp>().1;

    /// Attaches to a ring the front end initialised, at index `start`
    /// (normally 0; `BACK_RING_ATTACH`).
    pub fn attach(sring: &'a SharedRing, start: RingIdx) -> Self {
        const { assert!(Self::SIZE > 0, "ring entry larger than the page") };
        BackRing {
            sring,
            rsp_prod_pvt: start,
            req_cons: start,
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

    /// Request consumer index.
    pub fn req_cons(&self) -> RingIdx {
        self.req_cons
    }

    /// Private response producer index.
    pub fn rsp_prod_pvt(&self) -> RingIdx {
        self.rsp_prod_pvt
    }

    /// Requests published but not consumed, bounded by the free response
    /// slots so a misbehaving front end cannot make us overrun.
    pub fn unconsumed_requests(&self) -> usize {
        let req = self
            .sring
            .req_prod
            .load(Ordering::Acquire)
            .wrapping_sub(self.req_cons) as usize;
        let rsp = Self::SIZE - self.req_cons.wrapping_sub(self.rsp_prod_pvt) as usize;
        req.min(rsp)
    }

    /// Whether a request is waiting.
    pub fn has_unconsumed_requests(&self) -> bool {
        self.unconsumed_requests() != 0
    }

    /// Consumes the next request, if any.
    pub fn take_request(&mut self) -> Option<Req> {
        if !self.has_unconsumed_requests() {
            return None;
        }
        let slot = (self.req_cons as usize & (Self::SIZE - 1)) * Self::SLOT;
        let req = self.sring.read_slot(slot);
        self.req_cons = self.req_cons.wrapping_add(1);
        Some(req)
    }

    /// Queues a response privately in the slot of a consumed request; fails if
    /// every consumed request already has its response.
    pub fn put_response(&mut self, rsp: &Rsp) -> Result<(), RingFull> {
        if self.rsp_prod_pvt == self.req_cons {
            return Err(RingFull);
        }
        let slot = (self.rsp_prod_pvt as usize & (Self::SIZE - 1)) * Self::SLOT;
        self.sring.write_slot(slot, rsp);
        self.rsp_prod_pvt = self.rsp_prod_pvt.wrapping_add(1);
        Ok(())
    }

    /// Publishes queued responses; returns whether the front end must be
    /// notified (`RING_PUSH_RESPONSES_AND_CHECK_NOTIFY`).
    pub fn push_responses(&mut self) -> bool {
        let old = self.sring.rsp_prod.load(Ordering::Relaxed);
        let new = self.rsp_prod_pvt;
        self.sring.rsp_prod.store(new, Ordering::Release);
        fence(Ordering::SeqCst);
        need_notify(old, new, self.sring.rsp_event.load(Ordering::Relaxed))
    }

    /// `RING_FINAL_CHECK_FOR_REQUESTS`: if no request is waiting, asks to be
    /// notified of the next one, then checks again. Returns whether work is
    /// pending.
    pub fn final_check_for_requests(&mut self) -> bool {
        if self.has_unconsumed_requests() {
            return true;
        }
        self.sring
            .req_event
            .store(self.req_cons.wrapping_add(1), Ordering::Relaxed);
        fence(Ordering::SeqCst);
        self.has_unconsumed_requests()
    }
}
