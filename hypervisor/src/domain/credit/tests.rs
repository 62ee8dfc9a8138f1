use super::*;
use alloc::vec::Vec;

/// A simulated domain: its parameters and its always-runnable vCPUs' credit.
struct Dom {
    c: Credit,
    vcpus: Vec<VcpuCredit>,
}

/// The simulated domains for (weight, cap, vCPUs) each, and their vCPUs' CPU ns (all 0).
fn domains(params: &[(u16, u16, usize)]) -> (Vec<Dom>, Vec<Vec<u64>>) {
    let doms = params
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
    let ran = params.iter().map(|p| alloc::vec![0; p.2]).collect();
    (doms, ran)
}

/// Simulate a CPU shared by always-runnable domains with the given (weight, cap, vCPUs),
/// with the real policy (pick, slice, burn, account); returns each vCPU's CPU ns, by domain.
fn simulate_smp(params: &[(u16, u16, usize)], total_ns: u64) -> Vec<Vec<u64>> {
    let (mut doms, mut ran) = domains(params);
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

/// Simulate `ncpus` CPUs shared by always-runnable domains with the given (weight, cap,
/// vCPUs), each CPU as the scheduling pass runs it: at the end of its slice it charges the
/// vCPU it ran and picks among the vCPUs no other CPU runs; the first CPU accounts every
/// period, after charging its own vCPU (the others' slices are charged at their next pass),
/// and then every CPU looks again (the kick). Returns each vCPU's CPU ns, by domain.
fn simulate_cpus(ncpus: usize, params: &[(u16, u16, usize)], total_ns: u64) -> Vec<Vec<u64>> {
    let (mut doms, mut ran) = domains(params);
    // Per CPU: the vCPU it runs (domain, vCPU), since when, when it next passes, and the
    // vCPU it last picked (round-robin).
    let mut on: Vec<Option<(usize, usize)>> = alloc::vec![None; ncpus];
    let mut since = alloc::vec![0u64; ncpus];
    let mut end = alloc::vec![0u64; ncpus];
    let mut last = alloc::vec![(0usize, 0usize); ncpus];
    let mut next_acct = ACCT_NS;
    let charge = |doms: &mut Vec<Dom>, ran: &mut Vec<Vec<u64>>, v: (usize, usize), ns: u64| {
        let d = &mut doms[v.0];
        d.vcpus[v.1].burn(&mut d.c, ns);
        d.vcpus[v.1].boost = false;
        ran[v.0][v.1] += ns;
    };
    loop {
        let (k, now) = end
            .iter()
            .copied()
            .enumerate()
            .min_by_key(|&(_, e)| e)
            .expect("a CPU");
        if now >= total_ns {
            break;
        }
        if next_acct <= now {
            let a = next_acct;
            if let Some(v) = on[0].take() {
                charge(&mut doms, &mut ran, v, a - since[0]);
            }
            since[0] = a;
            end[0] = a;
            account(
                ACCT_NS,
                doms.iter_mut().map(|d| {
                    let vs = d.vcpus.iter_mut().map(|v| (v, true)).collect();
                    (&mut d.c, vs)
                }),
            );
            next_acct += ACCT_NS;
            end.iter_mut().for_each(|e| *e = a);
            continue;
        }
        if let Some(v) = on[k].take() {
            charge(&mut doms, &mut ran, v, now - since[k]);
        }
        since[k] = now;
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
            .filter(|c| !on.contains(&Some(c.0)))
            .collect();
        match pick(&cands, last[k]) {
            Some(n) => {
                let d = &doms[n.0];
                on[k] = Some(n);
                last[k] = n;
                end[k] = now + d.vcpus[n.1].slice(&d.c, cands.len() > 1);
            }
            None => end[k] = next_acct,
        }
    }
    for k in 0..ncpus {
        if let Some(v) = on[k] {
            charge(&mut doms, &mut ran, v, total_ns.saturating_sub(since[k]));
        }
    }
    ran
}

/// Each domain's CPU ns in [`simulate_cpus`].
fn per_domain(ran: &[Vec<u64>]) -> Vec<u64> {
    ran.iter().map(|v| v.iter().sum()).collect()
}

#[test]
fn weights_hold_across_cpus() {
    // Two domains of four busy vCPUs on four CPUs, weights 512:256: 2/3 and 1/3 of the four
    // CPUs, every CPU busy.
    let total = 3_000_000_000;
    let ran = simulate_cpus(4, &[(512, 0, 4), (256, 0, 4)], total);
    let d = per_domain(&ran);
    let share = d[0] as f64 / (d[0] + d[1]) as f64;
    assert!(
        (0.64..=0.69).contains(&share),
        "weight 512's share {share:.3}, want 2/3 ({ran:?})"
    );
    assert!(
        d[0] + d[1] >= 4 * total * 99 / 100,
        "CPUs left idle: {ran:?}"
    );
    for v in &ran {
        let (lo, hi) = (v.iter().min().unwrap(), v.iter().max().unwrap());
        assert!(hi - lo < hi / 10, "a domain's vCPUs differ: {ran:?}");
    }
    // Equal weights: equal halves.
    let d = per_domain(&simulate_cpus(4, &[(256, 0, 4), (256, 0, 4)], total));
    let share = d[0] as f64 / (d[0] + d[1]) as f64;
    assert!((0.48..=0.52).contains(&share), "equal weights: {share:.3}");
}

#[test]
fn a_cap_holds_across_cpus() {
    let total = 3_000_000_000;
    // Four busy vCPUs alone on four CPUs: four CPUs' worth uncapped, one at cap 100.
    let free = per_domain(&simulate_cpus(4, &[(256, 0, 4)], total))[0] as f64 / total as f64;
    assert!(free > 3.95, "uncapped: {free:.3} CPUs");
    let capped = per_domain(&simulate_cpus(4, &[(256, 100, 4)], total))[0] as f64 / total as f64;
    assert!((0.97..=1.03).contains(&capped), "cap 100: {capped:.3} CPUs");
    let capped = per_domain(&simulate_cpus(4, &[(256, 250, 4)], total))[0] as f64 / total as f64;
    assert!((2.42..=2.58).contains(&capped), "cap 250: {capped:.3} CPUs");
}

#[test]
fn a_domain_gets_at_most_a_cpu_per_vcpu_and_the_rest_goes_by_weight() {
    // A heavy one-vCPU domain can use one CPU only: the other three go 2:1 by weight.
    let total = 3_000_000_000;
    let d = per_domain(&simulate_cpus(
        4,
        &[(2048, 0, 1), (512, 0, 4), (256, 0, 4)],
        total,
    ));
    let one = d[0] as f64 / total as f64;
    assert!(one > 0.97, "the one-vCPU domain got {one:.3} CPUs ({d:?})");
    let share = d[1] as f64 / (d[1] + d[2]) as f64;
    assert!(
        (0.64..=0.69).contains(&share),
        "weight 512's share of the rest {share:.3} ({d:?})"
    );
}

#[test]
fn accounting_shares_out_the_cpu_time_used_on_every_cpu() {
    // Four CPUs' worth used in the period (eight vCPUs, half of it each): that much is
    // shared out, 2:1 by weight, not one CPU's worth.
    let (mut a, mut b) = (
        Credit {
            weight: 512,
            ..Credit::default()
        },
        Credit::default(),
    );
    let mut av = [VcpuCredit::default(); 4];
    let mut bv = [VcpuCredit::default(); 4];
    for v in av.iter_mut() {
        v.burn(&mut a, ACCT_NS / 2);
    }
    for v in bv.iter_mut() {
        v.burn(&mut b, ACCT_NS / 2);
    }
    account(
        ACCT_NS,
        [
            (&mut a, av.iter_mut().map(|v| (v, true)).collect()),
            (&mut b, bv.iter_mut().map(|v| (v, true)).collect()),
        ]
        .into_iter(),
    );
    let (period, used) = (ACCT_NS as i64, 4 * ACCT_NS as i64);
    assert!(
        av.iter().all(|v| v.credit == used * 2 / 3 / 4 - period / 2),
        "{av:?}"
    );
    assert!(
        bv.iter().all(|v| v.credit == used / 3 / 4 - period / 2),
        "{bv:?}"
    );
    // Eight CPUs' worth (each vCPU ran the whole period): weight would give 512's domain
    // more than its four vCPUs can run; it gets four periods, the other the rest.
    for v in av.iter_mut() {
        *v = VcpuCredit::default();
        v.burn(&mut a, ACCT_NS);
    }
    for v in bv.iter_mut() {
        *v = VcpuCredit::default();
        v.burn(&mut b, ACCT_NS);
    }
    account(
        ACCT_NS,
        [
            (&mut a, av.iter_mut().map(|v| (v, true)).collect()),
            (&mut b, bv.iter_mut().map(|v| (v, true)).collect()),
        ]
        .into_iter(),
    );
    assert!(av.iter().chain(&bv).all(|v| v.credit == 0), "{av:?} {bv:?}");
}
