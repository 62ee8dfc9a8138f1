//! Virtual time: system time (ns since boot) from the TSC, the per-vCPU `vcpu_time_info`
//! and the wall clock in shared_info, per-vCPU timers (one-shot, periodic, poll timeout,
//! watchdogs) and runstate accounting. The math is pure and host-tested; writing shared_info
//! is bare-metal only.

use guest_abi::vcpu::{VcpuRunstateInfo, RUNSTATE_OFFLINE};

/// Nanoseconds per second.
pub const NS_PER_SEC: u64 = 1_000_000_000;
/// Watchdog slots per domain (as Xen's NR_DOMAIN_WATCHDOG_TIMERS).
pub const NR_WATCHDOGS: usize = 2;
/// The shortest period `VCPUOP_set_periodic_timer` accepts (as Xen).
pub const MIN_PERIOD_NS: u64 = 1_000_000;

/// `tsc_to_system_mul` and `tsc_shift` for a TSC of `khz`: ns = ((delta << shift) × mul) >> 32
/// with mul in [2^31, 2^32), so the scale keeps 31 bits of precision.
pub fn scale_for_khz(khz: u64) -> (u32, i8) {
    let mut tps = khz.max(1) * 1000; // ticks per second, after shifting
    let mut shift: i8 = 0;
    while tps <= NS_PER_SEC {
        tps <<= 1;
        shift += 1;
    }
    while tps > 2 * NS_PER_SEC {
        tps >>= 1;
        shift -= 1;
    }
    (
        ((u128::from(NS_PER_SEC) << 32) / u128::from(tps)) as u32,
        shift,
    )
}

/// Scale a TSC delta to ns with (mul, shift), exactly as a guest does with vcpu_time_info.
pub fn scale_delta(delta: u64, mul: u32, shift: i8) -> u64 {
    let d = if shift >= 0 {
        delta << shift
    } else {
        delta >> -i32::from(shift)
    };
    ((u128::from(d) * u128::from(mul)) >> 32) as u64
}

/// Seconds since 1970-01-01 of a UTC calendar date and time (proleptic Gregorian).
pub fn unix_time(year: u64, month: u64, day: u64, h: u64, m: u64, s: u64) -> u64 {
    // Days from civil (Howard Hinnant's algorithm), shifted so the year starts in March.
    let y = if month <= 2 { year - 1 } else { year };
    let era = y / 400;
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    days * 86_400 + h * 3600 + m * 60 + s
}

/// A vCPU's timers (absolute system times in ns).
#[derive(Clone, Debug, Default)]
pub struct Timers {
    /// The one-shot timer (`set_timer_op`, `VCPUOP_set_singleshot_timer`).
    pub singleshot: Option<u64>,
    /// The periodic timer's period (0 = off) and next expiry.
    pub period: u64,
    /// Next expiry of the periodic timer.
    pub periodic_next: u64,
    /// Timeout of a `SCHEDOP_poll` in progress.
    pub poll_deadline: Option<u64>,
    /// Watchdogs: expiry and timeout in seconds, per slot.
    pub watchdogs: [Option<(u64, u32)>; NR_WATCHDOGS],
}

/// What expired in [`Timers::expire`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Expired {
    /// VIRQ_TIMER is due (one-shot or periodic).
    pub timer_virq: bool,
    /// The poll timed out.
    pub poll_timeout: bool,
    /// A watchdog fired.
    pub watchdog: bool,
}

impl Timers {
    /// The earliest expiry, if any timer is armed.
    pub fn next_deadline(&self) -> Option<u64> {
        let periodic = (self.period != 0).then_some(self.periodic_next);
        let wd = self.watchdogs.iter().flatten().map(|w| w.0).min();
        [self.singleshot, periodic, self.poll_deadline, wd]
            .into_iter()
            .flatten()
            .min()
    }

    /// Expire everything due at `now`: one-shots are disarmed, the periodic timer moves to
    /// its next period after `now` (missed periods are not replayed).
    pub fn expire(&mut self, now: u64) -> Expired {
        let mut e = Expired::default();
        if self.singleshot.is_some_and(|t| t <= now) {
            self.singleshot = None;
            e.timer_virq = true;
        }
        if self.period != 0 && self.periodic_next <= now {
            e.timer_virq = true;
            let behind = (now - self.periodic_next) / self.period + 1;
            self.periodic_next += behind * self.period;
        }
        if self.poll_deadline.is_some_and(|t| t <= now) {
            self.poll_deadline = None;
            e.poll_timeout = true;
        }
        for w in &mut self.watchdogs {
            if w.is_some_and(|(t, _)| t <= now) {
                *w = None;
                e.watchdog = true;
            }
        }
        e
    }
}

/// Runstate accounting of one vCPU.
#[derive(Clone, Copy, Debug)]
pub struct Runstate {
    /// `RUNSTATE_*`.
    pub state: i32,
    /// When the state was entered.
    pub entry: u64,
    /// Time spent in each state before the current one.
    pub time: [u64; 4],
}

impl Default for Runstate {
    fn default() -> Self {
        Runstate {
            state: RUNSTATE_OFFLINE,
            entry: 0,
            time: [0; 4],
        }
    }
}

impl Runstate {
    /// Enter `state` at `now` (no-op if already in it).
    pub fn change(&mut self, state: i32, now: u64) {
        if state == self.state {
            return;
        }
        if let Some(t) = self.time.get_mut(self.state as usize) {
            *t += now.saturating_sub(self.entry);
        }
        self.state = state;
        self.entry = now;
    }

    /// The guest's view at `now`: the current state's time counts up to `now`.
    pub fn snapshot(&self, now: u64) -> VcpuRunstateInfo {
        let mut time = self.time;
        if let Some(t) = time.get_mut(self.state as usize) {
            *t += now.saturating_sub(self.entry);
        }
        VcpuRunstateInfo {
            state: self.state,
            _pad: 0,
            state_entry_time: self.entry,
            time,
        }
    }
}

mod shared;
pub use shared::{init_shared_info, init_wallclock, now, set_boot_wallclock, update_vcpu_time};

#[cfg(test)]
mod tests;
