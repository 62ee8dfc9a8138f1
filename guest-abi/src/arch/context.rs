//! Trap tables and the full vCPU context.

use super::CpuUserRegs;
use bitflags::bitflags;
use static_assertions::{assert_eq_size, const_assert_eq};
use zerocopy::{FromBytes, FromZeros, Immutable, IntoBytes, KnownLayout};

/// `TrapInfo::flags` bits 0–1: the privilege level allowed to use `int n`.
pub const TI_DPL_MASK: u8 = 3;
/// `TrapInfo::flags` bit 2: mask events on entry (an interrupt gate).
pub const TI_IF: u8 = 4;

/// One virtual IDT entry (`trap_info`, 16 bytes). A table passed to
/// `set_trap_table` ends with an entry whose `address` is 0.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
#[repr(C)]
pub struct TrapInfo {
    /// Exception/interrupt vector.
    pub vector: u8,
    /// `TI_DPL_MASK` and `TI_IF` bits.
    pub flags: u8,
    /// Code selector of the handler.
    pub cs: u16,
    /// Padding.
    pub _pad: u32,
    /// Handler address (0 = unset).
    pub address: u64,
}

impl TrapInfo {
    /// An entry for `vector` at `address` with the given DPL, masking events
    /// on entry if `mask_events`.
    pub const fn new(vector: u8, dpl: u8, mask_events: bool, cs: u16, address: u64) -> Self {
        TrapInfo {
            vector,
            flags: (dpl & TI_DPL_MASK) | if mask_events { TI_IF } else { 0 },
            cs,
            _pad: 0,
            address,
        }
    }
    /// The DPL for software `int n`.
    pub const fn dpl(&self) -> u8 {
        self.flags & TI_DPL_MASK
    }
    /// Whether delivery masks events.
    pub const fn masks_events(&self) -> bool {
        self.flags & TI_IF != 0
    }
}

assert_eq_size!(TrapInfo, [u8; 16]);
const_assert_eq!(core::mem::offset_of!(TrapInfo, cs), 2);
const_assert_eq!(core::mem::offset_of!(TrapInfo, address), 8);

bitflags! {
    /// `VGCF_*` flags of [`VcpuGuestContext::flags`] (and `IretContext::flags`).
    #[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
    pub struct VgcfFlags: u64 {
        /// `fpu_ctxt` holds valid state.
        const I387_VALID = 1 << 0;
        /// The vCPU is in guest kernel mode.
        const IN_KERNEL = 1 << 2;
        /// Entering the failsafe callback masks events.
        const FAILSAFE_DISABLES_EVENTS = 1 << 3;
        /// Entering the syscall callback masks events.
        const SYSCALL_DISABLES_EVENTS = 1 << 4;
        /// The vCPU is online.
        const ONLINE = 1 << 5;
        /// iret: return as from a system call (by `sysret`).
        const IN_SYSCALL = 1 << 8;
    }
}

/// The full architectural state of a PV vCPU (`vcpu_guest_context`,
/// 5168 bytes), used by `setvcpucontext`/`getvcpucontext` and
/// `VCPUOP_initialise`.
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, KnownLayout, Immutable)]
#[repr(C)]
pub struct VcpuGuestContext {
    /// FXSAVE image.
    pub fpu_ctxt: [u8; 512],
    /// [`VgcfFlags`] bits.
    pub flags: u64,
    /// General registers.
    pub user_regs: CpuUserRegs,
    /// Virtual IDT.
    pub trap_ctxt: [TrapInfo; 256],
    /// LDT linear base.
    pub ldt_base: u64,
    /// LDT entry count.
    pub ldt_ents: u64,
    /// GDT frames (MFNs).
    pub gdt_frames: [u64; 16],
    /// GDT entry count.
    pub gdt_ents: u64,
    /// Kernel stack selector.
    pub kernel_ss: u64,
    /// Kernel stack pointer.
    pub kernel_sp: u64,
    /// Control registers (cr3 = kernel base, cr1 = user base as a CR3 value).
    pub ctrlreg: [u64; 8],
    /// Debug registers.
    pub debugreg: [u64; 8],
    /// Event upcall entry point.
    pub event_callback_eip: u64,
    /// Failsafe callback entry point.
    pub failsafe_callback_eip: u64,
    /// Syscall callback entry point.
    pub syscall_callback_eip: u64,
    /// VM-assist bits.
    pub vm_assist: u64,
    /// FS base.
    pub fs_base: u64,
    /// Kernel GS base.
    pub gs_base_kernel: u64,
    /// User GS base.
    pub gs_base_user: u64,
}

impl Default for VcpuGuestContext {
    fn default() -> Self {
        VcpuGuestContext::new_zeroed()
    }
}

impl VcpuGuestContext {
    /// The flags as [`VgcfFlags`].
    pub fn vgcf_flags(&self) -> VgcfFlags {
        VgcfFlags::from_bits_retain(self.flags)
    }
}

assert_eq_size!(VcpuGuestContext, [u8; 5168]);
const_assert_eq!(core::mem::offset_of!(VcpuGuestContext, flags), 512);
const_assert_eq!(core::mem::offset_of!(VcpuGuestContext, user_regs), 520);
const_assert_eq!(core::mem::offset_of!(VcpuGuestContext, trap_ctxt), 720);
const_assert_eq!(core::mem::offset_of!(VcpuGuestContext, ldt_base), 4816);
const_assert_eq!(core::mem::offset_of!(VcpuGuestContext, gdt_frames), 4832);
const_assert_eq!(core::mem::offset_of!(VcpuGuestContext, gdt_ents), 4960);
const_assert_eq!(core::mem::offset_of!(VcpuGuestContext, kernel_ss), 4968);
const_assert_eq!(core::mem::offset_of!(VcpuGuestContext, ctrlreg), 4984);
const_assert_eq!(core::mem::offset_of!(VcpuGuestContext, debugreg), 5048);
const_assert_eq!(
    core::mem::offset_of!(VcpuGuestContext, event_callback_eip),
    5112
);
const_assert_eq!(core::mem::offset_of!(VcpuGuestContext, vm_assist), 5136);
const_assert_eq!(core::mem::offset_of!(VcpuGuestContext, gs_base_user), 5160);
