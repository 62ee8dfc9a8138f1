//! Scheduling: the credit scheduler's mechanism on every CPU that runs vCPUs — charging
//! CPU time, firing vCPU timers, picking the next vCPU by the credit policy
//! (`domain::credit`) among those ready, allowed on this CPU (hard affinity) and not on
//! another CPU, switching to it, keeping runstates, and programming this CPU's LAPIC
//! one-shot for the earliest deadline (the end of the slice, the timers of the vCPUs that
//! last ran here, and on CPU 0 the accounting period and the domains' watchdogs). A CPU
//! with nothing runnable saves the vCPU it ran, takes the idle page tables and halts until
//! an interrupt: its timer, or the reschedule IPI another CPU sends when a vCPU wakes
//! (`State::to_kick`).

mod op;

pub use imp::*;
pub use op::scheduler_op;

mod imp {
    use crate::arch;
    use crate::cpus::MAX_CPUS;
    use crate::domain::credit::{self, ACCT_NS, TSLICE_NS};
    use crate::domain::state::{self, State};
    use crate::domain::VcpuId;
    use crate::sync::{Lock, Rank};
    use alloc::vec::Vec;
    use guest_abi::arch::CpuUserRegs;
    use guest_abi::event_channel::{VIRQ_CONSOLE, VIRQ_TIMER};
    use guest_abi::types::DomId;
    use guest_abi::vcpu::{
        RUNSTATE_BLOCKED, RUNSTATE_OFFLINE, RUNSTATE_RUNNABLE, RUNSTATE_RUNNING,
    };

    /// How often the idle CPU wakes to look at the UART when its input is polled (no I/O
    /// APIC answered).
    const IDLE_TICK_NS: u64 = TSLICE_NS;

    /// What the scheduler keeps about each CPU.
    #[derive(Clone, Copy)]
    struct PerCpu {
        /// The vCPU on the CPU (None: idle).
        running: Option<VcpuId>,
        /// Since when it runs (or the CPU idles).
        since: u64,
        /// When the running vCPU's slice ends (or the idle CPU next looks around).
        slice_end: u64,
    }

    struct Globals {
        cpus: [PerCpu; MAX_CPUS],
        /// When the next accounting period starts (CPU 0 accounts).
        next_acct: u64,
    }

    /// Console bytes fed to the UART per pass of the idle loop.
    const IDLE_DRAIN: usize = 256;

    static G: Lock<Globals> = Lock::new(
        Rank::Sched,
        "scheduler",
        Globals {
            cpus: [PerCpu {
                running: None,
                since: 0,
                slice_end: TSLICE_NS,
            }; MAX_CPUS],
            next_acct: ACCT_NS,
        },
    );

    /// The CPUs that run vCPUs (bit n = CPU n).
    fn running_cpus() -> u32 {
        crate::cpus::vcpu_cpus()
    }

    /// Boot: vCPU 0 of domain `id` has its frame loaded on CPU 0 and is about to run; start
    /// the clock.
    pub fn start_running(id: DomId) {
        let now = crate::time::now();
        {
            let mut g = G.lock();
            let c = &mut g.cpus[0];
            c.running = Some(VcpuId::new(id, 0));
            c.since = now;
            c.slice_end = now + TSLICE_NS;
            g.next_acct = now + ACCT_NS;
        }
        arch::lapic::timer_deadline_ns(now + TSLICE_NS);
    }

    /// Put vCPU `v` on this CPU now, loading its frame into `regs` (saving the current
    /// one's), as a scheduling pass that picked it would: the host tests' way to run a
    /// chosen vCPU.
    pub fn run_now(st: &mut State, regs: &mut CpuUserRegs, v: VcpuId) {
        switch(st, regs, v);
        let now = crate::time::now();
        let mut g = G.lock();
        let c = &mut g.cpus[st.me];
        c.running = Some(v);
        c.since = now;
    }

    /// Crash the running domain with a reason and switch to another.
    pub fn crash_current(regs: &mut CpuUserRegs, why: &str) {
        state::with(|st| {
            let id = st.current.dom;
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
        let me = st.me;
        let (ran, acct_due) = {
            let mut g = G.lock();
            let c = &mut g.cpus[me];
            let ran = c.running.take().map(|v| (v, now.saturating_sub(c.since)));
            c.since = now;
            let due = (me == 0 && now >= g.next_acct).then(|| now - (g.next_acct - ACCT_NS));
            if due.is_some() {
                g.next_acct = now + ACCT_NS;
            }
            (ran, due)
        };
        if let Some((v, ns)) = ran {
            if let Some(d) = st.dom(v.dom) {
                d.cpu_time_ns += ns;
                let dom_credit = &mut d.credit;
                if let Some(vc) = d.vcpus.get_mut(v.vcpu as usize) {
                    vc.cpu_time_ns += ns;
                    vc.credit.burn(dom_credit, ns);
                    vc.credit.boost = false;
                }
            }
        }
        run_timers(st, now, me);
        if me == 0 {
            if crate::console::input_to_announce() {
                crate::evtchn::send_virq(st, DomId::DOM0, VIRQ_CONSOLE);
            }
            crate::evtchn::deliver_pirqs(st);
        }
        if let Some(period) = acct_due {
            credit::account(
                period,
                st.domains.values_mut().map(|d| {
                    let d = &mut **d;
                    let can = d.can_run();
                    let vcpus = d
                        .vcpus
                        .iter_mut()
                        .map(|v| {
                            let r = can && v.ready();
                            (&mut v.credit, r)
                        })
                        .collect();
                    (&mut d.credit, vcpus)
                }),
            );
            // A domain parked over its cap stops on the other CPUs too.
            st.kick = true;
        }
        // Elsewhere: the vCPUs other CPUs hold (running, or loaded and not yet saved); and
        // the CPUs idle meanwhile. With one CPU running vCPUs there is neither.
        let mut elsewhere = [None; MAX_CPUS];
        let mut idle_elsewhere = 0u32;
        let several = crate::cpus::several_run_vcpus();
        if several {
            let vcpu_cpus = crate::cpus::vcpu_cpus();
            for n in (0..MAX_CPUS).filter(|&n| n != me) {
                if st.cpus[n].loaded {
                    elsewhere[n] = Some(st.cpus[n].current);
                } else if vcpu_cpus & (1 << n) != 0 {
                    idle_elsewhere |= 1 << n;
                }
            }
        }
        // Soft affinity: a vCPU this CPU is not among the preferred CPUs of is left to an
        // idle CPU that is (it then takes it), as Xen's soft-affinity balancing does.
        let leave_to_soft = |a: &crate::domain::Affinity| {
            idle_elsewhere != 0
                && !a.soft.has(me)
                && (0..MAX_CPUS)
                    .any(|n| idle_elsewhere & (1 << n) != 0 && a.soft.has(n) && a.hard.has(n))
        };
        // One walk over the candidates, in id order, allocating nothing: a vCPU that
        // yielded (its flag taken) runs only if nobody else can.
        let mut left_to_soft = false;
        let mut all = credit::Picker::new(st.current);
        let mut fresh = credit::Picker::new(st.current);
        for d in st.domains.values_mut() {
            let (id, can) = (d.id, d.can_run() && !d.credit.parked);
            for v in d.vcpus.iter_mut() {
                let vid = VcpuId::new(id, v.id);
                let yielded = core::mem::take(&mut v.credit.yielded);
                if !(can && v.ready() && v.affinity.hard.has(me)) {
                    continue;
                }
                if leave_to_soft(&v.affinity) {
                    left_to_soft = true;
                } else if !(several && elsewhere.contains(&Some(vid))) {
                    let (prio, credit) = (v.credit.prio(), v.credit.credit);
                    all.offer(vid, prio, credit);
                    if !yielded {
                        fresh.offer(vid, prio, credit);
                    }
                }
            }
        }
        // What was left to an idle CPU it prefers: that CPU gets the reschedule IPI.
        if left_to_soft {
            st.kick = true;
        }
        let chosen = if fresh.offered() > 0 { fresh } else { all };
        let next = chosen.pick();
        match next {
            Some(n) => {
                switch(st, regs, n);
                crate::time::update_vcpu_time(&st.cur_vcpu_info());
                if let Some(d) = st.domains.get(&n.dom) {
                    crate::domain::time_area::publish(&st.mem, d, n.vcpu);
                }
            }
            // With one CPU running vCPUs the one it ran stays loaded (nobody else can
            // take it or free its tables meanwhile).
            None if crate::cpus::several_run_vcpus() => go_idle(st, regs),
            None => {}
        }
        let slice_end = match next {
            Some(n) => {
                let d = st.cur();
                let dom_credit = d.credit;
                let v = d.vcpu(n.vcpu).expect("the picked vCPU exists");
                now + v.credit.slice(&dom_credit, chosen.offered() > 1)
            }
            // Idle until a timer or an interrupt; with polled input, CPU 0 looks at the UART
            // often.
            None if me != 0 || crate::console::rx_by_interrupt() => u64::MAX,
            None => now + IDLE_TICK_NS,
        };
        let running = {
            let mut g = G.lock();
            g.cpus[me].running = next;
            g.cpus[me].slice_end = slice_end;
            let mut on: heapless::Vec<VcpuId, MAX_CPUS> = heapless::Vec::new();
            for v in g.cpus.iter().filter_map(|c| c.running) {
                // At most one per CPU: it fits.
                let _ = on.push(v);
            }
            on
        };
        update_runstates(st, now, &running);
        rearm(st);
        next.is_some()
    }

    /// This CPU has nothing to run: the vCPU it ran is saved out (another CPU may take it)
    /// and the CPU takes the idle page tables (the vCPU's may be freed meanwhile).
    fn go_idle(st: &mut State, regs: &mut CpuUserRegs) {
        let me = st.me;
        if st.cpus[me].loaded {
            save_current(st, regs);
            st.set_loaded(me, false);
            arch::cpu::write_cr3(arch::paging::idle_l4_mfn().addr());
        }
    }

    /// Program this CPU's LAPIC one-shot for the earliest of: the end of its slice, the
    /// timers of the vCPUs that last ran on it, and on CPU 0 the domains' watchdogs and the
    /// next accounting period (after a hypercall changed a timer, or after a pass).
    pub fn rearm(st: &State) {
        let me = st.me;
        let (slice_end, next_acct) = {
            let g = G.lock();
            (g.cpus[me].slice_end, g.next_acct)
        };
        let deadline = st
            .domains
            .values()
            .filter(|d| !d.dying && d.shutdown.is_none())
            .flat_map(|d| {
                d.vcpus
                    .iter()
                    .filter(|v| v.processor == me)
                    .filter_map(|v| v.timers.next_deadline())
                    .chain(d.watchdogs.next_deadline().filter(|_| me == 0))
            })
            .min()
            .unwrap_or(u64::MAX)
            .min(if me == 0 { next_acct } else { u64::MAX })
            .min(slice_end);
        arch::lapic::timer_deadline_ns(deadline);
    }

    /// Save the current vCPU's registers (this CPU's frame), data selectors, FS/GS bases
    /// and, with several CPUs, its FPU registers: it may run on another CPU next.
    fn save_current(st: &mut State, regs: &CpuUserRegs) {
        let cur = st.current;
        if let Some(v) = st.vcpu(cur) {
            v.regs = *regs;
            v.data_sel = arch::cpu::data_selectors();
            v.fs_base = arch::cpu::fs_base();
            let gs = arch::cpu::gs_base();
            if v.in_kernel {
                v.gs_base_kernel = gs;
            } else {
                v.gs_base_user = gs;
            }
        }
        crate::domain::fpu::descheduled(st);
    }

    /// Load vCPU `next`'s frame (saving the current one's) unless it is already loaded.
    /// The frame at the top of this CPU's stack belongs to `st.current` while
    /// `st.cpus[this CPU].loaded`.
    fn switch(st: &mut State, regs: &mut CpuUserRegs, next: VcpuId) {
        let me = st.me;
        let cur = st.current;
        let loaded = st.cpus[me].loaded;
        if loaded && next == cur {
            return;
        }
        if loaded {
            save_current(st, regs);
        }
        st.set_current(next);
        st.set_loaded(me, true);
        let v = st.cur_vcpu();
        v.processor = me;
        *regs = v.regs;
        arch::cpu::write_cr3(v.active_l4().addr());
        // FPU (lazy) and descriptor tables follow the vCPU; then its data selectors, each
        // checked against its own tables (one that no longer names a loadable segment is
        // loaded null, as Xen does), and its FS/GS bases over what they loaded.
        crate::domain::bounce::vcpu_switched(st, cur);
        crate::domain::selectors::load_data_selectors(st);
        let v = st.cur_vcpu();
        arch::cpu::set_fs_base(v.fs_base);
        arch::cpu::set_gs_base(if v.in_kernel {
            v.gs_base_kernel
        } else {
            v.gs_base_user
        });
    }

    /// Every vCPU's runstate as of `now`, `running` being on the CPUs.
    fn update_runstates(st: &mut State, now: u64, running: &[VcpuId]) {
        let mem = &st.mem;
        for d in st.domains.values_mut() {
            let d = &mut **d;
            let (id, can, alive) = (d.id, d.can_run(), d.shutdown.is_none() && !d.dying);
            let assist = d.vm_assist;
            for v in d.vcpus.iter_mut() {
                let s = if running.contains(&VcpuId::new(id, v.id)) {
                    RUNSTATE_RUNNING
                } else if can && v.ready() {
                    RUNSTATE_RUNNABLE
                } else if v.blocked && v.online && alive {
                    RUNSTATE_BLOCKED
                } else {
                    RUNSTATE_OFFLINE
                };
                if v.runstate.change(s, now) {
                    crate::domain::runstate_area::publish(mem, assist, v);
                }
            }
        }
    }

    /// Fire every timer due at `now` that belongs to CPU `me`: the VIRQ_TIMER and poll
    /// timeout of each vCPU that last ran here; on CPU 0 the domains' watchdogs.
    fn run_timers(st: &mut State, now: u64, me: usize) {
        let live = || {
            st.domains
                .values()
                .filter(|d| !d.dying && d.shutdown.is_none())
        };
        let vcpus: Vec<VcpuId> = live()
            .flat_map(|d| {
                d.vcpus
                    .iter()
                    .filter(|v| v.processor == me)
                    .filter(|v| v.timers.next_deadline().is_some_and(|t| t <= now))
                    .map(|v| VcpuId::new(d.id, v.id))
            })
            .collect();
        let watchdogs: Vec<DomId> = live()
            .filter(|d| me == 0 && d.watchdogs.next_deadline().is_some_and(|t| t <= now))
            .map(|d| d.id)
            .collect();
        for id in vcpus {
            let Some(v) = st.vcpu(id) else { continue };
            let e = v.timers.expire(now);
            if e.timer_virq {
                crate::evtchn::send_vcpu_virq(st, id, VIRQ_TIMER);
            }
            if e.poll_timeout {
                st.wake(id);
            }
        }
        for id in watchdogs {
            if st.dom(id).is_some_and(|d| d.watchdogs.expire(now)) {
                crate::xen_println!("Watchdog timer fired for domain {id}");
                crate::lifecycle::shutdown(st, id, guest_abi::sched::ShutdownReason::Watchdog);
            }
        }
    }

    /// CPU time of domain `id` including the slices its vCPUs are running now.
    pub fn cpu_time(st: &State, id: DomId) -> u64 {
        let base = st.domains.get(&id).map_or(0, |d| d.cpu_time_ns);
        let now = crate::time::now();
        let g = G.lock();
        base + g
            .cpus
            .iter()
            .filter(|c| c.running.is_some_and(|r| r.dom == id))
            .map(|c| now.saturating_sub(c.since))
            .sum::<u64>()
    }

    /// CPU time of vCPU `v` including the slice it is running now.
    pub fn vcpu_cpu_time(st: &State, v: VcpuId) -> u64 {
        let base = st
            .domains
            .get(&v.dom)
            .and_then(|d| d.vcpu(v.vcpu))
            .map_or(0, |x| x.cpu_time_ns);
        let now = crate::time::now();
        let g = G.lock();
        base + g
            .cpus
            .iter()
            .filter(|c| c.running == Some(v))
            .map(|c| now.saturating_sub(c.since))
            .sum::<u64>()
    }

    /// The physical CPUs vCPUs run on. The one place an affinity is checked against.
    pub fn online_cpus() -> crate::domain::CpuMask {
        let mut m = crate::domain::CpuMask::NONE;
        let cpus = running_cpus();
        for n in (0..MAX_CPUS).filter(|n| cpus & (1 << n) != 0) {
            m = m.or(&crate::domain::CpuMask::only(n));
        }
        m
    }

    /// Whether vCPU `v` is on a CPU now.
    pub fn is_running(v: VcpuId) -> bool {
        G.lock().cpus.iter().any(|c| c.running == Some(v))
    }
}
