//! The PV MSR policy: what `rdmsr`/`wrmsr` from a 64-bit PV guest kernel read and write
//! (docs/design.md). An MSR outside it, or a write it refuses, is #GP(0) for the guest.

use crate::arch;
use crate::domain::state::State;
use crate::mm::guest_walk::canonical;
use guest_abi::cpu::{msr::*, *};

/// MISC_ENABLE as a PV guest reads it.
const PV_MISC_ENABLE: u64 =
    MISC_ENABLE_FAST_STRING | MISC_ENABLE_BTS_UNAVAIL | MISC_ENABLE_PEBS_UNAVAIL;

/// MSR `msr` of the current vCPU; `None`: #GP.
pub fn read(st: &mut State, msr: u32) -> Option<u64> {
    let v = &*st.cur_vcpu();
    Some(match msr {
        // The live bases are the vCPU's while it runs (`set_segment_base`).
        FS_BASE => arch::cpu::fs_base(),
        GS_BASE => arch::cpu::gs_base(),
        SHADOW_GS_BASE => v.gs_base_user,
        EFER => EFER_PV,
        PAT => XEN_MSR_PAT,
        APIC_BASE => APIC_DEFAULT_PA | APIC_BASE_BSP | APIC_BASE_ENABLE,
        MISC_ENABLE => PV_MISC_ENABLE,
        FEATURE_CONTROL => FEATURE_CONTROL_LOCK,
        PLATFORM_ID | UCODE_REV => 0,
        TSC => arch::cpu::rdtsc(),
        _ => return None,
    })
}

/// A write the PV MSR policy refuses: the guest gets #GP(0).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Refused;

/// Write `val` to MSR `msr` of the current vCPU.
pub fn write(st: &mut State, msr: u32, val: u64) -> Result<(), Refused> {
    let v = st.cur_vcpu();
    match msr {
        FS_BASE | GS_BASE | SHADOW_GS_BASE if !canonical(val) => Err(Refused),
        FS_BASE => {
            v.fs_base = val;
            arch::cpu::set_fs_base(val);
            Ok(())
        }
        // The guest kernel runs with its kernel GS base live.
        GS_BASE => {
            v.gs_base_kernel = val;
            arch::cpu::set_gs_base(val);
            Ok(())
        }
        SHADOW_GS_BASE => {
            v.gs_base_user = val;
            Ok(())
        }
        // Microcode loading is the hypervisor's: a write is ignored, as Xen does.
        UCODE_REV => Ok(()),
        // Read-only to a PV guest: a write of the value it reads is accepted, any other #GP.
        EFER | PAT | APIC_BASE | MISC_ENABLE | FEATURE_CONTROL | PLATFORM_ID => {
            if read(st, msr) == Some(val) {
                Ok(())
            } else {
                Err(Refused)
            }
        }
        _ => Err(Refused),
    }
}
