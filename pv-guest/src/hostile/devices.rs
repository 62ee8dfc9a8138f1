//! The machine's devices used hostilely: a domU has no I/O privilege, so it can neither
//! configure, map, unmap nor acknowledge an interrupt line, its own or dom0's (whose disk
//! interrupt is GSI 47 on microvm).

use super::Tally;
use guest_abi::errno::Errno;
use guest_abi::guest::physdev_op;
use guest_abi::physdev::*;
use guest_abi::types::DomId;

/// The virtio disk's GSI on microvm (dom0 maps it as its pirq 47).
const DISK_GSI: i32 = 47;

fn op<T: PhysdevOp>(mut arg: T) -> Result<u64, Errno> {
    physdev_op(&mut arg)
}

fn map(domid: DomId, kind: i32, gsi: i32) -> Result<u64, Errno> {
    op(PhysdevMapPirq {
        domid: domid.0,
        kind,
        index: gsi,
        pirq: -1,
        ..Default::default()
    })
}

pub fn all(t: &Tally) {
    t.class("physical devices");
    t.refused(
        "map the disk's interrupt line for ourselves",
        map(DomId::SELF, MAP_PIRQ_TYPE_GSI, DISK_GSI),
    );
    t.refused(
        "map an interrupt line for dom0",
        map(DomId::DOM0, MAP_PIRQ_TYPE_GSI, 20),
    );
    t.refused("map an MSI", map(DomId::SELF, MAP_PIRQ_TYPE_MSI, 0));
    t.refused(
        "set the disk line's trigger mode",
        op(PhysdevSetupGsi {
            gsi: DISK_GSI,
            triggering: 0,
            polarity: 1,
            _pad: 0,
        }),
    );
    t.refused(
        "unmap dom0's disk interrupt",
        op(PhysdevUnmapPirq {
            domid: DomId::DOM0.0,
            _pad: 0,
            pirq: DISK_GSI,
        }),
    );
    t.refused(
        "acknowledge dom0's disk interrupt (EOI)",
        op(PhysdevEoi {
            irq: DISK_GSI as u32,
        }),
    );
    t.refused(
        "query dom0's disk interrupt",
        op(PhysdevIrqStatusQuery {
            irq: DISK_GSI as u32,
            flags: 0,
        }),
    );
}
