//! The credit policy, in the spirit of Xen's credit1 (pure logic, host-tested).
//!
//! Every accounting period the CPU time of the period is shared out as credit among the
//! *active* domains (runnable, or that ran during the period) in proportion to their weight.
//! Running burns credit ns for ns. A domain with credit left is UNDER, one without is OVER;
//! UNDER runs before OVER, and a domain woken from blocking with credit left is BOOSTed ahead
//! of both until it is next descheduled. A capped domain is parked once it has used its cap's
//! share of the period, until the next period.

use guest_abi::types::DomId;

/// Default weight (as Xen).
pub const DEFAULT_WEIGHT: u16 = 256;
/// Weight bounds (as Xen: 1–65535).
pub const MIN_WEIGHT: u16 = 1;
/// Highest cap for our one physical CPU, in percent.
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

/// A domain's scheduling parameters and state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Credit {
    /// Relative weight.
    pub weight: u16,
    /// Cap in percent of the CPU (0 = none).
    pub cap: u16,
    /// Credit in ns of CPU.
    pub credit: i64,
    /// Woken from blocking: runs first once.
    pub boost: bool,
    /// Used up its cap for this period.
    pub parked: bool,
    /// ns run during this period.
    pub used: u64,
    /// Yielded: others run first at the next decision.
    pub yielded: bool,
    /// CPU used against the cap, carried over periods (a token bucket, so an overshoot of
    /// one period is paid back in the next).
    pub cap_used: u64,
}

impl Default for Credit {
    fn default() -> Self {
        Credit {
            weight: DEFAULT_WEIGHT,
            cap: 0,
            credit: 0,
            boost: false,
            parked: false,
            used: 0,
            yielded: false,
            cap_used: 0,
        }
    }
}

impl Credit {
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

    /// The CPU time the cap allows per period, if capped.
    pub fn cap_budget(&self) -> Option<u64> {
        (self.cap != 0).then(|| ACCT_NS * u64::from(self.cap) / 100)
    }

    /// Charge `ns` of CPU; parks a capped domain that reached its budget.
    pub fn burn(&mut self, ns: u64) {
        self.credit = self.credit.saturating_sub(ns as i64);
        self.used += ns;
        if let Some(b) = self.cap_budget() {
            self.cap_used += ns;
            self.parked = self.cap_used >= b;
        }
    }

    /// Woken from blocking: boost if it has credit left.
    pub fn wake(&mut self) {
        self.boost = self.credit > 0;
    }

    /// How long it may run now: a time slice, cut short where its cap budget ends, and, if
    /// `contended` (others wait), where its credit runs out.
    pub fn slice(&self, contended: bool) -> u64 {
        let mut s = TSLICE_NS;
        if let Some(b) = self.cap_budget() {
            s = s.min(b.saturating_sub(self.cap_used));
        }
        if contended && self.credit > 0 {
            s = s.min(self.credit as u64);
        }
        s.max(MIN_SLICE_NS)
    }
}

/// One accounting period of `period_ns` (nominally [`ACCT_NS`]; the real length, so no CPU
/// time goes uncredited when the timer fires late): share that much credit among the active domains (runnable, or
/// that ran during the period) by weight, water-filling: a domain that is not runnable is
/// given no more than it used, and what it leaves goes to the others by weight (so the CPU
/// a mostly idle dom0 does not use is shared by weight, not lost to round-robin). Credit is
/// clamped to ±one period (no hoarding, bounded debt), and a new period starts.
/// Each entry is a domain's credit and whether it is runnable now.
pub fn account<'a>(period_ns: u64, doms: impl Iterator<Item = (&'a mut Credit, bool)>) {
    let mut all: alloc::vec::Vec<(&'a mut Credit, bool)> = doms.collect();
    let n = all.len();
    // Demand: unbounded for runnable domains, what it used for the others.
    let demand: alloc::vec::Vec<Option<u64>> = all
        .iter()
        .map(|(c, r)| if *r { None } else { Some(c.used) })
        .collect();
    let mut grant: alloc::vec::Vec<Option<u64>> = alloc::vec![None; n];
    let active = |i: usize| demand[i] != Some(0);
    let mut remaining = period_ns;
    loop {
        let open: alloc::vec::Vec<usize> = (0..n)
            .filter(|&i| active(i) && grant[i].is_none())
            .collect();
        let total: u64 = open.iter().map(|&i| u64::from(all[i].0.weight)).sum();
        if total == 0 {
            break;
        }
        let fair = |i: usize| remaining * u64::from(all[i].0.weight) / total;
        let capped: alloc::vec::Vec<usize> = open
            .iter()
            .copied()
            .filter(|&i| demand[i].is_some_and(|d| d < fair(i)))
            .collect();
        if capped.is_empty() {
            for &i in &open {
                grant[i] = Some(fair(i));
            }
            break;
        }
        for i in capped {
            let d = demand[i].unwrap_or(0);
            grant[i] = Some(d);
            remaining -= d;
        }
    }
    for (i, (c, _)) in all.iter_mut().enumerate() {
        if let Some(g) = grant[i] {
            c.credit = c.credit.saturating_add(g as i64);
        }
        c.credit = c.credit.clamp(-MAX_DEBT_NS, ACCT_NS as i64);
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

/// Choose among `cands` (domain id, priority, credit) — runnable and not parked, in id
/// order — the highest priority; within it the most credit (least debt, so time beyond
/// everyone's credit is still shared by weight), round-robin after `after` among equals.
pub fn pick(cands: &[(DomId, u8, i64)], after: DomId) -> Option<DomId> {
    let best = cands.iter().map(|c| (c.1, c.2)).max()?;
    let mut it = cands.iter().filter(|c| (c.1, c.2) == best);
    let first = it.clone().next().map(|c| c.0);
    it.find(|c| c.0 > after).map(|c| c.0).or(first)
}

#[cfg(test)]
mod tests;
