//! `set_trap_table`, `set_callbacks`, `callback_op`, `stack_switch` and `set_segment_base`:
//! the vCPU's trap table, callbacks, kernel stack and segment bases, and the modelled CPU's
//! FS/GS bases.

use super::iret::{give_user_page_tables, register, set_traps, words, BASE, MAPPED_END};
use crate::arch::cpu::{fs_base, gs_base, read_cr3};
use crate::domain::vcpu_info;
use crate::domain::Callbacks;
use crate::testbed::{err, Testbed};
use guest_abi::arch::{
    IretContext, TrapInfo, FLAT_KERNEL_SS64, FLAT_USER_CS64, FLAT_USER_SS64, HYPERVISOR_VIRT_START,
    SEGBASE_FS, SEGBASE_GS_KERNEL, SEGBASE_GS_USER,
};
use guest_abi::callback::*;
use guest_abi::errno::Errno;
use guest_abi::hypercall::nr;
use guest_abi::sched::ShutdownReason;
use guest_abi::types::DomId;

const NONCANONICAL: u64 = 0x0000_8000_0000_0000;
const HOLE: u64 = HYPERVISOR_VIRT_START + 0x1000;
/// Pointers a guest may not hand the hypervisor: unmapped, in the (supervisor-only)
/// hypervisor hole, non-canonical.
const BAD_POINTERS: [u64; 3] = [0x1000, HOLE, NONCANONICAL];

fn traps(tb: &Testbed) -> Vec<TrapInfo> {
    tb.st(|st| st.cur().vcpus[0].trap_table.to_vec())
}

fn callbacks(tb: &Testbed) -> Callbacks {
    tb.st(|st| st.cur().vcpus[0].callbacks)
}

fn cb_tuple(c: Callbacks) -> (u64, u64, u64, bool, bool) {
    (
        c.event,
        c.failsafe,
        c.syscall,
        c.failsafe_masks_events,
        c.syscall_masks_events,
    )
}

fn unregister(tb: &mut Testbed, ty: u16) -> i64 {
    let at = tb.scratch() + 0xE000;
    tb.write(
        at,
        &CallbackUnregister {
            type_: ty,
            _unused: 0,
        },
    );
    tb.hypercall(
        nr::CALLBACK_OP,
        [u64::from(CALLBACKOP_UNREGISTER), at, 0, 0, 0],
    )
}

fn set_base(tb: &mut Testbed, which: u64, base: u64) -> i64 {
    tb.hypercall(nr::SET_SEGMENT_BASE, [which, base, 0, 0, 0])
}

#[test]
fn set_trap_table_installs_each_entry_at_its_vector_until_a_zero_address() {
    let mut tb = Testbed::boot();
    let t = tb.scratch() + 0x100;
    let entries = [
        TrapInfo::new(14, 0, true, 0xe030, BASE + 0x2000),
        TrapInfo::new(3, 3, false, 0xe030, BASE + 0x2100),
        TrapInfo::new(0x80, 3, false, 0xe030, BASE + 0x2200),
    ];
    for (i, e) in entries.iter().enumerate() {
        tb.write(t + 16 * i as u64, e);
    }
    // The terminator, then an entry that must not be read.
    tb.write(t + 48, &TrapInfo::new(7, 0, false, 0, 0));
    tb.write(t + 64, &TrapInfo::new(6, 0, false, 0xe030, BASE + 0x2300));
    assert_eq!(tb.hypercall(nr::SET_TRAP_TABLE, [t, 0, 0, 0, 0]), 0);
    let got = traps(&tb);
    for (v, e) in got.iter().enumerate() {
        match entries.iter().find(|x| usize::from(x.vector) == v) {
            Some(x) => assert_eq!(e, x, "vector {v}"),
            None => assert_eq!(e.address, 0, "vector {v}"),
        }
    }
    // A later table replaces only the vectors it names.
    set_traps(
        &mut tb,
        t + 0x400,
        &[TrapInfo::new(14, 0, false, 0xe030, BASE + 0x2400)],
    );
    let got = traps(&tb);
    assert_eq!(got[14].address, BASE + 0x2400);
    assert!(!got[14].masks_events());
    assert_eq!(got[3], entries[1]);
    assert_eq!(got[0x80], entries[2]);
}

#[test]
fn set_trap_table_with_a_null_pointer_clears_every_vector() {
    let mut tb = Testbed::boot();
    let t = tb.scratch() + 0x100;
    set_traps(
        &mut tb,
        t,
        &[
            TrapInfo::new(0, 0, false, 0xe030, BASE + 0x2000),
            TrapInfo::new(13, 0, false, 0xe030, BASE + 0x2100),
            TrapInfo::new(255, 3, false, 0xe030, BASE + 0x2200),
        ],
    );
    assert_eq!(traps(&tb).iter().filter(|t| t.address != 0).count(), 3);
    assert_eq!(tb.hypercall(nr::SET_TRAP_TABLE, [0; 5]), 0);
    assert!(traps(&tb).iter().all(|t| t.address == 0));
}

#[test]
fn set_trap_table_refuses_a_noncanonical_or_hole_handler_after_earlier_entries() {
    let mut tb = Testbed::boot();
    let t = tb.scratch() + 0x100;
    for (i, bad) in [NONCANONICAL, HOLE, HYPERVISOR_VIRT_START]
        .into_iter()
        .enumerate()
    {
        let good = TrapInfo::new(i as u8, 0, false, 0xe030, BASE + 0x2000 + i as u64);
        tb.write(t, &good);
        tb.write(t + 16, &TrapInfo::new(20 + i as u8, 0, false, 0xe030, bad));
        tb.write(t + 32, &TrapInfo::new(30, 0, false, 0xe030, BASE + 0x3000));
        tb.write(t + 48, &TrapInfo::default());
        assert_eq!(
            tb.hypercall(nr::SET_TRAP_TABLE, [t, 0, 0, 0, 0]),
            err(Errno::EINVAL),
            "handler {bad:#x}"
        );
        let got = traps(&tb);
        // As Xen: the entries before the bad one are in; it and the rest are not.
        assert_eq!(got[i], good);
        assert_eq!(got[20 + i].address, 0);
        assert_eq!(got[30].address, 0);
    }
}

#[test]
fn set_trap_table_with_a_bad_pointer_is_efault_and_changes_nothing() {
    let mut tb = Testbed::boot();
    let t = tb.scratch() + 0x100;
    set_traps(
        &mut tb,
        t,
        &[TrapInfo::new(13, 0, false, 0xe030, BASE + 0x2000)],
    );
    let before = traps(&tb);
    for p in BAD_POINTERS {
        assert_eq!(
            tb.hypercall(nr::SET_TRAP_TABLE, [p, 0, 0, 0, 0]),
            err(Errno::EFAULT),
            "pointer {p:#x}"
        );
        assert_eq!(traps(&tb), before);
    }
}

#[test]
fn set_trap_table_stops_with_efault_at_an_entry_in_unmapped_memory() {
    let mut tb = Testbed::boot();
    // Two entries on the last mapped page, the third (or the terminator) beyond it.
    let t = MAPPED_END - 32;
    tb.write(t, &TrapInfo::new(1, 0, false, 0xe030, BASE + 0x2000));
    tb.write(t + 16, &TrapInfo::new(2, 0, false, 0xe030, BASE + 0x2100));
    assert_eq!(
        tb.hypercall(nr::SET_TRAP_TABLE, [t, 0, 0, 0, 0]),
        err(Errno::EFAULT)
    );
    let got = traps(&tb);
    assert_eq!(
        (got[1].address, got[2].address),
        (BASE + 0x2000, BASE + 0x2100)
    );
    // An entry straddling the end of the mapping is not taken either.
    let t = MAPPED_END - 8;
    tb.write(t, &(4u64 | (0xe030 << 16)));
    assert_eq!(
        tb.hypercall(nr::SET_TRAP_TABLE, [t, 0, 0, 0, 0]),
        err(Errno::EFAULT)
    );
    assert_eq!(traps(&tb)[4].address, 0);
}

#[test]
fn set_callbacks_sets_the_three_entry_points_and_clears_their_event_masking() {
    let mut tb = Testbed::boot();
    assert_eq!(
        register(
            &mut tb,
            CALLBACKTYPE_SYSCALL,
            BASE + 0x10,
            CALLBACKF_MASK_EVENTS
        ),
        0
    );
    assert_eq!(
        register(
            &mut tb,
            CALLBACKTYPE_FAILSAFE,
            BASE + 0x20,
            CALLBACKF_MASK_EVENTS
        ),
        0
    );
    let (e, f, s) = (BASE + 0x2000, BASE + 0x2100, BASE + 0x2200);
    assert_eq!(tb.hypercall(nr::SET_CALLBACKS, [e, f, s, 0, 0]), 0);
    // As registering each with no flags (Xen): none masks events any more.
    assert_eq!(cb_tuple(callbacks(&tb)), (e, f, s, false, false));
    // Zero unsets them.
    assert_eq!(tb.hypercall(nr::SET_CALLBACKS, [0, 0, 0, 0, 0]), 0);
    assert_eq!(cb_tuple(callbacks(&tb)), (0, 0, 0, false, false));
}

#[test]
fn set_callbacks_refuses_a_noncanonical_or_hole_address_and_changes_nothing() {
    let mut tb = Testbed::boot();
    let (e, f, s) = (BASE + 0x2000, BASE + 0x2100, BASE + 0x2200);
    assert_eq!(tb.hypercall(nr::SET_CALLBACKS, [e, f, s, 0, 0]), 0);
    for bad in [NONCANONICAL, HOLE, u64::MAX >> 1] {
        for args in [[bad, f, s], [e, bad, s], [e, f, bad]] {
            assert_eq!(
                tb.hypercall(nr::SET_CALLBACKS, [args[0], args[1], args[2], 0, 0]),
                err(Errno::EINVAL),
                "{args:x?}"
            );
            assert_eq!(cb_tuple(callbacks(&tb)), (e, f, s, false, false));
        }
    }
}

#[test]
fn callback_op_register_sets_each_callback_and_its_event_mask_flag() {
    let mut tb = Testbed::boot();
    let (e, f, s) = (BASE + 0x2000, BASE + 0x2100, BASE + 0x2200);
    assert_eq!(
        register(&mut tb, CALLBACKTYPE_EVENT, e, CALLBACKF_MASK_EVENTS),
        0
    );
    assert_eq!(
        register(&mut tb, CALLBACKTYPE_FAILSAFE, f, CALLBACKF_MASK_EVENTS),
        0
    );
    assert_eq!(
        register(&mut tb, CALLBACKTYPE_SYSCALL, s, CALLBACKF_MASK_EVENTS),
        0
    );
    assert_eq!(cb_tuple(callbacks(&tb)), (e, f, s, true, true));
    // Registering again replaces the address and the flag.
    assert_eq!(register(&mut tb, CALLBACKTYPE_SYSCALL, s + 8, 0), 0);
    assert_eq!(cb_tuple(callbacks(&tb)), (e, f, s + 8, true, false));
    assert_eq!(register(&mut tb, CALLBACKTYPE_FAILSAFE, f + 8, 0), 0);
    assert_eq!(cb_tuple(callbacks(&tb)), (e, f + 8, s + 8, false, false));
    // The NMI callback is accepted (NMIs are not forwarded yet) and changes nothing else.
    assert_eq!(register(&mut tb, CALLBACKTYPE_NMI, BASE + 0x2300, 0), 0);
    assert_eq!(cb_tuple(callbacks(&tb)), (e, f + 8, s + 8, false, false));
    // Registering 0 unsets one.
    assert_eq!(register(&mut tb, CALLBACKTYPE_EVENT, 0, 0), 0);
    assert_eq!(callbacks(&tb).event, 0);
}

#[test]
fn callback_op_unregister_is_refused_for_event_failsafe_and_syscall_as_in_xen() {
    let mut tb = Testbed::boot();
    let (e, f, s) = (BASE + 0x2000, BASE + 0x2100, BASE + 0x2200);
    assert_eq!(tb.hypercall(nr::SET_CALLBACKS, [e, f, s, 0, 0]), 0);
    for ty in [
        CALLBACKTYPE_EVENT,
        CALLBACKTYPE_FAILSAFE,
        CALLBACKTYPE_SYSCALL,
        CALLBACKTYPE_SYSCALL32,
        CALLBACKTYPE_SYSENTER,
    ] {
        assert_eq!(unregister(&mut tb, ty), err(Errno::EINVAL), "type {ty}");
    }
    assert_eq!(cb_tuple(callbacks(&tb)), (e, f, s, false, false));
    assert_eq!(unregister(&mut tb, CALLBACKTYPE_NMI), 0);
    for ty in [CALLBACKTYPE_SYSENTER_DEPRECATED, 6, 8, 0xFFFF] {
        assert_eq!(unregister(&mut tb, ty), err(Errno::ENOSYS), "type {ty}");
    }
    assert_eq!(cb_tuple(callbacks(&tb)), (e, f, s, false, false));
}

#[test]
fn callback_op_refuses_unknown_types_and_commands_and_bad_addresses() {
    let mut tb = Testbed::boot();
    let (e, f, s) = (BASE + 0x2000, BASE + 0x2100, BASE + 0x2200);
    assert_eq!(tb.hypercall(nr::SET_CALLBACKS, [e, f, s, 0, 0]), 0);
    // Types a 64-bit PV guest cannot register (Xen): ENOSYS.
    for ty in [CALLBACKTYPE_SYSENTER_DEPRECATED, 6, 99] {
        assert_eq!(
            register(&mut tb, ty, BASE + 0x3000, 0),
            err(Errno::ENOSYS),
            "type {ty}"
        );
    }
    // An address the guest cannot run at: EINVAL (checked before the type, as Xen).
    for (ty, bad) in [
        (CALLBACKTYPE_EVENT, NONCANONICAL),
        (CALLBACKTYPE_SYSCALL, HOLE),
        (CALLBACKTYPE_FAILSAFE, u64::MAX >> 1),
        (CALLBACKTYPE_NMI, NONCANONICAL),
        (99, NONCANONICAL),
    ] {
        assert_eq!(
            register(&mut tb, ty, bad, 0),
            err(Errno::EINVAL),
            "{ty} {bad:#x}"
        );
    }
    // Unknown commands: ENOSYS; one wider than the ABI's int: EINVAL.
    let arg = tb.scratch() + 0xE000;
    for cmd in [2, 3, 0x7FFF_FFFF] {
        assert_eq!(
            tb.hypercall(nr::CALLBACK_OP, [cmd, arg, 0, 0, 0]),
            err(Errno::ENOSYS),
            "cmd {cmd}"
        );
    }
    assert_eq!(
        tb.hypercall(nr::CALLBACK_OP, [1 << 32, arg, 0, 0, 0]),
        err(Errno::EINVAL)
    );
    assert_eq!(cb_tuple(callbacks(&tb)), (e, f, s, false, false));
}

#[test]
fn callback_op_with_a_bad_argument_pointer_is_efault() {
    let mut tb = Testbed::boot();
    let (e, f, s) = (BASE + 0x2000, BASE + 0x2100, BASE + 0x2200);
    assert_eq!(tb.hypercall(nr::SET_CALLBACKS, [e, f, s, 0, 0]), 0);
    // The last 8 bytes of the mapping: a register argument (16 bytes) runs past it.
    let straddling = MAPPED_END - 8;
    tb.write(straddling, &u64::from(CALLBACKTYPE_EVENT));
    for cmd in [CALLBACKOP_REGISTER, CALLBACKOP_UNREGISTER] {
        for p in BAD_POINTERS {
            assert_eq!(
                tb.hypercall(nr::CALLBACK_OP, [u64::from(cmd), p, 0, 0, 0]),
                err(Errno::EFAULT),
                "cmd {cmd} pointer {p:#x}"
            );
        }
    }
    assert_eq!(
        tb.hypercall(
            nr::CALLBACK_OP,
            [u64::from(CALLBACKOP_REGISTER), straddling, 0, 0, 0]
        ),
        err(Errno::EFAULT)
    );
    assert_eq!(cb_tuple(callbacks(&tb)), (e, f, s, false, false));
}

#[test]
fn stack_switch_sets_the_kernel_stack_with_a_guest_rpl() {
    let mut tb = Testbed::boot();
    let sp = tb.scratch() + 0x5000;
    for (ss, want) in [
        (u64::from(FLAT_KERNEL_SS64), u64::from(FLAT_KERNEL_SS64)),
        // A ring-0 selector is given the guest kernel's RPL 3.
        (
            u64::from(FLAT_KERNEL_SS64 & !3),
            u64::from(FLAT_KERNEL_SS64),
        ),
    ] {
        assert_eq!(tb.hypercall(nr::STACK_SWITCH, [ss, sp, 0, 0, 0]), 0);
        tb.st(|st| {
            let v = &st.cur().vcpus[0];
            assert_eq!((v.kernel_ss, v.kernel_sp), (want, sp));
        });
    }
    // Only the vCPU that called changes.
    let u = tb.domu(1024);
    tb.run(u);
    assert_eq!(
        tb.hypercall(
            nr::STACK_SWITCH,
            [u64::from(FLAT_KERNEL_SS64), 0x1234_5000, 0, 0, 0]
        ),
        0
    );
    tb.st(|st| {
        assert_eq!(st.dom(DomId::DOM0).unwrap().vcpus[0].kernel_sp, sp);
        assert_eq!(st.dom(u).unwrap().vcpus[0].kernel_sp, 0x1234_5000);
    });
}

/// Put the current domain in user mode at `rip` (user page tables given first).
fn enter_user_mode(tb: &mut Testbed, rip: u64, rsp: u64) {
    let at = tb.scratch() + 0x800;
    tb.write(
        at,
        &IretContext {
            rax: 0,
            r11: 0,
            rcx: 0,
            flags: 0,
            rip,
            cs: u64::from(FLAT_USER_CS64),
            rflags: 1 << 9,
            rsp,
            ss: u64::from(FLAT_USER_SS64),
        },
    );
    tb.regs.rsp = at;
    assert_eq!(tb.hypercall(nr::IRET, [0; 5]), 0);
    tb.st(|st| assert!(!st.cur().vcpus[0].in_kernel));
}

/// A `syscall` instruction executed by the guest's user task at `rip`.
fn user_syscall(tb: &mut Testbed, rip: u64) {
    tb.regs.rip = rip + 2;
    tb.regs.rcx = rip + 2;
    tb.regs.r11 = tb.regs.rflags;
    tb.regs.rax = 39;
    crate::hypercall::syscall_entry(&mut tb.regs);
}

#[test]
fn a_user_mode_syscall_enters_the_syscall_callback_on_the_stack_switch_stack() {
    let mut tb = Testbed::boot();
    let kernel_l4 = tb.st(|st| st.cur().vcpus[0].kernel_l4);
    give_user_page_tables(&mut tb);
    let ksp = tb.scratch() + 0x6008;
    let cb = BASE + 0x2500;
    assert_eq!(
        tb.hypercall(
            nr::STACK_SWITCH,
            [u64::from(FLAT_KERNEL_SS64), ksp, 0, 0, 0]
        ),
        0
    );
    assert_eq!(
        register(&mut tb, CALLBACKTYPE_SYSCALL, cb, CALLBACKF_MASK_EVENTS),
        0
    );
    let (gk, gu) = (0x6000_1000, 0x6000_2000);
    assert_eq!(set_base(&mut tb, u64::from(SEGBASE_GS_KERNEL), gk), 0);
    assert_eq!(set_base(&mut tb, u64::from(SEGBASE_GS_USER), gu), 0);
    enter_user_mode(&mut tb, 0x40_1000, 0x50_0000);
    assert_eq!(gs_base(), gu);
    let masked = |tb: &Testbed| tb.st(|st| vcpu_info::upcall_masked(&st.cur().vcpu_info(0)));
    assert!(!masked(&tb));
    user_syscall(&mut tb, 0x40_1100);
    // The guest kernel's syscall callback, in kernel mode, on the stack_switch stack,
    // with the kernel's page tables and GS base, events masked (CALLBACKF_mask_events).
    tb.st(|st| assert!(st.cur().vcpus[0].in_kernel && st.cur().runnable()));
    assert_eq!(read_cr3(), kernel_l4.addr());
    assert_eq!(gs_base(), gk);
    assert!(masked(&tb));
    let frame = (ksp & !0xF) - 7 * 8;
    assert_eq!(
        (tb.regs.rip, tb.regs.rsp, tb.regs.ss),
        (cb, frame, FLAT_KERNEL_SS64)
    );
    // rcx, r11, then the user context (RPL 3, events were enabled).
    assert_eq!(
        words(&tb, frame, 7),
        [
            0x40_1102,
            (1 << 9) | 2,
            0x40_1102,
            u64::from(FLAT_USER_CS64),
            (1 << 9) | 2,
            0x50_0000,
            u64::from(FLAT_USER_SS64)
        ]
    );
}

#[test]
fn a_user_mode_syscall_with_no_callback_or_no_kernel_stack_crashes_only_that_domain() {
    let mut tb = Testbed::boot();
    for with_callback in [false, true] {
        let u = tb.domu(1024);
        tb.run(u);
        give_user_page_tables(&mut tb);
        if with_callback {
            assert_eq!(register(&mut tb, CALLBACKTYPE_SYSCALL, BASE + 0x2500, 0), 0);
            // A kernel stack the hypervisor cannot write the frame to.
            assert_eq!(
                tb.hypercall(
                    nr::STACK_SWITCH,
                    [u64::from(FLAT_KERNEL_SS64), HOLE, 0, 0, 0]
                ),
                0
            );
        }
        enter_user_mode(&mut tb, 0x40_1000, 0x50_0000);
        user_syscall(&mut tb, 0x40_1100);
        assert_eq!(
            tb.st(|st| st.dom(u).unwrap().shutdown),
            Some(ShutdownReason::Crash),
            "with callback: {with_callback}"
        );
        assert_eq!(tb.current(), DomId::DOM0);
        tb.st(|st| assert!(st.dom(DomId::DOM0).unwrap().runnable()));
    }
}

#[test]
fn set_segment_base_loads_fs_and_the_kernel_gs_base_in_kernel_mode() {
    let mut tb = Testbed::boot();
    let (f, gk, gu) = (0x1000_0000, 0xFFFF_FFFF_8123_0000, 0x2000_0000);
    assert_eq!(set_base(&mut tb, u64::from(SEGBASE_FS), f), 0);
    assert_eq!(set_base(&mut tb, u64::from(SEGBASE_GS_KERNEL), gk), 0);
    assert_eq!(fs_base(), f);
    assert_eq!(gs_base(), gk);
    // The user GS base is kept for user mode, not loaded in kernel mode.
    assert_eq!(set_base(&mut tb, u64::from(SEGBASE_GS_USER), gu), 0);
    assert_eq!(gs_base(), gk);
    tb.st(|st| {
        let v = &st.cur().vcpus[0];
        assert_eq!((v.fs_base, v.gs_base_kernel, v.gs_base_user), (f, gk, gu));
    });
    // ... and loaded by the return to user mode.
    give_user_page_tables(&mut tb);
    enter_user_mode(&mut tb, 0x40_1000, 0x50_0000);
    assert_eq!((fs_base(), gs_base()), (f, gu));
}

#[test]
fn segment_bases_follow_their_vcpu_across_switches() {
    let mut tb = Testbed::boot();
    let u = tb.domu(1024);
    assert_eq!(set_base(&mut tb, u64::from(SEGBASE_FS), 0x1111_0000), 0);
    assert_eq!(
        set_base(&mut tb, u64::from(SEGBASE_GS_KERNEL), 0x2222_0000),
        0
    );
    tb.run(u);
    assert_eq!((fs_base(), gs_base()), (0, 0));
    assert_eq!(set_base(&mut tb, u64::from(SEGBASE_FS), 0x3333_0000), 0);
    assert_eq!(
        set_base(&mut tb, u64::from(SEGBASE_GS_KERNEL), 0x4444_0000),
        0
    );
    tb.run(DomId::DOM0);
    assert_eq!((fs_base(), gs_base()), (0x1111_0000, 0x2222_0000));
    tb.run(u);
    assert_eq!((fs_base(), gs_base()), (0x3333_0000, 0x4444_0000));
}

#[test]
fn data_selectors_follow_their_vcpu_and_one_its_tables_no_longer_hold_loads_null() {
    use crate::arch::cpu::{data_selectors, load_data_selectors};
    let mut tb = Testbed::boot();
    let u = tb.domu(1024);
    let ds = FLAT_USER_SS64;
    // dom0 loaded the flat data segment into DS, ES and GS (as a guest's `mov` would).
    let mine = [ds, ds, 0, ds];
    load_data_selectors(mine);
    tb.run(u);
    assert_eq!(data_selectors(), [0; 4], "the domU never loaded any");
    // The domU loads DS, and into FS an LDT selector while it has no LDT (say, one it
    // just dropped): that one cannot be reloaded.
    load_data_selectors([ds, 0, 0x1007, 0]);
    tb.run(DomId::DOM0);
    assert_eq!(data_selectors(), mine);
    tb.run(u);
    assert_eq!(data_selectors(), [ds, 0, 0, 0]);
    // The bases are the vCPU's, set after the selectors.
    assert_eq!(set_base(&mut tb, u64::from(SEGBASE_FS), 0x7000_0000), 0);
    tb.run(DomId::DOM0);
    tb.run(u);
    assert_eq!(fs_base(), 0x7000_0000);
}

#[test]
fn set_segment_base_refuses_noncanonical_bases_and_unknown_selectors() {
    let mut tb = Testbed::boot();
    let (f, gk, gu) = (0x1000_0000, 0x1800_0000, 0x2000_0000);
    for (w, b) in [
        (SEGBASE_FS, f),
        (SEGBASE_GS_KERNEL, gk),
        (SEGBASE_GS_USER, gu),
    ] {
        assert_eq!(set_base(&mut tb, u64::from(w), b), 0);
    }
    for which in [SEGBASE_FS, SEGBASE_GS_USER, SEGBASE_GS_KERNEL] {
        for bad in [
            NONCANONICAL,
            0x7FFF_FFFF_FFFF_F000,
            0xFFFF_0000_0000_0000 - 1,
        ] {
            assert_eq!(
                set_base(&mut tb, u64::from(which), bad),
                err(Errno::EINVAL),
                "which {which} base {bad:#x}"
            );
        }
    }
    for which in [4, 0xFFFF_FFFF] {
        assert_eq!(set_base(&mut tb, which, 0x1000), err(Errno::EINVAL));
    }
    // Wider than the ABI's unsigned int: refused, not truncated to SEGBASE_FS.
    assert_eq!(set_base(&mut tb, 1 << 32, 0x1000), err(Errno::EINVAL));
    assert_eq!((fs_base(), gs_base()), (f, gk));
    tb.st(|st| {
        let v = &st.cur().vcpus[0];
        assert_eq!((v.fs_base, v.gs_base_kernel, v.gs_base_user), (f, gk, gu));
    });
}
