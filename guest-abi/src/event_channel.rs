//! `event_channel_op`: allocating, binding, signalling and closing event
//! channels.
//!
//! Each argument structure implements [`EvtchnOp`], which ties it to its
//! command number so a typed call cannot pass the wrong structure.

use crate::types::{DomId, EvtchnPort};
use static_assertions::{assert_eq_size, const_assert_eq};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// Connect to a port another domain allocated ([`EvtchnBindInterdomain`]).
pub const EVTCHNOP_BIND_INTERDOMAIN: u32 = 0;
/// Bind a virtual IRQ ([`EvtchnBindVirq`]).
pub const EVTCHNOP_BIND_VIRQ: u32 = 1;
/// Bind a physical IRQ ([`EvtchnBindPirq`]).
pub const EVTCHNOP_BIND_PIRQ: u32 = 2;
/// Close a port ([`EvtchnClose`]).
pub const EVTCHNOP_CLOSE: u32 = 3;
/// Signal a port ([`EvtchnSend`]).
pub const EVTCHNOP_SEND: u32 = 4;
/// Query a port ([`EvtchnStatus`]).
pub const EVTCHNOP_STATUS: u32 = 5;
/// Allocate a port for another domain to bind ([`EvtchnAllocUnbound`]).
pub const EVTCHNOP_ALLOC_UNBOUND: u32 = 6;
/// Bind an inter-vCPU IPI ([`EvtchnBindIpi`]).
pub const EVTCHNOP_BIND_IPI: u32 = 7;
/// Move a port to another vCPU ([`EvtchnBindVcpu`]).
pub const EVTCHNOP_BIND_VCPU: u32 = 8;
/// Unmask a port, re-raising it if pending ([`EvtchnUnmask`]).
pub const EVTCHNOP_UNMASK: u32 = 9;
/// Close all ports of a domain ([`EvtchnReset`]).
pub const EVTCHNOP_RESET: u32 = 10;
/// FIFO ABI: initialise the control block.
pub const EVTCHNOP_INIT_CONTROL: u32 = 11;
/// FIFO ABI: add an event array page.
pub const EVTCHNOP_EXPAND_ARRAY: u32 = 12;
/// FIFO ABI: set a port's priority.
pub const EVTCHNOP_SET_PRIORITY: u32 = 13;
/// Continue a reset.
pub const EVTCHNOP_RESET_CONT: u32 = 14;

/// Status: not in use.
pub const EVTCHNSTAT_CLOSED: u32 = 0;
/// Status: allocated, awaiting an inter-domain bind.
pub const EVTCHNSTAT_UNBOUND: u32 = 1;
/// Status: connected to a remote domain.
pub const EVTCHNSTAT_INTERDOMAIN: u32 = 2;
/// Status: bound to a physical IRQ.
pub const EVTCHNSTAT_PIRQ: u32 = 3;
/// Status: bound to a virtual IRQ.
pub const EVTCHNSTAT_VIRQ: u32 = 4;
/// Status: bound to an IPI.
pub const EVTCHNSTAT_IPI: u32 = 5;

/// VIRQ (per vCPU): timer tick or requested timeout.
pub const VIRQ_TIMER: u32 = 0;
/// VIRQ (per vCPU): dump debug information.
pub const VIRQ_DEBUG: u32 = 1;
/// VIRQ (global, dom0): input on the emergency console.
pub const VIRQ_CONSOLE: u32 = 2;
/// VIRQ (global, dom0): a domain shut down or crashed.
pub const VIRQ_DOM_EXC: u32 = 3;
/// VIRQ (global, dom0): trace buffer records.
pub const VIRQ_TBUF: u32 = 4;
/// VIRQ (global, dom0): a domain paused for debugging.
pub const VIRQ_DEBUGGER: u32 = 6;
/// VIRQ (per vCPU): profiling sample.
pub const VIRQ_XENOPROF: u32 = 7;
/// VIRQ (global, dom0): bytes in the hypervisor console ring.
pub const VIRQ_CON_RING: u32 = 8;
/// VIRQ (global, dom0): physical CPU state changed.
pub const VIRQ_PCPU_STATE: u32 = 9;
/// VIRQ (global, dom0): memory event.
pub const VIRQ_MEM_EVENT: u32 = 10;
/// VIRQ (global): Argo notification.
pub const VIRQ_ARGO: u32 = 11;
/// VIRQ (global, dom0): hypervisor low on memory.
pub const VIRQ_ENOMEM: u32 = 12;
/// VIRQ (per vCPU): PMU interrupt.
pub const VIRQ_XENPMU: u32 = 13;
/// Number of VIRQs.
pub const NR_VIRQS: u32 = 24;

/// An `event_channel_op` argument structure, tied to its command.
pub trait EvtchnOp: FromBytes + IntoBytes + KnownLayout + Immutable {
    /// The `EVTCHNOP_*` command taking this structure.
    const CMD: u32;
}

crate::op::abi_op!(
    EvtchnOp,
    /// `EVTCHNOP_BIND_INTERDOMAIN` (12 B).
    EvtchnBindInterdomain = EVTCHNOP_BIND_INTERDOMAIN {
        /// IN: the remote domain.
        remote_dom: DomId,
        /// Padding.
        _pad: u16,
        /// IN: the remote domain's unbound port.
        remote_port: EvtchnPort,
        /// OUT: the local port.
        local_port: EvtchnPort,
    }
);
crate::op::abi_op!(
    EvtchnOp,
    /// `EVTCHNOP_BIND_VIRQ` (12 B).
    EvtchnBindVirq = EVTCHNOP_BIND_VIRQ {
        /// IN: `VIRQ_*`.
        virq: u32,
        /// IN: vCPU.
        vcpu: u32,
        /// OUT: the port.
        port: EvtchnPort,
    }
);
crate::op::abi_op!(
    EvtchnOp,
    /// `EVTCHNOP_BIND_PIRQ` (12 B).
    EvtchnBindPirq = EVTCHNOP_BIND_PIRQ {
        /// IN: physical IRQ.
        pirq: u32,
        /// IN: `BIND_PIRQ__WILL_SHARE`.
        flags: u32,
        /// OUT: the port.
        port: EvtchnPort,
    }
);
crate::op::abi_op!(
    EvtchnOp,
    /// `EVTCHNOP_CLOSE` (4 B).
    EvtchnClose = EVTCHNOP_CLOSE {
        /// The port.
        port: EvtchnPort,
    }
);
crate::op::abi_op!(
    EvtchnOp,
    /// `EVTCHNOP_SEND` (4 B).
    EvtchnSend = EVTCHNOP_SEND {
        /// The port.
        port: EvtchnPort,
    }
);
crate::op::abi_op!(
    EvtchnOp,
    /// `EVTCHNOP_STATUS` (24 B). The 8-byte `u` union depends on `status`:
    /// see [`EvtchnStatus::remote`] and [`EvtchnStatus::virq_or_pirq`].
    EvtchnStatus = EVTCHNOP_STATUS {
        /// IN: domain.
        dom: DomId,
        /// Padding.
        _pad: u16,
        /// IN: port.
        port: EvtchnPort,
        /// OUT: `EVTCHNSTAT_*`.
        status: u32,
        /// OUT: bound vCPU.
        vcpu: u32,
        /// OUT: union (unbound: dom u16@0; interdomain: dom u16@0, port
        /// u32@4; pirq/virq: u32@0).
        u: [u32; 2],
    }
);
crate::op::abi_op!(
    EvtchnOp,
    /// `EVTCHNOP_ALLOC_UNBOUND` (8 B).
    EvtchnAllocUnbound = EVTCHNOP_ALLOC_UNBOUND {
        /// IN: the allocating domain (`DomId::SELF`).
        dom: DomId,
        /// IN: the domain allowed to bind it.
        remote_dom: DomId,
        /// OUT: the port.
        port: EvtchnPort,
    }
);
crate::op::abi_op!(
    EvtchnOp,
    /// `EVTCHNOP_BIND_IPI` (8 B).
    EvtchnBindIpi = EVTCHNOP_BIND_IPI {
        /// IN: vCPU.
        vcpu: u32,
        /// OUT: the port.
        port: EvtchnPort,
    }
);
crate::op::abi_op!(
    EvtchnOp,
    /// `EVTCHNOP_BIND_VCPU` (8 B).
    EvtchnBindVcpu = EVTCHNOP_BIND_VCPU {
        /// The port.
        port: EvtchnPort,
        /// The new vCPU.
        vcpu: u32,
    }
);
crate::op::abi_op!(
    EvtchnOp,
    /// `EVTCHNOP_UNMASK` (4 B).
    EvtchnUnmask = EVTCHNOP_UNMASK {
        /// The port.
        port: EvtchnPort,
    }
);
crate::op::abi_op!(
    EvtchnOp,
    /// `EVTCHNOP_RESET` (2 B).
    EvtchnReset = EVTCHNOP_RESET {
        /// The domain.
        dom: DomId,
    }
);
crate::op::abi_op!(
    EvtchnOp,
    /// `EVTCHNOP_INIT_CONTROL` (24 B).
    EvtchnInitControl = EVTCHNOP_INIT_CONTROL {
        /// Frame of the control block.
        control_gfn: u64,
        /// Offset within it.
        offset: u32,
        /// vCPU.
        vcpu: u32,
        /// OUT: link bits.
        link_bits: u8,
        /// Padding.
        _pad: [u8; 7],
    }
);
crate::op::abi_op!(
    EvtchnOp,
    /// `EVTCHNOP_EXPAND_ARRAY` (8 B).
    EvtchnExpandArray = EVTCHNOP_EXPAND_ARRAY {
        /// Frame of the new array page.
        array_gfn: u64,
    }
);
crate::op::abi_op!(
    EvtchnOp,
    /// `EVTCHNOP_SET_PRIORITY` (8 B).
    EvtchnSetPriority = EVTCHNOP_SET_PRIORITY {
        /// The port.
        port: EvtchnPort,
        /// The priority.
        priority: u32,
    }
);

/// `EvtchnBindPirq::flags`: the IRQ may be shared.
pub const BIND_PIRQ_WILL_SHARE: u32 = 1;

impl EvtchnStatus {
    /// The remote end (domain, port) for `EVTCHNSTAT_INTERDOMAIN`, or the
    /// permitted domain (port 0) for `EVTCHNSTAT_UNBOUND`.
    pub fn remote(&self) -> (DomId, EvtchnPort) {
        (DomId(self.u[0] as u16), EvtchnPort(self.u[1]))
    }
    /// The VIRQ or PIRQ number.
    pub fn virq_or_pirq(&self) -> u32 {
        self.u[0]
    }
    /// Fills the union for an interdomain channel.
    pub fn set_interdomain(&mut self, dom: DomId, port: EvtchnPort) {
        self.u = [dom.0 as u32, port.0];
    }
}

assert_eq_size!(EvtchnBindInterdomain, [u8; 12]);
const_assert_eq!(core::mem::offset_of!(EvtchnBindInterdomain, remote_port), 4);
const_assert_eq!(core::mem::offset_of!(EvtchnBindInterdomain, local_port), 8);
assert_eq_size!(EvtchnBindVirq, [u8; 12]);
assert_eq_size!(EvtchnBindPirq, [u8; 12]);
assert_eq_size!(EvtchnClose, [u8; 4]);
assert_eq_size!(EvtchnSend, [u8; 4]);
assert_eq_size!(EvtchnStatus, [u8; 24]);
const_assert_eq!(core::mem::offset_of!(EvtchnStatus, status), 8);
const_assert_eq!(core::mem::offset_of!(EvtchnStatus, u), 16);
assert_eq_size!(EvtchnAllocUnbound, [u8; 8]);
const_assert_eq!(core::mem::offset_of!(EvtchnAllocUnbound, port), 4);
assert_eq_size!(EvtchnBindIpi, [u8; 8]);
assert_eq_size!(EvtchnBindVcpu, [u8; 8]);
assert_eq_size!(EvtchnUnmask, [u8; 4]);
assert_eq_size!(EvtchnReset, [u8; 2]);
assert_eq_size!(EvtchnInitControl, [u8; 24]);
