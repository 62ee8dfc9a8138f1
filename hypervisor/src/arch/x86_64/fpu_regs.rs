//! The FPU/SSE registers themselves: FXSAVE/FXRSTOR and CR0.TS (the areas and per-vCPU state
//! are `arch::fpu`'s, shared with the host backend).
//!
//! The hypervisor itself is soft-float and never touches these registers; guests own them.

use crate::arch::fpu::FxArea;
use core::arch::asm;

const CR0_TS: u64 = 1 << 3;

fn read_cr0() -> u64 {
    let v;
    // SAFETY: reading CR0 has no side effects.
    unsafe { asm!("mov {}, cr0", out(reg) v, options(nomem, nostack)) };
    v
}

/// Whether CR0.TS is set (the next FPU/SSE instruction raises #NM).
pub fn ts_set() -> bool {
    read_cr0() & CR0_TS != 0
}

/// Sets CR0.TS.
pub fn set_ts() {
    let cr0 = read_cr0() | CR0_TS;
    // SAFETY: only TS changes; it makes FPU/SSE instructions fault (#NM), which the guest
    // entry path handles, and the hypervisor never executes them.
    unsafe { asm!("mov cr0, {}", in(reg) cr0, options(nomem, nostack)) };
}

/// Clears CR0.TS.
pub fn clear_ts() {
    // SAFETY: `clts` only clears CR0.TS.
    unsafe { asm!("clts", options(nomem, nostack)) };
}

/// Saves the live FPU/SSE registers into `area` (clears TS first).
pub fn save(area: &mut FxArea) {
    clear_ts();
    // SAFETY: `area` is 512 writable, 16-aligned bytes; CR4.OSFXSR is set at boot.
    unsafe { asm!("fxsave64 [{}]", in(reg) area.0.as_mut_ptr(), options(nostack)) };
}

/// Loads the FPU/SSE registers from `area` (clears TS first). A corrupt MXCSR cannot be
/// loaded: areas only ever hold what `save` wrote.
pub fn restore(area: &FxArea) {
    clear_ts();
    // SAFETY: `area` is 512 readable, 16-aligned bytes written by `fxsave64`, so its MXCSR
    // is valid and `fxrstor64` cannot fault.
    unsafe { asm!("fxrstor64 [{}]", in(reg) area.0.as_ptr(), options(nostack, readonly)) };
}
