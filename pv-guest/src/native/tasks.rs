//! Two ring-3 tasks, each in its own address space, that yield to each other through
//! `syscall`: the native half of the context-switch workload. The kernel's syscall entry
//! saves the running task's registers, switches to the other task's address space with
//! `mov cr3` and resumes it with `sysretq`; after the requested number of switches it returns
//! to the caller of [`run`] instead.
//!
//! Each task counts its own turns in `r12` and passes the count in `rdi`: the kernel checks
//! it, so a switch that lost or mixed up a task's registers is caught.

use super::cpu;
use super::layout::{self, entry, index, PAGE, USER_TABLE, USER_VA};
use super::paging::{self, Table};
use super::turns::{task_loop_asm, Turns};
use core::ptr::addr_of_mut;

const MSR_STAR: u32 = 0xC000_0081;
const MSR_LSTAR: u32 = 0xC000_0082;
const MSR_FMASK: u32 = 0xC000_0084;
/// RFLAGS bits `syscall` clears: TF, IF, DF, AC.
const FMASK: u64 = (1 << 8) | (1 << 9) | (1 << 10) | (1 << 18);

/// Saved user state, in the entry stub's push order (lowest address first).
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct Frame {
    /// r15, r14, r13, r12, r11, r10, r9, r8, rbp, rdi, rsi, rdx, rcx, rbx, rax.
    gprs: [u64; 15],
    rip: u64,
    rflags: u64,
    rsp: u64,
}
const RDI: usize = 9;
const RAX: usize = 14;

core::arch::global_asm!(
    concat!(
        r#"
    .section .rodata.native_user, "a"
    .balign 4096
    .global native_user_page
native_user_page:"#,
        task_loop_asm!(),
        r#"
    .balign 4096

    .section .text.native_syscall, "ax"
    .global native_syscall_entry
native_syscall_entry:
    mov [rip + NATIVE_USER_RSP], rsp
    lea rsp, [rip + native_sysstack_top]
    push qword ptr [rip + NATIVE_USER_RSP]
    push r11
    push rcx
    push rax
    push rbx
    push rcx
    push rdx
    push rsi
    push rdi
    push rbp
    push r8
    push r9
    push r10
    push r11
    push r12
    push r13
    push r14
    push r15
    mov rdi, rsp
    call {switch}
    test rax, rax
    jnz 3f
    mov rdi, rsp
    jmp native_resume_user
3:  mov rsp, [rip + NATIVE_DRIVER_RSP]
    pop r15
    pop r14
    pop r13
    pop r12
    pop rbp
    pop rbx
    ret

    /* native_enter_user(frame): saves the driver's callee-saved registers, resumes frame. */
    .global native_enter_user
native_enter_user:
    push rbx
    push rbp
    push r12
    push r13
    push r14
    push r15
    mov [rip + NATIVE_DRIVER_RSP], rsp
native_resume_user:
    mov rsp, rdi
    pop r15
    pop r14
    pop r13
    pop r12
    pop r11
    pop r10
    pop r9
    pop r8
    pop rbp
    pop rdi
    pop rsi
    pop rdx
    pop rcx
    pop rbx
    pop rax
    pop rcx
    pop r11
    pop rsp
    sysretq

    .section .bss.native_sysstack, "aw", @nobits
    .balign 16
    .skip 16384
native_sysstack_top:
"#
    ),
    switch = sym native_switch,
);

extern "C" {
    static native_user_page: u8;
    fn native_syscall_entry();
    fn native_enter_user(frame: *const Frame);
}

#[no_mangle]
static mut NATIVE_USER_RSP: u64 = 0;
#[no_mangle]
static mut NATIVE_DRIVER_RSP: u64 = 0;

/// One task's address space: its L4 (slot 0 the kernel's, slot 1 its own) and the tables
/// and stack page below slot 1.
struct Space {
    l4: Table,
    l3: Table,
    l2: Table,
    l1: Table,
    stack: Table,
}

static mut SPACES: [Space; 2] = [const {
    Space {
        l4: Table::new(),
        l3: Table::new(),
        l2: Table::new(),
        l1: Table::new(),
        stack: Table::new(),
    }
}; 2];

static mut SAVED: [Frame; 2] = [Frame {
    gprs: [0; 15],
    rip: 0,
    rflags: 0,
    rsp: 0,
}; 2];
static TURNS: Turns = Turns::new();

fn pml4(t: usize) -> u64 {
    // SAFETY: only the address is taken.
    unsafe { &raw const SPACES[t].l4 as u64 }
}

/// Builds both address spaces and programs the syscall MSRs. Call once, after paging::init.
pub fn init() {
    let code = &raw const native_user_page as u64;
    // SAFETY: single-threaded boot; the spaces are statics only this module touches, built
    // before any task runs; the MSRs get the GDT layout `traps::init` installed and an entry
    // stub of this module.
    unsafe {
        let spaces = &mut *addr_of_mut!(SPACES);
        for s in spaces.iter_mut() {
            s.l1.0[index(USER_VA, 1)] = entry(code, layout::P | layout::US | layout::A);
            let stack = &raw const s.stack as u64;
            s.l1.0[index(USER_VA + PAGE, 1)] = entry(stack, layout::KERNEL_RW | layout::US);
            s.l2.0[index(USER_VA, 2)] = entry(&raw const s.l1 as u64, USER_TABLE);
            s.l3.0[index(USER_VA, 3)] = entry(&raw const s.l2 as u64, USER_TABLE);
            s.l4.0[index(USER_VA, 4)] = entry(&raw const s.l3 as u64, USER_TABLE);
            s.l4.0[0] = paging::kernel_l4e();
        }
        cpu::wrmsr(MSR_STAR, layout::star());
        cpu::wrmsr(MSR_LSTAR, native_syscall_entry as *const () as u64);
        cpu::wrmsr(MSR_FMASK, FMASK);
    }
}

/// Called by the syscall stub with the running task's frame: saves it, switches to the other
/// task (1 = "leave to the driver" once the switches are done or a task misbehaved).
extern "C" fn native_switch(frame: *mut Frame) -> u64 {
    // SAFETY: the stub passes the frame it built on the syscall stack; SAVED is only touched
    // by this handler and `run`, never at the same time (interrupts are off).
    let (f, saved) = unsafe { (&mut *frame, &mut *addr_of_mut!(SAVED)) };
    TURNS.on_syscall(f, saved, (f.gprs[RAX], f.gprs[RDI]), |to| {
        // SAFETY: the other task's L4 shares the kernel's slot 0, which maps this code
        // and stack.
        unsafe { cpu::write_cr3(pml4(to)) };
        true
    })
}

/// Runs the two tasks for `switches` task-to-task switches (at least 1); Err if a task's
/// registers came back wrong.
pub fn run(switches: u64) -> Result<(), &'static str> {
    let start = Frame {
        rip: USER_VA,
        rflags: 0x2,
        rsp: USER_VA + 2 * PAGE,
        ..Frame::default()
    };
    // SAFETY: no task runs now; SAVED is ours.
    let saved = unsafe { &mut *addr_of_mut!(SAVED) };
    saved[0] = start;
    saved[1] = start;
    TURNS.start(switches);
    let first = saved[0];
    // SAFETY: task 0's address space maps its code and stack and the kernel (supervisor
    // only); the stub comes back here through NATIVE_DRIVER_RSP with the callee-saved
    // registers restored, and the kernel's L4 is reinstated below.
    unsafe {
        cpu::write_cr3(pml4(0));
        native_enter_user(&first);
        cpu::write_cr3(paging::kernel_pml4());
    }
    TURNS.result()
}
