//! Domains and their virtual CPUs.

pub mod bounce;
pub mod credit;
pub mod debugreg;
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

/// The most vCPUs a domain may have (one until SMP guests are supported).
pub const MAX_VCPUS: u32 = 1;

/// One virtual CPU of a PV domain.
pub struct Vcpu {
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
    /// Whether `setvcpucontext` brought it online.
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
    /// slot 0 of shared_info ([`Domain::vcpu_info`]).
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
    fn new() -> Self {
        Vcpu {
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
    /// Nanoseconds of CPU it has used.
    pub cpu_time_ns: u64,
    /// `max_vcpus` as set by the toolstack.
    pub max_vcpus: u32,
    /// Its (single, for now) vCPU.
    pub vcpu: Vcpu,
    /// Its direct console output since the last newline (see `hypercall::console`).
    pub console_line: heapless::Vec<u8, CONSOLE_LINE_MAX>,
    /// Its direct console output (`console_io`), rate-limited (domUs only).
    pub console_bucket: crate::ratelimit::Bucket,
    /// Event-channel ports.
    pub evtchn: crate::domain::ports::PortTable,
    /// Credit-scheduler parameters and state.
    pub credit: crate::domain::credit::Credit,
    /// vCPU timers and watchdogs.
    pub timers: crate::time::Timers,
    /// `SCHEDOP_shutdown_code`: the reason a later shutdown reports.
    pub shutdown_code: Option<ShutdownReason>,
    /// The `vm_assist` types turned on (bit per `VMASST_TYPE_*`).
    pub vm_assist: u64,
}

impl Domain {
    /// Wake this domain's vCPU at system time `now` if it is blocked (or polling): it
    /// becomes runnable, boosted if it has credit left.
    pub fn wake(&mut self, now: u64) {
        if self.vcpu.blocked {
            self.vcpu.blocked = false;
            self.vcpu.poll = None;
            self.timers.poll_deadline = None;
            self.credit.wake();
            self.vcpu
                .runstate
                .change(guest_abi::vcpu::RUNSTATE_RUNNABLE, now);
        }
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
            max_vcpus: 0,
            vcpu: Vcpu::new(),
            console_line: heapless::Vec::new(),
            evtchn: crate::domain::ports::PortTable::new(if privileged {
                crate::domain::ports::HARD_MAX_PORT
            } else {
                crate::domain::ports::DEFAULT_MAX_PORT
            }),
            credit: crate::domain::credit::Credit::default(),
            timers: crate::time::Timers::default(),
            shutdown_code: None,
        }
    }

    /// Where vCPU 0's vcpu_info is now.
    pub fn vcpu_info(&self) -> crate::mm::machine::VcpuInfoAt<'_> {
        use crate::mm::machine::VcpuInfoAt;
        self.vcpu
            .registered_info
            .as_ref()
            .and_then(|r| VcpuInfoAt::held(&r.page, r.off))
            .unwrap_or_else(|| VcpuInfoAt::shared(&self.shared_info))
    }

    /// Whether the scheduler may run it.
    pub fn runnable(&self) -> bool {
        self.pause_count == 0
            && self.shutdown.is_none()
            && !self.dying
            && self.vcpu.online
            && !self.vcpu.blocked
            && self.vcpu.kernel_l4 != Mfn(0)
    }
}
