//! The learning bridge (`xenbr0`), as Linux's bridge behaves in a Xen host: a frame that
//! arrives on port P from source S teaches the bridge that S is on P; a frame for a known
//! unicast address goes out of that port only, anything else (unknown unicast, broadcast,
//! multicast) floods to every port but the one it came in on. Pure forwarding logic: the
//! caller ([`Network`](super::Network)) moves the bytes and passes the time in.
//!
//! Every frame is hostile input, so nothing here trusts it: frames shorter than an Ethernet
//! header or longer than [`MAX_FRAME`] are dropped and counted, a group (multicast) or zero
//! source address is dropped (IEEE 802.1D: a source is never a group; Linux drops these
//! too), the table is bounded ([`MAX_MACS`]: when full, new addresses are not learnt and
//! their frames flood), and nothing ever goes back out of its ingress port. Frames for the
//! reserved link-local group 01:80:c2:00:00:0X (STP, LACP, pause) are not forwarded, as
//! 802.1D says a bridge must not.

use super::{Mac, MAX_FRAME};
use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;

/// Length of an Ethernet header: destination, source, EtherType.
pub const ETH_HEADER: usize = 14;
/// How long a learnt address stays without a frame from it (Linux's default ageing time,
/// 300 s).
pub const AGEING_NS: u64 = 300_000_000_000;
/// The most addresses the table holds (local ones included); beyond it, new sources are
/// not learnt.
pub const MAX_MACS: usize = 1024;
/// How often a full table is swept for expired entries at most (a flood of new sources
/// must not cost a sweep per frame).
const SWEEP_EVERY_NS: u64 = 1_000_000_000;

/// A bridge port, as the bridge numbers them (never reused while the bridge lives).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PortId(pub usize);

/// A port's frame counters. `rx` counts frames the port handed to the bridge, `tx` frames
/// the bridge forwarded to it; `rx_dropped` frames from it the bridge dropped (malformed,
/// filtered), `tx_dropped` frames the port could not take (its queue was full).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PortCounters {
    pub rx_frames: u64,
    pub rx_bytes: u64,
    pub tx_frames: u64,
    pub tx_bytes: u64,
    pub rx_dropped: u64,
    pub tx_dropped: u64,
}

/// Bridge-wide counters of what was dropped or not learnt, by cause.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BridgeCounters {
    /// Shorter than an Ethernet header.
    pub runts: u64,
    /// Longer than [`MAX_FRAME`].
    pub oversize: u64,
    /// From a group (multicast/broadcast) or all-zero source address.
    pub bad_source: u64,
    /// For the 802.1D reserved link-local group, or for an address on the port it came in
    /// on (nothing to forward).
    pub filtered: u64,
    /// From a port the bridge does not have.
    pub unknown_port: u64,
    /// Sources not learnt because the table was full.
    pub not_learnt: u64,
    /// Frames from another port claiming a local (pinned) address as their source.
    pub spoofed_local: u64,
    /// Frames flooded (unknown unicast, broadcast, multicast).
    pub flooded: u64,
}

/// Why the bridge dropped a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DropReason {
    Runt,
    Oversize,
    BadSource,
    Filtered,
    UnknownPort,
}

/// Where a frame goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Egress {
    /// Out of one port: the destination was learnt there.
    Port(PortId),
    /// Out of these ports: every port but the ingress (possibly none).
    Flood(Vec<PortId>),
    /// Nowhere.
    Drop(DropReason),
}

impl Egress {
    /// The ports to deliver to.
    pub fn ports(&self) -> &[PortId] {
        match self {
            Egress::Port(p) => core::slice::from_ref(p),
            Egress::Flood(ps) => ps,
            Egress::Drop(_) => &[],
        }
    }
}

/// One entry of the forwarding table (`brctl showmacs`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FdbEntry {
    pub mac: Mac,
    pub port: PortId,
    /// Local (pinned: one of the host's own interfaces), never aged or moved.
    pub local: bool,
    /// Time since a frame from it was last seen (0 for local entries).
    pub age_ns: u64,
}

struct Port {
    id: PortId,
    name: String,
    counters: PortCounters,
}

#[derive(Clone, Copy)]
struct Learnt {
    port: PortId,
    last_seen_ns: u64,
    local: bool,
}

/// The bridge: its ports and forwarding table.
pub struct Bridge {
    ports: Vec<Port>,
    next_id: usize,
    table: BTreeMap<Mac, Learnt>,
    max_macs: usize,
    last_sweep_ns: Option<u64>,
    counters: BridgeCounters,
}

impl Default for Bridge {
    fn default() -> Self {
        Self::new()
    }
}

/// Whether `mac` is a group address (the I/G bit, bit 0 of the first byte: multicast and
/// broadcast).
pub fn is_group(mac: &Mac) -> bool {
    mac[0] & 1 != 0
}

/// The 802.1D reserved link-local group 01:80:c2:00:00:00..0f, which bridges never forward.
fn is_link_local_group(mac: &Mac) -> bool {
    mac[..5] == [0x01, 0x80, 0xc2, 0x00, 0x00] && mac[5] <= 0x0f
}

/// Destination and source of a frame at least [`ETH_HEADER`] long.
fn addresses(frame: &[u8]) -> Option<(Mac, Mac)> {
    let dst = frame.get(0..6)?.try_into().ok()?;
    let src = frame.get(6..12)?.try_into().ok()?;
    Some((dst, src))
}

impl Bridge {
    /// A bridge without ports, its table bounded by [`MAX_MACS`].
    pub fn new() -> Self {
        Self::with_capacity(MAX_MACS)
    }

    /// A bridge whose table holds at most `max_macs` addresses.
    pub fn with_capacity(max_macs: usize) -> Self {
        Self {
            ports: Vec::new(),
            next_id: 0,
            table: BTreeMap::new(),
            max_macs,
            last_sweep_ns: None,
            counters: BridgeCounters::default(),
        }
    }

    /// Adds a port named `name`.
    pub fn add_port(&mut self, name: &str) -> PortId {
        let id = PortId(self.next_id);
        self.next_id += 1;
        self.ports.push(Port {
            id,
            name: String::from(name),
            counters: PortCounters::default(),
        });
        id
    }

    /// Removes a port and forgets every address learnt (or pinned) on it; `false` if there
    /// was no such port.
    pub fn remove_port(&mut self, port: PortId) -> bool {
        let before = self.ports.len();
        self.ports.retain(|p| p.id != port);
        self.table.retain(|_, e| e.port != port);
        self.ports.len() != before
    }

    /// Pins `mac` (a host interface's own address) to `port`: frames for it go there, and it
    /// is never aged out or learnt elsewhere. Refused (`false`) for a group address or an
    /// unknown port. Pinning may exceed the table's bound by the few local addresses.
    pub fn pin_local(&mut self, mac: Mac, port: PortId) -> bool {
        if is_group(&mac) || !self.has_port(port) {
            return false;
        }
        self.table.insert(
            mac,
            Learnt {
                port,
                last_seen_ns: 0,
                local: true,
            },
        );
        true
    }

    /// Whether `port` is one of the bridge's.
    pub fn has_port(&self, port: PortId) -> bool {
        self.ports.iter().any(|p| p.id == port)
    }

    /// The ports, in the order they were added: (id, name).
    pub fn ports(&self) -> impl Iterator<Item = (PortId, &str)> {
        self.ports.iter().map(|p| (p.id, p.name.as_str()))
    }

    /// A port's counters.
    pub fn port_counters(&self, port: PortId) -> Option<PortCounters> {
        self.port(port).map(|p| p.counters)
    }

    /// The bridge-wide counters.
    pub fn counters(&self) -> BridgeCounters {
        self.counters
    }

    fn port(&self, port: PortId) -> Option<&Port> {
        self.ports.iter().find(|p| p.id == port)
    }

    fn port_mut(&mut self, port: PortId) -> Option<&mut Port> {
        self.ports.iter_mut().find(|p| p.id == port)
    }

    /// Records that `port` could not take a frame the bridge forwarded to it.
    pub fn count_tx_drop(&mut self, port: PortId) {
        if let Some(p) = self.port_mut(port) {
            p.counters.tx_dropped += 1;
        }
    }

    /// Records that a frame from `port` was dropped before the bridge saw it (its queue was
    /// full).
    pub fn count_rx_drop(&mut self, port: PortId) {
        if let Some(p) = self.port_mut(port) {
            p.counters.rx_dropped += 1;
        }
    }

    /// Decides where a frame that arrived on `ingress` at `now_ns` goes, learning its source
    /// and counting it (rx on the ingress port, tx on each egress port).
    pub fn forward(&mut self, ingress: PortId, frame: &[u8], now_ns: u64) -> Egress {
        let len = frame.len() as u64;
        let Some(p) = self.port_mut(ingress) else {
            self.counters.unknown_port += 1;
            return Egress::Drop(DropReason::UnknownPort);
        };
        p.counters.rx_frames += 1;
        p.counters.rx_bytes += len;
        let verdict = self.decide(ingress, frame, now_ns);
        match &verdict {
            Egress::Drop(_) => {
                if let Some(p) = self.port_mut(ingress) {
                    p.counters.rx_dropped += 1;
                }
            }
            out => {
                for &id in out.ports() {
                    if let Some(p) = self.port_mut(id) {
                        p.counters.tx_frames += 1;
                        p.counters.tx_bytes += len;
                    }
                }
            }
        }
        verdict
    }

    fn decide(&mut self, ingress: PortId, frame: &[u8], now_ns: u64) -> Egress {
        if frame.len() < ETH_HEADER {
            self.counters.runts += 1;
            return Egress::Drop(DropReason::Runt);
        }
        if frame.len() > MAX_FRAME {
            self.counters.oversize += 1;
            return Egress::Drop(DropReason::Oversize);
        }
        let Some((dst, src)) = addresses(frame) else {
            self.counters.runts += 1;
            return Egress::Drop(DropReason::Runt);
        };
        if is_group(&src) || src == [0; 6] {
            self.counters.bad_source += 1;
            return Egress::Drop(DropReason::BadSource);
        }
        self.learn(src, ingress, now_ns);
        if is_link_local_group(&dst) {
            self.counters.filtered += 1;
            return Egress::Drop(DropReason::Filtered);
        }
        if !is_group(&dst) {
            if let Some(e) = self.lookup(&dst, now_ns) {
                if e.port == ingress {
                    // Already on the segment it came from: nothing to forward.
                    self.counters.filtered += 1;
                    return Egress::Drop(DropReason::Filtered);
                }
                return Egress::Port(e.port);
            }
        }
        self.counters.flooded += 1;
        Egress::Flood(
            self.ports
                .iter()
                .map(|p| p.id)
                .filter(|&id| id != ingress)
                .collect(),
        )
    }

    /// The live entry for `mac` (an expired one is forgotten).
    fn lookup(&mut self, mac: &Mac, now_ns: u64) -> Option<Learnt> {
        let e = *self.table.get(mac)?;
        if !e.local && expired(e.last_seen_ns, now_ns) {
            self.table.remove(mac);
            return None;
        }
        Some(e)
    }

    fn learn(&mut self, src: Mac, port: PortId, now_ns: u64) {
        if let Some(e) = self.table.get_mut(&src) {
            if e.local {
                if e.port != port {
                    self.counters.spoofed_local += 1;
                }
                return;
            }
            e.port = port;
            e.last_seen_ns = now_ns;
            return;
        }
        if self.table.len() >= self.max_macs {
            self.sweep(now_ns);
            if self.table.len() >= self.max_macs {
                self.counters.not_learnt += 1;
                return;
            }
        }
        self.table.insert(
            src,
            Learnt {
                port,
                last_seen_ns: now_ns,
                local: false,
            },
        );
    }

    /// Forgets expired entries (at most once every [`SWEEP_EVERY_NS`]).
    fn sweep(&mut self, now_ns: u64) {
        if self
            .last_sweep_ns
            .is_some_and(|t| now_ns.saturating_sub(t) < SWEEP_EVERY_NS && now_ns >= t)
        {
            return;
        }
        self.last_sweep_ns = Some(now_ns);
        self.table
            .retain(|_, e| e.local || !expired(e.last_seen_ns, now_ns));
    }

    /// Forgets every expired entry now (the caller's periodic housekeeping).
    pub fn age(&mut self, now_ns: u64) {
        self.table
            .retain(|_, e| e.local || !expired(e.last_seen_ns, now_ns));
    }

    /// The port `mac` was learnt on (or is pinned to), if its entry is live at `now_ns`.
    pub fn port_of(&self, mac: &Mac, now_ns: u64) -> Option<PortId> {
        self.table
            .get(mac)
            .filter(|e| e.local || !expired(e.last_seen_ns, now_ns))
            .map(|e| e.port)
    }

    /// The live entries at `now_ns`, by address.
    pub fn fdb(&self, now_ns: u64) -> Vec<FdbEntry> {
        self.table
            .iter()
            .filter(|(_, e)| e.local || !expired(e.last_seen_ns, now_ns))
            .map(|(&mac, e)| FdbEntry {
                mac,
                port: e.port,
                local: e.local,
                age_ns: if e.local {
                    0
                } else {
                    now_ns.saturating_sub(e.last_seen_ns)
                },
            })
            .collect()
    }

    /// Entries in the table (live or not yet swept).
    pub fn table_len(&self) -> usize {
        self.table.len()
    }
}

/// Whether an entry last seen at `seen` has aged out at `now` (a clock that went backwards
/// keeps it).
fn expired(seen: u64, now: u64) -> bool {
    now.saturating_sub(seen) >= AGEING_NS
}

#[cfg(test)]
#[path = "bridge_tests.rs"]
mod tests;
