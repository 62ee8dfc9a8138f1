//! Saved register frames.

use static_assertions::{assert_eq_size, const_assert_eq};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// Guest registers as saved on entry to the hypervisor (`cpu_user_regs`,
/// 200 bytes). The fields from `rip` to `ss` are laid out like the hardware
/// interrupt frame, so the CPU pushes them in place.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
#[repr(C)]
pub struct CpuUserRegs {
    /// r15.
    pub r15: u64,
    /// r14.
    pub r14: u64,
    /// r13.
    pub r13: u64,
    /// r12.
    pub r12: u64,
    /// rbp.
    pub rbp: u64,
    /// rbx.
    pub rbx: u64,
    /// r11.
    pub r11: u64,
    /// r10.
    pub r10: u64,
    /// r9.
    pub r9: u64,
    /// r8.
    pub r8: u64,
    /// rax.
    pub rax: u64,
    /// rcx.
    pub rcx: u64,
    /// rdx.
    pub rdx: u64,
    /// rsi.
    pub rsi: u64,
    /// rdi.
    pub rdi: u64,
    /// Hardware error code (0 if the vector has none).
    pub error_code: u32,
    /// Entry vector (`TRAP_SYSCALL` for a `syscall` entry).
    pub entry_vector: u32,
    /// rip.
    pub rip: u64,
    /// cs.
    pub cs: u16,
    /// Padding.
    pub _pad0: u16,
    /// Saved event-upcall mask (bounce frames carry it in CS bits 32–39).
    pub saved_upcall_mask: u8,
    /// Padding.
    pub _pad1: [u8; 3],
    /// rflags.
    pub rflags: u64,
    /// rsp.
    pub rsp: u64,
    /// ss.
    pub ss: u16,
    /// Padding.
    pub _pad2: [u16; 3],
    /// es.
    pub es: u16,
    /// Padding.
    pub _pad3: [u16; 3],
    /// ds.
    pub ds: u16,
    /// Padding.
    pub _pad4: [u16; 3],
    /// fs.
    pub fs: u16,
    /// Padding.
    pub _pad5: [u16; 3],
    /// gs.
    pub gs: u16,
    /// Padding.
    pub _pad6: [u16; 3],
}

assert_eq_size!(CpuUserRegs, [u8; 200]);
const_assert_eq!(core::mem::offset_of!(CpuUserRegs, rax), 80);
const_assert_eq!(core::mem::offset_of!(CpuUserRegs, rdi), 112);
const_assert_eq!(core::mem::offset_of!(CpuUserRegs, error_code), 120);
const_assert_eq!(core::mem::offset_of!(CpuUserRegs, entry_vector), 124);
const_assert_eq!(core::mem::offset_of!(CpuUserRegs, rip), 128);
const_assert_eq!(core::mem::offset_of!(CpuUserRegs, cs), 136);
const_assert_eq!(core::mem::offset_of!(CpuUserRegs, saved_upcall_mask), 140);
const_assert_eq!(core::mem::offset_of!(CpuUserRegs, rflags), 144);
const_assert_eq!(core::mem::offset_of!(CpuUserRegs, rsp), 152);
const_assert_eq!(core::mem::offset_of!(CpuUserRegs, ss), 160);
const_assert_eq!(core::mem::offset_of!(CpuUserRegs, es), 168);
const_assert_eq!(core::mem::offset_of!(CpuUserRegs, ds), 176);
const_assert_eq!(core::mem::offset_of!(CpuUserRegs, fs), 184);
const_assert_eq!(core::mem::offset_of!(CpuUserRegs, gs), 192);

/// The frame the `iret` hypercall pops from the guest stack
/// (`iret_context`, 72 bytes; lowest address first).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
#[repr(C)]
pub struct IretContext {
    /// rax, pushed by the iret stub.
    pub rax: u64,
    /// r11, pushed by the iret stub.
    pub r11: u64,
    /// rcx, pushed by the iret stub.
    pub rcx: u64,
    /// `VGCF_IN_SYSCALL` or 0.
    pub flags: u64,
    /// Return rip.
    pub rip: u64,
    /// Return cs.
    pub cs: u64,
    /// Return rflags (IF gives the new event mask).
    pub rflags: u64,
    /// Return rsp.
    pub rsp: u64,
    /// Return ss.
    pub ss: u64,
}

assert_eq_size!(IretContext, [u8; 72]);
const_assert_eq!(core::mem::offset_of!(IretContext, flags), 24);
const_assert_eq!(core::mem::offset_of!(IretContext, rip), 32);
const_assert_eq!(core::mem::offset_of!(IretContext, ss), 64);
