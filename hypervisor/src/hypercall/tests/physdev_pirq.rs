//! Xen's pirq model for the domain that drives the devices: a GSI set up, mapped to a pirq and
//! bound to an event channel reaches that port when it fires; a level-triggered line stays
//! masked until the EOI; edge lines need none. Every other domain, the hypervisor's own
//! console line, bad numbers and pointers are refused and change nothing.

use super::event_channel::evtchn;
use crate::arch::ioapic;
use crate::evtchn::two_level;
use crate::evtchn::SharedWords;
use crate::testbed::{err, Testbed};
use guest_abi::errno::Errno;
use guest_abi::event_channel::*;
use guest_abi::hypercall::nr;
use guest_abi::physdev::*;
use guest_abi::types::{DomId, EvtchnPort};

/// The GSI of microvm's last virtio-mmio slot (where our disk is), and COM1's.
const DISK_GSI: u32 = 47;
const CONSOLE_GSI: u32 = 4;

fn physdev<T: PhysdevOp>(tb: &mut Testbed, op: T) -> (i64, T) {
    let buf = tb.scratch();
    tb.write(buf, &op);
    let r = tb.hypercall(nr::PHYSDEV_OP, [u64::from(T::CMD), buf, 0, 0, 0]);
    (r, tb.read(buf))
}

fn map(tb: &mut Testbed, domid: DomId, gsi: i32, pirq: i32) -> Result<i32, i64> {
    let op = PhysdevMapPirq {
        domid: domid.0,
        kind: MAP_PIRQ_TYPE_GSI,
        index: gsi,
        pirq,
        ..Default::default()
    };
    match physdev(tb, op) {
        (0, out) => Ok(out.pirq),
        (e, _) => Err(e),
    }
}

fn setup(tb: &mut Testbed, gsi: i32, triggering: u8, polarity: u8) -> i64 {
    let op = PhysdevSetupGsi {
        gsi,
        triggering,
        polarity,
        _pad: 0,
    };
    physdev(tb, op).0
}

fn bind(tb: &mut Testbed, pirq: u32) -> Result<u32, i64> {
    match evtchn(
        tb,
        EvtchnBindPirq {
            pirq,
            flags: BIND_PIRQ_WILL_SHARE,
            port: EvtchnPort(0),
        },
    ) {
        (0, out) => Ok(out.port.0),
        (e, _) => Err(e),
    }
}

fn eoi(tb: &mut Testbed, irq: u32) -> i64 {
    physdev(tb, PhysdevEoi { irq }).0
}

fn needs_eoi(tb: &mut Testbed, irq: u32) -> Result<bool, i64> {
    match physdev(tb, PhysdevIrqStatusQuery { irq, flags: 0 }) {
        (0, q) => Ok(q.flags & XENIRQSTAT_NEEDS_EOI != 0),
        (e, _) => Err(e),
    }
}

fn pending(tb: &Testbed, dom: DomId, port: u32) -> bool {
    tb.st(|st| {
        let d = st.dom(dom).expect("domain");
        two_level::is_pending(&SharedWords::new(d, 0), EvtchnPort(port))
    })
}

fn clear_pending(tb: &Testbed, dom: DomId, port: u32) {
    tb.st(|st| {
        let d = st.dom(dom).expect("domain");
        two_level::clear_pending(&SharedWords::new(d, 0), EvtchnPort(port));
    });
}

fn masked(gsi: u32) -> bool {
    ioapic::entry(gsi).expect("GSI exists").masked
}

/// dom0's whole pirq cycle for a level-triggered, active-high line (as microvm's
/// virtio-mmio interrupts are).
#[test]
fn a_level_line_reaches_its_port_and_stays_masked_until_the_eoi() {
    let mut tb = Testbed::boot();
    let d0 = DomId::DOM0;
    assert_eq!(setup(&mut tb, DISK_GSI as i32, 1, 0), 0);
    assert_eq!(setup(&mut tb, DISK_GSI as i32, 1, 0), err(Errno::EEXIST));
    let pirq = map(&mut tb, DomId::SELF, DISK_GSI as i32, -1).expect("mapped");
    assert_eq!(pirq, DISK_GSI as i32, "dom0's GSI pirqs are the GSIs");
    let e = ioapic::entry(DISK_GSI).unwrap();
    assert!(e.level && !e.active_low && e.masked, "{e:?}");
    assert!(crate::irq::is_device_vector(e.vector));
    // Masked until bound: the device's interrupt does not reach the CPU.
    assert!(!tb.fire_gsi(DISK_GSI));
    let port = bind(&mut tb, pirq as u32).expect("bound");
    assert!(!masked(DISK_GSI));
    assert_eq!(needs_eoi(&mut tb, pirq as u32), Ok(true));
    let (r, st) = evtchn(
        &mut tb,
        EvtchnStatus {
            dom: DomId::SELF,
            port: EvtchnPort(port),
            ..Default::default()
        },
    );
    assert_eq!((r, st.status, st.virq_or_pirq()), (0, EVTCHNSTAT_PIRQ, 47));
    let taken = crate::irq::line::taken();
    assert!(tb.fire_gsi(DISK_GSI));
    assert_eq!(crate::irq::line::taken(), taken + 1);
    assert!(pending(&tb, d0, port), "the port is raised");
    assert!(masked(DISK_GSI), "masked until the EOI");
    assert!(
        !tb.fire_gsi(DISK_GSI),
        "the line still asserted does not storm"
    );
    clear_pending(&tb, d0, port);
    assert_eq!(eoi(&mut tb, pirq as u32), 0);
    assert!(!masked(DISK_GSI));
    assert!(tb.fire_gsi(DISK_GSI));
    assert!(pending(&tb, d0, port), "fires again after the EOI");
    // Closing the port masks the line; the pirq stays mapped and can be bound again.
    let (r, _) = evtchn(
        &mut tb,
        EvtchnClose {
            port: EvtchnPort(port),
        },
    );
    assert_eq!(r, 0);
    assert!(masked(DISK_GSI));
    assert_eq!(eoi(&mut tb, pirq as u32), 0, "nothing in flight: no unmask");
    assert!(masked(DISK_GSI));
    let again = bind(&mut tb, pirq as u32).expect("bound again");
    assert!(!masked(DISK_GSI));
    assert_eq!(bind(&mut tb, pirq as u32), Err(err(Errno::EEXIST)));
    // Unmapping masks it and frees the vector; the port no longer hears of it.
    let op = PhysdevUnmapPirq {
        domid: DomId::SELF.0,
        _pad: 0,
        pirq,
    };
    assert_eq!(physdev(&mut tb, op).0, 0);
    assert!(masked(DISK_GSI));
    assert_eq!(physdev(&mut tb, op).0, err(Errno::EINVAL));
    clear_pending(&tb, d0, again);
    // A late interrupt on the old vector leads nowhere.
    crate::irq::before_eoi(e.vector);
    tb.st(crate::evtchn::deliver_pirqs);
    assert!(!pending(&tb, d0, again));
}

#[test]
fn an_edge_line_needs_no_eoi_and_a_domain_that_blocks_is_woken() {
    let mut tb = Testbed::boot();
    // GSI 10, never set up: an ISA line, edge-triggered, active high by default.
    let pirq = map(&mut tb, DomId::DOM0, 10, 12).expect("mapped as asked");
    assert_eq!(pirq, 12);
    let e = ioapic::entry(10).unwrap();
    assert!(!e.level && !e.active_low);
    let port = bind(&mut tb, 12).unwrap();
    assert_eq!(needs_eoi(&mut tb, 12), Ok(false));
    // dom0 blocks waiting for it while a domU runs; the interrupt wakes dom0.
    let u = tb.domu(1024);
    tb.run(u);
    tb.st(|st| st.dom(DomId::DOM0).unwrap().vcpus[0].blocked = true);
    assert!(tb.fire_gsi(10));
    assert!(pending(&tb, DomId::DOM0, port));
    assert!(
        tb.st(|st| !st.dom(DomId::DOM0).unwrap().vcpus[0].blocked),
        "dom0 woken"
    );
    assert!(!masked(10), "an edge line is never masked for the guest");
    assert_eq!(eoi(&mut tb, 12), 0, "an EOI of an edge line is harmless");
    assert!(!masked(10));
}

#[test]
fn other_domains_the_console_line_and_bad_numbers_are_refused() {
    let mut tb = Testbed::boot();
    // The hypervisor's console line.
    assert_eq!(
        map(&mut tb, DomId::SELF, CONSOLE_GSI as i32, -1),
        Err(err(Errno::EPERM))
    );
    assert_eq!(setup(&mut tb, CONSOLE_GSI as i32, 0, 0), err(Errno::EPERM));
    assert!(masked(CONSOLE_GSI) || ioapic::entry(CONSOLE_GSI).unwrap().vector == 0);
    // GSIs the machine lacks, pirqs out of range, bad modes, no MSI.
    for (gsi, pirq, want) in [
        (48, -1, Errno::EINVAL),
        (-1, -1, Errno::EINVAL),
        (i32::MAX, -1, Errno::EINVAL),
        (20, 256, Errno::EINVAL),
        (20, -2, Errno::EINVAL),
        (20, i32::MIN, Errno::EINVAL),
    ] {
        assert_eq!(
            map(&mut tb, DomId::SELF, gsi, pirq),
            Err(err(want)),
            "{gsi} {pirq}"
        );
    }
    for (t, p) in [(2, 0), (0, 2), (255, 255)] {
        assert_eq!(setup(&mut tb, 20, t, p), err(Errno::EINVAL), "{t} {p}");
    }
    assert_eq!(setup(&mut tb, -5, 0, 0), err(Errno::EINVAL));
    assert_eq!(setup(&mut tb, 48, 0, 0), err(Errno::EINVAL));
    for kind in [
        MAP_PIRQ_TYPE_MSI,
        MAP_PIRQ_TYPE_MSI_SEG,
        MAP_PIRQ_TYPE_MULTI_MSI,
    ] {
        let op = PhysdevMapPirq {
            domid: DomId::SELF.0,
            kind,
            index: 20,
            pirq: -1,
            ..Default::default()
        };
        assert_eq!(physdev(&mut tb, op).0, err(Errno::ENODEV), "{kind}");
    }
    let op = PhysdevMapPirq {
        domid: DomId::SELF.0,
        kind: 7,
        index: 20,
        pirq: -1,
        ..Default::default()
    };
    assert_eq!(physdev(&mut tb, op).0, err(Errno::EINVAL));
    // Unmapped or out-of-range pirqs.
    assert_eq!(bind(&mut tb, 20), Err(err(Errno::EPERM)));
    assert_eq!(bind(&mut tb, 256), Err(err(Errno::EINVAL)));
    assert_eq!(bind(&mut tb, u32::MAX), Err(err(Errno::EINVAL)));
    assert_eq!(eoi(&mut tb, 20), err(Errno::EINVAL));
    assert_eq!(eoi(&mut tb, u32::MAX), err(Errno::EINVAL));
    assert_eq!(needs_eoi(&mut tb, 20), Err(err(Errno::EINVAL)));
    // Pirqs for another domain: no passthrough.
    let u = tb.domu(1024);
    assert_eq!(map(&mut tb, u, 20, -1), Err(err(Errno::EPERM)));
    // Bad pointers.
    for cmd in [
        PHYSDEVOP_MAP_PIRQ,
        PHYSDEVOP_SETUP_GSI,
        PHYSDEVOP_EOI,
        PHYSDEVOP_UNMAP_PIRQ,
    ] {
        let r = tb.hypercall(
            nr::PHYSDEV_OP,
            [u64::from(cmd), 0xFFFF_8000_0000_1000, 0, 0, 0],
        );
        assert_eq!(r, err(Errno::EFAULT), "{cmd}");
    }
    // A GSI one domain holds is busy for another... (only dom0 maps: checked through the
    // table's own tests); and nothing above mapped anything.
    for gsi in 0..48 {
        assert!(masked(gsi), "GSI {gsi} unmasked by a refused call");
    }
    let pirq = map(&mut tb, DomId::SELF, 20, -1).unwrap();
    assert_eq!(pirq, 20, "no pirq or vector leaked by the refusals");
}

/// A domain without I/O privilege has no pirqs and cannot get any.
#[test]
fn a_domu_can_neither_map_set_up_bind_nor_acknowledge_a_line() {
    let mut tb = Testbed::boot();
    let pirq = map(&mut tb, DomId::SELF, 30, -1).unwrap() as u32;
    let port = bind(&mut tb, pirq).unwrap();
    let u = tb.domu(1024);
    tb.run(u);
    assert_eq!(map(&mut tb, DomId::SELF, 30, -1), Err(err(Errno::EPERM)));
    assert_eq!(map(&mut tb, DomId::SELF, 31, -1), Err(err(Errno::EPERM)));
    assert_eq!(map(&mut tb, DomId::DOM0, 31, -1), Err(err(Errno::EPERM)));
    assert_eq!(setup(&mut tb, 31, 1, 0), err(Errno::EPERM));
    assert_eq!(
        bind(&mut tb, pirq),
        Err(err(Errno::EPERM)),
        "dom0's pirq is not the domU's"
    );
    assert_eq!(eoi(&mut tb, pirq), err(Errno::EINVAL));
    let op = PhysdevUnmapPirq {
        domid: DomId::DOM0.0,
        _pad: 0,
        pirq: pirq as i32,
    };
    assert_eq!(physdev(&mut tb, op).0, err(Errno::EPERM));
    // dom0's line still works.
    assert!(tb.fire_gsi(30));
    assert!(pending(&tb, DomId::DOM0, port));
}

#[test]
fn a_map_whose_answer_cannot_be_written_back_maps_nothing() {
    let mut tb = Testbed::boot();
    // The argument straddles a writable page and a read-only one that reads as zeros: its
    // first 16 bytes (domid, type, GSI, pirq) are ours, the rest zeros; it can be read but
    // the pirq not written back.
    let ro = super::event_channel::read_only_page(&tb);
    let op = PhysdevMapPirq {
        domid: DomId::SELF.0,
        kind: MAP_PIRQ_TYPE_GSI,
        index: 25,
        pirq: -1,
        ..Default::default()
    };
    let arg = ro - 16;
    tb.write_bytes(arg, &zerocopy::IntoBytes::as_bytes(&op)[..16]);
    let r = tb.hypercall(
        nr::PHYSDEV_OP,
        [u64::from(PHYSDEVOP_MAP_PIRQ), arg, 0, 0, 0],
    );
    assert_eq!(r, err(Errno::EFAULT));
    assert_eq!(bind(&mut tb, 25), Err(err(Errno::EPERM)), "not mapped");
    assert_eq!(map(&mut tb, DomId::SELF, 25, -1), Ok(25));
}

#[test]
fn destroying_the_domain_that_drives_a_line_masks_and_unmaps_it() {
    let mut tb = Testbed::boot();
    let pirq = map(&mut tb, DomId::SELF, 40, -1).unwrap() as u32;
    bind(&mut tb, pirq).unwrap();
    assert!(!masked(40));
    crate::irq::release_domain(DomId::DOM0);
    assert!(masked(40));
    assert_eq!(needs_eoi(&mut tb, pirq), Err(err(Errno::EINVAL)));
    assert_eq!(map(&mut tb, DomId::SELF, 40, -1), Ok(40));
}
