//! Entries from guests, as arch calls them with the fixed guest frame (`enter_guest` follows
//! when they return). Exceptions and syscalls forward to the lead's `traps` and `hypercall`.

use crate::arch::x86_64::CpuUserRegs;

/// An exception (vector 0–31) from ring 3.
pub fn guest_exception(regs: &mut CpuUserRegs) {
    crate::traps::guest_exception(regs)
}

/// An interrupt (vector 32–255) that arrived while a guest ran. Already acknowledged (EOI).
pub fn guest_interrupt(regs: &mut CpuUserRegs) {
    log::debug!(
        "interrupt {} in guest at {:#x}",
        regs.entry_vector,
        regs.rip
    );
}

/// An interrupt that arrived in the hypervisor's idle loop. Already acknowledged (EOI).
pub fn idle_interrupt(vector: u8) {
    log::debug!("interrupt {vector} while idle");
}

/// A `syscall` from ring 3 (a hypercall or a guest-user system call).
pub fn syscall(regs: &mut CpuUserRegs) {
    crate::hypercall::syscall_entry(regs)
}

/// `enter_guest` found a frame it cannot return to (non-canonical rip, bad selectors): the
/// running domain is crashed and another one scheduled into `regs`.
pub fn guest_bad_frame(regs: &mut CpuUserRegs) {
    crate::traps::crash_current(regs, "bad return frame (rip or selectors)")
}
