//! The host backend: a model of one x86_64 CPU and its RAM, so that `cargo test -p
//! hypervisor` runs the generic hypervisor (hypercall handlers, PV MMU, grants, event
//! channels, scheduler) on the host. Machine memory is a block of host memory the direct map
//! points into ([`ram`]); control registers, segment bases, the TLB, the LAPIC timer and the
//! FPU are state a test can read back; time advances only when a test or the idle loop
//! moves it ([`tsc::advance_ns`](crate::arch::tsc)).
//!
//! Nothing here is privileged, so nothing here is `unsafe` except handing out the RAM block.

pub mod cpu;
pub mod exit;
pub mod fpu_regs;
pub mod gdt;
pub mod ioapic;
pub mod lapic;
pub mod paging;
pub mod rtc;

/// The host model has one CPU.
pub fn this_cpu() -> usize {
    0
}

/// No other CPU to kick in the host model.
pub fn kick_cpu(_n: usize) {}

/// No other CPU to flush in the host model.
pub fn shootdown_cpus(_mask: u32, _what: crate::arch::shootdown::Flush) -> u32 {
    0
}

/// Nothing runs: unless `busy` (console output waits, so the real CPU only lets pending
/// interrupts in), move time to the armed LAPIC deadline, as the timer interrupt that would
/// end a real halt. With no deadline armed a real CPU would halt for ever: a test bug.
pub fn idle_halt(busy: bool) {
    if busy {
        return;
    }
    let deadline = lapic::take_deadline()
        .unwrap_or_else(|| panic!("host CPU idles with no timer armed: it would never wake"));
    cpu::advance_to_ns(deadline);
}
