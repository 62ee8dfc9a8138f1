//! `fpu_taskswitch` (the guest's virtual CR0.TS) and the lazy FPU switching of
//! `domain::fpu`: #NM loads the vCPU's registers (saving the owner's), and is bounced to the
//! guest only when the guest itself had set TS.
//!
//! The owner of the live registers is kept across tests (`Testbed::boot` does not reset it),
//! so each test first takes the FPU for dom0 with an #NM.

use super::iret::{set_traps, words, BASE};
use crate::arch::fpu::reset_area;
use crate::arch::fpu_regs::{live, set_live, ts_set};
use crate::testbed::{err, Testbed};
use guest_abi::arch::{TrapInfo, FLAT_KERNEL_CS64};
use guest_abi::errno::Errno;
use guest_abi::hypercall::nr;
use guest_abi::sched::ShutdownReason;
use guest_abi::types::DomId;

const NM_HANDLER: u64 = BASE + 0x2600;

/// A register file recognisable by `tag`.
fn regs_of(tag: u8) -> [u8; 512] {
    let mut r = [0u8; 512];
    for (i, b) in r.iter_mut().enumerate() {
        *b = tag ^ (i as u8);
    }
    r
}

/// The current guest executes an FPU instruction: if CR0.TS is set the CPU raises #NM,
/// which the hypervisor handles. Whether #NM was raised.
fn use_fpu(tb: &mut Testbed) -> bool {
    if !ts_set() {
        return false;
    }
    tb.regs.entry_vector = 7;
    tb.regs.error_code = 0;
    crate::traps::guest_exception(&mut tb.regs);
    true
}

fn taskswitch(tb: &mut Testbed, set: u64) -> i64 {
    tb.hypercall(nr::FPU_TASKSWITCH, [set, 0, 0, 0, 0])
}

fn guest_ts(tb: &Testbed, id: DomId) -> bool {
    tb.st(|st| st.dom(id).unwrap().vcpus[0].fpu.guest_ts)
}

fn saved(tb: &Testbed, id: DomId) -> [u8; 512] {
    tb.st(|st| st.dom(id).unwrap().vcpus[0].fpu.area.0)
}

/// Boot and make dom0 the owner of the live registers, holding `regs_of(0xA0)`.
fn boot_owning() -> Testbed {
    let mut tb = Testbed::boot();
    crate::arch::fpu_regs::set_ts();
    assert!(use_fpu(&mut tb));
    assert!(!ts_set());
    // dom0's own (reset) state was loaded.
    assert_eq!(live(), reset_area().0);
    set_live(regs_of(0xA0));
    tb
}

#[test]
fn fpu_taskswitch_sets_and_clears_the_guest_ts() {
    let mut tb = boot_owning();
    assert_eq!(taskswitch(&mut tb, 1), 0);
    assert!(guest_ts(&tb, DomId::DOM0));
    assert!(ts_set(), "the next FPU use must trap");
    assert_eq!(taskswitch(&mut tb, 0), 0);
    assert!(!guest_ts(&tb, DomId::DOM0));
    // dom0 owns the registers: nothing to load, TS goes.
    assert!(!ts_set());
    assert_eq!(live(), regs_of(0xA0));
}

#[test]
fn fpu_taskswitch_takes_any_nonzero_int_and_refuses_wider_values() {
    let mut tb = boot_owning();
    for set in [2, 0x8000_0000, 0xFFFF_FFFF] {
        assert_eq!(taskswitch(&mut tb, 0), 0);
        assert_eq!(taskswitch(&mut tb, set), 0);
        assert!(guest_ts(&tb, DomId::DOM0) && ts_set(), "set {set:#x}");
    }
    assert_eq!(taskswitch(&mut tb, 0), 0);
    // 1 << 32 would be 0 if truncated to the ABI's int: refused instead, nothing changes.
    for set in [1 << 32, u64::MAX] {
        assert_eq!(taskswitch(&mut tb, set), err(Errno::EINVAL));
        assert!(!guest_ts(&tb, DomId::DOM0) && !ts_set());
    }
}

#[test]
fn device_not_available_after_fpu_taskswitch_is_bounced_to_the_guest_once() {
    let mut tb = boot_owning();
    let s = tb.scratch();
    set_traps(
        &mut tb,
        s + 0x8000,
        &[TrapInfo::new(7, 0, false, 0xe030, NM_HANDLER)],
    );
    assert_eq!(taskswitch(&mut tb, 1), 0);
    let (rip, rsp) = (BASE + 0x2100, s + 0x3000);
    tb.regs.rip = rip;
    tb.regs.rsp = rsp;
    assert!(use_fpu(&mut tb));
    // The guest's #NM handler, with a frame without error code; TS is now clear, the
    // guest's own registers live.
    assert_eq!((tb.regs.rip, tb.regs.cs), (NM_HANDLER, FLAT_KERNEL_CS64));
    assert_eq!(tb.regs.rsp, rsp - 7 * 8);
    assert_eq!(words(&tb, rsp - 5 * 8, 1), [rip]);
    assert!(!guest_ts(&tb, DomId::DOM0));
    assert!(!ts_set());
    assert_eq!(live(), regs_of(0xA0));
    // The handler's own FPU use (and the retried instruction) does not trap again.
    assert!(!use_fpu(&mut tb));
    tb.st(|st| assert!(st.cur().runnable()));
}

#[test]
fn device_not_available_without_guest_ts_is_a_silent_lazy_switch() {
    let mut tb = boot_owning();
    let u = tb.domu(1024);
    // No #NM handler anywhere: a lazy switch must not need one.
    tb.run(u);
    assert!(ts_set(), "domU does not own the registers");
    let (rip, rsp) = (tb.regs.rip, tb.regs.rsp);
    assert!(use_fpu(&mut tb));
    assert_eq!((tb.regs.rip, tb.regs.rsp), (rip, rsp), "no bounce");
    assert!(!ts_set());
    assert_eq!(tb.current(), u);
    tb.st(|st| assert!(st.dom(u).unwrap().runnable()));
    // domU got its own (reset) registers; dom0's were saved.
    assert_eq!(live(), reset_area().0);
    assert_eq!(saved(&tb, DomId::DOM0), regs_of(0xA0));
}

#[test]
fn two_domains_fpu_registers_stay_separate_across_switches() {
    let mut tb = boot_owning();
    let u = tb.domu(1024);
    tb.run(u);
    assert!(use_fpu(&mut tb));
    set_live(regs_of(0xB0));
    for _ in 0..3 {
        tb.run(DomId::DOM0);
        assert!(use_fpu(&mut tb));
        assert_eq!(live(), regs_of(0xA0));
        assert_eq!(saved(&tb, u), regs_of(0xB0));
        tb.run(u);
        assert!(use_fpu(&mut tb));
        assert_eq!(live(), regs_of(0xB0));
        assert_eq!(saved(&tb, DomId::DOM0), regs_of(0xA0));
    }
    // Each changes its registers while it owns them; the other never sees it.
    set_live(regs_of(0xB1));
    tb.run(DomId::DOM0);
    assert!(use_fpu(&mut tb));
    assert_eq!(live(), regs_of(0xA0));
    set_live(regs_of(0xA1));
    tb.run(u);
    assert!(use_fpu(&mut tb));
    assert_eq!(live(), regs_of(0xB1));
    assert_eq!(saved(&tb, DomId::DOM0), regs_of(0xA1));
}

#[test]
fn switching_back_to_the_owner_needs_no_reload() {
    let mut tb = boot_owning();
    let u = tb.domu(1024);
    tb.run(u);
    assert!(ts_set());
    // domU does not touch the FPU; dom0 comes back to its registers still live.
    tb.run(DomId::DOM0);
    assert!(!ts_set());
    assert!(!use_fpu(&mut tb));
    assert_eq!(live(), regs_of(0xA0));
    assert_eq!(saved(&tb, u), reset_area().0);
}

#[test]
fn the_guest_ts_survives_a_context_switch() {
    let mut tb = boot_owning();
    let s = tb.scratch();
    set_traps(
        &mut tb,
        s + 0x8000,
        &[TrapInfo::new(7, 0, false, 0xe030, NM_HANDLER)],
    );
    assert_eq!(taskswitch(&mut tb, 1), 0);
    let u = tb.domu(1024);
    tb.run(u);
    assert!(use_fpu(&mut tb));
    set_live(regs_of(0xB0));
    assert!(guest_ts(&tb, DomId::DOM0) && !guest_ts(&tb, u));
    tb.run(DomId::DOM0);
    assert!(ts_set());
    tb.regs.rsp = s + 0x3000;
    assert!(use_fpu(&mut tb));
    // Loaded (dom0's registers back) and bounced, as dom0 asked with fpu_taskswitch(1).
    assert_eq!(tb.regs.rip, NM_HANDLER);
    assert_eq!(live(), regs_of(0xA0));
    assert_eq!(saved(&tb, u), regs_of(0xB0));
    assert!(!guest_ts(&tb, DomId::DOM0) && !ts_set());
}

#[test]
fn fpu_taskswitch_clear_keeps_ts_while_another_vcpu_owns_the_registers() {
    let mut tb = boot_owning();
    let u = tb.domu(1024);
    tb.run(u);
    assert_eq!(taskswitch(&mut tb, 1), 0);
    assert_eq!(taskswitch(&mut tb, 0), 0);
    assert!(!guest_ts(&tb, u));
    // dom0's registers are still live: domU's first use must still trap to load its own.
    assert!(ts_set());
    let rip = tb.regs.rip;
    assert!(use_fpu(&mut tb));
    assert_eq!(tb.regs.rip, rip, "a lazy switch, not a bounce");
    assert_eq!(live(), reset_area().0);
    assert_eq!(saved(&tb, DomId::DOM0), regs_of(0xA0));
}

#[test]
fn device_not_available_with_guest_ts_and_no_handler_crashes_only_that_domain() {
    let mut tb = boot_owning();
    let u = tb.domu(1024);
    tb.run(u);
    assert_eq!(taskswitch(&mut tb, 1), 0);
    assert!(use_fpu(&mut tb));
    assert_eq!(
        tb.st(|st| st.dom(u).unwrap().shutdown),
        Some(ShutdownReason::Crash)
    );
    assert_eq!(tb.current(), DomId::DOM0);
    tb.st(|st| assert!(st.dom(DomId::DOM0).unwrap().runnable()));
    // dom0 gets its own registers back.
    use_fpu(&mut tb);
    assert_eq!(live(), regs_of(0xA0));
}

#[test]
fn a_destroyed_owners_registers_are_dropped_and_the_next_vcpu_loads_its_own() {
    let mut tb = boot_owning();
    let u = tb.domu(1024);
    tb.run(u);
    assert!(use_fpu(&mut tb));
    set_live(regs_of(0xB0));
    tb.run(DomId::DOM0);
    tb.st(|st| {
        crate::lifecycle::crash(st, u, format_args!("test"));
        while crate::lifecycle::destroy(st, u) == Err(Errno::EAGAIN) {}
        assert!(st.dom(u).is_none(), "domU is gone");
    });
    assert!(use_fpu(&mut tb));
    assert_eq!(live(), regs_of(0xA0));
    assert!(!ts_set());
}
