//! Two dom0 networks back to back through a cable of two queues, and hostile frames.

use super::*;
use alloc::rc::Rc;
use alloc::vec;
use core::cell::RefCell;
use smoltcp::phy::ChecksumCapabilities;
use smoltcp::socket::tcp;
use smoltcp::wire::{
    DhcpMessageType, DhcpPacket, DhcpRepr, EthernetAddress, EthernetFrame, EthernetProtocol,
    EthernetRepr, IpAddress, IpProtocol, Ipv4Address, Ipv4Packet, Ipv4Repr, UdpPacket, UdpRepr,
};

type Queue = Rc<RefCell<VecDeque<Vec<u8>>>>;

/// One end of a cable: what it sends lands in the other end's receive queue (which holds
/// at most `room` frames).
struct End {
    mac: Mac,
    out: Queue,
    inp: Queue,
    room: usize,
}

impl Nic for End {
    fn mac(&self) -> Mac {
        self.mac
    }
    fn send(&mut self, frame: &[u8]) -> bool {
        let mut q = self.out.borrow_mut();
        if q.len() >= self.room {
            return false;
        }
        q.push_back(frame.to_vec());
        true
    }
    fn receive(&mut self) -> Option<Vec<u8>> {
        self.inp.borrow_mut().pop_front()
    }
}

/// A cable between NICs `a` and `b`: the two ends and the queues a→b, b→a.
fn cable(a: Mac, b: Mac, room: usize) -> (End, End, Queue, Queue) {
    let ab: Queue = Rc::default();
    let ba: Queue = Rc::default();
    (
        End {
            mac: a,
            out: ab.clone(),
            inp: ba.clone(),
            room,
        },
        End {
            mac: b,
            out: ba.clone(),
            inp: ab.clone(),
            room,
        },
        ab,
        ba,
    )
}

const MAC_A: Mac = [0x02, 0, 0, 0, 0, 0x0a];
const MAC_B: Mac = [0x02, 0, 0, 0, 0, 0x0b];
const NIC_A: Mac = [0x52, 0x54, 0, 0, 0, 0x0a];
const NIC_B: Mac = [0x52, 0x54, 0, 0, 0, 0x0b];
const IP_A: [u8; 4] = [10, 0, 0, 1];
const IP_B: [u8; 4] = [10, 0, 0, 2];
const MS: u64 = 1_000_000;
const SEC: u64 = 1_000_000_000;

fn fixed(address: [u8; 4]) -> Addressing {
    Addressing::Static {
        address,
        prefix: 24,
        gateway: None,
    }
}

/// Machines A (10.0.0.1) and B (10.0.0.2), each dom0's network with one NIC, cabled.
struct Lab {
    a: Network,
    b: Network,
    a_to_b: Queue,
    b_to_a: Queue,
    now: u64,
}

impl Lab {
    fn new() -> Lab {
        let (ea, eb, a_to_b, b_to_a) = cable(NIC_A, NIC_B, 100_000);
        let mut a = Network::new(fixed(IP_A), MAC_A);
        let mut b = Network::new(fixed(IP_B), MAC_B);
        a.attach_nic("eth0", Box::new(ea));
        b.attach_nic("eth0", Box::new(eb));
        Lab {
            a,
            b,
            a_to_b,
            b_to_a,
            now: 0,
        }
    }

    /// Polls both machines every simulated millisecond until `done` or `ms` have passed.
    fn run_until(&mut self, ms: u64, mut done: impl FnMut(&mut Lab) -> bool) -> bool {
        for _ in 0..ms {
            self.a.poll(self.now);
            self.b.poll(self.now);
            if done(self) {
                return true;
            }
            self.now += MS;
        }
        false
    }
}

fn eth0(n: &Network) -> PortInfo {
    n.ports().into_iter().find(|p| p.name == "eth0").unwrap()
}

#[test]
fn static_addresses_are_set_and_reported() {
    let mut a = Network::new(
        Addressing::Static {
            address: IP_A,
            prefix: 24,
            gateway: Some([10, 0, 0, 254]),
        },
        MAC_A,
    );
    assert_eq!(a.address(), Some((IP_A, 24, Some([10, 0, 0, 254]))));
    assert_eq!(
        a.take_notices(),
        ["(net) xenbr0: 10.0.0.1/24 static, gateway 10.0.0.254"]
    );
    assert!(a.take_notices().is_empty(), "reported once");
    let mut bad = Network::new(
        Addressing::Static {
            address: IP_A,
            prefix: 33,
            gateway: None,
        },
        MAC_A,
    );
    assert_eq!(bad.address(), None);
    assert!(bad.take_notices()[0].contains("bad prefix"));
    assert_eq!(
        bad.ping_send(IP_B, 0, 0),
        Err(String::from("xenbr0 has no address"))
    );
    // A group MAC would make smoltcp panic: it is made unicast, and said so.
    let mut m = Network::new(fixed(IP_A), [0x03, 0, 0, 0, 0, 1]);
    assert_eq!(m.mac(), [0x02, 0, 0, 0, 0, 1]);
    assert!(m.take_notices()[0].contains("group address"));
}

#[test]
fn arp_resolves_and_ping_is_answered() {
    let mut lab = Lab::new();
    assert_eq!(lab.a.ports()[0].name, "xenbr0");
    assert_eq!(lab.a.ports()[0].kind, PortKind::Local);
    assert_eq!(eth0(&lab.a).mac, NIC_A);
    let mut got = Vec::new();
    for seq in 0..3u16 {
        lab.a.ping_send(IP_B, seq, lab.now).unwrap();
        let answered = lab.run_until(1000, |l| {
            got.extend(l.a.ping_replies());
            got.len() > usize::from(seq)
        });
        assert!(answered, "no reply to seq {seq}");
    }
    let seqs: Vec<u16> = got.iter().map(|r| r.seq).collect();
    assert_eq!(seqs, [0, 1, 2]);
    for r in &got {
        assert_eq!(r.from, IP_B);
        assert_eq!(r.bytes, 64, "8 bytes of header, 56 of data");
        assert_eq!(r.ttl, Some(64), "smoltcp's replies leave with TTL 64");
        assert!(r.rtt_ns < 10 * MS, "{r:?}");
    }
    // ARP taught each bridge where the other's interface is.
    let on_eth0 = |n: &Network, mac: Mac, now| {
        let port = eth0(n).id;
        n.fdb(now)
            .iter()
            .any(|e| e.mac == mac && e.port == port && !e.local)
    };
    assert!(on_eth0(&lab.a, MAC_B, lab.now));
    assert!(on_eth0(&lab.b, MAC_A, lab.now));
    // Each side's own address is pinned to its xenbr0 port.
    let fdb = lab.a.fdb(lab.now);
    let own = fdb.iter().find(|e| e.mac == MAC_A).unwrap();
    assert!(own.local);
    assert_eq!(lab.a.port_name(own.port), Some("xenbr0"));
    // B answered by itself, and pings back.
    lab.b.ping_send(IP_A, 7, lab.now).unwrap();
    let mut back = Vec::new();
    assert!(lab.run_until(1000, |l| {
        back.extend(l.b.ping_replies());
        !back.is_empty()
    }));
    assert_eq!((back[0].seq, back[0].from), (7, IP_A));
    assert_eq!(eth0(&lab.a).counters.rx_dropped, 0);
}

#[test]
fn ping_without_an_answer_or_an_address() {
    let mut lab = Lab::new();
    // Nobody has 10.0.0.9: ARP asks, nothing comes back.
    lab.a.ping_send([10, 0, 0, 9], 0, lab.now).unwrap();
    let answered = lab.run_until(2000, |l| !l.a.ping_replies().is_empty());
    assert!(!answered);
    assert!(
        eth0(&lab.a).counters.tx_frames >= 1,
        "an ARP request went out"
    );
    for bad in [[0, 0, 0, 0], [255, 255, 255, 255], [224, 0, 0, 1]] {
        let e = lab.a.ping_send(bad, 1, lab.now).unwrap_err();
        assert!(e.contains("not a unicast address"), "{e}");
    }
    let mut d = Network::new(Addressing::Dhcp, MAC_A);
    assert_eq!(
        d.ping_send(IP_B, 0, 0),
        Err(String::from("xenbr0 has no address yet (no DHCP lease)"))
    );
}

#[test]
fn a_late_reply_to_an_earlier_ping_does_not_count() {
    let mut lab = Lab::new();
    // Resolve B first.
    lab.a.ping_send(IP_B, 0, lab.now).unwrap();
    assert!(lab.run_until(1000, |l| !l.a.ping_replies().is_empty()));
    // Seq 1 leaves A, but B does not run until A's ping has been reset.
    lab.a.ping_send(IP_B, 1, lab.now).unwrap();
    lab.a.poll(lab.now);
    assert_eq!(lab.a_to_b.borrow().len(), 1);
    lab.a.ping_reset();
    let answered = lab.run_until(500, |l| !l.a.ping_replies().is_empty());
    assert!(!answered, "the reply to the forgotten request is ignored");
}

/// A TCP client on B's stack (through the test hook), connected to A's echo service from
/// `port`.
fn echo_client(lab: &mut Lab, port: u16, buffer: usize) -> smoltcp::iface::SocketHandle {
    let (iface, _, sockets) = lab.b.stack_mut().parts();
    let mut s = tcp::Socket::new(
        tcp::SocketBuffer::new(vec![0; buffer]),
        tcp::SocketBuffer::new(vec![0; buffer]),
    );
    s.connect(
        iface.context(),
        (IpAddress::from(Ipv4Address::from(IP_A)), 7),
        port,
    )
    .unwrap();
    sockets.add(s)
}

fn client(lab: &mut Lab, h: smoltcp::iface::SocketHandle) -> &mut tcp::Socket<'static> {
    lab.b.stack_mut().parts().2.get_mut::<tcp::Socket>(h)
}

#[test]
fn tcp_echo_on_port_7() {
    let mut lab = Lab::new();
    let h = echo_client(&mut lab, 49152, 65536);
    assert!(
        lab.run_until(2000, |l| client(l, h).may_send()),
        "connected"
    );
    client(&mut lab, h).send_slice(b"hello, echo\n").unwrap();
    let mut got = Vec::new();
    assert!(lab.run_until(2000, |l| {
        let s = client(l, h);
        while let Ok(n) = s.recv(|b| (b.len(), b.to_vec())) {
            if n.is_empty() {
                break;
            }
            got.extend(n);
        }
        got.len() >= 12
    }));
    assert_eq!(got, b"hello, echo\n");

    // More than every buffer on the way holds: it all comes back, in order.
    let data: Vec<u8> = (0..40_000u32).map(|i| (i * 7 + i / 251) as u8).collect();
    let mut sent = 0;
    let mut back = Vec::new();
    assert!(lab.run_until(20_000, |l| {
        let s = client(l, h);
        if sent < data.len() {
            sent += s.send_slice(&data[sent..]).unwrap();
        }
        while let Ok(chunk) = s.recv(|b| (b.len(), b.to_vec())) {
            if chunk.is_empty() {
                break;
            }
            back.extend(chunk);
        }
        back.len() >= data.len()
    }));
    assert!(back == data, "echoed bytes differ");

    // The client closes; the server closes its side once done, then listens again.
    client(&mut lab, h).close();
    assert!(lab.run_until(2000, |l| {
        matches!(
            client(l, h).state(),
            tcp::State::TimeWait | tcp::State::Closed
        )
    }));
}

#[test]
fn tcp_echo_serves_four_connections_and_listens_again() {
    let mut lab = Lab::new();
    let hs: Vec<_> = (0..5)
        .map(|i| echo_client(&mut lab, 50000 + i, 4096))
        .collect();
    lab.run_until(500, |_| false);
    let states: Vec<tcp::State> = hs.iter().map(|&h| client(&mut lab, h).state()).collect();
    let established = states
        .iter()
        .filter(|s| **s == tcp::State::Established)
        .count();
    assert_eq!(established, 4, "{states:?}");
    assert_eq!(
        states[4],
        tcp::State::Closed,
        "the fifth is refused (reset): {states:?}"
    );
    // Each of the four echoes its own bytes.
    for (i, &h) in hs.iter().take(4).enumerate() {
        client(&mut lab, h)
            .send_slice(&[b'a' + i as u8; 10])
            .unwrap();
    }
    lab.run_until(500, |_| false);
    for (i, &h) in hs.iter().take(4).enumerate() {
        let mut buf = [0u8; 64];
        let n = client(&mut lab, h).recv_slice(&mut buf).unwrap();
        assert_eq!(&buf[..n], &[b'a' + i as u8; 10]);
    }
    // One closes: its server socket listens again and a new connection gets in.
    client(&mut lab, hs[0]).close();
    lab.run_until(500, |_| false);
    let h = echo_client(&mut lab, 50100, 4096);
    assert!(lab.run_until(1000, |l| client(l, h).state() == tcp::State::Established));
}

/// A deterministic generator of hostile bytes.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

#[test]
fn garbage_frames_are_dropped_and_counted() {
    let mut lab = Lab::new();
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    let (mut runts, mut oversize, mut bad_source) = (0u64, 0u64, 0u64);
    let n = 10_000usize;
    for i in 0..n {
        let len = (rng.next() % 1700) as usize;
        let mut f = rng.bytes(len);
        if len >= 14 && i % 2 == 0 {
            // Half of them look like frames for A: its MAC, IPv4 or ARP, a good source.
            f[0..6].copy_from_slice(&MAC_A);
            f[6] &= !1;
            f[12..14].copy_from_slice(if i % 4 == 0 { &[8, 0] } else { &[8, 6] });
            if i % 8 == 0 && len >= 34 {
                // An IPv4 header with plausible version and length.
                f[14] = 0x45;
                f[16..18].copy_from_slice(&((len - 14) as u16).to_be_bytes());
            }
        }
        if len < 14 {
            runts += 1;
        } else if len > MAX_FRAME {
            oversize += 1;
        } else if f[6] & 1 != 0 || f[6..12] == [0; 6] {
            bad_source += 1;
        }
        lab.b_to_a.borrow_mut().push_back(f);
    }
    // One poll takes one budget's worth, no more, and says more is waiting.
    assert!(!lab.a.busy());
    assert!(lab.a.poll(0));
    assert_eq!(eth0(&lab.a).counters.rx_frames, POLL_BUDGET as u64);
    assert_eq!(lab.b_to_a.borrow().len(), n - POLL_BUDGET);
    assert!(lab.a.busy());
    assert_eq!(lab.a.poll_at(0), Some(0));
    let mut polls = 1;
    while !lab.b_to_a.borrow().is_empty() {
        lab.a.poll(polls * MS);
        polls += 1;
        assert!(polls < 100);
    }
    assert_eq!(polls as usize, n.div_ceil(POLL_BUDGET));
    assert!(!lab.a.busy(), "the last poll took what was left");
    let c = lab.a.bridge_counters();
    assert_eq!(
        (c.runts, c.oversize, c.bad_source),
        (runts, oversize, bad_source)
    );
    let e = eth0(&lab.a).counters;
    assert_eq!(e.rx_frames, n as u64);
    assert_eq!(e.rx_dropped, runts + oversize + bad_source + c.filtered);
    assert!(lab.a.fdb(lab.now).len() <= bridge::MAX_MACS + 1);
    // A still works.
    lab.now = polls * MS;
    lab.a.ping_send(IP_B, 0, lab.now).unwrap();
    assert!(lab.run_until(1000, |l| !l.a.ping_replies().is_empty()));
}

/// An ARP request "who has `target`? tell `sender_ip`" from `sender`.
fn arp_request(sender: Mac, sender_ip: [u8; 4], target: [u8; 4]) -> Vec<u8> {
    let mut f = vec![0u8; 42];
    f[0..6].copy_from_slice(&[0xff; 6]);
    f[6..12].copy_from_slice(&sender);
    f[12..14].copy_from_slice(&[0x08, 0x06]);
    // Ethernet, IPv4, 6- and 4-byte addresses, request.
    f[14..22].copy_from_slice(&[0, 1, 8, 0, 6, 4, 0, 1]);
    f[22..28].copy_from_slice(&sender);
    f[28..32].copy_from_slice(&sender_ip);
    f[38..42].copy_from_slice(&target);
    f
}

#[test]
fn a_broadcast_flood_is_bounded_per_poll() {
    let mut lab = Lab::new();
    let vif = lab.a.attach_vif("vif1.0", [0x00, 0x16, 0x3e, 0, 0, 1]);
    for i in 0..10_000u32 {
        let [_, x, y, z] = i.to_be_bytes();
        let f = arp_request([0x02, 0x77, 0, x, y, z], [10, 0, 0, 50], IP_A);
        lab.b_to_a.borrow_mut().push_back(f);
    }
    assert!(lab.a.poll(0));
    let e = eth0(&lab.a).counters;
    assert_eq!(e.rx_frames, POLL_BUDGET as u64);
    // Every request reached the stack (or was counted as not fitting) and the vif.
    let local = lab.a.ports()[0].counters;
    assert_eq!(local.tx_frames, POLL_BUDGET as u64);
    let answered = lab.a_to_b.borrow().len() as u64;
    assert_eq!(
        answered + lab.a.stack_counters().rx_dropped,
        POLL_BUDGET as u64,
        "each request was answered or counted"
    );
    let mut to_guest = 0;
    while lab.a.vif_to_guest(vif).is_some() {
        to_guest += 1;
    }
    assert_eq!(to_guest, POLL_BUDGET);
    // The rest drains over later polls; the table stays bounded.
    for t in 1..100 {
        lab.a.poll(t * MS);
        while lab.a.vif_to_guest(vif).is_some() {}
    }
    assert!(lab.b_to_a.borrow().is_empty());
    let c = lab.a.bridge_counters();
    assert_eq!(c.not_learnt, 10_000 - (bridge::MAX_MACS as u64 - 1));
    assert_eq!(lab.a.fdb(0).len(), bridge::MAX_MACS);
}

#[test]
fn vif_ports_switch_frames() {
    let mut lab = Lab::new();
    const GUEST: Mac = [0x00, 0x16, 0x3e, 0, 0, 7];
    let vif = lab.a.attach_vif("vif1.0", GUEST);
    assert_eq!(lab.a.ports()[2].kind, PortKind::Vif);
    // The guest asks for B: the broadcast floods to eth0 and dom0's stack, not back.
    assert!(lab
        .a
        .vif_from_guest(vif, arp_request(GUEST, [10, 0, 0, 7], IP_B)));
    lab.run_until(20, |_| false);
    // B answered GUEST's MAC, which A's bridge learnt on the vif: the reply went there only.
    let c = lab.a.ports()[2].counters;
    assert_eq!((c.rx_frames, c.tx_frames), (1, 1));
    let reply = lab.a.vif_to_guest(vif).expect("B's ARP reply");
    assert_eq!(reply[0..6], GUEST);
    assert_eq!(reply[12..14], [0x08, 0x06]);
    assert_eq!(reply[20..22], [0, 2], "an ARP reply");
    assert_eq!(lab.a.vif_to_guest(vif), None);
    assert_eq!(
        lab.a
            .fdb(lab.now)
            .iter()
            .find(|e| e.mac == GUEST)
            .unwrap()
            .port,
        vif
    );
    // A guest that does not take its frames: its queue fills, the rest is dropped and
    // counted on the port.
    for _ in 0..VIF_QUEUE + 5 {
        lab.b_to_a
            .borrow_mut()
            .push_back(arp_request(NIC_B, [10, 0, 0, 99], [10, 0, 0, 98]));
    }
    lab.a.poll(lab.now);
    lab.a.poll(lab.now);
    assert!(lab.b_to_a.borrow().is_empty());
    let c = lab.a.ports()[2].counters;
    assert_eq!((c.tx_frames, c.tx_dropped), (1 + VIF_QUEUE as u64 + 5, 5));
    assert!(lab.a.detach(vif));
    assert!(!lab.a.detach(vif));
    assert!(!lab.a.detach(PortId(0)), "dom0's own port stays");
    assert!(lab.a.fdb(lab.now).iter().all(|e| e.mac != GUEST));
    assert!(!lab.a.vif_from_guest(vif, vec![0; 60]));
}

#[test]
fn a_full_nic_counts_its_drops() {
    let (ea, _eb, _ab, _ba) = cable(NIC_A, NIC_B, 0);
    let mut a = Network::new(fixed(IP_A), MAC_A);
    a.attach_nic("eth0", Box::new(ea));
    a.ping_send(IP_B, 0, 0).unwrap();
    a.poll(0);
    let c = eth0(&a).counters;
    assert_eq!((c.tx_frames, c.tx_dropped), (1, 1), "the ARP request");
}

const SERVER: Ipv4Address = Ipv4Address::new(10, 0, 2, 2);
const SERVER_MAC: Mac = [0x52, 0x55, 10, 0, 2, 2];

/// The DHCP message type and transaction of a frame, if it is a client's DHCP message.
fn dhcp_from_client(frame: &[u8]) -> Option<(DhcpMessageType, u32)> {
    let eth = EthernetFrame::new_checked(frame).ok()?;
    if eth.ethertype() != EthernetProtocol::Ipv4 {
        return None;
    }
    let ip = Ipv4Packet::new_checked(eth.payload()).ok()?;
    if ip.next_header() != IpProtocol::Udp {
        return None;
    }
    let udp = UdpPacket::new_checked(ip.payload()).ok()?;
    if udp.dst_port() != 67 {
        return None;
    }
    let dhcp = DhcpPacket::new_checked(udp.payload()).ok()?;
    let r = DhcpRepr::parse(&dhcp).ok()?;
    Some((r.message_type, r.transaction_id))
}

/// The server's `kind` answer to transaction `xid`: 10.0.2.15/24, gateway 10.0.2.2, a
/// 120 s lease, broadcast.
fn dhcp_answer(kind: DhcpMessageType, xid: u32, client: Mac) -> Vec<u8> {
    let repr = DhcpRepr {
        message_type: kind,
        transaction_id: xid,
        secs: 0,
        client_hardware_address: EthernetAddress(client),
        client_ip: Ipv4Address::UNSPECIFIED,
        your_ip: Ipv4Address::new(10, 0, 2, 15),
        server_ip: SERVER,
        router: Some(SERVER),
        subnet_mask: Some(Ipv4Address::new(255, 255, 255, 0)),
        relay_agent_ip: Ipv4Address::UNSPECIFIED,
        broadcast: true,
        requested_ip: None,
        client_identifier: None,
        server_identifier: Some(SERVER),
        parameter_request_list: None,
        dns_servers: None,
        max_size: None,
        lease_duration: Some(120),
        renew_duration: None,
        rebind_duration: None,
        additional_options: &[],
    };
    let dhcp_len = repr.buffer_len();
    let udp_len = 8 + dhcp_len;
    let mut f = vec![0u8; 14 + 20 + udp_len];
    let mut eth = EthernetFrame::new_unchecked(&mut f[..]);
    EthernetRepr {
        src_addr: EthernetAddress(SERVER_MAC),
        dst_addr: EthernetAddress::BROADCAST,
        ethertype: EthernetProtocol::Ipv4,
    }
    .emit(&mut eth);
    let mut ip = Ipv4Packet::new_unchecked(eth.payload_mut());
    Ipv4Repr {
        src_addr: SERVER,
        dst_addr: Ipv4Address::BROADCAST,
        next_header: IpProtocol::Udp,
        payload_len: udp_len,
        hop_limit: 64,
    }
    .emit(&mut ip, &ChecksumCapabilities::default());
    let mut udp = UdpPacket::new_unchecked(ip.payload_mut());
    UdpRepr {
        src_port: 67,
        dst_port: 68,
    }
    .emit(
        &mut udp,
        &SERVER.into(),
        &Ipv4Address::BROADCAST.into(),
        dhcp_len,
        |buf| repr.emit(&mut DhcpPacket::new_unchecked(buf)).unwrap(),
        &ChecksumCapabilities::default(),
    );
    f
}

/// Polls `n` at `now` until it sends a DHCP message; its type and transaction.
fn next_dhcp(n: &mut Network, from_n: &Queue, now: u64) -> (DhcpMessageType, u32) {
    n.poll(now);
    let mut q = from_n.borrow_mut();
    while let Some(f) = q.pop_front() {
        if let Some(m) = dhcp_from_client(&f) {
            return m;
        }
    }
    panic!("no DHCP message");
}

#[test]
fn dhcp_lease_configures_and_expiry_clears() {
    let (ea, _eb, from_a, to_a) = cable(NIC_A, SERVER_MAC, 1000);
    let mut a = Network::new(Addressing::Dhcp, MAC_A);
    a.attach_nic("eth0", Box::new(ea));
    assert_eq!(a.address(), None);
    let (kind, xid) = next_dhcp(&mut a, &from_a, 0);
    assert_eq!(kind, DhcpMessageType::Discover);
    assert!(a.poll_at(0).is_some_and(|t| t > 0), "a retry is due later");
    to_a.borrow_mut()
        .push_back(dhcp_answer(DhcpMessageType::Offer, xid, MAC_A));
    let (kind, xid) = next_dhcp(&mut a, &from_a, MS);
    assert_eq!(kind, DhcpMessageType::Request);
    to_a.borrow_mut()
        .push_back(dhcp_answer(DhcpMessageType::Ack, xid, MAC_A));
    a.poll(2 * MS);
    assert_eq!(a.address(), Some(([10, 0, 2, 15], 24, Some([10, 0, 2, 2]))));
    assert_eq!(
        a.take_notices(),
        ["(net) xenbr0: 10.0.2.15/24 by DHCP, gateway 10.0.2.2"]
    );
    // Nobody answers the renewals: at the end of the lease the address goes.
    let mut t = 2 * MS;
    while t < 200 * SEC && a.address().is_some() {
        t += 500 * MS;
        a.poll(t);
        from_a.borrow_mut().clear();
    }
    assert_eq!(a.address(), None);
    assert!(t > 110 * SEC, "kept until the lease ran out ({t} ns)");
    assert_eq!(
        a.take_notices(),
        ["(net) xenbr0: DHCP lease lost; no address"]
    );
}

#[test]
fn time_never_goes_backwards() {
    let mut lab = Lab::new();
    lab.a.poll(5 * SEC);
    // A caller without a clock passes 0: frames still move.
    lab.a.ping_send(IP_B, 0, 0).unwrap();
    lab.a.poll(0);
    assert_eq!(lab.a_to_b.borrow().len(), 1, "the ARP request left");
    assert!(lab.a.poll_at(0).is_none_or(|t| t >= 5 * SEC));
}
