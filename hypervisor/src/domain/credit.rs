//! The credit policy, in the spirit of Xen's credit1 (pure logic, host-tested).
//!
//! Weight and cap are a domain's, credit is each vCPU's (as credit1). Every accounting period
//! the CPU time of the period — on every CPU: what all vCPUs ran, at least one CPU's period —
//! is shared out among the *active* domains (runnable, or that ran during the period) in
//! proportion to their weight, no domain getting more than one period per active vCPU (what
//! it could run), and a domain's share equally among its active vCPUs. Running burns a
//! vCPU's credit ns for ns. A vCPU with credit left is UNDER, one without is OVER; UNDER runs
//! before OVER, and a vCPU woken from blocking with credit left is BOOSTed ahead of both
//! until it is next descheduled. A capped domain is parked (all its vCPUs) once they have
//! used its cap's share of the period, until the next period.

/// Default weight (as Xen).
pub const DEFAULT_WEIGHT: u16 = 256;
/// Weight bounds (as Xen: 1–65535).
pub const MIN_WEIGHT: u16 = 1;
/// A cap of one whole CPU, in percent (the hypervisor allows this times the CPUs online).
pub const MAX_CAP: u16 = 100;
/// The longest a vCPU runs before the scheduler reconsiders (time slice).
pub const TSLICE_NS: u64 = 10_000_000;
/// The accounting period.
pub const ACCT_NS: u64 = 30_000_000;
/// The most debt a domain carries: overshoots (a late timer, a noisy host) are paid back,
/// not forgiven, while one huge overshoot cannot lock a domain out for long.
pub const MAX_DEBT_NS: i64 = 10 * ACCT_NS as i64;
/// The shortest slice granted (so a nearly spent credit still makes progress).
pub const MIN_SLICE_NS: u64 = 500_000;

/// Priority classes, highest first.
pub const PRIO_BOOST: u8 = 2;
/// Has credit left.
pub const PRIO_UNDER: u8 = 1;
/// Has spent its credit.
pub const PRIO_OVER: u8 = 0;

/// A domain's scheduling parameters and its use of the period.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Credit {
    /// Relative weight.
    pub weight: u16,
    /// Cap in percent of the CPU (0 = none).
    pub cap: u16,
    /// Used up its cap for this period.
    pub parked: bool,
    /// ns its vCPUs ran during this period.
    pub used: u64,
    /// CPU used against the cap, carried over periods (a token bucket, so an overshoot of
    /// one period is paid back in the next).
    pub cap_used: u64,
}

impl Default for Credit {
    fn default() -> Self {
        Credit {
            weight: DEFAULT_WEIGHT,
            cap: 0,
            parked: false,
            used: 0,
            cap_used: 0,
        }
    }
}

impl Credit {
    /// The CPU time the cap allows per period, if capped.
    pub fn cap_budget(&self) -> Option<u64> {
        (self.cap != 0).then(|| ACCT_NS * u64::from(self.cap) / 100)
    }

    /// Charge the domain `ns` of CPU one of its vCPUs ran; parks it at its cap's budget.
    pub fn charge(&mut self, ns: u64) {
        self.used += ns;
        if let Some(b) = self.cap_budget() {
            self.cap_used += ns;
            self.parked = self.cap_used >= b;
        }
    }
}

/// A vCPU's credit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VcpuCredit {
    /// Credit in ns of CPU.
    pub credit: i64,
    /// Woken from blocking: runs first once.
    pub boost: bool,
    /// Yielded: others run first at the next decision.
    pub yielded: bool,
    /// ns run during this period.
    pub used: u64,
}

impl VcpuCredit {
    /// The priority class.
    pub fn prio(&self) -> u8 {
        if self.boost && self.credit > 0 {
            PRIO_BOOST
        } else if self.credit > 0 {
            PRIO_UNDER
        } else {
            PRIO_OVER
        }
    }

    /// Charge `ns` of CPU to the vCPU (and, through `dom`, its domain).
    pub fn burn(&mut self, dom: &mut Credit, ns: u64) {
        self.credit = self.credit.saturating_sub(ns as i64);
        self.used += ns;
        dom.charge(ns);
    }

    /// Woken from blocking: boost if it has credit left.
    pub fn wake(&mut self) {
        self.boost = self.credit > 0;
    }

    /// How long it may run now: a time slice, cut short where its domain's cap budget ends,
    /// and, if `contended` (others wait), where its credit runs out.
    pub fn slice(&self, dom: &Credit, contended: bool) -> u64 {
        let mut s = TSLICE_NS;
        if let Some(b) = dom.cap_budget() {
            s = s.min(b.saturating_sub(dom.cap_used));
        }
        if contended && self.credit > 0 {
            s = s.min(self.credit as u64);
        }
        s.max(MIN_SLICE_NS)
    }
}

/// Share `period_ns` among domains by weight, water-filling: each entry is a domain's
/// weight and its demand (`None`: unbounded; `Some(d)`: it gets no more than `d` — what it
/// used if it is not runnable, what its vCPUs could run if it is — and what it leaves goes
/// to the others by weight). An entry whose demand is `Some(0)` gets nothing (`None`).
pub fn shares(period_ns: u64, doms: &[(u16, Option<u64>)]) -> alloc::vec::Vec<Option<u64>> {
    let n = doms.len();
    let mut grant: alloc::vec::Vec<Option<u64>> = alloc::vec![None; n];
    let active = |i: usize| doms[i].1 != Some(0);
    let mut remaining = period_ns;
    loop {
        let open: alloc::vec::Vec<usize> = (0..n)
            .filter(|&i| active(i) && grant[i].is_none())
            .collect();
        let total: u64 = open.iter().map(|&i| u64::from(doms[i].0)).sum();
        if total == 0 {
            break;
        }
        let fair = |i: usize| remaining * u64::from(doms[i].0) / total;
        let capped: alloc::vec::Vec<usize> = open
            .iter()
            .copied()
            .filter(|&i| doms[i].1.is_some_and(|d| d < fair(i)))
            .collect();
        if capped.is_empty() {
            for &i in &open {
                grant[i] = Some(fair(i));
            }
            break;
        }
        for i in capped {
            let d = doms[i].1.unwrap_or(0);
            grant[i] = Some(d);
            remaining -= d;
        }
    }
    grant
}

/// One domain as [`account`] sees it: its parameters and each vCPU's credit with whether
/// that vCPU is runnable now.
pub type AccountEntry<'a> = (&'a mut Credit, alloc::vec::Vec<(&'a mut VcpuCredit, bool)>);

/// Whether a vCPU takes part in the period's share: runnable, or ran during the period.
fn is_active(v: &VcpuCredit, runnable: bool) -> bool {
    runnable || v.used > 0
}

/// One accounting period of `period_ns` on one CPU (nominally [`ACCT_NS`]; the real length,
/// so no CPU time goes uncredited when the timer fires late). What is shared out is the CPU
/// time the period gave on every CPU: what the vCPUs ran in it (charged so far), at least
/// `period_ns`. Sharing one CPU's period while several CPUs run vCPUs would leave every busy
/// vCPU deeper in debt each period, until all sit at the floor ([`MAX_DEBT_NS`]) and are
/// picked alike, weights ignored; sharing what ran keeps credit given equal to credit spent,
/// and counts only CPUs the domains could use (those their affinity lets them run on).
/// [`shares`] among the domains (runnable if any vCPU is; a runnable domain can use at most
/// one period per active vCPU), each domain's share split equally among its active vCPUs.
/// Credit is clamped to ±one period (no hoarding, bounded debt), and a new period starts.
pub fn account<'a>(period_ns: u64, doms: impl Iterator<Item = AccountEntry<'a>>) {
    let mut all: alloc::vec::Vec<AccountEntry<'a>> = doms.collect();
    let ran: u64 = all.iter().map(|(c, _)| c.used).sum();
    let demand: alloc::vec::Vec<(u16, Option<u64>)> = all
        .iter()
        .map(|(c, vs)| {
            let runnable = vs.iter().any(|(_, r)| *r);
            let active = vs.iter().filter(|(v, r)| is_active(v, *r)).count() as u64;
            let d = if runnable {
                period_ns.saturating_mul(active)
            } else {
                c.used
            };
            (c.weight, Some(d))
        })
        .collect();
    let grant = shares(period_ns.max(ran), &demand);
    for ((c, vcpus), g) in all.iter_mut().zip(grant) {
        let active = vcpus.iter().filter(|(v, r)| is_active(v, *r)).count() as u64;
        let each = g.unwrap_or(0) / active.max(1);
        for (v, r) in vcpus.iter_mut() {
            if is_active(v, *r) {
                v.credit = v.credit.saturating_add(each as i64);
            }
            v.credit = v.credit.clamp(-MAX_DEBT_NS, ACCT_NS as i64);
            v.used = 0;
        }
        c.used = 0;
        match c.cap_budget() {
            Some(b) => {
                c.cap_used = c.cap_used.saturating_sub(b);
                c.parked = c.cap_used >= b;
            }
            None => {
                c.cap_used = 0;
                c.parked = false;
            }
        }
    }
}

/// Choose among `cands` (vCPU, priority, credit) — runnable and not parked, in id order —
/// the highest priority; within it the most credit (least debt, so time beyond everyone's
/// credit is still shared by weight), round-robin after `after` among equals.
pub fn pick<K: Copy + Ord>(cands: &[(K, u8, i64)], after: K) -> Option<K> {
    let best = cands.iter().map(|c| (c.1, c.2)).max()?;
    let mut it = cands.iter().filter(|c| (c.1, c.2) == best);
    let first = it.clone().next().map(|c| c.0);
    it.find(|c| c.0 > after).map(|c| c.0).or(first)
}

/// [`pick`] over candidates offered one at a time, in id order, without collecting them
/// (the scheduling pass allocates nothing): the same choice as [`pick`] of the candidates
/// offered.
#[derive(Clone, Copy, Debug)]
pub struct Picker<K> {
    after: K,
    /// The best (priority, credit) offered so far.
    best: Option<(u8, i64)>,
    /// The first candidate offered with `best`, and the first of those after `after`.
    first: Option<K>,
    next: Option<K>,
    offered: usize,
}

impl<K: Copy + Ord> Picker<K> {
    /// A picker that continues round-robin after `after`.
    pub fn new(after: K) -> Self {
        Picker {
            after,
            best: None,
            first: None,
            next: None,
            offered: 0,
        }
    }

    /// Offers candidate `k` (ids must come in increasing order).
    pub fn offer(&mut self, k: K, prio: u8, credit: i64) {
        self.offered += 1;
        let key = (prio, credit);
        match self.best {
            Some(b) if key < b => {}
            Some(b) if key == b => {
                if self.next.is_none() && k > self.after {
                    self.next = Some(k);
                }
            }
            _ => {
                self.best = Some(key);
                self.first = Some(k);
                self.next = (k > self.after).then_some(k);
            }
        }
    }

    /// The choice ([`pick`]'s), if anything was offered.
    pub fn pick(&self) -> Option<K> {
        self.next.or(self.first)
    }

    /// How many candidates were offered.
    pub fn offered(&self) -> usize {
        self.offered
    }
}

#[cfg(test)]
mod tests;
