//! Entries from guests, as arch calls them with the fixed guest frame (`enter_guest` follows
//! when they return).

mod upcall;

use crate::arch::{irqoff, lapic, CpuUserRegs};

/// Console bytes fed to the UART on each return to a guest.
const EXIT_DRAIN: usize = 64;

/// An exception (vector 0–31) from ring 3.
pub fn guest_exception(regs: &mut CpuUserRegs) {
    irqoff::enter();
    crate::traps::guest_exception(regs)
}

/// Any interrupt (vector 32–255), before the LAPIC's EOI: a device line for a domain is
/// masked if level-triggered and noted (`crate::irq::line`).
pub fn before_eoi(vector: u8) {
    crate::irq::before_eoi(vector);
}

/// An interrupt (vector 32–255) that arrived while a guest ran. Already acknowledged (EOI).
pub fn guest_interrupt(regs: &mut CpuUserRegs) {
    irqoff::enter();
    let v = regs.entry_vector & 0xFF;
    if v == u32::from(crate::console::RX_VECTOR) {
        // Console input: the scheduling pass tells dom0 (VIRQ_CONSOLE), which, woken and
        // boosted, runs before the interrupted vCPU's slice is over.
        crate::console::rx_interrupt();
        crate::sched::schedule(regs);
    } else if v == u32::from(lapic::TIMER_VECTOR)
        || v == u32::from(lapic::RESCHED_VECTOR)
        || crate::irq::is_device_vector(v as u8)
    {
        // A deadline passed (slice end, a vCPU timer, accounting), another CPU asks for a
        // pass (a vCPU woke, or this one must stop), or a device interrupt for a domain
        // (`crate::irq`, raised in the pass): let the scheduler charge, fire timers,
        // deliver and pick the next vCPU.
        crate::sched::schedule(regs);
    }
}

/// An interrupt that arrived in the hypervisor's idle loop. Already acknowledged (EOI).
/// The idle loop re-runs the scheduler after every wake-up (timers, console input).
pub fn idle_interrupt(vector: u8) {
    if vector == crate::console::RX_VECTOR {
        crate::console::rx_interrupt();
    }
}

/// Just before every return to a guest: deliver a pending, unmasked event upcall.
pub fn before_guest_entry(regs: &mut CpuUserRegs) {
    upcall::deliver(regs);
    // Console output goes out a little at a time (the rest in the idle loop).
    crate::console::drain(EXIT_DRAIN);
    irqoff::leave();
}

/// A `syscall` from ring 3 (a hypercall or a guest-user system call).
pub fn syscall(regs: &mut CpuUserRegs) {
    irqoff::enter();
    crate::hypercall::syscall_entry(regs)
}

/// A compat-mode `syscall` from ring 3 (a 32-bit user task's system call).
pub fn syscall32(regs: &mut CpuUserRegs) {
    irqoff::enter();
    crate::traps::compat_syscall(regs)
}

/// A `sysenter` from ring 3 (a 32-bit user task's system call, Intel CPUs only).
pub fn sysenter(regs: &mut CpuUserRegs) {
    irqoff::enter();
    crate::traps::sysenter(regs)
}

/// `enter_guest` found a frame it cannot return to (non-canonical rip, bad selectors): the
/// guest kernel gets a #GP or its failsafe callback, or the domain is crashed and another
/// one scheduled into `regs`.
pub fn guest_bad_frame(regs: &mut CpuUserRegs) {
    crate::traps::bad_frame(regs)
}
