//! A vif's rate limit, as Xen's netback schedules credit: the vif may send `bytes` per
//! `interval`; each interval that passes gives it that much again, kept up to a burst of one
//! interval's credit (or one largest frame, if that is more, so a packet is never too big to
//! ever go). A packet costs its size when it is taken from the ring; one larger than the credit
//! left waits, on the ring, for the next interval: the pass ends and [`Credit::next_at`] says
//! when to come back. So a flooding front end sends at most `bytes` per interval (plus the
//! burst it saved), and dom0 does not spin on it.
//!
//! Without a clock (`now` of `None`), every pass counts as a new interval.

use crate::config::vif::Rate;
use crate::net::MAX_FRAME;

/// A vif's credit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Credit {
    /// Bytes per interval.
    pub bytes: u64,
    /// The interval.
    pub interval_ns: u64,
    /// Bytes that may still be sent in this interval.
    pub remaining: u64,
    /// When the current interval began.
    window_start: u64,
}

impl Credit {
    /// A full interval's credit from `now_ns` on.
    pub fn new(rate: Rate, now_ns: Option<u64>) -> Credit {
        let bytes = rate.bytes_per_interval.max(1);
        Credit {
            bytes,
            interval_ns: u64::from(rate.interval_us).max(1) * 1000,
            remaining: bytes,
            window_start: now_ns.unwrap_or(0),
        }
    }

    /// The most credit kept.
    pub fn burst(&self) -> u64 {
        self.bytes.max(MAX_FRAME as u64)
    }

    /// Brings the credit up to `now_ns`: one interval's worth for each interval passed.
    fn refill(&mut self, now_ns: Option<u64>) {
        let Some(now) = now_ns else {
            self.remaining = self.burst();
            return;
        };
        let passed = now.saturating_sub(self.window_start) / self.interval_ns;
        if passed > 0 {
            let add = passed.saturating_mul(self.bytes);
            self.remaining = self.remaining.saturating_add(add).min(self.burst());
            self.window_start = self
                .window_start
                .saturating_add(passed.saturating_mul(self.interval_ns));
        }
    }

    /// Charges a packet of `size` bytes if the credit allows it now (a size beyond the burst
    /// is charged as the burst: such a packet is refused anyway and must not block the ring).
    pub fn take(&mut self, size: u64, now_ns: Option<u64>) -> bool {
        self.refill(now_ns);
        let cost = size.min(self.burst());
        if cost > self.remaining {
            return false;
        }
        self.remaining -= cost;
        true
    }

    /// When the next interval begins (more credit).
    pub fn next_at(&self) -> u64 {
        self.window_start.saturating_add(self.interval_ns)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credit_refills_per_interval_up_to_the_burst() {
        let mut c = Credit::new(
            Rate {
                bytes_per_interval: 3000,
                interval_us: 50_000,
            },
            Some(1_000),
        );
        assert!(c.take(1500, Some(1_000)));
        assert!(c.take(1500, Some(2_000)));
        assert!(!c.take(60, Some(3_000)), "spent");
        assert_eq!(c.next_at(), 1_000 + 50_000_000);
        assert!(!c.take(60, Some(50_000_999)));
        assert!(c.take(1500, Some(50_001_000)));
        // A long idle time saves at most the burst.
        assert!(c.take(3000, Some(10_000_000_000)));
        assert!(!c.take(1, Some(10_000_000_000)));
        // Sizes beyond the burst cost the burst and do not block.
        assert!(c.take(65_535, Some(20_000_000_000)));
        // Without a clock: every pass is a new interval.
        assert!(c.take(3000, None));
        assert!(c.take(3000, None));
        // A tiny rate still lets a whole frame go, once per interval.
        let mut t = Credit::new(
            Rate {
                bytes_per_interval: 5,
                interval_us: 50_000,
            },
            Some(0),
        );
        assert_eq!(t.burst(), MAX_FRAME as u64);
        assert!(!t.take(1514, Some(0)));
        assert!(t.take(1514, Some(50_000_000 * 400)));
    }
}
