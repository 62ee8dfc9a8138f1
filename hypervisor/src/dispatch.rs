//! Entries from guests (minimal placeholder; the lead's): arch calls these with the fixed
//! guest frame and returns to the guest with `enter_guest` when they return.

use crate::arch::x86_64::{exit::qemu_exit, CpuUserRegs};

/// An exception (vector 0–31) from ring 3.
pub fn guest_exception(regs: &mut CpuUserRegs) {
    log::error!(
        "guest exception {} error {:#x} at {:#x}",
        regs.entry_vector,
        regs.error_code,
        regs.rip
    );
    qemu_exit(0x11)
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
    log::error!("guest syscall {} at {:#x}", regs.rax, regs.rip);
    qemu_exit(0x11)
}
