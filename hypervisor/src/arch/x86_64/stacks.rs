//! Where each CPU's hypervisor stack is: CPU 0 (the boot processor) on the boot stack, CPU n
//! on slot n - 1 of `hv_ap_stacks` (both defined with the entry stubs); each has its fixed
//! guest frame at its top and a guard page at its bottom. Which CPU code runs on follows
//! from the stack it runs on.

use super::boot::STACK_SIZE;

extern "C" {
    static hv_stack_top: u8;
    static hv_stack_bottom: u8;
    static hv_ap_stacks: u8;
}

/// The top of CPU `cpu`'s hypervisor stack (CPU 0: the boot stack; CPU n: slot n - 1 of
/// the application processors' stacks).
pub fn stack_top(cpu: usize) -> u64 {
    assert!(cpu < crate::cpus::MAX_CPUS);
    if cpu == 0 {
        (&raw const hv_stack_top) as u64
    } else {
        (&raw const hv_ap_stacks) as u64 + (cpu * STACK_SIZE) as u64
    }
}

/// The bottom page of CPU `cpu`'s stack: a guard, unmapped in the idle page tables.
pub fn stack_guard(cpu: usize) -> u64 {
    if cpu == 0 {
        (&raw const hv_stack_bottom) as u64
    } else {
        stack_top(cpu) - STACK_SIZE as u64
    }
}

/// The CPU this code runs on, from the stack it runs on (every CPU runs the hypervisor on
/// its own stack; the IST stacks of NMI, #DF and #MC count as CPU 0's).
#[inline(always)]
pub fn this_cpu() -> usize {
    let rsp: u64;
    // SAFETY: reads the stack pointer.
    unsafe { core::arch::asm!("mov {}, rsp", out(reg) rsp, options(nomem, nostack)) };
    let ap = (&raw const hv_ap_stacks) as u64;
    let n = rsp.wrapping_sub(ap) / STACK_SIZE as u64;
    if n < (crate::cpus::MAX_CPUS - 1) as u64 {
        n as usize + 1
    } else {
        0
    }
}
