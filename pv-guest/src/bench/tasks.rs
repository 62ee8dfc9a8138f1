//! Two user tasks in their own address spaces that yield to each other through `syscall`:
//! the PV half of the context-switch workload, done the PV way. The task's `syscall` enters
//! the hypervisor, which bounces it to this kernel's syscall callback (on the stack given by
//! `stack_switch`); the callback saves the task's registers, installs the other task's page
//! tables with `MMUEXT_NEW_USER_BASEPTR` and resumes it with the `iret` hypercall (as from a
//! system call). After the requested number of switches it returns to the caller of
//! [`Tasks::run`] instead.
//!
//! Each task counts its own turns in `r12` and passes the count in `rdi`; the callback checks
//! it, so a switch that lost or mixed up a task's registers is caught.

use super::turns::{task_loop_asm, Turns};
use crate::mm::Space;
use crate::pagetable::{table_index, PAGE_SIZE, PTE_ACCESSED, PTE_PRESENT, PTE_RW, PTE_USER};
use core::ptr::addr_of_mut;
use core::sync::atomic::{AtomicU64, Ordering};
use guest_abi::arch::{VgcfFlags, FLAT_KERNEL_SS64, FLAT_USER_CS64, FLAT_USER_SS64};
use guest_abi::callback::{CallbackRegister, CALLBACKTYPE_SYSCALL};
use guest_abi::guest;
use guest_abi::hypercall::{nr, HYPERCALL_PAGE_SLOT_SIZE};
use guest_abi::mmu::{MMUEXT_NEW_USER_BASEPTR, MMUEXT_PIN_L4_TABLE, MMUEXT_UNPIN_TABLE};
use guest_abi::start_info::StartInfo;

/// Where the tasks' code lives; each task's stack page follows.
const UVA: u64 = 0x40_0000;
/// Scratch page (of `mm::Space`) used to fill the tasks' frames.
const FILL_SLOT: u64 = 12;

/// A task's registers in the callback stub's layout (lowest address first): what the stub
/// pushed, then the hypervisor's bounce frame (rcx, r11, rip, cs, rflags, rsp, ss).
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct Frame {
    /// r15, r14, r13, r12, r10, r9, r8, rbp, rdi, rsi, rdx, rbx, rax.
    gprs: [u64; 13],
    rcx: u64,
    r11: u64,
    rip: u64,
    cs: u64,
    rflags: u64,
    rsp: u64,
    ss: u64,
}
const RDI: usize = 8;
const RAX: usize = 12;

core::arch::global_asm!(
    concat!(
        r#"
    .pushsection .rodata.pv_bench_user, "a"
    .balign 16
    .global pv_bench_user_code
pv_bench_user_code:"#,
        task_loop_asm!(),
        r#"
    .global pv_bench_user_code_end
pv_bench_user_code_end:
    .popsection

    .pushsection .text.pv_bench_tasks, "ax"
    .global pv_bench_syscall
pv_bench_syscall:
    push rax
    push rbx
    push rdx
    push rsi
    push rdi
    push rbp
    push r8
    push r9
    push r10
    push r12
    push r13
    push r14
    push r15
    mov rdi, rsp
    call {switch}
    test rax, rax
    jnz 3f
    mov rdi, rsp
    jmp pv_bench_resume
3:  mov rsp, [rip + PV_BENCH_DRIVER_RSP]
    pop r15
    pop r14
    pop r13
    pop r12
    pop rbp
    pop rbx
    ret

    /* pv_bench_enter_user(frame): saves the driver's callee-saved registers, resumes frame. */
    .global pv_bench_enter_user
pv_bench_enter_user:
    push rbx
    push rbp
    push r12
    push r13
    push r14
    push r15
    mov [rip + PV_BENCH_DRIVER_RSP], rsp
pv_bench_resume:
    mov rsp, rdi
    pop r15
    pop r14
    pop r13
    pop r12
    pop r10
    pop r9
    pop r8
    pop rbp
    pop rdi
    pop rsi
    pop rdx
    pop rbx
    pop rax
    pop rcx
    pop r11
    push {in_syscall}
    jmp hypercall_page + {iret}
    .popsection
"#
    ),
    switch = sym pv_bench_switch,
    in_syscall = const VgcfFlags::IN_SYSCALL.bits(),
    iret = const nr::IRET * HYPERCALL_PAGE_SLOT_SIZE,
);

extern "C" {
    static pv_bench_user_code: u8;
    static pv_bench_user_code_end: u8;
    fn pv_bench_syscall();
    fn pv_bench_enter_user(frame: *mut Frame);
}

#[no_mangle]
static mut PV_BENCH_DRIVER_RSP: u64 = 0;

#[repr(C, align(16))]
struct Stack([u8; 16384]);
/// The stack the syscall callback runs on (`stack_switch`).
static mut KSTACK: Stack = Stack([0; 16384]);

static mut SAVED: [Frame; 2] = [Frame {
    gprs: [0; 13],
    rcx: 0,
    r11: 0,
    rip: 0,
    cs: 0,
    rflags: 0,
    rsp: 0,
    ss: 0,
}; 2];
/// The tasks' L4 machine frames.
static L4S: [AtomicU64; 2] = [AtomicU64::new(0), AtomicU64::new(0)];
static TURNS: Turns = Turns::new();

fn new_user_base(l4: u64) -> bool {
    let op = guest_abi::mmu::MmuextOp::new(MMUEXT_NEW_USER_BASEPTR, l4, 0);
    // SAFETY: installs a pinned L4 of ours (or none) as the user page table.
    unsafe { guest::mmuext_op(core::slice::from_ref(&op), guest_abi::types::DomId::SELF) }.is_ok()
}

/// The callback's decision: 0 = resume the (possibly switched) frame, 1 = leave to the driver.
extern "C" fn pv_bench_switch(frame: *mut Frame) -> u64 {
    // SAFETY: the stub passes the frame it built on the callback stack; SAVED is only touched
    // here and in `Tasks::run`, never at the same time (one vCPU, `run` waits for us).
    let (f, saved) = unsafe { (&mut *frame, &mut *addr_of_mut!(SAVED)) };
    TURNS.on_syscall(f, saved, (f.gprs[RAX], f.gprs[RDI]), |to| {
        new_user_base(L4S[to].load(Ordering::Relaxed))
    })
}

/// The two tasks' address spaces, built and pinned once.
pub struct Tasks {
    sp: Space,
}

impl Tasks {
    /// Builds both address spaces (a shared read-only code page, a stack page each), pins
    /// their L4s and registers the syscall callback.
    pub fn new(si: &StartInfo) -> Result<Tasks, &'static str> {
        let sp = Space::new(si);
        // SAFETY: the linker places both symbols around the task's code in .rodata.
        let code_bytes = unsafe {
            let start = &raw const pv_bench_user_code;
            let len = (&raw const pv_bench_user_code_end as usize) - (start as usize);
            core::slice::from_raw_parts(start, len)
        };
        let code = sp.alloc_frame().ok_or("no-free-frames")?;
        sp.fill(code, FILL_SLOT, |p| {
            // SAFETY: a 4 KiB page viewed as bytes; the code is a few bytes.
            let b = unsafe { &mut *(p as *mut [u64; 512] as *mut [u8; 4096]) };
            b.fill(0);
            b[..code_bytes.len()].copy_from_slice(code_bytes);
        })
        .map_err(|_| "fill-failed")?;
        let table = PTE_PRESENT | PTE_RW | PTE_USER | PTE_ACCESSED;
        for l4s in &L4S {
            let frames: [Option<u64>; 5] = core::array::from_fn(|_| sp.alloc_frame());
            let [Some(l4), Some(l3), Some(l2), Some(l1), Some(stack)] = frames else {
                return Err("no-free-frames");
            };
            let fill = |mfn: u64, va: u64, level: u8, e: u64| {
                sp.fill(mfn, FILL_SLOT, |p| {
                    p.fill(0);
                    p[table_index(va, level) as usize] = e;
                })
            };
            fill(stack, 0, 1, 0)
                .and_then(|()| {
                    sp.fill(l1, FILL_SLOT, |p| {
                        p.fill(0);
                        p[table_index(UVA, 1) as usize] =
                            (code << 12) | PTE_PRESENT | PTE_USER | PTE_ACCESSED;
                        p[table_index(UVA + PAGE_SIZE, 1) as usize] = (stack << 12) | table;
                    })
                })
                .and_then(|()| fill(l2, UVA, 2, (l1 << 12) | table))
                .and_then(|()| fill(l3, UVA, 3, (l2 << 12) | table))
                .and_then(|()| fill(l4, UVA, 4, (l3 << 12) | table))
                .map_err(|_| "fill-failed")?;
            sp.ext(MMUEXT_PIN_L4_TABLE, l4, 0)
                .map_err(|_| "pin-failed")?;
            l4s.store(l4, Ordering::Relaxed);
        }
        let cb = CallbackRegister {
            type_: CALLBACKTYPE_SYSCALL,
            flags: 0,
            _pad: 0,
            address: pv_bench_syscall as *const () as u64,
        };
        let top = (&raw const KSTACK) as u64 + 16384;
        // SAFETY: the entry is this module's stub; the stack is ours and used by nothing else.
        unsafe {
            guest::callback_register(&cb).map_err(|_| "callback-refused")?;
            guest::stack_switch(FLAT_KERNEL_SS64, top).map_err(|_| "stack-switch-refused")?;
        }
        Ok(Tasks { sp })
    }

    /// Runs the tasks for `switches` task-to-task switches (at least 1).
    pub fn run(&mut self, switches: u64) -> Result<(), &'static str> {
        let start = Frame {
            rip: UVA,
            cs: u64::from(FLAT_USER_CS64),
            rflags: 0x202,
            rsp: UVA + 2 * PAGE_SIZE,
            ss: u64::from(FLAT_USER_SS64),
            ..Frame::default()
        };
        // SAFETY: no task runs now; SAVED is ours.
        let saved = unsafe { &mut *addr_of_mut!(SAVED) };
        saved[0] = start;
        saved[1] = start;
        TURNS.start(switches);
        if !new_user_base(L4S[0].load(Ordering::Relaxed)) {
            return Err("new-user-baseptr-refused");
        }
        let mut first = start;
        // SAFETY: resumes task 0 in its own (pinned, installed) address space; the callback
        // comes back here through PV_BENCH_DRIVER_RSP with the callee-saved registers restored.
        unsafe { pv_bench_enter_user(&mut first) };
        TURNS.result()
    }

    /// Uninstalls and unpins the tasks' page tables.
    pub fn release(self) {
        let _ = self.sp.ext(MMUEXT_NEW_USER_BASEPTR, 0, 0);
        for l4 in &L4S {
            let _ = self
                .sp
                .ext(MMUEXT_UNPIN_TABLE, l4.load(Ordering::Relaxed), 0);
        }
    }
}
