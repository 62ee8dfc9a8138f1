//! Transactions without copies of the store: a transaction records the live generation of
//! every node it looked at (its read set) and keeps its own version of every node it changed
//! (its overlay); everything else it reads through to the live tree.
//!
//! Commit is all or nothing: first every recorded generation is compared with the live tree
//! (`EAGAIN` on any difference, nothing applied), then the overlay is checked against the
//! quotas as one plan (`ENOSPC`/`ENOMEM`, nothing applied), and only then applied, which
//! cannot fail. Permissions and node sizes were checked when each operation was planned
//! against the transaction's view, which the generation check proves is still the live one.
//!
//! What a transaction holds is bounded: its nodes (read or written) by the
//! `transaction_nodes` quota, its bytes ([`Tx::bytes`]) count against its domain's memory.

use super::store::{Change, Node, Plan, Store, View};
use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;
use guest_abi::errno::Errno;

/// Bytes charged per node a transaction records, beyond its path (and its node, if written).
pub const TX_ENTRY_OVERHEAD: usize = 64;

/// An open transaction.
#[derive(Clone, Debug, Default)]
pub struct Tx {
    /// Live generation of every live node looked at, when first looked at (`None`: absent).
    reads: BTreeMap<String, Option<u64>>,
    /// The transaction's version of every node it changed (`None`: removed).
    writes: BTreeMap<String, Option<Node>>,
    /// The changes watches will see on commit, one per path.
    changes: BTreeMap<String, Change>,
    /// Net nodes this transaction adds to its domain's count.
    pub node_delta: isize,
    /// Bytes this transaction holds: recorded paths, overlay nodes, pending changes.
    pub bytes: usize,
}

/// A transaction's view of the tree, for planning an operation.
pub struct TxView<'a> {
    pub live: &'a Store,
    pub tx: &'a mut Tx,
    /// `transaction_nodes` (unlimited for dom0).
    pub limit: usize,
    /// Bytes the transaction may still grow by recording reads (`ENOMEM` beyond: what the
    /// domain's memory quota and the global bound leave; unlimited for dom0).
    pub budget: usize,
}

impl Tx {
    /// Nodes recorded (read or written).
    pub fn nodes(&self) -> usize {
        self.reads.len() + self.writes.len()
    }

    fn record(
        &mut self,
        live: &Store,
        p: &str,
        limit: usize,
        budget: &mut usize,
    ) -> Result<(), Errno> {
        if self.reads.contains_key(p) || self.writes.contains_key(p) {
            return Ok(());
        }
        if self.nodes() >= limit {
            return Err(Errno::ENOSPC);
        }
        let cost = p.len() + TX_ENTRY_OVERHEAD;
        *budget = budget.checked_sub(cost).ok_or(Errno::ENOMEM)?;
        self.reads.insert(String::from(p), live.gen_of(p));
        self.bytes += cost;
        Ok(())
    }

    /// What merging `plan` would add: (nodes recorded, net nodes owned by `dom`, bytes).
    pub fn cost_of(&self, live: &Store, dom: u16, plan: &Plan) -> (usize, isize, isize) {
        let (mut n, mut own, mut bytes) = (0usize, 0isize, 0isize);
        for (p, new) in &plan.writes {
            let old = match self.writes.get(p) {
                Some(w) => w.as_ref(),
                None => {
                    if !self.reads.contains_key(p) {
                        n += 1;
                        bytes += (p.len() + TX_ENTRY_OVERHEAD) as isize;
                    }
                    live.get(p)
                }
            };
            let prev_cost = self.writes.get(p).map_or(0, |w| cost(p, w.as_ref()));
            bytes += cost(p, new.as_ref()) as isize - prev_cost as isize;
            own -= old.is_some_and(|o| o.perms.owner() == dom) as isize;
            own += new.as_ref().is_some_and(|o| o.perms.owner() == dom) as isize;
        }
        if let Some(c) = &plan.change {
            if !self.changes.contains_key(&c.path) {
                bytes += (c.path.len() + TX_ENTRY_OVERHEAD) as isize;
            }
        }
        (n, own, bytes)
    }

    /// Takes `plan` into the overlay (after [`Tx::cost_of`] was checked).
    pub fn merge(&mut self, live: &Store, dom: u16, plan: Plan) {
        let (_, own, bytes) = self.cost_of(live, dom, &plan);
        self.node_delta += own;
        self.bytes = (self.bytes as isize + bytes).max(0) as usize;
        for (p, new) in plan.writes {
            if !self.writes.contains_key(&p) {
                // The overlay replaces the read record: keep the generation seen.
                let g = self.reads.remove(&p).unwrap_or_else(|| live.gen_of(&p));
                self.reads.insert(p.clone(), g);
            }
            self.writes.insert(p, new);
        }
        if let Some(c) = plan.change {
            self.changes.insert(c.path.clone(), c);
        }
    }

    /// Commit, first step: `EAGAIN` if any node it looked at changed since.
    pub fn validate(&self, live: &Store) -> Result<(), Errno> {
        if self.reads.iter().any(|(p, g)| live.gen_of(p) != *g) {
            return Err(Errno::EAGAIN);
        }
        Ok(())
    }

    /// The overlay as one plan for [`Store::check`] and [`Store::apply`], and the changes.
    pub fn into_writes(self) -> (Vec<(String, Option<Node>)>, Vec<Change>) {
        (
            self.writes.into_iter().collect(),
            self.changes.into_values().collect(),
        )
    }
}

fn cost(p: &str, n: Option<&Node>) -> usize {
    n.map_or(0, |n| n.cost(p))
}

impl View for TxView<'_> {
    fn node(&mut self, p: &str) -> Result<Option<&Node>, Errno> {
        if self.tx.writes.contains_key(p) {
            return Ok(self.tx.writes.get(p).and_then(Option::as_ref));
        }
        self.tx.record(self.live, p, self.limit, &mut self.budget)?;
        Ok(self.live.get(p))
    }

    fn below(&mut self, p: &str) -> Result<Vec<String>, Errno> {
        let mut out: Vec<String> = Vec::new();
        let live: Vec<&str> = self.live.live_below(p).collect();
        for q in live {
            if !self.tx.writes.contains_key(q) {
                self.tx.record(self.live, q, self.limit, &mut self.budget)?;
                out.push(String::from(q));
            }
        }
        for (q, n) in self
            .tx
            .writes
            .range::<str, _>((core::ops::Bound::Excluded(p), core::ops::Bound::Unbounded))
            .take_while(|(k, _)| k.starts_with(p))
        {
            if n.is_some() && super::path::is_at_or_below(q, p) {
                out.push(q.clone());
            }
        }
        Ok(out)
    }
}
