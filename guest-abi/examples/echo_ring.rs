//! An echo device over the shared-ring types: the front end sends strings,
//! the back end returns them upper-cased. Both ends run on the host as two
//! threads sharing one ring page; a channel of wake-ups stands in for the
//! event channel, and a notification is sent only when the ring protocol
//! says one is needed.
//!
//! Run with `cargo run -p guest-abi --example echo_ring`.

use guest_abi::ring::{BackRing, FrontRing, SharedRing};
use std::sync::mpsc;
use std::sync::Arc;
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// A request: an id and up to 24 bytes of text.
#[derive(Clone, Copy, Debug, Default, FromBytes, IntoBytes, KnownLayout, Immutable)]
#[repr(C)]
struct EchoRequest {
    id: u32,
    len: u32,
    data: [u8; 24],
}

/// A response: the id and the echoed text.
#[derive(Clone, Copy, Debug, Default, FromBytes, IntoBytes, KnownLayout, Immutable)]
#[repr(C)]
struct EchoResponse {
    id: u32,
    len: u32,
    data: [u8; 24],
}

const MESSAGES: &[&str] = &["hello", "from the", "front end", "over a", "shared ring"];
const ROUNDS: usize = 200;

fn back_end(page: Arc<SharedRing>, events: mpsc::Receiver<()>, notify_front: mpsc::Sender<()>) {
    let mut ring: BackRing<EchoRequest, EchoResponse> = BackRing::attach(&page, 0);
    let mut served = 0;
    while served < MESSAGES.len() * ROUNDS {
        while let Some(req) = ring.take_request() {
            let mut rsp = EchoResponse {
                id: req.id,
                len: req.len,
                data: req.data,
            };
            rsp.data[..req.len as usize].make_ascii_uppercase();
            ring.put_response(&rsp)
                .expect("a slot per consumed request");
            served += 1;
        }
        if ring.push_responses() {
            let _ = notify_front.send(());
        }
        if !ring.final_check_for_requests() && served < MESSAGES.len() * ROUNDS {
            events.recv().expect("front end alive");
        }
    }
    println!("back end: served {served} requests");
}

fn main() {
    let page = Arc::new(SharedRing::new());
    let (to_back, back_events) = mpsc::channel();
    let (to_front, front_events) = mpsc::channel();
    let back_page = Arc::clone(&page);
    let back = std::thread::spawn(move || back_end(back_page, back_events, to_front));

    let mut ring: FrontRing<EchoRequest, EchoResponse> = FrontRing::init(&page);
    println!(
        "front end: {} slots of {} bytes",
        ring.size(),
        core::mem::size_of::<EchoRequest>()
    );
    let total = MESSAGES.len() * ROUNDS;
    let (mut sent, mut received, mut notifications) = (0, 0, 0);
    while received < total {
        while sent < total && !ring.is_full() {
            let msg = MESSAGES[sent % MESSAGES.len()].as_bytes();
            let mut req = EchoRequest {
                id: sent as u32,
                len: msg.len() as u32,
                ..Default::default()
            };
            req.data[..msg.len()].copy_from_slice(msg);
            ring.put_request(&req).expect("checked not full");
            sent += 1;
        }
        if ring.push_requests() {
            notifications += 1;
            let _ = to_back.send(());
        }
        while let Some(rsp) = ring.take_response() {
            let want = MESSAGES[rsp.id as usize % MESSAGES.len()].to_ascii_uppercase();
            let got = std::str::from_utf8(&rsp.data[..rsp.len as usize]).expect("utf-8");
            assert_eq!(got, want);
            if received < MESSAGES.len() {
                println!("front end: {} -> {}", MESSAGES[rsp.id as usize], got);
            }
            received += 1;
        }
        // Sleep only with nothing left to send and no response waiting.
        let can_send = sent < total && !ring.is_full();
        if received < total && !can_send && !ring.final_check_for_responses() {
            front_events.recv().expect("back end alive");
        }
    }
    back.join().expect("back end thread");
    println!("front end: {received} echoes, {notifications} notifications sent");
}
