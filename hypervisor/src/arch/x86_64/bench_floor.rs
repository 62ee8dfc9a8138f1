//! The benchmarks' physical floor, measured at boot when the command line says `bench=`:
//! the raw ring-3 `syscall` + `sysretq` round trip to a minimal ring-0 stub (no register
//! saving, no frame, no dispatch). A null hypercall is this round trip plus the hypervisor's
//! entry path, so `cargo xtask bench` divides one by the other, both from the same boot.
//!
//! Ring-3 code (copied from `bench_floor_user` into a fresh address space that has only the
//! hypervisor slots, a code page and a stack page) reads the TSC, makes `iters` `syscall`s
//! with rax = 0 — each one returns straight away by `sysretq` — reads the TSC again and makes
//! a last `syscall` with rax = 1, which the stub turns into a return to `measure`'s caller.
//! Ring 3 runs with IF clear, so no interrupt lands inside the measurement.
//!
//! Output: `(XEN) BENCH floor_syscall_sysret cycles <s1>,<s2>,...`, one sample (cycles per
//! round trip, one decimal) per run.

use super::{cpu, paging};
use crate::phys::{directmap, frames};
use crate::xen_println;
use alloc::string::String;
use alloc::vec::Vec;
use core::arch::global_asm;
use core::fmt::Write;

const CODE_VA: u64 = 0x40_0000;
const STACK_VA: u64 = 0x80_0000;

global_asm!(
    ".section .text.bench_floor, \"ax\"",
    // Ring 3, position independent: rdi = iterations. Result (cycles) in rbx at the exit.
    ".global bench_floor_user",
    "bench_floor_user:",
    "lfence",
    "rdtsc",
    "shl rdx, 32",
    "or rax, rdx",
    "mov r8, rax",
    "xor eax, eax",
    "2:",
    "syscall",
    "dec rdi",
    "jnz 2b",
    "lfence",
    "rdtsc",
    "shl rdx, 32",
    "or rax, rdx",
    "sub rax, r8",
    "mov rbx, rax",
    "mov eax, 1",
    "syscall",
    "ud2",
    ".global bench_floor_user_end",
    "bench_floor_user_end:",
    // LSTAR during the measurement: rax = 0 returns at once.
    ".global bench_floor_stub",
    "bench_floor_stub:",
    "test rax, rax",
    "jnz 3f",
    "sysretq",
    "3:",
    "mov rsp, [rip + {saved}]",
    "mov rax, rbx",
    "pop r15; pop r14; pop r13; pop r12; pop rbp; pop rbx",
    "ret",
    // extern "C" fn(rip, rsp, iters) -> cycles: enter ring 3 at rip with IF clear.
    ".global bench_floor_enter",
    "bench_floor_enter:",
    "push rbx; push rbp; push r12; push r13; push r14; push r15",
    "mov [rip + {saved}], rsp",
    "mov rcx, rdi",
    "mov rsp, rsi",
    "mov rdi, rdx",
    "mov r11, 2",
    "sysretq",
    saved = sym BENCH_FLOOR_SAVED_RSP,
);

#[no_mangle]
static mut BENCH_FLOOR_SAVED_RSP: u64 = 0;

extern "C" {
    static bench_floor_user: u8;
    static bench_floor_user_end: u8;
    fn bench_floor_stub();
    fn bench_floor_enter(rip: u64, rsp: u64, iters: u64) -> u64;
}

/// Runs and iterations per run for a `bench=` value (`smoke`: tiny, else the full set).
pub fn sizes(mode: &str) -> (usize, u64) {
    if mode == "smoke" {
        (3, 200)
    } else {
        (15, 20_000)
    }
}

/// Measures the floor (`runs` runs of `iters` round trips) and logs it. Boot time only:
/// before any guest exists, with the syscall MSRs set up.
pub fn report(mode: &str) {
    let (runs, iters) = sizes(mode);
    match measure(runs, iters) {
        Some(samples) => {
            let mut line = String::new();
            for (i, c) in samples.iter().enumerate() {
                let sep = if i == 0 { "" } else { "," };
                let _ = write!(line, "{sep}{}.{}", c / 10, c % 10);
            }
            xen_println!("BENCH floor_syscall_sysret cycles {line}");
        }
        None => xen_println!("BENCH floor_syscall_sysret unavailable no-memory"),
    }
}

/// Cycles (tenths) per call of `f`, `runs` runs of `iters` calls.
pub(super) fn per_call(runs: usize, iters: u64, mut f: impl FnMut()) -> String {
    let mut line = String::new();
    for i in 0..runs {
        let t0 = super::cpu::rdtsc();
        for _ in 0..iters {
            f();
        }
        let c = (super::cpu::rdtsc() - t0) * 10 / iters;
        let sep = if i == 0 { "" } else { "," };
        let _ = write!(line, "{sep}{}.{}", c / 10, c % 10);
    }
    line
}

/// What the scheduler's hardware accesses cost here (the UART status read it polls for
/// console input, a LAPIC one-shot reprogramming), so the cost of a scheduling pass can be
/// read against them.
pub fn report_hw(mode: &str) {
    let (runs, iters) = sizes(mode);
    let iters = (iters / 10).max(1);
    let uart = per_call(runs, iters, || {
        core::hint::black_box(crate::console::input_ready());
    });
    xen_println!("BENCH hw_uart_status_read cycles {uart}");
    let lapic = per_call(runs, iters, || {
        super::lapic::timer_oneshot_ns(10_000_000);
    });
    super::lapic::timer_stop();
    xen_println!("BENCH hw_lapic_oneshot cycles {lapic}");
}

/// Per-run cycles per round trip, in tenths of a cycle.
fn measure(runs: usize, iters: u64) -> Option<Vec<u64>> {
    let l4 = frames::alloc()?;
    paging::copy_hypervisor_slots(l4);
    let code = frames::alloc()?;
    let stack = frames::alloc()?;
    let start = &raw const bench_floor_user as u64;
    let len = (&raw const bench_floor_user_end as u64 - start) as usize;
    // SAFETY: `code` was just allocated and is direct-mapped; the source is our own .text,
    // `len` bytes between two labels of the same asm block (far less than a page).
    unsafe {
        core::ptr::copy_nonoverlapping(start as *const u8, directmap::mfn_to_virt(code), len)
    };
    paging::map_4k(l4, CODE_VA, code.addr(), paging::US).ok()?;
    paging::map_4k(
        l4,
        STACK_VA,
        stack.addr(),
        paging::US | paging::RW | paging::nx(),
    )
    .ok()?;
    let old_cr3 = cpu::read_cr3();
    let old_lstar = cpu::rdmsr(cpu::MSR_LSTAR);
    cpu::write_cr3(l4.addr());
    cpu::wrmsr(cpu::MSR_LSTAR, bench_floor_stub as *const () as u64);
    let mut out = Vec::with_capacity(runs);
    for _ in 0..runs {
        // SAFETY: the code page holds `bench_floor_user`, mapped user-executable at CODE_VA in
        // the live address space, with a user stack page; interrupts are off and stay off in
        // ring 3 (IF clear), and LSTAR points at the stub, which returns here by restoring the
        // callee-saved registers and the stack pointer `bench_floor_enter` saved.
        let cycles = unsafe { bench_floor_enter(CODE_VA, STACK_VA + 4096, iters) };
        out.push(cycles * 10 / iters);
    }
    cpu::wrmsr(cpu::MSR_LSTAR, old_lstar);
    cpu::write_cr3(old_cr3);
    // The code, stack and L4 frames go back; the few intermediate tables map_4k made stay.
    for f in [code, stack, l4] {
        frames::free(f);
    }
    Some(out)
}
