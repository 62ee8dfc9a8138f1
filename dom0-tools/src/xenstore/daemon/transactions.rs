//! Transactions (`XS_TRANSACTION_START`, `XS_TRANSACTION_END`), and routing each node
//! operation to the live tree or to a transaction's view of it.

use super::conn::Conn;
use super::dispatch::ok;
use super::limits::{tx_limit, TX_OVERHEAD};
use super::Xenstored;
use crate::xenstore::store::{Plan, View};
use crate::xenstore::txn::{Tx, TxView};
use crate::xenstore::wire::{self, nul_joined};
use alloc::format;
use alloc::vec::Vec;
use guest_abi::errno::Errno;

impl Xenstored {
    /// `XS_TRANSACTION_START`.
    pub(super) fn xs_transaction_start(&mut self, dom: u16) -> Result<Vec<u8>, Errno> {
        let id = self.tx_start(dom)?;
        Ok(nul_joined(&[format!("{id}")]))
    }

    /// `XS_TRANSACTION_END`: `T` commits transaction `tx`, `F` abandons it.
    pub(super) fn xs_transaction_end(
        &mut self,
        dom: u16,
        tx: u32,
        p: &[u8],
    ) -> Result<Vec<u8>, Errno> {
        let commit = match wire::one_string(p)? {
            "T" => true,
            "F" => false,
            _ => return Err(Errno::EINVAL),
        };
        self.tx_end(dom, tx, commit)?;
        Ok(ok())
    }

    /// Runs a read-only `f` on the live tree or transaction `tx`'s view of it (which
    /// records what it saw).
    pub(super) fn view_op<T>(
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

    /// Plans a change with `f` and applies it to the live tree (checked against the
    /// quotas first), or merges it into transaction `tx`'s overlay (checked against the
    /// transaction's and the domain's limits).
    pub(super) fn mutate(
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
}
