//! `selftest=ring3`: enters ring 3 in a fresh address space (the idle L4's hole slots plus a
//! user code and stack page), where the code makes 5 `syscall`s (each returning by `sysretq`
//! with rax incremented by the handler), waits for a LAPIC timer interrupt taken in ring 3,
//! then executes `hlt`, which must arrive as #GP. Prints the verdict and exits QEMU
//! (0x10 on success, 0x11 on failure). `selftest=fault` checks the fatal ring-0 fault path.

use super::{entry, exit::qemu_exit, lapic, paging};
use crate::arch::CpuUserRegs;
use crate::phys::{directmap, frames};
use crate::xen_println;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

const CODE_VA: u64 = 0x40_0000;
const STACK_VA: u64 = 0x80_0000;
const SYSCALLS: u64 = 5;
/// mov $5,%ebx; 1: syscall; dec %ebx; jnz 1b; 2: test %r12,%r12; jz 2b; hlt
const CODE: [u8; 17] = [
    0xbb, 0x05, 0x00, 0x00, 0x00, 0x0f, 0x05, 0xff, 0xcb, 0x75, 0xfa, 0x4d, 0x85, 0xe4, 0x74, 0xfb,
    0xf4,
];
const HLT_OFFSET: u64 = 16;

static SYSCALL_COUNT: AtomicU64 = AtomicU64::new(0);
static TIMER_SEEN: AtomicBool = AtomicBool::new(false);

/// Whether the self-test owns guest entries.
pub fn active() -> bool {
    entry::raw_entries()
}

/// Runs the self-test; never returns.
pub fn ring3() -> ! {
    let l4 = frames::alloc().expect("selftest: no memory");
    paging::copy_hypervisor_slots(l4);
    let code = frames::alloc().expect("selftest: no memory");
    let stack = frames::alloc().expect("selftest: no memory");
    // SAFETY: `code` was just allocated and is direct-mapped; nothing else uses it.
    unsafe {
        core::ptr::copy_nonoverlapping(CODE.as_ptr(), directmap::mfn_to_virt(code), CODE.len())
    };
    paging::map_4k(l4, CODE_VA, code.addr(), paging::US).expect("selftest: map code");
    paging::map_4k(
        l4,
        STACK_VA,
        stack.addr(),
        paging::US | paging::RW | paging::nx(),
    )
    .expect("selftest: map stack");
    // SAFETY: single CPU, interrupts off: nothing else touches the fixed frame now.
    let r = unsafe { &mut *entry::guest_regs() };
    *r = CpuUserRegs::default();
    r.rip = CODE_VA;
    r.rsp = STACK_VA + 4096;
    r.cs = super::gdt::FLAT_RING3_CS64;
    r.ss = super::gdt::FLAT_RING3_DS;
    r.rflags = 0x202;
    entry::set_raw_entries(true);
    super::cpu::write_cr3(l4.addr());
    entry::enter_guest()
}

/// `selftest=fault`: a ring-0 page fault (reading unmapped VA 0x1000), which must end in a
/// register dump, `(XEN) PANIC` and exit 0x12.
pub fn ring0_fault() -> ! {
    xen_println!("selftest fault: reading unmapped address 0x1000 in ring 0");
    // SAFETY: deliberately faults; the fault handler never returns here.
    let v = unsafe { core::ptr::read_volatile(0x1000 as *const u64) };
    xen_println!("selftest fault: FAILED, read {v:#x}");
    qemu_exit(0x11)
}

/// A `syscall` from the test code.
pub fn on_syscall(regs: &mut CpuUserRegs) {
    regs.rax += 1;
    if SYSCALL_COUNT.fetch_add(1, Ordering::Relaxed) + 1 == SYSCALLS {
        lapic::timer_oneshot_ns(1_000_000);
    }
}

/// An interrupt while the test code ran.
pub fn on_interrupt(regs: &mut CpuUserRegs) {
    if regs.entry_vector == u32::from(lapic::TIMER_VECTOR) && regs.cs & 3 == 3 {
        TIMER_SEEN.store(true, Ordering::Relaxed);
        regs.r12 = 1;
    }
}

/// An exception from the test code: the verdict.
pub fn on_exception(regs: &mut CpuUserRegs) -> ! {
    let n = SYSCALL_COUNT.load(Ordering::Relaxed);
    let ok = regs.entry_vector == 13
        && regs.rip == CODE_VA + HLT_OFFSET
        && regs.rax == SYSCALLS
        && n == SYSCALLS
        && TIMER_SEEN.load(Ordering::Relaxed);
    if TIMER_SEEN.load(Ordering::Relaxed) {
        xen_println!("selftest ring3: LAPIC timer interrupt taken from ring 3");
    }
    if ok {
        xen_println!("selftest ring3: OK ({n} syscalls, #GP on hlt)");
        qemu_exit(0x10)
    }
    xen_println!(
        "selftest ring3: FAILED: vector {} error {:#x} rip {:#x} rax {} syscalls {n}",
        regs.entry_vector,
        regs.error_code,
        regs.rip,
        regs.rax
    );
    qemu_exit(0x11)
}
