//! x86_64: boot, descriptor tables, entry/exit paths, paging, LAPIC and time.
pub mod bench_floor;
pub mod boot;
pub mod cpu;
pub mod entry;
pub mod exit;
pub mod fpu;
pub mod gdt;
pub mod idt;
pub mod irqoff;
pub mod lapic;
pub mod paging;
pub mod pic;
pub mod pit;
pub mod preempt;
pub mod rtc;
pub mod selftest;
pub mod syscall;
pub mod trap;
pub mod tsc;

pub use entry::{enter_guest, guest_regs};
pub use guest_abi::arch::CpuUserRegs;
pub use tsc::{now_ns, tsc_khz};

/// CPU features (SMEP, SSE, WP); before paging.
pub fn init_cpu() {
    cpu::init();
}

/// GDT, TSS, IDT, the syscall MSRs, and the legacy PICs moved off the exception vectors.
pub fn init_traps() {
    gdt::init(entry::rsp0());
    idt::init();
    syscall::init();
    pic::init();
}

/// TSC calibration and the LAPIC (timer calibrated, stopped), then a 1 ms one-shot to prove
/// the timer reaches the idle path.
pub fn init_time() {
    tsc::init();
    lapic::init();
    let before = lapic::timer_irqs();
    lapic::timer_oneshot_ns(1_000_000);
    let deadline = now_ns() + 100_000_000;
    while lapic::timer_irqs() == before && now_ns() < deadline {
        idle_halt();
    }
    log::info!(
        "TSC {} kHz, LAPIC timer {} ticks/ms, timer interrupt {}, SMEP {}, NX {}",
        tsc_khz(),
        lapic::timer_ticks_per_ms(),
        if lapic::timer_irqs() > before {
            "ok"
        } else {
            "MISSING"
        },
        if cpu::smep_enabled() { "on" } else { "off" },
        if boot::nx_supported() { "on" } else { "off" },
    );
}

/// Console bytes fed to the UART per pass of the idle loop.
const IDLE_DRAIN: usize = 256;

/// Waits for an interrupt with interrupts enabled only while halted (`sti; hlt; cli`); while
/// console output waits, feeds the UART a chunk instead and returns.
pub fn idle_halt() {
    if crate::console::drain(IDLE_DRAIN) {
        // More output waits: let interrupts in, then back to the scheduler (which comes here
        // again while nothing runs), instead of halting.
        irqoff::leave();
        // SAFETY: a window for pending interrupts (they take the ring-0 path and return).
        unsafe { core::arch::asm!("sti; nop; cli", options(nomem, nostack)) };
        irqoff::enter();
        return;
    }
    irqoff::leave();
    // SAFETY: `sti` takes effect after `hlt` starts (interrupt shadow), so no wake-up is lost;
    // interrupts taken here go to the ring-0 path and return.
    unsafe { core::arch::asm!("sti; hlt; cli", options(nomem, nostack)) };
    irqoff::enter();
}
