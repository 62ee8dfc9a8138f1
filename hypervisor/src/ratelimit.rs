//! A token bucket: at most `burst` units at once, refilled at `rate` units a second. Each
//! domU's direct console output (`console_io`) goes through one, so no domain can flood the
//! hypervisor's console or crowd out everyone else's output.

/// A token bucket over a nanosecond clock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bucket {
    tokens: u64,
    last_ns: u64,
    /// Units refused since the last report.
    pub dropped: u64,
    /// When refusals were last reported (0: never).
    pub reported_ns: u64,
}

impl Bucket {
    /// A full bucket of `burst` units at time `now_ns`.
    pub const fn new(burst: u64, now_ns: u64) -> Self {
        Bucket {
            tokens: burst,
            last_ns: now_ns,
            dropped: 0,
            reported_ns: 0,
        }
    }

    /// Takes up to `want` units at `now_ns` (`rate` a second, at most `burst` held); returns
    /// how many were granted and counts the rest as dropped.
    pub fn take(&mut self, now_ns: u64, want: u64, rate: u64, burst: u64) -> u64 {
        let elapsed = now_ns.saturating_sub(self.last_ns);
        let refill = (u128::from(elapsed) * u128::from(rate) / 1_000_000_000) as u64;
        if refill > 0 {
            self.tokens = self.tokens.saturating_add(refill).min(burst);
            self.last_ns = now_ns;
        }
        let got = want.min(self.tokens);
        self.tokens -= got;
        self.dropped = self.dropped.saturating_add(want - got);
        got
    }

    /// Takes all `want` units at `now_ns` or none (counted as dropped): whether granted.
    pub fn take_all(&mut self, now_ns: u64, want: u64, rate: u64, burst: u64) -> bool {
        self.take(now_ns, 0, rate, burst);
        if self.tokens >= want {
            self.tokens -= want;
            true
        } else {
            self.dropped = self.dropped.saturating_add(want);
            false
        }
    }

    /// If refusals are waiting to be reported and the last report is `every_ns` old, returns
    /// their count and starts counting again.
    pub fn report_due(&mut self, now_ns: u64, every_ns: u64) -> Option<u64> {
        if self.dropped == 0
            || (self.reported_ns != 0 && now_ns.saturating_sub(self.reported_ns) < every_ns)
        {
            return None;
        }
        self.reported_ns = now_ns.max(1);
        Some(core::mem::take(&mut self.dropped))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_000_000_000;

    #[test]
    fn bursts_then_refills_at_the_rate() {
        let mut b = Bucket::new(100, 0);
        assert_eq!(b.take(0, 60, 10, 100), 60);
        assert_eq!(b.take(0, 60, 10, 100), 40, "the rest of the burst");
        assert_eq!(b.dropped, 20);
        assert_eq!(b.take(0, 5, 10, 100), 0);
        assert_eq!(b.take(S / 2, 10, 10, 100), 5, "half a second at 10/s");
        assert_eq!(
            b.take(100 * S, 1000, 10, 100),
            100,
            "never more than the burst"
        );
        assert_eq!(b.dropped, 20 + 5 + 5 + 900);
    }

    #[test]
    fn whole_writes_or_nothing() {
        let mut b = Bucket::new(100, 0);
        assert!(b.take_all(0, 60, 10, 100));
        assert!(!b.take_all(0, 60, 10, 100), "40 left: all or nothing");
        assert_eq!(b.dropped, 60);
        assert!(b.take_all(0, 40, 10, 100));
        assert!(b.take_all(2 * S, 20, 10, 100), "refilled 20 in two seconds");
    }

    #[test]
    fn refusals_are_reported_at_most_every_period() {
        let mut b = Bucket::new(1, 0);
        assert_eq!(b.report_due(10, S), None, "nothing dropped");
        b.take(10, 5, 0, 1);
        assert_eq!(b.report_due(10, S), Some(4));
        b.take(20, 3, 0, 1);
        assert_eq!(b.report_due(S / 2, S), None, "too soon");
        assert_eq!(b.report_due(2 * S, S), Some(3));
    }

    #[test]
    fn a_clock_going_backwards_grants_nothing_extra() {
        let mut b = Bucket::new(10, 5 * S);
        assert_eq!(b.take(5 * S, 10, 10, 10), 10);
        assert_eq!(b.take(S, 10, 10, 10), 0);
    }
}
