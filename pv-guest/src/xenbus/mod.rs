//! The guest side of XenStore: a client speaking the wire protocol over our xenstore ring
//! page and event channel (both from start_info), with watch events queued as they arrive;
//! the console front end's xenbus handshake ([`front`]); and the domU XenStore self-tests
//! ([`selftest`]).

pub mod flood;
pub mod front;
pub mod page;
pub mod selftest;
pub mod wait;

use alloc::collections::VecDeque;
use alloc::string::String;
use alloc::vec::Vec;
use dom0_tools::xenstore::daemon::split_list;
use dom0_tools::xenstore::ring::{self, XS_REQ, XS_RSP};
use dom0_tools::xenstore::wire::{self, nul_joined, Msg, Parse};
use guest_abi::errno::Errno;
use guest_abi::io::xenstore::XsType;
use guest_abi::start_info::StartInfo;
use guest_abi::types::EvtchnPort;

/// Attempts of a transaction that keeps racing with others ([`XsClient::write_all`]).
pub const TX_RETRIES: u32 = 10;
use page::SharedPage;

/// How long a request waits for its reply.
pub const REPLY_TIMEOUT_NS: u64 = 2_000_000_000;
/// How often [`XsClient::wait_event`] looks at the ring without being woken.
const IDLE_CHECK_NS: u64 = 1_000_000_000;

/// A xenstore connection over the ring.
pub struct XsClient {
    page: SharedPage,
    port: u32,
    next_id: u32,
    inbuf: Vec<u8>,
    events: VecDeque<(String, String)>,
}

impl XsClient {
    /// The connection start_info describes (`None` if it names no store page/port).
    pub fn new(si: &StartInfo) -> Option<XsClient> {
        let port = si.store_evtchn.0;
        let page = SharedPage::of_mfn(si, si.store_mfn.0)?;
        if port == 0 {
            return None;
        }
        Some(XsClient {
            page,
            port,
            next_id: 1,
            inbuf: Vec::new(),
            events: VecDeque::new(),
        })
    }

    fn notify(&self) {
        let _ = guest_abi::guest::evtchn_send(EvtchnPort(self.port));
    }

    /// Moves waiting response bytes into `inbuf` (telling xenstored there is room again).
    fn pull(&mut self) -> bool {
        let mut buf = [0u8; 1024];
        match ring::read(&mut self.page, XS_RSP, &mut buf) {
            Ok(0) | Err(_) => false,
            Ok(n) => {
                self.inbuf.extend_from_slice(&buf[..n]);
                self.notify();
                true
            }
        }
    }

    /// Takes whole messages out of `inbuf`: watch events are queued, the reply to `id`
    /// (if any) returned.
    fn sort(&mut self, id: u32) -> Option<Msg> {
        let mut reply = None;
        while let Parse::Msg(m, used) = wire::parse(&self.inbuf) {
            self.inbuf.drain(..used);
            if m.ty == XsType::WatchEvent as u32 {
                let f = split_list(&m.payload);
                if f.len() >= 2 {
                    self.events.push_back((f[0].clone(), f[1].clone()));
                }
            } else if m.req_id == id {
                reply = Some(m);
            }
        }
        reply
    }

    /// Hostile tests: puts as much of `bytes` on the request ring as fits (without reading
    /// any response) and notifies xenstored; returns how much went in.
    pub fn send_raw(&mut self, bytes: &[u8]) -> usize {
        let n = ring::write(&mut self.page, XS_REQ, bytes).unwrap_or(0);
        if n > 0 {
            self.notify();
        }
        n
    }

    /// Free space on the request ring.
    pub fn request_space(&self) -> usize {
        ring::space(&self.page, XS_REQ).unwrap_or(0)
    }

    /// Whether response bytes wait on the ring.
    pub fn response_pending(&self) -> bool {
        ring::pending(&self.page, XS_RSP).unwrap_or(0) > 0
    }

    /// Hostile tests: every whole message that arrived so far (replies and watch events),
    /// without waiting.
    pub fn take_raw(&mut self) -> Vec<Msg> {
        while self.pull() {}
        let mut out = Vec::new();
        while let Parse::Msg(m, used) = wire::parse(&self.inbuf) {
            self.inbuf.drain(..used);
            out.push(m);
        }
        out
    }

    /// A fresh request id (for raw requests).
    pub fn next_req_id(&mut self) -> u32 {
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1).max(1);
        id
    }

    /// One request; the reply's payload, or the errno xenstored named.
    pub fn request(&mut self, ty: XsType, tx: u32, payload: Vec<u8>) -> Result<Vec<u8>, Errno> {
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1).max(1);
        let msg = Msg::new(ty, id, tx, payload).encode();
        let mut sent = 0;
        while sent < msg.len() {
            let n = ring::write(&mut self.page, XS_REQ, &msg[sent..]).map_err(|_| Errno::EIO)?;
            sent += n;
            self.notify();
            if sent < msg.len() {
                let page = self.page;
                if !wait::until(REPLY_TIMEOUT_NS, || {
                    ring::space(&page, XS_REQ).unwrap_or(0) > 0
                }) {
                    return Err(Errno::ETIME);
                }
            }
        }
        loop {
            self.pull();
            if let Some(m) = self.sort(id) {
                if m.ty == XsType::Error as u32 {
                    let name = wire::error_name(&m.payload);
                    return Err(Errno::from_name(&name).unwrap_or(Errno::EIO));
                }
                return Ok(m.payload);
            }
            let page = self.page;
            if !wait::until(REPLY_TIMEOUT_NS, || {
                ring::pending(&page, XS_RSP).unwrap_or(0) > 0
            }) {
                return Err(Errno::ETIME);
            }
        }
    }

    pub fn read(&mut self, p: &str) -> Result<String, Errno> {
        let v = self.request(XsType::Read, 0, nul_joined(&[p]))?;
        Ok(String::from_utf8_lossy(&v).into_owned())
    }

    pub fn write_tx(&mut self, tx: u32, p: &str, v: &[u8]) -> Result<(), Errno> {
        let mut payload = nul_joined(&[p]);
        payload.extend_from_slice(v);
        self.request(XsType::Write, tx, payload).map(drop)
    }

    pub fn write(&mut self, p: &str, v: &str) -> Result<(), Errno> {
        self.write_tx(0, p, v.as_bytes())
    }

    /// The xenbus state in node `p` (Unknown if absent or unreadable).
    pub fn read_state(&mut self, p: &str) -> guest_abi::io::xenbus::XenbusState {
        self.read(p)
            .map_or(guest_abi::io::xenbus::XenbusState::Unknown, |v| {
                dom0_tools::xenstore::xenbus::parse(v.as_bytes())
            })
    }

    /// Writes `nodes` (name, value) under `dir` in one transaction, retried while it races
    /// (`EAGAIN`, at most [`TX_RETRIES`] times); `Err` names the node or commit that failed.
    pub fn write_all<K: AsRef<str>, V: AsRef<str>>(
        &mut self,
        dir: &str,
        nodes: &[(K, V)],
    ) -> Result<(), String> {
        for _ in 0..TX_RETRIES {
            let tx = self
                .tx_start()
                .map_err(|e| alloc::format!("starting a transaction: {}", e.name()))?;
            for (k, v) in nodes {
                let k = k.as_ref();
                if let Err(e) =
                    self.write_tx(tx, &alloc::format!("{dir}/{k}"), v.as_ref().as_bytes())
                {
                    let _ = self.tx_end(tx, false);
                    return Err(alloc::format!("writing {dir}/{k}: {}", e.name()));
                }
            }
            match self.tx_end(tx, true) {
                Ok(()) => return Ok(()),
                Err(Errno::EAGAIN) => continue,
                Err(e) => return Err(alloc::format!("committing {dir}: {}", e.name())),
            }
        }
        Err(alloc::format!(
            "committing {dir}: EAGAIN {TX_RETRIES} times in a row"
        ))
    }

    pub fn rm(&mut self, p: &str) -> Result<(), Errno> {
        self.request(XsType::Rm, 0, nul_joined(&[p])).map(drop)
    }

    pub fn directory(&mut self, p: &str) -> Result<Vec<String>, Errno> {
        Ok(split_list(&self.request(
            XsType::Directory,
            0,
            nul_joined(&[p]),
        )?))
    }

    pub fn watch(&mut self, p: &str, token: &str) -> Result<(), Errno> {
        self.request(XsType::Watch, 0, nul_joined(&[p, token]))
            .map(drop)
    }

    pub fn tx_start(&mut self) -> Result<u32, Errno> {
        let r = self.request(XsType::TransactionStart, 0, nul_joined(&[""]))?;
        split_list(&r)
            .first()
            .and_then(|s| s.parse().ok())
            .ok_or(Errno::EIO)
    }

    pub fn tx_end(&mut self, tx: u32, commit: bool) -> Result<(), Errno> {
        let how = if commit { "T" } else { "F" };
        self.request(XsType::TransactionEnd, tx, nul_joined(&[how]))
            .map(drop)
    }

    pub fn read_tx(&mut self, tx: u32, p: &str) -> Result<String, Errno> {
        let v = self.request(XsType::Read, tx, nul_joined(&[p]))?;
        Ok(String::from_utf8_lossy(&v).into_owned())
    }

    /// The next watch event, however long it takes: blocks until the ring has a message
    /// (any event wakes us; a 1 s timer is the safety net against a lost one).
    pub fn wait_event(&mut self) -> (String, String) {
        loop {
            crate::traps::report_nmis();
            self.pull();
            self.sort(0);
            if let Some(e) = self.events.pop_front() {
                return e;
            }
            let page = self.page;
            let _ = guest_abi::guest::set_timer_op(crate::time::now() + IDLE_CHECK_NS);
            let before = crate::events::HANDLED.load(core::sync::atomic::Ordering::SeqCst);
            let nmis = crate::traps::nmi_count();
            crate::time::block_until(|| {
                ring::pending(&page, XS_RSP).unwrap_or(0) > 0
                    || crate::events::HANDLED.load(core::sync::atomic::Ordering::SeqCst) != before
                    || crate::traps::nmi_count() != nmis
            });
        }
    }

    /// The next watch event, waiting up to `timeout_ns`.
    pub fn next_event(&mut self, timeout_ns: u64) -> Option<(String, String)> {
        loop {
            self.pull();
            self.sort(0);
            if let Some(e) = self.events.pop_front() {
                return Some(e);
            }
            let page = self.page;
            if !wait::until(timeout_ns, || ring::pending(&page, XS_RSP).unwrap_or(0) > 0) {
                return None;
            }
        }
    }
}
