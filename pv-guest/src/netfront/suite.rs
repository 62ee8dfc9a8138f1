//! The domU network tests, printing lines that start with `NETFRONT`.
//!
//! `test=net [vif=N] [ip=dhcp | ip=A.B.C.D/P [gw=G]] [ping=ADDR] [connect=ADDR:PORT
//! [msg=TEXT]] [fetch=ADDR:PORT/path]`: connects `device/vif/N` (0), configures the address
//! and prints `NETFRONT up <mac> <addr>/<prefix> gw <gw|none>`, runs the actions in the
//! order ping, connect, fetch (one line each: [`super::stack::Runner`]), then serves ICMP
//! echo, TCP echo on port 7 and HTTP on port 80 until the domain is destroyed (or shut
//! down through `control/shutdown`). Without a DHCP lease after 30 s it says so once
//! (`NETFRONT dhcp: no lease after 30 s`) and keeps asking. If the back end closes the vif
//! (`xl network-detach`, a disabled vif) we close ours too (`NETFRONT vif N: the back end
//! closed it`) and idle; a vif attached later is not taken up.
//!
//! `test=net-hostile [vif=N]`: one malformed transmit request per connection
//! (reconnecting in between), each answered by a line `NETFRONT hostile <case>: <what the
//! back end did>`: its response status (`NETIF_RSP_ERROR`, ...; `(N responses)` for a
//! packet of several slots), `backend closed` (its state left Connected), or `no response
//! in 5 s`; then `NETFRONT hostile done`. A case whose connection cannot be made is
//! reported as `NETFRONT hostile <case>: cannot connect (<why>)` and ends the run.

use super::device::{Grants, Netfront, Sizes};
use super::options::{self, fmt_ip, fmt_mac, Mode, Options};
use super::stack::{Net, Runner};
use crate::println;
use crate::xenbus::XsClient;
use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use guest_abi::io::netif::*;
use guest_abi::io::xenbus::XenbusState;
use guest_abi::start_info::StartInfo;

/// Buffers of the serving interface.
const SERVE: Sizes = Sizes { tx: 64, rx: 64 };
/// Buffers of each hostile connection (19 slots for the longest packet).
const HOSTILE: Sizes = Sizes { tx: 24, rx: 8 };
/// How long the back end may take for each handshake step when serving.
const HANDSHAKE_NS: u64 = 30_000_000_000;
/// Every wait of the hostile test.
const HOSTILE_NS: u64 = 5_000_000_000;
/// When we say that DHCP has not answered.
const DHCP_WARN_NS: u64 = 30_000_000_000;
/// The longest sleep between looks at XenStore (shutdown requests).
const MAX_SLEEP_NS: u64 = 500_000_000;

/// Runs `test=net` or `test=net-hostile` if the command line names one; false if not.
pub fn run(cmd: &str, si: &StartInfo, xs: Option<&mut XsClient>) -> bool {
    let opts = match options::parse(cmd) {
        None => return false,
        Some(Ok(o)) => o,
        Some(Err(e)) => {
            println!("NETFRONT bad options: {e}");
            return true;
        }
    };
    let Some(xs) = xs else {
        println!("NETFRONT no XenStore: no network");
        return true;
    };
    let mut grants = match Grants::new(si) {
        Ok(g) => g,
        Err(e) => {
            println!("NETFRONT {e}");
            return true;
        }
    };
    match opts.mode {
        Mode::Serve => serve(xs, si, &mut grants, &opts, cmd),
        Mode::Hostile => hostile(xs, &mut grants, opts.vif),
    }
    true
}

/// Our name for the HTTP body: XenStore's `name` in our directory, else `domain <domid>`.
fn domain_name(xs: &mut XsClient) -> String {
    match xs.read("name") {
        Ok(n) if !n.trim().is_empty() => String::from(n.trim()),
        _ => format!(
            "domain {}",
            xs.read("domid").unwrap_or_else(|_| String::from("?"))
        ),
    }
}

/// Token of our watch on `device/vif` (vifs attached later).
const VIFS_TOKEN: &str = "netfront-vifs";

/// Serves the vif of `opts` (the command line's actions run on the first connection only);
/// when the back end closes it (`xl network-detach`), closes ours and waits for a vif the
/// toolstack attaches later (`xl network-attach`), as Linux's netfront takes up a new device.
fn serve(xs: &mut XsClient, si: &StartInfo, grants: &mut Grants, opts: &Options, cmd: &str) -> ! {
    let name = domain_name(xs);
    let watching = !crate::control::ignored(cmd);
    if watching {
        crate::control::watch(xs);
    }
    let mut devid = opts.vif;
    let mut actions = opts.actions.clone();
    let mut first = true;
    loop {
        let mut nf = match Netfront::connect(xs, grants, devid, SERVE, HANDSHAKE_NS) {
            Ok(nf) => nf,
            Err(e) => {
                println!("NETFRONT vif {devid}: cannot connect: {e}");
                if first {
                    crate::xs_idle::run(Some(xs), si, cmd)
                }
                devid = wait_for_vif(xs, watching);
                continue;
            }
        };
        if !first {
            println!("NETFRONT vif {devid}: connected");
        }
        first = false;
        serve_vif(
            xs,
            &mut nf,
            devid,
            opts,
            &name,
            core::mem::take(&mut actions),
            watching,
        );
        if let Err(e) = nf.close(xs, HANDSHAKE_NS) {
            println!("NETFRONT vif {devid}: closing: {e}");
        }
        devid = wait_for_vif(xs, watching);
    }
}

/// Waits for a vif the toolstack attaches (a `device/vif/<n>` whose state is Initialising),
/// answering shutdown requests meanwhile; its number.
fn wait_for_vif(xs: &mut XsClient, watching: bool) -> u32 {
    match xs.watch("device/vif", VIFS_TOKEN) {
        Ok(()) | Err(guest_abi::errno::Errno::EEXIST) => {}
        Err(e) => println!("NETFRONT cannot watch device/vif: {}", e.name()),
    }
    loop {
        let ids: Vec<u32> = xs
            .directory("device/vif")
            .unwrap_or_default()
            .iter()
            .filter_map(|d| d.parse().ok())
            .collect();
        for id in ids {
            if xs.read_state(&format!("device/vif/{id}/state")) == XenbusState::Initialising {
                return id;
            }
        }
        let (_, token) = xs.wait_event();
        if token == crate::control::TOKEN && watching {
            crate::control::on_event(xs);
        }
    }
}

/// Serves one connected vif until its back end closes it.
fn serve_vif(
    xs: &mut XsClient,
    nf: &mut Netfront,
    devid: u32,
    opts: &Options,
    name: &str,
    actions: Vec<super::options::Action>,
    watching: bool,
) {
    let start = crate::time::now();
    let mac = nf.mac;
    let mut net = Net::new(nf, mac, opts.ip, name, start);
    let mut runner = Runner::new(actions);
    let mut up = false;
    let mut dhcp_warned = false;
    loop {
        let now = crate::time::now();
        net.poll(now, nf);
        for n in net.take_notices() {
            println!("NETFRONT {n}");
        }
        let mut wake = net.poll_delay_ns(now).map(|d| now.saturating_add(d));
        if !up {
            if let Some((a, p, gw)) = net.address() {
                up = true;
                println!(
                    "NETFRONT up {} {}/{p} gw {}",
                    fmt_mac(mac),
                    fmt_ip(a),
                    gw.map_or_else(|| String::from("none"), fmt_ip)
                );
            } else if !dhcp_warned && now >= start + DHCP_WARN_NS {
                dhcp_warned = true;
                println!("NETFRONT dhcp: no lease after 30 s");
            }
        }
        if up {
            let (lines, at) = runner.step(&mut net, now);
            let acted = !lines.is_empty();
            for l in lines {
                println!("{l}");
            }
            if acted {
                // Let the finished action's sockets close, the next one start.
                continue;
            }
            wake = min_opt(wake, at);
        }
        let mut backend_moved = false;
        while let Some((_, token)) = xs.next_event(0) {
            if token == crate::control::TOKEN && watching {
                crate::control::on_event(xs);
            } else if token == "netfront" {
                backend_moved = true;
            }
        }
        // The back end closing (`xl network-detach`, a disabled vif): ours closes too, as
        // Linux's netfront does.
        if backend_moved
            && matches!(
                nf.backend_state(xs),
                XenbusState::Closing | XenbusState::Closed
            )
        {
            println!("NETFRONT vif {devid}: the back end closed it");
            return;
        }
        let now = crate::time::now();
        let deadline = wake.unwrap_or(u64::MAX).min(now + MAX_SLEEP_NS);
        nf.sleep(deadline);
    }
}

fn min_opt(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, None) => a,
        (None, b) => b,
    }
}

/// The malformed requests, one per connection.
#[derive(Clone, Copy, Debug)]
enum Case {
    /// A reference we never granted.
    BadGref,
    /// `offset + size` past the end of the page.
    PageOverrun,
    /// A packet of 19 slots chained with NETTXF_MORE_DATA.
    TooManySlots,
    /// A first slot whose `size` (the packet's) is smaller than the next slot's.
    FirstSizeShort,
    /// A 2000-byte frame in one slot.
    Oversize,
    /// A 10-byte frame.
    Runt,
}

const CASES: [Case; 6] = [
    Case::BadGref,
    Case::Runt,
    Case::Oversize,
    Case::PageOverrun,
    Case::TooManySlots,
    Case::FirstSizeShort,
];

impl Case {
    fn name(self) -> &'static str {
        match self {
            Case::BadGref => "bad-gref",
            Case::PageOverrun => "page-overrun",
            Case::TooManySlots => "19-slots",
            Case::FirstSizeShort => "first-size-short",
            Case::Oversize => "oversize-2000",
            Case::Runt => "runt-10",
        }
    }
}

/// A frame header (broadcast, from `mac`, a local experimental ethertype) then `len - 14`
/// bytes of pattern.
fn frame(mac: [u8; 6], len: usize) -> Vec<u8> {
    let mut f = vec![0u8; len.max(14)];
    f[..6].fill(0xff);
    f[6..12].copy_from_slice(&mac);
    f[12..14].copy_from_slice(&[0x88, 0xb5]);
    for (i, b) in f.iter_mut().enumerate().skip(14) {
        *b = i as u8;
    }
    f.truncate(len);
    f
}

/// A status as the lines print it.
pub fn status_name(s: i16) -> String {
    match s {
        NETIF_RSP_OKAY => String::from("NETIF_RSP_OKAY"),
        NETIF_RSP_ERROR => String::from("NETIF_RSP_ERROR"),
        NETIF_RSP_DROPPED => String::from("NETIF_RSP_DROPPED"),
        NETIF_RSP_NULL => String::from("NETIF_RSP_NULL"),
        s => format!("status {s}"),
    }
}

/// Queues the case's requests; how many slots (responses to wait for).
fn queue(nf: &mut Netfront, grants: &Grants, case: Case) -> Result<usize, String> {
    let mac = nf.mac;
    let one = |nf: &mut Netfront,
               len: usize,
               offset: u16,
               size: u16,
               flags: u16,
               gref: Option<guest_abi::types::GrantRef>| {
        let id = nf.tx_alloc().ok_or("no free transmit buffer")?;
        nf.tx_fill(id, usize::from(offset), &frame(mac, len));
        let req = NetifTxRequest {
            gref: gref.unwrap_or_else(|| nf.tx_gref(id)),
            offset,
            flags,
            id,
            size,
        };
        if nf.queue_raw(&req) {
            Ok(())
        } else {
            Err(String::from("transmit ring full"))
        }
    };
    match case {
        Case::BadGref => one(nf, 60, 0, 60, 0, Some(grants.ungranted())).map(|()| 1),
        Case::PageOverrun => one(nf, 96, 4000, 200, 0, None).map(|()| 1),
        Case::Oversize => one(nf, 2000, 0, 2000, 0, None).map(|()| 1),
        Case::Runt => one(nf, 10, 0, 10, 0, None).map(|()| 1),
        Case::TooManySlots => {
            const SLOTS: u16 = 19;
            const EACH: u16 = 100;
            for i in 0..SLOTS {
                let more = if i + 1 < SLOTS { NETTXF_MORE_DATA } else { 0 };
                // The first slot's size is the packet's.
                let size = if i == 0 { SLOTS * EACH } else { EACH };
                one(nf, usize::from(EACH), 0, size, more, None)?;
            }
            Ok(usize::from(SLOTS))
        }
        Case::FirstSizeShort => {
            one(nf, 100, 0, 100, NETTXF_MORE_DATA, None)?;
            one(nf, 200, 0, 200, 0, None)?;
            Ok(2)
        }
    }
}

/// Runs one case on a fresh connection; its line's text.
fn run_case(nf: &mut Netfront, xs: &mut XsClient, grants: &Grants, case: Case) -> String {
    let want = match queue(nf, grants, case) {
        Ok(n) => n,
        Err(e) => return format!("not sent ({e})"),
    };
    nf.push_tx();
    let deadline = crate::time::now() + HOSTILE_NS;
    let mut got: Vec<i16> = Vec::new();
    loop {
        nf.reap(|r| got.push(r.status));
        // Frames the back end delivers meanwhile are consumed and dropped.
        while nf.recv().is_some() {}
        if got.len() >= want {
            break;
        }
        let s = nf.backend_state(xs);
        if s != XenbusState::Connected {
            return if got.is_empty() {
                format!("backend closed ({s:?})")
            } else {
                format!("{}, then backend closed ({s:?})", describe(&got, want))
            };
        }
        let now = crate::time::now();
        if now >= deadline {
            return if got.is_empty() {
                format!("no response in {} s", HOSTILE_NS / 1_000_000_000)
            } else {
                format!(
                    "{}, no more in {} s",
                    describe(&got, want),
                    HOSTILE_NS / 1_000_000_000
                )
            };
        }
        nf.sleep(deadline.min(now + 100_000_000));
    }
    describe(&got, want)
}

/// The first non-NULL status (else the first), with the count when there are several slots.
fn describe(got: &[i16], want: usize) -> String {
    let first = got
        .iter()
        .copied()
        .find(|&s| s != NETIF_RSP_NULL)
        .or(got.first().copied());
    let name = first.map_or_else(|| String::from("nothing"), status_name);
    if want > 1 || got.len() > 1 {
        format!("{name} ({} of {want} responses)", got.len())
    } else {
        name
    }
}

fn hostile(xs: &mut XsClient, grants: &mut Grants, vif: u32) {
    let mut first = true;
    for case in CASES {
        if !first {
            if let Err(e) = Netfront::reopen(xs, vif) {
                println!("NETFRONT hostile {}: cannot connect ({e})", case.name());
                break;
            }
        }
        first = false;
        let mut nf = match Netfront::connect(xs, grants, vif, HOSTILE, HOSTILE_NS) {
            Ok(nf) => nf,
            Err(e) => {
                let be = xs
                    .read(&format!("device/vif/{vif}/backend"))
                    .map(|b| xs.read_state(&format!("{b}/state")));
                println!(
                    "NETFRONT hostile {}: cannot connect ({e}; back end {be:?})",
                    case.name()
                );
                break;
            }
        };
        let line = run_case(&mut nf, xs, grants, case);
        println!("NETFRONT hostile {}: {line}", case.name());
        if let Err(e) = nf.close(xs, HOSTILE_NS) {
            println!("NETFRONT hostile {}: disconnect: {e}", case.name());
        }
    }
    println!("NETFRONT hostile done");
}
