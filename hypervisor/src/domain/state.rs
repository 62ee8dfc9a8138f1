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
use spin::Mutex;

/// Everything the hypercalls and the scheduler share.
pub struct State {
    /// Live domains by id.
    pub domains: BTreeMap<DomId, Box<Domain>>,
    /// Per-frame bookkeeping, indexed by MFN (allocated at boot from frames, sized from the
    /// machine).
    pub frames: &'static mut [PageInfo],
    /// Machine memory access.
    pub mem: Machine,
    /// The vCPU on the CPU (or whose frame is loaded): the caller of every hypercall. One
    /// physical CPU runs vCPUs now; with more, this becomes a per-CPU fact.
    pub current: VcpuId,
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

    /// Wake vCPU `v` if it is blocked or polling ([`Vcpu::wake`]).
    pub fn wake(&mut self, v: VcpuId) {
        let now = crate::time::now();
        if let Some(v) = self.vcpu(v) {
            v.wake(now);
        }
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

// Lock-free facts about the vCPU on the CPU. With one physical CPU running vCPUs they are
// globals; when vCPUs run on more CPUs they become per-CPU, with `State::current`.

/// The current domain's id, readable without the lock (the logger charges warnings to it).
static CURRENT_ID: core::sync::atomic::AtomicU16 = core::sync::atomic::AtomicU16::new(0);

/// The current domain's id.
pub fn current_id() -> DomId {
    DomId(CURRENT_ID.load(core::sync::atomic::Ordering::Relaxed))
}

/// The machine address of the current vCPU's vcpu_info (0 before the first vCPU runs),
/// readable without the lock: the exit path peeks at its upcall flag on every return.
static CURRENT_VCPU_INFO: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(0);

/// Whether the current vCPU is in guest kernel mode: the hypercall entry's mode check, read
/// without a domain lookup. Kept by [`State::set_current`] and [`State::sync_mode`].
static CURRENT_IN_KERNEL: core::sync::atomic::AtomicBool =
    core::sync::atomic::AtomicBool::new(true);

/// Whether the current vCPU is in guest kernel mode.
pub fn current_in_kernel() -> bool {
    CURRENT_IN_KERNEL.load(core::sync::atomic::Ordering::Relaxed)
}

/// The machine address of the current vCPU's vcpu_info (0 if none yet).
pub fn current_vcpu_info() -> u64 {
    CURRENT_VCPU_INFO.load(core::sync::atomic::Ordering::Relaxed)
}

impl State {
    /// Make `v` the current vCPU.
    pub fn set_current(&mut self, v: VcpuId) {
        self.current = v;
        CURRENT_ID.store(v.dom.0, core::sync::atomic::Ordering::Relaxed);
        let vi = self
            .domains
            .get(&v.dom)
            .map_or(0, |d| d.vcpu_info(v.vcpu).maddr());
        CURRENT_VCPU_INFO.store(vi, core::sync::atomic::Ordering::Relaxed);
        self.sync_mode();
    }

    /// Refresh the cached mode of the current vCPU after its `in_kernel` changed.
    pub fn sync_mode(&mut self) {
        let k = self.cur_vcpu_ref().is_none_or(|v| v.in_kernel);
        CURRENT_IN_KERNEL.store(k, core::sync::atomic::Ordering::Relaxed);
    }
}

/// The global state; `None` until boot built it.
pub static STATE: Mutex<Option<State>> = Mutex::new(None);

/// Run `f` with the global state.
pub fn with<R>(f: impl FnOnce(&mut State) -> R) -> R {
    let mut g = STATE.lock();
    f(g.as_mut().expect("hypervisor state initialised"))
}
