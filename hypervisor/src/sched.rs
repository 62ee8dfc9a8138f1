//! Scheduling: the credit scheduler's mechanism on our one CPU — charging CPU time, firing
//! vCPU timers, picking the next vCPU by the credit policy (`domain::credit`), switching to it,
//! keeping runstates, and programming the LAPIC one-shot for the earliest deadline (end of
//! the slice, the next guest timer, the next accounting period). With nothing runnable the
//! CPU halts until the next interrupt.

mod op;

pub use imp::*;
pub use op::scheduler_op;

mod imp {
    use crate::arch;
    use crate::domain::credit::{self, ACCT_NS, TSLICE_NS};
    use crate::domain::state::{self, State};
    use alloc::vec::Vec;
    use guest_abi::arch::CpuUserRegs;
    use guest_abi::event_channel::{VIRQ_CONSOLE, VIRQ_TIMER};
    use guest_abi::types::DomId;
    use guest_abi::vcpu::{
        RUNSTATE_BLOCKED, RUNSTATE_OFFLINE, RUNSTATE_RUNNABLE, RUNSTATE_RUNNING,
    };
    use spin::Mutex;

    /// How often the idle CPU wakes to look at the UART when its input is polled (no I/O
    /// APIC answered).
    const IDLE_TICK_NS: u64 = TSLICE_NS;

    struct Globals {
        /// The domain on the CPU (None: idle).
        running: Option<DomId>,
        /// Since when it runs (or the CPU idles).
        since: u64,
        /// When the next accounting period starts.
        next_acct: u64,
        /// When the running vCPU's slice ends (or the idle CPU next looks around).
        slice_end: u64,
    }

    /// Console bytes fed to the UART per pass of the idle loop.
    const IDLE_DRAIN: usize = 256;

    static G: Mutex<Globals> = Mutex::new(Globals {
        running: None,
        since: 0,
        next_acct: ACCT_NS,
        slice_end: TSLICE_NS,
    });

    /// Boot: domain `id`'s frame is loaded and about to run; start the clock.
    pub fn start_running(id: DomId) {
        let now = crate::time::now();
        {
            let mut g = G.lock();
            g.running = Some(id);
            g.since = now;
            g.next_acct = now + ACCT_NS;
            g.slice_end = now + TSLICE_NS;
        }
        arch::lapic::timer_deadline_ns(now + TSLICE_NS);
    }

    /// Put domain `id`'s vCPU on the CPU now, loading its frame into `regs` (saving the
    /// current one's), as a scheduling pass that picked it would: the host tests' way to run
    /// a chosen domain.
    pub fn run_now(st: &mut State, regs: &mut CpuUserRegs, id: DomId) {
        switch(st, regs, id);
        let now = crate::time::now();
        let mut g = G.lock();
        g.running = Some(id);
        g.since = now;
    }

    /// Crash the running domain with a reason and switch to another.
    pub fn crash_current(regs: &mut CpuUserRegs, why: &str) {
        state::with(|st| {
            let id = st.current;
            crate::lifecycle::crash(st, id, format_args!("{why}"));
        });
        schedule(regs);
    }

    /// Charge the running vCPU, fire timers, pick the next vCPU and load its frame into
    /// `regs`. Halts while nothing is runnable. Returns with a runnable vCPU loaded.
    pub fn schedule(regs: &mut CpuUserRegs) {
        loop {
            if state::with(|st| pass(st, regs)) {
                return;
            }
            // While console output waits, feed the UART a chunk instead of halting.
            arch::idle_halt(crate::console::drain(IDLE_DRAIN));
        }
    }

    fn pass(st: &mut State, regs: &mut CpuUserRegs) -> bool {
        let now = crate::time::now();
        let (ran, acct_due) = {
            let mut g = G.lock();
            let ran = g.running.take().map(|id| (id, now.saturating_sub(g.since)));
            g.since = now;
            let due = (now >= g.next_acct).then(|| now - (g.next_acct - ACCT_NS));
            if due.is_some() {
                g.next_acct = now + ACCT_NS;
            }
            (ran, due)
        };
        if let Some((id, ns)) = ran {
            if let Some(d) = st.dom(id) {
                d.cpu_time_ns += ns;
                d.credit.burn(ns);
                d.credit.boost = false;
            }
        }
        run_timers(st, now);
        if crate::console::input_to_announce() {
            crate::evtchn::send_virq(st, DomId::DOM0, VIRQ_CONSOLE);
        }
        crate::evtchn::deliver_pirqs(st);
        if let Some(period) = acct_due {
            credit::account(
                period,
                st.domains.values_mut().map(|d| {
                    let r = d.runnable();
                    (&mut d.credit, r)
                }),
            );
        }
        let mut cands: Vec<(DomId, u8, i64)> = st
            .domains
            .values()
            .filter(|d| d.runnable() && !d.credit.parked)
            .map(|d| (d.id, d.credit.prio(), d.credit.credit))
            .collect();
        // A vCPU that yielded runs only if nobody else can.
        let yielded: Vec<DomId> = st
            .domains
            .values_mut()
            .filter_map(|d| core::mem::take(&mut d.credit.yielded).then_some(d.id))
            .collect();
        if cands.iter().any(|c| !yielded.contains(&c.0)) {
            cands.retain(|c| !yielded.contains(&c.0));
        }
        let next = credit::pick(&cands, st.current);
        if let Some(n) = next {
            switch(st, regs, n);
            crate::time::update_vcpu_time(&st.cur().vcpu_info());
            let cur = st.current;
            if let Some(d) = st.domains.get(&cur) {
                crate::domain::time_area::publish(&st.mem, d);
            }
        }
        update_runstates(st, now, next);
        let slice_end = match next {
            Some(_) => now + st.cur().credit.slice(cands.len() > 1),
            // Idle until a timer or an interrupt; with polled input, look at the UART often.
            None if crate::console::rx_by_interrupt() => u64::MAX,
            None => now + IDLE_TICK_NS,
        };
        {
            let mut g = G.lock();
            g.running = next;
            g.slice_end = slice_end;
        }
        rearm(st);
        next.is_some()
    }

    /// Program the LAPIC one-shot for the earliest of: the end of the slice, any vCPU timer,
    /// the next accounting period (after a hypercall changed a timer, or after a pass).
    pub fn rearm(st: &State) {
        let (slice_end, next_acct) = {
            let g = G.lock();
            (g.slice_end, g.next_acct)
        };
        let deadline = st
            .domains
            .values()
            .filter(|d| !d.dying && d.shutdown.is_none())
            .filter_map(|d| d.timers.next_deadline())
            .min()
            .unwrap_or(u64::MAX)
            .min(next_acct)
            .min(slice_end);
        arch::lapic::timer_deadline_ns(deadline);
    }

    /// Load domain `next`'s frame (saving the current one's) unless it is already loaded.
    /// The frame at the top of the stack always belongs to `st.current`.
    fn switch(st: &mut State, regs: &mut CpuUserRegs, next: DomId) {
        let cur = st.current;
        if next == cur {
            return;
        }
        if let Some(d) = st.dom(cur) {
            d.vcpu.regs = *regs;
            d.vcpu.data_sel = arch::cpu::data_selectors();
            d.vcpu.fs_base = arch::cpu::fs_base();
            let gs = arch::cpu::gs_base();
            if d.vcpu.in_kernel {
                d.vcpu.gs_base_kernel = gs;
            } else {
                d.vcpu.gs_base_user = gs;
            }
        }
        st.set_current(next);
        let d = st.cur();
        *regs = d.vcpu.regs;
        arch::cpu::write_cr3(d.vcpu.active_l4().addr());
        // FPU (lazy) and descriptor tables follow the vCPU; then its data selectors, each
        // checked against its own tables (one that no longer names a loadable segment is
        // loaded null, as Xen does), and its FS/GS bases over what they loaded.
        crate::domain::bounce::vcpu_switched(st, cur);
        crate::domain::selectors::load_data_selectors(st);
        let d = st.cur();
        arch::cpu::set_fs_base(d.vcpu.fs_base);
        arch::cpu::set_gs_base(if d.vcpu.in_kernel {
            d.vcpu.gs_base_kernel
        } else {
            d.vcpu.gs_base_user
        });
    }

    /// Every domain's runstate as of `now`, `running` being on the CPU.
    fn update_runstates(st: &mut State, now: u64, running: Option<DomId>) {
        for d in st.domains.values_mut() {
            let s = if Some(d.id) == running {
                RUNSTATE_RUNNING
            } else if d.runnable() {
                RUNSTATE_RUNNABLE
            } else if d.vcpu.blocked && d.vcpu.online && d.shutdown.is_none() && !d.dying {
                RUNSTATE_BLOCKED
            } else {
                RUNSTATE_OFFLINE
            };
            if d.vcpu.runstate.change(s, now) {
                crate::domain::runstate_area::publish(&st.mem, d);
            }
        }
    }

    /// Fire every vCPU timer due at `now`: VIRQ_TIMER, poll timeouts, watchdogs.
    fn run_timers(st: &mut State, now: u64) {
        let ids: Vec<DomId> = st
            .domains
            .values()
            .filter(|d| !d.dying && d.shutdown.is_none())
            .filter(|d| d.timers.next_deadline().is_some_and(|t| t <= now))
            .map(|d| d.id)
            .collect();
        for id in ids {
            let Some(d) = st.dom(id) else { continue };
            let e = d.timers.expire(now);
            if e.timer_virq {
                crate::evtchn::send_virq(st, id, VIRQ_TIMER);
            }
            if e.poll_timeout {
                st.wake(id);
            }
            if e.watchdog {
                crate::xen_println!("Watchdog timer fired for domain {id}");
                crate::lifecycle::shutdown(st, id, guest_abi::sched::ShutdownReason::Watchdog);
            }
        }
    }

    /// CPU time of domain `id` including the slice it is running now.
    pub fn cpu_time(st: &State, id: DomId) -> u64 {
        let base = st.domains.get(&id).map_or(0, |d| d.cpu_time_ns);
        let g = G.lock();
        match g.running {
            Some(r) if r == id => base + crate::time::now().saturating_sub(g.since),
            _ => base,
        }
    }
}
