//! x86_64 specifics: register frames, trap tables, vCPU context, selectors
//! and the hypervisor's reserved virtual range.

mod context;
mod regs;

pub use context::{TrapInfo, VcpuGuestContext, VgcfFlags, TI_DPL_MASK, TI_IF};
pub use regs::{CpuUserRegs, IretContext};

/// 32-bit ring-3 code selector (GDT entry 260).
pub const FLAT_RING3_CS32: u16 = 0xe023;
/// 64-bit ring-3 code selector (GDT entry 262).
pub const FLAT_RING3_CS64: u16 = 0xe033;
/// 32-bit ring-3 data selector (GDT entry 261).
pub const FLAT_RING3_DS32: u16 = 0xe02b;
/// 64-bit ring-3 data selector: the null selector.
pub const FLAT_RING3_DS64: u16 = 0x0000;
/// 32-bit ring-3 stack selector.
pub const FLAT_RING3_SS32: u16 = 0xe02b;
/// 64-bit ring-3 stack selector.
pub const FLAT_RING3_SS64: u16 = 0xe02b;
/// Guest kernel 64-bit data selector.
pub const FLAT_KERNEL_DS64: u16 = FLAT_RING3_DS64;
/// Guest kernel 32-bit data selector.
pub const FLAT_KERNEL_DS32: u16 = FLAT_RING3_DS32;
/// Guest kernel data selector.
pub const FLAT_KERNEL_DS: u16 = FLAT_KERNEL_DS64;
/// Guest kernel 64-bit code selector.
pub const FLAT_KERNEL_CS64: u16 = FLAT_RING3_CS64;
/// Guest kernel 32-bit code selector.
pub const FLAT_KERNEL_CS32: u16 = FLAT_RING3_CS32;
/// Guest kernel code selector.
pub const FLAT_KERNEL_CS: u16 = FLAT_KERNEL_CS64;
/// Guest kernel 64-bit stack selector.
pub const FLAT_KERNEL_SS64: u16 = FLAT_RING3_SS64;
/// Guest kernel 32-bit stack selector.
pub const FLAT_KERNEL_SS32: u16 = FLAT_RING3_SS32;
/// Guest kernel stack selector.
pub const FLAT_KERNEL_SS: u16 = FLAT_KERNEL_SS64;
/// Guest user 64-bit data selector.
pub const FLAT_USER_DS64: u16 = FLAT_RING3_DS64;
/// Guest user 32-bit data selector.
pub const FLAT_USER_DS32: u16 = FLAT_RING3_DS32;
/// Guest user data selector.
pub const FLAT_USER_DS: u16 = FLAT_USER_DS64;
/// Guest user 64-bit code selector.
pub const FLAT_USER_CS64: u16 = FLAT_RING3_CS64;
/// Guest user 32-bit code selector.
pub const FLAT_USER_CS32: u16 = FLAT_RING3_CS32;
/// Guest user code selector.
pub const FLAT_USER_CS: u16 = FLAT_USER_CS64;
/// Guest user 64-bit stack selector.
pub const FLAT_USER_SS64: u16 = FLAT_RING3_SS64;
/// Guest user 32-bit stack selector.
pub const FLAT_USER_SS32: u16 = FLAT_RING3_SS32;
/// Guest user stack selector.
pub const FLAT_USER_SS: u16 = FLAT_USER_SS64;

/// Start of the hypervisor's reserved virtual range (L4 slot 256).
pub const HYPERVISOR_VIRT_START: u64 = 0xFFFF_8000_0000_0000;
/// End (exclusive) of the hypervisor's reserved virtual range (slot 272).
pub const HYPERVISOR_VIRT_END: u64 = 0xFFFF_8800_0000_0000;
/// Start of the read-only machine-to-physical table.
pub const MACH2PHYS_VIRT_START: u64 = 0xFFFF_8000_0000_0000;
/// End (exclusive) of the machine-to-physical table.
pub const MACH2PHYS_VIRT_END: u64 = 0xFFFF_8040_0000_0000;
/// Number of `u64` entries of the M2P table.
pub const MACH2PHYS_NR_ENTRIES: u64 = (MACH2PHYS_VIRT_END - MACH2PHYS_VIRT_START) >> 3;
/// First L4 slot of the hypervisor range.
pub const HYPERVISOR_L4_FIRST_SLOT: usize = 256;
/// Last L4 slot (inclusive) of the hypervisor range.
pub const HYPERVISOR_L4_LAST_SLOT: usize = 271;

/// `set_segment_base`: set the FS base.
pub const SEGBASE_FS: u32 = 0;
/// `set_segment_base`: set the user GS base.
pub const SEGBASE_GS_USER: u32 = 1;
/// `set_segment_base`: set the kernel GS base.
pub const SEGBASE_GS_KERNEL: u32 = 2;
/// `set_segment_base`: load the user GS selector given in `base[15:0]`.
pub const SEGBASE_GS_USER_SEL: u32 = 3;

/// `CpuUserRegs::entry_vector` value for an entry by `syscall` (our
/// convention, as Xen's internal `TRAP_syscall`).
pub const TRAP_SYSCALL: u32 = 0x100;

/// CR3 value for a top-level page-table frame (x86_64: plain address).
pub const fn xen_pfn_to_cr3(pfn: u64) -> u64 {
    pfn << 12
}

/// Frame number held in a CR3 value.
pub const fn xen_cr3_to_pfn(cr3: u64) -> u64 {
    cr3 >> 12
}
