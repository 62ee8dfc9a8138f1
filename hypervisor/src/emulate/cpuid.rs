//! The PV CPUID policy: the host's leaves with what a 64-bit PV guest cannot use hidden (it
//! runs in ring 3 without VMX, MONITOR/MWAIT, a local APIC, XSAVE state or PCID), the
//! hypervisor bit set, and Xen's hypervisor leaves at 0x40000000 (docs/design.md).

use crate::arch;
use guest_abi::cpu::*;

/// The highest basic leaf a PV guest sees (0xD: XSAVE, reported empty).
const MAX_BASIC: u32 = 0xD;
/// The highest extended leaf a PV guest sees.
const MAX_EXTENDED: u32 = 0x8000_0008;
/// The highest hypervisor leaf (signature, version, hypercall page).
const MAX_HYPERVISOR: u32 = XEN_CPUID_FIRST_LEAF + 2;

/// CPUID.1:ECX bits hidden from a PV guest.
const HIDDEN_1_ECX: u32 = leaf1_ecx::MONITOR
    | leaf1_ecx::DS_CPL
    | leaf1_ecx::VMX
    | leaf1_ecx::SMX
    | leaf1_ecx::EST
    | leaf1_ecx::TM2
    | leaf1_ecx::SDBG
    | leaf1_ecx::FMA
    | leaf1_ecx::PDCM
    | leaf1_ecx::PCID
    | leaf1_ecx::DCA
    | leaf1_ecx::X2APIC
    | leaf1_ecx::TSC_DEADLINE
    | leaf1_ecx::XSAVE
    | leaf1_ecx::OSXSAVE
    | leaf1_ecx::AVX
    | leaf1_ecx::F16C;

/// CPUID.1:EDX bits hidden from a PV guest. PSE, PSE36 and PGE as in Xen's PV policy: the PV
/// MMU takes no superpage entries and global pages are the hypervisor's (Linux maps its
/// direct map with 2 MiB pages when it sees PSE).
const HIDDEN_1_EDX: u32 = leaf1_edx::VME
    | leaf1_edx::DE
    | leaf1_edx::PSE
    | leaf1_edx::MCE
    | leaf1_edx::APIC
    | leaf1_edx::MTRR
    | leaf1_edx::PGE
    | leaf1_edx::MCA
    | leaf1_edx::PSE36
    | leaf1_edx::PSN
    | leaf1_edx::DS
    | leaf1_edx::ACPI
    | leaf1_edx::TM
    | leaf1_edx::PBE;

/// CPUID.7.0:EBX bits a PV guest may see.
const SHOWN_7_EBX: u32 = leaf7_ebx::BMI1
    | leaf7_ebx::BMI2
    | leaf7_ebx::ERMS
    | leaf7_ebx::RDSEED
    | leaf7_ebx::ADX
    | leaf7_ebx::CLFLUSHOPT
    | leaf7_ebx::CLWB;

/// CPUID.80000001:ECX bits hidden from a PV guest.
const HIDDEN_EXT1_ECX: u32 = ext1_ecx::SVM | ext1_ecx::SKINIT | ext1_ecx::WDT | ext1_ecx::MWAITX;

/// CPUID `leaf`/`sub` as the current PV guest sees it: (eax, ebx, ecx, edx).
pub fn pv_cpuid(leaf: u32, sub: u32) -> (u32, u32, u32, u32) {
    if (XEN_CPUID_FIRST_LEAF..=XEN_CPUID_FIRST_LEAF + 0xFF).contains(&leaf) {
        return hypervisor_leaf(leaf - XEN_CPUID_FIRST_LEAF);
    }
    let host = |l| arch::cpu::cpuid(l, sub);
    match leaf {
        0 => {
            let (max, b, c, d) = host(0);
            (max.min(MAX_BASIC), b, c, d)
        }
        1 => {
            let (a, b, c, d) = host(1);
            // One vCPU, initial APIC id 0.
            (
                a,
                b & 0x0000_FFFF,
                (c & !HIDDEN_1_ECX) | leaf1_ecx::HYPERVISOR,
                d & !HIDDEN_1_EDX,
            )
        }
        // Cache and TLB descriptors, deterministic cache parameters: the host's.
        2 | 4 if leaf <= basic_max() => host(leaf),
        7 if sub == 0 && basic_max() >= 7 => {
            let (_, b, _, _) = host(7);
            (0, b & SHOWN_7_EBX, 0, 0)
        }
        0x8000_0000 => {
            let (max, b, c, d) = host(0x8000_0000);
            (max.min(MAX_EXTENDED), b, c, d)
        }
        0x8000_0001 if extended_max() >= leaf => {
            let (a, b, c, d) = host(leaf);
            (a, b, c & !HIDDEN_EXT1_ECX, d & !EXT1_EDX_PAGE1GB)
        }
        // Brand string and address sizes: the host's.
        0x8000_0002..=0x8000_0004 | 0x8000_0008 if extended_max() >= leaf => host(leaf),
        0x8000_0007 if extended_max() >= leaf => (0, 0, 0, host(leaf).3 & EXT7_EDX_ITSC),
        // Monitor/mwait, power, perfmon, topology, XSAVE and the rest: nothing.
        _ => (0, 0, 0, 0),
    }
}

fn basic_max() -> u32 {
    arch::cpu::cpuid(0, 0).0.min(MAX_BASIC)
}

fn extended_max() -> u32 {
    arch::cpu::cpuid(0x8000_0000, 0).0.min(MAX_EXTENDED)
}

/// Xen's leaves at 0x40000000 + `off`.
fn hypervisor_leaf(off: u32) -> (u32, u32, u32, u32) {
    match off {
        0 => (
            MAX_HYPERVISOR,
            XEN_CPUID_SIGNATURE_EBX,
            XEN_CPUID_SIGNATURE_ECX,
            XEN_CPUID_SIGNATURE_EDX,
        ),
        // The version, as xen_version(XENVER_version) answers.
        1 => (guest_abi::version::XEN_VERSION_IMPLEMENTED, 0, 0, 0),
        // One hypercall page, installed through MSR 0x40000000.
        2 => (1, XEN_HYPERCALL_PAGE_MSR, 0, 0),
        _ => (0, 0, 0, 0),
    }
}
