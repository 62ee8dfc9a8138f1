extern crate std;

use super::*;
use crate::io::blkif::{BlkifRequest, BlkifResponse};
use crate::io::netif::{NetifTxRequest, NetifTxResponse};
use std::sync::Arc;
use std::vec::Vec;

#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
#[repr(C)]
struct Req {
    id: u64,
    val: u64,
}

#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
#[repr(C)]
struct Rsp {
    id: u64,
}

type F<'a> = FrontRing<'a, Req, Rsp>;
type B<'a> = BackRing<'a, Req, Rsp>;

#[test]
fn geometry_matches_fact_sheet() {
    assert_eq!(ring_geometry::<BlkifRequest, BlkifResponse>(), (112, 32));
    assert_eq!(
        ring_geometry::<NetifTxRequest, NetifTxResponse>(),
        (12, 256)
    );
    assert_eq!(ring_geometry::<Req, Rsp>(), (16, 128));
    assert_eq!(ring_entries(4032), 1);
    assert_eq!(ring_entries(4033), 0);
}

#[test]
fn init_sets_events() {
    let s = SharedRing::new();
    let f = F::init(&s);
    assert_eq!(s.req_event.load(Ordering::Relaxed), 1);
    assert_eq!(s.rsp_event.load(Ordering::Relaxed), 1);
    assert_eq!(f.free_requests(), 128);
}

fn roundtrip_from(start: RingIdx, rounds: u64) {
    let s = SharedRing::new();
    let mut f = F::init_at(&s, start);
    let mut b = B::attach(&s, start);
    let mut next = 0u64;
    for _ in 0..rounds {
        for _ in 0..5 {
            f.put_request(&Req {
                id: next,
                val: next * 3,
            })
            .unwrap();
            next += 1;
        }
        f.push_requests();
        while let Some(r) = b.take_request() {
            assert_eq!(r.val, r.id * 3);
            b.put_response(&Rsp { id: r.id }).unwrap();
        }
        b.push_responses();
        let mut got = 0;
        while let Some(r) = f.take_response() {
            assert_eq!(r.id, next - 5 + got);
            got += 1;
        }
        assert_eq!(got, 5);
    }
}

#[test]
fn wraps_at_2_pow_32() {
    roundtrip_from(u32::MAX - 7, 10);
    let s = SharedRing::new();
    let mut f = F::init_at(&s, u32::MAX - 2);
    for i in 0..6 {
        f.put_request(&Req { id: i, val: 0 }).unwrap();
    }
    f.push_requests();
    assert_eq!(s.req_prod.load(Ordering::Relaxed), 3); // wrapped
    let mut b = B::attach(&s, u32::MAX - 2);
    assert_eq!(b.unconsumed_requests(), 6);
    for i in 0..6 {
        assert_eq!(b.take_request().unwrap().id, i);
    }
}

#[test]
fn full_ring() {
    let s = SharedRing::new();
    let mut f = F::init_at(&s, u32::MAX - 60);
    let mut b = B::attach(&s, u32::MAX - 60);
    for i in 0..128 {
        f.put_request(&Req { id: i, val: 0 }).unwrap();
    }
    assert!(f.is_full());
    assert_eq!(f.put_request(&Req::default()), Err(RingFull));
    f.push_requests();
    // Consuming requests does not free slots for the front end: only
    // responses do.
    for _ in 0..10 {
        b.take_request().unwrap();
    }
    assert!(f.is_full());
    for i in 0..10 {
        b.put_response(&Rsp { id: i }).unwrap();
    }
    assert_eq!(b.put_response(&Rsp::default()), Err(RingFull));
    b.push_responses();
    assert!(f.is_full());
    for _ in 0..10 {
        f.take_response().unwrap();
    }
    assert_eq!(f.free_requests(), 10);
}

#[test]
fn notify_suppression() {
    let s = SharedRing::new();
    let mut f = F::init(&s);
    let mut b = B::attach(&s, 0);
    // req_event = 1: the first request crosses it.
    f.put_request(&Req::default()).unwrap();
    assert!(f.push_requests());
    // The back end has not asked again: no notification for more.
    f.put_request(&Req::default()).unwrap();
    assert!(!f.push_requests());
    f.put_request(&Req::default()).unwrap();
    f.put_request(&Req::default()).unwrap();
    assert!(!f.push_requests());
    // Nothing pushed: no notification.
    assert!(!f.push_requests());
    // The back end drains, then its final check re-arms the event.
    while b.take_request().is_some() {}
    assert!(!b.final_check_for_requests());
    assert_eq!(s.req_event.load(Ordering::Relaxed), 5);
    f.put_request(&Req::default()).unwrap();
    f.put_request(&Req::default()).unwrap();
    assert!(f.push_requests());
    // Responses: rsp_event = 1, so the first response push notifies.
    assert!(b.put_response(&Rsp::default()).is_ok());
    assert!(b.push_responses());
    assert!(b.put_response(&Rsp::default()).is_ok());
    assert!(!b.push_responses());
}

#[test]
fn final_check() {
    let s = SharedRing::new();
    let mut f = F::init(&s);
    let mut b = B::attach(&s, 0);
    // Work already waiting: the check reports it without touching the event.
    f.put_request(&Req::default()).unwrap();
    f.push_requests();
    assert!(b.final_check_for_requests());
    assert_eq!(s.req_event.load(Ordering::Relaxed), 1);
    b.take_request().unwrap();
    // Empty: the event is re-armed at cons + 1 and nothing is pending.
    assert!(!b.final_check_for_requests());
    assert_eq!(s.req_event.load(Ordering::Relaxed), 2);
    // A request published after the re-arm notifies.
    f.put_request(&Req::default()).unwrap();
    assert!(f.push_requests());
    // The race the final check exists for: a request lands between "found
    // empty" and "re-armed" -- the front end saw the old event and did not
    // notify, so the recheck must find it.
    b.take_request().unwrap();
    assert!(!b.has_unconsumed_requests());
    f.put_request(&Req::default()).unwrap();
    s.req_event.store(0, Ordering::Relaxed); // stale event: no notification
    assert!(!f.push_requests());
    assert!(b.final_check_for_requests());
    // Front-end side.
    b.take_request().unwrap();
    b.take_request().ok_or(()).unwrap_err();
    assert!(!f.final_check_for_responses());
    assert_eq!(s.rsp_event.load(Ordering::Relaxed), 1);
    b.put_response(&Rsp { id: 9 }).unwrap();
    assert!(b.push_responses());
    assert!(f.final_check_for_responses());
    assert_eq!(f.take_response(), Some(Rsp { id: 9 }));
}

#[test]
fn malicious_back_end_cannot_overrun() {
    let s = SharedRing::new();
    let mut f = F::init(&s);
    s.rsp_prod.store(50, Ordering::Release);
    assert_eq!(f.take_response(), None);
    let b = B::attach(&s, 0);
    s.req_prod.store(1000, Ordering::Release);
    assert_eq!(b.unconsumed_requests(), 128);
}

#[test]
fn two_threads_through_shared_page() {
    const N: u64 = 100_000;
    let page = Arc::new(SharedRing::new());
    // Start near the wrap point so the run crosses 2^32.
    let start = u32::MAX - 1000;
    page.init_at(start);
    let back_page = Arc::clone(&page);
    let back = std::thread::spawn(move || {
        let mut b = B::attach(&back_page, start);
        let mut served = 0u64;
        while served < N {
            while let Some(r) = b.take_request() {
                assert_eq!(r.val, !r.id);
                while b.put_response(&Rsp { id: r.id }).is_err() {}
                served += 1;
            }
            b.push_responses();
            if !b.final_check_for_requests() {
                std::thread::yield_now();
            }
        }
    });
    let mut f = F::attach(&page, start);
    let (mut sent, mut got) = (0u64, Vec::new());
    while (got.len() as u64) < N {
        while sent < N
            && f.put_request(&Req {
                id: sent,
                val: !sent,
            })
            .is_ok()
        {
            sent += 1;
        }
        f.push_requests();
        while let Some(r) = f.take_response() {
            got.push(r.id);
        }
        if !f.final_check_for_responses() {
            std::thread::yield_now();
        }
    }
    back.join().unwrap();
    assert!(got.iter().enumerate().all(|(i, &id)| id == i as u64));
}
