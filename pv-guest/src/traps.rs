//! The guest kernel's exception handlers, failsafe and syscall callbacks, and `catch`, which
//! runs code that may fault and reports the fault instead of dying.
//!
//! Every handler is entered on a Xen bounce frame (`rcx, r11, [error code | ds es fs gs],
//! rip, cs, rflags, rsp, ss`) and returns through the `iret` hypercall. Handlers report and
//! recover where possible: a fault inside [`catch`] resumes after the `catch` with the fault
//! described; #BP continues; #NM (after `fpu_taskswitch(1)`) is counted and the instruction
//! retried; anything else is reported and the domain shuts down as crashed.

use crate::println;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use guest_abi::arch::{TrapInfo, FLAT_KERNEL_CS64, FLAT_KERNEL_SS64};
use guest_abi::arch::{FLAT_USER_CS32, FLAT_USER_SS};
use guest_abi::callback::{
    CallbackRegister, CALLBACKF_MASK_EVENTS, CALLBACKTYPE_FAILSAFE, CALLBACKTYPE_SYSCALL32,
    CALLBACKTYPE_SYSENTER,
};
use guest_abi::guest;
use guest_abi::hypercall::{nr, HYPERCALL_PAGE_SLOT_SIZE};
use guest_abi::sched::ShutdownReason;

/// What a fault inside [`catch`] looked like.
#[derive(Clone, Copy, Debug)]
pub struct Fault {
    /// Exception vector (`FAILSAFE` for the failsafe callback).
    pub vector: u32,
    /// Error code (0 if none).
    pub error: u64,
    /// CR2 as the hypervisor reported it (page faults).
    pub cr2: u64,
    /// Where it happened.
    pub rip: u64,
    /// Whether it came from guest user mode (RPL 3 in the frame's CS).
    pub from_user: bool,
}

/// `Fault::vector` of a failsafe callback (a bad `iret` context).
pub const FAILSAFE: u32 = 0x200;
const SYSCALL: u32 = 0x100;
const SYSCALL32: u32 = 0x300;
const SYSENTER: u32 = 0x301;
const RFLAGS_TF: u64 = 1 << 8;
const HAS_ERR: u32 = 0x1000;

/// Vectors with a handler: #DE, #DB, #BP, #OF, #BR, #UD, #NM, #TS, #NP, #SS, #GP, #PF, #MF,
/// #AC, #XM.
const VECTORS: [u8; 15] = [0, 1, 3, 4, 5, 6, 7, 10, 11, 12, 13, 14, 16, 17, 19];

static ARMED: AtomicBool = AtomicBool::new(false);
#[no_mangle]
static mut PV_CATCH_RSP: u64 = 0;
static F_VECTOR: AtomicU64 = AtomicU64::new(0);
static F_ERROR: AtomicU64 = AtomicU64::new(0);
static F_CR2: AtomicU64 = AtomicU64::new(0);
static F_RIP: AtomicU64 = AtomicU64::new(0);
static F_USER: AtomicBool = AtomicBool::new(false);
/// Virtual NMIs taken (`xl trigger <domain> nmi`).
static NMIS: AtomicU64 = AtomicU64::new(0);
/// NMIs already reported by [`report_nmis`].
static NMIS_REPORTED: AtomicU64 = AtomicU64::new(0);
/// #NM exceptions taken (lazy FPU protocol of the guest's own).
pub static NM_COUNT: AtomicU64 = AtomicU64::new(0);
/// Where `vcpu_info[0]` is mapped (for CR2), 0 until [`install`].
static VCPU_INFO: AtomicU64 = AtomicU64::new(0);
/// The guest kernel's system-call handler for its user tasks: (number, argument) → result.
static SYSCALL_FN: AtomicU64 = AtomicU64::new(0);

/// What the 32-bit user entries delivered: counts per entry, the CS a syscall callback saw
/// last, and the frame (rip, cs, rflags) the last sysenter callback got.
pub struct EntryLog {
    pub syscall64: AtomicU64,
    pub syscall32: AtomicU64,
    pub sysenter: AtomicU64,
    pub last_syscall_cs: AtomicU64,
    pub sysenter_frame: [AtomicU64; 3],
}

/// The log of user-task entries.
pub static ENTRIES: EntryLog = EntryLog {
    syscall64: AtomicU64::new(0),
    syscall32: AtomicU64::new(0),
    sysenter: AtomicU64::new(0),
    last_syscall_cs: AtomicU64::new(0),
    sysenter_frame: [AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)],
};

macro_rules! save_restore_body {
    ($label:literal, $skip:literal) => {
        concat!(
            $label,
            ":\n",
            "push rbx\npush rcx\npush rdx\npush rsi\npush rdi\npush rbp\n",
            "push r8\npush r9\npush r10\npush r11\npush r12\npush r13\npush r14\npush r15\n",
            "mov rdi, rsp\nmov esi, eax\nmov rbx, rsp\nand rsp, -16\n",
            "call {rust}\n",
            "mov rsp, rbx\n",
            "pop r15\npop r14\npop r13\npop r12\npop r11\npop r10\npop r9\npop r8\n",
            "pop rbp\npop rdi\npop rsi\npop rdx\npop rcx\npop rbx\n",
            "pop rax\npop rcx\npop r11\n",
            $skip,
            "\npush 0\n",
            "jmp hypercall_page + {iret}\n",
        )
    };
}

macro_rules! stub {
    ($v:literal, $info:expr) => {
        concat!("pv_trap_", $v, ":\npush rax\nmov eax, ", $info, "\njmp ",)
    };
}

core::arch::global_asm!(
    ".pushsection .text.pvtraps, \"ax\"",
    save_restore_body!("pv_common_noerr", ""),
    save_restore_body!("pv_common_err", "add rsp, 8"),
    save_restore_body!("pv_common_failsafe", "add rsp, 32"),
    concat!(stub!("0", "0"), "pv_common_noerr"),
    concat!(stub!("1", "1"), "pv_common_noerr"),
    concat!(stub!("2", "2"), "pv_common_noerr"),
    concat!(stub!("3", "3"), "pv_common_noerr"),
    concat!(stub!("4", "4"), "pv_common_noerr"),
    concat!(stub!("5", "5"), "pv_common_noerr"),
    concat!(stub!("6", "6"), "pv_common_noerr"),
    concat!(stub!("7", "7"), "pv_common_noerr"),
    concat!(stub!("10", "0x100a"), "pv_common_err"),
    concat!(stub!("11", "0x100b"), "pv_common_err"),
    concat!(stub!("12", "0x100c"), "pv_common_err"),
    concat!(stub!("13", "0x100d"), "pv_common_err"),
    concat!(stub!("14", "0x100e"), "pv_common_err"),
    concat!(stub!("16", "16"), "pv_common_noerr"),
    concat!(stub!("17", "0x1011"), "pv_common_err"),
    concat!(stub!("19", "19"), "pv_common_noerr"),
    concat!(stub!("syscall", "0x100"), "pv_common_noerr"),
    concat!(stub!("syscall32", "0x300"), "pv_common_noerr"),
    concat!(stub!("sysenter", "0x301"), "pv_common_noerr"),
    concat!(stub!("failsafe", "0x200"), "pv_common_failsafe"),
    // pv_catch(func, arg): 0 if func(arg) returned, 1 if a fault resumed at pv_catch_recover.
    "pv_catch:",
    "push rbx\npush rbp\npush r12\npush r13\npush r14\npush r15\nsub rsp, 8",
    "mov [rip + PV_CATCH_RSP], rsp",
    "mov rax, rdi\nmov rdi, rsi\ncall rax",
    "xor eax, eax\njmp 2f",
    "pv_catch_recover:",
    "mov rsp, [rip + PV_CATCH_RSP]",
    "mov eax, 1",
    "2:",
    "add rsp, 8\npop r15\npop r14\npop r13\npop r12\npop rbp\npop rbx\nret",
    ".popsection",
    rust = sym pv_trap_rust,
    iret = const nr::IRET * HYPERCALL_PAGE_SLOT_SIZE,
);

extern "C" {
    fn pv_catch(func: extern "C" fn(*mut u8), arg: *mut u8) -> u64;
    fn pv_catch_recover();
    fn pv_trap_0();
    fn pv_trap_1();
    fn pv_trap_2();
    fn pv_trap_3();
    fn pv_trap_4();
    fn pv_trap_5();
    fn pv_trap_6();
    fn pv_trap_7();
    fn pv_trap_10();
    fn pv_trap_11();
    fn pv_trap_12();
    fn pv_trap_13();
    fn pv_trap_14();
    fn pv_trap_16();
    fn pv_trap_17();
    fn pv_trap_19();
    fn pv_trap_syscall();
    fn pv_trap_syscall32();
    fn pv_trap_sysenter();
    fn pv_trap_failsafe();
}

fn addr(f: unsafe extern "C" fn()) -> u64 {
    f as *const () as u64
}

fn handler(v: u8) -> u64 {
    addr(match v {
        0 => pv_trap_0,
        1 => pv_trap_1,
        3 => pv_trap_3,
        4 => pv_trap_4,
        5 => pv_trap_5,
        6 => pv_trap_6,
        7 => pv_trap_7,
        10 => pv_trap_10,
        11 => pv_trap_11,
        12 => pv_trap_12,
        13 => pv_trap_13,
        14 => pv_trap_14,
        16 => pv_trap_16,
        17 => pv_trap_17,
        _ => pv_trap_19,
    })
}

/// The address of the syscall callback entry (for `callback_op`).
pub fn syscall_entry() -> u64 {
    addr(pv_trap_syscall)
}

/// The address of the failsafe callback entry.
pub fn failsafe_entry() -> u64 {
    addr(pv_trap_failsafe)
}

/// Register the trap table and the failsafe callback; `vcpu_info_va` is where this
/// kernel mapped `vcpu_info[0]` (for CR2), or 0.
pub fn install(vcpu_info_va: u64) {
    VCPU_INFO.store(vcpu_info_va, Ordering::Relaxed);
    let mut table = [TrapInfo::default(); VECTORS.len() + 1];
    for (t, &v) in table.iter_mut().zip(VECTORS.iter()) {
        // int3 may be used from the kernel (ring 3): DPL 3.
        let dpl = if v == 3 { 3 } else { 0 };
        *t = TrapInfo::new(v, dpl, false, FLAT_KERNEL_CS64, handler(v));
    }
    // SAFETY: every entry points at a handler of this module; the table ends with address 0.
    if let Err(e) = unsafe { guest::set_trap_table(&table) } {
        println!("pv-guest: set_trap_table failed: {e:?}");
    }
    let cb = CallbackRegister {
        type_: CALLBACKTYPE_FAILSAFE,
        flags: 0,
        _pad: 0,
        address: failsafe_entry(),
    };
    // SAFETY: the failsafe entry is a handler of this module.
    if let Err(e) = unsafe { guest::callback_register(&cb) } {
        println!("pv-guest: failsafe callback registration failed: {e:?}");
    }
}

/// Register the same trap table and failsafe callback for the calling vCPU (Xen keeps them
/// per vCPU: one started by `VCPUOP_initialise` has only what its context gave).
pub fn install_on_this_vcpu() {
    install(VCPU_INFO.load(Ordering::Relaxed));
}

/// Register the NMI handler (`CALLBACKTYPE_NMI`): it only counts; [`report_nmis`] tells.
pub fn install_nmi_handler() {
    let cb = CallbackRegister {
        type_: guest_abi::callback::CALLBACKTYPE_NMI,
        flags: 0,
        _pad: 0,
        address: addr(pv_trap_2),
    };
    // SAFETY: the NMI entry is a handler of this module.
    if let Err(e) = unsafe { guest::callback_register(&cb) } {
        println!("pv-guest: NMI callback registration failed: {e:?}");
    }
}

/// NMIs taken so far.
pub fn nmi_count() -> u64 {
    NMIS.load(Ordering::SeqCst)
}

/// Print a line for NMIs taken since the last report (outside the handler: it may have
/// interrupted anything, the console included).
pub fn report_nmis() {
    let n = NMIS.load(Ordering::SeqCst);
    if NMIS_REPORTED.swap(n, Ordering::SeqCst) != n {
        println!("pv-guest: NMI received ({n} so far)");
    }
}

/// Register `f` as the system-call handler for user tasks, entered on `kernel_stack_top`.
pub fn set_syscall_handler(f: fn(u64, u64) -> u64, kernel_stack_top: u64) {
    SYSCALL_FN.store(f as *const () as u64, Ordering::Relaxed);
    let cb = CallbackRegister {
        type_: guest_abi::callback::CALLBACKTYPE_SYSCALL,
        flags: CALLBACKF_MASK_EVENTS,
        _pad: 0,
        address: syscall_entry(),
    };
    // SAFETY: the syscall entry is a handler of this module; the stack is ours and unused.
    unsafe {
        if let Err(e) = guest::callback_register(&cb) {
            println!("pv-guest: syscall callback registration failed: {e:?}");
        }
        if let Err(e) = guest::stack_switch(FLAT_KERNEL_SS64, kernel_stack_top) {
            println!("pv-guest: stack_switch failed: {e:?}");
        }
    }
}

/// Register the 32-bit user-mode entries (compat `syscall`, `sysenter`) with events masked:
/// the compat syscall runs the same handler as `syscall`; a `sysenter` returns to the task at
/// its edx with its ecx as stack (this kernel's convention; the CPU saves neither).
pub fn set_compat_entries() -> Result<(), guest_abi::errno::Errno> {
    for (type_, f) in [
        (
            CALLBACKTYPE_SYSCALL32,
            pv_trap_syscall32 as unsafe extern "C" fn(),
        ),
        (CALLBACKTYPE_SYSENTER, pv_trap_sysenter),
    ] {
        let cb = CallbackRegister {
            type_,
            flags: CALLBACKF_MASK_EVENTS,
            _pad: 0,
            address: addr(f),
        };
        // SAFETY: both entries are handlers of this module.
        unsafe { guest::callback_register(&cb)? };
    }
    Ok(())
}

extern "C" fn trampoline<F: FnOnce()>(arg: *mut u8) {
    // SAFETY: `catch` passes a pointer to its live `Option<F>`.
    let f = unsafe { &mut *(arg as *mut Option<F>) };
    if let Some(f) = f.take() {
        f();
    }
}

/// Run `f`; if it faults (or its `iret` needs the failsafe callback), resume here and
/// return the fault. What `f` owned when it faulted is leaked, not dropped.
pub fn catch<F: FnOnce()>(f: F) -> Option<Fault> {
    let mut slot = Some(f);
    ARMED.store(true, Ordering::SeqCst);
    // SAFETY: pv_catch saves the callee-saved registers and stack pointer, calls the
    // trampoline with our slot and restores them on either return path.
    let faulted = unsafe { pv_catch(trampoline::<F>, &mut slot as *mut Option<F> as *mut u8) };
    ARMED.store(false, Ordering::SeqCst);
    (faulted != 0).then(|| Fault {
        vector: F_VECTOR.load(Ordering::SeqCst) as u32,
        error: F_ERROR.load(Ordering::SeqCst),
        cr2: F_CR2.load(Ordering::SeqCst),
        rip: F_RIP.load(Ordering::SeqCst),
        from_user: F_USER.load(Ordering::SeqCst),
    })
}

/// Mnemonic of a vector.
pub fn name(v: u32) -> &'static str {
    match v {
        0 => "#DE",
        1 => "#DB",
        3 => "#BP",
        6 => "#UD",
        7 => "#NM",
        10 => "#TS",
        11 => "#NP",
        12 => "#SS",
        13 => "#GP",
        14 => "#PF",
        16 => "#MF",
        17 => "#AC",
        19 => "#XM",
        FAILSAFE => "failsafe",
        _ => "exception",
    }
}

fn cr2() -> u64 {
    let vi = VCPU_INFO.load(Ordering::Relaxed);
    if vi == 0 {
        return 0;
    }
    // SAFETY: `vi` is our mapping of vcpu_info[0]; arch.cr2 is at offset 16.
    unsafe { core::ptr::read_volatile((vi + 16) as *const u64) }
}

/// Called by the stubs with the saved registers (`r15 .. rbx, rax`: 15 words) followed by
/// the bounce frame.
extern "C" fn pv_trap_rust(gprs: *mut u64, info: u32) {
    // SAFETY: the stub passes its own stack, holding the 15 saved registers and the bounce
    // frame the hypervisor wrote right above them.
    let regs = unsafe { core::slice::from_raw_parts_mut(gprs, 15 + 2 + 4 + 5) };
    let vector = info & 0x3FF;
    let middle = match vector {
        FAILSAFE => 4,
        _ if info & HAS_ERR != 0 => 1,
        _ => 0,
    };
    let vector = if matches!(vector, FAILSAFE | SYSCALL | SYSCALL32 | SYSENTER) {
        vector
    } else {
        vector & 0xFF
    };
    let error = if middle == 1 { regs[17] } else { 0 };
    let rip_at = 17 + middle;
    let (rip, cs) = (regs[rip_at], regs[rip_at + 1]);
    if vector == SYSCALL || vector == SYSCALL32 {
        let log = &ENTRIES;
        let (count, mask) = if vector == SYSCALL {
            (&log.syscall64, u64::MAX)
        } else {
            (&log.syscall32, u64::from(u32::MAX))
        };
        count.fetch_add(1, Ordering::SeqCst);
        log.last_syscall_cs.store(cs & 0xFFFF, Ordering::SeqCst);
        let f = SYSCALL_FN.load(Ordering::Relaxed);
        let r = if f == 0 {
            u64::MAX
        } else {
            // SAFETY: only `set_syscall_handler` stores here, a `fn(u64, u64) -> u64`.
            let f: fn(u64, u64) -> u64 = unsafe { core::mem::transmute(f as usize) };
            f(regs[14] & mask, regs[9] & mask)
        };
        regs[14] = r & mask;
        return;
    }
    if vector == SYSENTER {
        let log = &ENTRIES;
        log.sysenter.fetch_add(1, Ordering::SeqCst);
        for (slot, v) in log.sysenter_frame.iter().zip([rip, cs & 0xFFFF, regs[19]]) {
            slot.store(v, Ordering::SeqCst);
        }
        // Back to the task: rip = its edx, rsp = its ecx (saved in the frame's rcx slot).
        regs[17] = regs[11] & u64::from(u32::MAX);
        regs[18] = u64::from(FLAT_USER_CS32);
        regs[19] &= !RFLAGS_TF;
        regs[20] = regs[15] & u64::from(u32::MAX);
        regs[21] = u64::from(FLAT_USER_SS);
        return;
    }
    if vector == 2 {
        // An NMI may interrupt anything (a caught fault's handler too): count it only.
        NMIS.fetch_add(1, Ordering::SeqCst);
        return;
    }
    if ARMED.swap(false, Ordering::SeqCst) {
        F_VECTOR.store(u64::from(vector), Ordering::SeqCst);
        F_ERROR.store(error, Ordering::SeqCst);
        F_CR2.store(if vector == 14 { cr2() } else { 0 }, Ordering::SeqCst);
        F_RIP.store(rip, Ordering::SeqCst);
        F_USER.store(cs & 3 == 3, Ordering::SeqCst);
        // Resume in kernel mode at the catch point.
        regs[rip_at] = pv_catch_recover as *const () as u64;
        regs[rip_at + 1] = u64::from(FLAT_KERNEL_CS64 & !3);
        regs[rip_at + 2] = (regs[rip_at + 2] | 1 << 9) & !RFLAGS_TF;
        // SAFETY: written by pv_catch before any fault can be armed.
        regs[rip_at + 3] = unsafe { PV_CATCH_RSP };
        regs[rip_at + 4] = u64::from(FLAT_KERNEL_SS64);
        return;
    }
    match vector {
        3 => println!("pv-guest: breakpoint (#BP) at rip {rip:#x}, continuing"),
        // fpu_taskswitch(1) was in force: the hypervisor loaded our FPU state and cleared
        // our TS; nothing else to do but retry.
        7 => {
            NM_COUNT.fetch_add(1, Ordering::SeqCst);
        }
        _ => {
            println!(
                "pv-guest: unhandled {} at rip {rip:#x} (cs {cs:#x}), error {error:#x}, cr2 {:#x}",
                name(vector),
                if vector == 14 { cr2() } else { 0 }
            );
            let _ = guest::sched_shutdown(ShutdownReason::Crash);
            crate::idle();
        }
    }
}
