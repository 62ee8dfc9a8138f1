use super::*;

/// Simulate a CPU shared by always-runnable domains with the given (weight, cap), with the
/// real policy (pick, slice, burn, account); returns each one's CPU ns.
fn simulate(params: &[(u16, u16)], total_ns: u64) -> Vec<u64> {
    let mut doms: Vec<Credit> = params
        .iter()
        .map(|&(weight, cap)| Credit {
            weight,
            cap,
            ..Credit::default()
        })
        .collect();
    let mut ran = vec![0u64; doms.len()];
    let (mut now, mut next_acct, mut cur) = (0u64, ACCT_NS, DomId(0));
    while now < total_ns {
        if now >= next_acct {
            account(ACCT_NS, doms.iter_mut().map(|c| (c, true)));
            next_acct += ACCT_NS;
        }
        let cands: Vec<(DomId, u8, i64)> = doms
            .iter()
            .enumerate()
            .filter(|(_, c)| !c.parked)
            .map(|(i, c)| (DomId(i as u16), c.prio(), c.credit))
            .collect();
        let Some(next) = pick(&cands, cur) else {
            now = next_acct; // idle until the next period
            continue;
        };
        cur = next;
        let d = &mut doms[usize::from(next.0)];
        let until = (now + d.slice(cands.len() > 1)).min(next_acct);
        let ns = until - now;
        d.burn(ns);
        d.boost = false;
        ran[usize::from(next.0)] += ns;
        now = until;
    }
    ran
}

#[test]
fn weights_give_proportional_cpu() {
    let ran = simulate(&[(100, 0), (200, 0), (400, 0)], 3_000_000_000);
    let total: u64 = ran.iter().sum();
    for (r, w) in ran.iter().zip([1.0, 2.0, 4.0]) {
        let share = *r as f64 / total as f64;
        let want = w / 7.0;
        assert!(
            (share - want).abs() / want < 0.05,
            "share {share:.3}, want {want:.3} ({ran:?})"
        );
    }
}

#[test]
fn equal_weights_share_equally_and_cap_holds() {
    let ran = simulate(&[(256, 0), (256, 0)], 1_000_000_000);
    assert!(ran[0].abs_diff(ran[1]) < 20_000_000, "{ran:?}");
    // Alone on the CPU, a 25% cap still holds.
    let ran = simulate(&[(256, 25)], 3_000_000_000);
    let share = ran[0] as f64 / 3e9;
    assert!((0.24..=0.26).contains(&share), "capped share {share}");
}

/// `pick` over plain ids: the test's ids at its edge.
fn pick_n(cands: &[(u16, u8, i64)], after: u16) -> Option<u16> {
    let c: Vec<(DomId, u8, i64)> = cands.iter().map(|&(i, p, c)| (DomId(i), p, c)).collect();
    pick(&c, DomId(after)).map(|id| id.0)
}

#[test]
fn pick_prefers_priority_then_round_robin() {
    let c = [
        (0, PRIO_OVER, -5),
        (1, PRIO_UNDER, 7),
        (2, PRIO_UNDER, 7),
        (3, PRIO_OVER, 0),
    ];
    assert_eq!(pick_n(&c, 1), Some(2));
    assert_eq!(pick_n(&c, 2), Some(1), "wraps around");
    assert_eq!(pick_n(&[(5, PRIO_OVER, 0), (0, PRIO_BOOST, 1)], 0), Some(0));
    assert_eq!(
        pick_n(&[(1, PRIO_OVER, -9), (2, PRIO_OVER, -3)], 2),
        Some(2),
        "least debt first"
    );
    assert_eq!(pick_n(&[], 0), None);
}

#[test]
fn accounting_ignores_idle_domains_and_clamps() {
    let mut busy = Credit::default();
    let mut idle = Credit {
        credit: ACCT_NS as i64,
        ..Credit::default()
    };
    account(ACCT_NS, [(&mut busy, true), (&mut idle, false)].into_iter());
    assert_eq!(
        busy.credit, ACCT_NS as i64,
        "all credit to the only active domain"
    );
    assert_eq!(idle.credit, ACCT_NS as i64, "an idle domain hoards no more");
    busy.burn(20 * ACCT_NS);
    account(ACCT_NS, [(&mut busy, true)].into_iter());
    assert_eq!(busy.credit, -MAX_DEBT_NS, "debt is bounded");
    let mut capped = Credit {
        cap: 10,
        ..Credit::default()
    };
    capped.burn(ACCT_NS / 10);
    assert!(capped.parked);
    account(ACCT_NS, [(&mut capped, true)].into_iter());
    assert!(!capped.parked && capped.used == 0);
}

#[test]
fn credit_an_idle_domain_leaves_goes_to_the_busy_ones_by_weight() {
    let mut light = Credit {
        used: 1_000_000,
        ..Credit::default()
    };
    let mut a = Credit {
        weight: 100,
        ..Credit::default()
    };
    let mut b = Credit {
        weight: 200,
        ..Credit::default()
    };
    account(
        ACCT_NS,
        [(&mut light, false), (&mut a, true), (&mut b, true)].into_iter(),
    );
    assert_eq!(light.credit, 1_000_000, "earns what it used");
    assert_eq!(a.credit, 29_000_000 / 3);
    assert_eq!(b.credit, 29_000_000 * 2 / 3);
}

#[test]
fn wake_boosts_only_with_credit() {
    let mut c = Credit {
        credit: 10,
        ..Credit::default()
    };
    c.wake();
    assert_eq!(c.prio(), PRIO_BOOST);
    c.credit = -1;
    c.wake();
    assert_eq!(c.prio(), PRIO_OVER);
}
