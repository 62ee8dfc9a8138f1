//! The local APIC (xAPIC, MMIO through the uncached window): enabled with spurious vector
//! 0xFF, and its timer (vector [`TIMER_VECTOR`], one-shot or periodic) calibrated against the
//! TSC. Interrupts are acknowledged (EOI) by the entry path before dispatch.

use super::{cpu, paging};
use crate::arch::tsc;
use core::sync::atomic::{AtomicU64, Ordering};

/// The LAPIC timer's vector.
pub const TIMER_VECTOR: u8 = 0xF0;
/// The reschedule IPI's vector: the CPU runs a scheduling pass (a vCPU woke that it may
/// run, or the one it runs must stop).
pub const RESCHED_VECTOR: u8 = 0xF4;
/// The spurious-interrupt vector (never acknowledged).
pub const SPURIOUS_VECTOR: u8 = 0xFF;

const REG_ID: usize = 0x20;
const REG_TPR: usize = 0x80;
const REG_EOI: usize = 0xB0;
const REG_SVR: usize = 0xF0;
const REG_LVT_TIMER: usize = 0x320;
const REG_LVT_LINT0: usize = 0x350;
const REG_LVT_LINT1: usize = 0x360;
const REG_LVT_ERROR: usize = 0x370;
const REG_TIMER_INIT: usize = 0x380;
const REG_TIMER_CUR: usize = 0x390;
const REG_TIMER_DIV: usize = 0x3E0;
const LVT_MASKED: u32 = 1 << 16;
const LVT_PERIODIC: u32 = 1 << 17;

static BASE: AtomicU64 = AtomicU64::new(0);
/// LAPIC timer ticks (at divide-by-16) per millisecond.
static TICKS_PER_MS: AtomicU64 = AtomicU64::new(0);
/// Timer interrupts seen.
static TIMER_IRQS: AtomicU64 = AtomicU64::new(0);

fn reg(off: usize) -> *mut u32 {
    (BASE.load(Ordering::Relaxed) as *mut u8).wrapping_add(off) as *mut u32
}
fn read(off: usize) -> u32 {
    // SAFETY: an xAPIC register inside the uncached page mapped by `init`.
    unsafe { reg(off).read_volatile() }
}
fn write(off: usize, v: u32) {
    // SAFETY: as `read`.
    unsafe { reg(off).write_volatile(v) }
}

/// Enables the LAPIC and calibrates its timer (needs the TSC calibrated).
pub fn init() {
    let msr = cpu::rdmsr(cpu::MSR_APIC_BASE);
    cpu::wrmsr(cpu::MSR_APIC_BASE, msr | (1 << 11));
    let pa = msr & 0x000F_FFFF_FFFF_F000;
    let va = paging::map_mmio(pa, 4096).expect("mapping the LAPIC");
    BASE.store(va as u64, Ordering::Relaxed);
    write(REG_TPR, 0);
    write(REG_LVT_LINT0, LVT_MASKED);
    write(REG_LVT_LINT1, LVT_MASKED);
    write(REG_LVT_ERROR, LVT_MASKED | 0xFE);
    write(REG_SVR, 0x100 | u32::from(SPURIOUS_VECTOR));
    write(REG_TIMER_DIV, 0x3); // divide by 16
    write(REG_LVT_TIMER, LVT_MASKED | u32::from(TIMER_VECTOR));
    write(REG_TIMER_INIT, u32::MAX);
    let t0 = tsc::now_ns();
    tsc::delay_ns(10_000_000);
    let elapsed = u32::MAX - read(REG_TIMER_CUR);
    let ns = tsc::now_ns() - t0;
    write(REG_TIMER_INIT, 0);
    TICKS_PER_MS.store(
        (u64::from(elapsed) * 1_000_000 / ns.max(1)).max(1),
        Ordering::Relaxed,
    );
}

/// This CPU's APIC ID.
pub fn id() -> u32 {
    read(REG_ID) >> 24
}

/// LAPIC timer ticks per millisecond (divide-by-16).
pub fn timer_ticks_per_ms() -> u64 {
    TICKS_PER_MS.load(Ordering::Relaxed)
}

fn ticks_for(ns: u64) -> u32 {
    (u128::from(ns) * u128::from(timer_ticks_per_ms()) / 1_000_000).clamp(1, u128::from(u32::MAX))
        as u32
}

/// The absolute deadline (`now_ns()` time) of the pending one-shot that
/// [`timer_deadline_ns`] programmed; 0 when unknown (fired, or the timer was reprogrammed
/// another way), which forces the next call to program the LAPIC.
static ARMED: [AtomicU64; crate::cpus::MAX_CPUS] =
    [const { AtomicU64::new(0) }; crate::cpus::MAX_CPUS];

/// This CPU's [`ARMED`] slot.
fn armed() -> &'static AtomicU64 {
    &ARMED[super::stacks::this_cpu()]
}

fn oneshot(ns: u64) {
    write(REG_LVT_TIMER, u32::from(TIMER_VECTOR));
    write(REG_TIMER_INIT, ticks_for(ns));
}

/// Fires [`TIMER_VECTOR`] once, `ns` from now.
pub fn timer_oneshot_ns(ns: u64) {
    armed().store(0, Ordering::Relaxed);
    oneshot(ns)
}

/// Fires [`TIMER_VECTOR`] once at absolute `now_ns()` time `deadline` (at once if past), or
/// earlier: a pending one-shot that is due no later than `deadline` is left alone. Writing
/// the LAPIC timer costs thousands of cycles under QEMU (an MMIO exit and a host timer
/// update); a later deadline costs at most one early interrupt, after which the scheduler
/// programs the real one.
pub fn timer_deadline_ns(deadline: u64) {
    let now = tsc::now_ns();
    let pending = armed().load(Ordering::Relaxed);
    if pending > now && deadline >= pending {
        return;
    }
    armed().store(deadline.max(1), Ordering::Relaxed);
    oneshot(deadline.saturating_sub(now))
}

/// Brings this CPU's pending one-shot forward to `deadline` if that is earlier; `false` if
/// no one-shot is known to be pending (it fired, or the timer was programmed another way):
/// then only a scheduling pass knows what to program. A later deadline leaves the pending
/// one alone (its interrupt's pass programs the rest).
pub fn timer_pull_in(deadline: u64) -> bool {
    let pending = armed().load(Ordering::Relaxed);
    if pending == 0 {
        return false;
    }
    if deadline < pending {
        timer_deadline_ns(deadline);
    }
    true
}

/// Fires [`TIMER_VECTOR`] every `ns`.
pub fn timer_periodic_ns(ns: u64) {
    armed().store(0, Ordering::Relaxed);
    write(REG_LVT_TIMER, LVT_PERIODIC | u32::from(TIMER_VECTOR));
    write(REG_TIMER_INIT, ticks_for(ns));
}

/// Stops the timer.
pub fn timer_stop() {
    armed().store(0, Ordering::Relaxed);
    write(REG_TIMER_INIT, 0);
    write(REG_LVT_TIMER, LVT_MASKED | u32::from(TIMER_VECTOR));
}

/// Timer interrupts taken so far.
pub fn timer_irqs() -> u64 {
    TIMER_IRQS.load(Ordering::Relaxed)
}

/// Called by the entry path for every vector >= 32: counts timer ticks, EOIs all but the
/// spurious vector and the legacy PICs' (which the LAPIC did not deliver).
pub fn acknowledge(vector: u8) {
    if vector == TIMER_VECTOR {
        TIMER_IRQS.fetch_add(1, Ordering::Relaxed);
        // The one-shot fired: nothing is pending any more.
        armed().store(0, Ordering::Relaxed);
    }
    if vector != SPURIOUS_VECTOR
        && !super::pic::is_pic_vector(vector)
        && BASE.load(Ordering::Relaxed) != 0
    {
        write(REG_EOI, 0);
    }
}

const REG_ICR_LO: usize = 0x300;
const REG_ICR_HI: usize = 0x310;
const ICR_PENDING: u32 = 1 << 12;
const ICR_LEVEL_ASSERT: u32 = 1 << 14;
const ICR_INIT: u32 = 5 << 8;
const ICR_STARTUP: u32 = 6 << 8;

/// Enables this (application processor's) LAPIC as [`init`] did the boot processor's, with
/// the timer calibrated there (every LAPIC runs off the same bus clock) and stopped.
pub fn init_ap() {
    let msr = cpu::rdmsr(cpu::MSR_APIC_BASE);
    cpu::wrmsr(cpu::MSR_APIC_BASE, msr | (1 << 11));
    write(REG_TPR, 0);
    write(REG_LVT_LINT0, LVT_MASKED);
    write(REG_LVT_LINT1, LVT_MASKED);
    write(REG_LVT_ERROR, LVT_MASKED | 0xFE);
    write(REG_SVR, 0x100 | u32::from(SPURIOUS_VECTOR));
    write(REG_TIMER_DIV, 0x3);
    write(REG_LVT_TIMER, LVT_MASKED | u32::from(TIMER_VECTOR));
    write(REG_TIMER_INIT, 0);
}

/// Waits (bounded) until the previous inter-processor interrupt left the ICR.
fn icr_wait() -> bool {
    let deadline = tsc::now_ns() + 10_000_000;
    while read(REG_ICR_LO) & ICR_PENDING != 0 {
        if tsc::now_ns() > deadline {
            return false;
        }
        core::hint::spin_loop();
    }
    true
}

fn icr(apic_id: u32, lo: u32) -> bool {
    if !icr_wait() {
        return false;
    }
    write(REG_ICR_HI, apic_id << 24);
    write(REG_ICR_LO, lo);
    icr_wait()
}

/// Sends fixed-delivery `vector` to the processor with LAPIC ID `apic_id`. False if the
/// LAPIC did not accept it (the ICR stayed busy).
pub fn send_ipi(apic_id: u32, vector: u8) -> bool {
    icr(apic_id, ICR_LEVEL_ASSERT | u32::from(vector))
}

/// INIT to processor `apic_id` (the first step of starting it).
pub fn send_init(apic_id: u32) -> bool {
    icr(apic_id, ICR_LEVEL_ASSERT | ICR_INIT)
}

/// STARTUP to processor `apic_id`: it starts in real mode at physical `page << 12`.
pub fn send_startup(apic_id: u32, page: u8) -> bool {
    icr(apic_id, ICR_LEVEL_ASSERT | ICR_STARTUP | u32::from(page))
}
