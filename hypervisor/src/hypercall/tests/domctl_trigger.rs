//! `XEN_DOMCTL_SENDTRIGGER` (`xl trigger`): a virtual NMI pending on the target's vCPU,
//! delivered on its next return to the guest through trap-table vector 2 (where
//! `CALLBACKTYPE_NMI` puts its handler), one at a time until the handler's `iret`.

use super::iret::{register, words};
use crate::testbed::{err, Testbed};
use guest_abi::arch::{IretContext, TrapInfo, FLAT_KERNEL_CS64, FLAT_KERNEL_SS64};
use guest_abi::callback::*;
use guest_abi::domctl::*;
use guest_abi::errno::Errno;
use guest_abi::hypercall::nr;
use guest_abi::sched::SCHEDOP_BLOCK;
use guest_abi::types::DomId;

const HANDLER: u64 = 0xFFFF_FFFF_8000_2300;

fn trigger(tb: &mut Testbed, dom: DomId, trigger: u32, vcpu: u32) -> i64 {
    let buf = tb.scratch();
    let op = XenDomctl::with_payload(
        XEN_DOMCTL_SENDTRIGGER,
        dom,
        &DomctlSendTrigger { trigger, vcpu },
    );
    tb.write(buf, &op);
    tb.hypercall(nr::DOMCTL, [buf, 0, 0, 0, 0])
}

fn pending(tb: &Testbed, d: DomId) -> bool {
    tb.st(|st| st.dom(d).unwrap().vcpus[0].nmi.pending)
}

/// A domU, on the CPU in kernel mode at `rip` with its stack at `sp` (in its scratch area,
/// which starts `0x7000` below), events enabled.
fn domu_at(tb: &mut Testbed, rip: u64) -> (DomId, u64) {
    let u = tb.domu(1024);
    tb.run(u);
    let sp = tb.scratch() + 0x7000;
    (tb.regs.rip, tb.regs.rsp) = (rip, sp);
    tb.st(|st| crate::domain::vcpu_info::set_upcall_mask(&st.cur().vcpu_info(0), false));
    (u, sp)
}

/// The return to the guest (NMI, then event delivery).
fn enter(tb: &mut Testbed) {
    crate::dispatch::before_guest_entry(&mut tb.regs);
}

fn masked(tb: &Testbed) -> bool {
    tb.st(|st| crate::domain::vcpu_info::upcall_masked(&st.cur().vcpu_info(0)))
}

#[test]
fn an_nmi_reaches_the_registered_handler_on_the_next_entry_one_at_a_time() {
    let mut tb = Testbed::boot();
    let (u, sp) = domu_at(&mut tb, 0xFFFF_FFFF_8000_1234);
    assert_eq!(register(&mut tb, CALLBACKTYPE_NMI, HANDLER, 0), 0);
    tb.run(DomId::DOM0);
    assert_eq!(trigger(&mut tb, u, XEN_DOMCTL_SENDTRIGGER_NMI, 0), 0);
    assert!(pending(&tb, u));
    // A second one before delivery is the same NMI.
    assert_eq!(trigger(&mut tb, u, XEN_DOMCTL_SENDTRIGGER_NMI, 0), 0);
    tb.run(u);
    (tb.regs.rip, tb.regs.rsp) = (0xFFFF_FFFF_8000_1234, sp);
    enter(&mut tb);
    // The handler, on the kernel's own stack, events masked (as Xen registers it).
    assert_eq!(
        (tb.regs.rip, tb.regs.cs, tb.regs.ss),
        (HANDLER, FLAT_KERNEL_CS64, FLAT_KERNEL_SS64)
    );
    assert_eq!(tb.regs.rsp, sp - 7 * 8);
    assert_eq!(words(&tb, sp - 7 * 8, 3)[2], 0xFFFF_FFFF_8000_1234);
    assert!(masked(&tb));
    assert!(!pending(&tb, u));
    // Another NMI waits while the handler runs...
    tb.run(DomId::DOM0);
    assert_eq!(trigger(&mut tb, u, XEN_DOMCTL_SENDTRIGGER_NMI, 0), 0);
    tb.run(u);
    (tb.regs.rip, tb.regs.rsp) = (HANDLER + 0x10, sp - 7 * 8);
    enter(&mut tb);
    assert_eq!(tb.regs.rip, HANDLER + 0x10);
    assert!(pending(&tb, u));
    // ... until its iret.
    let at = sp - 0x1000;
    tb.write(
        at,
        &IretContext {
            rip: 0xFFFF_FFFF_8000_1234,
            // RPL 0: a return within kernel mode.
            cs: u64::from(FLAT_KERNEL_CS64 & !3),
            rflags: 1 << 9,
            rsp: sp,
            ss: u64::from(FLAT_KERNEL_SS64),
            ..Default::default()
        },
    );
    tb.regs.rsp = at;
    assert_eq!(tb.hypercall(nr::IRET, [0; 5]), 0);
    assert_eq!(tb.regs.rip, 0xFFFF_FFFF_8000_1234);
    enter(&mut tb);
    assert_eq!(tb.regs.rip, HANDLER);
    assert!(!pending(&tb, u));
}

#[test]
fn an_nmi_to_a_vcpu_without_a_handler_is_dropped_and_unregistering_clears_it() {
    let mut tb = Testbed::boot();
    let (u, sp) = domu_at(&mut tb, 0xFFFF_FFFF_8000_1234);
    assert_eq!(register(&mut tb, CALLBACKTYPE_NMI, HANDLER, 0), 0);
    let at = tb.scratch() + 0xE000;
    tb.write(
        at,
        &CallbackUnregister {
            type_: CALLBACKTYPE_NMI,
            _unused: 0,
        },
    );
    assert_eq!(
        tb.hypercall(
            nr::CALLBACK_OP,
            [u64::from(CALLBACKOP_UNREGISTER), at, 0, 0, 0]
        ),
        0
    );
    assert_eq!(
        tb.st(|st| st.cur().vcpus[0].trap_table[2]),
        TrapInfo::default()
    );
    tb.run(DomId::DOM0);
    assert_eq!(trigger(&mut tb, u, XEN_DOMCTL_SENDTRIGGER_NMI, 0), 0);
    tb.run(u);
    (tb.regs.rip, tb.regs.rsp) = (0xFFFF_FFFF_8000_1234, sp);
    enter(&mut tb);
    assert_eq!((tb.regs.rip, tb.regs.rsp), (0xFFFF_FFFF_8000_1234, sp));
    assert!(!pending(&tb, u));
}

#[test]
fn an_nmi_wakes_a_blocked_vcpu() {
    let mut tb = Testbed::boot();
    let (u, _) = domu_at(&mut tb, 0xFFFF_FFFF_8000_1234);
    tb.st(|st| crate::domain::vcpu_info::set_upcall_mask(&st.cur().vcpu_info(0), true));
    assert_eq!(
        tb.hypercall(nr::SCHED_OP, [u64::from(SCHEDOP_BLOCK), 0, 0, 0, 0]),
        0
    );
    assert_eq!(tb.current(), DomId::DOM0);
    assert!(tb.st(|st| st.dom(u).unwrap().vcpus[0].blocked));
    assert_eq!(trigger(&mut tb, u, XEN_DOMCTL_SENDTRIGGER_NMI, 0), 0);
    assert!(!tb.st(|st| st.dom(u).unwrap().vcpus[0].blocked));
}

#[test]
fn sendtrigger_refuses_other_vcpus_domains_and_triggers_as_xen_does() {
    let mut tb = Testbed::boot();
    let u = tb.domu(1024);
    for vcpu in [1, 99, u32::MAX] {
        assert_eq!(
            trigger(&mut tb, u, XEN_DOMCTL_SENDTRIGGER_NMI, vcpu),
            err(Errno::ESRCH)
        );
    }
    assert_eq!(
        trigger(&mut tb, DomId(77), XEN_DOMCTL_SENDTRIGGER_NMI, 0),
        err(Errno::ESRCH)
    );
    // The ACPI buttons are HVM's; reset and INIT are not there for PV.
    for t in [XEN_DOMCTL_SENDTRIGGER_POWER, XEN_DOMCTL_SENDTRIGGER_SLEEP] {
        assert_eq!(trigger(&mut tb, u, t, 0), err(Errno::EINVAL), "trigger {t}");
    }
    for t in [
        XEN_DOMCTL_SENDTRIGGER_RESET,
        XEN_DOMCTL_SENDTRIGGER_INIT,
        5,
        u32::MAX,
    ] {
        assert_eq!(trigger(&mut tb, u, t, 0), err(Errno::ENOSYS), "trigger {t}");
    }
    assert!(!pending(&tb, u));
    // Only dom0 may.
    tb.run(u);
    assert_eq!(
        trigger(&mut tb, DomId::DOM0, XEN_DOMCTL_SENDTRIGGER_NMI, 0),
        err(Errno::EPERM)
    );
    assert!(!pending(&tb, DomId::DOM0));
}

#[test]
fn destroying_a_domain_with_an_nmi_pending_takes_it_away() {
    let mut tb = Testbed::boot();
    let u = tb.domu(1024);
    assert_eq!(trigger(&mut tb, u, XEN_DOMCTL_SENDTRIGGER_NMI, 0), 0);
    assert!(pending(&tb, u));
    tb.st(|st| {
        let _ = crate::lifecycle::destroy(st, u);
        if let Some(d) = st.dom(u) {
            assert!(!d.vcpus[0].nmi.pending);
        }
    });
}

#[test]
fn an_nmi_that_cannot_be_written_to_the_guest_stack_crashes_only_that_domain() {
    let mut tb = Testbed::boot();
    let (u, _) = domu_at(&mut tb, 0xFFFF_FFFF_8000_1234);
    assert_eq!(register(&mut tb, CALLBACKTYPE_NMI, HANDLER, 0), 0);
    tb.run(DomId::DOM0);
    assert_eq!(trigger(&mut tb, u, XEN_DOMCTL_SENDTRIGGER_NMI, 0), 0);
    tb.run(u);
    // Its stack pointer in the hypervisor's hole.
    tb.regs.rsp = guest_abi::arch::HYPERVISOR_VIRT_START + 0x1000;
    enter(&mut tb);
    assert_eq!(
        tb.st(|st| st.dom(u).unwrap().shutdown),
        Some(guest_abi::sched::ShutdownReason::Crash)
    );
    assert_eq!(tb.current(), DomId::DOM0);
}
