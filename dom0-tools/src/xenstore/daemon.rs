//! xenstored's operations: one connection per domain (dom0's is built in), every `XS_*`
//! request, watches and their events, transactions and the per-domain quotas.
//!
//! Requests arrive as [`Msg`]s (from a ring, see [`Xenstored::service_ring`], or from dom0's
//! own tools through [`Xenstored::request`]); replies and watch events are queued on the
//! connection until its ring has room.
//!
//! Everything a domain can make xenstored hold is bounded ([`Quotas`]): its nodes and their
//! bytes, its watches, its transactions (each a read set and an overlay, never a copy of the
//! store: [`super::txn`]), and its unread output. A connection with `outstanding` replies or
//! `output_bytes` bytes unread is not served: its requests stay on its ring until it reads
//! its responses. Watch events past `watch_events` unread are dropped (and logged). Replies
//! never exceed `XENSTORE_PAYLOAD_MAX` (`E2BIG`; `XS_DIRECTORY_PART` lists big directories).
//! Allocations a request drives are fallible where they are large (values, replies, the
//! output queue), and a request is refused with `ENOMEM` when dom0's heap is short
//! ([`Xenstored::heap_free`]), so a guest's request never takes dom0 down.

use super::path::{self, canonical, canonical_watch, domain_path};
use super::perms::Perms;
use super::ring::{self, RingPage, XS_REQ, XS_RSP};
pub use super::store::Quotas;
use super::store::{
    plan_mkdir, plan_rm, plan_set_perms, plan_write, readable, Change, Plan, Store, View,
};
use super::txn::{Tx, TxView};
use super::wire::{self, nul_joined, Msg, Parse};
use alloc::collections::{BTreeMap, VecDeque};
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use guest_abi::errno::Errno;
use guest_abi::io::xenstore::{
    XsType, XENSTORE_ERROR_PROTO, XENSTORE_ERROR_RINGIDX, XENSTORE_PAYLOAD_MAX,
};

/// Bytes charged per watch beyond its path and token.
pub const WATCH_OVERHEAD: usize = 64;
/// Bytes charged per open transaction before it records anything.
pub const TX_OVERHEAD: usize = 128;
/// dom0's heap must have this much free for a request to be handled (else `ENOMEM`): more
/// than any one request allocates.
pub const REQUEST_HEADROOM: usize = 256 << 10;
/// Watch events dom0's own tools may leave untaken (they are taken every shell pass).
pub const DOM0_EVENTS: usize = 1024;
/// Log lines kept until [`Xenstored::take_log`].
const LOG_LINES: usize = 64;

/// A registered watch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Watch {
    /// Canonical (absolute or special) path.
    pub path: String,
    pub token: String,
    /// Registered with a relative path: events report paths relative to the home.
    pub relative: bool,
}

impl Watch {
    /// Bytes charged for it.
    pub fn cost(&self) -> usize {
        WATCH_OVERHEAD + self.path.len() + self.token.len()
    }
}

/// A domain's shared ring page and event channel, as introduced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RingInfo {
    pub mfn: u64,
    pub port: u32,
}

/// One encoded message waiting for ring space.
#[derive(Debug)]
struct Out {
    data: Vec<u8>,
    event: bool,
}

/// One client.
#[derive(Debug, Default)]
pub struct Conn {
    pub ring: Option<RingInfo>,
    watches: Vec<Watch>,
    txs: BTreeMap<u32, Tx>,
    /// Bytes read from the ring that do not form a whole message yet.
    inbuf: Vec<u8>,
    /// Encoded messages waiting for ring space; the first may be partly sent (`sent`).
    outq: VecDeque<Out>,
    sent: usize,
    /// Unsent bytes, replies and watch events in `outq`.
    out_bytes: usize,
    out_replies: usize,
    out_events: usize,
    /// Watch events for dom0's own tools (which do not read a ring).
    events: VecDeque<(String, String)>,
    /// A protocol violation stopped this ring.
    pub broken: Option<&'static str>,
    /// Watch events dropped because the connection did not read them.
    pub dropped_events: u64,
    /// Dropping events now (logged once per episode).
    dropping: bool,
    /// Not served for unread output since its queue last emptied (logged once).
    pub stalled: bool,
}

impl Conn {
    pub fn watches(&self) -> &[Watch] {
        &self.watches
    }

    /// Bytes this connection holds outside the tree: watches and open transactions.
    pub fn held(&self) -> usize {
        self.watches.iter().map(Watch::cost).sum::<usize>()
            + self
                .txs
                .values()
                .map(|t| TX_OVERHEAD + t.bytes)
                .sum::<usize>()
    }

    /// Bytes of replies and events queued and not yet on the ring.
    pub fn queued_bytes(&self) -> usize {
        self.out_bytes
    }

    /// Replies queued and not yet on the ring.
    pub fn queued_replies(&self) -> usize {
        self.out_replies
    }

    /// Watch events queued and not yet on the ring.
    pub fn queued_events(&self) -> usize {
        self.out_events + self.events.len()
    }

    /// Whether requests are taken now: not while too much output waits (dom0 always).
    fn can_take(&self, dom: u16, q: &Quotas) -> bool {
        dom == 0 || (self.out_replies < q.outstanding && self.out_bytes < q.output_bytes)
    }

    /// Queues `data` (a reply, or an event) at `at` (else at the end).
    fn push(&mut self, data: Vec<u8>, event: bool, at: Option<usize>) -> Result<(), Errno> {
        self.outq.try_reserve(1).map_err(|_| Errno::ENOMEM)?;
        self.out_bytes += data.len();
        if event {
            self.out_events += 1;
        } else {
            self.out_replies += 1;
        }
        let o = Out { data, event };
        match at {
            Some(i) if i <= self.outq.len() => self.outq.insert(i, o),
            _ => self.outq.push_back(o),
        }
        Ok(())
    }
}

/// What one pass over a ring did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RingActivity {
    /// Request bytes consumed.
    pub consumed: usize,
    /// Response bytes produced.
    pub produced: usize,
}

impl RingActivity {
    /// The peer should be notified.
    pub fn notify(&self) -> bool {
        self.consumed > 0 || self.produced > 0
    }
}

/// The daemon.
#[derive(Debug)]
pub struct Xenstored {
    store: Store,
    conns: BTreeMap<u16, Conn>,
    next_tx: u32,
    pub quotas: Quotas,
    /// Free bytes in dom0's heap, if known: requests are refused (`ENOMEM`) below
    /// [`REQUEST_HEADROOM`].
    pub heap_free: Option<fn() -> usize>,
    log: VecDeque<String>,
}

impl Default for Xenstored {
    fn default() -> Self {
        Xenstored::new()
    }
}

/// Keeps a log line (the oldest go first).
fn log_line(log: &mut VecDeque<String>, line: String) {
    if log.len() >= LOG_LINES {
        log.pop_front();
    }
    log.push_back(line);
}

/// Queues watch event (`p`, `token`) on `c`, unless an identical one is still waiting (as
/// Xen's xenstored) or the connection left too many unread: then it is dropped and the
/// first drop of an episode logged.
fn queue_event(
    dom: u16,
    c: &mut Conn,
    q: &Quotas,
    log: &mut VecDeque<String>,
    p: &str,
    token: &str,
) {
    let full;
    if dom == 0 && c.ring.is_none() {
        if c.events.iter().any(|(ep, et)| ep == p && et == token) {
            return;
        }
        full = c.events.len() >= DOM0_EVENTS || c.events.try_reserve(1).is_err();
        if !full {
            c.events.push_back((String::from(p), String::from(token)));
        }
    } else {
        // Refused before anything is built: a full queue costs nothing more.
        let len = wire::HEADER + p.len() + token.len() + 2;
        full =
            dom != 0 && (c.out_events >= q.watch_events || c.out_bytes + len > 2 * q.output_bytes);
        if !full {
            let m = Msg::new(XsType::WatchEvent, 0, 0, nul_joined(&[p, token]));
            let Ok(data) = m.try_encode() else {
                c.dropped_events += 1;
                return;
            };
            // An identical event not yet started is enough.
            let skip = usize::from(c.sent > 0);
            if c.outq.iter().skip(skip).any(|o| o.event && o.data == data) {
                return;
            }
            if c.push(data, true, None).is_err() {
                c.dropped_events += 1;
                return;
            }
        }
    }
    if full {
        c.dropped_events += 1;
        if !c.dropping {
            c.dropping = true;
            log_line(
                log,
                format!(
                    "domain {dom}: watch events dropped: {} unread ({} bytes queued)",
                    c.queued_events(),
                    c.out_bytes
                ),
            );
        }
    } else {
        c.dropping = false;
    }
}

impl Xenstored {
    /// A fresh store with dom0 connected.
    pub fn new() -> Xenstored {
        let mut conns = BTreeMap::new();
        conns.insert(0, Conn::default());
        Xenstored {
            store: Store::new(),
            conns,
            next_tx: 1,
            quotas: Quotas::default(),
            heap_free: None,
            log: VecDeque::new(),
        }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn conn(&self, dom: u16) -> Option<&Conn> {
        self.conns.get(&dom)
    }

    /// Log lines since the last call (dropped events, connections not served).
    pub fn take_log(&mut self) -> Vec<String> {
        self.log.drain(..).collect()
    }

    /// Bytes domain `dom` makes xenstored hold: its nodes, watches and transactions.
    pub fn held_by(&self, dom: u16) -> usize {
        self.store.usage_of(dom).bytes + self.conns.get(&dom).map_or(0, Conn::held)
    }

    /// Bytes all unprivileged connections hold outside the tree.
    fn held_total(&self) -> usize {
        self.conns
            .iter()
            .filter(|(&d, _)| d != 0)
            .map(|(_, c)| c.held())
            .sum()
    }

    /// Introduced domains (dom0 excluded) with their rings.
    pub fn domains(&self) -> Vec<(u16, Option<RingInfo>)> {
        self.conns
            .iter()
            .filter(|(&d, _)| d != 0)
            .map(|(&d, c)| (d, c.ring))
            .collect()
    }

    /// Handles request `m` from domain `dom` and returns the reply (watch events it caused
    /// are queued on their connections).
    pub fn handle(&mut self, dom: u16, m: &Msg) -> Msg {
        match self.op(dom, m) {
            Ok((_, payload)) if payload.len() > XENSTORE_PAYLOAD_MAX => {
                Msg::error(m.req_id, m.tx_id, Errno::E2BIG)
            }
            Ok((ty, payload)) => Msg {
                ty: ty as u32,
                req_id: m.req_id,
                tx_id: m.tx_id,
                payload,
            },
            Err(e) => Msg::error(m.req_id, m.tx_id, e),
        }
    }

    /// dom0's tools: one request, answered at once (payload or errno).
    pub fn request(
        &mut self,
        dom: u16,
        ty: XsType,
        tx: u32,
        payload: Vec<u8>,
    ) -> Result<Vec<u8>, Errno> {
        let m = Msg::new(ty, 0, tx, payload);
        let r = self.handle(dom, &m);
        if r.ty == XsType::Error as u32 {
            let name = wire::error_name(&r.payload);
            return Err(Errno::from_name(&name).unwrap_or(Errno::EIO));
        }
        Ok(r.payload)
    }

    /// Convenience: read `p` as `dom`.
    pub fn read(&mut self, dom: u16, p: &str) -> Result<Vec<u8>, Errno> {
        self.request(dom, XsType::Read, 0, nul_joined(&[p]))
    }

    /// Convenience: write `p` = `v` as `dom`.
    pub fn write(&mut self, dom: u16, p: &str, v: &[u8]) -> Result<(), Errno> {
        let mut payload = nul_joined(&[p]);
        payload.extend_from_slice(v);
        self.request(dom, XsType::Write, 0, payload).map(drop)
    }

    /// Convenience: remove `p` as `dom`.
    pub fn rm(&mut self, dom: u16, p: &str) -> Result<(), Errno> {
        self.request(dom, XsType::Rm, 0, nul_joined(&[p])).map(drop)
    }

    /// Convenience: list `p` as `dom`; a directory too big for one reply is listed in
    /// parts (`XS_DIRECTORY_PART`), as libxenstore does.
    pub fn directory(&mut self, dom: u16, p: &str) -> Result<Vec<String>, Errno> {
        match self.request(dom, XsType::Directory, 0, nul_joined(&[p])) {
            Ok(r) => Ok(split_list(&r)),
            Err(Errno::E2BIG) => self.directory_parts(dom, p),
            Err(e) => Err(e),
        }
    }

    fn directory_parts(&mut self, dom: u16, p: &str) -> Result<Vec<String>, Errno> {
        'again: loop {
            let mut names = Vec::new();
            let mut off = 0usize;
            let mut gen = None;
            loop {
                let r = self.request(
                    dom,
                    XsType::DirectoryPart,
                    0,
                    nul_joined(&[p, &format!("{off}")]),
                )?;
                let mut items = r.split(|&b| b == 0);
                let g = items.next().unwrap_or_default().to_vec();
                if gen.get_or_insert_with(|| g.clone()) != &g {
                    continue 'again;
                }
                let body = r.get(g.len() + 1..).unwrap_or_default();
                // The last part ends with an empty name (one more NUL).
                let done = body == [0] || body.ends_with(&[0, 0]);
                for s in body.split(|&b| b == 0).filter(|s| !s.is_empty()) {
                    off += s.len() + 1;
                    names.push(String::from_utf8_lossy(s).into_owned());
                }
                if done || body.is_empty() {
                    return Ok(names);
                }
            }
        }
    }

    /// Convenience: permissions of `p` as `dom`.
    pub fn get_perms(&mut self, dom: u16, p: &str) -> Result<Perms, Errno> {
        let r = self.request(dom, XsType::GetPerms, 0, nul_joined(&[p]))?;
        Perms::parse(split_list(&r).iter().map(String::as_str))
    }

    /// Convenience: set permissions of `p` as `dom`.
    pub fn set_perms(&mut self, dom: u16, p: &str, perms: &Perms) -> Result<(), Errno> {
        let mut items = alloc::vec![String::from(p)];
        items.extend(perms.texts());
        self.request(dom, XsType::SetPerms, 0, nul_joined(&items))
            .map(drop)
    }

    /// Convenience: watch `p` with `token` as `dom`.
    pub fn watch(&mut self, dom: u16, p: &str, token: &str) -> Result<(), Errno> {
        self.request(dom, XsType::Watch, 0, nul_joined(&[p, token]))
            .map(drop)
    }

    /// Watch events queued for dom0's own tools (path, token).
    pub fn take_events(&mut self, dom: u16) -> Vec<(String, String)> {
        self.conns
            .get_mut(&dom)
            .map(|c| {
                c.dropping = false;
                c.events.drain(..).collect()
            })
            .unwrap_or_default()
    }

    /// `XS_INTRODUCE` on behalf of the toolstack.
    pub fn introduce(&mut self, domid: u16, mfn: u64, port: u32) -> Result<(), Errno> {
        let payload = nul_joined(&[format!("{domid}"), format!("{mfn}"), format!("{port}")]);
        self.request(0, XsType::Introduce, 0, payload).map(drop)
    }

    /// `XS_RELEASE` on behalf of the toolstack.
    pub fn release(&mut self, domid: u16) -> Result<(), Errno> {
        self.request(0, XsType::Release, 0, nul_joined(&[format!("{domid}")]))
            .map(drop)
    }

    /// Canonical path `s` as `dom` sent it; an unprivileged domain's paths are limited to
    /// `path_len` bytes below its home (or absolute elsewhere), `EINVAL` beyond, as Xen.
    fn path(&self, dom: u16, s: &str) -> Result<String, Errno> {
        let p = canonical(dom, s)?;
        check_path_len(dom, &p, &self.quotas)?;
        Ok(p)
    }

    fn op(&mut self, dom: u16, m: &Msg) -> Result<(XsType, Vec<u8>), Errno> {
        let ty = XsType::from_u32(m.ty).ok_or(Errno::EINVAL)?;
        if !self.conns.contains_key(&dom) {
            return Err(Errno::EACCES);
        }
        if self.heap_free.is_some_and(|free| free() < REQUEST_HEADROOM) {
            return Err(Errno::ENOMEM);
        }
        let ok = || nul_joined(&["OK"]);
        let p = &m.payload[..];
        let q = self.quotas;
        let reply = match ty {
            XsType::Read => {
                let path = self.path(dom, wire::one_string(p)?)?;
                self.view_op(dom, m.tx_id, |v| {
                    let n = readable(v, dom, &path)?;
                    if n.value.len() > XENSTORE_PAYLOAD_MAX {
                        return Err(Errno::E2BIG);
                    }
                    try_copy(&n.value)
                })?
            }
            XsType::Directory => {
                let path = self.path(dom, wire::one_string(p)?)?;
                self.view_op(dom, m.tx_id, |v| {
                    let n = readable(v, dom, &path)?;
                    if n.children_len() > XENSTORE_PAYLOAD_MAX {
                        return Err(Errno::E2BIG);
                    }
                    joined(n.children.iter(), n.children_len())
                })?
            }
            XsType::DirectoryPart => {
                let (path, off) = two(p)?;
                let path = self.path(dom, path)?;
                let off: usize = wire::number(off)?;
                self.view_op(dom, m.tx_id, |v| {
                    let n = readable(v, dom, &path)?;
                    directory_part(n, off)
                })?
            }
            XsType::GetPerms => {
                let path = self.path(dom, wire::one_string(p)?)?;
                self.view_op(dom, m.tx_id, |v| {
                    let n = readable(v, dom, &path)?;
                    let texts = n.perms.texts();
                    joined(texts.iter(), texts.iter().map(|t| t.len() + 1).sum())
                })?
            }
            XsType::Write => {
                let (path, value) = wire::path_and_value(p)?;
                let path = self.path(dom, path)?;
                if dom != 0 && value.len() > q.entry_size {
                    return Err(Errno::ENOSPC);
                }
                let value = try_copy(value)?;
                self.mutate(dom, m.tx_id, |v| plan_write(v, dom, &path, value, &q))?;
                ok()
            }
            XsType::Mkdir => {
                let path = self.path(dom, wire::one_string(p)?)?;
                self.mutate(dom, m.tx_id, |v| plan_mkdir(v, dom, &path, &q))?;
                ok()
            }
            XsType::Rm => {
                let path = self.path(dom, wire::one_string(p)?)?;
                self.mutate(dom, m.tx_id, |v| plan_rm(v, dom, &path))?;
                ok()
            }
            XsType::SetPerms => {
                let items = wire::strings(p)?;
                let (path, perms) = items.split_first().ok_or(Errno::EINVAL)?;
                if dom != 0 && perms.len() > q.perms {
                    return Err(Errno::ENOSPC);
                }
                let path = self.path(dom, path)?;
                let perms = Perms::parse(perms.iter().copied())?;
                self.mutate(dom, m.tx_id, |v| plan_set_perms(v, dom, &path, perms, &q))?;
                ok()
            }
            XsType::Watch => {
                let (wpath, token) = two(p)?;
                self.add_watch(dom, wpath, token)?;
                ok()
            }
            XsType::Unwatch => {
                let (wpath, token) = two(p)?;
                let abs = canonical_watch(dom, wpath)?;
                let c = self.conns.get_mut(&dom).expect("checked");
                let before = c.watches.len();
                c.watches.retain(|w| !(w.path == abs && w.token == token));
                if c.watches.len() == before {
                    return Err(Errno::ENOENT);
                }
                ok()
            }
            XsType::ResetWatches => {
                self.conns.get_mut(&dom).expect("checked").watches.clear();
                ok()
            }
            XsType::TransactionStart => {
                let id = self.tx_start(dom)?;
                nul_joined(&[format!("{id}")])
            }
            XsType::TransactionEnd => {
                let commit = match wire::one_string(p)? {
                    "T" => true,
                    "F" => false,
                    _ => return Err(Errno::EINVAL),
                };
                self.tx_end(dom, m.tx_id, commit)?;
                ok()
            }
            XsType::GetDomainPath => {
                let d: u16 = wire::number(wire::one_string(p)?)?;
                nul_joined(&[domain_path(d)])
            }
            XsType::IsDomainIntroduced => {
                privileged(dom)?;
                let d: u16 = wire::number(wire::one_string(p)?)?;
                nul_joined(&[if self.conns.contains_key(&d) {
                    "T"
                } else {
                    "F"
                }])
            }
            XsType::Introduce => {
                privileged(dom)?;
                let items = wire::strings(p)?;
                let [d, mfn, port] = items.as_slice() else {
                    return Err(Errno::EINVAL);
                };
                let d: u16 = wire::number(d)?;
                let ring = RingInfo {
                    mfn: wire::number(mfn)?,
                    port: wire::number(port)?,
                };
                if d == 0 {
                    return Err(Errno::EINVAL);
                }
                if let Some(c) = self.conns.get(&d) {
                    // Introducing again with the same ring is harmless, as in Xen.
                    return if c.ring == Some(ring) {
                        Ok((ty, ok()))
                    } else {
                        Err(Errno::EEXIST)
                    };
                }
                self.conns.insert(
                    d,
                    Conn {
                        ring: Some(ring),
                        ..Conn::default()
                    },
                );
                self.fire_special(path::INTRODUCE_DOMAIN);
                ok()
            }
            XsType::Release => {
                privileged(dom)?;
                let d: u16 = wire::number(wire::one_string(p)?)?;
                if d == 0 {
                    return Err(Errno::EINVAL);
                }
                self.conns.remove(&d).ok_or(Errno::ENOENT)?;
                self.fire_special(path::RELEASE_DOMAIN);
                ok()
            }
            XsType::Resume => {
                privileged(dom)?;
                let d: u16 = wire::number(wire::one_string(p)?)?;
                self.conns.get(&d).ok_or(Errno::ENOENT)?;
                ok()
            }
            XsType::Control
            | XsType::SetTarget
            | XsType::WatchEvent
            | XsType::Error
            | XsType::Invalid => return Err(Errno::ENOSYS),
        };
        Ok((ty, reply))
    }

    /// Runs a read-only `f` on the live tree or transaction `tx`'s view of it (which
    /// records what it saw).
    fn view_op<T>(
        &mut self,
        dom: u16,
        tx: u32,
        f: impl FnOnce(&mut dyn View) -> Result<T, Errno>,
    ) -> Result<T, Errno> {
        if tx == 0 {
            return f(&mut self.store);
        }
        let limit = tx_limit(dom, &self.quotas);
        let budget = self.tx_budget(dom);
        let t = self
            .conns
            .get_mut(&dom)
            .and_then(|c| c.txs.get_mut(&tx))
            .ok_or(Errno::ENOENT)?;
        f(&mut TxView {
            live: &self.store,
            tx: t,
            limit,
            budget,
        })
    }

    /// Bytes `dom` may still make xenstored hold: what its memory quota and the global
    /// bound leave (unlimited for dom0).
    fn tx_budget(&self, dom: u16) -> usize {
        if dom == 0 {
            return usize::MAX;
        }
        let q = &self.quotas;
        let own = q.memory.saturating_sub(self.held_by(dom));
        let global = q
            .global_memory
            .saturating_sub(self.store.unprivileged_bytes() + self.held_total());
        own.min(global)
    }

    /// Plans a change with `f` and applies it to the live tree (checked against the
    /// quotas first), or merges it into transaction `tx`'s overlay (checked against the
    /// transaction's and the domain's limits).
    fn mutate(
        &mut self,
        dom: u16,
        tx: u32,
        f: impl FnOnce(&mut dyn View) -> Result<Plan, Errno>,
    ) -> Result<(), Errno> {
        let q = self.quotas;
        if tx == 0 {
            let plan = f(&mut self.store)?;
            let held_total = self.held_total();
            let conns = &self.conns;
            self.store.check(
                dom,
                &plan.writes,
                &q,
                &|d| conns.get(&d).map_or(0, Conn::held),
                held_total,
            )?;
            self.store.apply(plan.writes);
            if let Some(c) = plan.change {
                self.fire(&c);
            }
            return Ok(());
        }
        let limit = tx_limit(dom, &q);
        let usage = self.store.usage_of(dom);
        let budget = self.tx_budget(dom);
        let c = self.conns.get_mut(&dom).ok_or(Errno::ENOENT)?;
        let t = c.txs.get_mut(&tx).ok_or(Errno::ENOENT)?;
        let mut view = TxView {
            live: &self.store,
            tx: t,
            limit,
            budget,
        };
        let plan = f(&mut view)?;
        let budget = view.budget;
        let (n, own, bytes) = t.cost_of(&self.store, dom, &plan);
        if dom != 0 {
            if t.nodes() + n > limit {
                return Err(Errno::ENOSPC);
            }
            if own > 0 && usage.nodes as isize + t.node_delta + own > q.entries as isize {
                return Err(Errno::ENOSPC);
            }
            if bytes > 0 && bytes as usize > budget {
                return Err(Errno::ENOMEM);
            }
        }
        t.merge(&self.store, dom, plan);
        Ok(())
    }

    fn tx_start(&mut self, dom: u16) -> Result<u32, Errno> {
        let q = self.quotas;
        let id = self.next_tx;
        let usage = self.store.usage_of(dom);
        let c = self.conns.get_mut(&dom).expect("checked by op");
        if dom != 0 {
            if c.txs.len() >= q.transactions {
                return Err(Errno::ENOSPC);
            }
            if usage.bytes + c.held() + TX_OVERHEAD > q.memory {
                return Err(Errno::ENOMEM);
            }
        }
        c.txs.insert(id, Tx::default());
        self.next_tx = self.next_tx.wrapping_add(1).max(1);
        Ok(id)
    }

    /// Ends transaction `tx`. On commit: `EAGAIN` if any node it looked at changed since,
    /// else its overlay is checked against the quotas as one plan (`ENOSPC`/`ENOMEM`)
    /// and applied whole; watches fire. Every refusal leaves the store as it was.
    fn tx_end(&mut self, dom: u16, tx: u32, commit: bool) -> Result<(), Errno> {
        if tx == 0 {
            return Err(Errno::EINVAL);
        }
        let t = self
            .conns
            .get_mut(&dom)
            .and_then(|c| c.txs.remove(&tx))
            .ok_or(Errno::ENOENT)?;
        if !commit {
            return Ok(());
        }
        t.validate(&self.store)?;
        let (writes, changes) = t.into_writes();
        let held_total = self.held_total();
        let conns = &self.conns;
        self.store.check(
            dom,
            &writes,
            &self.quotas,
            &|d| conns.get(&d).map_or(0, Conn::held),
            held_total,
        )?;
        self.store.apply(writes);
        for c in &changes {
            self.fire(c);
        }
        Ok(())
    }

    fn add_watch(&mut self, dom: u16, wpath: &str, token: &str) -> Result<(), Errno> {
        let q = self.quotas;
        let abs = canonical_watch(dom, wpath)?;
        if !path::is_special(&abs) {
            check_path_len(dom, &abs, &q)?;
        }
        let usage = self.store.usage_of(dom);
        let global = self.store.unprivileged_bytes() + self.held_total();
        let c = self.conns.get_mut(&dom).expect("checked by op");
        if c.watches.iter().any(|w| w.path == abs && w.token == token) {
            return Err(Errno::EEXIST);
        }
        let w = Watch {
            path: abs,
            token: String::from(token),
            relative: !wpath.starts_with('/') && !path::is_special(wpath),
        };
        if dom != 0 {
            if c.watches.len() >= q.watches {
                return Err(Errno::E2BIG);
            }
            if usage.bytes + c.held() + w.cost() > q.memory || global + w.cost() > q.global_memory {
                return Err(Errno::ENOMEM);
            }
        }
        c.watches.try_reserve(1).map_err(|_| Errno::ENOMEM)?;
        // A new watch fires once at once, as in Xen, so the client can read the state.
        let shown = if w.relative {
            String::from(wpath)
        } else {
            w.path.clone()
        };
        c.watches.push(w);
        queue_event(dom, c, &q, &mut self.log, &shown, token);
        Ok(())
    }

    /// Fires the watches `c` triggers: those at or above the changed path, and (for a
    /// removal) those below it, for connections allowed to read the node.
    fn fire(&mut self, ch: &Change) {
        let q = self.quotas;
        for (&dom, c) in self.conns.iter_mut() {
            if !ch.perms.can_read(dom) {
                continue;
            }
            let mut hits = Vec::new();
            for w in &c.watches {
                if path::is_special(&w.path) {
                    continue;
                }
                let fired = if path::is_at_or_below(&ch.path, &w.path) {
                    Some(ch.path.as_str())
                } else if ch.removed && path::is_at_or_below(&w.path, &ch.path) {
                    Some(w.path.as_str())
                } else {
                    None
                };
                if let Some(p) = fired {
                    let home = domain_path(dom);
                    let shown = match p.strip_prefix(home.as_str()) {
                        Some(rest) if w.relative && rest.starts_with('/') => {
                            String::from(&rest[1..])
                        }
                        _ => String::from(p),
                    };
                    hits.push((shown, w.token.clone()));
                }
            }
            for (p, t) in hits {
                queue_event(dom, c, &q, &mut self.log, &p, &t);
            }
        }
    }

    fn fire_special(&mut self, which: &str) {
        let q = self.quotas;
        for (&dom, c) in self.conns.iter_mut() {
            let hits: Vec<String> = c
                .watches
                .iter()
                .filter(|w| w.path == which)
                .map(|w| w.token.clone())
                .collect();
            for t in hits {
                queue_event(dom, c, &q, &mut self.log, which, &t);
            }
        }
    }

    /// Serves domain `dom`'s ring page: writes queued replies and events as space allows,
    /// and takes and handles requests while the connection has little output waiting (a
    /// connection that does not read its responses has its requests left on its ring). A
    /// broken peer (impossible indices, an over-long message) gets `error` set in the page
    /// and is served no more.
    pub fn service_ring<P: RingPage + ?Sized>(&mut self, dom: u16, page: &mut P) -> RingActivity {
        let mut act = RingActivity::default();
        let q = self.quotas;
        match self.conns.get(&dom) {
            Some(c) if c.broken.is_none() => {}
            _ => return act,
        }
        if !self.flush(dom, page, &mut act) {
            return act;
        }
        loop {
            let Some(c) = self.conns.get_mut(&dom) else {
                return act;
            };
            if !c.can_take(dom, &q) {
                if !c.stalled {
                    c.stalled = true;
                    log_line(
                        &mut self.log,
                        format!(
                            "domain {dom}: not reading its responses ({} replies, {} bytes queued): its requests wait on its ring",
                            c.out_replies, c.out_bytes
                        ),
                    );
                }
                break;
            }
            match wire::parse(&c.inbuf) {
                Parse::Incomplete => {
                    let mut buf = [0u8; 1024];
                    match ring::read(page, XS_REQ, &mut buf) {
                        Ok(0) => break,
                        Ok(n) => {
                            if c.inbuf.try_reserve(n).is_err() {
                                break;
                            }
                            c.inbuf.extend_from_slice(&buf[..n]);
                            act.consumed += n;
                        }
                        Err(_) => {
                            c.broken = Some("bad request ring index");
                            page.store_u32(ring::XS_ERROR_OFFSET, XENSTORE_ERROR_RINGIDX);
                            return act;
                        }
                    }
                }
                Parse::TooLong(_) => {
                    c.broken = Some("over-long message");
                    c.inbuf = Vec::new();
                    page.store_u32(ring::XS_ERROR_OFFSET, XENSTORE_ERROR_PROTO);
                    return act;
                }
                Parse::Msg(m, used) => {
                    c.inbuf.drain(..used);
                    // The reply goes before any event the request itself caused (the
                    // first event of a new watch).
                    let at = c.outq.len();
                    let reply = self.handle(dom, &m);
                    let Some(c) = self.conns.get_mut(&dom) else {
                        return act;
                    };
                    let data = reply
                        .try_encode()
                        .or_else(|_| Msg::error(m.req_id, m.tx_id, Errno::ENOMEM).try_encode());
                    if let Ok(data) = data {
                        // Without room for even the error, the request goes unanswered.
                        let _ = c.push(data, false, Some(at));
                    }
                    if !self.flush(dom, page, &mut act) {
                        return act;
                    }
                }
            }
        }
        self.flush(dom, page, &mut act);
        act
    }

    /// Writes queued output to the ring as space allows; false if the ring is broken.
    fn flush<P: RingPage + ?Sized>(
        &mut self,
        dom: u16,
        page: &mut P,
        act: &mut RingActivity,
    ) -> bool {
        let Some(c) = self.conns.get_mut(&dom) else {
            return false;
        };
        while let Some(front) = c.outq.front() {
            match ring::write(page, XS_RSP, &front.data[c.sent..]) {
                Ok(n) => {
                    act.produced += n;
                    c.sent += n;
                    c.out_bytes -= n;
                    if c.sent < front.data.len() {
                        break;
                    }
                    if front.event {
                        c.out_events -= 1;
                    } else {
                        c.out_replies -= 1;
                    }
                    c.outq.pop_front();
                    c.sent = 0;
                }
                Err(_) => {
                    c.broken = Some("bad response ring index");
                    page.store_u32(ring::XS_ERROR_OFFSET, XENSTORE_ERROR_RINGIDX);
                    return false;
                }
            }
        }
        // An episode of unread output ends when all of it was read.
        if c.outq.is_empty() {
            c.dropping = false;
            c.stalled = false;
        }
        true
    }

    /// Whether `dom` has replies or events waiting for ring space.
    pub fn has_output(&self, dom: u16) -> bool {
        self.conns.get(&dom).is_some_and(|c| !c.outq.is_empty())
    }
}

/// Nodes a transaction of `dom` may record.
fn tx_limit(dom: u16, q: &Quotas) -> usize {
    if dom == 0 {
        usize::MAX
    } else {
        q.transaction_nodes
    }
}

/// Xen's `path-max`: for an unprivileged domain, the part of `p` below any domain's home
/// (else all of it) is at most `q.path_len` bytes (`EINVAL`).
fn check_path_len(dom: u16, p: &str, q: &Quotas) -> Result<(), Errno> {
    if dom == 0 {
        return Ok(());
    }
    let rel = p
        .strip_prefix("/local/domain/")
        .and_then(|r| {
            let digits = r.bytes().take_while(u8::is_ascii_digit).count();
            (digits > 0 && r.as_bytes().get(digits) == Some(&b'/')).then(|| &r[digits + 1..])
        })
        .unwrap_or(p);
    if rel.len() > q.path_len {
        return Err(Errno::EINVAL);
    }
    Ok(())
}

/// `v` copied, or `ENOMEM`.
fn try_copy(v: &[u8]) -> Result<Vec<u8>, Errno> {
    let mut out = Vec::new();
    out.try_reserve_exact(v.len()).map_err(|_| Errno::ENOMEM)?;
    out.extend_from_slice(v);
    Ok(out)
}

/// `a\0b\0...` of `len` bytes, or `ENOMEM`.
fn joined<'s, S: AsRef<str> + 's>(
    items: impl Iterator<Item = &'s S>,
    len: usize,
) -> Result<Vec<u8>, Errno> {
    let mut out = Vec::new();
    out.try_reserve_exact(len).map_err(|_| Errno::ENOMEM)?;
    for s in items {
        out.extend_from_slice(s.as_ref().as_bytes());
        out.push(0);
    }
    Ok(out)
}

/// `XS_DIRECTORY_PART` as Xen's xenstored answers it: the node's generation, then the
/// whole child names from byte `off` of its child list that fit in one payload; the list's
/// end is marked by an empty name.
fn directory_part(n: &super::store::Node, off: usize) -> Result<Vec<u8>, Errno> {
    let gen = format!("{}", n.gen);
    let maxlen = XENSTORE_PAYLOAD_MAX - gen.len() - 2;
    let mut out = Vec::new();
    out.try_reserve_exact(XENSTORE_PAYLOAD_MAX)
        .map_err(|_| Errno::ENOMEM)?;
    out.extend_from_slice(gen.as_bytes());
    out.push(0);
    let mut at = 0usize;
    let mut done = true;
    for c in &n.children {
        let len = c.len() + 1;
        if at >= off {
            if out.len() - gen.len() - 1 + len > maxlen {
                done = false;
                break;
            }
            out.extend_from_slice(c.as_bytes());
            out.push(0);
        }
        at += len;
    }
    if done {
        out.push(0);
    }
    Ok(out)
}

fn privileged(dom: u16) -> Result<(), Errno> {
    if dom == 0 {
        Ok(())
    } else {
        Err(Errno::EACCES)
    }
}

fn two(p: &[u8]) -> Result<(&str, &str), Errno> {
    match wire::strings(p)?.as_slice() {
        [a, b] => Ok((a, b)),
        _ => Err(Errno::EINVAL),
    }
}

/// Splits a `a\0b\0` reply.
pub fn split_list(r: &[u8]) -> Vec<String> {
    let body = r.strip_suffix(&[0]).unwrap_or(r);
    if body.is_empty() {
        return Vec::new();
    }
    body.split(|&b| b == 0)
        .map(|s| String::from_utf8_lossy(s).into_owned())
        .collect()
}
