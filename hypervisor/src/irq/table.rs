//! The machine's GSIs and the pirqs domains mapped them to (pure logic, host-tested): which
//! vector each mapped GSI has, its trigger mode and polarity, the event channel its pirq is
//! bound to, and whether a level-triggered line waits for its EOI.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use guest_abi::errno::Errno;
use guest_abi::types::{DomId, EvtchnPort};

/// Pirqs a domain may use: `0..NR_PIRQS`.
pub const NR_PIRQS: u32 = 256;
/// GSIs the table can hold (more than any I/O APIC set a machine of ours has).
pub const MAX_GSIS: u32 = 256;
/// The first vector handed to a device GSI.
pub const FIRST_VECTOR: u8 = 0x50;
/// The last vector handed to a device GSI (0xE0 on are the legacy PICs', the timer's and
/// the spurious vector).
pub const LAST_VECTOR: u8 = 0xDF;

/// A GSI's trigger mode and polarity.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mode {
    /// Level-triggered (else edge).
    pub level: bool,
    /// Active low (else high).
    pub active_low: bool,
}

impl Mode {
    /// Until dom0 says otherwise: ISA lines (GSI 0-15) edge-triggered, active high; the
    /// others level-triggered, active low, as PCI interrupts are.
    pub fn default_for(gsi: u32) -> Mode {
        let isa = gsi < 16;
        Mode {
            level: !isa,
            active_low: !isa,
        }
    }
}

#[derive(Clone, Copy, Debug, Default)]
struct Gsi {
    /// Set by `PHYSDEVOP_setup_gsi`.
    mode: Option<Mode>,
    /// The domain and pirq it is mapped to.
    owner: Option<(DomId, u32)>,
    /// Its vector while mapped (0: none).
    vector: u8,
    /// The hypervisor's own (its console): never mapped for a domain.
    reserved: bool,
}

/// A mapped pirq.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pirq {
    /// The GSI.
    pub gsi: u32,
    /// The event channel bound to it.
    pub port: Option<EvtchnPort>,
    /// Level-triggered, fired and masked until the domain's EOI.
    pub in_flight: bool,
}

/// What the I/O APIC must be told after mapping a GSI.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Programming {
    /// The GSI.
    pub gsi: u32,
    /// Its vector.
    pub vector: u8,
    /// Its mode.
    pub mode: Mode,
}

/// The machine's GSIs and every domain's pirqs.
pub struct Irqs {
    gsis: Vec<Gsi>,
    pirqs: BTreeMap<(DomId, u32), Pirq>,
}

impl Irqs {
    /// A machine with `gsis` GSIs (capped at [`MAX_GSIS`]), none mapped.
    pub fn new(gsis: u32) -> Irqs {
        Irqs {
            gsis: alloc::vec![Gsi::default(); gsis.min(MAX_GSIS) as usize],
            pirqs: BTreeMap::new(),
        }
    }

    /// How many GSIs the machine has.
    pub fn gsi_count(&self) -> u32 {
        self.gsis.len() as u32
    }

    /// Keeps `gsi` for the hypervisor.
    pub fn reserve(&mut self, gsi: u32) {
        if let Some(g) = self.gsis.get_mut(gsi as usize) {
            g.reserved = true;
        }
    }

    fn gsi(&self, gsi: u32) -> Result<&Gsi, Errno> {
        let g = self.gsis.get(gsi as usize).ok_or(Errno::EINVAL)?;
        if g.reserved {
            return Err(Errno::EPERM);
        }
        Ok(g)
    }

    /// `gsi`'s mode: as set up, else its default.
    pub fn mode(&self, gsi: u32) -> Mode {
        self.gsis
            .get(gsi as usize)
            .and_then(|g| g.mode)
            .unwrap_or_else(|| Mode::default_for(gsi))
    }

    /// `PHYSDEVOP_setup_gsi`: once per GSI (`EEXIST` after, as Xen); the programming to
    /// redo if it is mapped already.
    pub fn setup(&mut self, gsi: u32, mode: Mode) -> Result<Option<Programming>, Errno> {
        if self.gsi(gsi)?.mode.is_some() {
            return Err(Errno::EEXIST);
        }
        let g = &mut self.gsis[gsi as usize];
        g.mode = Some(mode);
        Ok(g.owner.map(|_| Programming {
            gsi,
            vector: g.vector,
            mode,
        }))
    }

    /// `PHYSDEVOP_map_pirq` of `gsi` for `dom`, as pirq `want` (or any: the GSI's own number
    /// when free, as Xen gives dom0). The pirq, and the programming if newly mapped.
    pub fn map(
        &mut self,
        dom: DomId,
        gsi: u32,
        want: Option<u32>,
    ) -> Result<(u32, Option<Programming>), Errno> {
        let owner = self.gsi(gsi)?.owner;
        if want.is_some_and(|p| p >= NR_PIRQS) {
            return Err(Errno::EINVAL);
        }
        match owner {
            Some((d, p)) if d == dom && want.is_none_or(|w| w == p) => return Ok((p, None)),
            Some((d, _)) if d == dom => return Err(Errno::EEXIST),
            Some(_) => return Err(Errno::EBUSY),
            None => {}
        }
        let pirq = match want {
            Some(p) if self.pirqs.contains_key(&(dom, p)) => return Err(Errno::EEXIST),
            Some(p) => p,
            None => self.free_pirq(dom, gsi).ok_or(Errno::ENOSPC)?,
        };
        let vector = (FIRST_VECTOR..=LAST_VECTOR)
            .find(|v| self.gsis.iter().all(|g| g.vector != *v))
            .ok_or(Errno::ENOSPC)?;
        let g = &mut self.gsis[gsi as usize];
        g.owner = Some((dom, pirq));
        g.vector = vector;
        self.pirqs.insert(
            (dom, pirq),
            Pirq {
                gsi,
                port: None,
                in_flight: false,
            },
        );
        let mode = self.mode(gsi);
        Ok((pirq, Some(Programming { gsi, vector, mode })))
    }

    fn free_pirq(&self, dom: DomId, gsi: u32) -> Option<u32> {
        let free = |p: &u32| !self.pirqs.contains_key(&(dom, *p));
        core::iter::once(gsi)
            .chain(self.gsi_count()..NR_PIRQS)
            .chain(0..self.gsi_count())
            .filter(|p| *p < NR_PIRQS)
            .find(free)
    }

    /// `dom`'s `pirq`, if mapped.
    pub fn pirq(&self, dom: DomId, pirq: u32) -> Option<Pirq> {
        self.pirqs.get(&(dom, pirq)).copied()
    }

    /// `PHYSDEVOP_unmap_pirq`: the GSI and the vector it gave back (the line is to be masked).
    pub fn unmap(&mut self, dom: DomId, pirq: u32) -> Result<(u32, u8), Errno> {
        let p = self.pirqs.remove(&(dom, pirq)).ok_or(Errno::EINVAL)?;
        let g = &mut self.gsis[p.gsi as usize];
        let vector = core::mem::take(&mut g.vector);
        g.owner = None;
        Ok((p.gsi, vector))
    }

    /// Whether `dom` may bind `pirq` to an event channel: mapped (`EPERM` if not, as Xen
    /// answers a domain without access to it) and not bound yet (`EEXIST`).
    pub fn bindable(&self, dom: DomId, pirq: u32) -> Result<(), Errno> {
        if pirq >= NR_PIRQS {
            return Err(Errno::EINVAL);
        }
        match self.pirq(dom, pirq) {
            None => Err(Errno::EPERM),
            Some(p) if p.port.is_some() => Err(Errno::EEXIST),
            Some(_) => Ok(()),
        }
    }

    /// Binds `pirq` to `port` (after [`bindable`](Self::bindable)): the GSI to unmask.
    pub fn bind(&mut self, dom: DomId, pirq: u32, port: EvtchnPort) -> Result<u32, Errno> {
        self.bindable(dom, pirq)?;
        let p = self.pirqs.get_mut(&(dom, pirq)).ok_or(Errno::EPERM)?;
        p.port = Some(port);
        p.in_flight = false;
        Ok(p.gsi)
    }

    /// `port` of `dom`, bound to `pirq`, was closed: the GSI to mask (none if the pirq was
    /// unmapped or rebound meanwhile).
    pub fn unbind(&mut self, dom: DomId, pirq: u32, port: EvtchnPort) -> Option<u32> {
        let p = self.pirqs.get_mut(&(dom, pirq))?;
        if p.port != Some(port) {
            return None;
        }
        p.port = None;
        p.in_flight = false;
        Some(p.gsi)
    }

    /// `gsi` fired: the domain and port to raise (none if not bound). A level-triggered line
    /// (masked by the interrupt entry) now waits for the domain's EOI.
    pub fn fired(&mut self, gsi: u32) -> Option<(DomId, EvtchnPort)> {
        let (dom, pirq) = self.gsis.get(gsi as usize)?.owner?;
        let level = self.mode(gsi).level;
        let p = self.pirqs.get_mut(&(dom, pirq))?;
        let port = p.port?;
        p.in_flight = level;
        Some((dom, port))
    }

    /// `PHYSDEVOP_eoi`: the GSI to unmask if a level-triggered interrupt was in flight.
    pub fn eoi(&mut self, dom: DomId, pirq: u32) -> Result<Option<u32>, Errno> {
        if pirq >= NR_PIRQS {
            return Err(Errno::EINVAL);
        }
        let p = self.pirqs.get_mut(&(dom, pirq)).ok_or(Errno::EINVAL)?;
        if !core::mem::take(&mut p.in_flight) || p.port.is_none() {
            return Ok(None);
        }
        Ok(Some(p.gsi))
    }

    /// `PHYSDEVOP_irq_status_query`: whether `pirq` needs an EOI (level-triggered).
    pub fn needs_eoi(&self, dom: DomId, pirq: u32) -> Result<bool, Errno> {
        if pirq >= NR_PIRQS {
            return Err(Errno::EINVAL);
        }
        let p = self.pirq(dom, pirq).ok_or(Errno::EINVAL)?;
        Ok(self.mode(p.gsi).level)
    }

    /// The domain and pirq `gsi` is mapped to.
    pub fn owner(&self, gsi: u32) -> Option<(DomId, u32)> {
        self.gsis.get(gsi as usize)?.owner
    }

    /// Unmaps every pirq of `dom` (it is being destroyed): the GSIs to mask and the vectors
    /// they gave back.
    pub fn release(&mut self, dom: DomId) -> Vec<(u32, u8)> {
        let mine: Vec<u32> = self
            .pirqs
            .keys()
            .filter(|(d, _)| *d == dom)
            .map(|(_, p)| *p)
            .collect();
        mine.into_iter()
            .filter_map(|p| self.unmap(dom, p).ok())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D0: DomId = DomId(0);
    const D1: DomId = DomId(1);
    const LEVEL_HIGH: Mode = Mode {
        level: true,
        active_low: false,
    };

    #[test]
    fn a_gsi_maps_to_its_own_pirq_with_a_vector_of_its_own() {
        let mut t = Irqs::new(48);
        let (p, prog) = t.map(D0, 47, None).unwrap();
        assert_eq!(p, 47);
        let prog = prog.unwrap();
        assert_eq!((prog.gsi, prog.vector), (47, FIRST_VECTOR));
        assert_eq!(prog.mode, Mode::default_for(47));
        // Mapping it again is a no-op answering the same pirq; another pirq for it is not.
        assert_eq!(t.map(D0, 47, None), Ok((47, None)));
        assert_eq!(t.map(D0, 47, Some(47)), Ok((47, None)));
        assert_eq!(t.map(D0, 47, Some(3)), Err(Errno::EEXIST));
        // A second GSI gets the next vector; a pirq in use for another GSI is refused.
        assert_eq!(t.map(D0, 10, Some(47)), Err(Errno::EEXIST));
        let (p, prog) = t.map(D0, 10, Some(100)).unwrap();
        assert_eq!((p, prog.unwrap().vector), (100, FIRST_VECTOR + 1));
        // Another domain cannot take a mapped GSI.
        assert_eq!(t.map(D1, 47, None), Err(Errno::EBUSY));
        // Unmapping gives the vector back.
        assert_eq!(t.unmap(D0, 47), Ok((47, FIRST_VECTOR)));
        assert_eq!(t.unmap(D0, 47), Err(Errno::EINVAL));
        assert_eq!(t.map(D1, 47, None).unwrap().1.unwrap().vector, FIRST_VECTOR);
    }

    #[test]
    fn bad_gsis_pirqs_and_reserved_lines_are_refused() {
        let mut t = Irqs::new(48);
        t.reserve(4);
        assert_eq!(t.map(D0, 48, None), Err(Errno::EINVAL));
        assert_eq!(t.map(D0, u32::MAX, None), Err(Errno::EINVAL));
        assert_eq!(t.map(D0, 4, None), Err(Errno::EPERM));
        assert_eq!(t.setup(4, LEVEL_HIGH), Err(Errno::EPERM));
        assert_eq!(t.map(D0, 5, Some(NR_PIRQS)), Err(Errno::EINVAL));
        assert_eq!(t.bindable(D0, NR_PIRQS), Err(Errno::EINVAL));
        assert_eq!(t.eoi(D0, NR_PIRQS), Err(Errno::EINVAL));
        assert_eq!(t.needs_eoi(D0, 5), Err(Errno::EINVAL));
        assert_eq!(t.bindable(D1, 5), Err(Errno::EPERM));
        assert_eq!(Irqs::new(100_000).gsi_count(), MAX_GSIS);
    }

    #[test]
    fn pirqs_and_vectors_run_out_cleanly() {
        let mut t = Irqs::new(MAX_GSIS);
        let vectors = u32::from(LAST_VECTOR - FIRST_VECTOR) + 1;
        for gsi in 0..vectors {
            assert!(t.map(D0, gsi, None).is_ok(), "{gsi}");
        }
        assert_eq!(t.map(D0, vectors, None), Err(Errno::ENOSPC));
        assert_eq!(t.release(D0).len(), vectors as usize);
        assert!(t.map(D0, vectors, None).is_ok());
    }

    #[test]
    fn setup_once_and_it_reprograms_a_mapped_line() {
        let mut t = Irqs::new(48);
        t.map(D0, 30, None).unwrap();
        let prog = t.setup(30, LEVEL_HIGH).unwrap().unwrap();
        assert_eq!((prog.gsi, prog.mode), (30, LEVEL_HIGH));
        assert_eq!(t.setup(30, LEVEL_HIGH), Err(Errno::EEXIST));
        assert_eq!(t.setup(31, LEVEL_HIGH), Ok(None));
        assert_eq!(t.mode(31), LEVEL_HIGH);
        assert_eq!(t.mode(3), Mode::default_for(3));
        assert!(!t.mode(3).level && t.mode(16).level);
    }

    #[test]
    fn a_level_interrupt_is_in_flight_until_the_eoi_and_an_edge_one_never() {
        let mut t = Irqs::new(48);
        let port = EvtchnPort(7);
        let (level, _) = t.map(D0, 40, None).unwrap();
        let (edge, _) = t.map(D0, 3, None).unwrap();
        // Unbound: nobody to tell.
        assert_eq!(t.fired(40), None);
        assert_eq!(t.bind(D0, level, port), Ok(40));
        assert_eq!(t.bind(D0, level, port), Err(Errno::EEXIST));
        assert_eq!(t.needs_eoi(D0, level), Ok(true));
        assert_eq!(t.eoi(D0, level), Ok(None), "nothing in flight yet");
        assert_eq!(t.fired(40), Some((D0, port)));
        assert!(t.pirq(D0, level).unwrap().in_flight);
        assert_eq!(t.eoi(D0, level), Ok(Some(40)));
        assert_eq!(t.eoi(D0, level), Ok(None), "one unmask per interrupt");
        t.bind(D0, edge, EvtchnPort(8)).unwrap();
        assert_eq!(t.needs_eoi(D0, edge), Ok(false));
        assert_eq!(t.fired(3), Some((D0, EvtchnPort(8))));
        assert_eq!(t.eoi(D0, edge), Ok(None));
        // Closing another port changes nothing; closing the bound one unbinds.
        t.fired(40);
        assert_eq!(t.unbind(D0, level, EvtchnPort(9)), None);
        assert_eq!(t.unbind(D0, level, port), Some(40));
        assert_eq!(t.eoi(D0, level), Ok(None));
        assert_eq!(t.fired(40), None);
    }

    #[test]
    fn releasing_a_domain_unmaps_only_its_pirqs() {
        let mut t = Irqs::new(48);
        t.map(D0, 20, None).unwrap();
        t.map(D1, 21, None).unwrap();
        t.map(D0, 22, Some(5)).unwrap();
        let mut gone = t.release(D0);
        gone.sort();
        assert_eq!(gone, [(20, FIRST_VECTOR), (22, FIRST_VECTOR + 2)]);
        assert!(t.pirq(D1, 21).is_some());
        assert_eq!(t.fired(20), None);
        assert!(t.map(D1, 20, None).is_ok());
    }
}
