//! The privileged instructions the native kernel uses in place of hypercalls, each a thin
//! wrapper: port I/O, control registers, `invlpg`, MSRs, descriptor tables, the TSC.

use core::arch::asm;

/// Writes a byte to an I/O port.
pub fn outb(port: u16, v: u8) {
    // SAFETY: ring 0 port output to the serial port or the debug-exit device only (callers).
    unsafe { asm!("out dx, al", in("dx") port, in("al") v, options(nomem, nostack)) };
}

/// Writes a dword to an I/O port.
pub fn outl(port: u16, v: u32) {
    // SAFETY: as `outb`.
    unsafe { asm!("out dx, eax", in("dx") port, in("eax") v, options(nomem, nostack)) };
}

/// Reads a byte from an I/O port.
pub fn inb(port: u16) -> u8 {
    let v: u8;
    // SAFETY: reading the serial port's status register has no side effect.
    unsafe { asm!("in al, dx", out("al") v, in("dx") port, options(nomem, nostack)) };
    v
}

/// The TSC (serialised against earlier instructions like the PV side's).
pub fn rdtsc() -> u64 {
    let (lo, hi): (u32, u32);
    // SAFETY: reads a counter.
    unsafe { asm!("lfence; rdtsc", out("eax") lo, out("edx") hi, options(nomem, nostack)) };
    (u64::from(hi) << 32) | u64::from(lo)
}

/// The current page-table base.
pub fn read_cr3() -> u64 {
    let v: u64;
    // SAFETY: reading CR3 has no side effect.
    unsafe { asm!("mov {}, cr3", out(reg) v, options(nomem, nostack)) };
    v
}

/// Switches to the page tables at `pml4` (and flushes every non-global TLB entry).
///
/// # Safety
/// `pml4` must be a complete table tree mapping the running code, stack and data.
pub unsafe fn write_cr3(pml4: u64) {
    // SAFETY: the caller guarantees the new tables map everything in use.
    unsafe { asm!("mov cr3, {}", in(reg) pml4, options(nostack)) };
}

/// Flushes this CPU's TLB (the native `MMUEXT_TLB_FLUSH_LOCAL`).
pub fn flush_tlb() {
    // SAFETY: reloading the current CR3 keeps the same mappings.
    unsafe { write_cr3(read_cr3()) };
}

/// Writes an MSR.
///
/// # Safety
/// The value must be valid for the MSR and keep the kernel's invariants.
pub unsafe fn wrmsr(msr: u32, v: u64) {
    // SAFETY: the caller vouches for the MSR and value.
    unsafe {
        asm!("wrmsr", in("ecx") msr, in("eax") v as u32, in("edx") (v >> 32) as u32,
             options(nomem, nostack))
    };
}

/// Disables interrupts (the native counterpart of setting the vcpu_info event mask).
pub fn cli() {
    // SAFETY: only masks interrupts.
    unsafe { asm!("cli", options(nomem, nostack)) };
}

/// Halts forever with interrupts off.
pub fn halt() -> ! {
    loop {
        cli();
        // SAFETY: waits for an interrupt that never comes.
        unsafe { asm!("hlt", options(nomem, nostack)) };
    }
}

/// isa-debug-exit (`iobase=0xf4`): QEMU exits with `(value << 1) | 1`.
const DEBUG_EXIT: u16 = 0xf4;
/// Power off: exit status 33 (docs/design.md's table).
pub const EXIT_POWEROFF: u32 = 0x10;
/// Crashed: exit status 35.
pub const EXIT_CRASH: u32 = 0x11;

/// Ends the QEMU run with `code`.
pub fn exit(code: u32) -> ! {
    outl(DEBUG_EXIT, code);
    halt()
}
