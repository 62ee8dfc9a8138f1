//! dom0's network commands, over the toolstack's [`Network`]:
//!
//! - `ip addr` (also `ifconfig`): `xenbr0`, dom0's own interface, with its MAC, IPv4 address
//!   and how it was obtained, then each port of the bridge with its counters;
//! - `brctl show` (and `brctl showmacs xenbr0`): the bridge, its ports and the addresses it
//!   learnt, with their age;
//! - `ping [-c N] ADDRESS`: N (default 3, at most 100) echo requests a second apart, as
//!   busybox prints them:
//!
//! ```text
//! PING 10.0.2.2 (10.0.2.2): 56 data bytes
//! 64 bytes from 10.0.2.2: seq=0 ttl=255 time=1.234 ms
//!
//! --- 10.0.2.2 ping statistics ---
//! 1 packets transmitted, 1 packets received, 0% packet loss
//! round-trip min/avg/max = 1.234/1.234/1.234 ms
//! ```
//!
//! Without a NIC dom0 has no network, and each command says so.

use crate::hv::Hypervisor;
use crate::net::stack::{fmt_ip, PING_DATA};
use crate::net::{fmt_mac, Addressing, Network, PortKind, BRIDGE_NAME};
use crate::xl::Toolstack;
use alloc::vec::Vec;
use core::fmt::Write;

const NO_NETWORK: &str = "no network (no NIC found)";
const PING_USAGE: &str = "usage: ping [-c N] ADDRESS   (N: 1..100, default 3)";
/// The most echo requests one `ping` sends.
pub const PING_MAX: u16 = 100;
/// Time between echo requests, and the longest wait for the last reply.
const PING_INTERVAL_NS: u64 = 1_000_000_000;
/// Without a clock, each [`Hypervisor::relax`] counts as this long (pv-guest's dom0 blocks
/// at most 1 ms in it).
const RELAX_NS: u64 = 1_000_000;

/// `ip addr` / `ifconfig`: the interfaces and ports.
pub fn ip(net: Option<&mut Network>, cmd: &str, args: &[&str], out: &mut dyn Write) {
    let ok = match (cmd, args) {
        ("ifconfig", [] | ["-a"]) => true,
        ("ifconfig", [name]) => *name == BRIDGE_NAME,
        ("ip", ["a" | "addr" | "address"] | ["a" | "addr" | "address", "show" | "list"]) => true,
        _ => false,
    };
    if !ok {
        let _ = writeln!(
            out,
            "usage: ip addr (or ifconfig): dom0's interface {BRIDGE_NAME} and its ports"
        );
        return;
    }
    let Some(net) = net else {
        let _ = writeln!(out, "{cmd}: {NO_NETWORK}");
        return;
    };
    for (i, p) in net.ports().iter().enumerate() {
        let master = if p.kind == PortKind::Local {
            ""
        } else {
            " master xenbr0"
        };
        let _ = writeln!(out, "{}: {}: <UP> mtu 1500{master}", i + 1, p.name);
        let _ = writeln!(out, "    link/ether {}", fmt_mac(&p.mac));
        let c = p.counters;
        // The bridge counts what a port hands it (rx) and what it hands the port (tx): for
        // dom0's own interface that is what it sends and receives, the other way round.
        let (rx, rx_bytes, rx_drop, tx, tx_bytes, tx_drop) = if p.kind == PortKind::Local {
            let _ = writeln!(out, "    {}", inet_line(net));
            (
                c.tx_frames,
                c.tx_bytes,
                c.tx_dropped,
                c.rx_frames,
                c.rx_bytes,
                c.rx_dropped,
            )
        } else {
            (
                c.rx_frames,
                c.rx_bytes,
                c.rx_dropped,
                c.tx_frames,
                c.tx_bytes,
                c.tx_dropped,
            )
        };
        let _ = writeln!(
            out,
            "    RX: {rx} frames {rx_bytes} bytes {rx_drop} dropped  \
             TX: {tx} frames {tx_bytes} bytes {tx_drop} dropped"
        );
    }
}

/// `inet 10.0.2.15/24 (DHCP), gateway 10.0.2.2`, or why there is no address.
fn inet_line(net: &Network) -> alloc::string::String {
    let how = match net.addressing() {
        Addressing::Dhcp => "DHCP",
        Addressing::Static { .. } => "static",
    };
    match net.address() {
        Some((a, prefix, gw)) => alloc::format!(
            "inet {}/{prefix} ({how}), {}",
            fmt_ip(a),
            gw.map_or_else(
                || alloc::string::String::from("no gateway"),
                |g| alloc::format!("gateway {}", fmt_ip(g))
            )
        ),
        None if how == "DHCP" => alloc::string::String::from("inet: none yet (DHCP: no lease)"),
        None => alloc::string::String::from("inet: none (the static address was refused)"),
    }
}

/// `brctl show [xenbr0]` / `brctl showmacs xenbr0`.
pub fn brctl(net: Option<&mut Network>, now_ns: Option<u64>, args: &[&str], out: &mut dyn Write) {
    let (show, macs) = match args {
        ["show"] => (true, true),
        ["show", b] if *b == BRIDGE_NAME => (true, true),
        ["showmacs", b] if *b == BRIDGE_NAME => (false, true),
        ["show" | "showmacs", b] => {
            let _ = writeln!(out, "brctl: bridge {b} does not exist (only {BRIDGE_NAME})");
            return;
        }
        _ => {
            let _ = writeln!(
                out,
                "usage: brctl show [{BRIDGE_NAME}] | brctl showmacs {BRIDGE_NAME}"
            );
            return;
        }
    };
    let Some(net) = net else {
        let _ = writeln!(out, "brctl: {NO_NETWORK}");
        return;
    };
    let ports = net.ports();
    if show {
        let mac = net.mac();
        let id = alloc::format!(
            "8000.{:02x}{:02x}{:02x}{:02x}{:02x}{:02x}",
            mac[0],
            mac[1],
            mac[2],
            mac[3],
            mac[4],
            mac[5]
        );
        let _ = writeln!(
            out,
            "bridge name  bridge id          STP enabled  interfaces"
        );
        let members: Vec<&str> = ports
            .iter()
            .filter(|p| p.kind != PortKind::Local)
            .map(|p| p.name.as_str())
            .collect();
        let first = members.first().copied().unwrap_or("");
        let _ = writeln!(out, "{BRIDGE_NAME:<12} {id:<18} no           {first}");
        for m in members.iter().skip(1) {
            let _ = writeln!(out, "{:<45}{m}", "");
        }
        let c = net.bridge_counters();
        let _ = writeln!(
            out,
            "dropped: {} runt, {} oversize, {} bad source, {} filtered; \
             {} flooded; {} not learnt (table full)",
            c.runts, c.oversize, c.bad_source, c.filtered, c.flooded, c.not_learnt
        );
    }
    if macs {
        if show {
            let _ = writeln!(out);
        }
        let now = now_ns.unwrap_or(0);
        let _ = writeln!(out, "port      mac addr           is local?  ageing timer");
        for e in net.fdb(now) {
            let name = net.port_name(e.port).unwrap_or("?");
            let secs = e.age_ns / 1_000_000_000;
            let centis = e.age_ns % 1_000_000_000 / 10_000_000;
            let _ = writeln!(
                out,
                "{name:<9} {}  {:<9}  {secs:>6}.{centis:02}",
                fmt_mac(&e.mac),
                if e.local { "yes" } else { "no" }
            );
        }
    }
}

/// What `ping`'s arguments ask for: (count, address).
fn ping_args<'a>(args: &[&'a str]) -> Result<(u16, [u8; 4], &'a str), alloc::string::String> {
    let mut count = 3u16;
    let mut addr = None;
    let mut it = args.iter().copied();
    while let Some(a) = it.next() {
        let value = match a {
            "-c" => Some(it.next().ok_or("ping: -c wants a count (1..100)")?),
            _ => a.strip_prefix("-c").filter(|v| !v.is_empty()),
        };
        if let Some(v) = value {
            count = v
                .parse::<u16>()
                .ok()
                .filter(|n| (1..=PING_MAX).contains(n))
                .ok_or_else(|| alloc::format!("ping: -c wants 1..100, not '{v}'"))?;
        } else if a.starts_with('-') && a.len() > 1 {
            return Err(alloc::format!("ping: unknown option '{a}'\n{PING_USAGE}"));
        } else if addr.replace(a).is_some() {
            return Err(alloc::format!("ping: one address only ('{a}' is extra)"));
        }
    }
    let a = addr.ok_or_else(|| alloc::string::String::from(PING_USAGE))?;
    let ip = parse_ipv4(a).ok_or_else(|| alloc::format!("ping: bad address '{a}'"))?;
    Ok((count, ip, a))
}

/// A dotted-decimal IPv4 address (four numbers 0..255, nothing else).
pub fn parse_ipv4(s: &str) -> Option<[u8; 4]> {
    s.parse::<core::net::Ipv4Addr>().ok().map(|a| a.octets())
}

/// `1.234` (milliseconds, three decimals) of `ns`.
fn fmt_ms(ns: u64) -> alloc::string::String {
    let us = ns / 1000;
    alloc::format!("{}.{:03}", us / 1000, us % 1000)
}

/// `ping [-c N] ADDRESS`: one echo request a second, each reply printed as it comes, then
/// the statistics. While it waits it polls the network and serves the back ends (as
/// `xl shutdown -w` does), letting the CPU go between polls.
pub fn ping<H: Hypervisor>(ts: &mut Toolstack<'_, H>, args: &[&str], out: &mut dyn Write) {
    let (count, dst, name) = match ping_args(args) {
        Ok(a) => a,
        Err(e) => {
            let _ = writeln!(out, "{e}");
            return;
        }
    };
    let Some(net) = ts.network() else {
        let _ = writeln!(out, "ping: {NO_NETWORK}");
        return;
    };
    net.ping_reset();
    let _ = writeln!(out, "PING {name} ({}): {PING_DATA} data bytes", fmt_ip(dst));
    // Without a clock, time is counted in relaxes (and the times printed are estimates).
    let mut fake_ns = 0u64;
    let now = |ts: &mut Toolstack<'_, H>, fake: u64| ts.hypervisor().now_ns().unwrap_or(fake);
    let mut sent = 0u32;
    let mut rtts: Vec<u64> = Vec::new();
    for seq in 0..count {
        let t0 = now(ts, fake_ns);
        let Some(net) = ts.network() else { break };
        if let Err(e) = net.ping_send(dst, seq, t0) {
            let _ = writeln!(out, "ping: {e}");
            if sent == 0 {
                return;
            }
            break;
        }
        sent += 1;
        let last = seq + 1 == count;
        loop {
            let t = now(ts, fake_ns);
            if let Some(net) = ts.network() {
                net.poll(t);
                for r in net.ping_replies() {
                    let ttl = r
                        .ttl
                        .map(|t| alloc::format!(" ttl={t}"))
                        .unwrap_or_default();
                    let _ = writeln!(
                        out,
                        "{} bytes from {}: seq={}{ttl} time={} ms",
                        r.bytes,
                        fmt_ip(r.from),
                        r.seq,
                        fmt_ms(r.rtt_ns)
                    );
                    rtts.push(r.rtt_ns);
                }
            }
            let all_back = rtts.len() as u32 >= sent;
            if t.saturating_sub(t0) >= PING_INTERVAL_NS || (last && all_back) {
                break;
            }
            ts.service_backends(out, false);
            ts.hypervisor().relax();
            fake_ns += RELAX_NS;
        }
    }
    let received = rtts.len() as u32;
    let loss = (sent - received.min(sent)) * 100 / sent.max(1);
    let _ = writeln!(out, "\n--- {name} ping statistics ---");
    let _ = writeln!(
        out,
        "{sent} packets transmitted, {received} packets received, {loss}% packet loss"
    );
    if let (Some(min), Some(max)) = (rtts.iter().min(), rtts.iter().max()) {
        let avg = rtts.iter().sum::<u64>() / rtts.len() as u64;
        let _ = writeln!(
            out,
            "round-trip min/avg/max = {}/{}/{} ms",
            fmt_ms(*min),
            fmt_ms(avg),
            fmt_ms(*max)
        );
    }
}

#[cfg(test)]
mod tests {
    use crate::initrd::{write_newc, Initrd};
    use crate::net::{Addressing, Mac, Network, Nic};
    use crate::shell::Shell;
    use crate::testhv::TestHv;
    use crate::xl::Toolstack;
    use alloc::boxed::Box;
    use alloc::collections::VecDeque;
    use alloc::rc::Rc;
    use alloc::string::String;
    use alloc::vec::Vec;
    use core::cell::RefCell;

    type Queue = Rc<RefCell<VecDeque<Vec<u8>>>>;

    /// A NIC end whose frames land in `out`, reading `inp`.
    struct End {
        mac: Mac,
        out: Queue,
        inp: Queue,
    }

    impl Nic for End {
        fn mac(&self) -> Mac {
            self.mac
        }
        fn send(&mut self, frame: &[u8]) -> bool {
            self.out.borrow_mut().push_back(frame.to_vec());
            true
        }
        fn receive(&mut self) -> Option<Vec<u8>> {
            self.inp.borrow_mut().pop_front()
        }
    }

    /// dom0's NIC, cabled to a peer machine (another [`Network`], 10.0.0.2) that runs
    /// whenever dom0 looks for frames.
    struct ToPeer {
        end: End,
        peer: Network,
    }

    impl Nic for ToPeer {
        fn mac(&self) -> Mac {
            self.end.mac
        }
        fn send(&mut self, frame: &[u8]) -> bool {
            self.end.send(frame)
        }
        fn receive(&mut self) -> Option<Vec<u8>> {
            // The peer's timers do not matter: it only answers.
            self.peer.poll(0);
            self.end.receive()
        }
    }

    const IP: [u8; 4] = [10, 0, 0, 1];
    const PEER_IP: [u8; 4] = [10, 0, 0, 2];

    fn peer_nic() -> Box<dyn Nic> {
        let ab: Queue = Rc::default();
        let ba: Queue = Rc::default();
        let mut peer = Network::new(
            Addressing::Static {
                address: PEER_IP,
                prefix: 24,
                gateway: None,
            },
            [0x02, 0, 0, 0, 0, 0x0b],
        );
        peer.attach_nic(
            "eth0",
            Box::new(End {
                mac: [0x52, 0x54, 0, 0, 0, 0x0b],
                out: ba.clone(),
                inp: ab.clone(),
            }),
        );
        Box::new(ToPeer {
            end: End {
                mac: [0x52, 0x54, 0, 0x12, 0x34, 0x56],
                out: ab,
                inp: ba,
            },
            peer,
        })
    }

    /// A shell whose toolstack has `net`; runs `f` on it.
    fn with_net(net: Option<Network>, f: impl FnOnce(&mut Shell<'_, TestHv>)) {
        let rd = write_newc(&[("/etc/xen/x.cfg", b"")]);
        let mut ts = Toolstack::new(TestHv::boot(64), Initrd::parse(&rd).unwrap());
        if let Some(n) = net {
            ts.set_network(n);
        }
        let mut sh = Shell::new(ts);
        f(&mut sh);
    }

    fn run(sh: &mut Shell<'_, TestHv>, line: &str) -> String {
        let mut out = String::new();
        sh.run_line(line, &mut out);
        out
    }

    fn lab() -> Network {
        let mut n = Network::new(
            Addressing::Static {
                address: IP,
                prefix: 24,
                gateway: Some([10, 0, 0, 254]),
            },
            [0x02, 0, 0, 0, 0, 0x0a],
        );
        n.attach_nic("eth0", peer_nic());
        n
    }

    #[test]
    fn without_a_network_every_command_says_so() {
        with_net(None, |sh| {
            assert_eq!(run(sh, "ip addr"), "ip: no network (no NIC found)\n");
            assert_eq!(run(sh, "ifconfig"), "ifconfig: no network (no NIC found)\n");
            assert_eq!(run(sh, "brctl show"), "brctl: no network (no NIC found)\n");
            assert_eq!(
                run(sh, "ping 10.0.2.2"),
                "ping: no network (no NIC found)\n"
            );
            assert!(run(sh, "help").contains("ping [-c N] ADDRESS"));
        });
    }

    #[test]
    fn bad_arguments_are_named() {
        with_net(None, |sh| {
            for (line, want) in [
                ("ping", "usage: ping [-c N] ADDRESS"),
                ("ping 1.2.3", "ping: bad address '1.2.3'"),
                ("ping 1.2.3.256", "ping: bad address '1.2.3.256'"),
                ("ping 1.2.3.4.5", "ping: bad address '1.2.3.4.5'"),
                ("ping ' 1.2.3.4'", "ping: bad address ' 1.2.3.4'"),
                ("ping -c 0 1.2.3.4", "ping: -c wants 1..100, not '0'"),
                ("ping -c 101 1.2.3.4", "ping: -c wants 1..100, not '101'"),
                ("ping -cx 1.2.3.4", "ping: -c wants 1..100, not 'x'"),
                ("ping 1.2.3.4 -c", "ping: -c wants a count (1..100)"),
                ("ping -x 1.2.3.4", "ping: unknown option '-x'"),
                (
                    "ping 1.2.3.4 5.6.7.8",
                    "ping: one address only ('5.6.7.8' is extra)",
                ),
                ("ip route", "usage: ip addr"),
                ("ifconfig eth9", "usage: ip addr"),
                ("brctl", "usage: brctl show"),
                (
                    "brctl show br1",
                    "brctl: bridge br1 does not exist (only xenbr0)",
                ),
            ] {
                let out = run(sh, line);
                assert!(out.starts_with(want), "{line}: {out}");
            }
        });
    }

    #[test]
    fn ip_addr_shows_the_interface_and_ports() {
        with_net(Some(lab()), |sh| {
            let out = run(sh, "ip addr");
            let want = [
                "1: xenbr0: <UP> mtu 1500",
                "    link/ether 02:00:00:00:00:0a",
                "    inet 10.0.0.1/24 (static), gateway 10.0.0.254",
                "    RX: 0 frames 0 bytes 0 dropped  TX: 0 frames 0 bytes 0 dropped",
                "2: eth0: <UP> mtu 1500 master xenbr0",
                "    link/ether 52:54:00:12:34:56",
                "    RX: 0 frames 0 bytes 0 dropped  TX: 0 frames 0 bytes 0 dropped",
            ];
            assert_eq!(out.lines().collect::<Vec<_>>(), want, "{out}");
            assert_eq!(run(sh, "ifconfig"), out);
        });
        let mut d = Network::new(Addressing::Dhcp, [0x02, 0, 0, 0, 0, 1]);
        d.attach_nic("eth0", peer_nic());
        with_net(Some(d), |sh| {
            assert!(run(sh, "ip a").contains("    inet: none yet (DHCP: no lease)\n"));
            assert_eq!(
                run(sh, "ping 10.0.0.2"),
                "PING 10.0.0.2 (10.0.0.2): 56 data bytes\n\
                 ping: xenbr0 has no address yet (no DHCP lease)\n"
            );
        });
    }

    #[test]
    fn ping_prints_replies_and_statistics_then_brctl_shows_what_was_learnt() {
        with_net(Some(lab()), |sh| {
            let out = run(sh, "ping -c 2 10.0.0.2");
            let lines: Vec<&str> = out.lines().collect();
            assert_eq!(lines[0], "PING 10.0.0.2 (10.0.0.2): 56 data bytes", "{out}");
            for (i, l) in lines[1..3].iter().enumerate() {
                let want = alloc::format!("64 bytes from 10.0.0.2: seq={i} ttl=64 time=");
                assert!(l.starts_with(&want) && l.ends_with(" ms"), "{out}");
            }
            assert_eq!(
                lines[3..6],
                [
                    "",
                    "--- 10.0.0.2 ping statistics ---",
                    "2 packets transmitted, 2 packets received, 0% packet loss",
                ],
                "{out}"
            );
            assert!(lines[6].starts_with("round-trip min/avg/max = "), "{out}");

            let out = run(sh, "brctl show");
            let lines: Vec<&str> = out.lines().collect();
            assert_eq!(
                lines[1], "xenbr0       8000.02000000000a  no           eth0",
                "{out}"
            );
            assert!(lines[2].starts_with("dropped: 0 runt, 0 oversize"), "{out}");
            assert!(
                out.contains("xenbr0    02:00:00:00:00:0a  yes             0.00\n"),
                "{out}"
            );
            assert!(out.contains("eth0      02:00:00:00:00:0b  no   "), "{out}");
            let macs = run(sh, "brctl showmacs xenbr0");
            assert!(macs.starts_with("port "), "{macs}");
            assert_eq!(macs.lines().count(), 3, "{macs}");

            // Nobody has 10.0.0.9.
            let out = run(sh, "ping -c 1 10.0.0.9");
            assert!(
                out.ends_with("1 packets transmitted, 0 packets received, 100% packet loss\n"),
                "{out}"
            );
            assert_eq!(
                run(sh, "ping 255.255.255.255").lines().nth(1),
                Some("ping: 255.255.255.255: not a unicast address")
            );
        });
    }

    #[test]
    fn the_address_is_shown_by_ip_addr_not_printed_at_the_prompt() {
        with_net(Some(lab()), |sh| {
            let mut out = String::new();
            sh.poll(&mut out);
            assert!(!out.contains("(net)"), "printed at the prompt: {out}");
            let shown = run(sh, "ip addr");
            assert!(shown.contains("10.0.0.1/24"), "{shown}");
        });
    }
}
