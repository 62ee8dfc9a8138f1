//! What a domain may make xenstored hold: the charges for watches and transactions, the
//! heap headroom a request needs, and the bounds checked against [`Quotas`].

use super::{Conn, Xenstored};
use crate::xenstore::store::Quotas;
use guest_abi::errno::Errno;

/// Bytes charged per watch beyond its path and token.
pub const WATCH_OVERHEAD: usize = 64;
/// Bytes charged per open transaction before it records anything.
pub const TX_OVERHEAD: usize = 128;
/// dom0's heap must have this much free for a request to be handled (else `ENOMEM`): more
/// than any one request allocates.
pub const REQUEST_HEADROOM: usize = 256 << 10;
/// Watch events dom0's own tools may leave untaken (they are taken every shell pass).
pub const DOM0_EVENTS: usize = 1024;

impl Xenstored {
    /// Bytes domain `dom` makes xenstored hold: its nodes, watches and transactions.
    pub fn held_by(&self, dom: u16) -> usize {
        self.store.usage_of(dom).bytes + self.conns.get(&dom).map_or(0, Conn::held)
    }

    /// Bytes all unprivileged connections hold outside the tree.
    pub(super) fn held_total(&self) -> usize {
        self.conns
            .iter()
            .filter(|(&d, _)| d != 0)
            .map(|(_, c)| c.held())
            .sum()
    }

    /// Bytes `dom` may still make xenstored hold: what its memory quota and the global
    /// bound leave (unlimited for dom0).
    pub(super) fn tx_budget(&self, dom: u16) -> usize {
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
}

/// Nodes a transaction of `dom` may record.
pub(super) fn tx_limit(dom: u16, q: &Quotas) -> usize {
    if dom == 0 {
        usize::MAX
    } else {
        q.transaction_nodes
    }
}

/// Xen's `path-max`: for an unprivileged domain, the part of `p` below any domain's home
/// (else all of it) is at most `q.path_len` bytes (`EINVAL`).
pub(super) fn check_path_len(dom: u16, p: &str, q: &Quotas) -> Result<(), Errno> {
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
