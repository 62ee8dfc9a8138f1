//! Virtual network interfaces: `vif = [...]` of `xl create`, `xl network-attach`,
//! `network-detach`, `network-list`, and the XenStore side of netback (`crate::netback` serves
//! the rings; each vif is a port `vif<domid>.<devid>` of dom0's bridge `xenbr0`).
//!
//! Layout and handshake as Xen's libxl and Linux's netback and netfront use them: the
//! front-end directory `/local/domain/<id>/device/vif/<devid>` (the domain's: `backend`,
//! `backend-id`, `handle`, `mac`, `state`) and the back end's
//! `/local/domain/0/backend/vif/<id>/<devid>` (dom0's, readable by the domain: `frontend`,
//! `frontend-id`, `online`, `state`, `handle`, `mac`, `bridge`, `type` = `vif`, `mtu` = 1500
//! (libxl writes it; Linux's netfront takes its MTU from it), `rate` and
//! `ip` when given, and the features offered: `feature-sg`, `feature-rx-copy`,
//! `feature-ipv6-csum-offload` = 1, `feature-rx-flip` = 0). No GSO, multiple queues, split
//! event channels or control ring are advertised, so a front end uses one queue and one event
//! channel. The back end waits in `InitWait`; when the front end says `Initialised` (or
//! `Connected`) with its `tx-ring-ref`, `rx-ring-ref`, `event-channel` and `request-rx-copy`
//! = 1 (the back end only copies), it checks both ring pages can be reached, binds the channel
//! and goes `Connected`.
//!
//! A front end that breaks the protocol (`crate::netback`'s fatal cases) loses its vif: the
//! notice `(xl) vif <domid>.<devid>: disabled: <why>`, the reason in the back end's `error`
//! node, the channel closed, the back end `Closing`; the domain and every other vif run on.

use super::{Toolstack, XlResult};
use crate::config::vif::{self as spec, fmt_mac, parse_vif_list, Mac, Vif, VifSpec};
use crate::hv::Hypervisor;
use crate::net::PortId;
use crate::netback::credit::Credit;
use crate::netback::service::{Counters, Vif as Rings};
use crate::xenstore::path::domain_path;
use crate::xenstore::xenbus::{self, back_step};
use crate::xenstore::Perms;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write;
use guest_abi::io::xenbus::XenbusState;
use guest_abi::types::DomId;

/// One vif's back end.
#[derive(Debug)]
pub struct VifBack {
    pub vif: Vif,
    /// Its port on `xenbr0`.
    pub port: Option<PortId>,
    pub state: XenbusState,
    /// The rings and our end of the event channel, once connected.
    pub rings: Option<(Rings, u32)>,
    /// The front end's (tx-ring-ref, rx-ring-ref, event-channel), for network-list.
    pub front: Option<(u32, u32, u32)>,
    /// Why it stopped being served, if it did.
    pub broken: Option<String>,
    /// `xl network-detach` asked for it to go.
    pub detaching: bool,
    /// TX work left for the next pass.
    pub busy: bool,
    /// The channel fired in this service pass (RX then runs even if it was starved).
    kicked: bool,
    /// TX waits for credit until then.
    pub wait_until: Option<u64>,
    /// What earlier connections of it carried (a front end may reconnect).
    pub past: Counters,
}

impl VifBack {
    /// What its rings carried, across connections.
    pub fn counters(&self) -> Counters {
        let mut c = self.past;
        if let Some((r, _)) = &self.rings {
            add(&mut c, &r.counters);
        }
        c
    }

    /// Drops the rings, keeping their counters; our end of the channel, to close.
    fn drop_rings(&mut self) -> Option<u32> {
        let (r, port) = self.rings.take()?;
        add(&mut self.past, &r.counters);
        self.busy = false;
        self.wait_until = None;
        Some(port)
    }
}

fn add(to: &mut Counters, c: &Counters) {
    to.tx_packets += c.tx_packets;
    to.tx_bytes += c.tx_bytes;
    to.tx_dropped += c.tx_dropped;
    to.tx_errors += c.tx_errors;
    to.rx_packets += c.rx_packets;
    to.rx_bytes += c.rx_bytes;
    to.rx_errors += c.rx_errors;
    to.notifications += c.notifications;
}

/// The front end's directory of vif `devid` of domain `id`.
pub fn frontend_path(id: u16, devid: u32) -> String {
    format!("{}/device/vif/{devid}", domain_path(id))
}

/// The back end's directory.
pub fn backend_path(id: u16, devid: u32) -> String {
    format!("/local/domain/0/backend/vif/{id}/{devid}")
}

fn token(id: u16, devid: u32) -> String {
    format!("vif/{id}/{devid}")
}

impl<H: Hypervisor> Toolstack<'_, H> {
    /// Parses and checks a domain's `vif = [...]` (domain `id`, `u16::MAX` before it has
    /// one): the vifs with their device ids and MACs.
    pub(super) fn vif_check_config(&self, id: u16, specs: &[String]) -> Result<Vec<Vif>, String> {
        let vifs = parse_vif_list(id, specs).map_err(|e| format!("{e}"))?;
        if !vifs.is_empty() && self.net.is_none() {
            return Err(format!(
                "vif: dom0 has no network (no NIC was found), so bridge {} does not exist",
                spec::BRIDGE
            ));
        }
        Ok(vifs)
    }

    /// Creates vif `v`'s directories for domain `id`, puts it on the bridge and starts its
    /// back end (`InitWait`).
    pub(super) fn vif_up(&mut self, id: DomId, v: Vif) -> Result<(), String> {
        let devid = v.devid;
        if self.vifs.contains_key(&(id.0, devid)) {
            return Err(format!("domain {} already has vif {devid}", id.0));
        }
        let name = v
            .spec
            .vifname
            .clone()
            .unwrap_or_else(|| format!("vif{}.{devid}", id.0));
        let net = self.net.as_mut().ok_or_else(|| {
            format!(
                "dom0 has no network (no NIC was found), so bridge {} does not exist",
                spec::BRIDGE
            )
        })?;
        if net.ports().iter().any(|p| p.name == name) {
            return Err(format!("bridge {} already has a port {name}", spec::BRIDGE));
        }
        let (fe, be) = (frontend_path(id.0, devid), backend_path(id.0, devid));
        let init = xenbus::text(XenbusState::Initialising);
        let devid_s = format!("{devid}");
        let idt = format!("{}", id.0);
        let mac = fmt_mac(&v.mac);
        let fe_nodes: Vec<(&str, String)> = alloc::vec![
            ("backend", be.clone()),
            ("backend-id", String::from("0")),
            ("handle", devid_s.clone()),
            ("mac", mac.clone()),
            ("state", init.clone()),
        ];
        let mut be_nodes: Vec<(&str, String)> = alloc::vec![
            ("frontend", fe.clone()),
            ("frontend-id", idt),
            ("online", String::from("1")),
            ("state", init),
            ("handle", devid_s),
            ("mac", mac),
            ("bridge", String::from(spec::BRIDGE)),
            ("type", String::from("vif")),
            ("mtu", String::from("1500")),
            ("feature-sg", String::from("1")),
            ("feature-rx-copy", String::from("1")),
            ("feature-rx-flip", String::from("0")),
            ("feature-ipv6-csum-offload", String::from("1")),
        ];
        if let Some(r) = v.spec.rate {
            be_nodes.push((
                "rate",
                format!("{},{}", r.bytes_per_interval, r.interval_us),
            ));
        }
        if let Some(ip) = &v.spec.ip {
            be_nodes.push(("ip", ip.clone()));
        }
        let fe_perms = Perms::parse([format!("n{}", id.0).as_str(), "r0"]).expect("well-formed");
        let be_perms = Perms::parse(["n0", format!("r{}", id.0).as_str()]).expect("well-formed");
        for (dir, nodes, perms) in [(&fe, &fe_nodes, &fe_perms), (&be, &be_nodes, &be_perms)] {
            let mut paths = alloc::vec![dir.clone()];
            self.xs
                .write(0, dir, b"")
                .map_err(|e| format!("xenstore write {dir}: {e}"))?;
            for (k, val) in nodes {
                let p = format!("{dir}/{k}");
                self.xs
                    .write(0, &p, val.as_bytes())
                    .map_err(|e| format!("xenstore write {p}: {e}"))?;
                paths.push(p);
            }
            for p in paths {
                let _ = self.xs.set_perms(0, &p, perms);
            }
        }
        self.xs
            .watch(0, &format!("{fe}/state"), &token(id.0, devid))
            .map_err(|e| format!("xenstore watch {fe}/state: {e}"))?;
        let port = self.net.as_mut().map(|n| n.attach_vif(&name, v.mac));
        self.vifs.insert(
            (id.0, devid),
            VifBack {
                vif: v,
                port,
                state: XenbusState::Initialising,
                rings: None,
                front: None,
                broken: None,
                detaching: false,
                busy: false,
                kicked: false,
                wait_until: None,
                past: Counters::default(),
            },
        );
        self.vif_set_state(id.0, devid, XenbusState::InitWait);
        Ok(())
    }

    fn vif_set_state(&mut self, id: u16, devid: u32, s: XenbusState) {
        if let Some(v) = self.vifs.get_mut(&(id, devid)) {
            v.state = s;
        }
        let _ = self.xs.write(
            0,
            &format!("{}/state", backend_path(id, devid)),
            xenbus::text(s).as_bytes(),
        );
    }

    /// Stops serving a vif (its channel closed, its bridge port gone) and forgets it; with
    /// `rm`, its directories go too.
    fn vif_forget(&mut self, id: u16, devid: u32, rm: bool) {
        if let Some(mut v) = self.vifs.remove(&(id, devid)) {
            if let Some(port) = v.drop_rings() {
                let _ = self.hv.evtchn_close(port);
            }
            if let (Some(p), Some(net)) = (v.port, self.net.as_mut()) {
                net.detach(p);
            }
        }
        let _ = self.xs.request(
            0,
            guest_abi::io::xenstore::XsType::Unwatch,
            0,
            crate::xenstore::wire::nul_joined(&[
                format!("{}/state", frontend_path(id, devid)),
                token(id, devid),
            ]),
        );
        if rm {
            let _ = self.xs.rm(0, &backend_path(id, devid));
            let _ = self.xs.rm(0, &frontend_path(id, devid));
        }
    }

    /// Domain `id` is gone: its vifs are no longer served, their ports leave the bridge.
    pub(super) fn vifs_down(&mut self, id: DomId) {
        let mine: Vec<u32> = self
            .vifs
            .keys()
            .filter(|k| k.0 == id.0)
            .map(|k| k.1)
            .collect();
        for devid in mine {
            self.vif_forget(id.0, devid, false);
        }
        let _ = self
            .xs
            .rm(0, &format!("/local/domain/0/backend/vif/{}", id.0));
    }

    /// The front end published its rings: check, bind, `Connected`.
    fn vif_connect(&mut self, id: u16, devid: u32) -> Result<(), String> {
        let fe = frontend_path(id, devid);
        let read = |ts: &mut Self, k: &str| -> Option<String> {
            ts.xs
                .read(0, &format!("{fe}/{k}"))
                .ok()
                .and_then(|v| String::from_utf8(v).ok())
        };
        let num = |ts: &mut Self, k: &str| read(ts, k).and_then(|s| s.trim().parse::<u32>().ok());
        if num(self, "request-rx-copy") != Some(1) {
            return Err(String::from(
                "request-rx-copy is not 1: the back end only copies (page flipping is not \
                 offered)",
            ));
        }
        if num(self, "multi-queue-num-queues").is_some_and(|n| n > 1) {
            return Err(String::from(
                "multi-queue-num-queues > 1: multiple queues were not offered",
            ));
        }
        let tx = num(self, "tx-ring-ref").ok_or("no tx-ring-ref")?;
        let rx = num(self, "rx-ring-ref").ok_or("no rx-ring-ref")?;
        let port = num(self, "event-channel")
            .ok_or("no event-channel (split event channels were not offered, and one is needed)")?;
        // Both ring pages must be reachable before we say Connected.
        for (what, gref) in [("tx-ring-ref", tx), ("rx-ring-ref", rx)] {
            let mut probe = [0u8; 4];
            let mut st = [0i16; 1];
            self.hv
                .grant_copy(
                    &mut [crate::hv::GrantCopy::FromGuest {
                        domid: DomId(id),
                        gref,
                        offset: 0,
                        buf: &mut probe,
                    }],
                    &mut st,
                )
                .map_err(|e| format!("grant copy of the {what} page: {e}"))?;
            if st[0] != 0 {
                return Err(format!(
                    "{what} {gref} cannot be read (grant status {})",
                    st[0]
                ));
            }
        }
        let local = self
            .hv
            .evtchn_bind_interdomain(DomId(id), port)
            .map_err(|e| format!("binding event-channel {port}: {e}"))?;
        let now = self.hv.now_ns();
        let v = self.vifs.get_mut(&(id, devid)).ok_or("gone")?;
        let credit = v.vif.spec.rate.map(|r| Credit::new(r, now));
        v.rings = Some((Rings::new(DomId(id), tx, rx, credit), local));
        v.front = Some((tx, rx, port));
        v.broken = None;
        Ok(())
    }

    /// Stops serving a vif whose front end broke the protocol or could not connect: a
    /// notice, the reason in the back end's `error` node, the channel closed, `Closing`.
    fn vif_disable(&mut self, id: u16, devid: u32, why: &str) {
        if let Some(v) = self.vifs.get_mut(&(id, devid)) {
            v.broken = Some(String::from(why));
            if let Some(port) = v.drop_rings() {
                let _ = self.hv.evtchn_close(port);
            }
        }
        let _ = writeln!(self.notices, "(xl) vif {id}.{devid}: disabled: {why}");
        let _ = self.xs.write(
            0,
            &format!("{}/error", backend_path(id, devid)),
            why.as_bytes(),
        );
        self.vif_set_state(id, devid, XenbusState::Closing);
    }

    /// Reacts to front-end state changes of the vifs (`events`: dom0's watch events).
    pub(super) fn vif_watch_events(&mut self, events: &[(String, String)]) {
        for (path, tok) in events {
            let Some((id, devid)) = tok.strip_prefix("vif/").and_then(|r| {
                let (a, b) = r.split_once('/')?;
                Some((a.parse::<u16>().ok()?, b.parse::<u32>().ok()?))
            }) else {
                continue;
            };
            let Some(own) = self.vifs.get(&(id, devid)).map(|v| v.state) else {
                continue;
            };
            let peer = self
                .xs
                .read(0, path)
                .map_or(XenbusState::Unknown, |v| xenbus::parse(&v));
            let next = match (own, peer) {
                (XenbusState::Closed, XenbusState::Initialising) => Some(XenbusState::InitWait),
                _ => back_step(own, peer),
            };
            let Some(next) = next else { continue };
            if next == XenbusState::Connected {
                if let Err(why) = self.vif_connect(id, devid) {
                    self.vif_disable(id, devid, &format!("not connecting: {why}"));
                    continue;
                }
            }
            if matches!(
                next,
                XenbusState::Closing | XenbusState::Closed | XenbusState::InitWait
            ) {
                if let Some(port) = self.vifs.get_mut(&(id, devid)).and_then(|v| v.drop_rings()) {
                    let _ = self.hv.evtchn_close(port);
                }
            }
            self.vif_set_state(id, devid, next);
            let detaching = self.vifs.get(&(id, devid)).is_some_and(|v| v.detaching);
            if next == XenbusState::Closed && detaching {
                self.vif_forget(id, devid, true);
            }
        }
    }

    /// The guests' side to the bridge: every connected vif whose channel was signalled (all
    /// of them if `all`), with packets left from the last pass, or whose credit came due,
    /// has its TX ring served into its bridge port's queue.
    pub(super) fn service_vifs_tx(&mut self, all: bool) {
        let now = self.hv.now_ns();
        let keys: Vec<(u16, u32)> = self.vifs.keys().copied().collect();
        for key in keys {
            let Some(v) = self.vifs.get_mut(&key) else {
                continue;
            };
            let (Some((rings, port)), Some(bport)) = (v.rings.as_mut(), v.port) else {
                continue;
            };
            let port = *port;
            v.kicked = self.hv.evtchn_take_pending(port);
            let due = v.wait_until.is_some_and(|t| now.is_none_or(|n| n >= t));
            if !(all || v.kicked || v.busy || due) {
                continue;
            }
            let Some(net) = self.net.as_mut() else {
                continue;
            };
            match rings.serve_tx(&mut self.hv, now, &mut |f| net.vif_from_guest(bport, f)) {
                Ok(s) => {
                    v.busy = s.more;
                    v.wait_until = s.wait_until;
                    if s.notify {
                        let _ = self.hv.evtchn_send(port);
                    }
                }
                Err(fatal) => self.vif_disable(key.0, key.1, &fatal.0),
            }
        }
    }

    /// The bridge to the guests: frames queued for each connected vif go into its front
    /// end's posted buffers (a vif starved of buffers waits for its channel).
    pub(super) fn service_vifs_rx(&mut self, all: bool) {
        let keys: Vec<(u16, u32)> = self.vifs.keys().copied().collect();
        for key in keys {
            let Some(v) = self.vifs.get_mut(&key) else {
                continue;
            };
            let kicked = core::mem::take(&mut v.kicked);
            let (Some((rings, port)), Some(bport)) = (v.rings.as_mut(), v.port) else {
                continue;
            };
            let port = *port;
            if rings.rx_starved && !(kicked || all) {
                continue;
            }
            let Some(net) = self.net.as_mut() else {
                continue;
            };
            match rings.serve_rx(&mut self.hv, &mut || net.vif_to_guest(bport)) {
                Ok(s) => {
                    v.busy |= s.more;
                    if s.notify {
                        let _ = self.hv.evtchn_send(port);
                    }
                }
                Err(fatal) => self.vif_disable(key.0, key.1, &fatal.0),
            }
        }
    }

    /// Whether a vif has work left from the last pass (dom0 should come back at once rather
    /// than sleep).
    pub fn vifs_busy(&self) -> bool {
        self.vifs.values().any(|v| v.busy)
    }

    /// The earliest time a rate-limited vif gets credit for the packets it has waiting (the
    /// main loop should not sleep past it).
    pub fn vifs_poll_at(&self) -> Option<u64> {
        self.vifs.values().filter_map(|v| v.wait_until).min()
    }

    /// What vif `devid` of domain `id` carried.
    pub fn vif_counters(&self, id: u16, devid: u32) -> Option<Counters> {
        self.vifs.get(&(id, devid)).map(VifBack::counters)
    }

    /// `xl network-attach <domain> [vif-spec...]`.
    pub(super) fn network_attach(&mut self, argv: &[&str], out: &mut dyn Write) -> XlResult {
        let [dom, words @ ..] = argv else {
            return Err(String::from(
                "usage: xl network-attach <Domain> [vif-spec-component(s)]...",
            ));
        };
        let (_, id) = self
            .resolve(dom)
            .map_err(|e| format!("network-attach: {e}"))?;
        if id == DomId::DOM0 {
            return Err(String::from(
                "network-attach: vifs are served to domUs; dom0 is on xenbr0 already",
            ));
        }
        let parsed = VifSpec::parse_words(words).map_err(|e| format!("network-attach: {e}"))?;
        let taken: Vec<(u32, Mac)> = self
            .vifs
            .iter()
            .filter(|(k, _)| k.0 == id.0)
            .map(|(k, v)| (k.1, v.vif.mac))
            .collect();
        let v = spec::resolve(id.0, parsed, &taken, &words.join(" "))
            .map_err(|e| format!("network-attach: {e}"))?;
        for n in &v.spec.notes {
            let _ = writeln!(out, "xl: network-attach: note: {n}");
        }
        self.vif_up(id, v)
            .map_err(|e| format!("network-attach: {e}"))
    }

    /// `xl network-detach <domain> <devid|mac>`: the back end closes, the front end follows,
    /// then the directories go (at once if the front end never connected).
    pub(super) fn network_detach(&mut self, argv: &[&str], _out: &mut dyn Write) -> XlResult {
        let [dom, dev] = argv else {
            return Err(String::from(
                "usage: xl network-detach <Domain> <DevId|mac>",
            ));
        };
        let (_, id) = self
            .resolve(dom)
            .map_err(|e| format!("network-detach: {e}"))?;
        let devid = match dev.parse::<u32>() {
            Ok(n) => Some(n),
            Err(_) => {
                let mac = spec::parse_mac(dev).map_err(|e| format!("network-detach: {e}"))?;
                self.vifs
                    .iter()
                    .find(|(k, v)| k.0 == id.0 && v.vif.mac == mac)
                    .map(|(k, _)| k.1)
            }
        };
        let Some(devid) = devid.filter(|d| self.vifs.contains_key(&(id.0, *d))) else {
            return Err(format!("network-detach: domain {} has no vif {dev}", id.0));
        };
        if let Some(v) = self.vifs.get_mut(&(id.0, devid)) {
            v.detaching = true;
        }
        let front = self
            .xs
            .read(0, &format!("{}/state", frontend_path(id.0, devid)))
            .map_or(XenbusState::Unknown, |s| xenbus::parse(&s));
        if matches!(
            front,
            XenbusState::Initialising | XenbusState::Closed | XenbusState::Unknown
        ) {
            self.vif_forget(id.0, devid, true);
            return Ok(());
        }
        if let Some(port) = self
            .vifs
            .get_mut(&(id.0, devid))
            .and_then(|v| v.drop_rings())
        {
            let _ = self.hv.evtchn_close(port);
        }
        self.vif_set_state(id.0, devid, XenbusState::Closing);
        let start = self.hv.now_ns();
        let mut polls = 0u32;
        while self.vifs.contains_key(&(id.0, devid)) {
            let mut sink = String::new();
            self.service_backends(&mut sink, false);
            self.hv.relax();
            polls += 1;
            let late = match (start, self.hv.now_ns()) {
                (Some(a), Some(b)) => b.saturating_sub(a) > super::block::DETACH_TIMEOUT_NS,
                _ => polls > 10_000,
            };
            if late {
                self.vif_forget(id.0, devid, true);
                return Err(format!(
                    "network-detach: domain {}'s front end did not close vif {devid} within \
                     {} s; removed anyway",
                    id.0,
                    super::block::DETACH_TIMEOUT_NS / 1_000_000_000
                ));
            }
        }
        Ok(())
    }

    /// `xl network-list <domain>...`: as Xen's xl prints it.
    pub(super) fn network_list(&mut self, argv: &[&str], out: &mut dyn Write) -> XlResult {
        if argv.is_empty() {
            return Err(String::from("usage: xl network-list <Domain(s)>"));
        }
        let _ = writeln!(
            out,
            "{:<3} {:<2} {:<17} {:<6} {:<5} {:<6} {:>5}/{:<5} {:<30}",
            "Idx", "BE", "Mac Addr.", "handle", "state", "evt-ch", "tx-", "rx-ring-ref", "BE-path"
        );
        for dom in argv {
            let (_, id) = self
                .resolve(dom)
                .map_err(|e| format!("network-list: {e}"))?;
            for ((d, devid), v) in &self.vifs {
                if *d != id.0 {
                    continue;
                }
                let (tx, rx, port) = v.front.map_or((-1i64, -1i64, -1i64), |(t, r, p)| {
                    (i64::from(t), i64::from(r), i64::from(p))
                });
                let _ = writeln!(
                    out,
                    "{devid:<3} {:<2} {} {devid:>6} {:>5} {port:>6} {tx:>5}/{rx:<11} {:<30}",
                    0,
                    fmt_mac(&v.vif.mac),
                    v.state as u32,
                    backend_path(*d, *devid)
                );
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
