//! `mmu_update`, `mmuext_op` and `update_va_mapping`.

use bitflags::bitflags;
use static_assertions::{assert_eq_size, const_assert_eq};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// `MmuUpdate::ptr[1:0]`: checked `*ptr = val`, ptr the machine address of a PTE.
pub const MMU_NORMAL_PT_UPDATE: u64 = 0;
/// `MmuUpdate::ptr[1:0]`: set the M2P entry of frame `ptr` to PFN `val`.
pub const MMU_MACHPHYS_UPDATE: u64 = 1;
/// `MmuUpdate::ptr[1:0]`: like normal, keeping the A/D bits of the old PTE.
pub const MMU_PT_UPDATE_PRESERVE_AD: u64 = 2;
/// `MmuUpdate::ptr[1:0]`: like normal, `val` is never translated.
pub const MMU_PT_UPDATE_NO_TRANSLATE: u64 = 3;
/// Mask of the command bits in `MmuUpdate::ptr`.
pub const MMU_UPDATE_CMD_MASK: u64 = 3;

/// One `mmu_update` request (16 bytes).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
#[repr(C)]
pub struct MmuUpdate {
    /// Machine address of the target with the command in bits 1:0.
    pub ptr: u64,
    /// New value.
    pub val: u64,
}

impl MmuUpdate {
    /// A `MMU_NORMAL_PT_UPDATE` of the PTE at machine address `pte_ma`.
    pub const fn normal(pte_ma: u64, val: u64) -> Self {
        MmuUpdate {
            ptr: (pte_ma & !MMU_UPDATE_CMD_MASK) | MMU_NORMAL_PT_UPDATE,
            val,
        }
    }
    /// A `MMU_MACHPHYS_UPDATE` setting the M2P entry of `mfn` to `pfn`.
    pub const fn machphys(mfn: u64, pfn: u64) -> Self {
        MmuUpdate {
            ptr: (mfn << 12) | MMU_MACHPHYS_UPDATE,
            val: pfn,
        }
    }
    /// The command bits.
    pub const fn cmd(&self) -> u64 {
        self.ptr & MMU_UPDATE_CMD_MASK
    }
    /// The address with the command bits cleared.
    pub const fn addr(&self) -> u64 {
        self.ptr & !MMU_UPDATE_CMD_MASK
    }
}

/// Pin an L1 table (arg1 = MFN).
pub const MMUEXT_PIN_L1_TABLE: u32 = 0;
/// Pin an L2 table (arg1 = MFN).
pub const MMUEXT_PIN_L2_TABLE: u32 = 1;
/// Pin an L3 table (arg1 = MFN).
pub const MMUEXT_PIN_L3_TABLE: u32 = 2;
/// Pin an L4 table (arg1 = MFN).
pub const MMUEXT_PIN_L4_TABLE: u32 = 3;
/// Unpin a table (arg1 = MFN).
pub const MMUEXT_UNPIN_TABLE: u32 = 4;
/// Switch the kernel page-table base (arg1 = MFN of the L4).
pub const MMUEXT_NEW_BASEPTR: u32 = 5;
/// Flush the local TLB.
pub const MMUEXT_TLB_FLUSH_LOCAL: u32 = 6;
/// Invalidate one local TLB entry (arg1 = linear address).
pub const MMUEXT_INVLPG_LOCAL: u32 = 7;
/// Flush the TLBs of a vCPU set (arg2 = vcpumask pointer).
pub const MMUEXT_TLB_FLUSH_MULTI: u32 = 8;
/// Invalidate one entry on a vCPU set.
pub const MMUEXT_INVLPG_MULTI: u32 = 9;
/// Flush all TLBs of the domain.
pub const MMUEXT_TLB_FLUSH_ALL: u32 = 10;
/// Invalidate one entry on all vCPUs.
pub const MMUEXT_INVLPG_ALL: u32 = 11;
/// Write back and invalidate caches.
pub const MMUEXT_FLUSH_CACHE: u32 = 12;
/// Set the LDT (arg1 = linear address, arg2 = entries).
pub const MMUEXT_SET_LDT: u32 = 13;
/// Switch the user page-table base (arg1 = MFN of the L4, 0 = none).
pub const MMUEXT_NEW_USER_BASEPTR: u32 = 15;
/// Zero a frame (arg1 = MFN).
pub const MMUEXT_CLEAR_PAGE: u32 = 16;
/// Copy frame arg2 (src MFN) to frame arg1 (MFN).
pub const MMUEXT_COPY_PAGE: u32 = 17;
/// Flush caches on all CPUs.
pub const MMUEXT_FLUSH_CACHE_GLOBAL: u32 = 18;
/// Mark a superpage.
pub const MMUEXT_MARK_SUPER: u32 = 19;
/// Unmark a superpage.
pub const MMUEXT_UNMARK_SUPER: u32 = 20;

/// One `mmuext_op` request (24 bytes).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
#[repr(C)]
pub struct MmuextOp {
    /// `MMUEXT_*`.
    pub cmd: u32,
    /// Padding.
    pub _pad: u32,
    /// MFN or linear address.
    pub arg1: u64,
    /// Entry count, vCPU-mask pointer or source MFN.
    pub arg2: u64,
}

impl MmuextOp {
    /// An operation with the given command and arguments.
    pub const fn new(cmd: u32, arg1: u64, arg2: u64) -> Self {
        MmuextOp {
            cmd,
            _pad: 0,
            arg1,
            arg2,
        }
    }
}

bitflags! {
    /// `update_va_mapping` flags (`UVMF_*`).
    #[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
    pub struct UvmfFlags: u64 {
        /// Flush the entire TLB(s).
        const TLB_FLUSH = 1;
        /// Flush only the one entry.
        const INVLPG = 2;
        /// Flush on all vCPUs (otherwise local, or the vCPU mask in the upper bits).
        const ALL = 4;
    }
}

impl UvmfFlags {
    /// No flush.
    pub const NONE: UvmfFlags = UvmfFlags::empty();
    /// Mask of the flush-type bits.
    pub const FLUSHTYPE_MASK: u64 = 3;
}

assert_eq_size!(MmuUpdate, [u8; 16]);
assert_eq_size!(MmuextOp, [u8; 24]);
const_assert_eq!(core::mem::offset_of!(MmuextOp, arg1), 8);
const_assert_eq!(core::mem::offset_of!(MmuextOp, arg2), 16);

/// `vm_assist(cmd, type)`: turn assist `type` on.
pub const VMASST_CMD_ENABLE: u32 = 0;
/// `vm_assist(cmd, type)`: turn assist `type` off.
pub const VMASST_CMD_DISABLE: u32 = 1;
/// 4 GiB-segment emulation (32-bit guests; accepted and ignored for 64-bit PV).
pub const VMASST_TYPE_4GB_SEGMENTS: u32 = 0;
/// Notify the guest of 4 GiB-segment faults (as above).
pub const VMASST_TYPE_4GB_SEGMENTS_NOTIFY: u32 = 1;
/// Writable page tables: the guest kernel may write its own L1 entries directly (trapped,
/// validated and emulated by the hypervisor).
pub const VMASST_TYPE_WRITABLE_PAGETABLES: u32 = 2;
/// PAE page directories above 4 GiB (32-bit PAE guests).
pub const VMASST_TYPE_PAE_EXTENDED_CR3: u32 = 3;
/// IOPL as the architecture defines it for the guest kernel.
pub const VMASST_TYPE_ARCHITECTURAL_IOPL: u32 = 4;
/// Runstate-area updates flagged in `state_entry_time`.
pub const VMASST_TYPE_RUNSTATE_UPDATE_FLAG: u32 = 5;
/// Strict M2P: the read-only M2P is not in user page tables.
pub const VMASST_TYPE_M2P_STRICT: u32 = 32;
/// The assist types a 64-bit PV guest may name (Xen's `NATIVE_VM_ASSIST_VALID`); any other
/// type is `-EINVAL`.
pub const VM_ASSIST_VALID: u64 = (1 << VMASST_TYPE_4GB_SEGMENTS)
    | (1 << VMASST_TYPE_4GB_SEGMENTS_NOTIFY)
    | (1 << VMASST_TYPE_WRITABLE_PAGETABLES)
    | (1 << VMASST_TYPE_PAE_EXTENDED_CR3)
    | (1 << VMASST_TYPE_ARCHITECTURAL_IOPL)
    | (1 << VMASST_TYPE_RUNSTATE_UPDATE_FLAG)
    | (1 << VMASST_TYPE_M2P_STRICT);
