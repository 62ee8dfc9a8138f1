//! `multicall`: every entry's result written back, failing entries not stopping the others,
//! nesting refused, unknown hypercalls, huge counts continued, bad list pointers, and the
//! entries that end a batch (iret, shutdown) or continue it (yield, a continued call).

use super::iret::{l1e, BASE, MAPPED_END};
use crate::arch::cpu::fs_base;
use crate::testbed::{err, Testbed};
use guest_abi::arch::{IretContext, FLAT_KERNEL_CS64, HYPERVISOR_VIRT_START, SEGBASE_FS};
use guest_abi::callback::CALLBACKOP_REGISTER;
use guest_abi::errno::Errno;
use guest_abi::hypercall::nr;
use guest_abi::mmu::{MmuextOp, UvmfFlags, MMUEXT_TLB_FLUSH_LOCAL};
use guest_abi::multicall::MulticallEntry;
use guest_abi::sched::*;
use guest_abi::types::DomId;
use guest_abi::version::XENVER_VERSION;

/// What a result field holds before the entry runs.
const UNTOUCHED: u64 = 0xDEAD_BEEF;
/// The address of the guest's `syscall` (as `Testbed::hypercall` uses).
const AT: u64 = BASE + 0x1000;

/// The current domain issues hypercall `nr`; a continued call is re-executed with the
/// argument registers its handler advanced, as the guest's CPU would.
/// (`Testbed::hypercall` re-loads the original arguments on each re-execution, which would
/// restart a continued multicall from its first entry for ever.)
fn call(tb: &mut Testbed, nr: usize, args: [u64; 5]) -> i64 {
    call_noting_switches(tb, nr, args).0
}

/// As [`call`], and the domains put on the CPU while the call was continued.
fn call_noting_switches(tb: &mut Testbed, nr: usize, args: [u64; 5]) -> (i64, Vec<DomId>) {
    let c = tb.hypercall_traced(nr, args);
    (c.rax, c.ran)
}

fn entry(op: usize, args: &[u64]) -> MulticallEntry {
    entry_raw(op as u64, args)
}

fn entry_raw(op: u64, args: &[u64]) -> MulticallEntry {
    let mut e = MulticallEntry {
        op,
        result: UNTOUCHED,
        args: [0; 6],
    };
    e.args[..args.len()].copy_from_slice(args);
    e
}

fn write_list(tb: &Testbed, at: u64, list: &[MulticallEntry]) {
    for (i, e) in list.iter().enumerate() {
        tb.write(at + 64 * i as u64, e);
    }
}

fn results(tb: &Testbed, at: u64, n: usize) -> Vec<i64> {
    (0..n as u64)
        .map(|i| tb.read::<MulticallEntry>(at + 64 * i).result as i64)
        .collect()
}

fn version(tb: &mut Testbed) -> i64 {
    let v = tb.hypercall(nr::XEN_VERSION, [u64::from(XENVER_VERSION), 0, 0, 0, 0]);
    assert!(v > 0);
    v
}

fn set_fs(base: u64) -> MulticallEntry {
    entry(nr::SET_SEGMENT_BASE, &[u64::from(SEGBASE_FS), base])
}

const U: i64 = UNTOUCHED as i64;

#[test]
fn multicall_runs_each_entry_and_writes_back_its_result() {
    let mut tb = Testbed::boot();
    let v = version(&mut tb);
    let list = tb.scratch() + 0x1000;
    let ksp = tb.scratch() + 0x7000;
    let calls = [
        entry(nr::XEN_VERSION, &[u64::from(XENVER_VERSION)]),
        set_fs(0x5555_0000),
        entry(nr::STACK_SWITCH, &[0xe02b, ksp]),
    ];
    write_list(&tb, list, &calls);
    assert_eq!(call(&mut tb, nr::MULTICALL, [list, 3, 0, 0, 0]), 0);
    assert_eq!(results(&tb, list, 3), [v, 0, 0]);
    assert_eq!(fs_base(), 0x5555_0000);
    tb.st(|st| assert_eq!(st.cur().vcpus[0].kernel_sp, ksp));
    // Only the result fields were written.
    for (i, c) in calls.iter().enumerate() {
        let got: MulticallEntry = tb.read(list + 64 * i as u64);
        assert_eq!((got.op, got.args), (c.op, c.args));
    }
}

#[test]
fn multicall_a_failing_entry_does_not_stop_the_others() {
    let mut tb = Testbed::boot();
    let v = version(&mut tb);
    let list = tb.scratch() + 0x1000;
    let calls = [
        entry(nr::CALLBACK_OP, &[u64::from(CALLBACKOP_REGISTER), 0x1000]),
        set_fs(0x0000_8000_0000_0000),
        entry(nr::XEN_VERSION, &[u64::from(XENVER_VERSION)]),
        // A Xen hypercall this hypervisor does not implement, one past the table, huge.
        entry(nr::KEXEC_OP, &[0, 0]),
        entry(nr::NR_HYPERCALLS, &[]),
        entry_raw(u64::MAX, &[]),
        entry_raw(1 << 32 | nr::XEN_VERSION as u64, &[]),
        // An argument wider than the handler's declared type.
        entry(nr::SET_SEGMENT_BASE, &[1 << 32, 0x1000]),
        set_fs(0x6666_0000),
    ];
    write_list(&tb, list, &calls);
    assert_eq!(call(&mut tb, nr::MULTICALL, [list, 9, 0, 0, 0]), 0);
    let (efault, einval, enosys) = (err(Errno::EFAULT), err(Errno::EINVAL), err(Errno::ENOSYS));
    assert_eq!(
        results(&tb, list, 9),
        [efault, einval, v, enosys, enosys, enosys, enosys, einval, 0]
    );
    assert_eq!(fs_base(), 0x6666_0000);
}

#[test]
fn multicall_refuses_a_nested_multicall() {
    let mut tb = Testbed::boot();
    let v = version(&mut tb);
    let (outer, inner) = (tb.scratch() + 0x1000, tb.scratch() + 0x2000);
    write_list(&tb, inner, &[set_fs(0x7777_0000)]);
    let fs = fs_base();
    write_list(
        &tb,
        outer,
        &[
            entry(nr::MULTICALL, &[inner, 1]),
            entry(nr::XEN_VERSION, &[u64::from(XENVER_VERSION)]),
        ],
    );
    assert_eq!(call(&mut tb, nr::MULTICALL, [outer, 2, 0, 0, 0]), 0);
    assert_eq!(results(&tb, outer, 2), [err(Errno::EINVAL), v]);
    // The inner batch never ran.
    assert_eq!(results(&tb, inner, 1), [U]);
    assert_eq!(fs_base(), fs);
    tb.st(|st| assert_eq!(st.cur().vcpus[0].fs_base, 0));
}

#[test]
fn multicall_with_no_entries_reads_nothing() {
    let mut tb = Testbed::boot();
    for list in [0, 0x1000, HYPERVISOR_VIRT_START, 0x0000_8000_0000_0000] {
        assert_eq!(call(&mut tb, nr::MULTICALL, [list, 0, 0, 0, 0]), 0);
    }
}

#[test]
fn multicall_refuses_a_count_wider_than_32_bits() {
    let mut tb = Testbed::boot();
    let list = tb.scratch() + 0x1000;
    write_list(&tb, list, &[set_fs(0x7777_0000)]);
    let fs = fs_base();
    for count in [1 << 32, (1 << 32) | 1, u64::MAX] {
        assert_eq!(
            call(&mut tb, nr::MULTICALL, [list, count, 0, 0, 0]),
            err(Errno::EINVAL)
        );
    }
    assert_eq!(results(&tb, list, 1), [U]);
    assert_eq!(fs_base(), fs);
    tb.st(|st| assert_eq!(st.cur().vcpus[0].fs_base, 0));
}

#[test]
fn multicall_of_many_entries_is_continued_until_every_entry_ran_in_order() {
    let mut tb = Testbed::boot();
    let list = tb.scratch() + 0x1000;
    let n = 200u64;
    let calls: Vec<_> = (0..n).map(|i| set_fs(0x1000 * (i + 1))).collect();
    write_list(&tb, list, &calls);
    assert_eq!(call(&mut tb, nr::MULTICALL, [list, n, 0, 0, 0]), 0);
    assert!(results(&tb, list, n as usize).iter().all(|&r| r == 0));
    // The last entry ran last.
    assert_eq!(fs_base(), 0x1000 * n);
    assert_eq!(tb.current(), DomId::DOM0);
}

#[test]
fn multicall_with_a_huge_count_stops_with_efault_at_the_first_unmapped_entry() {
    let mut tb = Testbed::boot();
    let v = version(&mut tb);
    // 100 entries (several batches) end exactly where the mapping ends.
    let n = 100u64;
    let list = MAPPED_END - 64 * n;
    let calls: Vec<_> = (0..n)
        .map(|_| entry(nr::XEN_VERSION, &[u64::from(XENVER_VERSION)]))
        .collect();
    write_list(&tb, list, &calls);
    for count in [n + 1, 0x7FFF_FFFF, 0xFFFF_FFFF] {
        tb.write_bytes(list, &vec![0; 64 * n as usize]);
        write_list(&tb, list, &calls);
        assert_eq!(
            call(&mut tb, nr::MULTICALL, [list, count, 0, 0, 0]),
            err(Errno::EFAULT),
            "count {count:#x}"
        );
        assert!(
            results(&tb, list, n as usize).iter().all(|&r| r == v),
            "count {count:#x}"
        );
    }
}

#[test]
fn multicall_with_a_bad_list_pointer_is_efault() {
    let mut tb = Testbed::boot();
    for list in [
        0x1000,
        HYPERVISOR_VIRT_START,
        HYPERVISOR_VIRT_START + 0x7F_FFC0,
        0x0000_8000_0000_0000,
        // The last entry of the address space: the next one would wrap to 0.
        u64::MAX - 63,
    ] {
        assert_eq!(
            call(&mut tb, nr::MULTICALL, [list, 2, 0, 0, 0]),
            err(Errno::EFAULT),
            "list {list:#x}"
        );
    }
    // A list whose second entry runs off the mapping: the first one ran.
    let list = MAPPED_END - 64 - 32;
    write_list(&tb, list, &[set_fs(0x4444_0000)]);
    assert_eq!(
        call(&mut tb, nr::MULTICALL, [list, 2, 0, 0, 0]),
        err(Errno::EFAULT)
    );
    assert_eq!(results(&tb, list, 1), [0]);
    assert_eq!(fs_base(), 0x4444_0000);
}

#[test]
fn multicall_on_a_read_only_list_runs_the_first_entry_then_faults_writing_its_result() {
    let mut tb = Testbed::boot();
    let list = tb.scratch() + 0x3000;
    write_list(&tb, list, &[set_fs(0x4321_0000), set_fs(0x1234_0000)]);
    // Map the list's page read-only.
    let pte = l1e(&tb, list).2;
    let ro = pte & !2;
    assert_eq!(
        tb.hypercall(
            nr::UPDATE_VA_MAPPING,
            [list, ro, UvmfFlags::INVLPG.bits(), 0, 0]
        ),
        0
    );
    assert_eq!(
        call(&mut tb, nr::MULTICALL, [list, 2, 0, 0, 0]),
        err(Errno::EFAULT)
    );
    // As Xen: the entry ran, its result could not be written, the batch stopped there.
    assert_eq!(fs_base(), 0x4321_0000);
    assert_eq!(results(&tb, list, 2), [U, U]);
}

#[test]
fn multicall_continues_an_entry_whose_handler_continued() {
    let mut tb = Testbed::boot();
    let v = version(&mut tb);
    let s = tb.scratch();
    let (ops, done, list) = (s + 0x2000, s + 0x100, s + 0x1000);
    // More TLB flushes than mmuext_op does before continuing itself.
    let n = 700u64;
    for i in 0..n {
        tb.write(ops + 24 * i, &MmuextOp::new(MMUEXT_TLB_FLUSH_LOCAL, 0, 0));
    }
    tb.write(done, &0u32);
    let dom_self = u64::from(DomId::SELF.0);
    write_list(
        &tb,
        list,
        &[
            entry(nr::MMUEXT_OP, &[ops, n, done, dom_self]),
            entry(nr::XEN_VERSION, &[u64::from(XENVER_VERSION)]),
        ],
    );
    assert_eq!(call(&mut tb, nr::MULTICALL, [list, 2, 0, 0, 0]), 0);
    assert_eq!(results(&tb, list, 2), [0, v]);
    assert_eq!(tb.read::<u32>(done), n as u32);
    // The entry was re-run on what was left: its arguments were advanced in place.
    let e: MulticallEntry = tb.read(list);
    assert_ne!(e.args[1], n);
    assert_eq!(e.args[1] & 0x7FFF_FFFF, n - 512);
    assert_eq!(e.args[0], ops + 24 * 512);
    assert_eq!((e.args[2], e.args[3]), (done, dom_self));
}

#[test]
fn multicall_iret_entry_returns_to_its_context_and_ends_the_batch() {
    let mut tb = Testbed::boot();
    let s = tb.scratch();
    let list = s + 0x1000;
    let ctx = IretContext {
        rax: 0x4242,
        r11: 0,
        rcx: 0,
        flags: 0,
        rip: BASE + 0x2000,
        cs: u64::from(FLAT_KERNEL_CS64 & !3),
        rflags: 1 << 9,
        rsp: s + 0x3000,
        ss: 0xe028,
    };
    tb.write(s + 0x800, &ctx);
    write_list(
        &tb,
        list,
        &[
            set_fs(0x1111_0000),
            entry(nr::IRET, &[]),
            set_fs(0x2222_0000),
        ],
    );
    tb.regs.rsp = s + 0x800;
    assert_eq!(call(&mut tb, nr::MULTICALL, [list, 3, 0, 0, 0]), 0x4242);
    assert_eq!((tb.regs.rip, tb.regs.rsp), (BASE + 0x2000, s + 0x3000));
    assert_eq!(results(&tb, list, 3), [0, 0, U]);
    assert_eq!(fs_base(), 0x1111_0000);
}

#[test]
fn multicall_yield_entry_lets_another_domain_run_and_the_batch_goes_on() {
    let mut tb = Testbed::boot();
    let v = version(&mut tb);
    let u = tb.domu(1024);
    let list = tb.scratch() + 0x1000;
    write_list(
        &tb,
        list,
        &[
            entry(nr::SCHED_OP, &[u64::from(SCHEDOP_YIELD), 0]),
            entry(nr::XEN_VERSION, &[u64::from(XENVER_VERSION)]),
        ],
    );
    let (r, ran) = call_noting_switches(&mut tb, nr::MULTICALL, [list, 2, 0, 0, 0]);
    assert_eq!(r, 0);
    // domU was put on the CPU in between, then dom0 went on with the batch.
    assert_eq!(ran, [u]);
    assert_eq!(results(&tb, list, 2), [0, v]);
    assert_eq!(tb.current(), DomId::DOM0);
}

#[test]
fn multicall_shutdown_entry_ends_a_domus_batch_there() {
    let mut tb = Testbed::boot();
    let u = tb.domu(1024);
    tb.run(u);
    let s = tb.scratch();
    let list = s + 0x1000;
    tb.write(
        s + 0x100,
        &SchedShutdown {
            reason: SHUTDOWN_POWEROFF,
        },
    );
    write_list(
        &tb,
        list,
        &[
            set_fs(0x1111_0000),
            entry(nr::SCHED_OP, &[u64::from(SCHEDOP_SHUTDOWN), s + 0x100]),
            set_fs(0x2222_0000),
        ],
    );
    call(&mut tb, nr::MULTICALL, [list, 3, 0, 0, 0]);
    assert_eq!(tb.current(), DomId::DOM0);
    tb.st(|st| {
        let d = st.dom(u).unwrap();
        assert_eq!(d.shutdown, Some(guest_abi::sched::ShutdownReason::Poweroff));
        assert_eq!(d.vcpus[0].fs_base, 0x1111_0000);
        assert!(st.dom(DomId::DOM0).unwrap().runnable());
    });
    tb.run(u);
    assert_eq!(results(&tb, list, 3), [0, 0, U]);
}

#[test]
fn multicall_entries_run_with_the_callers_privilege() {
    let mut tb = Testbed::boot();
    let u = tb.domu(1024);
    tb.run(u);
    let v = version(&mut tb);
    let s = tb.scratch();
    let list = s + 0x1000;
    tb.write(
        s + 0x100,
        &SchedRemoteShutdown {
            domain_id: DomId(0),
            _pad: 0,
            reason: SHUTDOWN_POWEROFF,
        },
    );
    write_list(
        &tb,
        list,
        &[
            entry(
                nr::SCHED_OP,
                &[u64::from(SCHEDOP_REMOTE_SHUTDOWN), s + 0x100],
            ),
            entry(nr::XEN_VERSION, &[u64::from(XENVER_VERSION)]),
        ],
    );
    assert_eq!(call(&mut tb, nr::MULTICALL, [list, 2, 0, 0, 0]), 0);
    assert_eq!(results(&tb, list, 2), [err(Errno::EPERM), v]);
    assert_eq!(tb.current(), u);
    tb.st(|st| assert!(st.dom(DomId::DOM0).unwrap().shutdown.is_none()));
}
