//! The command line of the network tests (pure, host-tested), and the little text formats
//! they speak: addresses, MACs, the HTTP/1.0 requests and responses.
//!
//! `test=net [vif=N] [ip=dhcp | ip=A.B.C.D/P [gw=A.B.C.D]] [ping=ADDR]
//! [connect=ADDR:PORT [msg=TEXT]] [fetch=ADDR:PORT[/path]]`; `test=net-hostile [vif=N]`.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

/// Which test mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// `test=net`: configure, run the actions, serve.
    Serve,
    /// `test=net-hostile`: malformed transmit requests.
    Hostile,
}

/// How the interface gets its address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IpConfig {
    /// `ip=dhcp` (the default).
    Dhcp,
    /// `ip=A.B.C.D/P`, `gw=A.B.C.D`.
    Static {
        /// The address.
        addr: [u8; 4],
        /// Its prefix length.
        prefix: u8,
        /// The default gateway.
        gw: Option<[u8; 4]>,
    },
}

/// A TCP peer and, for `fetch`, the path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// IPv4 address.
    pub addr: [u8; 4],
    /// TCP port.
    pub port: u16,
    /// `fetch`'s path (starting with '/'); `/` for `connect`.
    pub path: String,
}

impl core::fmt::Display for Target {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{}:{}", fmt_ip(self.addr), self.port)
    }
}

/// What to do once configured, in this order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// `ping=ADDR`.
    Ping([u8; 4]),
    /// `connect=ADDR:PORT msg=TEXT`.
    Connect(Target, String),
    /// `fetch=ADDR:PORT/path`.
    Fetch(Target),
    /// `flood=ADDR:PORT secs=N`: UDP datagrams of [`FLOOD_PAYLOAD`] bytes as fast as the
    /// vif takes them, for N seconds.
    Flood(Target, u32),
}

/// Bytes of each `flood` datagram's payload.
pub const FLOOD_PAYLOAD: usize = 1024;
/// The default and the most seconds of `flood`.
pub const FLOOD_SECS: (u32, u32) = (5, 60);

/// The parsed options.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    /// The mode.
    pub mode: Mode,
    /// Device number (`device/vif/<vif>`), 0 by default.
    pub vif: u32,
    /// Addressing.
    pub ip: IpConfig,
    /// Actions.
    pub actions: Vec<Action>,
}

/// The default `msg` of `connect`.
pub const DEFAULT_MSG: &str = "hello";

/// Parses `a.b.c.d`.
pub fn parse_ip(s: &str) -> Option<[u8; 4]> {
    s.parse::<core::net::Ipv4Addr>().ok().map(|a| a.octets())
}

/// `a.b.c.d`.
pub fn fmt_ip(a: [u8; 4]) -> String {
    format!("{}", core::net::Ipv4Addr::from(a))
}

/// Parses a MAC `xx:xx:xx:xx:xx:xx` (hex, either case).
pub fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let mut out = [0u8; 6];
    let mut parts = s.trim().split(':');
    for o in &mut out {
        let p = parts.next()?;
        if p.len() != 2 {
            return None;
        }
        *o = u8::from_str_radix(p, 16).ok()?;
    }
    parts.next().is_none().then_some(out)
}

/// `xx:xx:xx:xx:xx:xx`, lower case.
pub fn fmt_mac(m: [u8; 6]) -> String {
    format!(
        "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
        m[0], m[1], m[2], m[3], m[4], m[5]
    )
}

/// Parses `ADDR:PORT[/path]`.
pub fn parse_target(s: &str, with_path: bool) -> Result<Target, String> {
    let (hostport, path) = match s.find('/') {
        Some(i) if with_path => (&s[..i], &s[i..]),
        Some(_) => return Err(format!("{s:?}: no path expected")),
        None => (s, "/"),
    };
    let (a, p) = hostport
        .rsplit_once(':')
        .ok_or_else(|| format!("{s:?}: expected ADDR:PORT"))?;
    let addr = parse_ip(a).ok_or_else(|| format!("{a:?} is not an IPv4 address"))?;
    let port = p
        .parse::<u16>()
        .ok()
        .filter(|&p| p != 0)
        .ok_or_else(|| format!("{p:?} is not a port"))?;
    Ok(Target {
        addr,
        port,
        path: String::from(path),
    })
}

/// The options of `cmd` if it names a network test (`None` if not), or why they are wrong.
/// `net=dhcp` or `net=A.B.C.D/P[,GATEWAY]` alone (no `test=`) is `test=net` with that
/// address.
pub fn parse(cmd: &str) -> Option<Result<Options, String>> {
    let mode = match crate::cmdline::param(cmd, "test") {
        Some("net") => Mode::Serve,
        Some("net-hostile") => Mode::Hostile,
        None if crate::cmdline::param(cmd, "net").is_some() => Mode::Serve,
        _ => return None,
    };
    Some(parse_rest(mode, cmd))
}

fn parse_rest(mode: Mode, cmd: &str) -> Result<Options, String> {
    // `net=` stands for `ip=` (and `gw=` after a comma).
    let net = crate::cmdline::param(cmd, "net");
    if net.is_some()
        && (crate::cmdline::param(cmd, "ip").is_some()
            || crate::cmdline::param(cmd, "gw").is_some())
    {
        return Err(String::from("net= or ip=/gw=, not both"));
    }
    let (net_ip, net_gw) = match net {
        Some(v) => match v.split_once(',') {
            Some((a, g)) => (Some(a), Some(g)),
            None => (Some(v), None),
        },
        None => (None, None),
    };
    let param = |k: &str| match k {
        "ip" if net_ip.is_some() => net_ip,
        "gw" if net_gw.is_some() => net_gw,
        _ => crate::cmdline::param(cmd, k),
    };
    let vif = match param("vif") {
        None => 0,
        Some(v) => v.parse().map_err(|_| format!("vif={v}: not a number"))?,
    };
    let ip = match param("ip") {
        None | Some("dhcp") => {
            if param("gw").is_some() {
                return Err(String::from("gw= goes with a static ip=A.B.C.D/P"));
            }
            IpConfig::Dhcp
        }
        Some(v) => {
            let (a, p) = v
                .split_once('/')
                .ok_or_else(|| format!("ip={v}: expected dhcp or A.B.C.D/PREFIX"))?;
            let addr = parse_ip(a).ok_or_else(|| format!("ip={v}: bad address"))?;
            let prefix = p
                .parse::<u8>()
                .ok()
                .filter(|&p| (1..=32).contains(&p))
                .ok_or_else(|| format!("ip={v}: prefix must be 1..32"))?;
            let gw = match param("gw") {
                None => None,
                Some(g) => Some(parse_ip(g).ok_or_else(|| format!("gw={g}: bad address"))?),
            };
            IpConfig::Static { addr, prefix, gw }
        }
    };
    let mut actions = Vec::new();
    if let Some(p) = param("ping") {
        actions.push(Action::Ping(
            parse_ip(p).ok_or_else(|| format!("ping={p}: bad address"))?,
        ));
    }
    if let Some(c) = param("connect") {
        let t = parse_target(c, false).map_err(|e| format!("connect={c}: {e}"))?;
        let msg = param("msg").unwrap_or(DEFAULT_MSG);
        actions.push(Action::Connect(t, String::from(msg)));
    } else if param("msg").is_some() {
        return Err(String::from("msg= goes with connect="));
    }
    if let Some(f) = param("fetch") {
        actions.push(Action::Fetch(
            parse_target(f, true).map_err(|e| format!("fetch={f}: {e}"))?,
        ));
    }
    if let Some(f) = param("flood") {
        let t = parse_target(f, false).map_err(|e| format!("flood={f}: {e}"))?;
        let secs = match param("secs") {
            None => FLOOD_SECS.0,
            Some(v) => v
                .parse::<u32>()
                .ok()
                .filter(|n| (1..=FLOOD_SECS.1).contains(n))
                .ok_or_else(|| format!("secs={v}: want 1..{}", FLOOD_SECS.1))?,
        };
        actions.push(Action::Flood(t, secs));
    } else if param("secs").is_some() {
        return Err(String::from("secs= goes with flood="));
    }
    Ok(Options {
        mode,
        vif,
        ip,
        actions,
    })
}

/// What the HTTP service makes of the request bytes received so far.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HttpRequest {
    /// The header is not complete yet.
    Incomplete,
    /// A GET (the header is complete).
    Get,
    /// Anything else complete, or a header too long or not HTTP.
    Bad,
}

/// Longest request header we read.
pub const MAX_REQUEST: usize = 2048;

/// Classifies a request from its first bytes.
pub fn http_request(buf: &[u8]) -> HttpRequest {
    let end = find(buf, b"\r\n\r\n").or_else(|| find(buf, b"\n\n"));
    if end.is_none() {
        // An HTTP/0.9-style one-line request ends at its first line.
        let line_end = find(buf, b"\n");
        let simple = line_end.is_some_and(|i| {
            let line = &buf[..i];
            line.starts_with(b"GET ") && !contains(line, b" HTTP/")
        });
        if simple {
            return HttpRequest::Get;
        }
        return if buf.len() >= MAX_REQUEST {
            HttpRequest::Bad
        } else {
            HttpRequest::Incomplete
        };
    }
    if buf.starts_with(b"GET ") {
        HttpRequest::Get
    } else {
        HttpRequest::Bad
    }
}

/// The whole response to a request: `200 OK` with `body` as text/plain for a GET,
/// `400 Bad Request` otherwise. HTTP/1.0: the connection closes after it.
pub fn http_response(req: HttpRequest, body: &str) -> Vec<u8> {
    let (status, body) = match req {
        HttpRequest::Get => ("200 OK", body),
        _ => ("400 Bad Request", "bad request\n"),
    };
    format!(
        "HTTP/1.0 {status}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// The body the HTTP service serves: `hello from pv-guest <name>\n`.
pub fn http_body(name: &str) -> String {
    format!("hello from pv-guest {name}\n")
}

/// A GET request for `path` from `host`.
pub fn http_get(host: &str, path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.0\r\nHost: {host}\r\nUser-Agent: pv-guest\r\n\r\n").into_bytes()
}

/// A whole response's status code and body length (the bytes after the header), or why
/// it is not an HTTP response.
pub fn http_status(resp: &[u8]) -> Result<(u16, usize), String> {
    let (head_end, sep) = match find(resp, b"\r\n\r\n") {
        Some(i) => (i, 4),
        None => (
            find(resp, b"\n\n")
                .ok_or_else(|| format!("no end of header in {} bytes", resp.len()))?,
            2,
        ),
    };
    let line_end = find(resp, b"\n").unwrap_or(head_end);
    let line = core::str::from_utf8(&resp[..line_end])
        .map_err(|_| String::from("status line is not text"))?
        .trim_end();
    let mut words = line.split(' ');
    let version = words.next().unwrap_or("");
    if !version.starts_with("HTTP/") {
        return Err(format!("not an HTTP status line: {line:?}"));
    }
    let code = words
        .next()
        .and_then(|c| c.parse::<u16>().ok())
        .filter(|c| (100..1000).contains(c))
        .ok_or_else(|| format!("no status code in {line:?}"))?;
    Ok((code, resp.len() - head_end - sep))
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    find(hay, needle).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;
    use alloc::vec;

    fn opts(cmd: &str) -> Result<Options, String> {
        parse(cmd).expect("a net test")
    }

    #[test]
    fn only_net_tests_are_ours() {
        assert!(parse("test=blk").is_none());
        assert!(parse("ip=dhcp").is_none());
        assert_eq!(opts("test=net-hostile").unwrap().mode, Mode::Hostile);
    }

    #[test]
    fn flood_takes_a_target_and_bounded_seconds() {
        let o = opts("test=net flood=10.0.2.2:9 secs=3").unwrap();
        assert_eq!(
            o.actions,
            vec![Action::Flood(parse_target("10.0.2.2:9", false).unwrap(), 3)]
        );
        let o = opts("test=net flood=10.0.2.2:9").unwrap();
        assert_eq!(
            o.actions[0],
            Action::Flood(parse_target("10.0.2.2:9", false).unwrap(), 5)
        );
        for bad in [
            "test=net flood=10.0.2.2:9 secs=0",
            "test=net flood=10.0.2.2:9 secs=61",
            "test=net flood=10.0.2.2 secs=2",
            "test=net secs=2",
        ] {
            assert!(opts(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn net_alone_names_the_address() {
        assert_eq!(opts("net=dhcp").unwrap().ip, IpConfig::Dhcp);
        assert_eq!(opts("net=dhcp").unwrap().mode, Mode::Serve);
        assert_eq!(
            opts("net=10.0.2.20/24,10.0.2.2 ping=10.0.2.2").unwrap(),
            opts("test=net ip=10.0.2.20/24 gw=10.0.2.2 ping=10.0.2.2").unwrap()
        );
        assert!(opts("net=10.0.2.20/24 ip=dhcp").is_err());
        assert!(opts("net=10.0.2.20/24,10.0.2").is_err());
    }

    #[test]
    fn dhcp_is_the_default() {
        let o = opts("console=hvc0 test=net").unwrap();
        assert_eq!(
            o,
            Options {
                mode: Mode::Serve,
                vif: 0,
                ip: IpConfig::Dhcp,
                actions: vec![]
            }
        );
        assert_eq!(opts("test=net ip=dhcp vif=1").unwrap().vif, 1);
    }

    #[test]
    fn a_static_address_with_its_gateway() {
        let o = opts("test=net ip=10.0.2.20/24 gw=10.0.2.2").unwrap();
        assert_eq!(
            o.ip,
            IpConfig::Static {
                addr: [10, 0, 2, 20],
                prefix: 24,
                gw: Some([10, 0, 2, 2])
            }
        );
        let o = opts("test=net ip=192.168.1.5/32").unwrap();
        assert_eq!(
            o.ip,
            IpConfig::Static {
                addr: [192, 168, 1, 5],
                prefix: 32,
                gw: None
            }
        );
    }

    #[test]
    fn bad_addressing_is_refused_with_the_reason() {
        for (cmd, why) in [
            (
                "test=net ip=10.0.2.20",
                "ip=10.0.2.20: expected dhcp or A.B.C.D/PREFIX",
            ),
            ("test=net ip=10.0.2/24", "ip=10.0.2/24: bad address"),
            ("test=net ip=10.0.2.256/24", "ip=10.0.2.256/24: bad address"),
            (
                "test=net ip=10.0.2.2/33",
                "ip=10.0.2.2/33: prefix must be 1..32",
            ),
            ("test=net ip=10.0.2.2/24 gw=x", "gw=x: bad address"),
            (
                "test=net gw=10.0.2.2",
                "gw= goes with a static ip=A.B.C.D/P",
            ),
            ("test=net vif=a", "vif=a: not a number"),
            ("test=net msg=hi", "msg= goes with connect="),
        ] {
            assert_eq!(opts(cmd).unwrap_err(), why, "{cmd}");
        }
    }

    #[test]
    fn actions_in_order() {
        let o = opts(
            "test=net ip=10.0.2.20/24 gw=10.0.2.2 fetch=10.0.2.2:8080/a/b.txt \
             connect=10.0.2.30:7 msg=hi-there ping=10.0.2.2",
        )
        .unwrap();
        assert_eq!(
            o.actions,
            vec![
                Action::Ping([10, 0, 2, 2]),
                Action::Connect(
                    Target {
                        addr: [10, 0, 2, 30],
                        port: 7,
                        path: "/".to_string()
                    },
                    "hi-there".to_string()
                ),
                Action::Fetch(Target {
                    addr: [10, 0, 2, 2],
                    port: 8080,
                    path: "/a/b.txt".to_string()
                }),
            ]
        );
        let o = opts("test=net connect=1.2.3.4:80 fetch=1.2.3.4:80").unwrap();
        assert_eq!(
            o.actions[0],
            Action::Connect(
                parse_target("1.2.3.4:80", false).unwrap(),
                "hello".to_string()
            )
        );
        assert_eq!(
            o.actions[1],
            Action::Fetch(parse_target("1.2.3.4:80/", true).unwrap())
        );
    }

    #[test]
    fn bad_actions_are_refused() {
        assert_eq!(
            opts("test=net ping=host").unwrap_err(),
            "ping=host: bad address"
        );
        assert_eq!(
            opts("test=net connect=1.2.3.4").unwrap_err(),
            "connect=1.2.3.4: \"1.2.3.4\": expected ADDR:PORT"
        );
        assert_eq!(
            opts("test=net connect=1.2.3.4:0").unwrap_err(),
            "connect=1.2.3.4:0: \"0\" is not a port"
        );
        assert_eq!(
            opts("test=net connect=1.2.3.4:7/x").unwrap_err(),
            "connect=1.2.3.4:7/x: \"1.2.3.4:7/x\": no path expected"
        );
        assert_eq!(
            opts("test=net fetch=a:80/").unwrap_err(),
            "fetch=a:80/: \"a\" is not an IPv4 address"
        );
    }

    #[test]
    fn macs_and_addresses_print_as_they_parse() {
        let m = parse_mac("00:16:3E:0a:b1:FF").unwrap();
        assert_eq!(m, [0, 0x16, 0x3e, 0x0a, 0xb1, 0xff]);
        assert_eq!(fmt_mac(m), "00:16:3e:0a:b1:ff");
        assert_eq!(parse_mac("00:16:3e:0a:b1"), None);
        assert_eq!(parse_mac("00:16:3e:0a:b1:ff:00"), None);
        assert_eq!(parse_mac("0:16:3e:0a:b1:ff"), None);
        assert_eq!(fmt_ip(parse_ip("10.0.2.15").unwrap()), "10.0.2.15");
        assert_eq!(parse_ip("1.2.3.4.5"), None);
        assert_eq!(parse_ip("1..3.4"), None);
        assert_eq!(parse_ip("+1.2.3.4"), None);
    }

    #[test]
    fn http_requests_are_classified_when_complete() {
        assert_eq!(http_request(b"GET / HTTP/1.0\r\n"), HttpRequest::Incomplete);
        assert_eq!(http_request(b"GET / HTTP/1.0\r\n\r\n"), HttpRequest::Get);
        assert_eq!(
            http_request(b"GET /x HTTP/1.1\nHost: a\n\n"),
            HttpRequest::Get
        );
        assert_eq!(http_request(b"GET /\r\n"), HttpRequest::Get, "HTTP/0.9");
        assert_eq!(http_request(b"POST / HTTP/1.0\r\n\r\n"), HttpRequest::Bad);
        assert_eq!(http_request(&[b'x'; MAX_REQUEST]), HttpRequest::Bad);
    }

    #[test]
    fn http_responses_round_trip() {
        let body = http_body("web1");
        assert_eq!(body, "hello from pv-guest web1\n");
        let r = http_response(HttpRequest::Get, &body);
        let text = core::str::from_utf8(&r).unwrap();
        assert!(text.starts_with("HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n"));
        assert!(text.contains("Content-Length: 25\r\n"));
        assert!(text.ends_with("\r\n\r\nhello from pv-guest web1\n"));
        assert_eq!(http_status(&r), Ok((200, 25)));
        let r = http_response(HttpRequest::Bad, &body);
        assert_eq!(http_status(&r).unwrap().0, 400);
        assert_eq!(http_status(b"HTTP/1.1 404 Not Found\n\nnope"), Ok((404, 4)));
        assert!(http_status(b"HTTP/1.0 200 OK\r\n").is_err());
        assert!(http_status(b"SSH-2.0\r\n\r\n").is_err());
        assert_eq!(
            http_get("10.0.2.2", "/x"),
            b"GET /x HTTP/1.0\r\nHost: 10.0.2.2\r\nUser-Agent: pv-guest\r\n\r\n".to_vec()
        );
    }
}
