use super::*;
use alloc::vec;

const A: Mac = [0x52, 0x54, 0, 0, 0, 0xa];
const B: Mac = [0x52, 0x54, 0, 0, 0, 0xb];
const C: Mac = [0x52, 0x54, 0, 0, 0, 0xc];
const BCAST: Mac = [0xff; 6];
const SEC: u64 = 1_000_000_000;

/// A minimal frame from `src` to `dst` (IPv4 EtherType, 46 bytes of payload).
fn frame(dst: Mac, src: Mac) -> Vec<u8> {
    let mut f = vec![0u8; 60];
    f[0..6].copy_from_slice(&dst);
    f[6..12].copy_from_slice(&src);
    f[12..14].copy_from_slice(&[0x08, 0x00]);
    f
}

/// A bridge with three ports.
fn three() -> (Bridge, PortId, PortId, PortId) {
    let mut b = Bridge::new();
    let p0 = b.add_port("eth0");
    let p1 = b.add_port("vif1.0");
    let p2 = b.add_port("vif2.0");
    (b, p0, p1, p2)
}

#[test]
fn unknown_unicast_floods_then_learnt_address_is_unicast() {
    let (mut b, p0, p1, p2) = three();
    // B is unknown: flood to every port but the ingress.
    assert_eq!(b.forward(p0, &frame(B, A), 0), Egress::Flood(vec![p1, p2]));
    assert_eq!(b.port_of(&A, 0), Some(p0), "A learnt on its ingress port");
    // B answers from p1: A is known, so only p0 gets it; B is learnt.
    assert_eq!(b.forward(p1, &frame(A, B), SEC), Egress::Port(p0));
    assert_eq!(b.port_of(&B, SEC), Some(p1));
    // Now A to B goes to p1 only.
    assert_eq!(b.forward(p0, &frame(B, A), 2 * SEC), Egress::Port(p1));
    assert_eq!(b.counters().flooded, 1);
}

#[test]
fn broadcast_and_multicast_flood_but_never_hairpin() {
    let (mut b, p0, p1, p2) = three();
    for dst in [BCAST, [0x01, 0x00, 0x5e, 0, 0, 1], [0x33, 0x33, 0, 0, 0, 1]] {
        let e = b.forward(p1, &frame(dst, B), 0);
        assert_eq!(e, Egress::Flood(vec![p0, p2]), "{dst:02x?}");
        assert!(!e.ports().contains(&p1));
    }
    // A group destination is flooded even if some port "learnt" it (it cannot: a group
    // source is dropped).
    assert_eq!(
        b.forward(p0, &frame(A, BCAST), 0),
        Egress::Drop(DropReason::BadSource)
    );
    assert_eq!(b.port_of(&BCAST, 0), None);
}

#[test]
fn a_frame_for_an_address_on_its_own_port_is_filtered() {
    let (mut b, p0, _, _) = three();
    b.forward(p0, &frame(BCAST, A), 0);
    b.forward(p0, &frame(BCAST, B), 0);
    // A and B are both on p0: A -> B must not go back out of p0, nor anywhere else.
    assert_eq!(
        b.forward(p0, &frame(B, A), 0),
        Egress::Drop(DropReason::Filtered)
    );
    assert_eq!(b.counters().filtered, 1);
    assert_eq!(b.port_counters(p0).unwrap().rx_dropped, 1);
}

#[test]
fn a_station_that_moves_is_relearnt() {
    let (mut b, p0, p1, p2) = three();
    b.forward(p0, &frame(BCAST, A), 0);
    assert_eq!(b.port_of(&A, 0), Some(p0));
    b.forward(p2, &frame(BCAST, A), SEC);
    assert_eq!(b.port_of(&A, SEC), Some(p2));
    assert_eq!(b.forward(p1, &frame(A, B), SEC), Egress::Port(p2));
}

#[test]
fn entries_age_out_after_300_s() {
    let (mut b, p0, p1, p2) = three();
    b.forward(p0, &frame(BCAST, A), 10 * SEC);
    let fdb = b.fdb(20 * SEC);
    assert_eq!(fdb.len(), 1);
    assert_eq!(fdb[0].age_ns, 10 * SEC);
    assert!(!fdb[0].local);
    // Still there just before 300 s, gone at 300 s: unicast to it floods again.
    assert_eq!(b.forward(p1, &frame(A, B), 309 * SEC), Egress::Port(p0));
    // B was refreshed at 309 s; A last seen at 10 s.
    assert_eq!(
        b.forward(p1, &frame(A, B), 310 * SEC),
        Egress::Flood(vec![p0, p2])
    );
    assert_eq!(b.port_of(&A, 310 * SEC), None);
    assert_eq!(b.port_of(&B, 310 * SEC), Some(p1));
    // Traffic from a station refreshes its entry.
    b.forward(p1, &frame(BCAST, B), 600 * SEC);
    assert_eq!(b.port_of(&B, 899 * SEC), Some(p1));
    b.age(1000 * SEC);
    assert_eq!(b.table_len(), 0, "housekeeping forgets expired entries");
}

#[test]
fn a_clock_going_backwards_ages_nothing() {
    let (mut b, p0, _, _) = three();
    b.forward(p0, &frame(BCAST, A), 100 * SEC);
    assert_eq!(b.port_of(&A, 5 * SEC), Some(p0));
    b.age(0);
    assert_eq!(b.table_len(), 1);
}

#[test]
fn full_table_stops_learning_but_still_forwards() {
    let mut b = Bridge::with_capacity(4);
    let p0 = b.add_port("eth0");
    let p1 = b.add_port("vif1.0");
    for i in 0..4u8 {
        b.forward(p0, &frame(BCAST, [2, 0, 0, 0, 0, i]), 0);
    }
    assert_eq!(b.table_len(), 4);
    // A fifth station is not learnt, but its frames still flood and frames to it flood.
    assert_eq!(
        b.forward(p1, &frame(BCAST, C), SEC),
        Egress::Flood(vec![p0])
    );
    assert_eq!(b.port_of(&C, SEC), None);
    assert_eq!(b.counters().not_learnt, 1);
    assert_eq!(b.forward(p0, &frame(C, A), SEC), Egress::Flood(vec![p1]));
    assert_eq!(b.table_len(), 4, "bounded");
    // Once the old entries expire, room is made for new ones.
    b.forward(p1, &frame(BCAST, C), 400 * SEC);
    assert_eq!(b.port_of(&C, 400 * SEC), Some(p1));
    assert_eq!(b.table_len(), 1);
}

#[test]
fn a_flood_of_new_sources_is_bounded() {
    let (mut b, p0, _, _) = three();
    for i in 0..5000u32 {
        let [_, x, y, z] = i.to_be_bytes();
        b.forward(p0, &frame(BCAST, [2, 0, 0, x, y, z]), u64::from(i));
    }
    assert_eq!(b.table_len(), MAX_MACS);
    assert_eq!(b.counters().not_learnt, 5000 - MAX_MACS as u64);
    assert_eq!(b.port_counters(p0).unwrap().rx_frames, 5000);
}

#[test]
fn malformed_frames_are_dropped_and_counted() {
    let (mut b, p0, p1, _) = three();
    assert_eq!(b.forward(p0, &[], 0), Egress::Drop(DropReason::Runt));
    assert_eq!(
        b.forward(p0, &[0xff; 13], 0),
        Egress::Drop(DropReason::Runt)
    );
    // Exactly a header is a (useless but well-formed) frame.
    let mut hdr = frame(BCAST, A);
    hdr.truncate(14);
    assert!(matches!(b.forward(p0, &hdr, 0), Egress::Flood(_)));
    let mut big = frame(BCAST, B);
    big.resize(MAX_FRAME, 0);
    assert!(matches!(b.forward(p1, &big, 0), Egress::Flood(_)));
    big.push(0);
    assert_eq!(b.forward(p1, &big, 0), Egress::Drop(DropReason::Oversize));
    assert_eq!(
        b.forward(p0, &frame(B, [0; 6]), 0),
        Egress::Drop(DropReason::BadSource)
    );
    assert_eq!(
        b.forward(p0, &frame(B, [0x01, 0, 0x5e, 0, 0, 1]), 0),
        Egress::Drop(DropReason::BadSource)
    );
    assert_eq!(
        b.forward(PortId(99), &frame(B, A), 0),
        Egress::Drop(DropReason::UnknownPort)
    );
    let c = b.counters();
    assert_eq!(
        (c.runts, c.oversize, c.bad_source, c.unknown_port),
        (2, 1, 2, 1)
    );
    let c0 = b.port_counters(p0).unwrap();
    assert_eq!((c0.rx_frames, c0.rx_dropped), (5, 4));
    assert_eq!(b.port_counters(p1).unwrap().rx_dropped, 1);
    // None of the bad sources was learnt.
    assert_eq!(b.fdb(0).len(), 2);
}

#[test]
fn reserved_link_local_groups_are_not_forwarded() {
    let (mut b, p0, _, _) = three();
    let stp = [0x01, 0x80, 0xc2, 0, 0, 0];
    let pause = [0x01, 0x80, 0xc2, 0, 0, 1];
    assert_eq!(
        b.forward(p0, &frame(stp, A), 0),
        Egress::Drop(DropReason::Filtered)
    );
    assert_eq!(
        b.forward(p0, &frame(pause, A), 0),
        Egress::Drop(DropReason::Filtered)
    );
    // 01:80:c2:00:00:10 is outside the reserved block: flooded as any multicast.
    assert!(matches!(
        b.forward(p0, &frame([0x01, 0x80, 0xc2, 0, 0, 0x10], A), 0),
        Egress::Flood(_)
    ));
}

#[test]
fn local_address_is_pinned() {
    let mut b = Bridge::new();
    let local = b.add_port("xenbr0");
    let p0 = b.add_port("eth0");
    let p1 = b.add_port("vif1.0");
    assert!(b.pin_local(A, local));
    assert!(
        !b.pin_local(BCAST, local),
        "a group address is not a station"
    );
    assert!(!b.pin_local(B, PortId(42)), "no such port");
    // Frames for the local address go to its port, without any frame from it.
    assert_eq!(b.forward(p0, &frame(A, B), 0), Egress::Port(local));
    // A frame from another port claiming A does not move it.
    assert!(matches!(
        b.forward(p1, &frame(BCAST, A), 0),
        Egress::Flood(_)
    ));
    assert_eq!(b.port_of(&A, 0), Some(local));
    assert_eq!(b.counters().spoofed_local, 1);
    // And it never ages.
    assert_eq!(b.port_of(&A, 10_000 * SEC), Some(local));
    b.age(10_000 * SEC);
    let fdb = b.fdb(10_000 * SEC);
    assert_eq!(fdb.len(), 1);
    assert!(fdb[0].local);
    assert_eq!(fdb[0].age_ns, 0);
}

#[test]
fn removing_a_port_forgets_its_addresses() {
    let (mut b, p0, p1, p2) = three();
    b.forward(p1, &frame(BCAST, B), 0);
    b.forward(p1, &frame(BCAST, C), 0);
    b.forward(p0, &frame(BCAST, A), 0);
    assert!(b.remove_port(p1));
    assert!(!b.remove_port(p1), "already gone");
    assert_eq!(b.port_of(&B, 0), None);
    assert_eq!(b.port_of(&C, 0), None);
    assert_eq!(b.port_of(&A, 0), Some(p0));
    // Frames for B flood to the remaining ports; the removed port is in no flood set.
    assert_eq!(b.forward(p0, &frame(B, A), 0), Egress::Flood(vec![p2]));
    assert_eq!(
        b.forward(p1, &frame(A, B), 0),
        Egress::Drop(DropReason::UnknownPort)
    );
    // Ids are not reused.
    assert_ne!(b.add_port("vif3.0"), p1);
}

#[test]
fn counters_follow_frames() {
    let (mut b, p0, p1, p2) = three();
    b.forward(p0, &frame(BCAST, A), 0); // 60 bytes, flooded to p1 and p2
    b.forward(p1, &frame(A, B), 0); // unicast to p0
    b.count_tx_drop(p0);
    let c0 = b.port_counters(p0).unwrap();
    let c1 = b.port_counters(p1).unwrap();
    let c2 = b.port_counters(p2).unwrap();
    assert_eq!(
        (c0.rx_frames, c0.rx_bytes, c0.tx_frames, c0.tx_bytes),
        (1, 60, 1, 60)
    );
    assert_eq!(c0.tx_dropped, 1);
    assert_eq!((c1.rx_frames, c1.tx_frames), (1, 1));
    assert_eq!((c2.rx_frames, c2.tx_frames, c2.tx_bytes), (0, 1, 60));
    assert_eq!(b.port_counters(PortId(7)), None);
}
