//! x86_64: boot, descriptor tables, entry/exit paths, paging, LAPIC and time.
pub mod acpi;
pub mod bench_floor;
pub mod boot;
pub mod cpu;
pub mod entry;
pub mod exit;
pub mod fpu_regs;
pub mod gdt;
use crate::arch::{irqoff, now_ns, tsc_khz};
pub mod idt;
pub mod ioapic;
pub mod lapic;
pub mod paging;
pub mod pic;
pub mod pit;
pub mod rtc;
pub mod selftest;
pub mod smp;
pub mod stacks;
pub mod syscall;
pub mod trap;

pub use entry::{enter_guest, guest_regs};
pub use stacks::this_cpu;

/// Lets the application processors run `main` (`smp::release_aps`).
pub fn release_aps(main: fn() -> !) {
    smp::release_aps(main);
}

/// Sends CPU `n` the reschedule interrupt (it runs a scheduling pass at once).
pub fn kick_cpu(n: usize) {
    smp::kick(n);
}

/// Invalidates `what` on the CPUs of `mask` but this one and waits until each has
/// (`smp::shootdown`); returns the CPUs flushed.
pub fn shootdown_cpus(mask: u32, what: crate::arch::shootdown::Flush) -> u32 {
    smp::shootdown(mask, what)
}

/// CPU features (SMEP, SSE, WP); before paging.
pub fn init_cpu() {
    cpu::init();
}

/// GDT, TSS, IDT, the syscall MSRs, and the legacy PICs moved off the exception vectors.
pub fn init_traps() {
    gdt::init(entry::rsp0());
    idt::init();
    syscall::init(0);
    pic::init();
}

/// TSC calibration and the LAPIC (timer calibrated, stopped), then a 1 ms one-shot to prove
/// the timer reaches the idle path.
pub fn init_time() {
    tsc_calibrate();
    lapic::init();
    let before = lapic::timer_irqs();
    lapic::timer_oneshot_ns(1_000_000);
    let deadline = now_ns() + 100_000_000;
    while lapic::timer_irqs() == before && now_ns() < deadline {
        idle_halt(false);
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

/// Calibrates the TSC against the PIT: the median of 5 undisturbed 10 ms samples, so a host
/// that deschedules the virtual CPU mid-measurement does not skew the rate (falls back to
/// 1 GHz if the PIT does not count).
fn tsc_calibrate() {
    let ticks = (pit::PIT_HZ / 100) as u16;
    let khz = pit::tsc_khz(ticks, 5, cpu::rdtsc).unwrap_or_else(|| {
        log::warn!("PIT does not count: assuming a 1 GHz TSC");
        1_000_000
    });
    super::tsc::init(khz);
}

/// Nothing runs. With `busy` (console output waits, which the caller feeds out a chunk at a
/// time) only opens a window for pending interrupts and returns; otherwise waits for an
/// interrupt with interrupts enabled only while halted (`sti; hlt; cli`).
pub fn idle_halt(busy: bool) {
    irqoff::leave();
    if busy {
        // SAFETY: a window for pending interrupts (they take the ring-0 path and return).
        unsafe { core::arch::asm!("sti; nop; cli", options(nomem, nostack)) };
    } else {
        // SAFETY: `sti` takes effect after `hlt` starts (interrupt shadow), so no wake-up is
        // lost; interrupts taken here go to the ring-0 path and return.
        unsafe { core::arch::asm!("sti; hlt; cli", options(nomem, nostack)) };
    }
    irqoff::enter();
}
