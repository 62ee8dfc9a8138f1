//! Exceptions: an IDT whose 32 gates lead to a handler that reports the exception on the
//! serial console and ends the run with the "crashed" exit code (a fault in a benchmark is a
//! bug, never a result). Also the GDT with a TSS, whose `rsp0` is the stack ring-3 tasks'
//! exceptions arrive on.

use super::cpu;
use super::layout::{self, idt_gate, tss_descriptor, KERNEL_CS, TSS_SEL};
use core::ptr::{addr_of, addr_of_mut};

core::arch::global_asm!(
    r#"
    .macro NATIVE_TRAP v, err
    native_trap_\v:
    .if \err == 0
    push 0
    .endif
    push \v
    jmp native_trap_common
    .endm

    .section .text.native_traps, "ax"
    NATIVE_TRAP 0, 0
    NATIVE_TRAP 1, 0
    NATIVE_TRAP 2, 0
    NATIVE_TRAP 3, 0
    NATIVE_TRAP 4, 0
    NATIVE_TRAP 5, 0
    NATIVE_TRAP 6, 0
    NATIVE_TRAP 7, 0
    NATIVE_TRAP 8, 1
    NATIVE_TRAP 9, 0
    NATIVE_TRAP 10, 1
    NATIVE_TRAP 11, 1
    NATIVE_TRAP 12, 1
    NATIVE_TRAP 13, 1
    NATIVE_TRAP 14, 1
    NATIVE_TRAP 15, 0
    NATIVE_TRAP 16, 0
    NATIVE_TRAP 17, 1
    NATIVE_TRAP 18, 0
    NATIVE_TRAP 19, 0
    NATIVE_TRAP 20, 0
    NATIVE_TRAP 21, 1
    NATIVE_TRAP 22, 0
    NATIVE_TRAP 23, 0
    NATIVE_TRAP 24, 0
    NATIVE_TRAP 25, 0
    NATIVE_TRAP 26, 0
    NATIVE_TRAP 27, 0
    NATIVE_TRAP 28, 0
    NATIVE_TRAP 29, 1
    NATIVE_TRAP 30, 1
    NATIVE_TRAP 31, 0
native_trap_common:
    mov rdi, rsp
    and rsp, -16
    call {rust}
    ud2

    .section .rodata.native_traps, "a"
    .balign 8
    .global native_trap_table
native_trap_table:
    .irp v, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
    .quad native_trap_\v
    .endr
"#,
    rust = sym native_trap,
);

extern "C" {
    static native_trap_table: [u64; 32];
}

/// The IDT.
static mut IDT: [[u64; 2]; 32] = [[0; 2]; 32];
/// The GDT: five segments and the TSS descriptor.
static mut GDT: [u64; 7] = [0; 7];
/// The 64-bit TSS (104 bytes as 26 dwords; only rsp0 and the I/O map base are set).
static mut TSS: [u32; 26] = [0; 26];

#[repr(C, packed)]
struct Pointer {
    limit: u16,
    base: u64,
}

/// Installs the GDT (reloading every segment register), the TSS with `rsp0`, and the IDT.
pub fn init(rsp0: u64) {
    // SAFETY: single-threaded boot; the tables are statics that live forever and are built
    // completely before being loaded; the segment reload uses the selectors just installed.
    unsafe {
        let tss = &mut *addr_of_mut!(TSS);
        tss[1] = rsp0 as u32;
        tss[2] = (rsp0 >> 32) as u32;
        tss[25] = 104 << 16;
        let gdt = &mut *addr_of_mut!(GDT);
        gdt[..5].copy_from_slice(&layout::GDT_SEGMENTS);
        let d = tss_descriptor(&raw const TSS as u64, 103);
        gdt[5] = d[0];
        gdt[6] = d[1];
        let gp = Pointer {
            limit: (core::mem::size_of::<[u64; 7]>() - 1) as u16,
            base: gdt.as_ptr() as u64,
        };
        core::arch::asm!(
            "lgdt [{gp}]",
            "push {cs}",
            "lea {tmp}, [rip + 2f]",
            "push {tmp}",
            "retfq",
            "2:",
            "mov {tmp:e}, {ds}",
            "mov ds, {tmp:e}",
            "mov es, {tmp:e}",
            "mov ss, {tmp:e}",
            "ltr {tss:x}",
            gp = in(reg) &raw const gp,
            cs = const KERNEL_CS as u64,
            ds = const layout::KERNEL_DS as u32,
            tss = in(reg) TSS_SEL,
            tmp = out(reg) _,
        );
        let idt = &mut *addr_of_mut!(IDT);
        let table = &*addr_of!(native_trap_table);
        for (g, &h) in idt.iter_mut().zip(table.iter()) {
            *g = idt_gate(h);
        }
        let ip = Pointer {
            limit: (core::mem::size_of::<[[u64; 2]; 32]>() - 1) as u16,
            base: idt.as_ptr() as u64,
        };
        core::arch::asm!("lidt [{}]", in(reg) &raw const ip, options(nostack));
    }
}

/// The stub's frame: vector, error code, then the CPU's interrupt frame.
extern "C" fn native_trap(frame: *const [u64; 7]) -> ! {
    // SAFETY: the stub passes its stack pointer: the 7 words it and the CPU pushed.
    let f = unsafe { &*frame };
    let cr2: u64;
    // SAFETY: reading CR2 has no side effect.
    unsafe { core::arch::asm!("mov {}, cr2", out(reg) cr2, options(nomem, nostack)) };
    println!(
        "native: exception {} (error {:#x}) at rip {:#x} cs {:#x} rsp {:#x}, cr2 {cr2:#x}",
        f[0], f[1], f[2], f[3], f[5]
    );
    cpu::exit(cpu::EXIT_CRASH)
}
