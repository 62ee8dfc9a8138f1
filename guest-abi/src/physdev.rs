//! `physdev_op`: a PV guest's physical-device operations: its virtual I/O privilege level and,
//! for the domain that drives the machine's devices (dom0), Xen's pirq model: a GSI of an I/O
//! APIC is mapped to a pirq (`PHYSDEVOP_MAP_PIRQ`), the pirq bound to an event channel
//! (`EVTCHNOP_BIND_PIRQ`), and a level-triggered line acknowledged with `PHYSDEVOP_EOI`.
//! Numbers and layouts are those of Xen's `public/physdev.h`.

use static_assertions::{assert_eq_size, const_assert_eq};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// Query how a pirq must be acknowledged ([`PhysdevIrqStatusQuery`]).
pub const PHYSDEVOP_IRQ_STATUS_QUERY: u32 = 5;
/// Set the vCPU's virtual I/O privilege level ([`PhysdevSetIopl`]).
pub const PHYSDEVOP_SET_IOPL: u32 = 6;
/// The guest handled a pirq: unmask its line ([`PhysdevEoi`]).
pub const PHYSDEVOP_EOI: u32 = 12;
/// Map a GSI (or an MSI) to a pirq of a domain ([`PhysdevMapPirq`]).
pub const PHYSDEVOP_MAP_PIRQ: u32 = 13;
/// Undo `PHYSDEVOP_MAP_PIRQ` ([`PhysdevUnmapPirq`]).
pub const PHYSDEVOP_UNMAP_PIRQ: u32 = 14;
/// Register a page of pirq EOI bits (v1: also unmasks the event channel on EOI).
pub const PHYSDEVOP_PIRQ_EOI_GMFN_V1: u32 = 17;
/// Configure a GSI's trigger mode and polarity ([`PhysdevSetupGsi`]).
pub const PHYSDEVOP_SETUP_GSI: u32 = 21;
/// Allocate a free pirq number (`struct physdev_get_free_pirq`).
pub const PHYSDEVOP_GET_FREE_PIRQ: u32 = 23;
/// Register a page of pirq EOI bits (v2).
pub const PHYSDEVOP_PIRQ_EOI_GMFN_V2: u32 = 28;

/// `PhysdevMapPirq::kind`: a message-signalled interrupt.
pub const MAP_PIRQ_TYPE_MSI: i32 = 0;
/// `PhysdevMapPirq::kind`: an I/O APIC input (global system interrupt).
pub const MAP_PIRQ_TYPE_GSI: i32 = 1;
/// `PhysdevMapPirq::kind`: unknown.
pub const MAP_PIRQ_TYPE_UNKNOWN: i32 = 2;
/// `PhysdevMapPirq::kind`: MSI with a PCI segment.
pub const MAP_PIRQ_TYPE_MSI_SEG: i32 = 3;
/// `PhysdevMapPirq::kind`: several MSI vectors.
pub const MAP_PIRQ_TYPE_MULTI_MSI: i32 = 4;

/// `PhysdevIrqStatusQuery::flags`: the guest must `PHYSDEVOP_EOI` after handling it.
pub const XENIRQSTAT_NEEDS_EOI: u32 = 1 << 0;
/// `PhysdevIrqStatusQuery::flags`: the line is shared with other domains.
pub const XENIRQSTAT_SHARED: u32 = 1 << 1;

/// Argument of `PHYSDEVOP_SET_IOPL` (4 B).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
#[repr(C)]
pub struct PhysdevSetIopl {
    /// The privilege level, 0–3.
    pub iopl: u32,
}

/// Argument of `PHYSDEVOP_IRQ_STATUS_QUERY` (8 B).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
#[repr(C)]
pub struct PhysdevIrqStatusQuery {
    /// IN: the pirq.
    pub irq: u32,
    /// OUT: `XENIRQSTAT_*`.
    pub flags: u32,
}

/// Argument of `PHYSDEVOP_EOI` (4 B).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
#[repr(C)]
pub struct PhysdevEoi {
    /// The pirq.
    pub irq: u32,
}

/// Argument of `PHYSDEVOP_MAP_PIRQ` (40 B).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
#[repr(C)]
pub struct PhysdevMapPirq {
    /// IN: the domain the pirq is for (`DOMID_SELF` or an id).
    pub domid: u16,
    /// Padding.
    pub _pad: u16,
    /// IN: `MAP_PIRQ_TYPE_*` (`type` in Xen's header).
    pub kind: i32,
    /// IN: the GSI (for `MAP_PIRQ_TYPE_GSI`).
    pub index: i32,
    /// IN: the pirq wanted, or -1 for any; OUT: the pirq mapped.
    pub pirq: i32,
    /// IN: PCI bus (MSI only).
    pub bus: i32,
    /// IN: PCI device and function (MSI only).
    pub devfn: i32,
    /// IN: MSI-X entry (MSI only).
    pub entry_nr: i32,
    /// Padding.
    pub _pad2: u32,
    /// IN: MSI-X table base (MSI only).
    pub table_base: u64,
}

/// Argument of `PHYSDEVOP_UNMAP_PIRQ` (8 B).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
#[repr(C)]
pub struct PhysdevUnmapPirq {
    /// IN: the domain (`DOMID_SELF` or an id).
    pub domid: u16,
    /// Padding.
    pub _pad: u16,
    /// IN: the pirq.
    pub pirq: i32,
}

/// Argument of `PHYSDEVOP_SETUP_GSI` (8 B).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
#[repr(C)]
pub struct PhysdevSetupGsi {
    /// IN: the GSI.
    pub gsi: i32,
    /// IN: 0 edge, 1 level.
    pub triggering: u8,
    /// IN: 0 active high, 1 active low.
    pub polarity: u8,
    /// Padding.
    pub _pad: u16,
}

/// Argument of `PHYSDEVOP_GET_FREE_PIRQ` (8 B).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
#[repr(C)]
pub struct PhysdevGetFreePirq {
    /// IN: `MAP_PIRQ_TYPE_*`.
    pub kind: i32,
    /// OUT: the pirq.
    pub pirq: u32,
}

assert_eq_size!(PhysdevSetIopl, [u8; 4]);
assert_eq_size!(PhysdevIrqStatusQuery, [u8; 8]);
assert_eq_size!(PhysdevEoi, [u8; 4]);
assert_eq_size!(PhysdevMapPirq, [u8; 40]);
const_assert_eq!(core::mem::offset_of!(PhysdevMapPirq, kind), 4);
const_assert_eq!(core::mem::offset_of!(PhysdevMapPirq, pirq), 12);
const_assert_eq!(core::mem::offset_of!(PhysdevMapPirq, entry_nr), 24);
const_assert_eq!(core::mem::offset_of!(PhysdevMapPirq, table_base), 32);
assert_eq_size!(PhysdevUnmapPirq, [u8; 8]);
const_assert_eq!(core::mem::offset_of!(PhysdevUnmapPirq, pirq), 4);
assert_eq_size!(PhysdevSetupGsi, [u8; 8]);
const_assert_eq!(core::mem::offset_of!(PhysdevSetupGsi, polarity), 5);
assert_eq_size!(PhysdevGetFreePirq, [u8; 8]);

/// A `physdev_op` argument structure, tied to its command.
pub trait PhysdevOp: FromBytes + IntoBytes + KnownLayout + Immutable {
    /// The `PHYSDEVOP_*` command taking this structure.
    const CMD: u32;
}

macro_rules! physdev_ops {
    ($($t:ty = $cmd:expr),* $(,)?) => {
        $(impl PhysdevOp for $t {
            const CMD: u32 = $cmd;
        })*
    };
}

physdev_ops!(
    PhysdevSetIopl = PHYSDEVOP_SET_IOPL,
    PhysdevIrqStatusQuery = PHYSDEVOP_IRQ_STATUS_QUERY,
    PhysdevEoi = PHYSDEVOP_EOI,
    PhysdevMapPirq = PHYSDEVOP_MAP_PIRQ,
    PhysdevUnmapPirq = PHYSDEVOP_UNMAP_PIRQ,
    PhysdevSetupGsi = PHYSDEVOP_SETUP_GSI,
    PhysdevGetFreePirq = PHYSDEVOP_GET_FREE_PIRQ,
);
