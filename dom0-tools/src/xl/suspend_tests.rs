//! The toolstack asking a domain to suspend ([`Toolstack::suspend_domain`]) against the host
//! model: a guest that acts is waited for and shows `s` (and `xl resume` lets it carry on);
//! one that does not answer, shuts down for another reason or is Domain-0 gets an error
//! naming it.

use super::shutdown::ACK_WAIT_NS;
use super::*;
use crate::elf::testimg::TestElf;
use crate::hv::is_suspended;
use crate::initrd::write_newc;
use crate::testhv::guest::Planned;
use crate::testhv::TestHv;
use guest_abi::sched::ShutdownReason;
use guest_abi::types::DomId;

const NODE: &str = "/local/domain/1/control/shutdown";

fn initrd() -> Vec<u8> {
    write_newc(&[
        (
            "/etc/xen/d.cfg",
            b"name = \"d\"\nkernel = \"/boot/k\"\nmemory = 8\n",
        ),
        ("/boot/k", &TestElf::pv().bytes()),
    ])
}

fn xl(ts: &mut Toolstack<'_, TestHv>, cmd: &str) -> (i32, String) {
    let argv: Vec<&str> = cmd.split_whitespace().collect();
    let mut out = String::new();
    let rc = ts.run(&argv, &mut out);
    (rc, out)
}

fn started(rd: &[u8]) -> Toolstack<'_, TestHv> {
    let mut ts = Toolstack::new(TestHv::boot(64), Initrd::parse(rd).unwrap());
    let (rc, out) = xl(&mut ts, "xl create d.cfg");
    assert_eq!(rc, 0, "{out}");
    ts
}

fn suspended(ts: &mut Toolstack<'_, TestHv>) -> bool {
    is_suspended(&ts.hypervisor().domain_info(DomId(1)).unwrap())
}

#[test]
fn a_guest_that_suspends_is_waited_for_and_can_be_resumed() {
    let rd = initrd();
    let mut ts = started(&rd);
    // The guest acts 50 ms after the request.
    let now = ts.hypervisor().guest_time();
    ts.hypervisor().plan(
        DomId(1),
        Planned::Shutdown(ShutdownReason::Suspend),
        now + 50_000_000,
    );
    let mut out = String::new();
    assert_eq!(ts.suspend_domain("d", &mut out), Ok(DomId(1)), "{out}");
    assert!(suspended(&mut ts));
    let waited = ts.hypervisor().guest_time() - now;
    assert!(
        (50_000_000..ACK_WAIT_NS).contains(&waited),
        "waited {waited} ns"
    );
    // The request was written (this guest model does not clear it).
    assert_eq!(ts.xenstore().read(0, NODE).unwrap(), b"suspend");
    let (_, list) = xl(&mut ts, "xl list");
    let row = list.lines().find(|l| l.starts_with("d ")).expect("row");
    assert!(
        row.split_whitespace().nth(4).unwrap().contains('s'),
        "{list}"
    );
    // Asked again while suspended: nothing to wait for, by id too.
    ts.xenstore().write(0, NODE, b"").unwrap();
    let t = ts.hypervisor().guest_time();
    assert_eq!(ts.suspend_domain("1", &mut out), Ok(DomId(1)));
    assert_eq!(
        ts.hypervisor().guest_time(),
        t,
        "no wait for a suspended domain"
    );
    assert_eq!(ts.xenstore().read(0, NODE).unwrap(), b"", "no new request");
    // The cancelled resume lets it run on, and it can be asked again.
    let (rc, out) = xl(&mut ts, "xl resume d");
    assert_eq!(rc, 0, "{out}");
    assert!(!suspended(&mut ts));
    let now = ts.hypervisor().guest_time();
    ts.hypervisor().plan(
        DomId(1),
        Planned::Shutdown(ShutdownReason::Suspend),
        now + 10_000_000,
    );
    let mut out = String::new();
    assert_eq!(ts.suspend_domain("d", &mut out), Ok(DomId(1)), "{out}");
    assert!(suspended(&mut ts));
}

#[test]
fn a_guest_that_does_not_answer_is_reported_after_the_ack_wait() {
    let rd = initrd();
    let mut ts = started(&rd);
    let t0 = ts.hypervisor().guest_time();
    let mut out = String::new();
    assert_eq!(
        ts.suspend_domain("d", &mut out),
        Err(String::from(
            "domain 1 (\"d\") did not respond to the suspend request in 5 s; the guest has no \
             suspend handler or is not answering"
        ))
    );
    assert!(ts.hypervisor().guest_time() - t0 >= ACK_WAIT_NS);
    assert_eq!(ts.xenstore().read(0, NODE).unwrap(), b"suspend");
    assert!(!suspended(&mut ts));
    assert_eq!(ts.hypervisor().domain(DomId(1)).unwrap().shutdown, None);
}

#[test]
fn a_guest_that_shuts_down_instead_is_named() {
    let rd = initrd();
    let mut ts = started(&rd);
    let now = ts.hypervisor().guest_time();
    ts.hypervisor().plan(
        DomId(1),
        Planned::Shutdown(ShutdownReason::Poweroff),
        now + 20_000_000,
    );
    let mut out = String::new();
    assert_eq!(
        ts.suspend_domain("d", &mut out),
        Err(String::from(
            "suspend: domain 1 (\"d\") shut down (poweroff) instead of suspending"
        ))
    );
}

#[test]
fn domain_0_and_unknown_domains_are_refused() {
    let rd = initrd();
    let mut ts = started(&rd);
    let mut out = String::new();
    let e = ts.suspend_domain("Domain-0", &mut out).unwrap_err();
    assert_eq!(e, "suspend: not permitted on Domain-0 (domain 0)");
    let e = ts.suspend_domain("nosuch", &mut out).unwrap_err();
    assert!(e.starts_with("suspend: ") && e.contains("nosuch"), "{e}");
    assert_eq!(ts.xenstore().read(0, NODE).unwrap(), b"", "nothing asked");
}
