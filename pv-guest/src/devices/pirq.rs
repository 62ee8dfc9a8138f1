//! A device's interrupt as Xen gives it to dom0: its GSI set up with the trigger mode and
//! polarity the firmware gives (`PHYSDEVOP_setup_gsi`), mapped to a pirq
//! (`PHYSDEVOP_map_pirq`) and bound to an event channel (`EVTCHNOP_bind_pirq`) whose upcall
//! marks it fired; [`Pirq::done`] acknowledges a level-triggered one (`PHYSDEVOP_eoi`).

use core::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
use guest_abi::errno::Errno;
use guest_abi::event_channel::{EvtchnBindPirq, BIND_PIRQ_WILL_SHARE};
use guest_abi::guest;
use guest_abi::physdev::*;
use guest_abi::types::{DomId, EvtchnPort};

/// Ports whose pirq fired since their driver last looked.
static FIRED: [AtomicBool; crate::events::MAX_PORTS] =
    [const { AtomicBool::new(false) }; crate::events::MAX_PORTS];
/// Device interrupts handled by dom0's drivers.
pub static COUNT: AtomicU64 = AtomicU64::new(0);

fn on_pirq(port: u32) {
    COUNT.fetch_add(1, SeqCst);
    if let Some(f) = FIRED.get(port as usize) {
        f.store(true, SeqCst);
    }
}

/// A device interrupt bound to an event channel.
pub struct Pirq {
    /// The pirq.
    pub pirq: u32,
    /// Its port.
    pub port: u32,
    needs_eoi: bool,
}

impl Pirq {
    /// Sets up, maps and binds `gsi`.
    pub fn bind(gsi: u32, level: bool, active_low: bool) -> Result<Pirq, Errno> {
        let mut setup = PhysdevSetupGsi {
            gsi: gsi as i32,
            triggering: u8::from(level),
            polarity: u8::from(active_low),
            _pad: 0,
        };
        // Set up once per boot: a second time (a driver started again) is EEXIST, as on Xen.
        match guest::physdev_op(&mut setup) {
            Ok(_) | Err(Errno::EEXIST) => {}
            Err(e) => return Err(e),
        }
        let mut map = PhysdevMapPirq {
            domid: DomId::SELF.0,
            kind: MAP_PIRQ_TYPE_GSI,
            index: gsi as i32,
            pirq: -1,
            ..Default::default()
        };
        guest::physdev_op(&mut map)?;
        let pirq = map.pirq as u32;
        let mut q = PhysdevIrqStatusQuery {
            irq: pirq,
            flags: 0,
        };
        guest::physdev_op(&mut q)?;
        let mut b = EvtchnBindPirq {
            pirq,
            flags: BIND_PIRQ_WILL_SHARE,
            port: EvtchnPort(0),
        };
        guest::event_channel_op(&mut b)?;
        crate::events::set_handler(b.port.0, on_pirq);
        Ok(Pirq {
            pirq,
            port: b.port.0,
            needs_eoi: q.flags & XENIRQSTAT_NEEDS_EOI != 0,
        })
    }

    /// Whether it fired since the last call (clearing the mark).
    pub fn take(&self) -> bool {
        FIRED
            .get(self.port as usize)
            .is_some_and(|f| f.swap(false, SeqCst))
    }

    /// Whether it fired (the mark stays).
    pub fn fired(&self) -> bool {
        FIRED
            .get(self.port as usize)
            .is_some_and(|f| f.load(SeqCst))
    }

    /// The driver handled it (and the device lowered its line): unmask a level-triggered line.
    pub fn done(&self) {
        if self.needs_eoi {
            let _ = guest::physdev_op(&mut PhysdevEoi { irq: self.pirq });
        }
    }
}
