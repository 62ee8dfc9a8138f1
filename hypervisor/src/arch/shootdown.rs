//! TLB shootdowns between processors, the protocol (the backend sends the interrupts and
//! flushes): one shootdown at a time; the sender leaves a request in each target's slot,
//! interrupts it and waits until each has counted the request done. Every CPU that waits —
//! for the shootdown lock or for its targets — serves its own slot meanwhile, so two CPUs
//! shooting at each other with interrupts off cannot deadlock.

use crate::cpus::MAX_CPUS;
use core::sync::atomic::{AtomicU64, Ordering};

/// What a shootdown invalidates on the other CPUs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flush {
    /// Every (non-global) translation: the hypervisor maps nothing global, so all of them.
    All,
    /// The translations of one linear page.
    Page(u64),
}

impl Flush {
    /// The request word: 1 for `All`, the page's address with bit 1 set for `Page` (page
    /// addresses have their low 12 bits clear); 0 is "no request".
    fn encode(self) -> u64 {
        match self {
            Flush::All => 1,
            Flush::Page(va) => (va & !0xFFF) | 2,
        }
    }

    fn decode(code: u64) -> Option<Flush> {
        match code {
            0 => None,
            1 => Some(Flush::All),
            c => Some(Flush::Page(c & !0xFFF)),
        }
    }
}

/// Why a shootdown could not complete (each is fatal for the caller: going on would leave a
/// stale translation to memory that changes hands).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stuck {
    /// CPU n's interrupt could not be sent.
    NotSent(usize),
    /// CPU n did not answer before the deadline.
    NoAnswer(usize),
}

/// One shootdown at a time (the requests below are per target CPU).
static LOCK: crate::sync::Lock<()> =
    crate::sync::Lock::new(crate::sync::Rank::Shootdown, "shootdown", ());
/// The request waiting for each CPU (see [`Flush::encode`]).
static REQ: [AtomicU64; MAX_CPUS] = [const { AtomicU64::new(0) }; MAX_CPUS];
/// Requests each CPU has carried out.
static DONE: [AtomicU64; MAX_CPUS] = [const { AtomicU64::new(0) }; MAX_CPUS];

/// Carries out CPU `me`'s waiting request with `flush`, if there is one (its interrupt
/// handler, and the waiting loops below).
pub fn serve(me: usize, flush: impl Fn(Flush)) {
    if let Some(f) = Flush::decode(REQ[me].swap(0, Ordering::AcqRel)) {
        flush(f);
        DONE[me].fetch_add(1, Ordering::AcqRel);
    }
}

/// Requests carried out by CPU `n` so far.
pub fn done(n: usize) -> u64 {
    DONE[n].load(Ordering::Acquire)
}

/// From CPU `me`: `what` on every CPU of `targets` (bit n = CPU n; `me` is left out), each
/// interrupted by `send(n)` (false: it could not be), waiting until `now()` passes
/// `deadline` at most; `flush` serves `me`'s own requests while it waits. Returns the CPUs
/// flushed.
pub fn shootdown(
    me: usize,
    targets: u32,
    what: Flush,
    mut send: impl FnMut(usize) -> bool,
    flush: impl Fn(Flush),
    now: impl Fn() -> u64,
    deadline: u64,
) -> Result<u32, Stuck> {
    let targets = targets & !(1 << me) & ((1u64 << MAX_CPUS) - 1) as u32;
    if targets == 0 {
        return Ok(0);
    }
    let _one = loop {
        if let Some(g) = LOCK.try_lock() {
            break g;
        }
        serve(me, &flush);
        core::hint::spin_loop();
    };
    let each = || (0..MAX_CPUS).filter(move |n| targets & (1 << n) != 0);
    let mut before = [0u64; MAX_CPUS];
    for n in each() {
        before[n] = done(n);
        REQ[n].store(what.encode(), Ordering::Release);
        if !send(n) {
            REQ[n].store(0, Ordering::Release);
            return Err(Stuck::NotSent(n));
        }
    }
    for n in each() {
        while done(n) == before[n] {
            serve(me, &flush);
            if now() > deadline {
                return Err(Stuck::NoAnswer(n));
            }
            core::hint::spin_loop();
        }
    }
    Ok(targets)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;
    use std::sync::{Arc, Mutex};

    #[test]
    fn request_words_round_trip() {
        for f in [
            Flush::All,
            Flush::Page(0),
            Flush::Page(0xFFFF_8000_1234_5000),
        ] {
            assert_eq!(Flush::decode(f.encode()), Some(f));
        }
        assert_eq!(Flush::decode(0), None);
        assert_eq!(Flush::Page(0x1234).encode() & 0xFFF, 2);
    }

    /// CPUs 5 and 6 as threads that serve their slots as their interrupt would; CPU 4
    /// shoots at them (and at itself, which is left out) and each flushes exactly once.
    #[test]
    fn every_target_flushes_once_and_the_sender_is_left_out() {
        let stop = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let threads: Vec<_> = [5usize, 6]
            .into_iter()
            .map(|n| {
                let (stop, seen) = (stop.clone(), seen.clone());
                std::thread::spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        serve(n, |f| seen.lock().unwrap().push((n, f)));
                        std::thread::yield_now();
                    }
                })
            })
            .collect();
        let t0 = std::time::Instant::now();
        let now = || t0.elapsed().as_nanos() as u64;
        let mut sent = Vec::new();
        let got = shootdown(
            4,
            0b111_0000,
            Flush::Page(0x5000),
            |n| {
                sent.push(n);
                true
            },
            |_| panic!("CPU 4 had no request"),
            now,
            10_000_000_000,
        );
        stop.store(true, Ordering::Relaxed);
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(got, Ok(0b110_0000));
        assert_eq!(sent, [5, 6]);
        let mut seen = seen.lock().unwrap().clone();
        seen.sort_by_key(|s| s.0);
        assert_eq!(seen, [(5, Flush::Page(0x5000)), (6, Flush::Page(0x5000))]);
    }

    /// A target that never answers is reported (not waited for forever), one that cannot
    /// be interrupted too, and nothing is left in its slot for later.
    #[test]
    fn a_silent_or_unreachable_target_is_reported() {
        let clock = core::cell::Cell::new(0u64);
        let now = || {
            clock.set(clock.get() + 1);
            clock.get()
        };
        let r = shootdown(2, 1 << 3, Flush::All, |_| true, |_| {}, now, 100);
        assert_eq!(r, Err(Stuck::NoAnswer(3)));
        // Its request is still waiting: served late, it counts.
        let before = done(3);
        serve(3, |_| {});
        assert_eq!(done(3), before + 1);
        let r = shootdown(2, 1 << 7, Flush::All, |_| false, |_| {}, || 0, 100);
        assert_eq!(r, Err(Stuck::NotSent(7)));
        serve(7, |_| panic!("no request was left for CPU 7"));
        assert_eq!(
            shootdown(2, 1 << 2, Flush::All, |_| true, |_| {}, || 0, 0),
            Ok(0)
        );
    }
}
