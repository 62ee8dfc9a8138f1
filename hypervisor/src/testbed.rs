//! A booted machine for host tests: the host backend's modelled CPU and RAM, the frame
//! allocator over that RAM, the hypervisor's state, and dom0 built from a synthetic PV kernel
//! by the same builder as on bare metal. Tests drive it through the real hypercall entry
//! (`hypercall::syscall_entry` with the guest's registers), so what they exercise is the
//! handler code that runs in QEMU, against simulated machine memory.
//!
//! One machine exists per process, so tests using it take turns ([`Testbed::boot`] holds a
//! lock for the test's length) and each starts from wiped RAM and fresh state.

use crate::arch::{self, CpuUserRegs};
use crate::domain::state::{self, State, STATE};
use crate::domain::VcpuId;
use guest_abi::errno::Errno;
use guest_abi::types::{DomId, Mfn};
use pv_builder::elf::testimg::TestElf;
use std::sync::{Mutex, MutexGuard, PoisonError};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

mod probe;
pub use probe::FrameState;

static MACHINE: Mutex<()> = Mutex::new(());

/// dom0's memory in the tests (4 MiB).
pub const DOM0_PAGES: u64 = 1024;
/// Bytes of scratch memory each domain has mapped for hypercall arguments.
pub const SCRATCH_LEN: u64 = 64 * 1024;

/// Where the hypervisor image sits in the modelled RAM (reserved from the allocator).
const IMAGE: (u64, u64) = (1 << 20, 4 << 20);

/// Where the tests' hypercalls are issued from: the `syscall` instruction's address (a
/// continued hypercall leaves the guest's rip here).
pub const CALL_SITE: u64 = 0xFFFF_FFFF_8000_1000;

/// How a hypercall went ([`Testbed::hypercall_traced`]).
#[derive(Debug, Default)]
pub struct Call {
    /// The value the caller got in rax.
    pub rax: i64,
    /// How many times it was continued (re-executed).
    pub continued: u32,
    /// The domains put on the CPU while it ran, in order.
    pub ran: Vec<DomId>,
}

/// The booted machine, with dom0 on the CPU.
pub struct Testbed {
    _turn: MutexGuard<'static, ()>,
    /// The fixed guest frame: the registers of the vCPU on the CPU.
    pub regs: CpuUserRegs,
}

/// The synthetic PV kernel every test domain runs.
pub fn kernel() -> Vec<u8> {
    TestElf::pv().bytes()
}

impl Testbed {
    /// A fresh machine of 64 MiB: new RAM, allocator, state, dom0 built and running.
    pub fn boot() -> Testbed {
        Self::boot_with_ram(crate::phys::ram::DEFAULT_FRAMES)
    }

    /// A fresh machine with `frames` frames of RAM.
    pub fn boot_with_ram(frames: u64) -> Testbed {
        let turn = MACHINE.lock().unwrap_or_else(PoisonError::into_inner);
        drop(STATE.lock().take());
        crate::phys::frames::forget();
        crate::phys::ram::reset(frames);
        crate::phys::frames::init_ranges(&[(0, frames * 4096)], &[(0, 1 << 20), IMAGE])
            .expect("frame allocator over the modelled RAM");
        arch::page_tables::init_m2p(frames).expect("M2P");
        arch::tsc::init(arch::cpu::TSC_KHZ);
        arch::lapic::take_deadline();
        arch::fpu_regs::reset();
        crate::domain::fpu::forget_owner();
        arch::cpu::set_fs_base(0);
        arch::cpu::set_gs_base(0);
        arch::preempt::forget_all();
        crate::heap::fail_reservations(false);
        // Every I/O APIC input masked, no pirq mapped; COM1's GSI is the hypervisor's, as
        // on the machine.
        arch::ioapic::reset();
        crate::irq::reset();
        crate::irq::reserve_for_hypervisor(4);
        crate::console::reset_hold();
        crate::console::set_context(|| (crate::time::now(), state::current_id()));
        crate::time::init_wallclock();
        *STATE.lock() = Some(State::new(frames).expect("frame table"));
        let mut tb = Testbed {
            _turn: turn,
            regs: CpuUserRegs::new_zeroed(),
        };
        state::with(|st| crate::build::build(st, &kernel(), None, "", DOM0_PAGES))
            .expect("dom0 builds");
        state::with(|st| {
            st.set_current(VcpuId::new(DomId::DOM0, 0));
            st.set_loaded(0, true);
            tb.regs = st.cur().vcpus[0].regs;
            arch::cpu::write_cr3(st.cur().vcpus[0].active_l4().addr());
        });
        crate::sched::start_running(DomId::DOM0);
        tb
    }

    /// Build another (unprivileged) domain of `pages` from the test kernel, runnable; its id.
    pub fn domu(&mut self, pages: u64) -> DomId {
        state::with(|st| crate::build::build_domain(st, None, false, &kernel(), None, "", pages))
            .expect("domU builds")
    }

    /// A device asserts `gsi`: if its I/O APIC input is unmasked, the CPU takes its vector
    /// while the current guest runs, through the interrupt entry's steps (before the EOI,
    /// then dispatch, which schedules). Whether the CPU took an interrupt.
    pub fn fire_gsi(&mut self, gsi: u32) -> bool {
        match arch::ioapic::entry(gsi) {
            Some(e) if !e.masked => {
                crate::irq::before_eoi(e.vector);
                self.regs.entry_vector = u32::from(e.vector);
                crate::dispatch::guest_interrupt(&mut self.regs);
                true
            }
            _ => false,
        }
    }

    /// Put vCPU 0 of domain `id` on the CPU (its frame into [`Testbed::regs`]).
    pub fn run(&mut self, id: DomId) {
        self.run_vcpu(VcpuId::new(id, 0));
    }

    /// Put vCPU `v` on the CPU (its frame into [`Testbed::regs`]).
    pub fn run_vcpu(&mut self, v: VcpuId) {
        state::with(|st| crate::sched::run_now(st, &mut self.regs, v));
    }

    /// The domain on the CPU.
    pub fn current(&self) -> DomId {
        state::with(|st| st.current.dom)
    }

    /// The vCPU on the CPU.
    pub fn current_vcpu(&self) -> VcpuId {
        state::with(|st| st.current)
    }

    /// Run `f` with the hypervisor's state.
    pub fn st<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        state::with(f)
    }

    /// The current domain's scratch area: mapped, writable guest memory (the builder maps
    /// 512 KiB past the boot stack), for hypercall arguments.
    pub fn scratch(&self) -> u64 {
        self.st(|st| st.cur().vcpus[0].regs.rsp)
    }

    /// The current domain issues hypercall `nr` with `args`; the value it gets in rax.
    /// A continued hypercall is re-executed until it finishes, as the guest's CPU would: with
    /// the argument registers the handler left (its progress), not the original ones.
    pub fn hypercall(&mut self, nr: usize, args: [u64; 5]) -> i64 {
        self.hypercall_traced(nr, args).rax
    }

    /// As [`Testbed::hypercall`], also telling how the call went: how many times it was
    /// continued and which domains were put on the CPU meanwhile.
    pub fn hypercall_traced(&mut self, nr: usize, args: [u64; 5]) -> Call {
        let caller = self.current_vcpu();
        let mut call = Call::default();
        self.regs.rip = CALL_SITE + 2;
        self.regs.rax = nr as u64;
        [
            self.regs.rdi,
            self.regs.rsi,
            self.regs.rdx,
            self.regs.r10,
            self.regs.r8,
        ] = args;
        loop {
            crate::hypercall::syscall_entry(&mut self.regs);
            if self.current_vcpu() != caller {
                // Another vCPU was put on the CPU: the caller's result is in its saved frame.
                call.ran.push(self.current());
                let (rax, rip, runnable) = self.st(|st| {
                    let d = st.dom(caller.dom).expect("caller exists");
                    let v = d.vcpu(caller.vcpu).expect("caller exists");
                    (v.regs.rax, v.regs.rip, d.vcpu_runnable(caller.vcpu))
                });
                if rip == CALL_SITE && runnable {
                    self.run_vcpu(caller);
                    self.regs.rip = CALL_SITE + 2;
                    call.continued += 1;
                    continue;
                }
                call.rax = rax as i64;
                return call;
            }
            if self.regs.rip == CALL_SITE {
                // Continued: the guest executes the `syscall` again.
                self.regs.rip = CALL_SITE + 2;
                call.continued += 1;
                continue;
            }
            call.rax = self.regs.rax as i64;
            return call;
        }
    }

    /// Write `v` at guest virtual address `va` of the current domain.
    pub fn write<T: IntoBytes + Immutable>(&self, va: u64, v: &T) {
        self.st(|st| crate::mm::guest_copy::write(&st.mem, va, v))
            .expect("guest write");
    }

    /// Write bytes at `va` of the current domain.
    pub fn write_bytes(&self, va: u64, b: &[u8]) {
        self.st(|st| crate::mm::guest_copy::copy_to_guest(&st.mem, va, b))
            .expect("guest write");
    }

    /// Read a `T` at guest virtual address `va` of the current domain.
    pub fn read<T: FromBytes + IntoBytes + KnownLayout>(&self, va: u64) -> T {
        self.st(|st| crate::mm::guest_copy::read(&st.mem, va))
            .expect("guest read")
    }

    /// Machine memory as a test inspects it: bytes `off..off + out.len()` of frame `mfn`,
    /// which some domain owns (read with the frame table's proof for its owner).
    pub fn peek(&self, mfn: u64, off: usize, out: &mut [u8]) {
        self.st(|st| {
            let ft = crate::mm::page_types::FrameTable::new(st.frames);
            let f = ft
                .readable(Mfn(mfn), ft.owner(Mfn(mfn)))
                .unwrap_or_else(|| panic!("peek at frame {mfn:#x}, which nobody owns"));
            st.mem.read_frame(&f, off, out)
        })
        .expect("peek within the frame");
    }

    /// A test stands in for a domain writing its own memory: `bytes` at `off` of frame
    /// `mfn`, which must be writable for its owner (not a page table or descriptor page).
    pub fn poke(&self, mfn: u64, off: usize, bytes: &[u8]) {
        self.st(|st| {
            let ft = crate::mm::page_types::FrameTable::new(st.frames);
            let f = ft
                .writable(Mfn(mfn), ft.owner(Mfn(mfn)))
                .unwrap_or_else(|| panic!("poke at frame {mfn:#x}: not writable for its owner"));
            st.mem.write_frame(&f, off, bytes)
        })
        .expect("poke within the frame");
    }

    /// Read bytes at `va` of the current domain.
    pub fn read_bytes(&self, va: u64, len: usize) -> Vec<u8> {
        let mut out = vec![0; len];
        self.st(|st| crate::mm::guest_copy::copy_from_guest(&st.mem, va, &mut out))
            .expect("guest read");
        out
    }
}

/// The negative errno a hypercall returns for `e`.
pub fn err(e: Errno) -> i64 {
    e.to_ret()
}

use zerocopy::FromZeros;
