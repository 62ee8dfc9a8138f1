//! `xl trigger`, against the real hypervisor (`testhv`): an NMI made pending on the domain's
//! vCPU; every other trigger, vCPU and argument refused naming why, changing nothing.

use super::*;
use crate::elf::testimg::TestElf;
use crate::initrd::write_newc;
use crate::testhv::TestHv;
use guest_abi::types::DomId;

fn initrd_bytes() -> Vec<u8> {
    let kernel = TestElf::pv().bytes();
    write_newc(&[
        (
            "/etc/xen/a.cfg",
            b"name = \"a\"\nkernel = \"/boot/k\"\nmemory = 16\n",
        ),
        ("/boot/k", &kernel),
    ])
}

fn xl(ts: &mut Toolstack<'_, TestHv>, cmd: &str) -> (i32, String) {
    let argv: Vec<&str> = cmd.split_whitespace().collect();
    let mut out = String::new();
    let rc = ts.run(&argv, &mut out);
    (rc, out)
}

fn nmi_pending(ts: &mut Toolstack<'_, TestHv>, id: DomId) -> bool {
    ts.hypervisor().domain(id).unwrap().nmi_pending
}

#[test]
fn trigger_nmi_makes_one_pending_by_name_or_id_and_on_dom0_too() {
    let rd = initrd_bytes();
    let mut ts = Toolstack::new(TestHv::boot(96), Initrd::parse(&rd).unwrap());
    assert_eq!(xl(&mut ts, "xl create /etc/xen/a.cfg").0, 0);
    assert!(!nmi_pending(&mut ts, DomId(1)));
    let (rc, out) = xl(&mut ts, "xl trigger a nmi");
    assert_eq!((rc, out.as_str()), (0, ""));
    assert!(nmi_pending(&mut ts, DomId(1)));
    assert_eq!(xl(&mut ts, "xl trigger 1 nmi 0").0, 0);
    assert!(nmi_pending(&mut ts, DomId(1)));
    // dom0 may send one to itself (as Xen's xl); dom0 has no handler here, so it is dropped
    // on its next entry, which these tests do not model: it stays pending.
    assert_eq!(xl(&mut ts, "xl trigger Domain-0 nmi").0, 0);
    assert!(nmi_pending(&mut ts, DomId(0)));
}

#[test]
fn trigger_refuses_what_a_pv_guest_cannot_take_naming_why() {
    let rd = initrd_bytes();
    let mut ts = Toolstack::new(TestHv::boot(96), Initrd::parse(&rd).unwrap());
    assert_eq!(xl(&mut ts, "xl create /etc/xen/a.cfg").0, 0);
    for (cmd, want) in [
        (
            "xl trigger a bogus",
            "xl: trigger: invalid trigger \"bogus\" (one of nmi, reset, init, power, sleep, s3resume)",
        ),
        ("xl trigger a nmi x", "xl: trigger: invalid vCPU \"x\" (a number)"),
        ("xl trigger a nmi 1", "xl: trigger: domain 1 (\"a\") has no vCPU 1"),
        ("xl trigger nosuch nmi", "xl: trigger: no such domain: \"nosuch\""),
        (
            "xl trigger a power",
            "xl: trigger: power to domain 1 (\"a\"): only HVM guests have ACPI buttons (EINVAL)",
        ),
        (
            "xl trigger a sleep",
            "xl: trigger: sleep to domain 1 (\"a\"): only HVM guests have ACPI buttons (EINVAL)",
        ),
        (
            "xl trigger a reset",
            "xl: trigger: reset to domain 1 (\"a\"): not supported for PV guests (ENOSYS)",
        ),
        (
            "xl trigger a init",
            "xl: trigger: init to domain 1 (\"a\"): not supported for PV guests (ENOSYS)",
        ),
        (
            "xl trigger a s3resume",
            "xl: trigger: s3resume to domain 1 (\"a\"): only HVM guests can be resumed from S3 (this is a PV guest)",
        ),
        ("xl trigger a", "xl: trigger: wrong arguments"),
        ("xl trigger a nmi 0 0", "xl: trigger: wrong arguments"),
    ] {
        let (rc, out) = xl(&mut ts, cmd);
        assert_eq!(rc, 1, "{cmd}: {out}");
        assert_eq!(out.lines().next(), Some(want), "{cmd}");
        assert!(!nmi_pending(&mut ts, DomId(1)), "{cmd}");
    }
    // Wrong arguments show the usage.
    let (_, out) = xl(&mut ts, "xl trigger a");
    assert!(out.contains("Usage: xl trigger <Domain>"), "{out}");
    let (rc, out) = xl(&mut ts, "xl trigger --help");
    assert_eq!(rc, 0);
    assert!(out.contains("virtual NMI"), "{out}");
}
