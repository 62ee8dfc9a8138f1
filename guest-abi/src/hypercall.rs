//! Hypercall numbers and the hypercall page.
//!
//! A PV guest makes a hypercall by calling into slot `nr` of its hypercall
//! page, a 4 KiB page the domain builder fills with [`write_hypercall_page`].
//! Each slot executes `syscall` with the hypercall number in `rax` and the
//! arguments in `rdi, rsi, rdx, r10, r8`; the result comes back in `rax`.

/// Hypercall numbers (`__HYPERVISOR_*`).
pub mod nr {
    /// Install the virtual IDT (`trap_info` array).
    pub const SET_TRAP_TABLE: usize = 0;
    /// Batched page-table entry updates.
    pub const MMU_UPDATE: usize = 1;
    /// Install a GDT from a list of frames.
    pub const SET_GDT: usize = 2;
    /// Set the kernel stack used on entry from guest user mode.
    pub const STACK_SWITCH: usize = 3;
    /// Legacy callback registration (event, failsafe, syscall).
    pub const SET_CALLBACKS: usize = 4;
    /// Set or clear CR0.TS lazily.
    pub const FPU_TASKSWITCH: usize = 5;
    /// Old scheduler operation interface.
    pub const SCHED_OP_COMPAT: usize = 6;
    /// Platform (dom0) operations.
    pub const PLATFORM_OP: usize = 7;
    /// Write a debug register.
    pub const SET_DEBUGREG: usize = 8;
    /// Read a debug register.
    pub const GET_DEBUGREG: usize = 9;
    /// Update one segment descriptor in a GDT/LDT frame.
    pub const UPDATE_DESCRIPTOR: usize = 10;
    /// Memory reservation and physmap operations.
    pub const MEMORY_OP: usize = 12;
    /// Execute a batch of hypercalls.
    pub const MULTICALL: usize = 13;
    /// Update the PTE mapping one virtual address of the current space.
    pub const UPDATE_VA_MAPPING: usize = 14;
    /// Arm a one-shot timer at an absolute system time.
    pub const SET_TIMER_OP: usize = 15;
    /// Old event-channel interface.
    pub const EVENT_CHANNEL_OP_COMPAT: usize = 16;
    /// Version and feature queries.
    pub const XEN_VERSION: usize = 17;
    /// Hypervisor console read/write.
    pub const CONSOLE_IO: usize = 18;
    /// Old physdev interface.
    pub const PHYSDEV_OP_COMPAT: usize = 19;
    /// Grant-table operations.
    pub const GRANT_TABLE_OP: usize = 20;
    /// Enable or disable VM assists.
    pub const VM_ASSIST: usize = 21;
    /// `update_va_mapping` in another domain's address space.
    pub const UPDATE_VA_MAPPING_OTHERDOMAIN: usize = 22;
    /// Return from a bounce frame (reached through slot 23 by a jump).
    pub const IRET: usize = 23;
    /// Per-vCPU operations.
    pub const VCPU_OP: usize = 24;
    /// Set FS / GS bases.
    pub const SET_SEGMENT_BASE: usize = 25;
    /// Extended MMU operations (pin, new base pointer, flushes).
    pub const MMUEXT_OP: usize = 26;
    /// Security module operations.
    pub const XSM_OP: usize = 27;
    /// NMI callback operations.
    pub const NMI_OP: usize = 28;
    /// Scheduler operations.
    pub const SCHED_OP: usize = 29;
    /// Callback registration.
    pub const CALLBACK_OP: usize = 30;
    /// Profiling.
    pub const XENOPROF_OP: usize = 31;
    /// Event-channel operations.
    pub const EVENT_CHANNEL_OP: usize = 32;
    /// Physical device operations.
    pub const PHYSDEV_OP: usize = 33;
    /// HVM operations.
    pub const HVM_OP: usize = 34;
    /// System-wide control (toolstack).
    pub const SYSCTL: usize = 35;
    /// Per-domain control (toolstack).
    pub const DOMCTL: usize = 36;
    /// Kexec operations.
    pub const KEXEC_OP: usize = 37;
    /// Transcendent memory (obsolete).
    pub const TMEM_OP: usize = 38;
    /// Argo inter-domain messaging.
    pub const ARGO_OP: usize = 39;
    /// Performance monitoring unit.
    pub const XENPMU_OP: usize = 40;
    /// Device-model operations.
    pub const DM_OP: usize = 41;
    /// Hypervisor file system.
    pub const HYPFS_OP: usize = 42;
    /// Architecture-specific hypercall 0.
    pub const ARCH_0: usize = 48;
    /// Architecture-specific hypercall 1 (x86: machine check).
    pub const ARCH_1: usize = 49;
    /// Architecture-specific hypercall 2.
    pub const ARCH_2: usize = 50;
    /// Architecture-specific hypercall 3.
    pub const ARCH_3: usize = 51;
    /// Architecture-specific hypercall 4.
    pub const ARCH_4: usize = 52;
    /// Architecture-specific hypercall 5.
    pub const ARCH_5: usize = 53;
    /// Architecture-specific hypercall 6.
    pub const ARCH_6: usize = 54;
    /// Architecture-specific hypercall 7.
    pub const ARCH_7: usize = 55;
    /// Size of the hypercall dispatch table.
    pub const NR_HYPERCALLS: usize = 64;
}

pub use nr::NR_HYPERCALLS;

/// Bytes per hypercall-page slot.
pub const HYPERCALL_PAGE_SLOT_SIZE: usize = 32;
/// Number of slots in the 4 KiB hypercall page.
pub const HYPERCALL_PAGE_SLOTS: usize = 4096 / HYPERCALL_PAGE_SLOT_SIZE;
/// The filler byte of the unused parts of the page (`int3`).
pub const HYPERCALL_PAGE_FILL: u8 = 0xCC;

/// Byte offset of hypercall `nr`'s slot in the hypercall page.
pub const fn slot_offset(nr: usize) -> usize {
    nr * HYPERCALL_PAGE_SLOT_SIZE
}

/// The code of an ordinary slot: `push %rcx; push %r11; mov $nr,%eax;
/// syscall; pop %r11; pop %rcx; ret`.
pub const fn slot_code(nr: u32) -> [u8; 15] {
    let n = nr.to_le_bytes();
    [
        0x51, 0x41, 0x53, 0xb8, n[0], n[1], n[2], n[3], 0x0f, 0x05, 0x41, 0x5b, 0x59, 0xc3, 0xcc,
    ]
}

/// The code of the iret slot (23): `push %rcx; push %r11; push %rax;
/// mov $23,%eax; syscall`. It never returns; guests jump to it.
pub const IRET_SLOT_CODE: [u8; 11] = [
    0x51,
    0x41,
    0x53,
    0x50,
    0xb8,
    nr::IRET as u8,
    0,
    0,
    0,
    0x0f,
    0x05,
];

/// Fills `page` as the hypercall page: every byte 0xCC, then each of the
/// 128 slots with its stub (slot 23 with the iret form).
pub fn write_hypercall_page(page: &mut [u8; 4096]) {
    page.fill(HYPERCALL_PAGE_FILL);
    for (i, slot) in page.chunks_exact_mut(HYPERCALL_PAGE_SLOT_SIZE).enumerate() {
        if i == nr::IRET {
            slot[..IRET_SLOT_CODE.len()].copy_from_slice(&IRET_SLOT_CODE);
        } else {
            // The last byte of slot_code is filler; copy the 14 code bytes.
            slot[..14].copy_from_slice(&slot_code(i as u32)[..14]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_layout() {
        let mut p = [0u8; 4096];
        write_hypercall_page(&mut p);
        let s18 = &p[slot_offset(18)..slot_offset(19)];
        assert_eq!(
            &s18[..14],
            &[0x51, 0x41, 0x53, 0xb8, 18, 0, 0, 0, 0x0f, 0x05, 0x41, 0x5b, 0x59, 0xc3]
        );
        assert!(s18[14..].iter().all(|&b| b == 0xCC));
        let s23 = &p[slot_offset(23)..slot_offset(24)];
        assert_eq!(
            &s23[..11],
            &[0x51, 0x41, 0x53, 0x50, 0xb8, 23, 0, 0, 0, 0x0f, 0x05]
        );
        assert!(s23[11..].iter().all(|&b| b == 0xCC));
        let s127 = &p[slot_offset(127)..];
        assert_eq!(s127[4], 127);
        assert_eq!(HYPERCALL_PAGE_SLOTS, 128);
    }
}
