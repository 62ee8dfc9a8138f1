//! The pirq operations on the machine's one table, programming the I/O APICs as they go.
//! Only a domain with I/O privilege (dom0) maps GSIs, and only for itself: device
//! passthrough to other domains is not there.

use super::line;
use super::table::{Irqs, Mode, Programming};
use crate::arch::ioapic;
use crate::sync::{Lock, Rank};
use guest_abi::errno::Errno;
use guest_abi::types::{DomId, EvtchnPort};

/// The machine's table, made at first use from the I/O APICs found at boot.
static IRQS: Lock<Option<Irqs>> = Lock::new(Rank::Irqs, "interrupts", None);

fn with<R>(f: impl FnOnce(&mut Irqs) -> R) -> R {
    let mut g = IRQS.lock();
    let t = g.get_or_insert_with(|| {
        let mut t = Irqs::new(ioapic::gsi_count());
        for gsi in line::reserved() {
            t.reserve(gsi);
        }
        t
    });
    f(t)
}

fn program(p: Programming) {
    ioapic::program(p.gsi, p.vector, p.mode.level, p.mode.active_low);
    line::set_vector(p.vector, Some((p.gsi, p.mode.level)));
}

/// `PHYSDEVOP_setup_gsi` by `dom` (which must have I/O privilege: checked by the caller).
pub fn setup_gsi(gsi: u32, mode: Mode) -> Result<(), Errno> {
    with(|t| {
        if let Some(p) = t.setup(gsi, mode)? {
            // Mapped already: reprogram, unmasked again if bound.
            let bound = t
                .owner(gsi)
                .is_some_and(|(d, pirq)| t.pirq(d, pirq).is_some_and(|x| x.port.is_some()));
            program(p);
            if bound {
                ioapic::set_masked(gsi, false);
            }
        }
        Ok(())
    })
}

/// `PHYSDEVOP_map_pirq` of `gsi` for `dom`: the pirq, and whether it was newly mapped (not
/// a repeat). The line stays masked until bound.
pub fn map_pirq(dom: DomId, gsi: u32, want: Option<u32>) -> Result<(u32, bool), Errno> {
    with(|t| {
        let (pirq, prog) = t.map(dom, gsi, want)?;
        if let Some(p) = prog {
            program(p);
        }
        Ok((pirq, prog.is_some()))
    })
}

/// `PHYSDEVOP_unmap_pirq`: masks the line and frees its vector.
pub fn unmap_pirq(dom: DomId, pirq: u32) -> Result<(), Errno> {
    with(|t| {
        let (gsi, vector) = t.unmap(dom, pirq)?;
        ioapic::set_masked(gsi, true);
        line::set_vector(vector, None);
        Ok(())
    })
}

/// Whether `dom` may bind `pirq` now (see [`Irqs::bindable`]).
pub fn bindable(dom: DomId, pirq: u32) -> Result<(), Errno> {
    with(|t| t.bindable(dom, pirq))
}

/// Binds `pirq` to `port` and unmasks its line.
pub fn bind(dom: DomId, pirq: u32, port: EvtchnPort) -> Result<(), Errno> {
    with(|t| {
        let gsi = t.bind(dom, pirq, port)?;
        ioapic::set_masked(gsi, false);
        Ok(())
    })
}

/// `port`, bound to `pirq`, was closed: mask the line.
pub fn unbind(dom: DomId, pirq: u32, port: EvtchnPort) {
    with(|t| {
        if let Some(gsi) = t.unbind(dom, pirq, port) {
            ioapic::set_masked(gsi, true);
        }
    });
}

/// `gsi` fired (see [`Irqs::fired`]).
pub fn fired(gsi: u32) -> Option<(DomId, EvtchnPort)> {
    with(|t| t.fired(gsi))
}

/// `PHYSDEVOP_eoi`: unmasks a level-triggered line that was in flight.
pub fn eoi(dom: DomId, pirq: u32) -> Result<(), Errno> {
    with(|t| {
        if let Some(gsi) = t.eoi(dom, pirq)? {
            ioapic::set_masked(gsi, false);
        }
        Ok(())
    })
}

/// `PHYSDEVOP_irq_status_query`: whether `pirq` needs an EOI.
pub fn needs_eoi(dom: DomId, pirq: u32) -> Result<bool, Errno> {
    with(|t| t.needs_eoi(dom, pirq))
}

/// `dom` is being destroyed: unmap its pirqs, masking their lines.
pub fn release_domain(dom: DomId) {
    with(|t| {
        for (gsi, vector) in t.release(dom) {
            ioapic::set_masked(gsi, true);
            line::set_vector(vector, None);
        }
    });
}

/// Forgets the table (a fresh machine in the host tests).
pub fn reset() {
    *IRQS.lock() = None;
    line::reset();
}
