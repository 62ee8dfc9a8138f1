//! `iret` (and the bounce frames of `domain::bounce` it falls back on): returns to guest
//! kernel and user mode with the iret context on the guest stack, `VGCF_in_syscall`, and
//! contexts the CPU cannot enter (#GP, failsafe callback, or the domain crashed).

use crate::domain::vcpu_info;
use crate::mm::page_types::{PageType, TableMem};
use crate::testbed::{err, Testbed};
use guest_abi::arch::{
    IretContext, TrapInfo, VgcfFlags, FLAT_KERNEL_CS64, FLAT_KERNEL_SS64, FLAT_RING3_CS32,
    FLAT_USER_CS64, FLAT_USER_SS64, HYPERVISOR_VIRT_START, SEGBASE_GS_KERNEL, SEGBASE_GS_USER,
    TRAP_SYSCALL,
};
use guest_abi::callback::*;
use guest_abi::errno::Errno;
use guest_abi::hypercall::nr;
use guest_abi::mmu::{MmuextOp, UvmfFlags, MMUEXT_COPY_PAGE, MMUEXT_NEW_USER_BASEPTR};
use guest_abi::sched::ShutdownReason;
use guest_abi::types::{DomId, Mfn};

/// Where the test kernel (and every test domain's memory) is mapped.
pub(super) const BASE: u64 = 0xFFFF_FFFF_8000_0000;
/// The first address past a 1024-page domain's initial mapping.
pub(super) const MAPPED_END: u64 = BASE + 0x40_0000;
/// A guest user-mode address (the user page tables copy the kernel's, so any will do).
const USER_RIP: u64 = 0x0040_1000;
const USER_RSP: u64 = 0x0050_0000;
const RFLAGS_IF: u64 = 1 << 9;
/// The selectors of a guest-kernel frame as a bounce frame gives them (RPL 0).
const KERNEL_CS_RPL0: u64 = (FLAT_KERNEL_CS64 & !3) as u64;
const KERNEL_SS_RPL0: u64 = (FLAT_KERNEL_SS64 & !3) as u64;
/// The hypervisor's own code and stack selectors (not usable by a guest).
const XEN_CS: u64 = 0xe008;
const XEN_SS: u64 = 0xe010;

/// The L1 table, index and entry mapping `va` in the current domain's live page tables.
pub(super) fn l1e(tb: &Testbed, va: u64) -> (Mfn, usize, u64) {
    tb.st(|st| {
        let l4 = st.cur().vcpus[0].active_l4();
        let (t, idx) = crate::mm::guest_walk::l1_slot(&st.mem, l4, va).expect("mapped");
        (t, idx, st.mem.read(t, idx))
    })
}

/// Give the current domain user page tables distinct from its kernel ones (a copy of its
/// kernel L4 in a frame taken out of its initial mapping), as a guest does with
/// `MMUEXT_NEW_USER_BASEPTR`. Returns the user L4.
pub(super) fn give_user_page_tables(tb: &mut Testbed) -> Mfn {
    let va = BASE + 0x20_0000;
    let frame = crate::mm::pte::mfn(l1e(tb, va).2);
    assert_eq!(
        tb.hypercall(
            nr::UPDATE_VA_MAPPING,
            [va, 0, UvmfFlags::TLB_FLUSH.bits(), 0, 0]
        ),
        0
    );
    let kernel_l4 = tb.st(|st| st.cur().vcpus[0].kernel_l4);
    let ops = tb.scratch() + 0xF000;
    tb.write(
        ops,
        &[
            MmuextOp::new(MMUEXT_COPY_PAGE, frame.0, kernel_l4.0),
            MmuextOp::new(MMUEXT_NEW_USER_BASEPTR, frame.0, 0),
        ],
    );
    assert_eq!(
        tb.hypercall(nr::MMUEXT_OP, [ops, 2, 0, u64::from(DomId::SELF.0), 0]),
        0
    );
    tb.st(|st| {
        assert_eq!(st.cur().vcpus[0].user_l4, frame);
        let (ft, _) = st.frame_table();
        assert_eq!(ft.get(frame).map(|p| p.ptype), Some(PageType::L4));
    });
    frame
}

/// Install `traps` with `set_trap_table` (the table written at `at`).
pub(super) fn set_traps(tb: &mut Testbed, at: u64, traps: &[TrapInfo]) {
    for (i, t) in traps.iter().enumerate() {
        tb.write(at + 16 * i as u64, t);
    }
    tb.write(at + 16 * traps.len() as u64, &TrapInfo::default());
    assert_eq!(tb.hypercall(nr::SET_TRAP_TABLE, [at, 0, 0, 0, 0]), 0);
}

/// Register callback `ty` at `address` with `flags` through `callback_op`.
pub(super) fn register(tb: &mut Testbed, ty: u16, address: u64, flags: u16) -> i64 {
    let at = tb.scratch() + 0xE000;
    tb.write(
        at,
        &CallbackRegister {
            type_: ty,
            flags,
            _pad: 0,
            address,
        },
    );
    tb.hypercall(
        nr::CALLBACK_OP,
        [u64::from(CALLBACKOP_REGISTER), at, 0, 0, 0],
    )
}

/// `n` words of guest memory at `va`.
pub(super) fn words(tb: &Testbed, va: u64, n: usize) -> Vec<u64> {
    (0..n as u64).map(|i| tb.read::<u64>(va + 8 * i)).collect()
}

/// Issue `iret` with `ctx` on the guest stack at `sp`; the guest's rax afterwards.
fn iret(tb: &mut Testbed, sp: u64, ctx: &IretContext) -> i64 {
    tb.write(sp, ctx);
    tb.regs.rsp = sp;
    tb.hypercall(nr::IRET, [0; 5])
}

fn masked(tb: &Testbed) -> bool {
    tb.st(|st| vcpu_info::upcall_masked(&st.cur().vcpu_info(0)))
}

/// A context returning to guest kernel code at `rip` on stack `rsp`.
fn kernel_ctx(rip: u64, rsp: u64) -> IretContext {
    IretContext {
        rax: 0x1111,
        r11: 0x2222,
        rcx: 0x3333,
        flags: 0,
        rip,
        cs: KERNEL_CS_RPL0,
        rflags: RFLAGS_IF | 1,
        rsp,
        ss: KERNEL_SS_RPL0,
    }
}

fn crashed(tb: &Testbed, id: DomId) -> bool {
    tb.st(|st| st.dom(id).map(|d| d.shutdown)) == Some(Some(ShutdownReason::Crash))
}

#[test]
fn iret_returns_to_the_kernel_context_on_the_guest_stack() {
    let mut tb = Testbed::boot();
    let s = tb.scratch();
    let cr3 = crate::arch::cpu::read_cr3();
    assert!(masked(&tb), "a vCPU starts with events masked");
    tb.regs.entry_vector = TRAP_SYSCALL;
    let rax = iret(&mut tb, s + 0x800, &kernel_ctx(BASE + 0x2000, s + 0x3000));
    // The guest gets the saved rax; every register of the frame is restored, with RPL 3.
    assert_eq!(rax, 0x1111);
    let r = tb.regs;
    assert_eq!(
        (r.rip, r.cs, r.rsp, r.ss, r.rcx, r.r11),
        (
            BASE + 0x2000,
            FLAT_KERNEL_CS64,
            s + 0x3000,
            FLAT_KERNEL_SS64,
            0x3333,
            0x2222
        )
    );
    assert_eq!(r.rflags, RFLAGS_IF | 2 | 1);
    // Not a syscall return: the exit must not use sysret (which would clobber rcx/r11).
    assert_eq!(r.entry_vector, 0);
    // IF set in the frame unmasks event upcalls.
    assert!(!masked(&tb));
    tb.st(|st| assert!(st.cur().vcpus[0].in_kernel));
    assert!(crate::domain::state::current_in_kernel());
    assert_eq!(crate::arch::cpu::read_cr3(), cr3);
}

#[test]
fn iret_with_if_clear_masks_event_upcalls_but_runs_with_if_set() {
    let mut tb = Testbed::boot();
    let s = tb.scratch();
    let mut ctx = kernel_ctx(BASE + 0x2000, s + 0x3000);
    iret(&mut tb, s + 0x800, &ctx);
    assert!(!masked(&tb));
    ctx.rflags = 0;
    iret(&mut tb, s + 0x800, &ctx);
    assert!(masked(&tb));
    // The virtual IF is the upcall mask; the real one stays set.
    assert_eq!(tb.regs.rflags, RFLAGS_IF | 2);
}

#[test]
fn iret_keeps_only_the_flags_a_guest_may_restore() {
    let mut tb = Testbed::boot();
    let s = tb.scratch();
    let mut ctx = kernel_ctx(BASE + 0x2000, s + 0x3000);
    ctx.rflags = u64::MAX;
    iret(&mut tb, s + 0x800, &ctx);
    let f = tb.regs.rflags;
    assert_eq!(f & (3 << 12), 0, "IOPL must stay 0: {f:#x}");
    assert_eq!(f & (1 << 17), 0, "VM must stay clear: {f:#x}");
    assert_eq!(f & (3 << 19), 0, "VIF/VIP must stay clear: {f:#x}");
    // CF PF AF ZF SF TF IF DF OF NT RF AC ID and the fixed bit 1.
    assert_eq!(f, 0x0025_4FD7);
}

#[test]
fn iret_in_syscall_returns_as_sysret_with_rcx_and_r11_clobbered() {
    let mut tb = Testbed::boot();
    let s = tb.scratch();
    let mut ctx = kernel_ctx(BASE + 0x2400, s + 0x3000);
    ctx.flags = VgcfFlags::IN_SYSCALL.bits();
    ctx.rflags = RFLAGS_IF | (1 << 11);
    tb.regs.entry_vector = TRAP_SYSCALL;
    assert_eq!(iret(&mut tb, s + 0x800, &ctx), 0x1111);
    let r = tb.regs;
    assert_eq!(r.rip, BASE + 0x2400);
    // sysret takes rip from rcx and rflags from r11: they hold exactly those.
    assert_eq!(r.rcx, BASE + 0x2400);
    assert_eq!(r.r11, RFLAGS_IF | (1 << 11) | 2);
    assert_eq!(r.r11, r.rflags);
    assert_eq!(r.entry_vector, TRAP_SYSCALL);
}

#[test]
fn iret_to_user_mode_switches_to_the_user_page_tables_and_gs_base() {
    let mut tb = Testbed::boot();
    let s = tb.scratch();
    let user_l4 = give_user_page_tables(&mut tb);
    let kernel_l4 = tb.st(|st| st.cur().vcpus[0].kernel_l4);
    assert_ne!(user_l4, kernel_l4);
    let (gk, gu) = (0x7000_1000, 0x7000_2000);
    let set_gs = |tb: &mut Testbed, which: u32, base| {
        tb.hypercall(nr::SET_SEGMENT_BASE, [u64::from(which), base, 0, 0, 0])
    };
    assert_eq!(set_gs(&mut tb, SEGBASE_GS_KERNEL, gk), 0);
    assert_eq!(set_gs(&mut tb, SEGBASE_GS_USER, gu), 0);
    assert_eq!(crate::arch::cpu::gs_base(), gk);
    let ctx = IretContext {
        rax: 5,
        r11: 6,
        rcx: 7,
        flags: 0,
        rip: USER_RIP,
        cs: u64::from(FLAT_USER_CS64),
        rflags: RFLAGS_IF,
        rsp: USER_RSP,
        ss: u64::from(FLAT_USER_SS64),
    };
    assert_eq!(iret(&mut tb, s + 0x800, &ctx), 5);
    let r = tb.regs;
    assert_eq!(
        (r.rip, r.cs, r.rsp, r.ss, r.rcx, r.r11),
        (USER_RIP, FLAT_USER_CS64, USER_RSP, FLAT_USER_SS64, 7, 6)
    );
    tb.st(|st| {
        let v = &st.cur().vcpus[0];
        assert!(!v.in_kernel);
        assert_eq!(v.gs_base_kernel, gk);
    });
    assert!(!crate::domain::state::current_in_kernel());
    assert_eq!(crate::arch::cpu::read_cr3(), user_l4.addr());
    assert_eq!(crate::arch::cpu::gs_base(), gu);
}

#[test]
fn iret_to_user_mode_without_user_page_tables_crashes_the_domain() {
    let mut tb = Testbed::boot();
    let u = tb.domu(1024);
    tb.run(u);
    let s = tb.scratch();
    let mut ctx = kernel_ctx(USER_RIP, USER_RSP);
    ctx.cs = u64::from(FLAT_USER_CS64);
    ctx.ss = u64::from(FLAT_USER_SS64);
    assert_eq!(iret(&mut tb, s + 0x800, &ctx), err(Errno::EFAULT));
    assert!(crashed(&tb, u));
    // dom0 runs on, untouched.
    assert_eq!(tb.current(), DomId::DOM0);
    tb.st(|st| {
        let d = st.dom(DomId::DOM0).unwrap();
        assert!(d.runnable() && d.shutdown.is_none() && d.vcpus[0].in_kernel);
        assert!(st.dom(u).unwrap().vcpus[0].in_kernel);
    });
}

#[test]
fn iret_with_an_unreadable_frame_crashes_the_domain() {
    let mut tb = Testbed::boot();
    for sp in [
        0x1000,                         // unmapped
        HYPERVISOR_VIRT_START + 0x1000, // the hypervisor's (supervisor-only) hole
        0x0000_8000_0000_0000,          // non-canonical
        MAPPED_END - 40,                // the frame runs into unmapped memory
    ] {
        let u = tb.domu(1024);
        tb.run(u);
        tb.regs.rsp = sp;
        assert_eq!(
            tb.hypercall(nr::IRET, [0; 5]),
            err(Errno::EFAULT),
            "rsp {sp:#x}"
        );
        assert!(crashed(&tb, u), "rsp {sp:#x}");
        assert_eq!(tb.current(), DomId::DOM0);
        // Nothing of the frame was taken: the crashed vCPU is left at the hypercall.
        tb.st(|st| {
            let r = st.dom(u).unwrap().vcpus[0].regs;
            assert_eq!((r.rip, r.rsp), (BASE + 0x1002, sp));
        });
        tb.st(|st| assert!(st.dom(DomId::DOM0).unwrap().runnable()));
    }
}

#[test]
fn iret_to_a_noncanonical_rip_delivers_a_gp_to_the_guest_kernel() {
    let mut tb = Testbed::boot();
    let s = tb.scratch();
    let gp = BASE + 0x2800;
    set_traps(&mut tb, s + 0x8000, &[TrapInfo::new(13, 0, true, 0, gp)]);
    let bad = 0x0000_8000_0000_0000;
    let stack = s + 0x3008; // the frame goes below it, 16-aligned
    let rax = iret(&mut tb, s + 0x800, &kernel_ctx(bad, stack));
    assert_eq!(rax, 0x1111);
    let r = tb.regs;
    assert_eq!(
        (r.rip, r.cs, r.ss),
        (gp, FLAT_KERNEL_CS64, FLAT_KERNEL_SS64)
    );
    let frame = (s + 0x3000) - 8 * 8;
    assert_eq!(r.rsp, frame);
    // rcx, r11, error code 0, then the context that could not be entered (the guest
    // kernel's own mode: RPL 0; events were unmasked by the frame's IF).
    assert_eq!(
        words(&tb, frame, 8),
        [
            0x3333,
            0x2222,
            0,
            bad,
            KERNEL_CS_RPL0,
            RFLAGS_IF | 3,
            stack,
            u64::from(FLAT_KERNEL_SS64)
        ]
    );
    // The #GP gate masks events (TI_IF).
    assert!(masked(&tb));
    tb.st(|st| assert!(st.cur().runnable()));
}

#[test]
fn iret_to_32bit_code_above_4gib_delivers_a_gp() {
    let mut tb = Testbed::boot();
    let s = tb.scratch();
    let gp = BASE + 0x2800;
    set_traps(&mut tb, s + 0x8000, &[TrapInfo::new(13, 0, false, 0, gp)]);
    let mut ctx = kernel_ctx(0x1_0000_0000, s + 0x3000);
    ctx.cs = u64::from(FLAT_RING3_CS32 & !3);
    iret(&mut tb, s + 0x800, &ctx);
    assert_eq!(tb.regs.rip, gp);
    assert_eq!(words(&tb, tb.regs.rsp + 16, 2), [0, 0x1_0000_0000]);
    assert!(!masked(&tb));
    // Within 4 GiB the same selector is a good return.
    ctx.rip = 0xFFFF_F000;
    iret(&mut tb, s + 0x800, &ctx);
    assert_eq!((tb.regs.rip, tb.regs.cs), (0xFFFF_F000, FLAT_RING3_CS32));
}

#[test]
fn iret_to_user_mode_with_a_noncanonical_rip_bounces_the_gp_onto_the_kernel_stack() {
    let mut tb = Testbed::boot();
    let s = tb.scratch();
    give_user_page_tables(&mut tb);
    let kernel_l4 = tb.st(|st| st.cur().vcpus[0].kernel_l4);
    let gp = BASE + 0x2800;
    set_traps(&mut tb, s + 0x8000, &[TrapInfo::new(13, 0, false, 0, gp)]);
    let ksp = s + 0x6000;
    assert_eq!(
        tb.hypercall(
            nr::STACK_SWITCH,
            [u64::from(FLAT_KERNEL_SS64), ksp, 0, 0, 0]
        ),
        0
    );
    let bad = 0xFFFF_0000_0000_0000;
    let ctx = IretContext {
        rax: 1,
        r11: 2,
        rcx: 3,
        flags: 0,
        rip: bad,
        cs: u64::from(FLAT_USER_CS64),
        rflags: RFLAGS_IF,
        rsp: USER_RSP,
        ss: u64::from(FLAT_USER_SS64),
    };
    iret(&mut tb, s + 0x800, &ctx);
    // Back in guest kernel mode, on its registered stack, at its #GP handler.
    tb.st(|st| assert!(st.cur().vcpus[0].in_kernel));
    assert_eq!(crate::arch::cpu::read_cr3(), kernel_l4.addr());
    assert_eq!(tb.regs.rip, gp);
    assert_eq!(tb.regs.rsp, ksp - 8 * 8);
    // The frame names the user context (RPL 3 selectors).
    assert_eq!(
        words(&tb, ksp - 8 * 8, 8),
        [
            3,
            2,
            0,
            bad,
            u64::from(FLAT_USER_CS64),
            RFLAGS_IF | 2,
            USER_RSP,
            u64::from(FLAT_USER_SS64)
        ]
    );
}

#[test]
fn iret_with_hypervisor_selectors_goes_to_the_failsafe_callback() {
    let mut tb = Testbed::boot();
    let s = tb.scratch();
    let failsafe = BASE + 0x2C00;
    assert_eq!(
        register(
            &mut tb,
            CALLBACKTYPE_FAILSAFE,
            failsafe,
            CALLBACKF_MASK_EVENTS
        ),
        0
    );
    // A #GP handler does not take it: the selectors themselves are unusable.
    set_traps(
        &mut tb,
        s + 0x8000,
        &[TrapInfo::new(13, 0, false, 0, BASE + 0x2800)],
    );
    // The guest loaded its own data selectors (the flat data segment into DS and GS).
    let ds = FLAT_KERNEL_SS64;
    crate::arch::cpu::load_data_selectors([ds, 0, 0, ds]);
    for (cs, ss) in [(XEN_CS, KERNEL_SS_RPL0), (KERNEL_CS_RPL0, XEN_SS)] {
        let segs = [ds, 0, 0, ds].map(u64::from);
        let mut ctx = kernel_ctx(BASE + 0x2000, s + 0x3000);
        ctx.cs = cs;
        ctx.ss = ss;
        iret(&mut tb, s + 0x800, &ctx);
        let r = tb.regs;
        assert_eq!(r.rip, failsafe, "cs {cs:#x} ss {ss:#x}");
        assert_eq!((r.cs, r.ss), (FLAT_KERNEL_CS64, FLAT_KERNEL_SS64));
        let frame = s + 0x3000 - 11 * 8;
        assert_eq!(r.rsp, frame);
        // rcx, r11, ds, es, fs, gs, then the context with the bad selector (RPL 0).
        let w = words(&tb, frame, 11);
        assert_eq!(w[..2], [0x3333, 0x2222]);
        assert_eq!(w[2..6], segs);
        assert_eq!(
            w[6..],
            [BASE + 0x2000, cs, RFLAGS_IF | 3, s + 0x3000, ss | 3]
        );
        // Registered with CALLBACKF_mask_events: the callback runs with events masked.
        assert!(masked(&tb), "cs {cs:#x} ss {ss:#x}");
    }
    tb.st(|st| assert!(st.cur().runnable()));
}

#[test]
fn iret_to_a_noncanonical_rip_without_a_gp_handler_goes_to_the_failsafe_callback() {
    let mut tb = Testbed::boot();
    let s = tb.scratch();
    let failsafe = BASE + 0x2C00;
    assert_eq!(register(&mut tb, CALLBACKTYPE_FAILSAFE, failsafe, 0), 0);
    let bad = 0x0000_8000_0000_0000;
    iret(&mut tb, s + 0x800, &kernel_ctx(bad, s + 0x3000));
    assert_eq!(tb.regs.rip, failsafe);
    assert_eq!(words(&tb, tb.regs.rsp + 6 * 8, 1), [bad]);
    // Registered without CALLBACKF_mask_events: events stay as the frame left them.
    assert!(!masked(&tb));
}

#[test]
fn iret_to_an_unenterable_context_with_no_handler_crashes_the_domain() {
    let mut tb = Testbed::boot();
    for (rip, cs) in [
        (0x0000_8000_0000_0000, KERNEL_CS_RPL0),
        (BASE + 0x2000, XEN_CS),
    ] {
        let u = tb.domu(1024);
        tb.run(u);
        let s = tb.scratch();
        let mut ctx = kernel_ctx(rip, s + 0x3000);
        ctx.cs = cs;
        assert_eq!(iret(&mut tb, s + 0x800, &ctx), err(Errno::EFAULT));
        assert!(crashed(&tb, u), "rip {rip:#x} cs {cs:#x}");
        assert_eq!(tb.current(), DomId::DOM0);
    }
    tb.st(|st| assert!(st.dom(DomId::DOM0).unwrap().runnable()));
}

#[test]
fn iret_to_a_rip_in_the_hypervisor_hole_is_left_to_fault_in_the_guest() {
    // A canonical rip the guest cannot execute (the hole is supervisor-only): iretq can
    // enter it; the instruction fetch then faults in guest context, to the guest.
    let mut tb = Testbed::boot();
    let s = tb.scratch();
    let rip = HYPERVISOR_VIRT_START + 0x10_0000;
    assert_eq!(
        iret(&mut tb, s + 0x800, &kernel_ctx(rip, s + 0x3000)),
        0x1111
    );
    assert_eq!((tb.regs.rip, tb.regs.cs), (rip, FLAT_KERNEL_CS64));
    tb.st(|st| assert!(st.cur().runnable()));
}
