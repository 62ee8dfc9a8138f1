//! `vcpu_op` on the caller's own vCPU: is_up, get_runstate_info (the scheduler's runstate
//! accounting as the guest reads it), a registered runstate area (kept current through every
//! change of state, with and without the update flag), the periodic and one-shot timers
//! (VIRQ_TIMER when due, after the modelled time moves and a scheduling pass),
//! initialise/up of a running vCPU, down of the last one (the domain powers off); bad vCPU
//! ids, bad pointers and out-of-range arguments.

use crate::arch::cpu::advance_ns;
use crate::evtchn::two_level;
use crate::evtchn::SharedWords;
use crate::testbed::{err, Testbed};
use guest_abi::errno::Errno;
use guest_abi::hypercall::nr;
use guest_abi::mmu::{VMASST_CMD_ENABLE, VMASST_TYPE_RUNSTATE_UPDATE_FLAG};
use guest_abi::sched::ShutdownReason;
use guest_abi::types::{DomId, EvtchnPort};
use guest_abi::vcpu::*;

const MS: u64 = 1_000_000;

fn now() -> u64 {
    crate::time::now()
}

fn vcpu_op(tb: &mut Testbed, cmd: u32, vcpu: u64, arg: u64) -> i64 {
    tb.hypercall(nr::VCPU_OP, [u64::from(cmd), vcpu, arg, 0, 0])
}

fn clear(tb: &Testbed, dom: DomId, port: u32) {
    tb.st(|st| {
        let d = st.dom(dom).expect("domain exists");
        two_level::clear_pending(&SharedWords::new(d, 0), EvtchnPort(port));
    });
}

fn timers(tb: &Testbed, dom: DomId) -> crate::time::Timers {
    tb.st(|st| st.dom(dom).expect("domain exists").vcpus[0].timers.clone())
}

fn runstate(tb: &mut Testbed) -> VcpuRunstateInfo {
    let buf = tb.scratch();
    tb.write(buf, &VcpuRunstateInfo::default());
    assert_eq!(vcpu_op(tb, VCPUOP_GET_RUNSTATE_INFO, 0, buf), 0);
    tb.read(buf)
}

#[test]
fn is_up_says_the_booted_vcpu_is_online() {
    let mut tb = Testbed::boot();
    assert_eq!(vcpu_op(&mut tb, VCPUOP_IS_UP, 0, 0), 1);
    let u = tb.domu(1024);
    tb.run(u);
    assert_eq!(vcpu_op(&mut tb, VCPUOP_IS_UP, 0, 0), 1);
    assert!(tb.st(|st| st.cur().vcpus[0].online));
}

#[test]
fn a_vcpu_the_domain_does_not_have_is_enoent_for_every_op() {
    let mut tb = Testbed::boot();
    let buf = tb.scratch();
    let cmds = [
        VCPUOP_INITIALISE,
        VCPUOP_UP,
        VCPUOP_DOWN,
        VCPUOP_IS_UP,
        VCPUOP_GET_RUNSTATE_INFO,
        VCPUOP_SET_PERIODIC_TIMER,
        VCPUOP_STOP_PERIODIC_TIMER,
        VCPUOP_SET_SINGLESHOT_TIMER,
        VCPUOP_STOP_SINGLESHOT_TIMER,
        VCPUOP_REGISTER_VCPU_INFO,
        99,
    ];
    tb.write(buf, &VcpuSetPeriodicTimer { period_ns: 10 * MS });
    let max = tb.st(|st| st.cur().max_vcpus());
    let before = timers(&tb, DomId::DOM0);
    for cmd in cmds {
        for vcpu in [
            u64::from(max),
            u64::from(crate::domain::MAX_VCPUS),
            0xFFFF_FFFF,
        ] {
            assert_eq!(
                vcpu_op(&mut tb, cmd, vcpu, buf),
                err(Errno::ENOENT),
                "cmd {cmd} vcpu {vcpu}"
            );
        }
    }
    let after = timers(&tb, DomId::DOM0);
    assert_eq!(
        (after.period, after.singleshot),
        (before.period, before.singleshot)
    );
    // A vCPU id wider than 32 bits is refused by the argument check itself.
    assert_eq!(
        vcpu_op(&mut tb, VCPUOP_IS_UP, 1 << 32, 0),
        err(Errno::EINVAL)
    );
    assert_eq!(
        tb.hypercall(nr::VCPU_OP, [1 << 32 | u64::from(VCPUOP_IS_UP), 0, 0, 0, 0]),
        err(Errno::EINVAL)
    );
}

#[test]
fn runstate_info_accounts_the_time_running() {
    let mut tb = Testbed::boot();
    tb.pass();
    advance_ns(3 * MS);
    let a = runstate(&mut tb);
    assert_eq!(a.state, RUNSTATE_RUNNING);
    assert!(a.state_entry_time <= now());
    // Every nanosecond since boot is in some state, the current one counted up to now.
    assert_eq!(a.time.iter().sum::<u64>(), now());
    advance_ns(7 * MS);
    let b = runstate(&mut tb);
    assert_eq!(b.state, RUNSTATE_RUNNING);
    assert_eq!(b.state_entry_time, a.state_entry_time);
    assert_eq!(
        b.time[RUNSTATE_RUNNING as usize] - a.time[RUNSTATE_RUNNING as usize],
        7 * MS
    );
    for s in [RUNSTATE_RUNNABLE, RUNSTATE_BLOCKED, RUNSTATE_OFFLINE] {
        assert_eq!(b.time[s as usize], a.time[s as usize], "state {s}");
    }
}

#[test]
fn runstate_info_of_a_vcpu_kept_waiting_counts_runnable_time() {
    let mut tb = Testbed::boot();
    let u = tb.domu(1024);
    tb.pass();
    let running = tb.current();
    let waiting = if running == DomId::DOM0 {
        u
    } else {
        DomId::DOM0
    };
    let entered = now();
    let runnable_before =
        tb.st(|st| st.dom(waiting).unwrap().vcpus[0].runstate.time[RUNSTATE_RUNNABLE as usize]);
    advance_ns(4 * MS);
    // The waiting domain reads its runstate (put on the CPU without a scheduling pass, so
    // its accounting is still that of a vCPU kept waiting).
    tb.run(waiting);
    let r = runstate(&mut tb);
    assert_eq!(r.state, RUNSTATE_RUNNABLE);
    assert_eq!(r.state_entry_time, entered);
    assert_eq!(
        r.time[RUNSTATE_RUNNABLE as usize],
        runnable_before + 4 * MS,
        "the wait so far counts as runnable time"
    );
    // Its accounting starts at system time 0 (offline until built), so it covers all time.
    assert_eq!(r.time.iter().sum::<u64>(), now());
}

#[test]
fn runstate_info_to_a_bad_pointer_faults_and_writes_nothing() {
    let mut tb = Testbed::boot();
    let ro = tb.read_only_va();
    let before = tb.read_bytes(ro, 48);
    for p in [0x10, 0xFFFF_8000_0000_1000, 0x0000_8000_0000_0000, ro] {
        assert_eq!(
            vcpu_op(&mut tb, VCPUOP_GET_RUNSTATE_INFO, 0, p),
            err(Errno::EFAULT),
            "{p:#x}"
        );
    }
    assert_eq!(tb.read_bytes(ro, 48), before);
    // Straddling the end of the mapping: nothing of it is written.
    let end = tb.mapped_end(tb.scratch());
    let p = end - 16;
    tb.write_bytes(p, &[0xAA; 16]);
    assert_eq!(
        vcpu_op(&mut tb, VCPUOP_GET_RUNSTATE_INFO, 0, p),
        err(Errno::EFAULT)
    );
    assert_eq!(tb.read_bytes(p, 16), vec![0xAA; 16]);
}

#[test]
fn periodic_timer_raises_virq_timer_every_period_until_stopped() {
    let mut tb = Testbed::boot();
    let port = tb.bind_timer_virq();
    let buf = tb.scratch();
    advance_ns(MS);
    let start = now();
    tb.write(buf, &VcpuSetPeriodicTimer { period_ns: 4 * MS });
    assert_eq!(vcpu_op(&mut tb, VCPUOP_SET_PERIODIC_TIMER, 0, buf), 0);
    let t = timers(&tb, DomId::DOM0);
    assert_eq!((t.period, t.periodic_next), (4 * MS, start + 4 * MS));
    assert_eq!(crate::arch::lapic::deadline(), Some(start + 4 * MS));
    advance_ns(4 * MS - 1);
    tb.pass();
    assert!(!tb.pending(DomId::DOM0, port), "1 ns early");
    advance_ns(1);
    tb.pass();
    assert!(tb.pending(DomId::DOM0, port), "first period");
    assert_eq!(timers(&tb, DomId::DOM0).periodic_next, start + 8 * MS);
    clear(&tb, DomId::DOM0, port);
    advance_ns(4 * MS);
    tb.pass();
    assert!(tb.pending(DomId::DOM0, port), "second period");
    clear(&tb, DomId::DOM0, port);
    assert_eq!(vcpu_op(&mut tb, VCPUOP_STOP_PERIODIC_TIMER, 0, 0), 0);
    assert_eq!(timers(&tb, DomId::DOM0).period, 0);
    advance_ns(20 * MS);
    tb.pass();
    assert!(!tb.pending(DomId::DOM0, port), "stopped");
}

#[test]
fn periodic_timer_refuses_periods_under_1ms_or_beyond_i64_and_bad_pointers() {
    let mut tb = Testbed::boot();
    let buf = tb.scratch();
    for period_ns in [0, 1, MS - 1, i64::MAX as u64 + 1, u64::MAX] {
        tb.write(buf, &VcpuSetPeriodicTimer { period_ns });
        assert_eq!(
            vcpu_op(&mut tb, VCPUOP_SET_PERIODIC_TIMER, 0, buf),
            err(Errno::EINVAL),
            "{period_ns}"
        );
        assert_eq!(
            timers(&tb, DomId::DOM0).period,
            0,
            "nothing armed by {period_ns}"
        );
    }
    for p in [0, 0xFFFF_8000_0000_0000, tb.mapped_end(buf) - 4] {
        assert_eq!(
            vcpu_op(&mut tb, VCPUOP_SET_PERIODIC_TIMER, 0, p),
            err(Errno::EFAULT),
            "{p:#x}"
        );
    }
    assert_eq!(timers(&tb, DomId::DOM0).period, 0);
    // The limits themselves are accepted.
    for period_ns in [MS, i64::MAX as u64] {
        tb.write(buf, &VcpuSetPeriodicTimer { period_ns });
        assert_eq!(vcpu_op(&mut tb, VCPUOP_SET_PERIODIC_TIMER, 0, buf), 0);
        assert_eq!(timers(&tb, DomId::DOM0).period, period_ns);
    }
}

#[test]
fn singleshot_timer_fires_once_and_the_future_flag_refuses_a_past_deadline() {
    let mut tb = Testbed::boot();
    let port = tb.bind_timer_virq();
    let buf = tb.scratch();
    advance_ns(5 * MS);
    // In the past with VCPU_SSHOTTMR_future: ETIME, nothing armed.
    tb.write(
        buf,
        &VcpuSetSingleshotTimer {
            timeout_abs_ns: now() - 1,
            flags: VCPU_SSHOTTMR_FUTURE,
            _pad: 0,
        },
    );
    assert_eq!(
        vcpu_op(&mut tb, VCPUOP_SET_SINGLESHOT_TIMER, 0, buf),
        err(Errno::ETIME)
    );
    assert_eq!(timers(&tb, DomId::DOM0).singleshot, None);
    // Exactly now is not in the past.
    tb.write(
        buf,
        &VcpuSetSingleshotTimer {
            timeout_abs_ns: now(),
            flags: VCPU_SSHOTTMR_FUTURE,
            _pad: 0,
        },
    );
    assert_eq!(vcpu_op(&mut tb, VCPUOP_SET_SINGLESHOT_TIMER, 0, buf), 0);
    assert_eq!(timers(&tb, DomId::DOM0).singleshot, Some(now()));
    tb.pass();
    assert!(tb.pending(DomId::DOM0, port));
    assert_eq!(timers(&tb, DomId::DOM0).singleshot, None);
    clear(&tb, DomId::DOM0, port);
    // In the past without the flag: armed, and fires on the next pass.
    let past = now() - MS;
    tb.write(
        buf,
        &VcpuSetSingleshotTimer {
            timeout_abs_ns: past,
            flags: 0,
            _pad: 0,
        },
    );
    assert_eq!(vcpu_op(&mut tb, VCPUOP_SET_SINGLESHOT_TIMER, 0, buf), 0);
    assert_eq!(timers(&tb, DomId::DOM0).singleshot, Some(past));
    tb.pass();
    assert!(tb.pending(DomId::DOM0, port));
    clear(&tb, DomId::DOM0, port);
    // In the future: fires when due, once.
    let t = now() + 2 * MS;
    tb.write(
        buf,
        &VcpuSetSingleshotTimer {
            timeout_abs_ns: t,
            flags: VCPU_SSHOTTMR_FUTURE,
            _pad: 0,
        },
    );
    assert_eq!(vcpu_op(&mut tb, VCPUOP_SET_SINGLESHOT_TIMER, 0, buf), 0);
    assert_eq!(crate::arch::lapic::deadline(), Some(t));
    advance_ns(2 * MS - 1);
    tb.pass();
    assert!(!tb.pending(DomId::DOM0, port));
    advance_ns(1);
    tb.pass();
    assert!(tb.pending(DomId::DOM0, port));
    clear(&tb, DomId::DOM0, port);
    advance_ns(20 * MS);
    tb.pass();
    assert!(!tb.pending(DomId::DOM0, port));
}

#[test]
fn stop_singleshot_timer_disarms_it() {
    let mut tb = Testbed::boot();
    let port = tb.bind_timer_virq();
    let buf = tb.scratch();
    let t = now() + MS;
    tb.write(
        buf,
        &VcpuSetSingleshotTimer {
            timeout_abs_ns: t,
            flags: 0,
            _pad: 0,
        },
    );
    assert_eq!(vcpu_op(&mut tb, VCPUOP_SET_SINGLESHOT_TIMER, 0, buf), 0);
    assert_eq!(timers(&tb, DomId::DOM0).singleshot, Some(t));
    assert_eq!(vcpu_op(&mut tb, VCPUOP_STOP_SINGLESHOT_TIMER, 0, 0), 0);
    assert_eq!(timers(&tb, DomId::DOM0).singleshot, None);
    advance_ns(5 * MS);
    tb.pass();
    assert!(!tb.pending(DomId::DOM0, port));
    // Stopping a stopped timer is fine; the periodic timer is a separate one.
    buf_periodic(&mut tb, 4 * MS);
    assert_eq!(vcpu_op(&mut tb, VCPUOP_STOP_SINGLESHOT_TIMER, 0, 0), 0);
    assert_eq!(timers(&tb, DomId::DOM0).period, 4 * MS);
}

fn buf_periodic(tb: &mut Testbed, period_ns: u64) {
    let buf = tb.scratch();
    tb.write(buf, &VcpuSetPeriodicTimer { period_ns });
    assert_eq!(vcpu_op(tb, VCPUOP_SET_PERIODIC_TIMER, 0, buf), 0);
}

#[test]
fn singleshot_timer_from_a_bad_pointer_faults_and_arms_nothing() {
    let mut tb = Testbed::boot();
    let end = tb.mapped_end(tb.scratch());
    for p in [
        0x10,
        0xFFFF_8000_0000_1000,
        0xFFFF_8000_0000_0000 - 8,
        end - 8,
    ] {
        assert_eq!(
            vcpu_op(&mut tb, VCPUOP_SET_SINGLESHOT_TIMER, 0, p),
            err(Errno::EFAULT),
            "{p:#x}"
        );
        assert_eq!(timers(&tb, DomId::DOM0).singleshot, None);
    }
}

#[test]
fn the_timers_are_per_domain() {
    let mut tb = Testbed::boot();
    let u = tb.domu(1024);
    tb.run(u);
    buf_periodic(&mut tb, 3 * MS);
    assert_eq!(timers(&tb, u).period, 3 * MS);
    assert_eq!(
        timers(&tb, DomId::DOM0).period,
        0,
        "dom0's timer is its own"
    );
    tb.run(DomId::DOM0);
    assert_eq!(vcpu_op(&mut tb, VCPUOP_STOP_PERIODIC_TIMER, 0, 0), 0);
    assert_eq!(timers(&tb, u).period, 3 * MS, "dom0 cannot stop the domU's");
}

#[test]
fn initialise_of_the_running_vcpu_is_eexist_and_up_is_a_no_op() {
    let mut tb = Testbed::boot();
    let regs_before = tb.st(|st| st.cur().vcpus[0].kernel_l4);
    let buf = tb.scratch();
    assert_eq!(
        vcpu_op(&mut tb, VCPUOP_INITIALISE, 0, buf),
        err(Errno::EEXIST)
    );
    assert_eq!(vcpu_op(&mut tb, VCPUOP_UP, 0, 0), 0);
    assert_eq!(vcpu_op(&mut tb, VCPUOP_IS_UP, 0, 0), 1);
    assert_eq!(tb.st(|st| st.cur().vcpus[0].kernel_l4), regs_before);
}

#[test]
fn unknown_commands_are_enosys() {
    let mut tb = Testbed::boot();
    let buf = tb.scratch();
    for cmd in [14, 99, 0xFFFF_FFFF] {
        assert_eq!(vcpu_op(&mut tb, cmd, 0, buf), err(Errno::ENOSYS), "{cmd}");
    }
}

/// VCPUOP_register_runstate_memory_area at `addr` (the argument in the scratch area).
fn register_area(tb: &mut Testbed, addr: u64) -> i64 {
    let buf = tb.scratch();
    tb.write(buf, &VcpuRegisterRunstateMemoryArea { addr });
    vcpu_op(tb, VCPUOP_REGISTER_RUNSTATE_MEMORY_AREA, 0, buf)
}

fn recorded(tb: &Testbed, dom: DomId) -> VcpuRunstateInfo {
    tb.st(|st| {
        st.dom(dom).expect("domain exists").vcpus[0]
            .runstate
            .recorded()
    })
}

fn area_of(tb: &Testbed, dom: DomId) -> u64 {
    tb.st(|st| st.dom(dom).expect("domain exists").vcpus[0].runstate_area)
}

#[test]
fn a_registered_runstate_area_is_written_at_once_and_at_every_change_of_state() {
    for update_flag in [false, true] {
        let mut tb = Testbed::boot();
        let area = tb.scratch() + 0x400;
        let u = tb.domu(1024);
        for d in [DomId::DOM0, u] {
            tb.run(d);
            if update_flag {
                let vmasst = [
                    VMASST_CMD_ENABLE.into(),
                    VMASST_TYPE_RUNSTATE_UPDATE_FLAG.into(),
                ];
                assert_eq!(
                    tb.hypercall(nr::VM_ASSIST, [vmasst[0], vmasst[1], 0, 0, 0]),
                    0
                );
            }
            tb.write_bytes(area, &[0xAA; 48]);
            assert_eq!(register_area(&mut tb, area), 0);
            assert_eq!(
                tb.read::<VcpuRunstateInfo>(area),
                recorded(&tb, d),
                "at once"
            );
        }
        // Scheduling passes put one domain on the CPU and keep the other waiting; each one's
        // area follows, written while the other domain's page tables are live.
        let mut states = std::collections::BTreeSet::new();
        for _ in 0..4 {
            advance_ns(11 * MS);
            tb.pass();
            let running = tb.current();
            for d in [DomId::DOM0, u] {
                tb.run(d);
                let a: VcpuRunstateInfo = tb.read(area);
                assert_eq!(a, recorded(&tb, d), "flag {update_flag}");
                assert_eq!(a.state_entry_time & XEN_RUNSTATE_UPDATE, 0);
                let want = if d == running {
                    RUNSTATE_RUNNING
                } else {
                    RUNSTATE_RUNNABLE
                };
                assert_eq!(a.state, want, "flag {update_flag}");
                states.insert((d, a.state));
            }
            tb.run(running);
        }
        // The time a domain spent waiting shows in its area.
        let waited = [DomId::DOM0, u]
            .iter()
            .any(|&d| recorded(&tb, d).time[RUNSTATE_RUNNABLE as usize] > 0);
        assert!(waited, "flag {update_flag}: {states:?}");
    }
}

#[test]
fn runstate_area_outside_the_guest_is_efault_and_registers_nothing() {
    let mut tb = Testbed::boot();
    let good = tb.scratch() + 0x400;
    assert_eq!(register_area(&mut tb, good), 0);
    for p in [
        0xFFFF_8000_0000_1000u64,
        0xFFFF_87FF_FFFF_FFF0,
        0x0000_8000_0000_0000,
        0x0000_7FFF_FFFF_FFF0,
        u64::MAX - 8,
    ] {
        assert_eq!(register_area(&mut tb, p), err(Errno::EFAULT), "{p:#x}");
        assert_eq!(area_of(&tb, DomId::DOM0), good, "{p:#x}");
    }
    // An argument the hypervisor cannot read.
    assert_eq!(
        vcpu_op(
            &mut tb,
            VCPUOP_REGISTER_RUNSTATE_MEMORY_AREA,
            0,
            0xFFFF_8000_0000_1000
        ),
        err(Errno::EFAULT)
    );
    assert_eq!(area_of(&tb, DomId::DOM0), good);
}

#[test]
fn runstate_area_on_a_read_only_or_unmapped_page_is_never_written() {
    let mut tb = Testbed::boot();
    let u = tb.domu(1024);
    // The guest's own page tables (mapped read-only): registered, but no write lands.
    let ro = tb.read_only_va();
    let before = tb.read_bytes(ro, 48);
    assert_eq!(register_area(&mut tb, ro), 0);
    tb.run(u);
    let end = tb.mapped_end(tb.scratch());
    assert_eq!(register_area(&mut tb, end), 0);
    for _ in 0..4 {
        advance_ns(11 * MS);
        tb.pass();
    }
    tb.run(DomId::DOM0);
    assert_eq!(tb.read_bytes(ro, 48), before);
    // Unregistered with 0: later changes write nothing.
    let area = tb.scratch() + 0x400;
    assert_eq!(register_area(&mut tb, area), 0);
    assert_eq!(register_area(&mut tb, 0), 0);
    tb.write_bytes(area, &[0x55; 48]);
    for _ in 0..4 {
        advance_ns(11 * MS);
        tb.pass();
    }
    tb.run(DomId::DOM0);
    assert_eq!(tb.read_bytes(area, 48), vec![0x55; 48]);
}

#[test]
fn down_of_the_last_vcpu_powers_the_domain_off() {
    let mut tb = Testbed::boot();
    let u = tb.domu(1024);
    tb.run(u);
    vcpu_op(&mut tb, VCPUOP_DOWN, 0, 0);
    assert_eq!(tb.current(), DomId::DOM0, "u does not run again");
    assert_eq!(
        tb.st(|st| st.dom(u).unwrap().shutdown),
        Some(ShutdownReason::Poweroff)
    );
    // Another vCPU id is still ENOENT, and nothing is shut down for it.
    let v = tb.domu(1024);
    tb.run(v);
    assert_eq!(vcpu_op(&mut tb, VCPUOP_DOWN, 1, 0), err(Errno::ENOENT));
    assert_eq!(tb.st(|st| st.dom(v).unwrap().shutdown), None);
}

/// The frame behind `va` in the current domain's tables.
fn frame_at(tb: &Testbed, va: u64) -> u64 {
    tb.st(|st| {
        let l4 = st.cur().vcpus[0].active_l4();
        crate::mm::guest_walk::translate(&st.mem, l4, va, false).expect("mapped") >> 12
    })
}

/// VCPUOP_register_vcpu_info of `mfn`/`offset` (the argument in the scratch area).
fn register_info(tb: &mut Testbed, mfn: u64, offset: u32) -> i64 {
    let buf = tb.scratch();
    tb.write(
        buf,
        &VcpuRegisterVcpuInfo {
            mfn,
            offset,
            rsvd: 0,
        },
    );
    vcpu_op(tb, VCPUOP_REGISTER_VCPU_INFO, 0, buf)
}

/// A spare page of the current domain beyond the scratch area: its address and frame.
fn spare_page(tb: &Testbed, k: u64) -> (u64, u64) {
    let va = tb.scratch() + crate::testbed::SCRATCH_LEN + k * 4096;
    (va, frame_at(tb, va))
}

#[test]
fn a_registered_vcpu_info_takes_over_events_mask_time_and_cr2() {
    use core::mem::offset_of;
    use guest_abi::shared_info::{VcpuInfo, VcpuTimeInfo};
    let mut tb = Testbed::boot();
    let port = tb.bind_timer_virq();
    let (va, mfn) = spare_page(&tb, 0);
    tb.write_bytes(va, &[0u8; 4096]);
    let si_mask_before = tb.st(|st| {
        crate::domain::vcpu_info::upcall_masked(&crate::mm::machine::VcpuInfoAt::shared(
            &st.cur().shared_info,
        ))
    });
    assert_eq!(register_info(&mut tb, mfn, 128), 0);
    let vi = va + 128;
    let at = |tb: &Testbed, off: usize| tb.read::<u8>(vi + off as u64);
    // Moved with its contents (the mask as it was), then an upcall pending with every
    // selector bit set, as Xen does.
    assert_eq!(
        at(&tb, offset_of!(VcpuInfo, evtchn_upcall_mask)) != 0,
        si_mask_before
    );
    assert_eq!(at(&tb, offset_of!(VcpuInfo, evtchn_upcall_pending)), 1);
    assert_eq!(
        tb.read::<u64>(vi + offset_of!(VcpuInfo, evtchn_pending_sel) as u64),
        u64::MAX
    );
    // Time is kept there (an even, non-zero version).
    let ver_at = vi + (offset_of!(VcpuInfo, time) + offset_of!(VcpuTimeInfo, version)) as u64;
    let v0 = tb.read::<u32>(ver_at);
    assert!(v0 != 0 && v0.is_multiple_of(2), "version {v0}");
    // Events now raise the selector and the upcall flag there.
    tb.write_bytes(vi, &[0u8; 16]);
    clear(&tb, DomId::DOM0, port);
    tb.write(
        tb.scratch(),
        &VcpuSetSingleshotTimer {
            timeout_abs_ns: now() + MS,
            flags: 0,
            _pad: 0,
        },
    );
    let buf = tb.scratch();
    assert_eq!(vcpu_op(&mut tb, VCPUOP_SET_SINGLESHOT_TIMER, 0, buf), 0);
    advance_ns(2 * MS);
    tb.pass();
    tb.run(DomId::DOM0);
    assert!(tb.pending(DomId::DOM0, port));
    assert_eq!(at(&tb, offset_of!(VcpuInfo, evtchn_upcall_pending)), 1);
    assert_ne!(
        tb.read::<u64>(vi + offset_of!(VcpuInfo, evtchn_pending_sel) as u64),
        0
    );
    assert!(tb.read::<u32>(ver_at) > v0, "time refreshed on the pass");
    // The upcall check on the way back to the guest reads the new place.
    assert_eq!(crate::domain::state::current_vcpu_info(), (mfn << 12) + 128);
    // A page fault's address is recorded there too.
    tb.st(|st| crate::domain::vcpu_info::set_cr2(&st.cur().vcpu_info(0), 0xdead_b000));
    let cr2 = offset_of!(VcpuInfo, arch) + offset_of!(guest_abi::shared_info::ArchVcpuInfo, cr2);
    assert_eq!(tb.read::<u64>(vi + cr2 as u64), 0xdead_b000);
}

#[test]
fn register_vcpu_info_refuses_what_xen_refuses_and_holds_nothing_then() {
    let mut tb = Testbed::boot();
    let (_, own) = spare_page(&tb, 1);
    let l4 = tb.st(|st| st.cur().vcpus[0].kernel_l4.0);
    let si = tb.st(|st| st.cur().shared_info.mfn().0);
    let u = tb.domu(1024);
    tb.run(u);
    let (_, other) = spare_page(&tb, 1);
    tb.run(DomId::DOM0);
    let snap = tb.frame_snapshot();
    for (what, mfn, off) in [
        ("an offset where it does not fit", own, 4096 - 63),
        ("an offset past the page", own, 8192),
        ("a misaligned offset", own, 4),
        ("its L4", l4, 0),
        ("its shared_info page", si, 0),
        ("another domain's frame", other, 0),
        ("a frame nobody owns", 0x10, 0),
        ("a frame beyond RAM", 1 << 40, 0),
    ] {
        assert_eq!(
            register_info(&mut tb, mfn, off),
            err(Errno::EINVAL),
            "{what}"
        );
        assert_eq!(tb.frame_snapshot(), snap, "{what}");
        assert!(
            tb.st(|st| st.cur().vcpus[0].registered_info.is_none()),
            "{what}"
        );
    }
    // From a pointer it cannot read.
    assert_eq!(
        vcpu_op(&mut tb, VCPUOP_REGISTER_VCPU_INFO, 0, 0xFFFF_8000_0000_1000),
        err(Errno::EFAULT)
    );
    // Once only.
    assert_eq!(register_info(&mut tb, own, 4096 - 64), 0);
    assert_eq!(register_info(&mut tb, own, 0), err(Errno::EINVAL));
    let (_, other_own) = spare_page(&tb, 2);
    assert_eq!(register_info(&mut tb, other_own, 0), err(Errno::EINVAL));
}

#[test]
fn a_held_vcpu_info_frame_cannot_become_a_table_and_is_let_go_on_destroy() {
    use crate::mm::page_types::PageType;
    let mut tb = Testbed::boot();
    let u = tb.domu(1024);
    tb.run(u);
    let (va, mfn) = spare_page(&tb, 0);
    assert_eq!(register_info(&mut tb, mfn, 0), 0);
    let info = |tb: &Testbed| tb.st(|st| st.frames[mfn as usize]);
    assert_eq!(
        (info(&tb).ptype, info(&tb).type_count),
        (PageType::Writable, 2)
    );
    // Even mapped read-only, it is no table to pin.
    let ro = (mfn << 12) | 0x25;
    assert_eq!(tb.hypercall(nr::UPDATE_VA_MAPPING, [va, ro, 0, 0, 0]), 0);
    let buf = tb.scratch();
    tb.write(
        buf,
        &guest_abi::mmu::MmuextOp::new(guest_abi::mmu::MMUEXT_PIN_L1_TABLE, mfn, 0),
    );
    let self_dom = u64::from(DomId::SELF.0);
    assert_eq!(
        tb.hypercall(nr::MMUEXT_OP, [buf, 1, 0, self_dom, 0]),
        err(Errno::EBUSY)
    );
    assert_eq!(
        (info(&tb).ptype, info(&tb).type_count),
        (PageType::Writable, 1)
    );
    // Destroyed: the frame is no longer held and goes back with the domain.
    tb.run(DomId::DOM0);
    tb.st(|st| crate::lifecycle::destroy(st, u))
        .expect("destroyed");
    assert!(tb.st(|st| st.dom(u).is_none()));
    assert_eq!(info(&tb).owner, crate::mm::page_types::NO_OWNER);
}

/// VCPUOP_register_vcpu_time_memory_area at `addr` (the argument in the scratch area).
fn register_time_area(tb: &mut Testbed, addr: u64) -> i64 {
    let buf = tb.scratch();
    tb.write(buf, &VcpuRegisterTimeMemoryArea { addr });
    vcpu_op(tb, VCPUOP_REGISTER_VCPU_TIME_MEMORY_AREA, 0, buf)
}

/// The vCPU's own time info (in its vcpu_info).
fn vcpu_time(tb: &Testbed, dom: DomId) -> guest_abi::shared_info::VcpuTimeInfo {
    use guest_abi::shared_info::{VcpuInfo, VcpuTimeInfo};
    tb.st(|st| {
        let d = st.dom(dom).expect("domain exists");
        let mut raw = [0u8; core::mem::size_of::<VcpuTimeInfo>()];
        d.vcpu_info(0)
            .read(core::mem::offset_of!(VcpuInfo, time), &mut raw)
            .expect("vcpu_info readable");
        zerocopy::FromBytes::read_from_bytes(&raw[..]).expect("sized")
    })
}

#[test]
fn a_registered_time_area_copies_the_vcpu_time_at_once_and_at_every_refresh() {
    use guest_abi::shared_info::VcpuTimeInfo;
    let mut tb = Testbed::boot();
    let area = tb.scratch() + 0x800;
    let u = tb.domu(1024);
    tb.run(u);
    tb.write_bytes(area, &[0xAA; 32]);
    assert_eq!(register_time_area(&mut tb, area), 0);
    let first = tb.read::<VcpuTimeInfo>(area);
    assert_eq!(first, vcpu_time(&tb, u), "at once");
    assert!(first.version.is_multiple_of(2) && first.tsc_to_system_mul != 0);
    // Time passes; the next scheduling pass that puts the domain on the CPU refreshes both.
    for _ in 0..3 {
        advance_ns(11 * MS);
        tb.pass();
    }
    tb.run(u);
    let later = tb.read::<VcpuTimeInfo>(area);
    assert_eq!(later, vcpu_time(&tb, u));
    assert!(
        later.system_time > first.system_time,
        "{later:?} after {first:?}"
    );
    // Unregistered: no longer written.
    assert_eq!(register_time_area(&mut tb, 0), 0);
    tb.write_bytes(area, &[0x55; 32]);
    advance_ns(11 * MS);
    tb.pass();
    tb.run(u);
    assert_eq!(tb.read::<[u8; 32]>(area), [0x55; 32]);
}

#[test]
fn a_time_area_outside_the_guest_is_efault_and_an_unmapped_one_is_not_written() {
    let mut tb = Testbed::boot();
    for bad in [
        0x0000_8000_0000_0000,
        guest_abi::arch::HYPERVISOR_VIRT_START,
        0x7FFF_FFFF_FFFF_FFF0,
        u64::MAX - 8,
    ] {
        assert_eq!(
            register_time_area(&mut tb, bad),
            err(Errno::EFAULT),
            "{bad:#x}"
        );
        assert_eq!(tb.st(|st| st.cur().vcpus[0].time_area), 0);
    }
    // Registered where nothing is mapped: accepted (as Xen), writes dropped, nothing breaks.
    assert_eq!(register_time_area(&mut tb, 0x1000), 0);
    advance_ns(11 * MS);
    tb.pass();
    assert_eq!(vcpu_op(&mut tb, VCPUOP_IS_UP, 0, 0), 1);
}
