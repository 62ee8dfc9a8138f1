//! CPU registers, MSRs, CPUID and feature set-up (SMEP on if present, SMAP off, SSE usable).

use core::arch::asm;

/// IA32_SYSENTER_CS (SS is this + 8).
pub const MSR_SYSENTER_CS: u32 = 0x174;
/// IA32_SYSENTER_ESP.
pub const MSR_SYSENTER_ESP: u32 = 0x175;
/// IA32_SYSENTER_EIP.
pub const MSR_SYSENTER_EIP: u32 = 0x176;
/// IA32_EFER.
pub const MSR_EFER: u32 = 0xC000_0080;
/// STAR (syscall selectors).
pub const MSR_STAR: u32 = 0xC000_0081;
/// LSTAR (64-bit syscall entry).
pub const MSR_LSTAR: u32 = 0xC000_0082;
/// CSTAR (compat-mode syscall entry).
pub const MSR_CSTAR: u32 = 0xC000_0083;
/// SFMASK (RFLAGS bits cleared on syscall).
pub const MSR_FMASK: u32 = 0xC000_0084;
/// FS base.
pub const MSR_FS_BASE: u32 = 0xC000_0100;
/// GS base (active).
pub const MSR_GS_BASE: u32 = 0xC000_0101;
/// GS base swapped in by `swapgs`.
pub const MSR_KERNEL_GS_BASE: u32 = 0xC000_0102;
/// IA32_APIC_BASE.
pub const MSR_APIC_BASE: u32 = 0x1B;

/// Reads an MSR.
pub fn rdmsr(msr: u32) -> u64 {
    let (lo, hi): (u32, u32);
    // SAFETY: only called with MSRs this CPU implements (architectural ones above).
    unsafe { asm!("rdmsr", in("ecx") msr, out("eax") lo, out("edx") hi, options(nomem, nostack)) };
    (u64::from(hi) << 32) | u64::from(lo)
}

/// Writes an MSR.
pub fn wrmsr(msr: u32, v: u64) {
    // SAFETY: callers write architectural MSRs with values valid for them.
    unsafe {
        asm!("wrmsr", in("ecx") msr, in("eax") v as u32, in("edx") (v >> 32) as u32, options(nostack))
    }
}

/// CPUID leaf/subleaf: (eax, ebx, ecx, edx).
pub fn cpuid(leaf: u32, sub: u32) -> (u32, u32, u32, u32) {
    let r = core::arch::x86_64::__cpuid_count(leaf, sub);
    (r.eax, r.ebx, r.ecx, r.edx)
}

/// CR2 (the last page-fault address).
pub fn read_cr2() -> u64 {
    let v;
    // SAFETY: reading CR2 has no side effects.
    unsafe { asm!("mov {}, cr2", out(reg) v, options(nomem, nostack)) };
    v
}

/// CR3 (physical address of the current L4, plus flag bits).
pub fn read_cr3() -> u64 {
    let v;
    // SAFETY: reading CR3 has no side effects.
    unsafe { asm!("mov {}, cr3", out(reg) v, options(nomem, nostack)) };
    v
}

/// Loads CR3 with `pa` (an L4's physical address) and flushes non-global TLB entries.
pub fn write_cr3(pa: u64) {
    // SAFETY: callers pass a valid L4 that maps the hypervisor hole like the idle L4.
    unsafe { asm!("mov cr3, {}", in(reg) pa, options(nostack)) }
}

fn read_cr0() -> u64 {
    let v;
    // SAFETY: reading CR0 has no side effects.
    unsafe { asm!("mov {}, cr0", out(reg) v, options(nomem, nostack)) };
    v
}

fn read_cr4() -> u64 {
    let v;
    // SAFETY: reading CR4 has no side effects.
    unsafe { asm!("mov {}, cr4", out(reg) v, options(nomem, nostack)) };
    v
}

/// FS base.
pub fn fs_base() -> u64 {
    rdmsr(MSR_FS_BASE)
}
/// Sets the FS base.
pub fn set_fs_base(v: u64) {
    wrmsr(MSR_FS_BASE, v)
}
/// GS base (the active one).
pub fn gs_base() -> u64 {
    rdmsr(MSR_GS_BASE)
}
/// Sets the active GS base.
pub fn set_gs_base(v: u64) {
    wrmsr(MSR_GS_BASE, v)
}
/// Loads the GS selector, keeping the active GS base: the base the descriptor gives is the
/// caller's to record. `sel` must be null or name a loadable data segment of the live tables.
pub fn load_gs_selector(sel: u16) {
    let base = gs_base();
    // SAFETY: the selector was checked loadable against the live GDT/LDT (or is null), so
    // the load cannot fault; GS is not used by the hypervisor, and its base is put back.
    unsafe { asm!("mov gs, {0:x}", in(reg) sel, options(nostack, preserves_flags)) };
    set_gs_base(base);
}
/// The GS selector.
pub fn gs_selector() -> u16 {
    let sel: u16;
    // SAFETY: reading a segment register has no side effects.
    unsafe { asm!("mov {0:x}, gs", out(reg) sel, options(nomem, nostack, preserves_flags)) };
    sel
}
/// DS, ES, FS and GS, as the guest left them.
pub fn data_selectors() -> [u16; 4] {
    let (ds, es, fs, gs): (u16, u16, u16, u16);
    // SAFETY: reading segment registers has no side effects.
    unsafe {
        asm!(
            "mov {0:x}, ds", "mov {1:x}, es", "mov {2:x}, fs", "mov {3:x}, gs",
            out(reg) ds, out(reg) es, out(reg) fs, out(reg) gs,
            options(nomem, nostack, preserves_flags)
        )
    };
    [ds, es, fs, gs]
}
/// Loads DS, ES, FS and GS. Each must be null or name a loadable data (or readable code)
/// segment of the live GDT/LDT. The FS and GS bases become the descriptors': the caller
/// sets the ones it keeps afterwards.
pub fn load_data_selectors(sel: [u16; 4]) {
    // SAFETY: every selector was checked loadable against the live tables (or is null), so
    // no load can fault; the hypervisor uses none of these registers (flat 64-bit mode).
    unsafe {
        asm!(
            "mov ds, {0:x}", "mov es, {1:x}", "mov fs, {2:x}", "mov gs, {3:x}",
            in(reg) sel[0], in(reg) sel[1], in(reg) sel[2], in(reg) sel[3],
            options(nostack, preserves_flags)
        )
    };
}
/// The inactive GS base (swapped in by `swapgs`).
pub fn kernel_gs_base() -> u64 {
    rdmsr(MSR_KERNEL_GS_BASE)
}
/// Sets the inactive GS base.
pub fn set_kernel_gs_base(v: u64) {
    wrmsr(MSR_KERNEL_GS_BASE, v)
}

/// Reads the TSC.
pub fn rdtsc() -> u64 {
    // SAFETY: RDTSC has no side effects (CR4.TSD is clear).
    unsafe { core::arch::x86_64::_rdtsc() }
}

/// Whether SMEP got enabled.
pub fn smep_enabled() -> bool {
    read_cr4() & CR4_SMEP != 0
}

const CR4_OSFXSR: u64 = 1 << 9;
const CR4_OSXMMEXCPT: u64 = 1 << 10;
const CR4_SMEP: u64 = 1 << 20;
const CR4_SMAP: u64 = 1 << 21;
const CR4_PGE: u64 = 1 << 7;
const CR0_MP: u64 = 1 << 1;
const CR0_EM: u64 = 1 << 2;
const CR0_WP: u64 = 1 << 16;

/// Enables SMEP when CPUID has it, keeps SMAP off (QEMU TCG quirk), lets SSE run (guests may
/// use it; the hypervisor itself is soft-float), write-protects ring 0. Global pages stay off
/// whatever the firmware left: guests may set G in their entries, and every CPU's CR3 reload
/// (a vCPU switch, a TLB shootdown) must drop all of a guest's translations.
pub fn init() {
    let smep = cpuid(0, 0).0 >= 7 && cpuid(7, 0).1 & (1 << 7) != 0;
    let mut cr4 = (read_cr4() | CR4_OSFXSR | CR4_OSXMMEXCPT) & !(CR4_SMAP | CR4_PGE);
    if smep {
        cr4 |= CR4_SMEP;
    }
    let cr0 = (read_cr0() | CR0_MP | CR0_WP) & !CR0_EM;
    // SAFETY: the bits set are supported (SMEP checked; FXSR/SSE are baseline in long mode),
    // and no user pages are executed by the hypervisor.
    unsafe {
        asm!("mov cr4, {}", in(reg) cr4, options(nostack));
        asm!("mov cr0, {}", in(reg) cr0, options(nostack));
    }
}
