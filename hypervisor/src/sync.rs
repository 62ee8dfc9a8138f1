//! The hypervisor's locks and their order. The bottom layer: it imports nothing of the
//! hypervisor; the architecture hands it what it needs ([`set_hooks`]).
//!
//! Every lock is a [`Lock`] with a [`Rank`]: a CPU may take a lock only while every lock it
//! already holds has a lower rank, so no two CPUs can wait for each other in a cycle. The
//! order, outermost first, is [`Rank`]'s: the domains' state, the scheduler's per-CPU data,
//! interrupts, TLB shootdowns, the I/O APICs, preemption bookkeeping, the I/O-memory map,
//! then the console's pieces (rate limits, UART, log ring, screen), and last the heap and
//! the frame allocator (allocation happens under any lock; the heap grows from the frame
//! allocator).
//!
//! Debug builds (the host tests) check the order on every acquisition and panic naming both
//! locks; the check tracks the ranks each CPU (on the host: each thread) holds. Release
//! builds take the plain spin lock.

use core::ops::{Deref, DerefMut};

/// Which CPU runs this code (the order check's per-CPU state); CPU 0 until
/// [`set_hooks`].
static THIS_CPU: spin::Once<fn() -> usize> = spin::Once::new();
/// What a CPU does while it spins for a lock (serve other CPUs' requests that cannot wait,
/// such as TLB shootdowns); nothing until [`set_hooks`].
static SPIN_WAIT: spin::Once<fn()> = spin::Once::new();

/// The architecture's hooks: `this_cpu` numbers the running CPU, `spin_wait` runs while a
/// CPU spins for a lock (with interrupts off, another CPU may wait for it meanwhile). Set
/// once, before a second CPU runs.
pub fn set_hooks(this_cpu: fn() -> usize, spin_wait: fn()) {
    THIS_CPU.call_once(|| this_cpu);
    SPIN_WAIT.call_once(|| spin_wait);
}

/// CPUs the order check tracks on bare metal (as `cpus::MAX_CPUS`).
#[cfg(all(debug_assertions, target_os = "none"))]
const MAX_HOOKED_CPUS: usize = 8;

/// Lock ranks, outermost first (a lock may be taken only under lower ranks).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub enum Rank {
    /// The domains, frames' bookkeeping, event channels, grants (`domain::state::STATE`).
    State = 1,
    /// The scheduler's CPU-wide data (`sched`).
    Sched = 2,
    /// Physical interrupts and their bindings (`irq`).
    Irqs = 3,
    /// One TLB shootdown at a time (`arch::shootdown`).
    Shootdown = 4,
    /// The I/O APICs' registers.
    IoApic = 5,
    /// Frames freed by preempted operations (`arch::preempt`).
    Preempt = 6,
    /// The machine's RAM ranges for I/O-memory checks (`phys::iomem`).
    Iomem = 7,
    /// Each CPU's slot of its current vCPU's lock-free state (`domain::state`): set under
    /// `State` when the vCPU changes, taken alone by the lock-free hypercalls.
    CurrentVcpu = 8,
    /// The console's warning rate limits.
    WarnBuckets = 9,
    /// The serial port.
    Uart = 10,
    /// The console's log ring.
    LogRing = 11,
    /// The VGA text screen.
    Vga = 12,
    /// The hypervisor heap.
    Heap = 13,
    /// The frame allocator.
    Frames = 14,
    /// Test-only locks (innermost).
    Test = 63,
}

/// A spin lock with a place in the lock order.
pub struct Lock<T> {
    rank: Rank,
    name: &'static str,
    inner: spin::Mutex<T>,
}

/// Holds a [`Lock`]; releases it (and its rank) when dropped.
pub struct Guard<'a, T> {
    rank: Rank,
    inner: spin::MutexGuard<'a, T>,
}

impl<T> Lock<T> {
    /// A lock named `name` (for the order check's message) at `rank`.
    pub const fn new(rank: Rank, name: &'static str, value: T) -> Self {
        Lock {
            rank,
            name,
            inner: spin::Mutex::new(value),
        }
    }

    /// Takes the lock, spinning while another CPU holds it (and meanwhile serving what
    /// other CPUs ask of this one: the `spin_wait` hook).
    pub fn lock(&self) -> Guard<'_, T> {
        order::acquire(self.rank, self.name);
        let inner = loop {
            if let Some(g) = self.inner.try_lock() {
                break g;
            }
            if let Some(wait) = SPIN_WAIT.get() {
                wait();
            }
            core::hint::spin_loop();
        };
        Guard {
            rank: self.rank,
            inner,
        }
    }

    /// Takes the lock if it is free.
    pub fn try_lock(&self) -> Option<Guard<'_, T>> {
        order::acquire(self.rank, self.name);
        match self.inner.try_lock() {
            Some(inner) => Some(Guard {
                rank: self.rank,
                inner,
            }),
            None => {
                order::release(self.rank);
                None
            }
        }
    }
}

impl<T> Deref for Guard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.inner
    }
}

impl<T> DerefMut for Guard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.inner
    }
}

impl<T> Drop for Guard<'_, T> {
    fn drop(&mut self) {
        order::release(self.rank);
    }
}

/// The order check: the set of ranks held, a bit per rank, per CPU (per thread on the host).
#[cfg(debug_assertions)]
mod order {
    use super::Rank;

    /// Records `rank` as held; panics if a lock of the same or a higher rank is held.
    pub fn acquire(rank: Rank, name: &'static str) {
        let bit = 1u64 << rank as u8;
        let held = held_get();
        let wrong = held & !(bit - 1);
        if wrong != 0 {
            let top = 63 - wrong.leading_zeros();
            panic!(
                "lock order: taking {name} (rank {}) while holding a lock of rank {top}",
                rank as u8
            );
        }
        held_set(held | bit);
    }

    /// Forgets `rank`.
    pub fn release(rank: Rank) {
        held_set(held_get() & !(1u64 << rank as u8));
    }

    #[cfg(not(target_os = "none"))]
    std::thread_local! {
        static HELD: core::cell::Cell<u64> = const { core::cell::Cell::new(0) };
    }

    #[cfg(not(target_os = "none"))]
    fn held_get() -> u64 {
        HELD.with(|h| h.get())
    }

    #[cfg(not(target_os = "none"))]
    fn held_set(v: u64) {
        HELD.with(|h| h.set(v))
    }

    #[cfg(target_os = "none")]
    static HELD: [core::sync::atomic::AtomicU64; super::MAX_HOOKED_CPUS] =
        [const { core::sync::atomic::AtomicU64::new(0) }; super::MAX_HOOKED_CPUS];

    #[cfg(target_os = "none")]
    fn held_get() -> u64 {
        HELD[super::THIS_CPU.get().map_or(0, |f| f())].load(core::sync::atomic::Ordering::Relaxed)
    }

    #[cfg(target_os = "none")]
    fn held_set(v: u64) {
        HELD[super::THIS_CPU.get().map_or(0, |f| f())]
            .store(v, core::sync::atomic::Ordering::Relaxed)
    }
}

#[cfg(not(debug_assertions))]
mod order {
    use super::Rank;

    #[inline(always)]
    pub fn acquire(_: Rank, _: &'static str) {}

    #[inline(always)]
    pub fn release(_: Rank) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    static OUTER: Lock<u32> = Lock::new(Rank::Shootdown, "outer", 0);
    static INNER: Lock<u32> = Lock::new(Rank::Uart, "inner", 0);

    #[test]
    fn in_order_nesting_works_and_guards_give_the_value() {
        let mut a = OUTER.lock();
        let mut b = INNER.lock();
        *a += 1;
        *b += 2;
        drop(b);
        // Released: the inner lock can be taken again, alone or under the outer one.
        assert!(INNER.try_lock().is_some());
        drop(a);
        assert!(*INNER.lock() >= 2);
    }

    #[test]
    fn taking_an_outer_lock_under_an_inner_one_panics_naming_it() {
        let r = std::thread::spawn(|| {
            let _b = INNER.lock();
            let _a = OUTER.lock();
        })
        .join();
        let msg = r.expect_err("out-of-order acquisition must panic");
        let msg = msg.downcast_ref::<String>().cloned().unwrap_or_default();
        assert!(msg.contains("taking outer (rank 4)"), "{msg}");
        assert!(msg.contains(&format!("rank {}", Rank::Uart as u8)), "{msg}");
    }

    #[test]
    fn the_same_rank_twice_is_refused() {
        static SECOND: Lock<()> = Lock::new(Rank::Test, "second", ());
        static FIRST: Lock<()> = Lock::new(Rank::Test, "first", ());
        let r = std::thread::spawn(|| {
            let _a = FIRST.lock();
            let _b = SECOND.lock();
        })
        .join();
        assert!(r.is_err(), "two locks of one rank nested must panic");
    }

    #[test]
    fn a_failed_try_lock_holds_nothing() {
        static L: Lock<()> = Lock::new(Rank::Test, "l", ());
        let g = L.lock();
        std::thread::spawn(|| {
            assert!(L.try_lock().is_none());
            // Nothing is recorded as held on this thread: an outer lock is fine.
            let _a = OUTER.lock();
        })
        .join()
        .unwrap();
        drop(g);
    }
}
