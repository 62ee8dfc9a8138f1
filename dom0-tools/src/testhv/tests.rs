//! The adapter's own checks: that it reaches the hypervisor the way dom0 does, and what the
//! hypervisor answers where the toolstack relies on it.

use super::guest::Planned;
use super::TestHv;
use crate::hv::Hypervisor;
use guest_abi::domctl::*;
use guest_abi::errno::Errno;
use guest_abi::sched::ShutdownReason;
use guest_abi::types::DomId;

/// A new, empty domain that may have `pages` pages, `n` of them populated; their MFNs.
fn domain_with_pages(hv: &mut TestHv, pages: u64, n: usize) -> (DomId, Vec<u64>) {
    let mut op = crate::testhv::createdomain_op();
    hv.domctl(&mut op).unwrap();
    let dom = op.domain;
    let mut op = XenDomctl::with_payload(
        XEN_DOMCTL_MAX_MEM,
        dom,
        &DomctlMaxMem {
            max_memkb: pages * 4,
        },
    );
    hv.domctl(&mut op).unwrap();
    let mut mfns: Vec<u64> = (0..n as u64).collect();
    assert_eq!(hv.populate_physmap(dom, &mut mfns), Ok(n));
    (dom, mfns)
}

#[test]
fn version_and_features_are_the_hypervisors() {
    let mut hv = TestHv::boot(64);
    assert_eq!(hv.xen_version(), Ok((4, 17)));
    // What every PV guest gets, and XENFEAT_dom0 for dom0.
    assert_eq!(
        hv.features(),
        Ok(hypervisor::domain::FEATURES | 1 << guest_abi::version::XENFEAT_DOM0)
    );
}

#[test]
fn foreign_mappings_follow_ownership() {
    let mut hv = TestHv::boot(64);
    let (a, fa) = domain_with_pages(&mut hv, 4, 4);
    let (b, fb) = domain_with_pages(&mut hv, 4, 4);
    // Through the mapping, into the frame and back.
    hv.with_foreign_page(a, fa[1], &mut |p| p[..5].copy_from_slice(b"hello"))
        .unwrap();
    assert_eq!(&hv.frame(fa[1])[..5], b"hello");
    // Another domain's frame, named as `a`'s, is refused (and nothing is run on it).
    let mut ran = false;
    let e = hv.with_foreign_page(a, fb[0], &mut |_| ran = true);
    assert!(e.is_err() && !ran, "{e:?}");
    // Nothing stays mapped: both domains go entirely.
    let free = hv.free_pages();
    for d in [a, b] {
        crate::xl::destroy_domain(&mut hv, d).unwrap();
    }
    assert_eq!(hv.domain_ids(), [DomId::DOM0]);
    assert_eq!(hv.free_pages(), free + 8 + 2);
}

#[test]
fn a_pinned_page_table_cannot_be_mapped_writable() {
    let rd = crate::initrd::write_newc(&[
        (
            "/etc/xen/d.cfg",
            b"name = \"d\"\nkernel = \"/boot/k\"\nmemory = 8\n",
        ),
        ("/boot/k", &pv_builder::elf::testimg::TestElf::pv().bytes()),
    ]);
    let mut ts =
        crate::xl::Toolstack::new(TestHv::boot(64), crate::initrd::Initrd::parse(&rd).unwrap());
    let mut out = alloc::string::String::new();
    assert_eq!(ts.run(&["xl", "create", "d.cfg"], &mut out), 0, "{out}");
    let hv = ts.hypervisor();
    let d = hv.domain(DomId(1)).unwrap();
    assert!(d.l4_pinned);
    let mut ran = false;
    let e = hv.with_foreign_page(DomId(1), d.l4, &mut |_| ran = true);
    assert!(e.is_err() && !ran, "{e:?}");
}

#[test]
fn dom0_cannot_pause_itself() {
    let mut hv = TestHv::boot(64);
    let mut op = XenDomctl::new(XEN_DOMCTL_PAUSEDOMAIN, DomId(0));
    assert_eq!(hv.domctl(&mut op), Err(Errno::EINVAL));
    assert!(!hv.domain(DomId(0)).unwrap().paused);
}

#[test]
fn an_hvm_domain_is_refused() {
    let mut hv = TestHv::boot(64);
    let c = DomctlCreateDomain {
        flags: XEN_DOMCTL_CDF_HVM,
        max_vcpus: 1,
        ..Default::default()
    };
    let mut op = XenDomctl::with_payload(XEN_DOMCTL_CREATEDOMAIN, DomId(0), &c);
    assert_eq!(hv.domctl(&mut op), Err(Errno::EINVAL));
    assert_eq!(hv.domain_ids(), [DomId::DOM0]);
}

#[test]
fn time_passes_and_guests_act_at_their_time() {
    let rd = crate::initrd::write_newc(&[
        (
            "/etc/xen/d.cfg",
            b"name = \"d\"\nkernel = \"/boot/k\"\nmemory = 8\n",
        ),
        ("/boot/k", &pv_builder::elf::testimg::TestElf::pv().bytes()),
    ]);
    let mut ts =
        crate::xl::Toolstack::new(TestHv::boot(64), crate::initrd::Initrd::parse(&rd).unwrap());
    let mut out = alloc::string::String::new();
    assert_eq!(ts.run(&["xl", "create", "d.cfg"], &mut out), 0, "{out}");
    let hv = ts.hypervisor();
    let t0 = hv.now_ns().unwrap();
    assert_eq!(
        t0,
        hypervisor::arch::now_ns(),
        "dom0 reads the hypervisor's time"
    );
    let exc = hv.dom_exc_count().unwrap();
    hv.plan(
        DomId(1),
        Planned::Shutdown(ShutdownReason::Crash),
        t0 + 5_000_000,
    );
    for _ in 0..4 {
        hv.relax();
    }
    assert_eq!(hv.now_ns(), Some(t0 + 4_000_000));
    assert_eq!(hv.domain(DomId(1)).unwrap().shutdown, None, "not yet");
    assert_eq!(hv.dom_exc_count(), Some(exc));
    hv.relax();
    assert_eq!(
        hv.domain(DomId(1)).unwrap().shutdown,
        Some(ShutdownReason::Crash)
    );
    assert_eq!(
        hv.dom_exc_count(),
        Some(exc + 1),
        "VIRQ_DOM_EXC reached dom0"
    );
    assert_eq!(hv.dom_exc_count(), Some(exc + 1), "once");
}
