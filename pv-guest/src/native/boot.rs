//! The Multiboot1 header (a.out kludge: QEMU loads a 64-bit ELF only through the header's
//! address fields) and the 32-bit entry: checks the loader's magic, masks the 8259 PICs,
//! identity-maps the low 1 GiB with 2 MiB pages (boot tables only: `paging::init` replaces
//! them with 4 KiB ones), enables PAE, long mode (with `syscall`) and paging, and calls
//! `native_main(multiboot_info)` on the kernel stack in 64-bit mode.

/// Size of the kernel stack.
pub const STACK_SIZE: usize = 64 * 1024;

core::arch::global_asm!(
    r#"
    .set NB_MAGIC, 0x1BADB002
    .set NB_FLAGS, 0x00010003

    .section .multiboot, "a"
    .balign 4
native_mb_header:
    .long NB_MAGIC
    .long NB_FLAGS
    .long -(NB_MAGIC + NB_FLAGS)
    .long native_mb_header
    .long __image_start
    .long __load_end
    .long __image_end
    .long native_start32

    .section .native.boot, "ax"
    .code32
    .global native_start32
native_start32:
    cli
    cld
    mov %ebx, %esi
    cmp $0x2BADB002, %eax
    jne 9f
    mov $0xff, %al
    out %al, $0xa1
    out %al, $0x21
    /* 512 x 2 MiB: physical 0..1 GiB. */
    mov $native_boot_pd, %edi
    mov $0x83, %eax
    mov $512, %ecx
1:  mov %eax, (%edi)
    movl $0, 4(%edi)
    add $0x200000, %eax
    add $8, %edi
    loop 1b
    movl $(native_boot_pd + 3), native_boot_pdpt
    movl $(native_boot_pdpt + 3), native_boot_pml4
    mov $native_boot_pml4, %eax
    mov %eax, %cr3
    /* CR4: PAE, OSFXSR, OSXMMEXCPT. */
    mov %cr4, %eax
    or $0x620, %eax
    mov %eax, %cr4
    /* EFER: SCE (syscall) and LME. */
    mov $0xC0000080, %ecx
    rdmsr
    or $0x101, %eax
    wrmsr
    /* CR0: PE, MP, WP, PG; EM and TS clear. */
    mov %cr0, %eax
    and $0xFFFFFFF3, %eax
    or $0x80010003, %eax
    mov %eax, %cr0
    lgdt native_boot_gdtr
    ljmp $0x08, $native_start64
9:  /* Not loaded by a Multiboot loader: exit QEMU with the "crashed" code. */
    mov $0x11, %eax
    mov $0xf4, %dx
    out %eax, %dx
10: hlt
    jmp 10b

    .code64
native_start64:
    mov $0x10, %eax
    mov %eax, %ds
    mov %eax, %es
    mov %eax, %ss
    xor %eax, %eax
    mov %eax, %fs
    mov %eax, %gs
    lea native_stack_top(%rip), %rsp
    mov %esi, %edi
    xor %ebp, %ebp
    call native_main
11: hlt
    jmp 11b

    .section .rodata.native_boot, "a"
    .balign 8
native_boot_gdt:
    .quad 0
    .quad 0x00AF9A000000FFFF
    .quad 0x00CF92000000FFFF
native_boot_gdt_end:
native_boot_gdtr:
    .word native_boot_gdt_end - native_boot_gdt - 1
    .long native_boot_gdt

    .section .bss.native_boot, "aw", @nobits
    .balign 4096
native_boot_pml4:
    .skip 4096
native_boot_pdpt:
    .skip 4096
native_boot_pd:
    .skip 4096
    .balign 16
    .global native_stack_bottom
native_stack_bottom:
    .skip {stack}
    .global native_stack_top
native_stack_top:
"#,
    stack = const STACK_SIZE,
    options(att_syntax)
);
