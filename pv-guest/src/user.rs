//! `test=user`: the guest kernel builds a user address space (its own L4 installed with
//! `MMUEXT_NEW_USER_BASEPTR`), enters a user task with the `iret` hypercall, serves the
//! task's `syscall`s in its syscall callback (ring compression, the Xen way: both run in
//! ring 3, the hypervisor switches page tables) and gets the task's page fault on a kernel
//! address delivered to its #PF handler.

use crate::mm::{demo, Space};
use crate::pagetable::{table_index, PTE_PRESENT, PTE_RW, PTE_USER};
use crate::println;
use crate::traps::{self, catch};
use core::sync::atomic::{AtomicU64, Ordering};
use guest_abi::arch::{IretContext, FLAT_USER_CS64, FLAT_USER_SS64};
use guest_abi::guest;
use guest_abi::mmu::*;
use guest_abi::start_info::StartInfo;

/// Where the user task's code lives; its stack page follows.
pub const UVA: u64 = 0x40_0000;
/// The kernel address the task touches (our own image).
const KERNEL_VA: u64 = 0xFFFF_FFFF_8000_0000;

#[repr(C, align(16))]
struct Stack([u8; 16384]);
/// The kernel stack for entries from user mode (`stack_switch`).
static mut KSTACK: Stack = Stack([0; 16384]);

static SYSCALLS: AtomicU64 = AtomicU64::new(0);
static FIRST_ARG: AtomicU64 = AtomicU64::new(0);
static REPORTED: AtomicU64 = AtomicU64::new(0);

// The task: syscall 1 (41) → rax; syscall 2 (rax); then read a kernel address.
core::arch::global_asm!(
    ".pushsection .rodata.usertask, \"a\"",
    ".global pv_user_code",
    "pv_user_code:",
    "mov edi, 41",
    "mov eax, 1",
    "syscall",
    "mov rdi, rax",
    "mov eax, 2",
    "syscall",
    "movabs rax, {kva}",
    "mov rax, [rax]",
    "ud2",
    ".global pv_user_code_end",
    "pv_user_code_end:",
    ".popsection",
    kva = const KERNEL_VA,
);

/// A user address space: the task's code page at `UVA` (read-only), its stack page after
/// it, under its own pinned L4 installed with `MMUEXT_NEW_USER_BASEPTR`.
pub struct UserSpace {
    l4: u64,
    l1: u64,
}

impl UserSpace {
    /// Build, pin and install it with `code` copied in; None if frames or hypercalls fail.
    pub fn build(sp: &Space, code: &[u8]) -> Option<UserSpace> {
        let frames: [Option<u64>; 6] = core::array::from_fn(|_| sp.alloc_frame());
        let [Some(l4), Some(l3), Some(l2), Some(l1), Some(page), Some(stack)] = frames else {
            println!("user space: no free frames");
            return None;
        };
        if code.len() > 4096 {
            return None;
        }
        let table = PTE_PRESENT | PTE_RW | PTE_USER;
        let built = sp
            .fill(page, 8, |p| {
                // SAFETY: a 4 KiB page viewed as bytes; the code is at most a page.
                let b = unsafe { &mut *(p as *mut [u64; 512] as *mut [u8; 4096]) };
                b[..code.len()].copy_from_slice(code);
            })
            .and_then(|()| sp.fill(stack, 8, |p| p.fill(0)))
            .and_then(|()| {
                sp.fill(l1, 8, |p| {
                    p.fill(0);
                    p[table_index(UVA, 1) as usize] = (page << 12) | PTE_PRESENT | PTE_USER;
                    p[table_index(UVA + 4096, 1) as usize] = (stack << 12) | table;
                })
            })
            .and_then(|()| {
                sp.fill(l2, 8, |p| {
                    p.fill(0);
                    p[table_index(UVA, 2) as usize] = (l1 << 12) | table;
                })
            })
            .and_then(|()| {
                sp.fill(l3, 8, |p| {
                    p.fill(0);
                    p[table_index(UVA, 3) as usize] = (l2 << 12) | table;
                })
            })
            .and_then(|()| {
                sp.fill(l4, 8, |p| {
                    p.fill(0);
                    p[table_index(UVA, 4) as usize] = (l3 << 12) | table;
                })
            });
        // Pinning the L4 validates the whole tree; then it becomes the user page table.
        let ok = built.is_ok()
            && sp.ext(MMUEXT_PIN_L4_TABLE, l4, 0).is_ok()
            && sp.ext(MMUEXT_NEW_USER_BASEPTR, l4, 0).is_ok();
        ok.then_some(UserSpace { l4, l1 })
    }

    /// Uninstall and unpin it; true if its L1 is an ordinary writable frame again.
    pub fn release(&self, sp: &Space) -> bool {
        sp.ext(MMUEXT_NEW_USER_BASEPTR, 0, 0).is_ok()
            && sp.ext(MMUEXT_UNPIN_TABLE, self.l4, 0).is_ok()
            && sp.fill(self.l1, 9, |_| {}).is_ok()
    }
}

extern "C" {
    static pv_user_code: u8;
    static pv_user_code_end: u8;
}

/// The kernel's system calls: 1 = "add one", 2 = "report a value".
fn syscall(nr: u64, arg: u64) -> u64 {
    SYSCALLS.fetch_add(1, Ordering::SeqCst);
    match nr {
        1 => {
            FIRST_ARG.store(arg, Ordering::SeqCst);
            arg + 1
        }
        2 => {
            REPORTED.store(arg, Ordering::SeqCst);
            0
        }
        _ => u64::MAX,
    }
}

pub fn verdict(ok: bool) -> &'static str {
    if ok {
        "ok"
    } else {
        "FAILED"
    }
}

/// The top of the kernel stack entries from user mode run on.
pub fn kernel_stack_top() -> u64 {
    (&raw const KSTACK) as u64 + 16384
}

/// Enter the user task at `rip` with code and stack selectors `cs`/`ss`, its stack at the
/// top of its [`UserSpace`]'s stack page; the fault it ends with.
pub fn enter(rip: u64, cs: u16, ss: u16) -> Option<crate::traps::Fault> {
    let ctx = IretContext {
        rip,
        cs: u64::from(cs),
        rflags: 0x200,
        rsp: UVA + 2 * 4096,
        ss: u64::from(ss),
        ..Default::default()
    };
    // SAFETY: returns to the user task in its own address space; we come back through the
    // fault it ends with (caught), never by returning.
    catch(|| unsafe { guest::iret(&ctx) })
}

/// Runs `test=user`; false if the command line asks for something else.
pub fn run(cmd: &str, si: &StartInfo) -> bool {
    if !cmd.split_ascii_whitespace().any(|w| w == "test=user") {
        return false;
    }
    let sp = Space::new(si);
    demo::install_traps(&sp);
    // SAFETY: the linker places both symbols around the task's code in .rodata.
    let bytes = unsafe {
        let start = &raw const pv_user_code;
        let len = (&raw const pv_user_code_end as usize) - (start as usize);
        core::slice::from_raw_parts(start, len)
    };
    let space = UserSpace::build(&sp, bytes);
    println!(
        "test=user: user page tables built, pinned and installed (NEW_USER_BASEPTR): {}",
        verdict(space.is_some())
    );
    let Some(space) = space else {
        return true;
    };
    traps::set_syscall_handler(syscall, kernel_stack_top());
    let fault = enter(UVA, FLAT_USER_CS64, FLAT_USER_SS64);
    let ok = SYSCALLS.load(Ordering::SeqCst) == 2
        && FIRST_ARG.load(Ordering::SeqCst) == 41
        && REPORTED.load(Ordering::SeqCst) == 42;
    println!(
        "test=user: the user task made {} syscalls to the kernel's callback (41 in, {} back): {}",
        SYSCALLS.load(Ordering::SeqCst),
        REPORTED.load(Ordering::SeqCst),
        verdict(ok)
    );
    // A user-mode fault: the error code's user bit (2) is set.
    let ok = matches!(fault, Some(f) if f.vector == 14 && f.from_user && f.cr2 == KERNEL_VA && f.error & 4 != 0);
    match fault {
        Some(f) => println!(
            "test=user: the user task's {} at cr2 {:#x} reached the kernel's handler (from {} mode, {} access): {}",
            traps::name(f.vector),
            f.cr2,
            if f.from_user { "user" } else { "kernel" },
            if f.error & 4 != 0 { "user" } else { "supervisor" },
            verdict(ok)
        ),
        None => println!("test=user: the user task returned without faulting: FAILED"),
    }
    let ok = space.release(&sp);
    println!(
        "test=user: user page tables released, their frames writable again: {}",
        verdict(ok)
    );
    true
}
