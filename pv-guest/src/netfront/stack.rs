//! The guest's TCP/IP stack (smoltcp) over any Ethernet [`Device`] (netfront's in the
//! guest, an in-memory wire in the host tests), with the services `test=net` runs:
//!
//! - the address: DHCP (smoltcp's DHCPv4 client) or static, with the default gateway;
//! - ICMP echo: smoltcp answers echo requests to our address by itself;
//! - TCP echo on port 7 ([`ECHO_CONNECTIONS`] at once);
//! - HTTP/1.0 on port 80 ([`HTTP_CONNECTIONS`] at once): any GET gets `200 OK`, text/plain,
//!   `hello from pv-guest <name>\n`; anything else `400`; the connection closes after it;
//!
//! and the client actions of the command line ([`Runner`]): ping, a TCP echo exchange, an
//! HTTP GET, one at a time, each printing one `NETFRONT ...` line.
//!
//! Time is the caller's, in nanoseconds of system time.

use super::options::{self, fmt_ip, Action, IpConfig, Target};
use alloc::collections::{BTreeSet, VecDeque};
use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use smoltcp::iface::{Config, Interface, SocketHandle, SocketSet};
use smoltcp::phy::{ChecksumCapabilities, Device};
use smoltcp::socket::{dhcpv4, icmp, tcp, udp};
use smoltcp::time::{Duration, Instant};
use smoltcp::wire::{
    EthernetAddress, HardwareAddress, Icmpv4Packet, Icmpv4Repr, IpAddress, IpCidr, Ipv4Address,
    Ipv4Cidr,
};

/// The TCP echo service's port (RFC 862).
pub const ECHO_PORT: u16 = 7;
/// The HTTP service's port.
pub const HTTP_PORT: u16 = 80;
/// Echo connections served at once.
pub const ECHO_CONNECTIONS: usize = 4;
/// HTTP connections served at once.
pub const HTTP_CONNECTIONS: usize = 4;
/// Each server socket's receive and send buffer.
const SERVER_BUFFER: usize = 4096;
/// A client socket's buffers.
const CLIENT_BUFFER: usize = 8192;
/// A peer that stops answering is dropped after this long.
const TCP_TIMEOUT: Duration = Duration::from_secs(60);
/// How many echo requests `ping` sends, and how far apart.
pub const PING_COUNT: u16 = 3;
const PING_INTERVAL_NS: u64 = 1_000_000_000;
/// How long `connect` may take in all.
pub const CONNECT_NS: u64 = 5_000_000_000;
/// How long `fetch` may take in all.
pub const FETCH_NS: u64 = 10_000_000_000;
/// Bytes of data in our echo requests.
const PING_DATA: usize = 56;
/// The first local port of our connections.
const FIRST_LOCAL_PORT: u16 = 49152;

/// smoltcp's time for `now_ns`.
pub fn instant(now_ns: u64) -> Instant {
    Instant::from_micros(i64::try_from(now_ns / 1000).unwrap_or(i64::MAX))
}

/// The socket our echo requests go out of and their replies come in to.
fn ping_socket(ident: u16) -> icmp::Socket<'static> {
    let mut s = icmp::Socket::new(
        icmp::PacketBuffer::new(vec![icmp::PacketMetadata::EMPTY; 8], vec![0; 1024]),
        icmp::PacketBuffer::new(vec![icmp::PacketMetadata::EMPTY; 8], vec![0; 1024]),
    );
    // Binding a fresh socket to an identifier cannot fail.
    let _ = s.bind(icmp::Endpoint::Ident(ident));
    s
}

struct Http {
    h: SocketHandle,
    req: Vec<u8>,
    answered: bool,
}

/// The interface, its sockets and services.
pub struct Net {
    iface: Interface,
    sockets: SocketSet<'static>,
    dhcp: Option<SocketHandle>,
    icmp: SocketHandle,
    ident: u16,
    echo: Vec<SocketHandle>,
    http: Vec<Http>,
    body: String,
    gateway: Option<[u8; 4]>,
    next_port: u16,
    replies: Vec<(u16, [u8; 4])>,
    notices: Vec<String>,
}

impl Net {
    /// The interface with MAC `mac` on `dev`, addressed by `ip`, serving `name` over HTTP.
    pub fn new<D: Device>(dev: &mut D, mac: [u8; 6], ip: IpConfig, name: &str, now_ns: u64) -> Net {
        let mut config = Config::new(HardwareAddress::Ethernet(EthernetAddress(mac)));
        // TCP's initial sequence numbers and DHCP's transaction ids: no entropy source
        // here; the MAC and the time at least differ between guests and boots.
        config.random_seed = mac.iter().fold(now_ns ^ 0xcbf2_9ce4_8422_2325, |h, &b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
        let iface = Interface::new(config, dev, instant(now_ns));
        let mut sockets = SocketSet::new(Vec::new());
        let dhcp = (ip == IpConfig::Dhcp).then(|| sockets.add(dhcpv4::Socket::new()));
        let ident = u16::from_be_bytes([mac[4], mac[5]]) ^ 0x6e66;
        let icmp = sockets.add(ping_socket(ident));
        let server = |sockets: &mut SocketSet<'static>| {
            let mut s = tcp::Socket::new(
                tcp::SocketBuffer::new(vec![0; SERVER_BUFFER]),
                tcp::SocketBuffer::new(vec![0; SERVER_BUFFER]),
            );
            s.set_timeout(Some(TCP_TIMEOUT));
            sockets.add(s)
        };
        let echo = (0..ECHO_CONNECTIONS)
            .map(|_| server(&mut sockets))
            .collect();
        let http = (0..HTTP_CONNECTIONS)
            .map(|_| Http {
                h: server(&mut sockets),
                req: Vec::new(),
                answered: false,
            })
            .collect();
        let mut net = Net {
            iface,
            sockets,
            dhcp,
            icmp,
            ident,
            echo,
            http,
            body: options::http_body(name),
            gateway: None,
            next_port: FIRST_LOCAL_PORT,
            replies: Vec::new(),
            notices: Vec::new(),
        };
        if let IpConfig::Static { addr, prefix, gw } = ip {
            net.set_address(Some(Ipv4Cidr::new(Ipv4Address::from(addr), prefix)), gw);
        }
        net.listen();
        net
    }

    /// (address, prefix, gateway) once configured.
    pub fn address(&self) -> Option<([u8; 4], u8, Option<[u8; 4]>)> {
        self.iface.ip_addrs().iter().find_map(|c| match c {
            IpCidr::Ipv4(c) => Some((c.address().octets(), c.prefix_len(), self.gateway)),
            #[allow(unreachable_patterns)]
            _ => None,
        })
    }

    /// Lines about addresses gained or lost since the last call.
    pub fn take_notices(&mut self) -> Vec<String> {
        core::mem::take(&mut self.notices)
    }

    fn set_address(&mut self, cidr: Option<Ipv4Cidr>, gw: Option<[u8; 4]>) {
        self.iface.update_ip_addrs(|addrs| {
            addrs.clear();
            if let Some(c) = cidr {
                // One address fits the list.
                let _ = addrs.push(IpCidr::Ipv4(c));
            }
        });
        let routes = self.iface.routes_mut();
        routes.remove_default_ipv4_route();
        self.gateway = None;
        if let (Some(_), Some(g)) = (cidr, gw) {
            if routes.add_default_ipv4_route(Ipv4Address::from(g)).is_ok() {
                self.gateway = Some(g);
            }
        }
    }

    /// Runs the stack at `now_ns`: frames in, the services, frames out.
    pub fn poll<D: Device>(&mut self, now_ns: u64, dev: &mut D) {
        let now = instant(now_ns);
        self.iface.poll(now, dev, &mut self.sockets);
        self.dhcp_events();
        self.serve_echo();
        self.serve_http();
        self.listen();
        self.collect_replies();
        // The services' answers leave in this poll, not the next.
        self.iface.poll_egress(now, dev, &mut self.sockets);
    }

    /// How long until the stack needs a poll without a frame arriving (None: not before
    /// one arrives).
    pub fn poll_delay_ns(&mut self, now_ns: u64) -> Option<u64> {
        self.iface
            .poll_delay(instant(now_ns), &self.sockets)
            .map(|d| d.total_micros().saturating_mul(1000))
    }

    fn dhcp_events(&mut self) {
        let Some(h) = self.dhcp else { return };
        let event = match self.sockets.get_mut::<dhcpv4::Socket>(h).poll() {
            None => return,
            Some(dhcpv4::Event::Configured(c)) => Some((c.address, c.router.map(|g| g.octets()))),
            Some(dhcpv4::Event::Deconfigured) => None,
        };
        match event {
            Some((address, gw)) => {
                self.set_address(Some(address), gw);
                self.notices.push(format!(
                    "dhcp: {}/{}",
                    fmt_ip(address.address().octets()),
                    address.prefix_len()
                ));
            }
            None => {
                if self.address().is_some() {
                    self.notices.push(String::from("dhcp: lease lost"));
                }
                self.set_address(None, None);
            }
        }
    }

    /// Every server socket whose connection is over listens again.
    fn listen(&mut self) {
        for &h in &self.echo {
            let s = self.sockets.get_mut::<tcp::Socket>(h);
            if !s.is_open() {
                // A closed socket always accepts a listen on a nonzero port.
                let _ = s.listen(ECHO_PORT);
            }
        }
        for c in &mut self.http {
            let s = self.sockets.get_mut::<tcp::Socket>(c.h);
            if !s.is_open() {
                c.req.clear();
                c.answered = false;
                let _ = s.listen(HTTP_PORT);
            }
        }
    }

    fn serve_echo(&mut self) {
        let mut buf = [0u8; 1024];
        for &h in &self.echo {
            let s = self.sockets.get_mut::<tcp::Socket>(h);
            while s.can_recv() && s.can_send() {
                let room = s.send_capacity() - s.send_queue();
                let n = s.recv_slice(&mut buf[..room.min(1024)]).unwrap_or(0);
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

    fn serve_http(&mut self) {
        for c in &mut self.http {
            let s = self.sockets.get_mut::<tcp::Socket>(c.h);
            if c.answered {
                // Discard what else the client sends.
                while s.can_recv() && s.recv(|b| (b.len(), ())).is_ok() {}
                continue;
            }
            while s.can_recv() && c.req.len() < options::MAX_REQUEST {
                let room = options::MAX_REQUEST - c.req.len();
                let got = s.recv(|b| {
                    let n = b.len().min(room);
                    (n, b[..n].to_vec())
                });
                match got {
                    Ok(b) if !b.is_empty() => c.req.extend_from_slice(&b),
                    _ => break,
                }
            }
            let mut kind = options::http_request(&c.req);
            if kind == options::HttpRequest::Incomplete && !s.may_recv() && s.is_active() {
                // The client finished sending without completing its header.
                kind = options::HttpRequest::Bad;
            }
            if kind != options::HttpRequest::Incomplete && s.can_send() {
                let resp = options::http_response(kind, &self.body);
                // The response fits the empty send buffer.
                let _ = s.send_slice(&resp);
                s.close();
                c.answered = true;
            }
        }
    }

    /// Sends echo request `seq` to `dst` (it leaves at the next poll).
    pub fn ping_send(&mut self, dst: [u8; 4], seq: u16) -> Result<(), String> {
        let data = [0x5au8; PING_DATA];
        let repr = Icmpv4Repr::EchoRequest {
            ident: self.ident,
            seq_no: seq,
            data: &data,
        };
        let s = self.sockets.get_mut::<icmp::Socket>(self.icmp);
        let buf = s
            .send(repr.buffer_len(), IpAddress::Ipv4(Ipv4Address::from(dst)))
            .map_err(|e| format!("cannot queue an echo request: {e}"))?;
        repr.emit(
            &mut Icmpv4Packet::new_unchecked(buf),
            &ChecksumCapabilities::default(),
        );
        Ok(())
    }

    fn collect_replies(&mut self) {
        let s = self.sockets.get_mut::<icmp::Socket>(self.icmp);
        while let Ok((msg, from)) = s.recv() {
            let Ok(p) = Icmpv4Packet::new_checked(msg) else {
                continue;
            };
            if let (Ok(Icmpv4Repr::EchoReply { ident, seq_no, .. }), IpAddress::Ipv4(from)) = (
                Icmpv4Repr::parse(&p, &ChecksumCapabilities::default()),
                from,
            ) {
                if ident == self.ident && self.replies.len() < 64 {
                    self.replies.push((seq_no, from.octets()));
                }
            }
        }
    }

    /// Ends a ping: forgets its replies and drops its requests still queued. (smoltcp keeps
    /// a request to a neighbour that never answers ARP queued and retries its ARP each
    /// second, which, ARP being rate-limited per interface, starves the ARP of later
    /// connections.)
    pub fn ping_reset(&mut self) {
        self.sockets.remove(self.icmp);
        self.icmp = self.sockets.add(ping_socket(self.ident));
        self.replies.clear();
    }

    /// The echo replies (sequence number, from) received since the last call.
    pub fn take_replies(&mut self) -> Vec<(u16, [u8; 4])> {
        core::mem::take(&mut self.replies)
    }

    /// Opens a TCP connection to `t` (it starts at the next poll).
    pub fn tcp_connect(&mut self, t: &Target) -> Result<SocketHandle, String> {
        let mut s = tcp::Socket::new(
            tcp::SocketBuffer::new(vec![0; CLIENT_BUFFER]),
            tcp::SocketBuffer::new(vec![0; CLIENT_BUFFER]),
        );
        s.set_timeout(Some(TCP_TIMEOUT));
        let port = self.next_port;
        self.next_port = self.next_port.checked_add(1).unwrap_or(FIRST_LOCAL_PORT);
        s.connect(
            self.iface.context(),
            (IpAddress::Ipv4(Ipv4Address::from(t.addr)), t.port),
            port,
        )
        .map_err(|e| format!("cannot connect: {e}"))?;
        Ok(self.sockets.add(s))
    }

    /// A UDP socket on a local port of ours, for `flood`.
    pub fn udp_open(&mut self) -> Result<SocketHandle, String> {
        let buffer = || {
            udp::PacketBuffer::new(
                vec![udp::PacketMetadata::EMPTY; 16],
                vec![0; 16 * (options::FLOOD_PAYLOAD + 64)],
            )
        };
        let mut s = udp::Socket::new(buffer(), buffer());
        let port = self.next_port;
        self.next_port = self.next_port.checked_add(1).unwrap_or(FIRST_LOCAL_PORT);
        s.bind(port).map_err(|e| format!("cannot bind: {e}"))?;
        Ok(self.sockets.add(s))
    }

    /// A UDP socket of ours.
    pub fn udp(&mut self, h: SocketHandle) -> &mut udp::Socket<'static> {
        self.sockets.get_mut::<udp::Socket>(h)
    }

    /// Forgets a socket of ours.
    pub fn remove(&mut self, h: SocketHandle) {
        self.sockets.remove(h);
    }

    /// A socket of ours.
    pub fn tcp(&mut self, h: SocketHandle) -> &mut tcp::Socket<'static> {
        self.sockets.get_mut::<tcp::Socket>(h)
    }
}

/// The client action running now.
enum Active {
    Ping {
        dst: [u8; 4],
        sent: u16,
        got: BTreeSet<u16>,
        next_ns: u64,
    },
    Tcp {
        target: Target,
        /// `connect`'s message (with its newline), or None for `fetch`.
        msg: Option<Vec<u8>>,
        h: SocketHandle,
        request_sent: bool,
        established: bool,
        got: Vec<u8>,
        deadline: u64,
    },
    Flood {
        target: Target,
        h: SocketHandle,
        secs: u32,
        until_ns: u64,
        sent: u64,
    },
}

/// How often a flood refills its socket.
const FLOOD_STEP_NS: u64 = 1_000_000;

/// Runs the command line's actions one after the other once the interface has an address.
pub struct Runner {
    todo: VecDeque<Action>,
    active: Option<Active>,
    /// Sockets of finished actions, closing.
    closing: Vec<SocketHandle>,
}

impl Runner {
    /// Will run `actions` in order.
    pub fn new(actions: Vec<Action>) -> Runner {
        Runner {
            todo: actions.into(),
            active: None,
            closing: Vec::new(),
        }
    }

    /// Whether every action is done.
    #[cfg(test)]
    pub fn finished(&self) -> bool {
        self.todo.is_empty() && self.active.is_none()
    }

    /// Advances the actions at `now_ns` (after a poll of `net`): the result lines of those
    /// that finished, and when the running one next needs a step without a frame arriving.
    pub fn step(&mut self, net: &mut Net, now_ns: u64) -> (Vec<String>, Option<u64>) {
        let mut lines = Vec::new();
        if net.address().is_none() {
            return (lines, None);
        }
        loop {
            if self.active.is_none() {
                let Some(a) = self.todo.pop_front() else {
                    return (lines, None);
                };
                match self.start(a, net, now_ns) {
                    Ok(()) => {}
                    Err(line) => {
                        lines.push(line);
                        continue;
                    }
                }
            }
            match self.advance(net, now_ns) {
                Ok(line) => {
                    self.active = None;
                    lines.push(line);
                }
                Err(wake) => return (lines, wake),
            }
        }
    }

    fn start(&mut self, a: Action, net: &mut Net, now_ns: u64) -> Result<(), String> {
        self.active = Some(match a {
            Action::Ping(dst) => Active::Ping {
                dst,
                sent: 0,
                got: BTreeSet::new(),
                next_ns: now_ns,
            },
            Action::Connect(target, msg) => {
                let h = net
                    .tcp_connect(&target)
                    .map_err(|e| format!("NETFRONT connect {target}: FAILED ({e})"))?;
                let mut m = msg.into_bytes();
                m.push(b'\n');
                Active::Tcp {
                    target,
                    msg: Some(m),
                    h,
                    request_sent: false,
                    established: false,
                    got: Vec::new(),
                    deadline: now_ns + CONNECT_NS,
                }
            }
            Action::Flood(target, secs) => {
                let h = net
                    .udp_open()
                    .map_err(|e| format!("NETFRONT flood {target}: FAILED ({e})"))?;
                Active::Flood {
                    target,
                    h,
                    secs,
                    until_ns: now_ns + u64::from(secs) * 1_000_000_000,
                    sent: 0,
                }
            }
            Action::Fetch(target) => {
                let h = net
                    .tcp_connect(&target)
                    .map_err(|e| format!("NETFRONT fetch {target}{}: FAILED ({e})", target.path))?;
                Active::Tcp {
                    target,
                    msg: None,
                    h,
                    request_sent: false,
                    established: false,
                    got: Vec::new(),
                    deadline: now_ns + FETCH_NS,
                }
            }
        });
        Ok(())
    }

    /// Ok(line) when the active action is done, else Err(when to step next).
    fn advance(&mut self, net: &mut Net, now_ns: u64) -> Result<String, Option<u64>> {
        let closing = &mut self.closing;
        closing.retain(|&h| net.tcp(h).is_open());
        match self.active.as_mut() {
            None => Err(None),
            Some(Active::Flood {
                target,
                h,
                secs,
                until_ns,
                sent,
            }) => {
                let h = *h;
                if now_ns >= *until_ns {
                    net.remove(h);
                    return Ok(format!(
                        "NETFRONT flood {target}: {sent} datagrams of {} bytes queued in {secs} s",
                        options::FLOOD_PAYLOAD
                    ));
                }
                let to = smoltcp::wire::IpEndpoint::new(
                    IpAddress::Ipv4(Ipv4Address::from(target.addr)),
                    target.port,
                );
                let payload = [0x5Au8; options::FLOOD_PAYLOAD];
                let s = net.udp(h);
                while s.can_send() && s.send_slice(&payload, to).is_ok() {
                    *sent += 1;
                }
                Err(Some((now_ns + FLOOD_STEP_NS).min(*until_ns)))
            }
            Some(Active::Ping {
                dst,
                sent,
                got,
                next_ns,
            }) => {
                for (seq, from) in net.take_replies() {
                    if from == *dst && (1..=*sent).contains(&seq) {
                        got.insert(seq);
                    }
                }
                if *sent < PING_COUNT && now_ns >= *next_ns {
                    *sent += 1;
                    // A request that cannot be queued counts as sent and lost.
                    let _ = net.ping_send(*dst, *sent);
                    *next_ns = now_ns + PING_INTERVAL_NS;
                }
                let all = got.len() == usize::from(PING_COUNT);
                if *sent == PING_COUNT && (all || now_ns >= *next_ns) {
                    net.ping_reset();
                    return Ok(format!(
                        "NETFRONT ping {}: {} sent, {} received",
                        fmt_ip(*dst),
                        sent,
                        got.len()
                    ));
                }
                Err(Some(*next_ns))
            }
            Some(Active::Tcp {
                target,
                msg,
                h,
                request_sent,
                established,
                got,
                deadline,
            }) => {
                let h = *h;
                let what = match msg {
                    Some(_) => format!("connect {target}"),
                    None => format!("fetch {target}{}", target.path),
                };
                let s = net.tcp(h);
                if s.state() == tcp::State::Established {
                    *established = true;
                }
                if !*request_sent && s.can_send() {
                    let req = match msg {
                        Some(m) => m.clone(),
                        None => options::http_get(&fmt_ip(target.addr), &target.path),
                    };
                    if s.send_slice(&req).is_ok_and(|n| n == req.len()) {
                        *request_sent = true;
                    }
                }
                while s.can_recv() {
                    match s.recv(|b| (b.len(), b.to_vec())) {
                        Ok(b) if !b.is_empty() => got.extend_from_slice(&b),
                        _ => break,
                    }
                }
                let peer_done = *established && !s.may_recv();
                let result =
                    match msg {
                        Some(m) if got.len() >= m.len() => Some(if got[..m.len()] == m[..] {
                            Ok(format!("echoed {} bytes ok", m.len()))
                        } else {
                            Err(format!("echoed {} bytes that differ", m.len()))
                        }),
                        Some(m) if peer_done || (*established && !s.is_open()) => Some(Err(
                            format!("connection closed after {} of {} bytes", got.len(), m.len()),
                        )),
                        None if peer_done || (*established && !s.is_open()) => {
                            Some(match options::http_status(got) {
                                Ok((code, n)) => Ok(format!("status {code}, {n} bytes")),
                                Err(e) => Err(e),
                            })
                        }
                        _ if !*established && !s.is_open() => {
                            Some(Err(String::from("connection refused")))
                        }
                        _ if now_ns >= *deadline => Some(Err(format!(
                            "timed out in state {} after {} bytes",
                            s.state(),
                            got.len()
                        ))),
                        _ => None,
                    };
                match result {
                    None => Err(Some(*deadline)),
                    Some(r) => {
                        let s = net.tcp(h);
                        if r.is_ok() {
                            s.close();
                        } else {
                            s.abort();
                        }
                        closing.push(h);
                        Ok(match r {
                            Ok(t) => format!("NETFRONT {what}: {t}"),
                            Err(e) => format!("NETFRONT {what}: FAILED ({e})"),
                        })
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use smoltcp::phy::{self, DeviceCapabilities, Medium};

    /// One end of an in-memory Ethernet wire.
    #[derive(Default)]
    struct Wire {
        rx: VecDeque<Vec<u8>>,
        tx: VecDeque<Vec<u8>>,
    }

    struct Rx(Vec<u8>);
    struct Tx<'a>(&'a mut VecDeque<Vec<u8>>);

    impl phy::RxToken for Rx {
        fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
            f(&self.0)
        }
    }

    impl phy::TxToken for Tx<'_> {
        fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
            let mut b = vec![0; len];
            let r = f(&mut b);
            self.0.push_back(b);
            r
        }
    }

    impl Device for Wire {
        type RxToken<'a> = Rx;
        type TxToken<'a> = Tx<'a>;
        fn receive(&mut self, _: Instant) -> Option<(Rx, Tx<'_>)> {
            let f = self.rx.pop_front()?;
            Some((Rx(f), Tx(&mut self.tx)))
        }
        fn transmit(&mut self, _: Instant) -> Option<Tx<'_>> {
            Some(Tx(&mut self.tx))
        }
        fn capabilities(&self) -> DeviceCapabilities {
            let mut c = DeviceCapabilities::default();
            c.medium = Medium::Ethernet;
            c.max_transmission_unit = 1514;
            c
        }
    }

    fn stat(a: u8) -> IpConfig {
        IpConfig::Static {
            addr: [10, 0, 2, a],
            prefix: 24,
            gw: Some([10, 0, 2, 2]),
        }
    }

    /// Two stacks on a wire; runs `actions` on the first against the second (10.0.2.21,
    /// named "b") for at most `secs` of simulated time; the lines printed.
    fn run(actions: Vec<Action>, secs: u64) -> Vec<String> {
        let (mut wa, mut wb) = (Wire::default(), Wire::default());
        let mut a = Net::new(&mut wa, [0, 0x16, 0x3e, 0, 0, 1], stat(20), "a", 0);
        let mut b = Net::new(&mut wb, [0, 0x16, 0x3e, 0, 0, 2], stat(21), "b", 0);
        assert_eq!(a.address(), Some(([10, 0, 2, 20], 24, Some([10, 0, 2, 2]))));
        let mut r = Runner::new(actions);
        let mut lines = Vec::new();
        let mut now = 0u64;
        while now < secs * 1_000_000_000 && !r.finished() {
            a.poll(now, &mut wa);
            let (l, _) = r.step(&mut a, now);
            lines.extend(l);
            wb.rx.extend(wa.tx.drain(..));
            b.poll(now, &mut wb);
            wa.rx.extend(wb.tx.drain(..));
            now += 1_000_000;
        }
        lines
    }

    fn target(a: u8, port: u16, path: &str) -> Target {
        Target {
            addr: [10, 0, 2, a],
            port,
            path: String::from(path),
        }
    }

    #[test]
    fn ping_echo_and_http_between_two_guests() {
        let lines = run(
            vec![
                Action::Ping([10, 0, 2, 21]),
                Action::Connect(target(21, ECHO_PORT, "/"), String::from("hello")),
                Action::Fetch(target(21, HTTP_PORT, "/index.html")),
                Action::Fetch(target(21, HTTP_PORT, "/")),
            ],
            30,
        );
        assert_eq!(
            lines,
            [
                "NETFRONT ping 10.0.2.21: 3 sent, 3 received",
                "NETFRONT connect 10.0.2.21:7: echoed 6 bytes ok",
                "NETFRONT fetch 10.0.2.21:80/index.html: status 200, 22 bytes",
                "NETFRONT fetch 10.0.2.21:80/: status 200, 22 bytes",
            ]
        );
    }

    #[test]
    fn failures_are_reported_not_waited_for_forever() {
        let lines = run(
            vec![
                Action::Ping([10, 0, 2, 99]),
                Action::Connect(target(21, 9, "/"), String::from("x")),
                Action::Fetch(target(21, ECHO_PORT, "/")),
                Action::Connect(target(99, 7, "/"), String::from("x")),
            ],
            60,
        );
        assert_eq!(
            lines[..3],
            [
                "NETFRONT ping 10.0.2.99: 3 sent, 0 received",
                "NETFRONT connect 10.0.2.21:9: FAILED (connection refused)",
                "NETFRONT fetch 10.0.2.21:7/: FAILED (timed out in state ESTABLISHED after 57 bytes)",
            ]
        );
        assert!(
            lines[3]
                .starts_with("NETFRONT connect 10.0.2.99:7: FAILED (timed out in state SYN-SENT"),
            "{}",
            lines[3]
        );
    }
}
