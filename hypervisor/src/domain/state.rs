//! The hypervisor's global state, behind one lock.
//!
//! The hypervisor runs on one CPU with interrupts off, so a single lock taken for the length
//! of a hypercall or trap is enough; it is never held across a switch into a guest.

use super::{Domain, Vcpu, VcpuId};
use crate::domid::DomRef;
use crate::mm::machine::Machine;
use crate::mm::page_types::{FrameTable, PageInfo};
use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use guest_abi::errno::Errno;
use guest_abi::types::DomId;

/// Everything the hypercalls and the scheduler share.
pub struct State {
    /// Live domains by id.
    pub domains: BTreeMap<DomId, Box<Domain>>,
    /// Per-frame bookkeeping, indexed by MFN (allocated at boot from frames, sized from the
    /// machine).
    pub frames: &'static mut [PageInfo],
    /// Machine memory access.
    pub mem: Machine,
    /// The vCPU on this CPU (or the one it ran last): the caller of every hypercall. Each
    /// CPU has its own ([`State::cpus`]); [`with`] puts the running CPU's here for the length
    /// of the call and keeps it back after.
    pub current: VcpuId,
    /// The CPU running the code that holds the state ([`with`] sets it): the methods' "this
    /// CPU", looked up once per critical section.
    pub me: usize,
    /// Per CPU: its current vCPU (see `current`) and whether that vCPU's registers are in
    /// the CPU's frame (false once they were saved out: the vCPU may then run elsewhere).
    pub cpus: [CpuSlot; crate::cpus::MAX_CPUS],
    /// A vCPU woke (or must stop): the other CPUs' schedulers may need a kick when the
    /// state is let go ([`with`]).
    pub kick: bool,
    /// Bumped whenever a domain stops being allowed to run (paused, shut down, crashed,
    /// dying): a CPU whose current vCPU was last found runnable at this count need not look
    /// again before a hypercall ([`State::caller_may_run`]).
    pub stop_gen: u64,
    /// CPUs running a vCPU that has an event to take (bit n = CPU n): they get the
    /// reschedule IPI when the state is let go, so the upcall is delivered at once.
    pub poke: u32,
    /// The id handed out last (ids are handed out increasing, see `crate::domid`).
    pub last_domid: DomId,
    /// Domain instances created so far (each domain's `instance` is unique).
    pub instances: u64,
}

impl State {
    /// The state at boot: no domains, a frame table for machine frames `[0, max_mfn)` in
    /// frames from the allocator (`None` if there is no room for it).
    pub fn new(max_mfn: u64) -> Option<State> {
        Some(State {
            domains: BTreeMap::new(),
            frames: crate::phys::frames::alloc_array(max_mfn as usize, PageInfo::default())?,
            mem: Machine { max_mfn },
            current: VcpuId::new(DomId::DOM0, 0),
            me: 0,
            cpus: [CpuSlot::default(); crate::cpus::MAX_CPUS],
            kick: false,
            poke: 0,
            stop_gen: 0,
            last_domid: DomId::DOM0,
            instances: 0,
        })
    }

    /// The frame table over `frames`.
    pub fn frame_table(&mut self) -> (FrameTable<'_>, &mut Machine) {
        (FrameTable::new(self.frames), &mut self.mem)
    }

    /// The current domain.
    pub fn cur(&mut self) -> &mut Domain {
        let id = self.current.dom;
        self.domains
            .get_mut(&id)
            .expect("the current domain exists")
    }

    /// The current vCPU: the caller of a hypercall, the one a trap came from.
    pub fn cur_vcpu(&mut self) -> &mut Vcpu {
        let VcpuId { dom, vcpu } = self.current;
        self.domains
            .get_mut(&dom)
            .and_then(|d| d.vcpus.get_mut(vcpu as usize))
            .expect("the current vCPU exists")
    }

    /// The current vCPU, shared.
    pub fn cur_vcpu_ref(&self) -> Option<&Vcpu> {
        let VcpuId { dom, vcpu } = self.current;
        self.domains.get(&dom)?.vcpu(vcpu)
    }

    /// Where the current vCPU's vcpu_info is.
    pub fn cur_vcpu_info(&self) -> crate::mm::machine::VcpuInfoAt<'_> {
        let VcpuId { dom, vcpu } = self.current;
        self.domains
            .get(&dom)
            .expect("the current domain exists")
            .vcpu_info(vcpu)
    }

    /// vCPU `v`, if it exists.
    pub fn vcpu(&mut self, v: VcpuId) -> Option<&mut Vcpu> {
        self.dom(v.dom)?.vcpu_mut(v.vcpu)
    }

    /// A domain by id.
    pub fn dom(&mut self, id: DomId) -> Option<&mut Domain> {
        self.domains.get_mut(&id).map(|b| &mut **b)
    }

    /// Wake vCPU `v` if it is blocked or polling ([`Vcpu::wake`]); another CPU may then
    /// run it.
    pub fn wake(&mut self, v: VcpuId) {
        let now = crate::time::now();
        let mut woke = false;
        if let Some(x) = self.vcpu(v) {
            woke = x.blocked;
            x.wake(now);
        }
        self.kick |= woke;
        if !woke && crate::cpus::several_run_vcpus() {
            // Running on another CPU: an IPI makes it take the event now.
            let me = self.me;
            for n in (0..crate::cpus::MAX_CPUS).filter(|&n| n != me) {
                if self.cpus[n].loaded && self.cpus[n].current == v {
                    self.poke |= 1 << n;
                }
            }
        }
    }

    /// The CPUs to send the reschedule IPI after a vCPU woke or must stop (by [`with`] when
    /// [`State::kick`] was set), with several CPUs running vCPUs: an idle CPU (holding no
    /// vCPU) for each ready vCPU that waits, else a CPU running a vCPU of lower priority;
    /// and every CPU holding a vCPU that may not run any more (paused, shut down, dying,
    /// blocked, parked).
    pub fn to_kick(&self) -> u32 {
        let me = self.me;
        let cpus = crate::cpus::vcpu_cpus() & !(1 << me);
        if cpus == 0 || !crate::cpus::several_run_vcpus() {
            return 0;
        }
        let held = |n: usize| self.cpus[n].loaded.then_some(self.cpus[n].current);
        let vcpu = |v: VcpuId| {
            self.domains
                .get(&v.dom)
                .and_then(|d| Some((d, d.vcpu(v.vcpu)?)))
        };
        let runs =
            |v: VcpuId| vcpu(v).is_some_and(|(d, x)| d.can_run() && !d.credit.parked && x.ready());
        let each = || (0..crate::cpus::MAX_CPUS).filter(move |n| cpus & (1 << n) != 0);
        let mut mask = 0u32;
        for n in each() {
            if held(n).is_some_and(|v| !runs(v)) {
                mask |= 1 << n;
            }
        }
        let holders: alloc::vec::Vec<VcpuId> = (0..crate::cpus::MAX_CPUS)
            .filter_map(|n| {
                if n == me {
                    self.cpus[n].loaded.then_some(self.current)
                } else {
                    held(n)
                }
            })
            .collect();
        for d in self.domains.values() {
            for v in d.vcpus.iter() {
                let id = VcpuId::new(d.id, v.id);
                if !runs(id) || holders.contains(&id) {
                    continue;
                }
                let fits = |n: &usize| v.affinity.hard.has(*n);
                // An idle CPU it prefers (soft affinity), else any idle one it may run on.
                let idle = each()
                    .filter(fits)
                    .filter(|&n| held(n).is_none())
                    .find(|&n| v.affinity.soft.has(n))
                    .or_else(|| each().filter(fits).find(|&n| held(n).is_none()));
                if let Some(n) = idle {
                    mask |= 1 << n;
                    continue;
                }
                let p = v.credit.prio();
                let lower = each().filter(fits).find(|&n| {
                    held(n)
                        .and_then(&vcpu)
                        .is_some_and(|(_, x)| x.credit.prio() < p)
                });
                if let Some(n) = lower {
                    mask |= 1 << n;
                }
            }
        }
        mask
    }

    /// Before frames go back to the allocator or a page-table frame may be typed anew:
    /// with several CPUs running vCPUs, every CPU holding one (this one too) flushes its
    /// TLB, so no stale translation outlives the change (a CPU that switched page tables
    /// since has flushed already). With one CPU, the domain's own flushes order it.
    pub fn flush_loaded_cpus(&self) {
        if !crate::cpus::several_run_vcpus() {
            return;
        }
        let me = self.me;
        let mask = (0..crate::cpus::MAX_CPUS)
            .filter(|&n| n != me && self.cpus[n].loaded)
            .fold(0u32, |m, n| m | 1 << n);
        crate::arch::shootdown_cpus(mask, crate::arch::shootdown::Flush::All);
        crate::arch::cpu::write_cr3(crate::arch::cpu::read_cr3());
    }

    /// A domain may have stopped being allowed to run: the next hypercall on every CPU looks
    /// again ([`State::caller_may_run`]), and the CPUs running its vCPUs are kicked.
    pub fn stopped(&mut self) {
        self.stop_gen = self.stop_gen.wrapping_add(1);
        self.kick = true;
    }

    /// Whether the caller's domain may still run (another CPU may have paused, shut down or
    /// be destroying it while the caller ran here). Looked up only when something stopped
    /// since this CPU last looked.
    pub fn caller_may_run(&mut self) -> bool {
        let me = self.me;
        if self.cpus[me].checked_gen == self.stop_gen && self.cpus[me].checked == self.current {
            return true;
        }
        let ok = self
            .domains
            .get(&self.current.dom)
            .is_some_and(|d| d.can_run());
        if ok {
            self.cpus[me].checked_gen = self.stop_gen;
            self.cpus[me].checked = self.current;
        }
        ok
    }

    /// The CPUs (bit n = CPU n) whose frame holds a vCPU of domain `id`: where it runs or
    /// last ran without being saved out. This CPU counts when its current vCPU is `id`'s.
    pub fn cpus_with(&self, id: DomId) -> u32 {
        let me = self.me;
        if !crate::cpus::several_run_vcpus() {
            // Only this CPU holds vCPUs.
            let mine = self.cpus[me].loaded && self.current.dom == id;
            return u32::from(mine) << me;
        }
        let mut mask = 0;
        for (n, c) in self.cpus.iter().enumerate() {
            let cur = if n == me { self.current } else { c.current };
            if c.loaded && cur.dom == id {
                mask |= 1 << n;
            }
        }
        mask
    }

    /// The domain id `dom` names: `DOMID_SELF` is the caller. The one place it is resolved.
    pub fn resolve(&self, dom: DomId) -> DomId {
        if dom == DomId::SELF {
            self.current.dom
        } else {
            dom
        }
    }

    /// Whether the caller (the current domain) is privileged (dom0).
    pub fn caller_privileged(&self) -> bool {
        self.domains
            .get(&self.current.dom)
            .is_some_and(|d| d.privileged)
    }

    /// `EPERM` unless the caller is privileged.
    pub fn require_privileged(&self) -> Result<(), Errno> {
        if self.caller_privileged() {
            Ok(())
        } else {
            Err(Errno::EPERM)
        }
    }

    /// The domain an operation acts on (`DOMID_SELF` = the caller), if the caller may act on
    /// it: itself, or any domain when privileged (`EPERM` otherwise); another domain must be
    /// alive (`ESRCH` if it does not exist or is dying). The one place handlers check this.
    pub fn lookup(&mut self, dom: DomId) -> Result<DomId, Errno> {
        let id = self.resolve(dom);
        if id == self.current.dom {
            return Ok(id);
        }
        self.require_privileged()?;
        match self.domains.get(&id) {
            Some(d) if !d.dying => Ok(id),
            _ => Err(Errno::ESRCH),
        }
    }

    /// The domain instance `r` names, if it still exists (not a newer domain with its id).
    pub fn dom_ref(&mut self, r: DomRef) -> Option<&mut Domain> {
        self.dom(r.id).filter(|d| d.instance == r.instance)
    }

    /// Whether anything still names domain id `id`: a domain (live or dying), a grant
    /// mapping of its grants, or an event channel bound or open to it. Such an id is not
    /// handed out again.
    pub fn id_referenced(&self, id: DomId) -> bool {
        self.domains.contains_key(&id)
            || self.domains.values().any(|d| {
                d.grant
                    .maptrack
                    .iter()
                    .flatten()
                    .any(|m| m.granter.id == id)
                    || d.evtchn.in_use().any(|(_, b)| match b {
                        crate::domain::ports::Binding::Unbound { remote }
                        | crate::domain::ports::Binding::Interdomain { remote, .. } => remote == id,
                        _ => false,
                    })
            })
    }
}

/// One CPU's place in [`State`]: its current vCPU and whether that vCPU's registers are in
/// the CPU's frame.
#[derive(Clone, Copy, Debug)]
pub struct CpuSlot {
    /// The vCPU this CPU runs or ran last.
    pub current: VcpuId,
    /// Its registers are in this CPU's frame (not yet saved out).
    pub loaded: bool,
    /// The vCPU [`State::caller_may_run`] last found runnable here, and at which
    /// [`State::stop_gen`].
    pub checked: VcpuId,
    pub checked_gen: u64,
}

impl Default for CpuSlot {
    fn default() -> Self {
        CpuSlot {
            current: VcpuId::new(DomId::DOM0, 0),
            loaded: false,
            checked: VcpuId::new(DomId::DOM0, 0),
            checked_gen: u64::MAX,
        }
    }
}

// Lock-free facts about the vCPU on each CPU, indexed by CPU: the hypercall entry and the
// exit path read them without the lock.

use core::sync::atomic::{AtomicBool, AtomicU16, AtomicU64, Ordering};
const NCPU: usize = crate::cpus::MAX_CPUS;

/// The current domain's id per CPU (the logger charges warnings to it).
static CURRENT_ID: [AtomicU16; NCPU] = [const { AtomicU16::new(0) }; NCPU];

/// The current domain's id on this CPU.
pub fn current_id() -> DomId {
    DomId(CURRENT_ID[crate::arch::this_cpu()].load(Ordering::Relaxed))
}

/// The machine address of each CPU's current vCPU's vcpu_info (0 before a vCPU runs): the
/// exit path peeks at its upcall flag on every return.
static CURRENT_VCPU_INFO: [AtomicU64; NCPU] = [const { AtomicU64::new(0) }; NCPU];

/// Whether each CPU's current vCPU is in guest kernel mode: the hypercall entry's mode
/// check, read without a domain lookup. Kept by [`State::set_current`] and
/// [`State::sync_mode`].
static CURRENT_IN_KERNEL: [AtomicBool; NCPU] = [const { AtomicBool::new(true) }; NCPU];

/// Whether this CPU's current vCPU is in guest kernel mode.
pub fn current_in_kernel() -> bool {
    CURRENT_IN_KERNEL[crate::arch::this_cpu()].load(Ordering::Relaxed)
}

/// The machine address of this CPU's current vCPU's vcpu_info (0 if none yet).
pub fn current_vcpu_info() -> u64 {
    CURRENT_VCPU_INFO[crate::arch::this_cpu()].load(Ordering::Relaxed)
}

/// Per CPU: the one-shot timer of its current vCPU, which that vCPU's `set_timer_op` arms
/// without the state lock ([`with_current_oneshot`]). Only this CPU's hypercalls and its
/// vCPU switches (under the state) take a slot, so it is never contended.
static CURRENT_ONESHOT: [crate::sync::Lock<
    Option<alloc::sync::Arc<crate::time::SharedDeadlineCell>>,
>; NCPU] = [const {
    crate::sync::Lock::new(crate::sync::Rank::CurrentVcpu, "current vCPU's timer", None)
}; NCPU];

/// Run `f` on this CPU's current vCPU's one-shot timer, without the state lock; `None` if no
/// vCPU ran here yet.
pub fn with_current_oneshot<R>(f: impl FnOnce(&crate::time::SharedDeadlineCell) -> R) -> Option<R> {
    let slot = CURRENT_ONESHOT[crate::arch::this_cpu()].lock();
    slot.as_deref().map(f)
}

impl State {
    /// Make `v` this CPU's current vCPU.
    pub fn set_current(&mut self, v: VcpuId) {
        let me = self.me;
        self.current = v;
        self.cpus[me].current = v;
        CURRENT_ID[me].store(v.dom.0, Ordering::Relaxed);
        let (vi, oneshot) = self.domains.get(&v.dom).map_or((0, None), |d| {
            let cell = d.vcpu(v.vcpu).map(|x| x.timers.singleshot.cell());
            (d.vcpu_info(v.vcpu).maddr(), cell)
        });
        CURRENT_VCPU_INFO[me].store(vi, Ordering::Relaxed);
        // The previous vCPU's cell is dropped after the slot is let go.
        let old = core::mem::replace(&mut *CURRENT_ONESHOT[me].lock(), oneshot);
        drop(old);
        self.sync_mode();
    }

    /// Whether CPU `n`'s frame holds its current vCPU (see [`CpuSlot::loaded`]); the
    /// lock-free mask `cpus::guest_loaded` follows.
    pub fn set_loaded(&mut self, n: usize, loaded: bool) {
        self.cpus[n].loaded = loaded;
        crate::cpus::set_guest_loaded(n, loaded);
    }

    /// Refresh the cached mode of the current vCPU after its `in_kernel` changed.
    pub fn sync_mode(&mut self) {
        let k = self.cur_vcpu_ref().is_none_or(|v| v.in_kernel);
        CURRENT_IN_KERNEL[self.me].store(k, Ordering::Relaxed);
    }
}

/// The global state; `None` until boot built it.
pub static STATE: crate::sync::Lock<Option<State>> =
    crate::sync::Lock::new(crate::sync::Rank::State, "domain state", None);

/// Run `f` with the global state, `current` being this CPU's vCPU. A vCPU that woke
/// meanwhile is offered to the other CPUs ([`State::to_kick`]) once the state is
/// let go.
pub fn with<R>(f: impl FnOnce(&mut State) -> R) -> R {
    let me = crate::arch::this_cpu();
    let mut g = STATE.lock();
    let st = g.as_mut().expect("hypervisor state initialised");
    st.me = me;
    st.current = st.cpus[me].current;
    let r = f(st);
    st.cpus[me].current = st.current;
    if crate::mm::page_types::take_table_released() {
        st.flush_loaded_cpus();
    }
    // The common case: nobody to tell.
    if !st.kick && st.poke == 0 {
        return r;
    }
    let kick = core::mem::take(&mut st.kick).then(|| st.to_kick());
    let mask = kick.unwrap_or(0) | core::mem::take(&mut st.poke);
    drop(g);
    for n in (0..crate::cpus::MAX_CPUS).filter(|n| mask & (1 << n) != 0) {
        crate::arch::kick_cpu(n);
    }
    r
}
