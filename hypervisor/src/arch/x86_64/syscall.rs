//! `syscall` set-up: EFER.SCE, STAR = 0xe023<<48 | 0xe008<<32, LSTAR = the entry stub,
//! FMASK clears IF, TF, DF, AC, NT. CSTAR goes to the same stub.

use super::cpu::{self, MSR_CSTAR, MSR_EFER, MSR_FMASK, MSR_LSTAR, MSR_STAR};
use super::gdt::{FLAT_RING3_CS32, HV_CS};

const EFER_SCE: u64 = 1;
/// RFLAGS bits cleared on entry.
const FMASK: u64 = (1 << 9) | (1 << 8) | (1 << 10) | (1 << 18) | (1 << 14);

/// Programs the syscall MSRs.
pub fn init() {
    cpu::wrmsr(MSR_EFER, cpu::rdmsr(MSR_EFER) | EFER_SCE);
    cpu::wrmsr(
        MSR_STAR,
        (u64::from(FLAT_RING3_CS32) << 48) | (u64::from(HV_CS) << 32),
    );
    cpu::wrmsr(MSR_LSTAR, super::entry::syscall_entry_addr());
    // A compat-mode syscall (AMD only) enters like a 64-bit one: it can only confuse its own guest.
    cpu::wrmsr(MSR_CSTAR, super::entry::syscall_entry_addr());
    cpu::wrmsr(MSR_FMASK, FMASK);
}
