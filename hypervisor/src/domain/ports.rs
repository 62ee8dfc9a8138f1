//! A domain's event-channel port table (pure logic, host-tested): what each port is bound
//! to, the per-domain port limit, and the VIRQ → port map.

use alloc::vec::Vec;
use guest_abi::errno::Errno;
use guest_abi::event_channel::NR_VIRQS;
use guest_abi::shared_info::EVTCHN_2L_NR_CHANNELS;
use guest_abi::types::{DomId, EvtchnPort};

/// Highest port a domain gets when its creator does not say (as libxl's default).
pub const DEFAULT_MAX_PORT: EvtchnPort = EvtchnPort(1023);
/// Highest port the 2-level ABI can address.
pub const HARD_MAX_PORT: EvtchnPort = EvtchnPort(EVTCHN_2L_NR_CHANNELS as u32 - 1);
/// Port 0: reserved, never allocated (also "no port" in the VIRQ map).
const NO_PORT: EvtchnPort = EvtchnPort(0);

/// What a port is bound to.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Binding {
    /// Free.
    Closed,
    /// Allocated; domain `remote` may bind to it.
    Unbound {
        /// The domain allowed to bind.
        remote: DomId,
    },
    /// Connected to port `port` of domain `remote`.
    Interdomain {
        /// The peer domain.
        remote: DomId,
        /// The peer's port.
        port: EvtchnPort,
    },
    /// Bound to a virtual IRQ.
    Virq(u32),
    /// An inter-vCPU interrupt (to itself, with one vCPU).
    Ipi,
    /// A physical IRQ of the domain (`crate::irq`).
    Pirq(u32),
}

/// A domain's ports. Port 0 is reserved, as in Xen: never allocated, always closed.
pub struct PortTable {
    chans: Vec<Binding>,
    max_port: EvtchnPort,
    virqs: [EvtchnPort; NR_VIRQS as usize],
}

impl PortTable {
    /// An empty table allowing ports up to `max_port` (clamped to [`HARD_MAX_PORT`]; 0 means
    /// [`DEFAULT_MAX_PORT`]).
    pub fn new(max_port: EvtchnPort) -> Self {
        let max_port = match max_port {
            NO_PORT => DEFAULT_MAX_PORT,
            m => m.min(HARD_MAX_PORT),
        };
        PortTable {
            chans: Vec::new(),
            max_port,
            virqs: [NO_PORT; NR_VIRQS as usize],
        }
    }

    /// The highest port this domain may use.
    pub fn max_port(&self) -> EvtchnPort {
        self.max_port
    }

    /// Whether `port` is a valid port number for this domain (allocated or not).
    pub fn valid(&self, port: EvtchnPort) -> bool {
        port <= self.max_port
    }

    /// The binding of `port` (`Closed` if never allocated); `EINVAL` beyond the limit.
    pub fn get(&self, port: EvtchnPort) -> Result<Binding, Errno> {
        if !self.valid(port) {
            return Err(Errno::EINVAL);
        }
        Ok(self
            .chans
            .get(port.0 as usize)
            .copied()
            .unwrap_or(Binding::Closed))
    }

    /// Allocate the lowest free port ≥ 1 with `binding`; `ENOSPC` when all up to the limit
    /// are in use.
    pub fn alloc(&mut self, binding: Binding) -> Result<EvtchnPort, Errno> {
        let free = (1..self.chans.len()).find(|&p| self.chans[p] == Binding::Closed);
        let index = match free {
            Some(p) => p,
            None => self.chans.len().max(1),
        };
        if index as u64 > u64::from(self.max_port.0) {
            return Err(Errno::ENOSPC);
        }
        if index >= self.chans.len() {
            // Fallible: a domain's ports never take the hypervisor down, even out of memory.
            self.chans
                .try_reserve(index + 1 - self.chans.len())
                .map_err(|_| Errno::ENOMEM)?;
            self.chans.resize(index + 1, Binding::Closed);
        }
        // Below the limit checked above, so it fits a port number.
        let port = EvtchnPort(index as u32);
        self.set(port, binding);
        Ok(port)
    }

    /// Rebind an allocated port (e.g. unbound → interdomain).
    pub fn set(&mut self, port: EvtchnPort, binding: Binding) {
        if let Some(c) = self.chans.get_mut(port.0 as usize) {
            *c = binding;
            if let Binding::Virq(v) = binding {
                self.virqs[v as usize] = port;
            }
        }
    }

    /// Free `port`, returning what it was bound to (`EINVAL` if closed or out of range).
    pub fn close(&mut self, port: EvtchnPort) -> Result<Binding, Errno> {
        let old = self.get(port)?;
        if old == Binding::Closed || port == NO_PORT {
            return Err(Errno::EINVAL);
        }
        if let Binding::Virq(v) = old {
            self.virqs[v as usize] = NO_PORT;
        }
        self.chans[port.0 as usize] = Binding::Closed;
        Ok(old)
    }

    /// The port bound to `virq`, if any.
    pub fn virq_port(&self, virq: u32) -> Option<EvtchnPort> {
        self.virqs
            .get(virq as usize)
            .copied()
            .filter(|&p| p != NO_PORT)
    }

    /// Every port in use, with its binding.
    pub fn in_use(&self) -> impl Iterator<Item = (EvtchnPort, Binding)> + '_ {
        self.chans
            .iter()
            .enumerate()
            .filter(|(_, b)| **b != Binding::Closed)
            .map(|(p, b)| (EvtchnPort(p as u32), *b))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const fn p(n: u32) -> EvtchnPort {
        EvtchnPort(n)
    }

    #[test]
    fn lowest_free_port_from_one_and_reuse() {
        let mut t = PortTable::new(p(0));
        assert_eq!(t.max_port(), DEFAULT_MAX_PORT);
        assert_eq!(t.alloc(Binding::Ipi), Ok(p(1)));
        let three = Binding::Unbound { remote: DomId(3) };
        assert_eq!(t.alloc(three), Ok(p(2)));
        assert_eq!(t.alloc(Binding::Virq(0)), Ok(p(3)));
        assert_eq!(t.close(p(2)), Ok(three));
        assert_eq!(t.get(p(2)), Ok(Binding::Closed));
        assert_eq!(t.alloc(Binding::Ipi), Ok(p(2)));
        assert_eq!(t.get(p(0)), Ok(Binding::Closed));
        assert_eq!(t.close(p(0)), Err(Errno::EINVAL));
        assert_eq!(t.close(p(7)), Err(Errno::EINVAL));
    }

    #[test]
    fn limit_gives_enospc_and_range_errors() {
        let mut t = PortTable::new(p(5));
        for want in 1..=5 {
            assert_eq!(t.alloc(Binding::Ipi), Ok(p(want)));
        }
        assert_eq!(t.alloc(Binding::Ipi), Err(Errno::ENOSPC));
        assert_eq!(t.get(p(6)), Err(Errno::EINVAL));
        t.close(p(3)).unwrap();
        assert_eq!(t.alloc(Binding::Ipi), Ok(p(3)));
        assert_eq!(PortTable::new(p(1 << 20)).max_port(), HARD_MAX_PORT);
    }

    #[test]
    fn virq_map_follows_bind_and_close() {
        let mut t = PortTable::new(p(0));
        let port = t.alloc(Binding::Virq(2)).unwrap();
        assert_eq!(t.virq_port(2), Some(port));
        assert_eq!(t.virq_port(0), None);
        t.close(port).unwrap();
        assert_eq!(t.virq_port(2), None);
        assert_eq!(t.in_use().count(), 0);
    }
}
