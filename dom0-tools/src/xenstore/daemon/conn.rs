//! One client connection: its ring, watches and open transactions, the bytes read from its
//! ring that do not form a message yet, and its output queue of replies and watch events.

use super::limits::TX_OVERHEAD;
use super::watches::Watch;
use crate::xenstore::store::Quotas;
use crate::xenstore::txn::Tx;
use alloc::collections::{BTreeMap, VecDeque};
use alloc::string::String;
use alloc::vec::Vec;
use guest_abi::errno::Errno;

/// A domain's shared ring page and event channel, as introduced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RingInfo {
    pub mfn: u64,
    pub port: u32,
}

/// One encoded message waiting for ring space.
#[derive(Debug)]
pub(super) struct Out {
    pub(super) data: Vec<u8>,
    pub(super) event: bool,
}

/// One client.
#[derive(Debug, Default)]
pub struct Conn {
    pub ring: Option<RingInfo>,
    pub(super) watches: Vec<Watch>,
    pub(super) txs: BTreeMap<u32, Tx>,
    /// Bytes read from the ring that do not form a whole message yet.
    pub(super) inbuf: Vec<u8>,
    /// Encoded messages waiting for ring space; the first may be partly sent (`sent`).
    pub(super) outq: VecDeque<Out>,
    pub(super) sent: usize,
    /// Unsent bytes, replies and watch events in `outq`.
    pub(super) out_bytes: usize,
    pub(super) out_replies: usize,
    pub(super) out_events: usize,
    /// Watch events for dom0's own tools (which do not read a ring).
    pub(super) events: VecDeque<(String, String)>,
    /// A protocol violation stopped this ring.
    pub broken: Option<&'static str>,
    /// Watch events dropped because the connection did not read them.
    pub dropped_events: u64,
    /// Dropping events now (logged once per episode).
    pub(super) dropping: bool,
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
    pub(super) fn can_take(&self, dom: u16, q: &Quotas) -> bool {
        dom == 0 || (self.out_replies < q.outstanding && self.out_bytes < q.output_bytes)
    }

    /// Queues `data` (a reply, or an event) at `at` (else at the end).
    pub(super) fn push(
        &mut self,
        data: Vec<u8>,
        event: bool,
        at: Option<usize>,
    ) -> Result<(), Errno> {
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
