//! Entry and exit paths. Every entry from ring 3 saves the guest's registers as a
//! `CpuUserRegs` in the fixed frame at the top of the hypervisor stack (TSS.RSP0 = its `es`
//! field, so the CPU pushes rip..ss in place and the stub the error code and the GPRs below);
//! `syscall` builds the same frame by hand with `entry_vector = 0x100`. `enter_guest`
//! restores from that frame by `sysretq` or `iretq`.

use super::boot::STACK_SIZE;
use super::gdt::{FLAT_RING3_CS32, FLAT_RING3_CS64, FLAT_RING3_DS};
use crate::arch::CpuUserRegs;
use core::arch::global_asm;
use core::sync::atomic::{AtomicBool, Ordering};

/// `entry_vector` of a `syscall` entry (Xen's TRAP_syscall).
pub use guest_abi::arch::TRAP_SYSCALL;

/// Offset of `es` in `CpuUserRegs` (TSS.RSP0 points there).
const ES_OFFSET: usize = 168;
/// The frame's size.
const FRAME_SIZE: usize = 200;

const _: () = assert!(core::mem::size_of::<CpuUserRegs>() == FRAME_SIZE);
const _: () = assert!(core::mem::offset_of!(CpuUserRegs, es) == ES_OFFSET);
const _: () = assert!(core::mem::offset_of!(CpuUserRegs, rip) == 128);
const _: () = assert!(core::mem::offset_of!(CpuUserRegs, cs) == 136);
const _: () = assert!(core::mem::offset_of!(CpuUserRegs, error_code) == 120);

macro_rules! save_gprs {
    () => {
        "push rdi; push rsi; push rdx; push rcx; push rax; push r8; push r9; push r10; push r11; \
         push rbx; push rbp; push r12; push r13; push r14; push r15"
    };
}
macro_rules! restore_gprs {
    () => {
        "pop r15; pop r14; pop r13; pop r12; pop rbp; pop rbx; pop r11; pop r10; pop r9; pop r8; \
         pop rax; pop rcx; pop rdx; pop rsi; pop rdi"
    };
}

/// The `syscall` entry stubs, one per CPU (LSTAR and CSTAR are per CPU, and `syscall` gives
/// no stack: each CPU's stub names its own frame and scratch slot). A stub switches to the
/// fixed frame, builds rip..ss there with code selector `cs`, the GPRs below, and calls
/// `from`.
macro_rules! syscall_stubs {
    () => {
        concat!(
            ".macro HV_SYSCALL_STUB name, top, scratch, cs, from\n",
            ".global \\name\n",
            "\\name:\n",
            "mov [rip + \\scratch], rsp\n",
            "lea rsp, [rip + \\top - {top_to_es}]\n",
            "push {ss}\n",
            "push qword ptr [rip + \\scratch]\n",
            "push r11\n",
            "push \\cs\n",
            "push rcx\n",
            "push 0\n",
            "mov dword ptr [rsp + 4], {trap_syscall}\n",
            save_gprs!(),
            "\n",
            "cld\n",
            "mov rdi, rsp\n",
            "and rsp, -16\n",
            "call \\from\n",
            "ud2\n",
            ".endm\n",
            // CPU 0 (the boot processor) on the boot stack.
            "HV_SYSCALL_STUB hv_syscall_entry, hv_stack_top, hv_syscall_scratch, {cs64}, {from_syscall}\n",
            "HV_SYSCALL_STUB hv_syscall32_entry, hv_stack_top, hv_syscall_scratch, {cs32}, {from_syscall32}\n",
            // CPU n >= 1 on the top of its slot n - 1 of hv_ap_stacks.
            ".irp n, 1, 2, 3, 4, 5, 6, 7\n",
            "HV_SYSCALL_STUB hv_syscall_entry_\\n, hv_ap_stacks + \\n * {stack}, hv_syscall_scratch + \\n * 8, {cs64}, {from_syscall}\n",
            "HV_SYSCALL_STUB hv_syscall32_entry_\\n, hv_ap_stacks + \\n * {stack}, hv_syscall_scratch + \\n * 8, {cs32}, {from_syscall32}\n",
            ".endr\n",
            ".pushsection .rodata.hv_syscall_entries, \"a\"\n",
            ".balign 8\n",
            ".global hv_syscall_entries\n",
            "hv_syscall_entries:\n",
            ".quad hv_syscall_entry\n",
            ".irp n, 1, 2, 3, 4, 5, 6, 7\n",
            ".quad hv_syscall_entry_\\n\n",
            ".endr\n",
            ".global hv_syscall32_entries\n",
            "hv_syscall32_entries:\n",
            ".quad hv_syscall32_entry\n",
            ".irp n, 1, 2, 3, 4, 5, 6, 7\n",
            ".quad hv_syscall32_entry_\\n\n",
            ".endr\n",
            ".popsection\n",
            // Each CPU's syscall scratch slot (its guest's rsp while the frame is built).
            ".pushsection .bss.hv_syscall_scratch, \"aw\", @nobits\n",
            ".balign 64\n",
            "hv_syscall_scratch:\n",
            ".skip {scratch_size}\n",
            // The application processors' stacks (CPU n: slot n - 1), each with the guest
            // frame at its top and a guard page (unmapped in the idle tables) at its bottom.
            ".pushsection .bss.hv_ap_stacks, \"aw\", @nobits\n",
            ".balign 4096\n",
            ".global hv_ap_stacks\n",
            "hv_ap_stacks:\n",
            ".skip {ap_stacks_size}\n",
            ".popsection\n",
            ".popsection\n",
        )
    };
}

/// The stubs above are written out for eight CPUs.
const _: () = assert!(crate::cpus::MAX_CPUS == 8);

global_asm!(
    ".section .text.entry, \"ax\"",
    // Interrupt/exception stubs land here with the error-code slot on top of the stack.
    ".global hv_entry_common",
    "hv_entry_common:",
    save_gprs!(),
    "cld",
    "mov rdi, rsp",
    "test byte ptr [rsp + 136], 3",
    "jz 1f",
    // From ring 3: rsp is the fixed frame.
    "and rsp, -16",
    "call {from_guest}",
    "ud2",
    "1:",
    "mov rbx, rsp",
    "and rsp, -16",
    "call {from_hv}",
    "mov rsp, rbx",
    restore_gprs!(),
    "add rsp, 8",
    "iretq",
    // NMI, #DF, #MC: on their IST stacks, never the fixed frame.
    ".global hv_entry_kernel",
    "hv_entry_kernel:",
    save_gprs!(),
    "cld",
    "mov rdi, rsp",
    "jmp 1b",
    // syscall from ring 3: rcx = rip, r11 = rflags, rsp = guest's; IF is off (FMASK). The
    // same from compat mode (CSTAR): the frame says FLAT_RING3_CS32.
    syscall_stubs!(),
    // sysenter from ring 3: rsp = SYSENTER_ESP = the fixed frame's `es` slot; IF is off. The
    // CPU saves neither rip nor rsp: as Xen, the frame holds rip 0, rsp 0, cs 3 (a null ring-3
    // selector). TF survives sysenter: a single step taken in the first instructions here is
    // absorbed by the ring-0 #DB handler (see `sysenter_step`), up to `hv_sysenter_flags_saved`.
    ".global hv_sysenter_entry",
    "hv_sysenter_entry:",
    "push {ss}",
    "push 0",
    "pushfq",
    ".global hv_sysenter_flags_saved",
    "hv_sysenter_flags_saved:",
    "push 3",
    "push 0",
    "push 0",
    "mov dword ptr [rsp + 4], {trap_syscall}",
    save_gprs!(),
    "cld",
    "mov rdi, rsp",
    "and rsp, -16",
    "call {from_sysenter}",
    "ud2",
    // rdi = the fixed frame.
    ".global hv_restore_iret",
    "hv_restore_iret:",
    "mov rsp, rdi",
    restore_gprs!(),
    "add rsp, 8",
    "iretq",
    ".global hv_restore_sysret",
    "hv_restore_sysret:",
    "mov rsp, rdi",
    restore_gprs!(),
    "mov rcx, [rsp + 8]",
    "mov r11, [rsp + 24]",
    "mov rsp, [rsp + 32]",
    "sysretq",
    from_guest = sym super::trap::hv_trap_from_guest,
    from_hv = sym super::trap::hv_trap_from_hypervisor,
    from_syscall = sym super::trap::hv_syscall_from_guest,
    from_syscall32 = sym super::trap::hv_syscall32_from_guest,
    from_sysenter = sym super::trap::hv_sysenter_from_guest,
    top_to_es = const FRAME_SIZE - ES_OFFSET,
    stack = const STACK_SIZE,
    scratch_size = const 8 * crate::cpus::MAX_CPUS,
    ap_stacks_size = const STACK_SIZE * (crate::cpus::MAX_CPUS - 1),
    ss = const FLAT_RING3_DS as u32,
    cs64 = const FLAT_RING3_CS64 as u32,
    cs32 = const FLAT_RING3_CS32 as u32,
    trap_syscall = const TRAP_SYSCALL,
);

extern "C" {
    static hv_syscall_entries: [u64; crate::cpus::MAX_CPUS];
    static hv_syscall32_entries: [u64; crate::cpus::MAX_CPUS];
    fn hv_sysenter_entry();
    fn hv_sysenter_flags_saved();
    fn hv_restore_iret(frame: *mut CpuUserRegs) -> !;
    fn hv_restore_sysret(frame: *mut CpuUserRegs) -> !;
}

/// Set while the boot self-test owns guest entries: `enter_guest` skips the generic
/// dispatch hooks (upcalls, console drain) then.
static RAW_ENTRIES: AtomicBool = AtomicBool::new(false);

/// Whether guest entries bypass the generic dispatch hooks (the boot self-test).
pub fn raw_entries() -> bool {
    RAW_ENTRIES.load(Ordering::Relaxed)
}

/// Let the boot self-test own guest entries (`true`) or give them back.
pub fn set_raw_entries(on: bool) {
    RAW_ENTRIES.store(on, Ordering::Relaxed);
}

/// CPU `cpu`'s fixed guest frame, at the top of its stack.
pub fn guest_regs_of(cpu: usize) -> *mut CpuUserRegs {
    (super::stacks::stack_top(cpu) - FRAME_SIZE as u64) as *mut CpuUserRegs
}

/// This CPU's fixed guest frame.
pub fn guest_regs() -> *mut CpuUserRegs {
    guest_regs_of(super::stacks::this_cpu())
}

/// TSS.RSP0 and SYSENTER_ESP of CPU `cpu`: the address of its fixed frame's `es` field.
pub fn rsp0_of(cpu: usize) -> u64 {
    guest_regs_of(cpu) as u64 + ES_OFFSET as u64
}

/// TSS.RSP0 of the boot processor.
pub fn rsp0() -> u64 {
    rsp0_of(0)
}

/// CPU `cpu`'s `syscall` entry point for its LSTAR.
pub fn syscall_entry_addr(cpu: usize) -> u64 {
    assert!(cpu < crate::cpus::MAX_CPUS);
    // SAFETY: a table of MAX_CPUS code addresses built by the assembler, never written.
    unsafe {
        (&raw const hv_syscall_entries)
            .cast::<u64>()
            .add(cpu)
            .read()
    }
}

/// CPU `cpu`'s compat-mode `syscall` entry point for its CSTAR.
pub fn syscall32_entry_addr(cpu: usize) -> u64 {
    assert!(cpu < crate::cpus::MAX_CPUS);
    // SAFETY: as `syscall_entry_addr`.
    unsafe {
        (&raw const hv_syscall32_entries)
            .cast::<u64>()
            .add(cpu)
            .read()
    }
}

/// The `sysenter` entry point for SYSENTER_EIP.
pub fn sysenter_entry_addr() -> u64 {
    hv_sysenter_entry as *const () as u64
}

/// Whether a ring-0 #DB at `rip` is the single step a guest's TF causes right after its
/// `sysenter`, before the entry stub has saved RFLAGS (which then carry TF to the guest).
pub fn sysenter_step(rip: u64) -> bool {
    (sysenter_entry_addr()..=hv_sysenter_flags_saved as *const () as u64).contains(&rip)
}

const RFLAGS_IF: u64 = 1 << 9;
/// Flags a guest never gets: TF stays theirs; IOPL, NT, RF, VM, VIF, VIP are cleared.
const RFLAGS_FORBIDDEN: u64 = (3 << 12) | (1 << 14) | (1 << 16) | (1 << 17) | (1 << 19) | (1 << 20);

/// Whether `iretq` can return to this frame without faulting in ring 0: ring-3 selectors the
/// live GDT/LDT make usable (the flat ones or the guest's own) and a rip the code segment
/// can hold (canonical for 64-bit code, below 4 GiB for 32-bit).
fn frame_ok(r: &CpuUserRegs) -> bool {
    crate::arch::desc::user_return_ok(r.cs, r.ss, r.rip, super::gdt::live_descriptor)
}

/// Enters (or returns to) the guest from the fixed frame: `sysretq` when the frame came from
/// `syscall` (entry_vector bit 8) with a canonical rip and the flat 64-bit ring-3 CS/SS (rcx and
/// r11 become rip and rflags), else `iretq`. Forces IF on and IOPL 0. A frame that cannot be
/// returned to (bad rip or selectors) goes to `dispatch::guest_bad_frame` once, which must
/// replace it (e.g. crash the domain and schedule another); a second bad frame is a panic.
pub fn enter_guest() -> ! {
    let f = guest_regs();
    // SAFETY: the fixed frame is only accessed by the single CPU with interrupts off.
    let r = unsafe { &mut *f };
    if !raw_entries() {
        crate::dispatch::before_guest_entry(r);
    }
    if !frame_ok(r) {
        crate::dispatch::guest_bad_frame(r);
        if !frame_ok(r) {
            panic!(
                "enter_guest: bad frame rip {:#x} cs {:#x} ss {:#x}",
                r.rip, r.cs, r.ss
            );
        }
    }
    r.rflags = (r.rflags | RFLAGS_IF | 2) & !RFLAGS_FORBIDDEN;
    // sysretq loads the flat selectors: only for a frame that has them.
    let sysret =
        r.entry_vector & TRAP_SYSCALL != 0 && r.cs == FLAT_RING3_CS64 && r.ss == FLAT_RING3_DS;
    // SAFETY: the frame holds a ring-3 context with a canonical rip and flat ring-3 selectors
    // (checked above), so neither sysretq nor iretq can fault in ring 0; they never return.
    unsafe {
        if sysret {
            hv_restore_sysret(f)
        } else {
            hv_restore_iret(f)
        }
    }
}
