//! Domains and their virtual CPUs.

pub mod bounce;
pub mod credit;
pub mod debugreg;
pub mod desc_tables;
pub mod fpu;
pub mod grants;
pub mod memory;
pub mod nmi;
pub mod ports;
pub mod runstate_area;
pub mod selectors;
pub mod state;
pub mod time_area;
pub mod vcpu_context;
pub mod vcpu_info;

use alloc::boxed::Box;
use guest_abi::arch::CpuUserRegs;
use guest_abi::sched::ShutdownReason;
use guest_abi::types::{DomId, EvtchnPort, Mfn};
use zerocopy::FromZeros;

/// The most vCPUs a domain may have.
pub const MAX_VCPUS: u32 = 8;
// Each vCPU has a vcpu_info slot in shared_info until it registers one elsewhere.
const _: () = assert!(MAX_VCPUS as usize <= guest_abi::shared_info::XEN_LEGACY_MAX_VCPUS);

/// A vCPU of a domain: which domain, and its index there (`Domain::vcpus`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct VcpuId {
    /// The domain.
    pub dom: DomId,
    /// The vCPU's index in the domain (0 .. `max_vcpus`).
    pub vcpu: u32,
}

impl VcpuId {
    /// vCPU `vcpu` of domain `dom`.
    pub const fn new(dom: DomId, vcpu: u32) -> Self {
        VcpuId { dom, vcpu }
    }
}

impl core::fmt::Display for VcpuId {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "d{}v{}", self.dom, self.vcpu)
    }
}

/// Bits per [`CpuMask`]: the physical CPUs an affinity can name.
pub const CPUMASK_BITS: usize = 256;

/// A set of physical CPUs, one bit per CPU (Xen's cpumap byte order).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CpuMask(pub [u8; CPUMASK_BITS / 8]);

impl CpuMask {
    /// Every CPU.
    pub const ALL: CpuMask = CpuMask([0xFF; CPUMASK_BITS / 8]);

    /// No CPU.
    pub const NONE: CpuMask = CpuMask([0; CPUMASK_BITS / 8]);

    /// The set of CPU `cpu` alone (none if it is beyond the mask).
    pub fn only(cpu: usize) -> CpuMask {
        let mut m = CpuMask::NONE;
        if let Some(b) = m.0.get_mut(cpu / 8) {
            *b = 1 << (cpu % 8);
        }
        m
    }

    /// The CPUs in both sets.
    pub fn and(&self, other: &CpuMask) -> CpuMask {
        let mut m = *self;
        for (a, b) in m.0.iter_mut().zip(other.0.iter()) {
            *a &= b;
        }
        m
    }

    /// The CPUs in either set.
    pub fn or(&self, other: &CpuMask) -> CpuMask {
        let mut m = *self;
        for (a, b) in m.0.iter_mut().zip(other.0.iter()) {
            *a |= b;
        }
        m
    }

    /// Whether it has no CPU.
    pub fn is_empty(&self) -> bool {
        self.0.iter().all(|&b| b == 0)
    }

    /// Whether CPU `cpu` is in the set.
    pub fn has(&self, cpu: usize) -> bool {
        self.0
            .get(cpu / 8)
            .is_some_and(|b| b & (1 << (cpu % 8)) != 0)
    }
}

/// The physical CPUs a vCPU may run on (hard) and prefers (soft), as
/// `XEN_DOMCTL_setvcpuaffinity` set them. With one physical CPU every vCPU runs on CPU 0
/// (an affinity without it is refused); the maps are kept for the toolstack to show.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Affinity {
    /// Hard affinity: where the vCPU may run.
    pub hard: CpuMask,
    /// Soft affinity: where it prefers to run.
    pub soft: CpuMask,
}

impl Default for Affinity {
    fn default() -> Self {
        Affinity {
            hard: CpuMask::ALL,
            soft: CpuMask::ALL,
        }
    }
}

/// One virtual CPU of a PV domain.
pub struct Vcpu {
    /// Its index in its domain.
    pub id: u32,
    /// Its context was loaded (`XEN_DOMCTL_setvcpucontext`, `VCPUOP_initialise`); only an
    /// initialised vCPU may be brought up, and only once initialised.
    pub initialised: bool,
    /// Its timers: one-shot, periodic, poll timeout.
    pub timers: crate::time::Timers,
    /// Its credit (weight and cap are the domain's: [`Domain::credit`]).
    pub credit: crate::domain::credit::VcpuCredit,
    /// Nanoseconds of CPU it has used.
    pub cpu_time_ns: u64,
    /// Its hard and soft CPU affinity.
    pub affinity: Affinity,
    /// The CPU it runs on or last ran on (its timers fire there).
    pub processor: usize,
    /// Saved guest registers while not running.
    pub regs: CpuUserRegs,
    /// Whether the guest is in its kernel (vs. user) mode.
    pub in_kernel: bool,
    /// The kernel page table (L4 MFN), 0 until the context is set.
    pub kernel_l4: Mfn,
    /// The user page table (L4 MFN), 0 if none.
    pub user_l4: Mfn,
    /// Guest kernel stack for bounces from user mode.
    pub kernel_sp: u64,
    /// Guest kernel stack segment.
    pub kernel_ss: u64,
    /// Up (Xen's `!VPF_down`): brought online by `setvcpucontext` or `VCPUOP_up`.
    pub online: bool,
    /// Blocked in SCHEDOP_block.
    pub blocked: bool,
    /// FS base and the two GS bases, switched with the vCPU.
    pub fs_base: u64,
    /// Kernel GS base.
    pub gs_base_kernel: u64,
    /// User GS base.
    pub gs_base_user: u64,
    /// Registered exception handlers (address 0 = none), by vector.
    pub trap_table: Box<[guest_abi::arch::TrapInfo; 256]>,
    /// Event-upcall, failsafe and syscall callbacks.
    pub callbacks: Callbacks,
    /// FPU/SSE context, switched lazily (`domain::fpu`).
    pub fpu: crate::arch::fpu::FpuState,
    /// GDT and LDT frames (`hypercall::descriptors`).
    pub desc: crate::arch::desc::GuestDescTables,
    /// Runstate accounting (`VCPUOP_get_runstate_info`).
    pub runstate: crate::time::Runstate,
    /// Where the guest registered its vcpu_info (`VCPUOP_register_vcpu_info`); until then,
    /// the slot of its id in shared_info ([`Domain::vcpu_info`]).
    pub registered_info: Option<RegisteredVcpuInfo>,
    /// Guest virtual address of its registered runstate area, 0 for none
    /// (`VCPUOP_register_runstate_memory_area`, kept current by [`runstate_area::publish`]).
    pub runstate_area: u64,
    /// Guest virtual address of its registered copy of the vCPU's time info, 0 for none
    /// (`VCPUOP_register_vcpu_time_memory_area`, kept current by [`time_area::publish`]).
    pub time_area: u64,
    /// Ports of a `SCHEDOP_poll` in progress.
    pub poll: Option<alloc::vec::Vec<EvtchnPort>>,
    /// Virtual I/O privilege level (`PHYSDEVOP_set_iopl`): at 1 or more, the guest kernel's
    /// `cli`/`sti` are emulated (they set the event mask).
    pub iopl: u8,
    /// Debug registers DR0–DR7 as the guest set them (`set_debugreg`, `mov %drN`; 4 and 5
    /// unused). Kept per vCPU, not loaded into the CPU.
    pub debugreg: [u64; 8],
    /// Virtual NMI state ([`nmi`]).
    pub nmi: nmi::Nmi,
    /// DS, ES, FS, GS as the vCPU left them when it was switched out.
    pub data_sel: [u16; 4],
}

/// A vcpu_info the guest placed in a frame of its own: the frame, held, and the offset.
pub struct RegisteredVcpuInfo {
    /// The frame (held for the hypervisor's writes while registered).
    pub page: crate::mm::page_types::HeldPage,
    /// Offset of the vcpu_info in it (it fits in the frame and is 8-byte aligned).
    pub off: usize,
}

/// The guest's registered entry points.
#[derive(Default, Clone, Copy)]
pub struct Callbacks {
    /// Event upcall.
    pub event: u64,
    /// Failsafe (bad segment on return).
    pub failsafe: u64,
    /// `syscall` from guest user mode.
    pub syscall: u64,
    /// The syscall callback runs with events masked.
    pub syscall_masks_events: bool,
    /// The failsafe callback runs with events masked.
    pub failsafe_masks_events: bool,
    /// `syscall` from compat mode (0: the 64-bit syscall callback takes it).
    pub syscall32: u64,
    /// The syscall32 callback runs with events masked.
    pub syscall32_masks_events: bool,
    /// `sysenter` (0: a #GP is delivered instead).
    pub sysenter: u64,
    /// The sysenter callback runs with events masked.
    pub sysenter_masks_events: bool,
}

impl Vcpu {
    /// vCPU `id` of a new domain: offline, uninitialised.
    pub fn new(id: u32) -> Self {
        Vcpu {
            id,
            initialised: false,
            timers: crate::time::Timers::default(),
            credit: crate::domain::credit::VcpuCredit::default(),
            cpu_time_ns: 0,
            affinity: Affinity::default(),
            processor: 0,
            regs: CpuUserRegs::new_zeroed(),
            in_kernel: true,
            kernel_l4: Mfn(0),
            user_l4: Mfn(0),
            kernel_sp: 0,
            kernel_ss: 0,
            online: false,
            blocked: false,
            fs_base: 0,
            gs_base_kernel: 0,
            gs_base_user: 0,
            trap_table: Box::new([guest_abi::arch::TrapInfo::new_zeroed(); 256]),
            callbacks: Callbacks::default(),
            fpu: crate::arch::fpu::FpuState::new(),
            desc: crate::arch::desc::GuestDescTables::default(),
            runstate: crate::time::Runstate::default(),
            registered_info: None,
            runstate_area: 0,
            time_area: 0,
            poll: None,
            iopl: 0,
            debugreg: debugreg::RESET,
            nmi: nmi::Nmi::default(),
            data_sel: [0; 4],
        }
    }

    /// The page table that is live for the vCPU's current mode.
    pub fn active_l4(&self) -> Mfn {
        if self.in_kernel || self.user_l4 == Mfn(0) {
            self.kernel_l4
        } else {
            self.user_l4
        }
    }

    /// Whether it can run as far as the vCPU itself goes (its domain may still not).
    pub fn ready(&self) -> bool {
        self.online && !self.blocked && self.kernel_l4 != Mfn(0)
    }

    /// Wake it at system time `now` if it is blocked (or polling): it becomes runnable,
    /// boosted if it has credit left.
    pub fn wake(&mut self, now: u64) {
        if self.blocked {
            self.blocked = false;
            self.poll = None;
            self.timers.poll_deadline = None;
            self.credit.wake();
            self.runstate
                .change(guest_abi::vcpu::RUNSTATE_RUNNABLE, now);
        }
    }
}

use crate::mm::page_types::XenPage;

/// The XENFEAT bits (submap 0) every PV guest gets: writable page tables (a guest kernel's
/// direct writes to its L1 tables are trapped, validated and emulated: `crate::emulate`),
/// `MMU_PT_UPDATE_PRESERVE_AD`, and `GNTTAB_MAP_AVAIL_BITS` (a grant map's guest bits go
/// into the PTE's available bits; Linux 6 refuses to boot as a PV guest without it).
pub const FEATURES: u32 = (1 << guest_abi::version::XENFEAT_WRITABLE_PAGE_TABLES)
    | (1 << guest_abi::version::XENFEAT_MMU_PT_UPDATE_PRESERVE_AD)
    | (1 << guest_abi::version::XENFEAT_GNTTAB_MAP_AVAIL_BITS);

/// The `vm_assist` types a new domain has on: writable page tables, which are always in
/// force for a 64-bit PV guest (as in Xen, the emulation does not depend on the bit).
pub const DEFAULT_VM_ASSIST: u64 = 1 << guest_abi::mmu::VMASST_TYPE_WRITABLE_PAGETABLES;

/// The longest line of a domU's direct console output kept whole (longer ones are split).
pub const CONSOLE_LINE_MAX: usize = 256;

/// Bytes of direct console output a domU may write at once, and a second after that.
pub const CONSOLE_BURST: u64 = 64 * 1024;
/// See [`CONSOLE_BURST`].
pub const CONSOLE_RATE: u64 = 16 * 1024;

/// A domain.
pub struct Domain {
    /// Its id.
    pub id: DomId,
    /// Its instance number, unique over the hypervisor's lifetime (see `crate::domid`).
    pub instance: u64,
    /// May use the control interfaces (dom0).
    pub privileged: bool,
    /// The toolstack's 16-byte handle (UUID).
    pub handle: [u8; 16],
    /// The most pages it may own.
    pub max_pages: u64,
    /// Pages it owns now (not counting its shared_info page).
    pub tot_pages: u64,
    /// The frames it owns as memory (`tot_pages` of them), linked through the frame table.
    pub pages: crate::mm::page_types::PageList,
    /// Where its teardown stands while it is dying (`None`: not started, or done).
    pub teardown: Option<crate::mm::page_types::Cursor>,
    /// Its shared_info page: the hypervisor's, shared with it (not counted in `tot_pages`).
    pub shared_info: XenPage,
    /// Its grant table and its mappings of other domains' grants.
    pub grant: crate::domain::grants::GrantState,
    /// Nesting count of `pausedomain` (created domains start paused once).
    pub pause_count: u32,
    /// Why it shut down, if it did.
    pub shutdown: Option<ShutdownReason>,
    /// Being destroyed: waiting for foreign references to its frames to go.
    pub dying: bool,
    /// Nanoseconds of CPU its vCPUs have used.
    pub cpu_time_ns: u64,
    /// Its vCPUs, indexed by id: `max_vcpus` of them (vCPU 0 always), all existing from
    /// creation as Xen's, offline until brought up.
    pub vcpus: alloc::vec::Vec<Box<Vcpu>>,
    /// Its direct console output since the last newline (see `hypercall::console`).
    pub console_line: heapless::Vec<u8, CONSOLE_LINE_MAX>,
    /// Its direct console output (`console_io`), rate-limited (domUs only).
    pub console_bucket: crate::ratelimit::Bucket,
    /// Event-channel ports.
    pub evtchn: crate::domain::ports::PortTable,
    /// Credit-scheduler parameters (weight, cap) and the domain's use of the period.
    pub credit: crate::domain::credit::Credit,
    /// Its watchdogs (`SCHEDOP_watchdog`).
    pub watchdogs: crate::time::Watchdogs,
    /// `SCHEDOP_shutdown_code`: the reason a later shutdown reports.
    pub shutdown_code: Option<ShutdownReason>,
    /// The `vm_assist` types turned on (bit per `VMASST_TYPE_*`).
    pub vm_assist: u64,
}

impl Domain {
    /// Wake vCPU `vcpu` at system time `now` if it is blocked (or polling).
    pub fn wake(&mut self, vcpu: u32, now: u64) {
        if let Some(v) = self.vcpu_mut(vcpu) {
            v.wake(now);
        }
    }

    /// Its vCPU `vcpu`, if it has one by that id.
    pub fn vcpu(&self, vcpu: u32) -> Option<&Vcpu> {
        self.vcpus.get(vcpu as usize).map(|b| &**b)
    }

    /// Its vCPU `vcpu`, if it has one by that id.
    pub fn vcpu_mut(&mut self, vcpu: u32) -> Option<&mut Vcpu> {
        self.vcpus.get_mut(vcpu as usize).map(|b| &mut **b)
    }

    /// How many vCPUs it has (`max_vcpus`).
    pub fn max_vcpus(&self) -> u32 {
        self.vcpus.len() as u32
    }

    /// How many of its vCPUs are up.
    pub fn online_vcpus(&self) -> u32 {
        self.vcpus.iter().filter(|v| v.online).count() as u32
    }

    /// Give it `n` vCPUs (1 ..= [`MAX_VCPUS`], else `EINVAL`): new ones offline and
    /// uninitialised. Fewer than it has drops only vCPUs never initialised (`EBUSY`).
    pub fn set_max_vcpus(&mut self, n: u32) -> Result<(), guest_abi::errno::Errno> {
        use guest_abi::errno::Errno;
        if n == 0 || n > MAX_VCPUS {
            return Err(Errno::EINVAL);
        }
        let n = n as usize;
        if self.vcpus.iter().skip(n).any(|v| v.initialised) {
            return Err(Errno::EBUSY);
        }
        self.vcpus.truncate(n);
        self.vcpus
            .try_reserve(n.saturating_sub(self.vcpus.len()))
            .map_err(|_| Errno::ENOMEM)?;
        while self.vcpus.len() < n {
            let id = self.vcpus.len() as u32;
            self.vcpus.push(Box::new(Vcpu::new(id)));
        }
        Ok(())
    }

    /// A reference to this domain instance.
    pub fn dom_ref(&self) -> crate::domid::DomRef {
        crate::domid::DomRef {
            id: self.id,
            instance: self.instance,
        }
    }
    /// A new, paused domain with no memory.
    pub fn new(id: DomId, privileged: bool, shared_info: XenPage) -> Self {
        Domain {
            id,
            instance: 0,
            privileged,
            handle: [0; 16],
            max_pages: 0,
            tot_pages: 0,
            pages: crate::mm::page_types::PageList::default(),
            teardown: None,
            shared_info,
            console_bucket: crate::ratelimit::Bucket::new(CONSOLE_BURST, 0),
            vm_assist: DEFAULT_VM_ASSIST,
            grant: crate::domain::grants::GrantState::new(0, 0),
            pause_count: 1,
            shutdown: None,
            dying: false,
            cpu_time_ns: 0,
            vcpus: alloc::vec![Box::new(Vcpu::new(0))],
            console_line: heapless::Vec::new(),
            evtchn: crate::domain::ports::PortTable::new(if privileged {
                crate::domain::ports::HARD_MAX_PORT
            } else {
                crate::domain::ports::DEFAULT_MAX_PORT
            }),
            credit: crate::domain::credit::Credit::default(),
            watchdogs: crate::time::Watchdogs::default(),
            shutdown_code: None,
        }
    }

    /// Where vCPU `vcpu`'s vcpu_info is now: where it registered it, else its slot of
    /// shared_info.
    pub fn vcpu_info(&self, vcpu: u32) -> crate::mm::machine::VcpuInfoAt<'_> {
        use crate::mm::machine::VcpuInfoAt;
        self.vcpu(vcpu)
            .and_then(|v| v.registered_info.as_ref())
            .and_then(|r| VcpuInfoAt::held(&r.page, r.off))
            .unwrap_or_else(|| VcpuInfoAt::shared_slot(&self.shared_info, vcpu as usize))
    }

    /// Whether the domain as a whole lets its vCPUs run: unpaused, not shut down or dying.
    pub fn can_run(&self) -> bool {
        self.pause_count == 0 && self.shutdown.is_none() && !self.dying
    }

    /// Whether the scheduler may run its vCPU `vcpu`.
    pub fn vcpu_runnable(&self, vcpu: u32) -> bool {
        self.can_run() && self.vcpu(vcpu).is_some_and(Vcpu::ready)
    }

    /// Whether the scheduler may run any of its vCPUs.
    pub fn runnable(&self) -> bool {
        self.can_run() && self.vcpus.iter().any(|v| v.ready())
    }
}
