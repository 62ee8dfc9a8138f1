//! x86 CPU numbers a PV guest sees through the hypervisor's emulation: the PV CPUID escape,
//! Xen's hypervisor CPUID leaves, the MSRs a PV kernel touches, and the debug-register bits
//! `set_debugreg` validates (values from the Intel SDM and Xen's public headers).

/// The forced-emulation prefix `ud2a; .ascii "xen"` that precedes `cpuid` (0F A2) in a PV
/// guest to have the hypervisor answer it (Xen's `XEN_EMULATE_PREFIX`).
pub const XEN_EMULATE_PREFIX: [u8; 5] = [0x0F, 0x0B, b'x', b'e', b'n'];
/// The `cpuid` opcode.
pub const CPUID_OPCODE: [u8; 2] = [0x0F, 0xA2];

/// Base of Xen's hypervisor CPUID leaves.
pub const XEN_CPUID_FIRST_LEAF: u32 = 0x4000_0000;
/// "XenVMMXenVMM" signature, as ebx, ecx, edx of leaf 0x40000000.
pub const XEN_CPUID_SIGNATURE_EBX: u32 = 0x566e_6558;
/// See [`XEN_CPUID_SIGNATURE_EBX`].
pub const XEN_CPUID_SIGNATURE_ECX: u32 = 0x6558_4d4d;
/// See [`XEN_CPUID_SIGNATURE_EBX`].
pub const XEN_CPUID_SIGNATURE_EDX: u32 = 0x4d4d_566e;
/// The MSR a guest writes to have a hypercall page filled in (leaf base+2, ebx).
pub const XEN_HYPERCALL_PAGE_MSR: u32 = 0x4000_0000;

/// CPUID.1:ECX bits.
pub mod leaf1_ecx {
    /// MONITOR/MWAIT.
    pub const MONITOR: u32 = 1 << 3;
    /// CPL-qualified debug store.
    pub const DS_CPL: u32 = 1 << 4;
    /// VMX.
    pub const VMX: u32 = 1 << 5;
    /// SMX.
    pub const SMX: u32 = 1 << 6;
    /// Enhanced SpeedStep.
    pub const EST: u32 = 1 << 7;
    /// Thermal monitor 2.
    pub const TM2: u32 = 1 << 8;
    /// Silicon debug.
    pub const SDBG: u32 = 1 << 11;
    /// FMA (VEX-encoded, needs AVX state).
    pub const FMA: u32 = 1 << 12;
    /// Perfmon and debug capability MSR.
    pub const PDCM: u32 = 1 << 15;
    /// Process-context identifiers.
    pub const PCID: u32 = 1 << 17;
    /// Direct cache access.
    pub const DCA: u32 = 1 << 18;
    /// x2APIC.
    pub const X2APIC: u32 = 1 << 21;
    /// TSC deadline timer.
    pub const TSC_DEADLINE: u32 = 1 << 24;
    /// XSAVE.
    pub const XSAVE: u32 = 1 << 26;
    /// OS enabled XSAVE.
    pub const OSXSAVE: u32 = 1 << 27;
    /// AVX.
    pub const AVX: u32 = 1 << 28;
    /// F16C (VEX-encoded).
    pub const F16C: u32 = 1 << 29;
    /// Running under a hypervisor.
    pub const HYPERVISOR: u32 = 1 << 31;
}

/// CPUID.1:EDX bits.
pub mod leaf1_edx {
    /// Virtual-8086 mode extensions.
    pub const VME: u32 = 1 << 1;
    /// Debugging extensions (CR4.DE).
    pub const DE: u32 = 1 << 2;
    /// Page size extensions (superpages).
    pub const PSE: u32 = 1 << 3;
    /// Machine-check exception.
    pub const MCE: u32 = 1 << 7;
    /// Local APIC.
    pub const APIC: u32 = 1 << 9;
    /// MTRRs.
    pub const MTRR: u32 = 1 << 12;
    /// Global pages.
    pub const PGE: u32 = 1 << 13;
    /// Machine-check architecture.
    pub const MCA: u32 = 1 << 14;
    /// 36-bit page size extension.
    pub const PSE36: u32 = 1 << 17;
    /// Processor serial number.
    pub const PSN: u32 = 1 << 18;
    /// Debug store.
    pub const DS: u32 = 1 << 21;
    /// Thermal monitor and clock control (ACPI MSRs).
    pub const ACPI: u32 = 1 << 22;
    /// Thermal monitor.
    pub const TM: u32 = 1 << 29;
    /// Pending break enable.
    pub const PBE: u32 = 1 << 31;
}

/// CPUID.7.0:EBX bits a PV guest may see (everything else in leaf 7 is hidden).
pub mod leaf7_ebx {
    /// BMI1.
    pub const BMI1: u32 = 1 << 3;
    /// BMI2.
    pub const BMI2: u32 = 1 << 8;
    /// Enhanced rep movsb/stosb.
    pub const ERMS: u32 = 1 << 9;
    /// RDSEED.
    pub const RDSEED: u32 = 1 << 18;
    /// ADX.
    pub const ADX: u32 = 1 << 19;
    /// CLFLUSHOPT.
    pub const CLFLUSHOPT: u32 = 1 << 23;
    /// CLWB.
    pub const CLWB: u32 = 1 << 24;
    /// FSGSBASE (hidden: the hypervisor switches the segment bases).
    pub const FSGSBASE: u32 = 1 << 0;
    /// SMEP (hidden: the guest kernel runs in ring 3).
    pub const SMEP: u32 = 1 << 7;
    /// AVX2 (hidden: no AVX state).
    pub const AVX2: u32 = 1 << 5;
    /// INVPCID (hidden).
    pub const INVPCID: u32 = 1 << 10;
}

/// CPUID.80000001:ECX bits hidden from a PV guest.
pub mod ext1_ecx {
    /// SVM.
    pub const SVM: u32 = 1 << 2;
    /// SKINIT.
    pub const SKINIT: u32 = 1 << 12;
    /// Watchdog timer.
    pub const WDT: u32 = 1 << 13;
    /// MONITORX/MWAITX.
    pub const MWAITX: u32 = 1 << 29;
}

/// CPUID.80000001:EDX: 1 GiB pages (hidden: PV page tables have no superpages).
pub const EXT1_EDX_PAGE1GB: u32 = 1 << 26;
/// CPUID.80000007:EDX: invariant TSC (the only advanced power-management bit kept).
pub const EXT7_EDX_ITSC: u32 = 1 << 8;

/// MSR numbers.
pub mod msr {
    /// Time-stamp counter.
    pub const TSC: u32 = 0x10;
    /// Platform ID.
    pub const PLATFORM_ID: u32 = 0x17;
    /// Local APIC base.
    pub const APIC_BASE: u32 = 0x1B;
    /// Feature control (VMX/SMX lock).
    pub const FEATURE_CONTROL: u32 = 0x3A;
    /// Microcode revision.
    pub const UCODE_REV: u32 = 0x8B;
    /// Miscellaneous features.
    pub const MISC_ENABLE: u32 = 0x1A0;
    /// Page attribute table.
    pub const PAT: u32 = 0x277;
    /// Extended feature enables.
    pub const EFER: u32 = 0xC000_0080;
    /// FS base.
    pub const FS_BASE: u32 = 0xC000_0100;
    /// GS base (the active one).
    pub const GS_BASE: u32 = 0xC000_0101;
    /// GS base swapped in by `swapgs` (a PV guest's user GS base).
    pub const SHADOW_GS_BASE: u32 = 0xC000_0102;
}

/// APIC_BASE: bootstrap processor.
pub const APIC_BASE_BSP: u64 = 1 << 8;
/// APIC_BASE: xAPIC enabled.
pub const APIC_BASE_ENABLE: u64 = 1 << 11;
/// APIC_BASE: the architectural default address.
pub const APIC_DEFAULT_PA: u64 = 0xFEE0_0000;
/// MISC_ENABLE: fast strings.
pub const MISC_ENABLE_FAST_STRING: u64 = 1 << 0;
/// MISC_ENABLE: branch trace store unavailable.
pub const MISC_ENABLE_BTS_UNAVAIL: u64 = 1 << 11;
/// MISC_ENABLE: PEBS unavailable.
pub const MISC_ENABLE_PEBS_UNAVAIL: u64 = 1 << 12;
/// EFER bits a 64-bit PV guest sees: SCE, LME, LMA, NXE.
pub const EFER_PV: u64 = (1 << 0) | (1 << 8) | (1 << 10) | (1 << 11);
/// FEATURE_CONTROL: locked (with VMX and SMX off).
pub const FEATURE_CONTROL_LOCK: u64 = 1;
/// The PAT Xen programs and a PV guest reads: WB, WT, UC-, UC, WC, WP, UC, UC
/// (Xen's `XEN_MSR_PAT`).
pub const XEN_MSR_PAT: u64 = 0x0005_0100_0704_0406;

/// CR0 as a 64-bit PV guest reads it (PE, MP, ET, NE, WP, PG); TS is the guest's own.
pub const PV_CR0: u64 = (1 << 0) | (1 << 1) | (1 << 4) | (1 << 5) | (1 << 16) | (1 << 31);
/// CR0.TS.
pub const CR0_TS: u64 = 1 << 3;
/// CR4 as a PV guest reads it: PAE, OSFXSR, OSXMMEXCPT (the bits Xen shows a PV guest of
/// its own settings; MCE is hidden with the MCE feature). The bits Xen lets a guest choose
/// (TSD, DE, FSGSBASE, OSXSAVE) follow features not offered, so writes leave it as it is.
pub const PV_CR4: u64 = (1 << 5) | (1 << 9) | (1 << 10);

/// Debug registers (`set_debugreg`/`get_debugreg`, `mov %drN`).
pub mod debugreg {
    /// DR6 bits that always read as one.
    pub const DR6_RESERVED_ONE: u64 = 0xFFFF_0FF0;
    /// DR6 bits that always read as zero (bit 12 and the upper half).
    pub const DR6_RESERVED_ZERO: u64 = !0xFFFF_EFFF;
    /// DR7 bits that always read as one (bit 10).
    pub const DR7_RESERVED_ONE: u64 = 0x400;
    /// DR7 bits that always read as zero (bits 11, 14, 15 and the upper half).
    pub const DR7_RESERVED_ZERO: u64 = !0xFFFF_27FF;
    /// DR7: the R/W field of breakpoint `n` is at bit 16 + 4n; 0b10 = I/O breakpoint,
    /// which needs CR4.DE (never set for a PV guest).
    pub const DR7_RW_IO: u64 = 0b10;
    /// DR7: the enable bits (L0–L3, G0–G3).
    pub const DR7_ENABLES: u64 = 0xFF;
}
