//! Virtual time: system time (ns since boot) from the TSC, the per-vCPU `vcpu_time_info`
//! and the wall clock in shared_info, per-vCPU timers (one-shot, periodic, poll timeout),
//! per-domain watchdogs and runstate accounting. The math is pure and host-tested; writing shared_info
//! is bare-metal only.

use guest_abi::vcpu::{VcpuRunstateInfo, RUNSTATE_OFFLINE};

/// Nanoseconds per second.
pub const NS_PER_SEC: u64 = 1_000_000_000;
/// Watchdog slots per domain (as Xen's NR_DOMAIN_WATCHDOG_TIMERS).
pub const NR_WATCHDOGS: usize = 2;
/// The shortest period `VCPUOP_set_periodic_timer` accepts (as Xen).
pub const MIN_PERIOD_NS: u64 = 1_000_000;

pub use crate::arch::tsc::{scale_delta, scale_for_khz};
pub use crate::util::unix_time;

/// A one-shot deadline that the vCPU's own hypercall may set without the state lock
/// (`set_timer_op`'s lock-free path, through this CPU's current-vCPU slot:
/// `domain::state::with_current_oneshot`) while the scheduler reads and expires it under
/// the lock. Shared by reference count with that slot; a clone is a separate copy of the
/// value. `u64::MAX` inside means disarmed (no deadline is that far: a guest's deadline
/// more than 2^50 ns ahead is clamped, and u64::MAX ns is never reached).
#[derive(Debug, Default)]
pub struct SharedDeadline(alloc::sync::Arc<SharedDeadlineCell>);

/// The cell behind a [`SharedDeadline`].
#[derive(Debug)]
pub struct SharedDeadlineCell(core::sync::atomic::AtomicU64);

impl Default for SharedDeadlineCell {
    fn default() -> Self {
        SharedDeadlineCell(core::sync::atomic::AtomicU64::new(u64::MAX))
    }
}

impl SharedDeadlineCell {
    /// Arm at `t`, or disarm (`None`).
    pub fn set(&self, t: Option<u64>) {
        self.0
            .store(t.unwrap_or(u64::MAX), core::sync::atomic::Ordering::Release);
    }

    /// The deadline, if armed.
    pub fn get(&self) -> Option<u64> {
        let t = self.0.load(core::sync::atomic::Ordering::Acquire);
        (t != u64::MAX).then_some(t)
    }
}

impl SharedDeadline {
    /// The deadline, if armed.
    pub fn get(&self) -> Option<u64> {
        self.0.get()
    }

    /// Arm at `t`, or disarm (`None`).
    pub fn set(&self, t: Option<u64>) {
        self.0.set(t)
    }

    /// Disarm it if it is due at `now`; whether it was. A deadline set meanwhile (by the
    /// lock-free path) is kept.
    pub fn take_if_due(&self, now: u64) -> bool {
        use core::sync::atomic::Ordering;
        let t = self.0 .0.load(Ordering::Acquire);
        t != u64::MAX
            && t <= now
            && self
                .0
                 .0
                .compare_exchange(t, u64::MAX, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
    }

    /// The cell, for this CPU's current-vCPU slot.
    pub fn cell(&self) -> alloc::sync::Arc<SharedDeadlineCell> {
        self.0.clone()
    }
}

impl Clone for SharedDeadline {
    fn clone(&self) -> Self {
        let c = SharedDeadline::default();
        c.set(self.get());
        c
    }
}

impl PartialEq for SharedDeadline {
    fn eq(&self, other: &Self) -> bool {
        self.get() == other.get()
    }
}

impl PartialEq<Option<u64>> for SharedDeadline {
    fn eq(&self, other: &Option<u64>) -> bool {
        self.get() == *other
    }
}

/// A vCPU's timers (absolute system times in ns).
#[derive(Clone, Debug, Default)]
pub struct Timers {
    /// The one-shot timer (`set_timer_op`, `VCPUOP_set_singleshot_timer`).
    pub singleshot: SharedDeadline,
    /// The periodic timer's period (0 = off) and next expiry.
    pub period: u64,
    /// Next expiry of the periodic timer.
    pub periodic_next: u64,
    /// Timeout of a `SCHEDOP_poll` in progress.
    pub poll_deadline: Option<u64>,
}

/// What expired in [`Timers::expire`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Expired {
    /// VIRQ_TIMER is due (one-shot or periodic).
    pub timer_virq: bool,
    /// The poll timed out.
    pub poll_timeout: bool,
}

impl Timers {
    /// The earliest expiry, if any timer is armed.
    pub fn next_deadline(&self) -> Option<u64> {
        let periodic = (self.period != 0).then_some(self.periodic_next);
        [self.singleshot.get(), periodic, self.poll_deadline]
            .into_iter()
            .flatten()
            .min()
    }

    /// Expire everything due at `now`: one-shots are disarmed, the periodic timer moves to
    /// its next period after `now` (missed periods are not replayed).
    pub fn expire(&mut self, now: u64) -> Expired {
        let mut e = Expired::default();
        if self.singleshot.take_if_due(now) {
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
        e
    }
}

/// A domain's watchdogs (`SCHEDOP_watchdog`): expiry and timeout in seconds, per slot.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Watchdogs(pub [Option<(u64, u32)>; NR_WATCHDOGS]);

impl Watchdogs {
    /// The earliest expiry, if any watchdog is armed.
    pub fn next_deadline(&self) -> Option<u64> {
        self.0.iter().flatten().map(|w| w.0).min()
    }

    /// Disarm every watchdog due at `now`; whether one fired.
    pub fn expire(&mut self, now: u64) -> bool {
        let mut fired = false;
        for w in &mut self.0 {
            if w.is_some_and(|(t, _)| t <= now) {
                *w = None;
                fired = true;
            }
        }
        fired
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
    /// Enter `state` at `now` (no-op if already in it); whether it changed.
    pub fn change(&mut self, state: i32, now: u64) -> bool {
        if state == self.state {
            return false;
        }
        if let Some(t) = self.time.get_mut(self.state as usize) {
            *t += now.saturating_sub(self.entry);
        }
        self.state = state;
        self.entry = now;
        true
    }

    /// The record as a registered runstate area holds it (as Xen's): the times of the states
    /// left so far, and when the current one was entered.
    pub fn recorded(&self) -> VcpuRunstateInfo {
        VcpuRunstateInfo {
            state: self.state,
            _pad: 0,
            state_entry_time: self.entry,
            time: self.time,
        }
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
