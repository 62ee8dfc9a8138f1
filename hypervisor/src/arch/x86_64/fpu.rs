//! The FPU/SSE register file: FXSAVE/FXRSTOR areas and CR0.TS, for lazy per-vCPU switching.
//!
//! The hypervisor itself is soft-float and never touches these registers; guests own them.
//! Which vCPU's state is live is decided by `domain::fpu` (lazily, on #NM).

use alloc::boxed::Box;
use core::arch::asm;
use core::sync::atomic::{AtomicU64, Ordering};

const CR0_TS: u64 = 1 << 3;
/// MXCSR after reset: every SIMD exception masked, round to nearest.
const MXCSR_DEFAULT: u32 = 0x1F80;

/// An FXSAVE area (512 bytes, 16-aligned).
#[repr(C, align(16))]
pub struct FxArea(pub [u8; 512]);

/// One vCPU's FPU/SSE context.
pub struct FpuState {
    /// Saved registers while another vCPU owns the FPU (a reset state until first saved).
    pub area: Box<FxArea>,
    /// The guest's virtual CR0.TS, set by `fpu_taskswitch(1)`: its next FPU use gets #NM.
    pub guest_ts: bool,
    /// Unique id of this context (domain ids are reused; these never are).
    pub token: u64,
}

static NEXT_TOKEN: AtomicU64 = AtomicU64::new(1);

impl FpuState {
    /// A fresh context: the reset state, TS clear.
    pub fn new() -> Self {
        FpuState {
            area: Box::new(reset_area()),
            guest_ts: false,
            token: NEXT_TOKEN.fetch_add(1, Ordering::Relaxed),
        }
    }
}

impl Default for FpuState {
    fn default() -> Self {
        Self::new()
    }
}

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

/// The state a vCPU's FPU starts in: x87 control word 0x37F, all registers empty and zero,
/// MXCSR 0x1F80 (as after FNINIT and a reset MXCSR).
pub fn reset_area() -> FxArea {
    let mut a = FxArea([0; 512]);
    a.0[0..2].copy_from_slice(&0x037Fu16.to_le_bytes());
    a.0[24..28].copy_from_slice(&MXCSR_DEFAULT.to_le_bytes());
    a
}
