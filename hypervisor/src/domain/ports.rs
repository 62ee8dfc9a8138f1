//! A domain's event-channel port table (pure logic, host-tested): what each port is bound
//! to and which vCPU it notifies, the per-domain port limit, and each vCPU's VIRQ → port
//! map (global VIRQs are bound on vCPU 0, as Xen's).

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
    /// An inter-vCPU interrupt, to the vCPU the port notifies.
    Ipi,
    /// A physical IRQ of the domain (`crate::irq`).
    Pirq(u32),
}

/// VIRQs bound and delivered per vCPU (the others are global: bound on vCPU 0, delivered
/// to the vCPU their port notifies).
pub fn virq_is_per_vcpu(virq: u32) -> bool {
    use guest_abi::event_channel::{VIRQ_DEBUG, VIRQ_TIMER, VIRQ_XENOPROF, VIRQ_XENPMU};
    matches!(virq, VIRQ_TIMER | VIRQ_DEBUG | VIRQ_XENOPROF | VIRQ_XENPMU)
}

/// A domain's ports. Port 0 is reserved, as in Xen: never allocated, always closed.
pub struct PortTable {
    /// Each port's binding and the vCPU it notifies (Xen's `notify_vcpu_id`).
    chans: Vec<(Binding, u32)>,
    max_port: EvtchnPort,
    /// Per vCPU, the port bound to each VIRQ (vCPU 0's for the global ones); grown to the
    /// highest vCPU a VIRQ was bound on.
    virqs: Vec<[EvtchnPort; NR_VIRQS as usize]>,
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
            virqs: Vec::new(),
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
            .map_or(Binding::Closed, |c| c.0))
    }

    /// The vCPU `port` notifies (0 for a port never allocated or beyond the limit).
    pub fn notify_vcpu(&self, port: EvtchnPort) -> u32 {
        self.chans.get(port.0 as usize).map_or(0, |c| c.1)
    }

    /// Make `port` (allocated) notify vCPU `vcpu` (`EVTCHNOP_bind_vcpu`: the caller checks
    /// which bindings may move). A global VIRQ stays in vCPU 0's map, as Xen's.
    pub fn set_notify_vcpu(&mut self, port: EvtchnPort, vcpu: u32) {
        if let Some(c) = self.chans.get_mut(port.0 as usize) {
            c.1 = vcpu;
        }
    }

    /// The map entry of `virq` for a port notifying `vcpu`: that vCPU's for a per-vCPU
    /// VIRQ, vCPU 0's for a global one (the map grown to it if `grow`).
    fn virq_slot(&mut self, vcpu: u32, virq: u32, grow: bool) -> Option<&mut EvtchnPort> {
        let owner = if virq_is_per_vcpu(virq) { vcpu } else { 0 } as usize;
        if grow && owner >= self.virqs.len() {
            // Fallible: a domain's ports never take the hypervisor down, even out of memory.
            self.virqs.try_reserve(owner + 1 - self.virqs.len()).ok()?;
            self.virqs.resize(owner + 1, [NO_PORT; NR_VIRQS as usize]);
        }
        self.virqs.get_mut(owner)?.get_mut(virq as usize)
    }

    /// Allocate the lowest free port ≥ 1 with `binding`, notifying vCPU 0; `ENOSPC` when
    /// all up to the limit are in use.
    pub fn alloc(&mut self, binding: Binding) -> Result<EvtchnPort, Errno> {
        self.alloc_for(binding, 0)
    }

    /// Allocate the lowest free port ≥ 1 with `binding`, notifying vCPU `vcpu` (a VIRQ
    /// goes into that vCPU's map).
    pub fn alloc_for(&mut self, binding: Binding, vcpu: u32) -> Result<EvtchnPort, Errno> {
        if let Binding::Virq(v) = binding {
            // Its map entry first, so the port is never bound without one.
            self.virq_slot(vcpu, v, true).ok_or(Errno::ENOMEM)?;
        }
        let free = (1..self.chans.len()).find(|&p| self.chans[p].0 == Binding::Closed);
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
            self.chans.resize(index + 1, (Binding::Closed, 0));
        }
        // Below the limit checked above, so it fits a port number.
        let port = EvtchnPort(index as u32);
        self.chans[index].1 = vcpu;
        self.set(port, binding);
        Ok(port)
    }

    /// Rebind an allocated port (e.g. unbound → interdomain); it keeps its vCPU.
    pub fn set(&mut self, port: EvtchnPort, binding: Binding) {
        if let Some(c) = self.chans.get_mut(port.0 as usize) {
            c.0 = binding;
            let vcpu = c.1;
            if let Binding::Virq(v) = binding {
                if let Some(slot) = self.virq_slot(vcpu, v, true) {
                    *slot = port;
                }
            }
        }
    }

    /// Free `port`, returning what it was bound to (`EINVAL` if closed or out of range).
    pub fn close(&mut self, port: EvtchnPort) -> Result<Binding, Errno> {
        let old = self.get(port)?;
        if old == Binding::Closed || port == NO_PORT {
            return Err(Errno::EINVAL);
        }
        let vcpu = self.notify_vcpu(port);
        if let Binding::Virq(v) = old {
            if let Some(slot) = self.virq_slot(vcpu, v, false) {
                *slot = NO_PORT;
            }
        }
        self.chans[port.0 as usize] = (Binding::Closed, 0);
        Ok(old)
    }

    /// The port bound to `virq` on vCPU 0 (every global VIRQ's), if any.
    pub fn virq_port(&self, virq: u32) -> Option<EvtchnPort> {
        self.virq_port_on(0, virq)
    }

    /// The port bound to `virq` on vCPU `vcpu`, if any.
    pub fn virq_port_on(&self, vcpu: u32, virq: u32) -> Option<EvtchnPort> {
        self.virqs
            .get(vcpu as usize)?
            .get(virq as usize)
            .copied()
            .filter(|&p| p != NO_PORT)
    }

    /// Every port in use, with its binding.
    pub fn in_use(&self) -> impl Iterator<Item = (EvtchnPort, Binding)> + '_ {
        self.chans
            .iter()
            .enumerate()
            .filter(|(_, b)| b.0 != Binding::Closed)
            .map(|(p, b)| (EvtchnPort(p as u32), b.0))
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

    #[test]
    fn per_vcpu_virqs_and_notify_vcpus() {
        let mut t = PortTable::new(p(0));
        let v0 = t.alloc_for(Binding::Virq(0), 0).unwrap();
        let v3 = t.alloc_for(Binding::Virq(0), 3).unwrap();
        assert_ne!(v0, v3);
        assert_eq!(t.virq_port_on(0, 0), Some(v0));
        assert_eq!(t.virq_port_on(3, 0), Some(v3));
        assert_eq!(t.virq_port_on(2, 0), None);
        assert_eq!((t.notify_vcpu(v0), t.notify_vcpu(v3)), (0, 3));
        // A global VIRQ's port notifying another vCPU stays in vCPU 0's map (as Xen's).
        let g = t.alloc(Binding::Virq(3)).unwrap();
        t.set_notify_vcpu(g, 2);
        assert_eq!(t.notify_vcpu(g), 2);
        assert_eq!(
            (t.virq_port_on(0, 3), t.virq_port_on(2, 3)),
            (Some(g), None)
        );
        t.close(g).unwrap();
        assert_eq!(t.virq_port_on(0, 3), None);
        t.close(v3).unwrap();
        assert_eq!(
            (t.virq_port_on(3, 0), t.virq_port_on(0, 0)),
            (None, Some(v0))
        );
        // A freed port starts again at vCPU 0.
        let ipi = t.alloc_for(Binding::Ipi, 5).unwrap();
        assert_eq!(t.notify_vcpu(ipi), 5);
        t.close(ipi).unwrap();
        assert_eq!(t.notify_vcpu(ipi), 0);
        assert_eq!(t.virq_port_on(99, 0), None);
    }
}
