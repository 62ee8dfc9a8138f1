//! dom0's own interface on `xenbr0`: a smoltcp [`Interface`] over an in-memory Ethernet
//! device ([`Queues`]: the bridge fills its receive queue and drains its transmit queue),
//! with the services dom0 runs on it:
//!
//! - its IPv4 address, from DHCP ([`Addressing::Dhcp`]: smoltcp's DHCPv4 client; a lease
//!   sets the address and default route, losing it clears them) or fixed;
//! - ping: smoltcp answers echo requests to our address by itself; an ICMP socket bound to
//!   our identifier sends ours and collects the replies (`ping`);
//! - echo on TCP port 7 (RFC 862): [`ECHO_CONNECTIONS`] listening sockets, each sending back
//!   what it receives, listening again once its connection has closed.
//!
//! Both queues are bounded: a frame that does not fit is dropped and counted (a full NIC
//! queue drops the same way). Time is the caller's, in nanoseconds; smoltcp's is
//! `Instant::from_micros(now_ns / 1000)`.

use super::{Addressing, Mac, MAX_FRAME};
use alloc::collections::{BTreeMap, VecDeque};
use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use smoltcp::iface::{Config, Interface, SocketHandle, SocketSet};
use smoltcp::phy::{self, ChecksumCapabilities, Device, DeviceCapabilities, Medium};
use smoltcp::socket::{dhcpv4, icmp, tcp};
use smoltcp::time::{Duration, Instant};
use smoltcp::wire::{
    EthernetAddress, EthernetFrame, EthernetProtocol, HardwareAddress, Icmpv4Message, Icmpv4Packet,
    Icmpv4Repr, IpAddress, IpCidr, IpProtocol, Ipv4Address, Ipv4Cidr, Ipv4Packet,
};

/// Frames waiting for the stack (from the bridge).
pub const RX_QUEUE: usize = 128;
/// Frames the stack sent that the bridge has not taken yet.
pub const TX_QUEUE: usize = 128;
/// The TCP echo service's port (RFC 862).
pub const ECHO_PORT: u16 = 7;
/// Connections the echo service serves at once.
pub const ECHO_CONNECTIONS: usize = 4;
/// Each echo connection's receive and send buffer.
const ECHO_BUFFER: usize = 4096;
/// An echo connection whose peer stops acknowledging is dropped after this long; an idle
/// one is probed this often (keep-alive) so that a vanished peer frees its slot.
const ECHO_TIMEOUT: Duration = Duration::from_secs(60);
const ECHO_KEEPALIVE: Duration = Duration::from_secs(30);
/// Bytes of data in our echo requests: 8 bytes of the send time, then a pattern (as ping's
/// default 56, giving 64-byte ICMP messages).
pub const PING_DATA: usize = 56;
/// Echo requests in flight that we remember; older ones are forgotten (their replies then
/// no longer count).
const PING_OUTSTANDING: usize = 128;
/// Replies kept until taken.
const PING_REPLIES: usize = 128;

/// Frame counters of the stack's device.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StackCounters {
    /// Frames the bridge delivered that did not fit the receive queue.
    pub rx_dropped: u64,
    /// Frames the stack sent that did not fit the transmit queue.
    pub tx_dropped: u64,
}

/// The in-memory Ethernet device between the bridge and smoltcp.
#[derive(Default)]
pub struct Queues {
    rx: VecDeque<Vec<u8>>,
    tx: VecDeque<Vec<u8>>,
    counters: StackCounters,
}

/// A frame received, handed to smoltcp.
pub struct RxFrame(Vec<u8>);

impl phy::RxToken for RxFrame {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(&self.0)
    }
}

/// Room for one frame in the transmit queue.
pub struct TxSlot<'a> {
    tx: &'a mut VecDeque<Vec<u8>>,
    dropped: &'a mut u64,
}

impl phy::TxToken for TxSlot<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let mut frame = vec![0u8; len];
        let r = f(&mut frame);
        if self.tx.len() < TX_QUEUE && len <= MAX_FRAME {
            self.tx.push_back(frame);
        } else {
            *self.dropped += 1;
        }
        r
    }
}

impl Device for Queues {
    type RxToken<'a> = RxFrame;
    type TxToken<'a> = TxSlot<'a>;

    fn receive(&mut self, _: Instant) -> Option<(RxFrame, TxSlot<'_>)> {
        let frame = self.rx.pop_front()?;
        Some((
            RxFrame(frame),
            TxSlot {
                tx: &mut self.tx,
                dropped: &mut self.counters.tx_dropped,
            },
        ))
    }

    fn transmit(&mut self, _: Instant) -> Option<TxSlot<'_>> {
        (self.tx.len() < TX_QUEUE).then_some(TxSlot {
            tx: &mut self.tx,
            dropped: &mut self.counters.tx_dropped,
        })
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ethernet;
        // smoltcp's Ethernet MTU counts the header: 1500 bytes of IP.
        caps.max_transmission_unit = MAX_FRAME;
        caps.max_burst_size = None;
        caps
    }
}

/// One echo reply to our ping.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PingReply {
    pub seq: u16,
    pub from: [u8; 4],
    /// Bytes of the ICMP message (header and data), as ping prints them.
    pub bytes: usize,
    /// From [`Stack::ping_send`] to the poll that received it.
    pub rtt_ns: u64,
    /// The reply's IPv4 time to live, when its frame was seen.
    pub ttl: Option<u8>,
}

struct Sent {
    dst: Ipv4Address,
    sent_ns: u64,
}

/// Our echo requests in flight and the replies not yet taken.
#[derive(Default)]
struct Ping {
    ident: u16,
    outstanding: BTreeMap<u16, Sent>,
    ttls: BTreeMap<u16, u8>,
    replies: Vec<PingReply>,
}

/// dom0's interface, its sockets and its device.
pub struct Stack {
    iface: Interface,
    dev: Queues,
    sockets: SocketSet<'static>,
    mac: Mac,
    addressing: Addressing,
    dhcp: Option<SocketHandle>,
    icmp: SocketHandle,
    echo: Vec<SocketHandle>,
    gateway: Option<Ipv4Address>,
    ping: Ping,
    notices: Vec<String>,
}

/// smoltcp's time for `now_ns`.
pub fn instant(now_ns: u64) -> Instant {
    Instant::from_micros(i64::try_from(now_ns / 1000).unwrap_or(i64::MAX))
}

/// `now_ns` for smoltcp's time (before the epoch: 0).
pub fn instant_ns(t: Instant) -> u64 {
    u64::try_from(t.total_micros())
        .unwrap_or(0)
        .saturating_mul(1000)
}

/// The IPv4 address in `a` (smoltcp's addresses have an IPv6 case when another crate
/// enables it).
fn ipv4(a: IpAddress) -> Option<Ipv4Address> {
    #[allow(unreachable_patterns)]
    match a {
        IpAddress::Ipv4(a) => Some(a),
        _ => None,
    }
}

/// `a.b.c.d` of an address.
pub fn fmt_ip(a: [u8; 4]) -> String {
    format!("{}", core::net::Ipv4Addr::from(a))
}

impl Stack {
    /// The interface with MAC `mac` (a group address, which smoltcp refuses, has its group
    /// bit cleared, with a notice), addressed by `addressing`.
    pub fn new(addressing: Addressing, mac: Mac) -> Stack {
        let mut notices = Vec::new();
        let given = mac;
        let mut mac = mac;
        if mac[0] & 1 != 0 {
            mac[0] &= !1;
            notices.push(format!(
                "(net) xenbr0: {} is a group address; using {} instead",
                super::fmt_mac(&given),
                super::fmt_mac(&mac)
            ));
        }
        let mut dev = Queues::default();
        let mut config = Config::new(HardwareAddress::Ethernet(EthernetAddress(mac)));
        // TCP's initial sequence numbers and DHCP's transaction ids come from this seed.
        // dom0 has no entropy source; its MAC at least differs between machines.
        config.random_seed = mac.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
        let iface = Interface::new(config, &mut dev, Instant::ZERO);
        let mut sockets = SocketSet::new(Vec::new());

        let dhcp = (addressing == Addressing::Dhcp).then(|| sockets.add(dhcpv4::Socket::new()));

        let ident = u16::from_be_bytes([mac[4], mac[5]]) ^ 0x6430;
        let mut socket = icmp::Socket::new(
            icmp::PacketBuffer::new(vec![icmp::PacketMetadata::EMPTY; 16], vec![0; 2048]),
            icmp::PacketBuffer::new(vec![icmp::PacketMetadata::EMPTY; 16], vec![0; 2048]),
        );
        // Binding a fresh socket to a nonzero identifier cannot fail.
        let _ = socket.bind(icmp::Endpoint::Ident(ident));
        let icmp = sockets.add(socket);

        let echo = (0..ECHO_CONNECTIONS)
            .map(|_| {
                let mut s = tcp::Socket::new(
                    tcp::SocketBuffer::new(vec![0; ECHO_BUFFER]),
                    tcp::SocketBuffer::new(vec![0; ECHO_BUFFER]),
                );
                s.set_timeout(Some(ECHO_TIMEOUT));
                s.set_keep_alive(Some(ECHO_KEEPALIVE));
                sockets.add(s)
            })
            .collect();

        let mut stack = Stack {
            iface,
            dev,
            sockets,
            mac,
            addressing,
            dhcp,
            icmp,
            echo,
            gateway: None,
            ping: Ping {
                ident,
                ..Ping::default()
            },
            notices,
        };
        if let Addressing::Static {
            address,
            prefix,
            gateway,
        } = addressing
        {
            stack.configure_static(address, prefix, gateway);
        }
        stack.listen_echo();
        stack
    }

    fn configure_static(&mut self, address: [u8; 4], prefix: u8, gateway: Option<[u8; 4]>) {
        if prefix > 32 {
            self.notices.push(format!(
                "(net) xenbr0: static address {}/{prefix}: bad prefix (0..32); no address",
                fmt_ip(address)
            ));
            return;
        }
        let cidr = Ipv4Cidr::new(Ipv4Address::from(address), prefix);
        self.set_address(Some(cidr), gateway.map(Ipv4Address::from));
        self.notices.push(format!(
            "(net) xenbr0: {}/{prefix} static, {}",
            fmt_ip(address),
            gateway.map_or_else(
                || String::from("no gateway"),
                |g| format!("gateway {}", fmt_ip(g))
            )
        ));
    }

    /// Sets (or with `None` clears) the interface's address and default route.
    fn set_address(&mut self, cidr: Option<Ipv4Cidr>, gateway: Option<Ipv4Address>) {
        self.iface.update_ip_addrs(|addrs| {
            addrs.clear();
            if let Some(c) = cidr {
                // One address fits the interface's list.
                let _ = addrs.push(IpCidr::Ipv4(c));
            }
        });
        let routes = self.iface.routes_mut();
        routes.remove_default_ipv4_route();
        self.gateway = None;
        if let (Some(_), Some(g)) = (cidr, gateway) {
            if routes.add_default_ipv4_route(g).is_ok() {
                self.gateway = Some(g);
            }
        }
    }

    /// The interface's MAC.
    pub fn mac(&self) -> Mac {
        self.mac
    }

    /// How the interface is addressed.
    pub fn addressing(&self) -> Addressing {
        self.addressing
    }

    /// (address, prefix, gateway), once it has one.
    pub fn address(&self) -> Option<([u8; 4], u8, Option<[u8; 4]>)> {
        self.iface.ip_addrs().iter().find_map(|c| {
            let a = ipv4(c.address())?;
            Some((a.octets(), c.prefix_len(), self.gateway.map(|g| g.octets())))
        })
    }

    /// The device's drop counters.
    pub fn counters(&self) -> StackCounters {
        self.dev.counters
    }

    /// What happened since the last call (addresses gained or lost), one line each.
    pub fn take_notices(&mut self) -> Vec<String> {
        core::mem::take(&mut self.notices)
    }

    /// Queues a frame the bridge delivered; `false` (counted) if the queue was full.
    pub fn receive(&mut self, frame: &[u8]) -> bool {
        if self.dev.rx.len() >= RX_QUEUE {
            self.dev.counters.rx_dropped += 1;
            return false;
        }
        self.note_ttl(frame);
        self.dev.rx.push_back(frame.to_vec());
        true
    }

    /// The next frame the stack sent.
    pub fn take_tx(&mut self) -> Option<Vec<u8>> {
        self.dev.tx.pop_front()
    }

    /// Whether frames wait for [`poll`](Self::poll).
    pub fn rx_pending(&self) -> bool {
        !self.dev.rx.is_empty()
    }

    /// Runs the stack at `now_ns`: the frames received, then DHCP, the echo service and
    /// ping's replies, then whatever they send.
    pub fn poll(&mut self, now_ns: u64) {
        let now = instant(now_ns);
        self.iface.poll(now, &mut self.dev, &mut self.sockets);
        self.dhcp_events();
        self.serve_echo();
        self.listen_echo();
        self.collect_replies(now_ns);
        // The echo service's answers leave in this poll, not the next.
        self.iface
            .poll_egress(now, &mut self.dev, &mut self.sockets);
    }

    /// When the stack's next timer is due (`now_ns` or earlier: at once).
    pub fn poll_at(&mut self, now_ns: u64) -> Option<u64> {
        if self.rx_pending() {
            return Some(now_ns);
        }
        self.iface
            .poll_at(instant(now_ns), &self.sockets)
            .map(instant_ns)
    }

    fn dhcp_events(&mut self) {
        let Some(h) = self.dhcp else { return };
        let event = match self.sockets.get_mut::<dhcpv4::Socket>(h).poll() {
            None => return,
            Some(dhcpv4::Event::Configured(c)) => Some((c.address, c.router)),
            Some(dhcpv4::Event::Deconfigured) => None,
        };
        match event {
            Some((cidr, router)) => {
                self.set_address(Some(cidr), router);
                self.notices.push(format!(
                    "(net) xenbr0: {}/{} by DHCP, {}",
                    fmt_ip(cidr.address().octets()),
                    cidr.prefix_len(),
                    router.map_or_else(
                        || String::from("no gateway"),
                        |g| format!("gateway {}", fmt_ip(g.octets()))
                    )
                ));
            }
            None => {
                let had = self.address().is_some();
                self.set_address(None, None);
                if had {
                    self.notices
                        .push(String::from("(net) xenbr0: DHCP lease lost; no address"));
                }
            }
        }
    }

    /// Listening again on every echo socket whose connection is over.
    fn listen_echo(&mut self) {
        for &h in &self.echo {
            let s = self.sockets.get_mut::<tcp::Socket>(h);
            if !s.is_open() {
                // A closed socket always accepts a listen on a nonzero port.
                let _ = s.listen(ECHO_PORT);
            }
        }
    }

    /// Echoes what each connection received, as far as its send buffer has room (the rest
    /// waits in its receive buffer, which closes the peer's window); closes a connection
    /// whose peer has finished once everything is echoed.
    fn serve_echo(&mut self) {
        let mut buf = [0u8; 1024];
        for &h in &self.echo {
            let s = self.sockets.get_mut::<tcp::Socket>(h);
            while s.can_recv() && s.can_send() {
                let room = s.send_capacity() - s.send_queue();
                let take = room.min(buf.len());
                let n = s.recv_slice(&mut buf[..take]).unwrap_or(0);
                if n == 0 {
                    break;
                }
                let _ = s.send_slice(&buf[..n]);
            }
            if s.state() == tcp::State::CloseWait && s.send_queue() == 0 && !s.can_recv() {
                s.close();
            }
        }
    }

    /// Sends echo request `seq` to `dst` (it leaves at the next poll).
    pub fn ping_send(&mut self, dst: [u8; 4], seq: u16, now_ns: u64) -> Result<(), String> {
        let to = Ipv4Address::from(dst);
        if to.is_unspecified() || to.is_broadcast() || to.is_multicast() {
            return Err(format!("{}: not a unicast address", fmt_ip(dst)));
        }
        if self.address().is_none() {
            return Err(String::from(match self.addressing {
                Addressing::Dhcp => "xenbr0 has no address yet (no DHCP lease)",
                Addressing::Static { .. } => "xenbr0 has no address",
            }));
        }
        let mut data = [0u8; PING_DATA];
        data[..8].copy_from_slice(&now_ns.to_be_bytes());
        for (i, b) in data.iter_mut().enumerate().skip(8) {
            *b = i as u8;
        }
        let repr = Icmpv4Repr::EchoRequest {
            ident: self.ping.ident,
            seq_no: seq,
            data: &data,
        };
        let s = self.sockets.get_mut::<icmp::Socket>(self.icmp);
        let buf = s
            .send(repr.buffer_len(), IpAddress::Ipv4(to))
            .map_err(|_| String::from("too many echo requests queued"))?;
        repr.emit(
            &mut Icmpv4Packet::new_unchecked(buf),
            &ChecksumCapabilities::default(),
        );
        if self.ping.outstanding.len() >= PING_OUTSTANDING {
            self.ping.outstanding.pop_first();
        }
        self.ping.outstanding.insert(
            seq,
            Sent {
                dst: to,
                sent_ns: now_ns,
            },
        );
        self.ping.ttls.remove(&seq);
        Ok(())
    }

    /// The replies received since the last call.
    pub fn ping_replies(&mut self) -> Vec<PingReply> {
        core::mem::take(&mut self.ping.replies)
    }

    /// Forgets the echo requests in flight and the replies not taken (a new `ping`).
    pub fn ping_reset(&mut self) {
        self.ping.outstanding.clear();
        self.ping.ttls.clear();
        self.ping.replies.clear();
    }

    /// Remembers the TTL of a frame carrying a reply to one of our echo requests (the ICMP
    /// socket hands over the message only).
    fn note_ttl(&mut self, frame: &[u8]) {
        let Ok(eth) = EthernetFrame::new_checked(frame) else {
            return;
        };
        if eth.ethertype() != EthernetProtocol::Ipv4 {
            return;
        }
        let Ok(ip) = Ipv4Packet::new_checked(eth.payload()) else {
            return;
        };
        if ip.next_header() != IpProtocol::Icmp {
            return;
        }
        let Ok(icmp) = Icmpv4Packet::new_checked(ip.payload()) else {
            return;
        };
        if icmp.msg_type() == Icmpv4Message::EchoReply
            && icmp.echo_ident() == self.ping.ident
            && self.ping.outstanding.contains_key(&icmp.echo_seq_no())
        {
            self.ping.ttls.insert(icmp.echo_seq_no(), ip.hop_limit());
        }
    }

    /// Takes the replies smoltcp queued on the ping socket, keeping those that answer a
    /// request in flight (same sequence number, from its destination, with its data).
    fn collect_replies(&mut self, now_ns: u64) {
        let s = self.sockets.get_mut::<icmp::Socket>(self.icmp);
        let ping = &mut self.ping;
        while let Ok((msg, from)) = s.recv() {
            let Ok(packet) = Icmpv4Packet::new_checked(msg) else {
                continue;
            };
            let Ok(Icmpv4Repr::EchoReply {
                ident,
                seq_no,
                data,
            }) = Icmpv4Repr::parse(&packet, &ChecksumCapabilities::default())
            else {
                continue;
            };
            let Some(from) = ipv4(from) else {
                continue;
            };
            let ours = ident == ping.ident
                && ping.outstanding.get(&seq_no).is_some_and(|sent| {
                    sent.dst == from && data.get(..8) == Some(&sent.sent_ns.to_be_bytes()[..])
                });
            if !ours {
                continue;
            }
            let Some(sent) = ping.outstanding.remove(&seq_no) else {
                continue;
            };
            if ping.replies.len() < PING_REPLIES {
                ping.replies.push(PingReply {
                    seq: seq_no,
                    from: from.octets(),
                    bytes: msg.len(),
                    rtt_ns: now_ns.saturating_sub(sent.sent_ns),
                    ttl: ping.ttls.remove(&seq_no),
                });
            }
        }
    }

    /// Test hook: the interface, its device and sockets (e.g. to open a TCP client).
    #[cfg(test)]
    pub(crate) fn parts(&mut self) -> (&mut Interface, &mut Queues, &mut SocketSet<'static>) {
        (&mut self.iface, &mut self.dev, &mut self.sockets)
    }
}
