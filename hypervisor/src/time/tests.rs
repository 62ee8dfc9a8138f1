use super::*;
use guest_abi::shared_info::VcpuTimeInfo;
use guest_abi::vcpu::{RUNSTATE_BLOCKED, RUNSTATE_RUNNABLE, RUNSTATE_RUNNING};

#[test]
fn scale_matches_the_tsc_rate() {
    for khz in [
        1_000u64, 999_999, 1_000_000, 2_400_000, 3_000_000, 4_700_123, 25_000,
    ] {
        let (mul, shift) = scale_for_khz(khz);
        assert!(mul >= 1 << 31, "{khz} kHz: mul {mul:#x} keeps 31 bits");
        // One second of ticks is one second of ns, within the scale's rounding.
        let ns = scale_delta(khz * 1000, mul, shift);
        assert!(
            NS_PER_SEC.abs_diff(ns) <= 2,
            "{khz} kHz: 1 s of ticks = {ns} ns"
        );
        // A minute, to catch drift in the multiplier.
        let ns = scale_delta(khz * 1000 * 60, mul, shift);
        assert!(
            (60 * NS_PER_SEC).abs_diff(ns) <= 120,
            "{khz} kHz: 60 s = {ns} ns"
        );
    }
    assert_eq!(scale_for_khz(1_000_000), (1 << 31, 1));
}

#[test]
fn guest_formula_agrees_with_ours() {
    let (mul, shift) = scale_for_khz(2_893_301);
    let t = VcpuTimeInfo {
        tsc_timestamp: 1_000_000,
        system_time: 5_000,
        tsc_to_system_mul: mul,
        tsc_shift: shift,
        ..Default::default()
    };
    let tsc = 1_000_000 + 123_456_789;
    assert_eq!(
        t.system_time_at(tsc),
        5_000 + scale_delta(123_456_789, mul, shift)
    );
}

#[test]
fn unix_time_of_known_dates() {
    assert_eq!(unix_time(1970, 1, 1, 0, 0, 0), 0);
    assert_eq!(unix_time(2000, 3, 1, 0, 0, 0), 951_868_800);
    assert_eq!(unix_time(2024, 2, 29, 12, 34, 56), 1_709_210_096);
    assert_eq!(unix_time(2038, 1, 19, 3, 14, 8), 1 << 31);
}

#[test]
fn timers_expire_and_rearm() {
    let mut t = Timers::default();
    assert_eq!(t.next_deadline(), None);
    t.singleshot.set(Some(100));
    t.period = 30;
    t.periodic_next = 40;
    assert_eq!(t.next_deadline(), Some(40));
    assert_eq!(t.expire(39), Expired::default());
    let e = t.expire(105);
    assert!(e.timer_virq && !e.poll_timeout);
    assert_eq!(t.singleshot, None);
    assert_eq!(t.periodic_next, 130, "missed periods are skipped");
    t.poll_deadline = Some(120);
    assert_eq!(t.next_deadline(), Some(120));
    let e = t.expire(120);
    assert!(e.poll_timeout && !e.timer_virq);
}

#[test]
fn watchdogs_expire_once() {
    let mut w = Watchdogs::default();
    assert_eq!(w.next_deadline(), None);
    w.0[1] = Some((500, 1));
    w.0[0] = Some((700, 1));
    assert_eq!(w.next_deadline(), Some(500));
    assert!(!w.expire(499));
    assert!(w.expire(600));
    assert_eq!(w.0, [Some((700, 1)), None]);
    assert!(w.expire(700));
    assert_eq!(w, Watchdogs::default());
}

#[test]
fn runstate_accounts_each_state() {
    let mut r = Runstate::default();
    r.change(RUNSTATE_RUNNABLE, 10);
    r.change(RUNSTATE_RUNNING, 15);
    r.change(RUNSTATE_RUNNING, 17);
    r.change(RUNSTATE_BLOCKED, 40);
    let s = r.snapshot(100);
    assert_eq!(s.state, RUNSTATE_BLOCKED);
    assert_eq!(s.state_entry_time, 40);
    assert_eq!(s.time, [25, 5, 60, 10]);
}
