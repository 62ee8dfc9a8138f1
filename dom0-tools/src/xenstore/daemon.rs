//! xenstored's operations: one connection per domain (dom0's is built in), every `XS_*`
//! request, watches and their events, transactions and the per-domain quotas.
//!
//! Requests arrive as [`Msg`]s (from a ring, see [`Xenstored::service_ring`], or from dom0's
//! own tools through [`Xenstored::request`]); replies and watch events are queued on the
//! connection until its ring has room.

use super::path::{self, canonical, canonical_watch, domain_path};
use super::perms::Perms;
use super::ring::{self, RingPage, XS_REQ, XS_RSP};
pub use super::store::Quotas;
use super::store::{Change, Store};
use super::wire::{self, nul_joined, Msg, Parse};
use alloc::collections::{BTreeMap, VecDeque};
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use guest_abi::errno::Errno;
use guest_abi::io::xenstore::{XsType, XENSTORE_ERROR_PROTO, XENSTORE_ERROR_RINGIDX};

/// A registered watch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Watch {
    /// Canonical (absolute or special) path.
    pub path: String,
    pub token: String,
    /// Registered with a relative path: events report paths relative to the home.
    pub relative: bool,
}

/// An open transaction: a private copy of the tree, the generation of every node it
/// touched (as first seen), and the changes to replay on commit.
#[derive(Clone, Debug)]
struct Transaction {
    tree: Store,
    seen: BTreeMap<String, Option<u64>>,
    ops: Vec<TxOp>,
}

#[derive(Clone, Debug)]
enum TxOp {
    Write(String, Vec<u8>),
    Mkdir(String),
    Rm(String),
    SetPerms(String, Perms),
}

/// A domain's shared ring page and event channel, as introduced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RingInfo {
    pub mfn: u64,
    pub port: u32,
}

/// One client.
#[derive(Debug, Default)]
pub struct Conn {
    pub ring: Option<RingInfo>,
    watches: Vec<Watch>,
    txs: BTreeMap<u32, Transaction>,
    /// Bytes read from the ring that do not form a whole message yet.
    inbuf: Vec<u8>,
    /// Encoded messages waiting for ring space; the first may be partly sent (`sent`).
    outq: VecDeque<Vec<u8>>,
    sent: usize,
    /// Watch events for dom0's own tools (which do not read a ring).
    events: VecDeque<(String, String)>,
    /// A protocol violation stopped this ring.
    pub broken: Option<&'static str>,
}

impl Conn {
    pub fn watches(&self) -> &[Watch] {
        &self.watches
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
}

impl Default for Xenstored {
    fn default() -> Self {
        Xenstored::new()
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
        }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn conn(&self, dom: u16) -> Option<&Conn> {
        self.conns.get(&dom)
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
        self.op(dom, &m).map(|(_, p)| p)
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

    /// Convenience: list `p` as `dom`.
    pub fn directory(&mut self, dom: u16, p: &str) -> Result<Vec<String>, Errno> {
        let r = self.request(dom, XsType::Directory, 0, nul_joined(&[p]))?;
        Ok(split_list(&r))
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
            .map(|c| c.events.drain(..).collect())
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

    fn op(&mut self, dom: u16, m: &Msg) -> Result<(XsType, Vec<u8>), Errno> {
        let ty = XsType::from_u32(m.ty).ok_or(Errno::EINVAL)?;
        if !self.conns.contains_key(&dom) {
            return Err(Errno::EACCES);
        }
        let ok = || nul_joined(&["OK"]);
        let p = &m.payload[..];
        let reply = match ty {
            XsType::Read => {
                let path = canonical(dom, wire::one_string(p)?)?;
                self.read_op(dom, m.tx_id, &path)?
            }
            XsType::Directory => {
                let path = canonical(dom, wire::one_string(p)?)?;
                let names = self.with_tree(dom, m.tx_id, &path, |t| t.directory(dom, &path))?;
                nul_joined(&names)
            }
            XsType::GetPerms => {
                let path = canonical(dom, wire::one_string(p)?)?;
                let perms = self.with_tree(dom, m.tx_id, &path, |t| t.get_perms(dom, &path))?;
                nul_joined(&perms.texts())
            }
            XsType::Write => {
                let (path, value) = wire::path_and_value(p)?;
                let path = canonical(dom, path)?;
                self.mutate(dom, m.tx_id, TxOp::Write(path, value.to_vec()))?;
                ok()
            }
            XsType::Mkdir => {
                let path = canonical(dom, wire::one_string(p)?)?;
                self.mutate(dom, m.tx_id, TxOp::Mkdir(path))?;
                ok()
            }
            XsType::Rm => {
                let path = canonical(dom, wire::one_string(p)?)?;
                self.mutate(dom, m.tx_id, TxOp::Rm(path))?;
                ok()
            }
            XsType::SetPerms => {
                let items = wire::strings(p)?;
                let (path, perms) = items.split_first().ok_or(Errno::EINVAL)?;
                let path = canonical(dom, path)?;
                let perms = Perms::parse(perms.iter().copied())?;
                self.mutate(dom, m.tx_id, TxOp::SetPerms(path, perms))?;
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
            | XsType::DirectoryPart
            | XsType::WatchEvent
            | XsType::Error
            | XsType::Invalid => return Err(Errno::ENOSYS),
        };
        Ok((ty, reply))
    }

    fn read_op(&mut self, dom: u16, tx: u32, path: &str) -> Result<Vec<u8>, Errno> {
        self.with_tree(dom, tx, path, |t| t.read(dom, path).map(<[u8]>::to_vec))
    }

    /// Runs a read-only `f` on the main tree or transaction `tx`'s copy (recording the
    /// generation it saw).
    fn with_tree<T>(
        &mut self,
        dom: u16,
        tx: u32,
        path: &str,
        f: impl FnOnce(&Store) -> Result<T, Errno>,
    ) -> Result<T, Errno> {
        if tx == 0 {
            return f(&self.store);
        }
        let t = self.tx(dom, tx)?;
        let gen = t.tree.gen_of(path);
        t.seen.entry(String::from(path)).or_insert(gen);
        f(&t.tree)
    }

    fn tx(&mut self, dom: u16, tx: u32) -> Result<&mut Transaction, Errno> {
        self.conns
            .get_mut(&dom)
            .and_then(|c| c.txs.get_mut(&tx))
            .ok_or(Errno::ENOENT)
    }

    /// Applies `op` as `dom` to `tree`, returning the change (if any).
    fn apply(tree: &mut Store, dom: u16, op: &TxOp, q: &Quotas) -> Result<Option<Change>, Errno> {
        match op {
            TxOp::Write(p, v) => tree.write(dom, p, v, q).map(Some),
            TxOp::Mkdir(p) => tree.mkdir(dom, p, q),
            TxOp::Rm(p) => tree.rm(dom, p),
            TxOp::SetPerms(p, perms) => tree.set_perms(dom, p, perms.clone(), q).map(Some),
        }
    }

    fn mutate(&mut self, dom: u16, tx: u32, op: TxOp) -> Result<(), Errno> {
        let q = self.quotas;
        if tx == 0 {
            if let Some(c) = Self::apply(&mut self.store, dom, &op, &q)? {
                self.fire(&c);
            }
            return Ok(());
        }
        let t = self.tx(dom, tx)?;
        let p = match &op {
            TxOp::Write(p, _) | TxOp::Mkdir(p) | TxOp::Rm(p) | TxOp::SetPerms(p, _) => p.clone(),
        };
        // The node and every ancestor whose children may change.
        let mut at = Some(p.as_str());
        while let Some(a) = at {
            let gen = t.tree.gen_of(a);
            t.seen.entry(String::from(a)).or_insert(gen);
            if gen.is_some() {
                break;
            }
            at = path::parent(a);
        }
        if let Some(parent) = path::parent(&p) {
            let gen = t.tree.gen_of(parent);
            t.seen.entry(String::from(parent)).or_insert(gen);
        }
        Self::apply(&mut t.tree, dom, &op, &q)?;
        t.ops.push(op);
        Ok(())
    }

    fn tx_start(&mut self, dom: u16) -> Result<u32, Errno> {
        let limit = self.quotas.transactions;
        let id = self.next_tx;
        let tree = self.store.clone();
        let c = self.conns.get_mut(&dom).expect("checked by op");
        if dom != 0 && c.txs.len() >= limit {
            return Err(Errno::ENOSPC);
        }
        c.txs.insert(
            id,
            Transaction {
                tree,
                seen: BTreeMap::new(),
                ops: Vec::new(),
            },
        );
        self.next_tx = self.next_tx.wrapping_add(1).max(1);
        Ok(id)
    }

    /// Ends transaction `tx`: on commit, `EAGAIN` if any node it touched changed meanwhile,
    /// else its changes are applied (and watches fire).
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
        if t.seen.iter().any(|(p, g)| self.store.gen_of(p) != *g) {
            return Err(Errno::EAGAIN);
        }
        let q = self.quotas;
        let mut changes = Vec::new();
        for op in &t.ops {
            if let Some(c) = Self::apply(&mut self.store, dom, op, &q)? {
                changes.push(c);
            }
        }
        for c in &changes {
            self.fire(c);
        }
        Ok(())
    }

    fn add_watch(&mut self, dom: u16, wpath: &str, token: &str) -> Result<(), Errno> {
        let abs = canonical_watch(dom, wpath)?;
        let limit = self.quotas.watches;
        let c = self.conns.get_mut(&dom).expect("checked by op");
        if c.watches.iter().any(|w| w.path == abs && w.token == token) {
            return Err(Errno::EEXIST);
        }
        if dom != 0 && c.watches.len() >= limit {
            return Err(Errno::E2BIG);
        }
        let w = Watch {
            path: abs,
            token: String::from(token),
            relative: !wpath.starts_with('/') && !path::is_special(wpath),
        };
        // A new watch fires once at once, as in Xen, so the client can read the state.
        let shown = if w.relative {
            String::from(wpath)
        } else {
            w.path.clone()
        };
        c.watches.push(w);
        Self::queue_event(dom, c, &shown, token);
        Ok(())
    }

    fn queue_event(dom: u16, c: &mut Conn, p: &str, token: &str) {
        if dom == 0 && c.ring.is_none() {
            c.events.push_back((String::from(p), String::from(token)));
        } else {
            let m = Msg::new(XsType::WatchEvent, 0, 0, nul_joined(&[p, token]));
            c.outq.push_back(m.encode());
        }
    }

    /// Fires the watches `c` triggers: those at or above the changed path, and (for a
    /// removal) those below it, for connections allowed to read the node.
    fn fire(&mut self, ch: &Change) {
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
                Self::queue_event(dom, c, &p, &t);
            }
        }
    }

    fn fire_special(&mut self, which: &str) {
        for (&dom, c) in self.conns.iter_mut() {
            let hits: Vec<String> = c
                .watches
                .iter()
                .filter(|w| w.path == which)
                .map(|w| w.token.clone())
                .collect();
            for t in hits {
                Self::queue_event(dom, c, which, &t);
            }
        }
    }

    /// Serves domain `dom`'s ring page: takes its requests, handles every whole message,
    /// and writes queued replies and events as space allows. A broken peer (impossible
    /// indices, an over-long message) gets `error` set in the page and is served no more.
    pub fn service_ring<P: RingPage + ?Sized>(&mut self, dom: u16, page: &mut P) -> RingActivity {
        let mut act = RingActivity::default();
        let Some(c) = self.conns.get_mut(&dom) else {
            return act;
        };
        if c.broken.is_some() {
            return act;
        }
        let mut buf = [0u8; 1024];
        match ring::read(page, XS_REQ, &mut buf) {
            Ok(n) => {
                c.inbuf.extend_from_slice(&buf[..n]);
                act.consumed = n;
            }
            Err(_) => {
                c.broken = Some("bad request ring index");
                page.store_u32(ring::XS_ERROR_OFFSET, XENSTORE_ERROR_RINGIDX);
                return act;
            }
        }
        loop {
            let c = self.conns.get_mut(&dom).expect("present");
            match wire::parse(&c.inbuf) {
                Parse::Incomplete => break,
                Parse::TooLong(_) => {
                    c.broken = Some("over-long message");
                    c.inbuf.clear();
                    page.store_u32(ring::XS_ERROR_OFFSET, XENSTORE_ERROR_PROTO);
                    return act;
                }
                Parse::Msg(m, used) => {
                    c.inbuf.drain(..used);
                    // The reply goes before any event the request itself caused (the
                    // first event of a new watch).
                    let at = c.outq.len();
                    let reply = self.handle(dom, &m);
                    if let Some(c) = self.conns.get_mut(&dom) {
                        c.outq.insert(at, reply.encode());
                    }
                }
            }
        }
        let Some(c) = self.conns.get_mut(&dom) else {
            return act;
        };
        while let Some(front) = c.outq.front() {
            match ring::write(page, XS_RSP, &front[c.sent..]) {
                Ok(n) => {
                    act.produced += n;
                    c.sent += n;
                    if c.sent < front.len() {
                        break;
                    }
                    c.outq.pop_front();
                    c.sent = 0;
                }
                Err(_) => {
                    c.broken = Some("bad response ring index");
                    page.store_u32(ring::XS_ERROR_OFFSET, XENSTORE_ERROR_RINGIDX);
                    break;
                }
            }
        }
        act
    }

    /// Whether `dom` has replies or events waiting for ring space.
    pub fn has_output(&self, dom: u16) -> bool {
        self.conns.get(&dom).is_some_and(|c| !c.outq.is_empty())
    }
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
