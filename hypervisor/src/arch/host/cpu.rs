//! The modelled CPU's registers: CR2, CR3, the segment bases and the TSC.

use core::sync::atomic::{AtomicU64, Ordering};

/// A modelled register: a reader and a writer over one atomic.
macro_rules! register {
    ($(#[$doc:meta])* $reg:ident, $read:ident, $write:ident) => {
        static $reg: AtomicU64 = AtomicU64::new(0);
        $(#[$doc])*
        pub fn $read() -> u64 {
            $reg.load(Ordering::Relaxed)
        }
        $(#[$doc])*
        pub fn $write(v: u64) {
            $reg.store(v, Ordering::Relaxed);
        }
    };
}

register!(
    /// CR2: the faulting address of the last page fault (tests raising a fault set it).
    CR2, read_cr2, set_cr2
);
register!(
    /// FS base.
    FS_BASE, fs_base, set_fs_base
);
register!(
    /// GS base.
    GS_BASE, gs_base, set_gs_base
);

/// DS, ES, FS, GS.
static DATA_SEL: [AtomicU64; 4] = [const { AtomicU64::new(0) }; 4];
/// Loads the GS selector (the active GS base is kept, as on the CPU).
pub fn load_gs_selector(sel: u16) {
    DATA_SEL[3].store(u64::from(sel), Ordering::Relaxed);
}
/// The GS selector.
pub fn gs_selector() -> u16 {
    DATA_SEL[3].load(Ordering::Relaxed) as u16
}
/// DS, ES, FS and GS (what the guest last loaded).
pub fn data_selectors() -> [u16; 4] {
    core::array::from_fn(|i| DATA_SEL[i].load(Ordering::Relaxed) as u16)
}
/// Loads DS, ES, FS and GS (the bases are the caller's to set, as on the CPU).
pub fn load_data_selectors(sel: [u16; 4]) {
    for (r, s) in DATA_SEL.iter().zip(sel) {
        r.store(u64::from(s), Ordering::Relaxed);
    }
}

static CR3: AtomicU64 = AtomicU64::new(0);
static CR3_WRITES: AtomicU64 = AtomicU64::new(0);
/// The TSC runs at 1 GHz: one cycle a nanosecond ([`TSC_KHZ`]).
static TSC: AtomicU64 = AtomicU64::new(1);

/// The modelled TSC rate (1 GHz).
pub const TSC_KHZ: u64 = 1_000_000;

/// CR3: the live page table's physical address.
pub fn read_cr3() -> u64 {
    CR3.load(Ordering::Relaxed)
}

/// Load CR3 (a full TLB flush on a real CPU; counted here).
pub fn write_cr3(pa: u64) {
    CR3.store(pa, Ordering::Relaxed);
    CR3_WRITES.fetch_add(1, Ordering::Relaxed);
}

/// How many times CR3 was loaded.
pub fn cr3_writes() -> u64 {
    CR3_WRITES.load(Ordering::Relaxed)
}

/// The time-stamp counter (moves only when time is advanced).
pub fn rdtsc() -> u64 {
    TSC.load(Ordering::Relaxed)
}

/// Let `ns` nanoseconds pass.
pub fn advance_ns(ns: u64) {
    TSC.fetch_add(ns.saturating_mul(TSC_KHZ) / 1_000_000, Ordering::Relaxed);
}

/// Let time pass until system time `ns` (no-op if it is already later).
pub fn advance_to_ns(ns: u64) {
    let now = crate::arch::now_ns();
    if ns > now {
        advance_ns(ns - now);
    }
}

/// CPUID leaf/subleaf of the modelled CPU: (eax, ebx, ecx, edx). A recent Intel part, with
/// the features a PV guest must not see (VMX, MONITOR, x2APIC, TSC deadline, XSAVE/AVX,
/// PCID, SMEP, 1 GiB pages, ...) present, so the PV policy's hiding can be tested.
pub fn cpuid(leaf: u32, sub: u32) -> (u32, u32, u32, u32) {
    match (leaf, sub) {
        // Max basic leaf 0xD, "GenuineIntel".
        (0, _) => (0xD, 0x756e_6547, 0x6c65_746e, 0x4965_6e69),
        // Family 6; APIC id 3; SSE3, PCLMUL, MONITOR, VMX, EST, SSSE3, FMA, CX16, PCID,
        // SSE4.1/4.2, x2APIC, MOVBE, POPCNT, TSC-deadline, AES, XSAVE, OSXSAVE, AVX, F16C,
        // RDRAND; EDX: everything up to SSE2, HTT, TM, PBE.
        (1, _) => (0x0009_06EA, 0x0310_0800, 0x7FFA_FBBF, 0xBFEB_FBFF),
        (2, _) => (0x00FE_FF01, 0xF0, 0, 0),
        (5, _) => (0x40, 0x40, 3, 0x1120),
        (6, _) => (0x77, 2, 9, 0),
        // FSGSBASE, TSC_ADJUST, BMI1, AVX2, SMEP, BMI2, ERMS, INVPCID, RDSEED, ADX, SMAP,
        // CLFLUSHOPT; ECX/EDX: a few (UMIP, MD_CLEAR, SPEC_CTRL).
        (7, 0) => (0, 0x029C_67AF, 1 << 2, (1 << 10) | (1 << 26)),
        (0xB, _) => (1, 1, 0x100, 3),
        (0xD, 0) => (7, 0x340, 0x340, 0),
        (0x8000_0000, _) => (0x8000_0008, 0, 0, 0),
        // LAHF, ABM, PREFETCHW; SYSCALL, NX, 1 GiB pages, RDTSCP, LM.
        (0x8000_0001, _) => (0, 0, 0x121, 0x2C10_0800),
        (0x8000_0007, _) => (0, 0, 0, 1 << 8),
        (0x8000_0008, _) => (0x3027, 0, 0, 0),
        _ => (0, 0, 0, 0),
    }
}
