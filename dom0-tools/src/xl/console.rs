//! The PV console back end (what xenconsoled does in Xen) and `xl console <dom>`.
//!
//! As Xen's xenconsoled, the back end serves each domU's console ring from the moment the
//! domain is created: the ring page and event channel the builder put in its start_info
//! (`console.domU`), which `xl create` also writes as `~/console/ring-ref` and
//! `~/console/port`. Output is forwarded to the console prefixed `(d<id>) ` per line, or
//! unprefixed to an attached `xl console`, whose typed input goes into the domain's input
//! ring; Ctrl-] detaches. No xenbus state is waited for: a guest (PV-GRUB, Linux's early
//! hvc0) may write into the ring as its first act.
//!
//! On top, the console is also a xenbus device for guests that use one: `xl create` writes
//! the front-end directory `/local/domain/<id>/device/console/0` (owned by the domain) and
//! the back-end directory `/local/domain/0/backend/console/<id>/0`, moves the back end to
//! `InitWait` and watches the front end's `state`. When the front end says `Initialised` (its
//! `ring-ref` and `port` naming the start_info ring), the back end moves to `Connected`. The
//! handshake changes nothing in how the ring is read: there is one ring and one reader, so a
//! guest that writes to it before, during and after the handshake has each byte forwarded
//! once.
//!
//! A ring whose indices are impossible (a producer more than a ring ahead of the consumer,
//! on either ring) or whose page dom0 can no longer map (given away by the domain) disconnects
//! that console only: its port is closed, its back end goes `Closed`, a notice says why, and
//! the domain and everyone else run on.

use super::Toolstack;
use crate::hv::Hypervisor;
use crate::xenstore::path::domain_path;
use crate::xenstore::ring::{self, CONS_IN, CONS_OUT};
use crate::xenstore::xenbus::{self, back_step};
use crate::xenstore::Perms;
use alloc::collections::VecDeque;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write;
use guest_abi::io::xenbus::XenbusState;
use guest_abi::types::DomId;

/// The byte that detaches `xl console` (Ctrl-]).
pub const DETACH: u8 = 0x1d;
/// Longest line kept before it is forwarded without its end.
const MAX_LINE: usize = 512;
/// Most typed input kept for a domain that does not read it (its ring full); more is
/// dropped, as a terminal drops what a stopped program does not read.
pub const MAX_INPUT: usize = 4096;

/// One domain's console back end.
#[derive(Debug)]
pub struct ConsoleBack {
    /// The ring page (from the build; the front end's `ring-ref` must name it).
    pub mfn: u64,
    /// The domain's port and our end of it (if binding worked).
    pub remote_port: u32,
    pub local_port: Option<u32>,
    pub state: XenbusState,
    /// Output of the current line not forwarded yet.
    line: Vec<u8>,
    /// Typed input not yet in the ring.
    input: VecDeque<u8>,
    /// Why the ring is no longer served (hostile indices, page gone), if it is not.
    pub broken: Option<String>,
}

/// Paths of domain `id`'s console device.
pub fn frontend_path(id: u16) -> String {
    format!("{}/device/console/0", domain_path(id))
}

pub fn backend_path(id: u16) -> String {
    format!("/local/domain/0/backend/console/{id}/0")
}

fn token(id: u16) -> String {
    format!("console/{id}")
}

/// Splits forwarded output into `(d<id>) ` lines; `line` keeps an unfinished one.
pub fn forward_lines(id: u16, line: &mut Vec<u8>, data: &[u8], out: &mut dyn Write) {
    for &b in data {
        match b {
            b'\r' => {}
            b'\n' => {
                let _ = writeln!(out, "(d{id}) {}", String::from_utf8_lossy(line));
                line.clear();
            }
            _ => {
                line.push(b);
                if line.len() >= MAX_LINE {
                    let _ = writeln!(out, "(d{id}) {}", String::from_utf8_lossy(line));
                    line.clear();
                }
            }
        }
    }
}

impl<H: Hypervisor> Toolstack<'_, H> {
    /// Creates the console device's directories and starts the back end (`InitWait`).
    pub(super) fn console_back_up(
        &mut self,
        domid: DomId,
        mfn: u64,
        port: u32,
    ) -> Result<(), String> {
        let id = domid.0;
        let (fe, be) = (frontend_path(id), backend_path(id));
        let xs = &mut self.xs;
        let mut w = |p: &str, v: &str| {
            xs.write(0, p, v.as_bytes())
                .map_err(|e| format!("xenstore write {p}: {e}"))
        };
        w(&fe, "")?;
        w(&format!("{fe}/backend"), &be)?;
        w(&format!("{fe}/backend-id"), "0")?;
        w(
            &format!("{fe}/state"),
            &xenbus::text(XenbusState::Initialising),
        )?;
        w(&be, "")?;
        w(&format!("{be}/frontend"), &fe)?;
        w(&format!("{be}/frontend-id"), &format!("{id}"))?;
        w(
            &format!("{be}/state"),
            &xenbus::text(XenbusState::Initialising),
        )?;
        // The front end owns its directory; the back end's is dom0's, readable by the domain.
        let fe_perms = Perms::parse([format!("n{id}").as_str(), "r0"]).expect("well-formed");
        let be_perms = Perms::parse(["n0", format!("r{id}").as_str()]).expect("well-formed");
        for p in ["", "/backend", "/backend-id", "/state"] {
            let _ = self.xs.set_perms(0, &format!("{fe}{p}"), &fe_perms);
        }
        for p in ["", "/frontend", "/frontend-id", "/state"] {
            let _ = self.xs.set_perms(0, &format!("{be}{p}"), &be_perms);
        }
        let local_port = self.hv.evtchn_bind_interdomain(domid, port).ok();
        self.consoles.insert(
            id,
            ConsoleBack {
                mfn,
                remote_port: port,
                local_port,
                state: XenbusState::Initialising,
                line: Vec::new(),
                input: VecDeque::new(),
                broken: None,
            },
        );
        self.console_set_state(id, XenbusState::InitWait);
        self.xs
            .watch(0, &format!("{fe}/state"), &token(id))
            .map_err(|e| format!("xenstore watch {fe}/state: {e}"))
    }

    pub(super) fn console_back_down(&mut self, id: DomId) {
        if let Some(c) = self.consoles.remove(&id.0) {
            if let Some(p) = c.local_port {
                let _ = self.hv.evtchn_close(p);
            }
        }
        let _ = self.xs.request(
            0,
            guest_abi::io::xenstore::XsType::Unwatch,
            0,
            crate::xenstore::wire::nul_joined(&[
                format!("{}/state", frontend_path(id.0)),
                token(id.0),
            ]),
        );
        let _ = self
            .xs
            .rm(0, &format!("/local/domain/0/backend/console/{}", id.0));
        if self.console_attached == Some(id.0) {
            self.console_attached = None;
        }
    }

    fn console_set_state(&mut self, id: u16, s: XenbusState) {
        if let Some(c) = self.consoles.get_mut(&id) {
            c.state = s;
        }
        let _ = self.xs.write(
            0,
            &format!("{}/state", backend_path(id)),
            xenbus::text(s).as_bytes(),
        );
    }

    /// Reacts to dom0's watch events: each front-end state change moves its back end.
    fn console_watch_events(&mut self, events: &[(String, String)]) {
        for (path, tok) in events {
            let Some(id) = tok
                .strip_prefix("console/")
                .and_then(|s| s.parse::<u16>().ok())
            else {
                continue;
            };
            let Some(own) = self
                .consoles
                .get(&id)
                .filter(|c| c.broken.is_none())
                .map(|c| c.state)
            else {
                continue;
            };
            let peer = self
                .xs
                .read(0, path)
                .map_or(XenbusState::Unknown, |v| xenbus::parse(&v));
            let Some(next) = back_step(own, peer) else {
                continue;
            };
            if next == XenbusState::Connected && !self.console_ring_ok(id) {
                let _ = writeln!(self.notices, "(xl) console of domain {id}: front end's ring-ref/port do not match; not connecting");
                continue;
            }
            // A notice (shown when the shell is idle), not output in the middle of a command.
            let _ = writeln!(
                self.notices,
                "(xl) xenbus: console of domain {id}: back end {own:?} -> {next:?} (front end {peer:?})"
            );
            self.console_set_state(id, next);
        }
    }

    /// The front end published the ring page and port the domain was built with.
    fn console_ring_ok(&mut self, id: u16) -> bool {
        let fe = frontend_path(id);
        let num = |xs: &mut crate::xenstore::Xenstored, p: &str| {
            xs.read(0, &format!("{fe}/{p}"))
                .ok()
                .and_then(|v| String::from_utf8(v).ok())
                .and_then(|s| s.parse::<u64>().ok())
        };
        let ring = num(&mut self.xs, "ring-ref");
        let port = num(&mut self.xs, "port");
        self.consoles
            .get(&id)
            .is_some_and(|c| ring == Some(c.mfn) && port == Some(u64::from(c.remote_port)))
    }

    /// Serves every console ring once, whatever its xenbus state: output forwarded, input
    /// delivered.
    fn service_consoles(&mut self, out: &mut dyn Write, all: bool) {
        let ids: Vec<(u16, Option<u32>, bool)> = self
            .consoles
            .iter()
            .filter(|(_, c)| c.broken.is_none())
            .map(|(&id, c)| (id, c.local_port, !c.input.is_empty()))
            .collect();
        for (id, port, typed) in ids {
            let signalled = port.is_none_or(|p| self.hv.evtchn_take_pending(p));
            if all || signalled || typed {
                self.service_console(id, out);
            }
        }
    }

    /// Forwards what domain `id` left in its console ring (before it is destroyed: the
    /// event announcing its shutdown may come before we served its last output).
    pub(super) fn flush_console(&mut self, id: DomId) {
        if !self.consoles.contains_key(&id.0) {
            return;
        }
        let mut text = String::new();
        self.service_console(id.0, &mut text);
        if let Some(c) = self.consoles.get_mut(&id.0) {
            if !c.line.is_empty() {
                // The unfinished last line too.
                forward_lines(id.0, &mut c.line, b"\n", &mut text);
            }
        }
        self.notices.push_str(&text);
    }

    fn service_console(&mut self, id: u16, out: &mut dyn Write) {
        let attached = self.console_attached == Some(id);
        let Some(c) = self.consoles.get_mut(&id).filter(|c| c.broken.is_none()) else {
            return;
        };
        let mut data = [0u8; 2048];
        let mut n = Ok(0);
        let mut fed = Ok(0);
        let input: Vec<u8> = c.input.iter().copied().collect();
        let mfn = c.mfn;
        let r = self.hv.with_foreign_page(DomId(id), mfn, &mut |page| {
            n = ring::read(&mut page[..], CONS_OUT, &mut data);
            // Input only into a ring whose output side is sane (and the other way round).
            if n.is_ok() {
                fed = ring::write(&mut page[..], CONS_IN, &input);
            }
        });
        let why = match (r, n, fed) {
            (Err(e), _, _) => {
                if self.hv.domain_info(DomId(id)) == Err(guest_abi::errno::Errno::ESRCH) {
                    // Gone: the domain's own teardown forgets it.
                    return;
                }
                Some(format!("ring page (mfn {mfn:#x}) cannot be mapped: {e}"))
            }
            (_, Err(b), _) => Some(format!(
                "output ring indices impossible (cons {:#x}, prod {:#x})",
                b.cons, b.prod
            )),
            (_, _, Err(b)) => Some(format!(
                "input ring indices impossible (cons {:#x}, prod {:#x})",
                b.cons, b.prod
            )),
            _ => None,
        };
        if let Some(why) = why {
            self.console_disconnect(id, why, out);
            return;
        }
        let (n, fed) = (n.unwrap_or(0), fed.unwrap_or(0));
        let Some(c) = self.consoles.get_mut(&id) else {
            return;
        };
        c.input.drain(..fed);
        if attached {
            if !c.line.is_empty() {
                let _ = out.write_str(&String::from_utf8_lossy(&c.line));
                c.line.clear();
            }
            let text: Vec<u8> = data[..n].iter().copied().filter(|&b| b != b'\r').collect();
            let _ = out.write_str(&String::from_utf8_lossy(&text));
        } else {
            forward_lines(id, &mut c.line, &data[..n], out);
        }
        if n > 0 || fed > 0 {
            if let Some(p) = c.local_port {
                let _ = self.hv.evtchn_send(p);
            }
        }
    }

    /// Stops serving domain `id`'s console ring (the domain broke it): its port closed, its
    /// back end `Closed`, an attached `xl console` detached; the domain itself runs on.
    fn console_disconnect(&mut self, id: u16, why: String, out: &mut dyn Write) {
        let Some(c) = self.consoles.get_mut(&id) else {
            return;
        };
        c.broken = Some(why.clone());
        c.input.clear();
        if let Some(p) = c.local_port.take() {
            let _ = self.hv.evtchn_close(p);
        }
        if self.console_attached == Some(id) {
            self.console_attached = None;
            let _ = writeln!(out);
        }
        let _ = writeln!(
            self.notices,
            "(xl) console of domain {id}: {why}; console disconnected"
        );
        self.console_set_state(id, XenbusState::Closed);
    }

    /// dom0's back ends, once: the xenstore rings, console rings and disks whose event
    /// channel was signalled (all of them if `all`: a safety net against a lost event), the
    /// front ends' state changes, and dom0's network.
    pub fn service_backends(&mut self, out: &mut dyn Write, all: bool) {
        self.service_store_rings(all);
        let events = self.xs.take_events(0);
        self.console_watch_events(&events);
        self.vbd_watch_events(&events);
        self.vif_watch_events(&events);
        self.service_consoles(out, all);
        self.service_vbds(all);
        self.service_vifs_tx(all);
        // Without a clock, 0: the network never lets time go back, so frames still move
        // but its timers (DHCP retries, TCP retransmissions) stand still.
        // Its notices (a lease gained or lost) are not printed at the prompt: they come at
        // any moment (a lease at boot, a renewal), and `ip addr` shows the address.
        if let Some(net) = self.net.as_mut() {
            net.poll(self.hv.now_ns().unwrap_or(0));
            drop(net.take_notices());
        }
        self.service_vifs_rx(all);
    }

    /// `xl console <dom>`: attach to a domain's console (the shell then feeds us its input).
    pub(super) fn console_cmd(&mut self, dom: &str, out: &mut dyn Write) -> super::XlResult {
        let (_, id) = self.resolve(dom).map_err(|e| format!("console: {e}"))?;
        self.console_attach(id, out)
            .map_err(|e| format!("console: {e}"))
    }

    /// Attaches the terminal to domain `id`'s console: its ring is served from creation, so
    /// neither `xl console` nor `xl create -c` waits for the xenbus device.
    pub(super) fn console_attach(&mut self, id: DomId, out: &mut dyn Write) -> Result<(), String> {
        let Some(c) = self.consoles.get(&id.0) else {
            return Err(format!("domain {} has no PV console", id.0));
        };
        if let Some(why) = &c.broken {
            return Err(format!(
                "the console of domain {} is disconnected ({why})",
                id.0
            ));
        }
        let _ = writeln!(out, "Connected to domain {} console; Ctrl-] detaches", id.0);
        self.console_attached = Some(id.0);
        Ok(())
    }

    /// The domain an `xl console` is attached to.
    pub fn console_attached(&self) -> Option<u16> {
        self.console_attached
    }

    /// A byte typed while attached: into the domain's input ring, or Ctrl-] detaches
    /// (returns `false`).
    pub fn console_input(&mut self, byte: u8, out: &mut dyn Write) -> bool {
        let Some(id) = self.console_attached else {
            return false;
        };
        if byte == DETACH {
            self.console_attached = None;
            let _ = writeln!(out);
            return false;
        }
        // A serial terminal sends CR for Enter; the guest reads lines ending in LF.
        let byte = if byte == b'\r' { b'\n' } else { byte };
        if let Some(c) = self.consoles.get_mut(&id) {
            if c.input.len() < MAX_INPUT {
                c.input.push_back(byte);
            }
        }
        self.service_console(id, out);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::initrd::{write_newc, Initrd};
    use crate::testhv::TestHv;
    use guest_abi::domctl::{DomctlMaxMem, XenDomctl, XEN_DOMCTL_MAX_MEM};

    #[test]
    fn typed_input_a_domain_does_not_read_is_bounded() {
        let rd = write_newc(&[]);
        let mut ts = Toolstack::new(TestHv::boot(64), Initrd::parse(&rd).unwrap());
        // A domain with one page, its console ring, that never reads its input.
        let hv = ts.hypervisor();
        let mut op = crate::testhv::createdomain_op();
        hv.domctl(&mut op).unwrap();
        let dom = op.domain;
        let mut op =
            XenDomctl::with_payload(XEN_DOMCTL_MAX_MEM, dom, &DomctlMaxMem { max_memkb: 4 });
        hv.domctl(&mut op).unwrap();
        let mut ring = [0u64];
        assert_eq!(hv.populate_physmap(dom, &mut ring).unwrap(), 1);
        // Its console port, offered to dom0 as `xl create` offers it.
        let port = hv.evtchn_alloc_unbound(dom, DomId(0)).unwrap();
        ts.console_back_up(dom, ring[0], port).unwrap();
        assert!(
            ts.consoles[&dom.0].local_port.is_some(),
            "dom0 bound the port"
        );
        ts.console_attach(dom, &mut String::new()).unwrap();
        let mut out = String::new();
        for _ in 0..20_000 {
            assert!(ts.console_input(b'x', &mut out));
        }
        // The ring took what it holds; what waits for room is bounded.
        assert_eq!(ts.consoles[&dom.0].input.len(), MAX_INPUT);
    }
}
