//! `syscall` and `sysenter` set-up: EFER.SCE, STAR = 0xe023<<48 | 0xe008<<32, LSTAR and
//! CSTAR = the 64-bit and compat-mode entry stubs, FMASK clears IF, TF, DF, AC, NT; the
//! SYSENTER MSRs enter the hypervisor's code and data selectors on the fixed frame (a
//! `sysenter` exists in long mode only on Intel CPUs: AMD raises #UD, which goes to the guest).

use super::cpu::{
    self, MSR_CSTAR, MSR_EFER, MSR_FMASK, MSR_LSTAR, MSR_STAR, MSR_SYSENTER_CS, MSR_SYSENTER_EIP,
    MSR_SYSENTER_ESP,
};
use super::gdt::{FLAT_RING3_CS32, HV_CS};

const EFER_SCE: u64 = 1;
/// RFLAGS bits cleared on entry.
const FMASK: u64 = (1 << 9) | (1 << 8) | (1 << 10) | (1 << 18) | (1 << 14);

/// Programs CPU `cpu`'s syscall and sysenter MSRs (on that CPU): its own entry stubs and
/// fixed frame.
pub fn init(cpu: usize) {
    cpu::wrmsr(MSR_EFER, cpu::rdmsr(MSR_EFER) | EFER_SCE);
    cpu::wrmsr(
        MSR_STAR,
        (u64::from(FLAT_RING3_CS32) << 48) | (u64::from(HV_CS) << 32),
    );
    cpu::wrmsr(MSR_LSTAR, super::entry::syscall_entry_addr(cpu));
    cpu::wrmsr(MSR_CSTAR, super::entry::syscall32_entry_addr(cpu));
    cpu::wrmsr(MSR_FMASK, FMASK);
    cpu::wrmsr(MSR_SYSENTER_CS, u64::from(HV_CS));
    cpu::wrmsr(MSR_SYSENTER_ESP, super::entry::rsp0_of(cpu));
    cpu::wrmsr(MSR_SYSENTER_EIP, super::entry::sysenter_entry_addr());
}
