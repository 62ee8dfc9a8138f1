//! Guest-side hypercall entry (cargo feature `guest`).
//!
//! On the bare-metal target (`target_os = "none"`) this module defines the
//! 4 KiB-aligned, executable `hypercall_page` symbol (filled with `int3`; the
//! domain builder overwrites it, see [`crate::hypercall::write_hypercall_page`])
//! and the raw [`hypercall0`]…[`hypercall5`] that call into it. On any other
//! target the raw calls return `-ENOSYS`, so code using the wrappers still
//! builds and host-tests.
//!
//! The wrappers in this module are safe where their arguments are fully
//! described by Rust types. Calls that change the guest's own mappings,
//! entry points or control flow, or whose argument structures embed guest
//! pointers the hypervisor will dereference, are `unsafe` with the contract
//! stated on each.

mod calls;
mod raw;

pub use calls::*;
pub use raw::{hypercall0, hypercall1, hypercall2, hypercall3, hypercall4, hypercall5};

#[cfg(target_os = "none")]
core::arch::global_asm!(
    ".pushsection .text.hypercall_page, \"ax\", @progbits",
    ".balign 4096",
    ".globl hypercall_page",
    ".type hypercall_page, @function",
    "hypercall_page:",
    ".fill 4096, 1, 0xcc",
    ".size hypercall_page, 4096",
    ".popsection",
    options(att_syntax),
);

/// Address of the hypercall page (for the `HYPERCALL_PAGE` ELF note, or to
/// check what the builder wrote). Returns 0 off the bare-metal target.
pub fn hypercall_page_addr() -> usize {
    #[cfg(target_os = "none")]
    {
        let addr: usize;
        // SAFETY: a RIP-relative address computation; no memory is accessed.
        unsafe {
            core::arch::asm!(
                "lea {0}, [rip + hypercall_page]",
                out(reg) addr,
                options(nomem, nostack, preserves_flags)
            );
        }
        addr
    }
    #[cfg(not(target_os = "none"))]
    {
        0
    }
}
