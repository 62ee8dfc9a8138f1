//! Raw hypercalls through the hypercall page.

/// Defines one raw hypercall function with the given argument registers.
macro_rules! raw_hypercall {
    ($(#[$m:meta])* $name:ident ( $($arg:ident => $reg:tt),* )) => {
        $(#[$m])*
        ///
        /// # Safety
        /// The caller must uphold the contract of hypercall `nr` for these
        /// arguments: pointers must be valid for what the hypervisor reads and
        /// writes, and the call must not break the guest's memory or control
        /// flow assumptions. `nr` must be below
        /// [`NR_HYPERCALLS`](crate::hypercall::NR_HYPERCALLS).
        #[inline]
        #[allow(unused_variables)]
        pub unsafe fn $name(nr: usize $(, $arg: u64)*) -> i64 {
            debug_assert!(nr < crate::hypercall::NR_HYPERCALLS);
            #[cfg(target_os = "none")]
            {
                let ret: i64;
                // SAFETY: calls slot `nr` of the hypercall page, which the
                // domain builder filled; each slot preserves everything except
                // rax (and we declare rcx, r11 and the argument registers
                // clobbered as the ABI allows). The caller vouches for the
                // hypercall's own contract.
                unsafe {
                    core::arch::asm!(
                        "lea {tmp}, [rip + hypercall_page]",
                        "add {tmp}, {off}",
                        "call {tmp}",
                        tmp = out(reg) _,
                        off = in(reg) nr * crate::hypercall::HYPERCALL_PAGE_SLOT_SIZE,
                        lateout("rax") ret,
                        $(inout($reg) $arg => _,)*
                        lateout("rcx") _,
                        lateout("r11") _,
                    );
                }
                ret
            }
            #[cfg(not(target_os = "none"))]
            {
                crate::errno::Errno::ENOSYS.to_ret()
            }
        }
    };
}

raw_hypercall!(
    /// Hypercall `nr` with no arguments.
    hypercall0()
);
raw_hypercall!(
    /// Hypercall `nr` with one argument (rdi).
    hypercall1(a1 => "rdi")
);
raw_hypercall!(
    /// Hypercall `nr` with two arguments (rdi, rsi).
    hypercall2(a1 => "rdi", a2 => "rsi")
);
raw_hypercall!(
    /// Hypercall `nr` with three arguments (rdi, rsi, rdx).
    hypercall3(a1 => "rdi", a2 => "rsi", a3 => "rdx")
);
raw_hypercall!(
    /// Hypercall `nr` with four arguments (rdi, rsi, rdx, r10).
    hypercall4(a1 => "rdi", a2 => "rsi", a3 => "rdx", a4 => "r10")
);
raw_hypercall!(
    /// Hypercall `nr` with five arguments (rdi, rsi, rdx, r10, r8).
    hypercall5(a1 => "rdi", a2 => "rsi", a3 => "rdx", a4 => "r10", a5 => "r8")
);
