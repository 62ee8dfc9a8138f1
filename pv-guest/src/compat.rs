//! `test=compat`: a 32-bit user task (compat mode, FLAT_USER_CS32) under the guest kernel.
//! Its `syscall`s reach the 64-bit syscall callback until it asks the kernel (syscall 3) to
//! register the syscall32 and sysenter callbacks, then the syscall32 one. Its `sysenter`
//! reaches the sysenter callback where the CPU has sysenter in compat mode (Intel; QEMU's TCG
//! whatever the vendor), with TF set so the hypervisor must carry a single step taken in its
//! own entry code back to the guest; on AMD hardware it is #UD, delivered to the kernel's
//! handler. A first task runs `sysenter` before any callback is registered: #GP with error
//! code 0 at Xen's null rip (or #UD).

use crate::mm::{demo, Space};
use crate::println;
use crate::traps::{self, Fault, ENTRIES};
use crate::user::{verdict, UserSpace, UVA};
use core::sync::atomic::{AtomicU64, Ordering};
use guest_abi::arch::{FLAT_USER_CS32, FLAT_USER_SS};
use guest_abi::start_info::StartInfo;

static REPORTED: AtomicU64 = AtomicU64::new(0);

// Two 32-bit tasks in one page. The first: sysenter, ud2. The second: syscall 1 (7 → 8),
// syscall 3 (register the 32-bit entries), syscall 1 (8 → 9), syscall 2 (report 9), then a
// single-stepped sysenter returning (ecx = stack, edx = return address) to a final ud2.
core::arch::global_asm!(
    ".pushsection .rodata.compattask, \"a\"",
    ".code32",
    ".global pv_compat_code",
    "pv_compat_code:",
    "sysenter",
    "ud2",
    "pv_compat_main:",
    "movl $7, %edi",
    "movl $1, %eax",
    "syscall",
    "movl %eax, %esi",
    "movl $3, %eax",
    "syscall",
    "movl %esi, %edi",
    "movl $1, %eax",
    "syscall",
    "movl %eax, %edi",
    "movl $2, %eax",
    "syscall",
    "movl %esp, %ecx",
    "movl ${uva} + (pv_compat_back - pv_compat_code), %edx",
    "pushfl",
    "orl $0x100, (%esp)",
    "popfl",
    "pv_compat_sysenter:",
    "sysenter",
    "pv_compat_back:",
    "ud2",
    "pv_compat_code_end:",
    ".code64",
    ".popsection",
    uva = const UVA,
    options(att_syntax),
);

extern "C" {
    static pv_compat_code: u8;
    static pv_compat_main: u8;
    static pv_compat_sysenter: u8;
    static pv_compat_back: u8;
    static pv_compat_code_end: u8;
}

/// A task label's address in the user mapping.
fn user_va(label: *const u8) -> u64 {
    UVA + (label as u64 - (&raw const pv_compat_code) as u64)
}

/// The task's system calls: 1 = "add one", 2 = "report", 3 = "register the 32-bit entries".
fn syscall(nr: u64, arg: u64) -> u64 {
    match nr {
        1 => arg + 1,
        2 => {
            REPORTED.store(arg, Ordering::SeqCst);
            0
        }
        3 => match traps::set_compat_entries() {
            Ok(()) => 0,
            Err(e) => {
                println!("test=compat: registering syscall32/sysenter failed: {e:?}");
                u64::from(u32::MAX)
            }
        },
        _ => u64::from(u32::MAX),
    }
}

/// Enter the task at `rip` in compat mode; the fault it ends with.
fn run_task(rip: u64) -> Option<Fault> {
    crate::user::enter(rip, FLAT_USER_CS32, FLAT_USER_SS)
}

fn describe(f: Option<Fault>) -> (u32, u64, u64, bool) {
    f.map_or((0, 0, 0, false), |f| {
        (f.vector, f.rip, f.error, f.from_user)
    })
}

/// Runs `test=compat`; false if the command line asks for something else.
pub fn run(cmd: &str, si: &StartInfo) -> bool {
    if !cmd.split_ascii_whitespace().any(|w| w == "test=compat") {
        return false;
    }
    let sp = Space::new(si);
    demo::install_traps(&sp);
    // SAFETY: the linker places both symbols around the tasks' code in .rodata.
    let bytes = unsafe {
        let start = &raw const pv_compat_code;
        let len = (&raw const pv_compat_code_end as usize) - (start as usize);
        core::slice::from_raw_parts(start, len)
    };
    let Some(space) = UserSpace::build(&sp, bytes) else {
        println!("test=compat: user address space: FAILED");
        return true;
    };
    traps::set_syscall_handler(syscall, crate::user::kernel_stack_top());

    // sysenter with no callback: #GP(0) from user mode at Xen's null rip (or #UD).
    let (v, rip, err, user) = describe(run_task(UVA));
    let ok = user && ((v, rip, err) == (13, 0, 0) || (v, rip) == (6, UVA));
    println!(
        "test=compat: sysenter with no callback: {} at rip {rip:#x}, error {err:#x}: {}",
        traps::name(v),
        verdict(ok)
    );

    let (main, sysenter, back) = (
        user_va(&raw const pv_compat_main),
        user_va(&raw const pv_compat_sysenter),
        user_va(&raw const pv_compat_back),
    );
    let fault = run_task(main);
    let log = &ENTRIES;
    let (n64, n32) = (
        log.syscall64.load(Ordering::SeqCst),
        log.syscall32.load(Ordering::SeqCst),
    );
    let cs = log.last_syscall_cs.load(Ordering::SeqCst);
    let ok = n64 == 2
        && n32 == 2
        && cs == u64::from(FLAT_USER_CS32)
        && REPORTED.load(Ordering::SeqCst) == 9;
    println!(
        "test=compat: 32-bit syscalls: {n64} to the syscall callback, then {n32} to the syscall32 callback (cs {cs:#x}), 7+2 = {}: {}",
        REPORTED.load(Ordering::SeqCst),
        verdict(ok)
    );
    let entered = log.sysenter.load(Ordering::SeqCst);
    let [srip, scs, sflags] = log
        .sysenter_frame
        .each_ref()
        .map(|a| a.load(Ordering::SeqCst));
    let (v, rip, _, user) = describe(fault);
    let ok = (entered == 1
        && (srip, scs) == (0, 3)
        && sflags & 0x100 != 0
        && (v, rip, user) == (6, back, true))
        || (entered == 0 && (v, rip, user) == (6, sysenter, true));
    println!(
        "test=compat: single-stepped sysenter: {entered} sysenter callback(s) (frame rip {srip:#x} cs {scs:#x} TF {}), then {} at rip {rip:#x}: {}",
        u8::from(sflags & 0x100 != 0),
        traps::name(v),
        verdict(ok)
    );
    println!(
        "test=compat: user page tables released: {}",
        verdict(space.release(&sp))
    );
    true
}
