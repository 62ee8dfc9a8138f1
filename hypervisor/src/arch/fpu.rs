//! FPU/SSE state for lazy per-vCPU switching: FXSAVE areas and each vCPU's context. The
//! registers are the backend's (`arch::fpu_regs`: FXSAVE/FXRSTOR and CR0.TS on x86_64, a
//! model on the host), which uses these areas; which vCPU's state is live is decided by
//! `domain::fpu` (lazily, on #NM).

use alloc::boxed::Box;
use core::sync::atomic::{AtomicU64, Ordering};

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

/// The state a vCPU's FPU starts in: x87 control word 0x37F, all registers empty and zero,
/// MXCSR 0x1F80 (as after FNINIT and a reset MXCSR).
pub fn reset_area() -> FxArea {
    let mut a = FxArea([0; 512]);
    a.0[0..2].copy_from_slice(&0x037Fu16.to_le_bytes());
    a.0[24..28].copy_from_slice(&MXCSR_DEFAULT.to_le_bytes());
    a
}
