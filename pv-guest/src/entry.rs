//! The kernel entry point and the Xen ELF notes.
//!
//! The builder enters `_start` in ring 3 with `rsi` = VA of start_info and `rsp` = top of the
//! one-page boot stack, with .bss already zero (the loader zero-fills p_memsz > p_filesz and
//! the initial region is fresh memory). We switch to a larger stack in .bss and call Rust.

use guest_abi::start_info::StartInfo;

/// Start of the kernel's initial region and the link address (`VIRT_BASE`).
pub const VIRT_BASE: u64 = 0xFFFF_FFFF_8000_0000;

/// Size of the kernel stack in .bss.
pub const STACK_SIZE: usize = 256 * 1024;

// The Xen notes. Our PT_LOAD segments have p_paddr = p_vaddr - VIRT_BASE (see link.ld), so
// PADDR_OFFSET is 0: the builder loads each segment at p_paddr + (VIRT_BASE - PADDR_OFFSET).
guest_abi::xen_elfnotes! {
    guest_os: "pv-guest",
    virt_base: 0xFFFF_FFFF_8000_0000u64,
    paddr_offset: 0u64,
    entry: "_start",
    hypercall_page: "hypercall_page",
    features: "mmu_pt_update_preserve_ad",
}

core::arch::global_asm!(
    ".pushsection .text.entry, \"ax\"",
    ".global _start",
    ".type _start, @function",
    "_start:",
    // The first instruction reads the TSC (domain-creation benchmark, see bench/).
    "rdtsc",
    "mov %eax, pv_guest_first_tsc(%rip)",
    "mov %edx, pv_guest_first_tsc+4(%rip)",
    "lea pv_guest_stack_top(%rip), %rsp",
    "mov %rsi, %rdi",
    "xor %ebp, %ebp",
    "call {main}",
    "ud2",
    ".size _start, . - _start",
    ".popsection",
    ".pushsection .bss.first_tsc, \"aw\", @nobits",
    ".balign 8",
    ".global pv_guest_first_tsc",
    "pv_guest_first_tsc:",
    ".skip 8",
    ".popsection",
    ".pushsection .bss.stack, \"aw\", @nobits",
    ".balign 16",
    "pv_guest_stack:",
    ".skip {size}",
    "pv_guest_stack_top:",
    ".popsection",
    main = sym guest_entry,
    size = const STACK_SIZE,
    options(att_syntax),
);

/// Called by `_start` on the kernel stack.
extern "C" fn guest_entry(si: *const StartInfo) -> ! {
    // SAFETY: the builder passes the VA of our start_info page in rsi; it is mapped for the
    // lifetime of the domain and nothing in this kernel writes to it.
    let si: &'static StartInfo = unsafe { &*si };
    crate::guest_main(si)
}
