//! Virtual block devices: `disk = [...]` of `xl create`, `xl block-attach`, `block-detach`,
//! `block-list`, and the XenStore side of blkback (`crate::blkback` serves the rings).
//!
//! Layout and handshake as Xen's libxl and blkback make them: the front-end directory
//! `/local/domain/<id>/device/vbd/<devid>` (the domain's: `backend`, `backend-id`, `state`,
//! `virtual-device`, `device-type`) and the back end's `/local/domain/0/backend/vbd/<id>/<devid>`
//! (dom0's, readable by the domain: `frontend`, `frontend-id`, `online`, `removable`,
//! `bootable`, `state`, `dev`, `type`, `mode`, `params`, the features it offers, and at
//! connection `sectors`, `sector-size`, `physical-sector-size`, `info`). The back end waits in
//! `InitWait`; when the front end says `Initialised` with its `ring-ref` (or
//! `ring-page-order` and `ring-ref0..`), `event-channel` and `protocol`, it binds the channel,
//! checks the ring pages can be reached, publishes the disk's size and goes `Connected`.
//!
//! A disk written by one domain is given to no other (Xen's rule): attaching a device that
//! overlaps one attached writable elsewhere, or attaching writable one that another domain
//! has, is refused naming both; read-only sharing is allowed.

use super::{Toolstack, XlResult};
use crate::blkback::ring::MAX_ORDER;
use crate::blkback::service::{Done, Ring, MAX_INDIRECT_SEGMENTS};
use crate::config::disk::{parse_disk_list, DiskSpec};
use crate::hv::Hypervisor;
use crate::xenstore::path::domain_path;
use crate::xenstore::xenbus::{self, back_step};
use crate::xenstore::Perms;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write;
use guest_abi::io::blkif::{VDISK_CDROM, VDISK_READONLY};
use guest_abi::io::xenbus::XenbusState;
use guest_abi::types::DomId;

/// One virtual disk's back end.
#[derive(Debug)]
pub struct VbdBack {
    pub spec: DiskSpec,
    /// Read-only as served (asked for, or the device is).
    pub read_only: bool,
    pub state: XenbusState,
    /// The ring and our end of the event channel, once connected.
    pub ring: Option<(Ring, u32)>,
    /// The front end's ring-ref (the first page) and port, for block-list.
    pub front: Option<(u32, u32)>,
    /// Why it stopped being served, if it did.
    pub broken: Option<String>,
    /// `xl block-detach` asked for it to go.
    pub detaching: bool,
    /// Requests are left for the next pass.
    pub busy: bool,
    /// What it did.
    pub done: Done,
}

/// The front end's directory of disk `devid` of domain `id`.
pub fn frontend_path(id: u16, devid: u32) -> String {
    format!("{}/device/vbd/{devid}", domain_path(id))
}

/// The back end's directory.
pub fn backend_path(id: u16, devid: u32) -> String {
    format!("/local/domain/0/backend/vbd/{id}/{devid}")
}

fn token(id: u16, devid: u32) -> String {
    format!("vbd/{id}/{devid}")
}

impl<H: Hypervisor> Toolstack<'_, H> {
    /// Checks that `spec` can be served to domain `id`: its device exists in dom0 and no
    /// other domain writes what it covers (nor reads it, if `spec` writes).
    pub(super) fn vbd_check(&self, id: u16, spec: &DiskSpec) -> Result<(), String> {
        let (disk, first, sectors, _) = self.disks.extent(&spec.target).ok_or_else(|| {
            format!(
                "disk {}: dom0 has no device {} (`lsblk` lists them)",
                spec.vdev, spec.target
            )
        })?;
        // dom0's own storage is dom0's alone to write: a domain gets it read-only at most.
        if let Some(st) = &self.storage {
            if let Some((d2, f2, s2, _)) = self.disks.extent(st.device()) {
                let overlaps = d2 == disk && first < f2 + s2 && f2 < first + sectors;
                if overlaps && !spec.read_only {
                    return Err(format!(
                        "disk {}: {} overlaps dom0's storage ({}, {}); a domain gets it \
                         read-only only",
                        spec.vdev,
                        spec.target,
                        st.device(),
                        crate::fs::MOUNT_POINTS.join(" and ")
                    ));
                }
            }
        }
        for (&(other, _), v) in &self.vbds {
            let Some((d2, f2, s2, _)) = self.disks.extent(&v.spec.target) else {
                continue;
            };
            let overlaps = d2 == disk && first < f2 + s2 && f2 < first + sectors;
            if !overlaps {
                continue;
            }
            if other == id && v.spec.devid == spec.devid {
                return Err(format!(
                    "disk {}: domain {id} already has {}",
                    spec.vdev, v.spec.vdev
                ));
            }
            if other != id && (!v.read_only || !spec.read_only) {
                return Err(format!(
                    "disk {}: {} overlaps {} which domain {other} has as {} ({}); a disk \
                     written by one domain is given to no other (read-only sharing is allowed)",
                    spec.vdev,
                    spec.target,
                    v.spec.target,
                    v.spec.vdev,
                    if v.read_only { "read-only" } else { "writable" }
                ));
            }
        }
        Ok(())
    }

    /// Parses and checks a domain's `disk = [...]` before it is built.
    pub(super) fn vbd_check_config(
        &self,
        id: u16,
        specs: &[String],
    ) -> Result<Vec<DiskSpec>, String> {
        let disks = parse_disk_list(specs).map_err(|e| format!("{e}"))?;
        for d in &disks {
            self.vbd_check(id, d)?;
        }
        Ok(disks)
    }

    /// Creates disk `spec`'s directories for domain `id` and starts its back end (`InitWait`).
    pub(super) fn vbd_up(&mut self, id: DomId, spec: DiskSpec) -> Result<(), String> {
        self.vbd_check(id.0, &spec)?;
        let (_, _, _, dev_ro) = self
            .disks
            .extent(&spec.target)
            .ok_or("the device went away")?;
        let read_only = spec.read_only || dev_ro;
        let (fe, be) = (
            frontend_path(id.0, spec.devid),
            backend_path(id.0, spec.devid),
        );
        let init = xenbus::text(XenbusState::Initialising);
        let devid = format!("{}", spec.devid);
        let idt = format!("{}", id.0);
        let fe_nodes: [(&str, &str); 5] = [
            ("backend", &be),
            ("backend-id", "0"),
            ("state", &init),
            ("virtual-device", &devid),
            ("device-type", if spec.cdrom { "cdrom" } else { "disk" }),
        ];
        let order = format!("{MAX_ORDER}");
        let indirect = format!("{MAX_INDIRECT_SEGMENTS}");
        let be_nodes: [(&str, &str); 15] = [
            ("frontend", &fe),
            ("frontend-id", &idt),
            ("online", "1"),
            ("removable", if spec.cdrom { "1" } else { "0" }),
            ("bootable", "1"),
            ("state", &init),
            ("dev", &spec.vdev),
            ("type", "phy"),
            ("mode", if read_only { "r" } else { "w" }),
            ("params", &spec.target),
            ("feature-flush-cache", "1"),
            ("feature-persistent", "1"),
            ("feature-max-indirect-segments", &indirect),
            ("max-ring-page-order", &order),
            ("feature-discard", "0"),
        ];
        let fe_perms = Perms::parse([format!("n{}", id.0).as_str(), "r0"]).expect("well-formed");
        let be_perms = Perms::parse(["n0", format!("r{}", id.0).as_str()]).expect("well-formed");
        for (dir, nodes, perms) in [
            (&fe, &fe_nodes[..], &fe_perms),
            (&be, &be_nodes[..], &be_perms),
        ] {
            let mut paths = Vec::new();
            paths.push(dir.clone());
            self.xs
                .write(0, dir, b"")
                .map_err(|e| format!("xenstore write {dir}: {e}"))?;
            for (k, v) in nodes {
                let p = format!("{dir}/{k}");
                self.xs
                    .write(0, &p, v.as_bytes())
                    .map_err(|e| format!("xenstore write {p}: {e}"))?;
                paths.push(p);
            }
            for p in paths {
                let _ = self.xs.set_perms(0, &p, perms);
            }
        }
        self.xs
            .watch(0, &format!("{fe}/state"), &token(id.0, spec.devid))
            .map_err(|e| format!("xenstore watch {fe}/state: {e}"))?;
        let devid_n = spec.devid;
        self.vbds.insert(
            (id.0, devid_n),
            VbdBack {
                spec,
                read_only,
                state: XenbusState::Initialising,
                ring: None,
                front: None,
                broken: None,
                detaching: false,
                busy: false,
                done: Done::default(),
            },
        );
        self.vbd_set_state(id.0, devid_n, XenbusState::InitWait);
        Ok(())
    }

    fn vbd_set_state(&mut self, id: u16, devid: u32, s: XenbusState) {
        if let Some(v) = self.vbds.get_mut(&(id, devid)) {
            v.state = s;
        }
        let _ = self.xs.write(
            0,
            &format!("{}/state", backend_path(id, devid)),
            xenbus::text(s).as_bytes(),
        );
    }

    /// Stops serving a disk (its channel closed) and forgets it; with `rm`, its directories
    /// go too.
    fn vbd_forget(&mut self, id: u16, devid: u32, rm: bool) {
        if let Some(v) = self.vbds.remove(&(id, devid)) {
            if let Some((_, port)) = v.ring {
                let _ = self.hv.evtchn_close(port);
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

    /// Domain `id` is gone: its disks are no longer served.
    pub(super) fn vbds_down(&mut self, id: DomId) {
        let mine: Vec<u32> = self
            .vbds
            .keys()
            .filter(|k| k.0 == id.0)
            .map(|k| k.1)
            .collect();
        for devid in mine {
            self.vbd_forget(id.0, devid, false);
        }
        let _ = self
            .xs
            .rm(0, &format!("/local/domain/0/backend/vbd/{}", id.0));
    }

    /// The front end published its ring: bind, check, publish the disk, `Connected`.
    fn vbd_connect(&mut self, id: u16, devid: u32) -> Result<(), String> {
        let fe = frontend_path(id, devid);
        let read = |ts: &mut Self, k: &str| -> Option<String> {
            ts.xs
                .read(0, &format!("{fe}/{k}"))
                .ok()
                .and_then(|v| String::from_utf8(v).ok())
        };
        let num = |ts: &mut Self, k: &str| read(ts, k).and_then(|s| s.trim().parse::<u32>().ok());
        if let Some(p) = read(self, "protocol") {
            if p != "x86_64-abi" {
                return Err(format!(
                    "front end protocol {p:?}: only x86_64-abi is served"
                ));
            }
        }
        let order = num(self, "ring-page-order").unwrap_or(0);
        if order > MAX_ORDER {
            return Err(format!(
                "ring-page-order {order}: at most {MAX_ORDER} is offered"
            ));
        }
        let grefs: Vec<u32> = if read(self, "ring-page-order").is_some() {
            (0..1u32 << order)
                .map(|i| num(self, &format!("ring-ref{i}")).ok_or(format!("no ring-ref{i}")))
                .collect::<Result<_, _>>()?
        } else {
            alloc::vec![num(self, "ring-ref").ok_or("no ring-ref")?]
        };
        let port = num(self, "event-channel").ok_or("no event-channel")?;
        let ring = Ring::new(DomId(id), grefs.clone());
        // The ring pages must be reachable before we say Connected.
        let mut probe = [0u8; 4];
        let mut st = [0i16; 1];
        self.hv
            .grant_copy(
                &mut [crate::hv::GrantCopy::FromGuest {
                    domid: DomId(id),
                    gref: grefs[0],
                    offset: 0,
                    buf: &mut probe,
                }],
                &mut st,
            )
            .map_err(|e| format!("grant copy of the ring: {e}"))?;
        if st[0] != 0 {
            return Err(format!(
                "ring-ref {} cannot be read (grant status {})",
                grefs[0], st[0]
            ));
        }
        let local = self
            .hv
            .evtchn_bind_interdomain(DomId(id), port)
            .map_err(|e| format!("binding event-channel {port}: {e}"))?;
        let be = backend_path(id, devid);
        let v = self.vbds.get_mut(&(id, devid)).ok_or("gone")?;
        let sectors = self.disks.extent(&v.spec.target).map_or(0, |e| e.2);
        let info = if v.read_only { VDISK_READONLY } else { 0 }
            | if v.spec.cdrom { VDISK_CDROM } else { 0 };
        v.ring = Some((ring, local));
        v.front = Some((grefs[0], port));
        for (k, val) in [
            ("sectors", format!("{sectors}")),
            ("sector-size", String::from("512")),
            ("physical-sector-size", String::from("512")),
            ("info", format!("{info}")),
        ] {
            let _ = self.xs.write(0, &format!("{be}/{k}"), val.as_bytes());
        }
        Ok(())
    }

    /// Reacts to front-end state changes of the disks (`events`: dom0's watch events).
    pub(super) fn vbd_watch_events(&mut self, events: &[(String, String)]) {
        for (path, tok) in events {
            let Some((id, devid)) = tok.strip_prefix("vbd/").and_then(|r| {
                let (a, b) = r.split_once('/')?;
                Some((a.parse::<u16>().ok()?, b.parse::<u32>().ok()?))
            }) else {
                continue;
            };
            let Some(own) = self.vbds.get(&(id, devid)).map(|v| v.state) else {
                continue;
            };
            let peer = self
                .xs
                .read(0, path)
                .map_or(XenbusState::Unknown, |v| xenbus::parse(&v));
            let next = match (own, peer) {
                // A front end starting again (reconnecting) finds us waiting again.
                (XenbusState::Closed, XenbusState::Initialising) => Some(XenbusState::InitWait),
                _ => back_step(own, peer),
            };
            let Some(next) = next else { continue };
            let vdev = self
                .vbds
                .get(&(id, devid))
                .map(|v| v.spec.vdev.clone())
                .unwrap_or_default();
            if next == XenbusState::Connected {
                if let Err(why) = self.vbd_connect(id, devid) {
                    let _ = writeln!(
                        self.notices,
                        "(xl) disk {vdev} of domain {id}: not connecting: {why}"
                    );
                    if let Some(v) = self.vbds.get_mut(&(id, devid)) {
                        v.broken = Some(why.clone());
                    }
                    let _ = self.xs.write(
                        0,
                        &format!("{}/error", backend_path(id, devid)),
                        why.as_bytes(),
                    );
                    self.vbd_set_state(id, devid, XenbusState::Closing);
                    continue;
                }
            }
            if matches!(
                next,
                XenbusState::Closing | XenbusState::Closed | XenbusState::InitWait
            ) {
                if let Some(v) = self.vbds.get_mut(&(id, devid)) {
                    if let Some((_, port)) = v.ring.take() {
                        let _ = self.hv.evtchn_close(port);
                    }
                }
            }
            self.vbd_set_state(id, devid, next);
            let detaching = self.vbds.get(&(id, devid)).is_some_and(|v| v.detaching);
            if next == XenbusState::Closed && detaching {
                self.vbd_forget(id, devid, true);
            }
        }
    }

    /// Serves every connected disk whose channel was signalled (all of them if `all`), and
    /// those with requests left from the last pass.
    pub(super) fn service_vbds(&mut self, all: bool) {
        let keys: Vec<(u16, u32)> = self.vbds.keys().copied().collect();
        for key in keys {
            let Some(v) = self.vbds.get_mut(&key) else {
                continue;
            };
            let Some((ring, port)) = v.ring.as_mut() else {
                continue;
            };
            let port = *port;
            if !(all || v.busy || self.hv.evtchn_take_pending(port)) {
                continue;
            }
            let Some(mut dev) = self.disks.open(&v.spec.target) else {
                continue;
            };
            let r = ring.serve(&mut self.hv, &mut dev, MAX_INDIRECT_SEGMENTS, &mut v.done);
            match r {
                Ok(s) => {
                    v.busy = s.more;
                    if s.published {
                        let _ = self.hv.evtchn_send(port);
                    }
                }
                Err(why) => {
                    let vdev = v.spec.vdev.clone();
                    v.broken = Some(why.clone());
                    v.busy = false;
                    if let Some((_, port)) = v.ring.take() {
                        let _ = self.hv.evtchn_close(port);
                    }
                    let _ = writeln!(
                        self.notices,
                        "(xl) disk {vdev} of domain {}: disconnected: {why}",
                        key.0
                    );
                    let _ = self.xs.write(
                        0,
                        &format!("{}/error", backend_path(key.0, key.1)),
                        why.as_bytes(),
                    );
                    self.vbd_set_state(key.0, key.1, XenbusState::Closing);
                }
            }
        }
    }

    /// Whether a disk has requests left from the last pass (dom0 should come back at once
    /// rather than sleep).
    pub fn vbds_busy(&self) -> bool {
        self.vbds.values().any(|v| v.busy)
    }

    /// `xl block-attach <domain> <disk-spec>...`.
    pub(super) fn block_attach(&mut self, argv: &[&str], _out: &mut dyn Write) -> XlResult {
        let [dom, words @ ..] = argv else {
            return Err(String::from(
                "usage: xl block-attach <Domain> <disk-spec-component(s)>...",
            ));
        };
        if words.is_empty() {
            return Err(String::from(
                "usage: xl block-attach <Domain> <disk-spec-component(s)>...",
            ));
        }
        let (_, id) = self
            .resolve(dom)
            .map_err(|e| format!("block-attach: {e}"))?;
        if id == DomId::DOM0 {
            return Err(String::from(
                "block-attach: disks are served to domUs, not to dom0 itself",
            ));
        }
        let spec = DiskSpec::parse_words(words).map_err(|e| format!("block-attach: {e}"))?;
        let attached: Vec<DiskSpec> = self
            .vbds
            .iter()
            .filter(|(k, _)| k.0 == id.0)
            .map(|(_, v)| v.spec.clone())
            .collect();
        crate::config::disk::check_vdev_free(&attached, &spec, &words.join(" "))
            .map_err(|e| format!("block-attach: {e}"))?;
        self.vbd_up(id, spec)
            .map_err(|e| format!("block-attach: {e}"))
    }

    /// `xl block-detach <domain> <vdev|devid>`: the back end closes, the front end follows,
    /// then the directories go (at once if the front end never connected).
    pub(super) fn block_detach(&mut self, argv: &[&str], _out: &mut dyn Write) -> XlResult {
        let [dom, dev] = argv else {
            return Err(String::from("usage: xl block-detach <Domain> <DevId>"));
        };
        let (_, id) = self
            .resolve(dom)
            .map_err(|e| format!("block-detach: {e}"))?;
        let devid = match dev.parse::<u32>() {
            Ok(n) => n,
            Err(_) => {
                crate::config::disk::vdev_number(dev).map_err(|e| format!("block-detach: {e}"))?
            }
        };
        let Some(v) = self.vbds.get_mut(&(id.0, devid)) else {
            return Err(format!("block-detach: domain {} has no disk {dev}", id.0));
        };
        v.detaching = true;
        let front = self
            .xs
            .read(0, &format!("{}/state", frontend_path(id.0, devid)))
            .map_or(XenbusState::Unknown, |s| xenbus::parse(&s));
        if matches!(
            front,
            XenbusState::Initialising | XenbusState::Closed | XenbusState::Unknown
        ) {
            self.vbd_forget(id.0, devid, true);
            return Ok(());
        }
        self.vbd_set_state(id.0, devid, XenbusState::Closing);
        // Wait for the front end to let go (as libxl, with a deadline).
        let start = self.hv.now_ns();
        let mut polls = 0u32;
        while self.vbds.contains_key(&(id.0, devid)) {
            let mut sink = String::new();
            self.service_backends(&mut sink, false);
            self.hv.relax();
            polls += 1;
            let late = match (start, self.hv.now_ns()) {
                (Some(a), Some(b)) => b.saturating_sub(a) > DETACH_TIMEOUT_NS,
                _ => polls > 10_000,
            };
            if late {
                self.vbd_forget(id.0, devid, true);
                return Err(format!(
                    "block-detach: domain {}'s front end did not close {dev} within {} s; \
                     removed anyway",
                    id.0,
                    DETACH_TIMEOUT_NS / 1_000_000_000
                ));
            }
        }
        Ok(())
    }

    /// `xl block-list <domain>...`: as Xen's xl prints it.
    pub(super) fn block_list(&mut self, argv: &[&str], out: &mut dyn Write) -> XlResult {
        if argv.is_empty() {
            return Err(String::from("usage: xl block-list <Domain(s)>"));
        }
        let _ = writeln!(out, "Vdev  BE  handle state evt-ch ring-ref BE-path");
        for dom in argv {
            let (_, id) = self.resolve(dom).map_err(|e| format!("block-list: {e}"))?;
            for ((d, devid), v) in &self.vbds {
                if *d != id.0 {
                    continue;
                }
                let (rref, port) = v
                    .front
                    .map_or((-1i64, -1i64), |(r, p)| (i64::from(r), i64::from(p)));
                let _ = writeln!(
                    out,
                    "{devid:<5} {:<3} {:<6} {:<5} {port:<6} {rref:<8} {}",
                    0,
                    devid,
                    v.state as u32,
                    backend_path(*d, *devid)
                );
            }
        }
        Ok(())
    }
}

/// How long `xl block-detach` waits for the front end to close.
pub const DETACH_TIMEOUT_NS: u64 = 10_000_000_000;
