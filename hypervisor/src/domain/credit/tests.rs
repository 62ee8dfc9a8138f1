use super::*;
use alloc::vec::Vec;

/// A simulated domain: its parameters and its always-runnable vCPUs' credit.
struct Dom {
    c: Credit,
    vcpus: Vec<VcpuCredit>,
}

/// Simulate a CPU shared by always-runnable domains with the given (weight, cap, vCPUs),
/// with the real policy (pick, slice, burn, account); returns each vCPU's CPU ns, by domain.
fn simulate_smp(params: &[(u16, u16, usize)], total_ns: u64) -> Vec<Vec<u64>> {
    let mut doms: Vec<Dom> = params
        .iter()
        .map(|&(weight, cap, n)| Dom {
            c: Credit {
                weight,
                cap,
                ..Credit::default()
            },
            vcpus: alloc::vec![VcpuCredit::default(); n],
        })
        .collect();
    let mut ran: Vec<Vec<u64>> = params.iter().map(|p| alloc::vec![0; p.2]).collect();
    let (mut now, mut next_acct, mut cur) = (0u64, ACCT_NS, (0usize, 0usize));
    while now < total_ns {
        if now >= next_acct {
            account(
                ACCT_NS,
                doms.iter_mut().map(|d| {
                    let vs = d.vcpus.iter_mut().map(|v| (v, true)).collect();
                    (&mut d.c, vs)
                }),
            );
            next_acct += ACCT_NS;
        }
        let cands: Vec<((usize, usize), u8, i64)> = doms
            .iter()
            .enumerate()
            .filter(|(_, d)| !d.c.parked)
            .flat_map(|(i, d)| {
                d.vcpus
                    .iter()
                    .enumerate()
                    .map(move |(j, v)| ((i, j), v.prio(), v.credit))
            })
            .collect();
        let Some(next) = pick(&cands, cur) else {
            now = next_acct; // idle until the next period
            continue;
        };
        cur = next;
        let d = &mut doms[next.0];
        let v = &mut d.vcpus[next.1];
        let until = (now + v.slice(&d.c, cands.len() > 1)).min(next_acct);
        let ns = until - now;
        v.burn(&mut d.c, ns);
        v.boost = false;
        ran[next.0][next.1] += ns;
        now = until;
    }
    ran
}

/// [`simulate_smp`] with one vCPU per domain: each domain's CPU ns.
fn simulate(params: &[(u16, u16)], total_ns: u64) -> Vec<u64> {
    let p: Vec<(u16, u16, usize)> = params.iter().map(|&(w, c)| (w, c, 1)).collect();
    simulate_smp(&p, total_ns)
        .into_iter()
        .map(|v| v[0])
        .collect()
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

#[test]
fn weight_is_the_domains_and_its_vcpus_share_it() {
    // A domain of four busy vCPUs and one of one vCPU, equal weights: half the CPU each
    // (weight is per domain, as credit1's), the four sharing theirs equally.
    let ran = simulate_smp(&[(256, 0, 4), (256, 0, 1)], 3_000_000_000);
    let four: u64 = ran[0].iter().sum();
    let one = ran[1][0];
    let share = four as f64 / (four + one) as f64;
    assert!(
        (0.47..=0.53).contains(&share),
        "four vCPUs' share {share} ({ran:?})"
    );
    let (lo, hi) = (ran[0].iter().min().unwrap(), ran[0].iter().max().unwrap());
    assert!(hi - lo < four / 20, "the four vCPUs differ: {ran:?}");
    // A cap holds for the domain as a whole, however many vCPUs it has.
    let ran = simulate_smp(&[(256, 30, 3)], 3_000_000_000);
    let share = ran[0].iter().sum::<u64>() as f64 / 3e9;
    assert!(
        (0.29..=0.31).contains(&share),
        "capped share {share} ({ran:?})"
    );
}

/// `pick` over plain ids: the test's ids at its edge.
fn pick_n(cands: &[(u16, u8, i64)], after: u16) -> Option<u16> {
    pick(cands, after)
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

/// One vCPU's entry for [`account`].
fn one<'a>(c: &'a mut Credit, v: &'a mut VcpuCredit, runnable: bool) -> AccountEntry<'a> {
    (c, alloc::vec![(v, runnable)])
}

#[test]
fn accounting_ignores_idle_domains_and_clamps() {
    let (mut busy, mut busy_v) = (Credit::default(), VcpuCredit::default());
    let mut idle = Credit::default();
    let mut idle_v = VcpuCredit {
        credit: ACCT_NS as i64,
        ..VcpuCredit::default()
    };
    account(
        ACCT_NS,
        [
            one(&mut busy, &mut busy_v, true),
            one(&mut idle, &mut idle_v, false),
        ]
        .into_iter(),
    );
    assert_eq!(
        busy_v.credit, ACCT_NS as i64,
        "all credit to the only active domain"
    );
    assert_eq!(
        idle_v.credit, ACCT_NS as i64,
        "an idle domain hoards no more"
    );
    busy_v.burn(&mut busy, 20 * ACCT_NS);
    account(ACCT_NS, [one(&mut busy, &mut busy_v, true)].into_iter());
    assert_eq!(busy_v.credit, -MAX_DEBT_NS, "debt is bounded");
    let mut capped = Credit {
        cap: 10,
        ..Credit::default()
    };
    let mut capped_v = VcpuCredit::default();
    capped_v.burn(&mut capped, ACCT_NS / 10);
    assert!(capped.parked);
    account(ACCT_NS, [one(&mut capped, &mut capped_v, true)].into_iter());
    assert!(!capped.parked && capped.used == 0 && capped_v.used == 0);
}

#[test]
fn credit_an_idle_domain_leaves_goes_to_the_busy_ones_by_weight() {
    let mut light = Credit {
        used: 1_000_000,
        ..Credit::default()
    };
    let mut light_v = VcpuCredit {
        used: 1_000_000,
        ..VcpuCredit::default()
    };
    let mut a = Credit {
        weight: 100,
        ..Credit::default()
    };
    let mut b = Credit {
        weight: 200,
        ..Credit::default()
    };
    let (mut av, mut bv) = (VcpuCredit::default(), VcpuCredit::default());
    account(
        ACCT_NS,
        [
            one(&mut light, &mut light_v, false),
            one(&mut a, &mut av, true),
            one(&mut b, &mut bv, true),
        ]
        .into_iter(),
    );
    assert_eq!(light_v.credit, 1_000_000, "earns what it used");
    assert_eq!(av.credit, 29_000_000 / 3);
    assert_eq!(bv.credit, 29_000_000 * 2 / 3);
}

#[test]
fn a_domains_share_goes_to_its_active_vcpus_only() {
    let mut d = Credit::default();
    let mut run = VcpuCredit::default();
    let mut ran = VcpuCredit {
        used: 5,
        ..VcpuCredit::default()
    };
    let mut asleep = VcpuCredit::default();
    account(
        ACCT_NS,
        [(
            &mut d,
            alloc::vec![(&mut run, true), (&mut ran, false), (&mut asleep, false)],
        )]
        .into_iter(),
    );
    assert_eq!(run.credit, ACCT_NS as i64 / 2);
    assert_eq!(ran.credit, ACCT_NS as i64 / 2, "ran this period: active");
    assert_eq!(asleep.credit, 0, "neither runnable nor ran: nothing");
    assert_eq!((run.used, ran.used), (0, 0));
}

#[test]
fn wake_boosts_only_with_credit() {
    let mut c = VcpuCredit {
        credit: 10,
        ..VcpuCredit::default()
    };
    c.wake();
    assert_eq!(c.prio(), PRIO_BOOST);
    c.credit = -1;
    c.wake();
    assert_eq!(c.prio(), PRIO_OVER);
}

/// The scheduling pass's allocation-free picker chooses as `pick` does, over many
/// pseudo-random candidate lists (ties, priorities, every `after`).
#[test]
fn the_incremental_picker_chooses_as_pick() {
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut rnd = |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n
    };
    for _ in 0..5000 {
        let len = rnd(7) as usize;
        let mut id = 0u16;
        let cands: Vec<(u16, u8, i64)> = (0..len)
            .map(|_| {
                id += 1 + rnd(3) as u16;
                (
                    id,
                    [PRIO_OVER, PRIO_UNDER, PRIO_BOOST][rnd(3) as usize],
                    rnd(3) as i64 - 1,
                )
            })
            .collect();
        let after = rnd(u64::from(id) + 2) as u16;
        let mut p = Picker::new(after);
        for &(k, prio, credit) in &cands {
            p.offer(k, prio, credit);
        }
        assert_eq!(p.pick(), pick_n(&cands, after), "{cands:?} after {after}");
        assert_eq!(p.offered(), cands.len());
    }
}
