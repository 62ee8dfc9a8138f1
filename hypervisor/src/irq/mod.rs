//! Device interrupts for the domain that drives the machine's devices (dom0), in Xen's pirq
//! model: dom0 configures a GSI's trigger and polarity (`PHYSDEVOP_setup_gsi`), maps it to one
//! of its pirqs (`PHYSDEVOP_map_pirq`), and binds the pirq to an event channel
//! (`EVTCHNOP_bind_pirq`, in `crate::evtchn`), which unmasks the line. An interrupt masks a
//! level-triggered line until dom0 acknowledges it (`PHYSDEVOP_eoi`); an edge-triggered one
//! needs nothing. The hypervisor keeps what it owns (its console's GSI, the LAPIC).
//!
//! [`table`] is the bookkeeping (pure, host-tested), [`line`] what the interrupt entry does
//! before the LAPIC EOI (lock-free), [`ops`] the operations on the machine's one table that
//! program the I/O APICs through `crate::arch::ioapic`.

pub mod line;
pub mod ops;
pub mod table;

pub use line::{before_eoi, is_device_vector, reserve_for_hypervisor};
pub use ops::*;
