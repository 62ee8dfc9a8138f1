//! Multiboot1 header (a.out kludge) and the 32-bit entry: checks the loader's magic, masks the
//! legacy PICs, builds temporary page tables (identity + image + direct map of the first
//! 4 GiB, 2 MiB pages), enables PAE, long mode, NX and paging, jumps to the image's high
//! address and calls `kmain(multiboot_info_phys)` on the hypervisor stack.
//!
//! The hypervisor stack's top 200 bytes hold the fixed guest frame (see `entry.rs`).

use core::arch::global_asm;

/// Size of the hypervisor stack (whose top holds the guest frame).
pub const STACK_SIZE: usize = 64 * 1024;

global_asm!(
    r#"
    .set KOFF, 0xFFFF820000000000
    .set MB_MAGIC, 0x1BADB002
    .set MB_FLAGS, 0x00010003
    .set HV_STACK_SIZE, {stack_size}

    .section .multiboot, "a"
    .balign 4
mb_header:
    .long MB_MAGIC
    .long MB_FLAGS
    .long -(MB_MAGIC + MB_FLAGS)
    .long mb_header - KOFF
    .long __image_start - KOFF
    .long __load_end - KOFF
    .long __image_end - KOFF
    .long _start32 - KOFF

    .section .boot.text, "ax"
    .code32
    .global _start32
_start32:
    cli
    cld
    mov %ebx, %esi
    mov %eax, %edi
    /* Mask both 8259 PICs. */
    mov $0xff, %al
    out %al, $0xa1
    out %al, $0x21
    cmp $0x2BADB002, %edi
    jne 9f
    /* Long mode and NX support. */
    mov $0x80000000, %eax
    cpuid
    cmp $0x80000001, %eax
    jb 9f
    mov $0x80000001, %eax
    cpuid
    bt $29, %edx
    jnc 9f
    xor %ebp, %ebp
    bt $20, %edx
    jnc 1f
    mov $1, %ebp
    movb $1, (hv_nx_supported - KOFF)
1:
    /* 2048 2 MiB mappings: physical 0..4 GiB. */
    mov $(boot_pd - KOFF), %edi
    mov $0x83, %eax
    xor %edx, %edx
    mov $2048, %ecx
2:  mov %eax, (%edi)
    mov %edx, 4(%edi)
    add $0x200000, %eax
    adc $0, %edx
    add $8, %edi
    loop 2b
    mov $(boot_pdpt - KOFF), %edi
    mov $(boot_pd - KOFF + 3), %eax
    mov %eax, 0(%edi)
    add $4096, %eax
    mov %eax, 8(%edi)
    add $4096, %eax
    mov %eax, 16(%edi)
    add $4096, %eax
    mov %eax, 24(%edi)
    /* L4 slots 0 (identity), 260 (image), 262 (direct map) share the PDPT. */
    mov $(boot_pml4 - KOFF), %edi
    mov $(boot_pdpt - KOFF + 3), %eax
    mov %eax, (%edi)
    mov %eax, 260*8(%edi)
    mov %eax, 262*8(%edi)
    mov %edi, %cr3
    mov %cr4, %eax
    or $0x20, %eax
    mov %eax, %cr4
    mov $0xC0000080, %ecx
    rdmsr
    or $0x101, %eax
    test %ebp, %ebp
    jz 3f
    or $0x800, %eax
3:  wrmsr
    mov %cr0, %eax
    or $0x80010001, %eax
    mov %eax, %cr0
    lgdt (boot_gdtr - KOFF)
    ljmp $0x08, $(start64_low - KOFF)
9:  /* Not loaded by Multiboot or no long mode: report a panic to QEMU and stop. */
    mov $0x12, %eax
    mov $0xf4, %dx
    out %eax, %dx
10: hlt
    jmp 10b

    .code64
start64_low:
    movabs $start64_high, %rax
    jmp *%rax
start64_high:
    mov $0x10, %eax
    mov %eax, %ds
    mov %eax, %es
    mov %eax, %ss
    xor %eax, %eax
    mov %eax, %fs
    mov %eax, %gs
    lea hv_stack_top(%rip), %rsp
    sub $208, %rsp
    mov %esi, %edi
    movabs $kmain, %rax
    call *%rax
11: hlt
    jmp 11b

    .section .rodata.boot, "a"
    .balign 8
boot_gdt:
    .quad 0
    .quad 0x00AF9A000000FFFF
    .quad 0x00CF92000000FFFF
boot_gdt_end:
boot_gdtr:
    .word boot_gdt_end - boot_gdt - 1
    .long boot_gdt - KOFF

    .section .data.boot, "aw"
    .global hv_nx_supported
hv_nx_supported:
    .byte 0

    .section .bss.boot, "aw", @nobits
    .balign 4096
    .global boot_pml4
boot_pml4:
    .skip 4096
boot_pdpt:
    .skip 4096
boot_pd:
    .skip 4 * 4096
    .global hv_stack_bottom
hv_stack_bottom:
    .skip HV_STACK_SIZE
    .global hv_stack_top
hv_stack_top:
"#,
    stack_size = const STACK_SIZE,
    options(att_syntax)
);

extern "C" {
    static hv_nx_supported: u8;
}

/// Whether the CPU supports NX (EFER.NXE was set by the boot code).
pub fn nx_supported() -> bool {
    // SAFETY: a byte written once by the 32-bit boot code before any Rust code ran.
    unsafe { core::ptr::read_volatile(&raw const hv_nx_supported) != 0 }
}
