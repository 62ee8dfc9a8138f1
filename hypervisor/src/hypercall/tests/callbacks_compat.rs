//! The 32-bit user-mode entries of a 64-bit PV guest: `callback_op` registering the syscall32
//! and sysenter callbacks, and what a compat-mode `syscall` and a `sysenter` deliver (as Xen:
//! syscall32 falls back to the 64-bit syscall callback; sysenter without a callback is a #GP).

use super::iret::{give_user_page_tables, register, set_traps, words, BASE};
use crate::testbed::{err, Testbed};
use guest_abi::arch::{
    CpuUserRegs, IretContext, TrapInfo, FLAT_KERNEL_CS64, FLAT_KERNEL_SS64, FLAT_USER_CS32,
    FLAT_USER_SS, HYPERVISOR_VIRT_START, TRAP_SYSCALL,
};
use guest_abi::callback::*;
use guest_abi::errno::Errno;
use guest_abi::hypercall::nr;
use guest_abi::sched::ShutdownReason;
use guest_abi::types::DomId;

const KSP: u64 = 0x6008;
const USER_RIP: u64 = 0x40_1000;
const USER_SP: u64 = 0x50_0000;
const RFLAGS_IF: u64 = 1 << 9;
const RFLAGS_DF: u64 = 1 << 10;
const RFLAGS_TF: u64 = 1 << 8;

fn masked(tb: &Testbed) -> bool {
    tb.st(|st| crate::domain::vcpu_info::upcall_masked(&st.cur().vcpu_info(0)))
}

/// The current domain with user page tables, a kernel stack, and in 32-bit user mode at
/// `USER_RIP` (entered by `iret` with FLAT_USER_CS32).
fn in_compat_user_mode(tb: &mut Testbed) -> u64 {
    give_user_page_tables(tb);
    let ksp = tb.scratch() + KSP;
    let ss = u64::from(FLAT_KERNEL_SS64);
    assert_eq!(tb.hypercall(nr::STACK_SWITCH, [ss, ksp, 0, 0, 0]), 0);
    let at = tb.scratch() + 0x800;
    tb.write(
        at,
        &IretContext {
            rip: USER_RIP,
            cs: u64::from(FLAT_USER_CS32),
            rflags: RFLAGS_IF,
            rsp: USER_SP,
            ss: u64::from(FLAT_USER_SS),
            ..Default::default()
        },
    );
    tb.regs.rsp = at;
    assert_eq!(tb.hypercall(nr::IRET, [0; 5]), 0);
    tb.st(|st| assert!(!st.cur().vcpus[0].in_kernel));
    assert_eq!(tb.regs.cs, FLAT_USER_CS32);
    ksp
}

/// The current vCPU's syscall32 and sysenter callbacks with their event-mask flags.
fn compat_callbacks(tb: &Testbed) -> (u64, bool, u64, bool) {
    let cb = tb.st(|st| st.cur().vcpus[0].callbacks);
    (
        cb.syscall32,
        cb.syscall32_masks_events,
        cb.sysenter,
        cb.sysenter_masks_events,
    )
}

/// Domain `u` was crashed, and dom0 runs on.
fn crashed_alone(tb: &Testbed, u: DomId) {
    assert_eq!(
        tb.st(|st| st.dom(u).unwrap().shutdown),
        Some(ShutdownReason::Crash)
    );
    assert_eq!(tb.current(), DomId::DOM0);
}

/// The frame the CSTAR stub builds for a compat-mode `syscall` at `rip` (2 bytes).
fn compat_syscall(tb: &mut Testbed, rip: u64, rflags: u64) {
    let r = &mut tb.regs;
    (r.rip, r.rcx, r.r11, r.rflags) = (rip + 2, rip + 2, rflags, rflags);
    (r.cs, r.ss, r.rax, r.entry_vector) = (FLAT_USER_CS32, FLAT_USER_SS, 7, TRAP_SYSCALL);
    crate::traps::compat_syscall(&mut tb.regs);
}

/// The frame the SYSENTER stub builds: rip 0, rsp 0, cs 3.
fn sysenter(tb: &mut Testbed, rflags: u64) {
    let r: &mut CpuUserRegs = &mut tb.regs;
    (r.rip, r.rsp, r.cs, r.ss, r.rflags) = (0, 0, 3, FLAT_USER_SS, rflags);
    (r.rcx, r.r11, r.entry_vector) = (0x1111, 0x2222, TRAP_SYSCALL);
    crate::traps::sysenter(&mut tb.regs);
}

#[test]
fn syscall32_and_sysenter_callbacks_are_registered_with_their_event_mask_flags() {
    let mut tb = Testbed::boot();
    let (s32, se) = (BASE + 0x2600, BASE + 0x2700);
    assert_eq!(
        register(&mut tb, CALLBACKTYPE_SYSCALL32, s32, CALLBACKF_MASK_EVENTS),
        0
    );
    assert_eq!(register(&mut tb, CALLBACKTYPE_SYSENTER, se, 0), 0);
    assert_eq!(compat_callbacks(&tb), (s32, true, se, false));
    assert_eq!(register(&mut tb, CALLBACKTYPE_SYSCALL32, s32 + 8, 0), 0);
    assert_eq!(
        register(
            &mut tb,
            CALLBACKTYPE_SYSENTER,
            se + 8,
            CALLBACKF_MASK_EVENTS
        ),
        0
    );
    // An address in the hypervisor hole or a non-canonical one: EINVAL, nothing changes.
    for bad in [HYPERVISOR_VIRT_START + 0x1000, 0x0000_8000_0000_0000] {
        for ty in [CALLBACKTYPE_SYSCALL32, CALLBACKTYPE_SYSENTER] {
            assert_eq!(
                register(&mut tb, ty, bad, 0),
                err(Errno::EINVAL),
                "{ty} {bad:#x}"
            );
        }
    }
    assert_eq!(compat_callbacks(&tb), (s32 + 8, false, se + 8, true));
    // Only the calling vCPU's.
    let u = tb.domu(1024);
    tb.st(|st| {
        let c = st.dom(u).unwrap().vcpus[0].callbacks;
        assert_eq!((c.syscall32, c.sysenter), (0, 0));
    });
}

#[test]
fn a_compat_syscall_enters_the_syscall32_callback_with_the_32_bit_user_frame() {
    let mut tb = Testbed::boot();
    let (s64, s32) = (BASE + 0x2500, BASE + 0x2600);
    assert_eq!(register(&mut tb, CALLBACKTYPE_SYSCALL, s64, 0), 0);
    assert_eq!(
        register(&mut tb, CALLBACKTYPE_SYSCALL32, s32, CALLBACKF_MASK_EVENTS),
        0
    );
    let ksp = in_compat_user_mode(&mut tb);
    assert!(!masked(&tb));
    compat_syscall(&mut tb, USER_RIP + 0x10, RFLAGS_IF | RFLAGS_DF | 2);
    tb.st(|st| assert!(st.cur().vcpus[0].in_kernel && st.cur().runnable()));
    let frame = (ksp & !0xF) - 7 * 8;
    assert_eq!(
        (tb.regs.rip, tb.regs.rsp, tb.regs.cs, tb.regs.ss),
        (s32, frame, FLAT_KERNEL_CS64, FLAT_KERNEL_SS64)
    );
    // Events masked (the flag), DF cleared for the callback (as Xen).
    assert!(masked(&tb));
    assert_eq!(tb.regs.rflags & RFLAGS_DF, 0);
    let ret = USER_RIP + 0x12;
    let user_flags = RFLAGS_IF | RFLAGS_DF | 2;
    assert_eq!(
        words(&tb, frame, 7),
        [
            ret,
            user_flags,
            ret,
            u64::from(FLAT_USER_CS32),
            user_flags,
            USER_SP,
            u64::from(FLAT_USER_SS)
        ]
    );
    assert_eq!(tb.regs.rax, 7, "not taken as a hypercall");
}

#[test]
fn a_compat_syscall_without_a_syscall32_callback_goes_to_the_syscall_callback() {
    let mut tb = Testbed::boot();
    let s64 = BASE + 0x2500;
    assert_eq!(register(&mut tb, CALLBACKTYPE_SYSCALL, s64, 0), 0);
    in_compat_user_mode(&mut tb);
    compat_syscall(&mut tb, USER_RIP, RFLAGS_IF | 2);
    assert_eq!(tb.regs.rip, s64);
    // The 64-bit callback's own flag: events stay enabled.
    assert!(!masked(&tb));
}

#[test]
fn a_compat_syscall_in_guest_kernel_mode_is_bounced_on_the_current_stack_not_a_hypercall() {
    let mut tb = Testbed::boot();
    let s32 = BASE + 0x2600;
    assert_eq!(register(&mut tb, CALLBACKTYPE_SYSCALL32, s32, 0), 0);
    let sp = tb.scratch() + 0x7000;
    tb.regs.rsp = sp;
    compat_syscall(&mut tb, 0x1000, RFLAGS_IF | 2);
    tb.st(|st| assert!(st.cur().vcpus[0].in_kernel && st.cur().runnable()));
    assert_eq!(
        (tb.regs.rip, tb.regs.rsp, tb.regs.rax),
        (s32, sp - 7 * 8, 7)
    );
    // The kernel sees its own mode: RPL 0 in the saved CS.
    assert_eq!(
        words(&tb, sp - 7 * 8, 7)[3] & 0xFFFF,
        u64::from(FLAT_USER_CS32 & !3)
    );
}

#[test]
fn a_compat_syscall_with_no_callback_at_all_crashes_only_that_domain() {
    let mut tb = Testbed::boot();
    let u = tb.domu(1024);
    tb.run(u);
    in_compat_user_mode(&mut tb);
    compat_syscall(&mut tb, USER_RIP, RFLAGS_IF | 2);
    crashed_alone(&tb, u);
}

#[test]
fn sysenter_enters_the_sysenter_callback_with_xens_null_frame_and_keeps_tf() {
    let mut tb = Testbed::boot();
    let se = BASE + 0x2700;
    assert_eq!(
        register(&mut tb, CALLBACKTYPE_SYSENTER, se, CALLBACKF_MASK_EVENTS),
        0
    );
    let ksp = in_compat_user_mode(&mut tb);
    sysenter(&mut tb, RFLAGS_TF | 2);
    let frame = (ksp & !0xF) - 7 * 8;
    assert_eq!((tb.regs.rip, tb.regs.rsp), (se, frame));
    assert!(masked(&tb));
    // The handler runs without TF; the frame keeps the user's (its IF from the upcall mask).
    assert_eq!(tb.regs.rflags & RFLAGS_TF, 0);
    assert_eq!(
        words(&tb, frame, 7),
        [
            0x1111,
            0x2222,
            0,
            3,
            RFLAGS_TF | RFLAGS_IF | 2,
            0,
            u64::from(FLAT_USER_SS)
        ]
    );
}

#[test]
fn sysenter_without_a_callback_is_a_gp_with_error_code_0_else_a_crash() {
    let mut tb = Testbed::boot();
    let gp = BASE + 0x2800;
    let at = tb.scratch() + 0x900;
    set_traps(
        &mut tb,
        at,
        &[TrapInfo::new(13, 0, false, FLAT_KERNEL_CS64, gp)],
    );
    let ksp = in_compat_user_mode(&mut tb);
    sysenter(&mut tb, 2);
    let frame = (ksp & !0xF) - 8 * 8;
    assert_eq!((tb.regs.rip, tb.regs.rsp), (gp, frame));
    assert_eq!(words(&tb, frame, 8)[2..5], [0, 0, 3]);
    // No #GP handler either: that domain is crashed, the others run on.
    let u = tb.domu(1024);
    tb.run(u);
    in_compat_user_mode(&mut tb);
    sysenter(&mut tb, 2);
    crashed_alone(&tb, u);
}

#[test]
fn sysenter_in_guest_kernel_mode_has_no_stack_to_bounce_to_and_crashes_only_that_domain() {
    let mut tb = Testbed::boot();
    let u = tb.domu(1024);
    tb.run(u);
    assert_eq!(
        register(&mut tb, CALLBACKTYPE_SYSENTER, BASE + 0x2700, 0),
        0
    );
    sysenter(&mut tb, 2);
    crashed_alone(&tb, u);
}
