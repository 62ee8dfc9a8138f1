//! Watches: registering and removing them (`XS_WATCH`, `XS_UNWATCH`, `XS_RESET_WATCHES`),
//! firing them on changes and on the special `@introduceDomain`/`@releaseDomain` paths,
//! and queueing their events on each connection (bounded, dropped and logged past it).

use super::conn::Conn;
use super::dispatch::{ok, two};
use super::limits::{check_path_len, DOM0_EVENTS, WATCH_OVERHEAD};
use super::{log_line, Xenstored};
use crate::xenstore::path::{self, canonical_watch, domain_path};
use crate::xenstore::store::{Change, Quotas};
use crate::xenstore::wire::{self, nul_joined, Msg};
use alloc::collections::VecDeque;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use guest_abi::errno::Errno;
use guest_abi::io::xenstore::XsType;

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
    /// `XS_WATCH`.
    pub(super) fn xs_watch(&mut self, dom: u16, p: &[u8]) -> Result<Vec<u8>, Errno> {
        let (wpath, token) = two(p)?;
        self.add_watch(dom, wpath, token)?;
        Ok(ok())
    }

    /// `XS_UNWATCH`.
    pub(super) fn xs_unwatch(&mut self, dom: u16, p: &[u8]) -> Result<Vec<u8>, Errno> {
        let (wpath, token) = two(p)?;
        let abs = canonical_watch(dom, wpath)?;
        let c = self.conns.get_mut(&dom).expect("checked");
        let before = c.watches.len();
        c.watches.retain(|w| !(w.path == abs && w.token == token));
        if c.watches.len() == before {
            return Err(Errno::ENOENT);
        }
        Ok(ok())
    }

    /// `XS_RESET_WATCHES`.
    pub(super) fn xs_reset_watches(&mut self, dom: u16) -> Vec<u8> {
        self.conns.get_mut(&dom).expect("checked").watches.clear();
        ok()
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
    pub(super) fn fire(&mut self, ch: &Change) {
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

    pub(super) fn fire_special(&mut self, which: &str) {
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
}
