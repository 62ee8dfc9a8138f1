//! Starting the application processors (APs) the MADT lists: INIT and STARTUP IPIs send each
//! to a real-mode trampoline copied to [`TRAMPOLINE`], which switches to protected mode, then
//! long mode on the boot page tables (they identity-map the trampoline and map the image
//! high), and jumps to [`ap_entry`] on the AP's own stack. There the AP takes the idle page
//! tables, its CPU features, its own GDT and TSS, the shared IDT and its LAPIC, reports
//! itself online and waits for interrupts. Then every AP must answer a test IPI.
//!
//! Each CPU has its own stack with its own fixed guest frame at the top, its own `syscall`
//! stubs (`entry.rs`), GDT and TSS. Guests run on the boot processor only so far: the APs
//! idle (they run the hypervisor's code and answer IPIs, the base of cross-CPU TLB
//! shootdowns and per-CPU scheduling).

use super::{cpu, gdt, idt, lapic, paging, stacks, syscall};
use crate::arch::shootdown::{self, Flush};
use crate::cpus::{self, MAX_CPUS};
use crate::platform::Machine;
use core::arch::global_asm;
use core::sync::atomic::{AtomicU64, Ordering};

/// Physical address the trampoline is copied to (below 1 MiB, page-aligned, kept out of the
/// frame allocator with the rest of the first MiB).
pub const TRAMPOLINE: u64 = 0x8000;

/// The vector of the "are you there" IPI every AP must answer at boot.
pub const PING_VECTOR: u8 = 0xF2;

const _: () = assert!(TRAMPOLINE.is_multiple_of(4096) && TRAMPOLINE < 0x10_0000);

global_asm!(
    r#"
    .pushsection .rodata.ap_trampoline, "a"
    .set TBASE, {base}
    .global ap_tramp_start
ap_tramp_start:
    .code16
    cli
    cld
    xorw %ax, %ax
    movw %ax, %ds
    lgdtl (ap_gdtr - ap_tramp_start + TBASE)
    movl %cr0, %eax
    orl $1, %eax
    movl %eax, %cr0
    ljmpl $0x08, $(ap_tramp32 - ap_tramp_start + TBASE)
    .code32
ap_tramp32:
    movw $0x10, %ax
    movw %ax, %ds
    movw %ax, %es
    movw %ax, %ss
    movl %cr4, %eax
    orl $0x20, %eax
    movl %eax, %cr4
    movl (ap_data_cr3 - ap_tramp_start + TBASE), %eax
    movl %eax, %cr3
    movl $0xC0000080, %ecx
    rdmsr
    orl (ap_data_efer - ap_tramp_start + TBASE), %eax
    wrmsr
    movl %cr0, %eax
    orl $0x80010001, %eax
    movl %eax, %cr0
    ljmp $0x18, $(ap_tramp64 - ap_tramp_start + TBASE)
    .code64
ap_tramp64:
    xorl %eax, %eax
    movw %ax, %fs
    movw %ax, %gs
    movq (ap_data_stack - ap_tramp_start + TBASE), %rsp
    movq (ap_data_cpu - ap_tramp_start + TBASE), %rdi
    movq (ap_data_entry - ap_tramp_start + TBASE), %rax
    jmp *%rax
    .balign 8
ap_tramp_gdt:
    .quad 0
    .quad 0x00CF9A000000FFFF
    .quad 0x00CF92000000FFFF
    .quad 0x00AF9A000000FFFF
ap_gdtr:
    .word 31
    .long ap_tramp_gdt - ap_tramp_start + TBASE
    .balign 8
    .global ap_data_cr3
ap_data_cr3:
    .long 0
    .global ap_data_efer
ap_data_efer:
    .long 0
    .global ap_data_stack
ap_data_stack:
    .quad 0
    .global ap_data_cpu
ap_data_cpu:
    .quad 0
    .global ap_data_entry
ap_data_entry:
    .quad 0
    .global ap_tramp_end
ap_tramp_end:
    .popsection
"#,
    base = const TRAMPOLINE,
    options(att_syntax)
);

extern "C" {
    static ap_tramp_start: u8;
    static ap_tramp_end: u8;
    static ap_data_cr3: u8;
    static ap_data_efer: u8;
    static ap_data_stack: u8;
    static ap_data_cpu: u8;
    static ap_data_entry: u8;
    static boot_pml4: u8;
}

/// Test IPIs each CPU has taken.
static PINGS: [AtomicU64; MAX_CPUS] = [const { AtomicU64::new(0) }; MAX_CPUS];

/// Where an AP's stack starts below its top: past the fixed guest frame (200 bytes), so
/// that the stack pointer is 8 modulo 16 as at a function's entry.
const STACK_BELOW_TOP: u64 = 216;
const _: () = assert!(STACK_BELOW_TOP >= 200 && STACK_BELOW_TOP % 16 == 8);

const EFER_LME: u32 = 1 << 8;
const EFER_NXE: u32 = 1 << 11;

/// Writes `v` at the trampoline copy's field `field` (a symbol inside the trampoline).
fn poke<T: Copy>(field: *const u8, v: T) {
    // SAFETY: `field` lies inside [ap_tramp_start, ap_tramp_end), copied to TRAMPOLINE,
    // whose page the direct map covers; the fields are naturally aligned (the trampoline
    // aligns them to 8), and no AP reads them while the boot processor writes.
    unsafe {
        let off = field as u64 - (&raw const ap_tramp_start) as u64;
        crate::phys::directmap::phys_to_virt(TRAMPOLINE + off)
            .cast::<T>()
            .write_volatile(v);
    }
}

/// Starts every processor `machine` lists (up to [`MAX_CPUS`]) and checks each answers an
/// IPI. Returns how many CPUs are online, the boot processor included.
pub fn start_aps(machine: Option<&Machine>) -> u32 {
    let bsp = lapic::id();
    cpus::set_boot_cpu(bsp);
    // Locks know which CPU takes them, and a CPU spinning for one serves the shootdown a
    // holder may be waiting for.
    crate::sync::set_hooks(stacks::this_cpu, flush_requested);
    let Some(m) = machine else {
        return cpus::online_count();
    };
    let len = (&raw const ap_tramp_end) as u64 - (&raw const ap_tramp_start) as u64;
    // SAFETY: the trampoline page below 1 MiB is RAM no allocator hands out, direct-mapped;
    // the source is the trampoline's bytes in the image.
    unsafe {
        core::ptr::copy_nonoverlapping(
            &raw const ap_tramp_start,
            crate::phys::directmap::phys_to_virt(TRAMPOLINE),
            len as usize,
        );
    }
    let pml4 = crate::phys::image_virt_to_phys((&raw const boot_pml4) as u64);
    let efer = EFER_LME
        | if super::boot::nx_supported() {
            EFER_NXE
        } else {
            0
        };
    for &id in m.apic_ids.iter().filter(|&&id| id != bsp) {
        let Some(n) = cpus::register(id) else {
            log::warn!(
                "SMP: the processor with LAPIC ID {id} is past the first {MAX_CPUS}: left halted"
            );
            continue;
        };
        // Below the guest frame, as if `ap_entry` had been called (rsp = 8 mod 16).
        let rsp = stacks::stack_top(n) - STACK_BELOW_TOP;
        poke(&raw const ap_data_cr3, pml4 as u32);
        poke(&raw const ap_data_efer, efer);
        poke(&raw const ap_data_stack, rsp);
        poke(&raw const ap_data_cpu, n as u64);
        poke(&raw const ap_data_entry, ap_entry as *const () as u64);
        if !start_one(id, n) {
            log::warn!("SMP: CPU {n} (LAPIC ID {id}) did not start");
        }
    }
    let online = cpus::online_count();
    let mut answered = 0;
    for n in (1..MAX_CPUS).filter(|&n| cpus::is_online(n)) {
        if ping(n) {
            answered += 1;
        } else {
            log::warn!("SMP: CPU {n} does not answer IPIs");
        }
    }
    let flushed = shootdown(u32::MAX, Flush::All).count_ones();
    log::info!(
        "SMP: {online} CPU(s) online (LAPIC IDs {}), {answered} of {} answered an IPI, \
         a TLB shootdown reached {flushed}",
        cpus::OnlineIds,
        online - 1
    );
    online
}

/// INIT, then STARTUP (twice if the first is not taken) to processor `apic_id`; waits until
/// CPU `n` reports online.
fn start_one(apic_id: u32, n: usize) -> bool {
    if !lapic::send_init(apic_id) {
        return false;
    }
    crate::arch::tsc::delay_ns(100_000);
    let page = (TRAMPOLINE >> 12) as u8;
    for wait_ms in [10, 5000] {
        if !lapic::send_startup(apic_id, page) {
            return false;
        }
        let deadline = crate::arch::now_ns() + wait_ms * 1_000_000;
        while crate::arch::now_ns() < deadline {
            if cpus::is_online(n) {
                return true;
            }
            core::hint::spin_loop();
        }
    }
    cpus::is_online(n)
}

/// Sends CPU `n` a test IPI and waits (up to 5 s: its thread may not run at once under
/// emulation) for it to be taken there.
pub fn ping(n: usize) -> bool {
    let (Some(id), true) = (cpus::apic_id(n), cpus::is_online(n)) else {
        return false;
    };
    let before = PINGS[n].load(Ordering::Acquire);
    if !lapic::send_ipi(id, PING_VECTOR) {
        return false;
    }
    let deadline = crate::arch::now_ns() + 5_000_000_000;
    while crate::arch::now_ns() < deadline {
        if PINGS[n].load(Ordering::Acquire) != before {
            return true;
        }
        core::hint::spin_loop();
    }
    false
}

/// The test IPI arrived on this CPU (from the interrupt path).
pub fn pinged() {
    if let Some(n) = cpus::by_apic_id(lapic::id()) {
        PINGS[n].fetch_add(1, Ordering::AcqRel);
    }
}

/// An AP's first Rust code, on its own stack, on the boot page tables.
extern "C" fn ap_entry(n: u64) -> ! {
    let n = n as usize;
    cpu::write_cr3(paging::idle_l4_mfn().addr());
    cpu::init();
    gdt::init_ap(n, super::entry::rsp0_of(n));
    idt::load();
    syscall::init(n);
    lapic::init_ap();
    cpus::set_online(n);
    loop {
        if let Some(main) = AP_MAIN.get() {
            main();
        }
        // SAFETY: `sti` takes effect after `hlt` starts, so no wake-up is lost; interrupts
        // taken here go to the ring-0 path and return.
        unsafe { core::arch::asm!("sti; hlt; cli", options(nomem, nostack)) };
    }
}

/// The vector of a TLB shootdown request.
pub const FLUSH_VECTOR: u8 = 0xF3;

/// Does `f` on this CPU.
fn flush_local(f: Flush) {
    match f {
        Flush::All => cpu::write_cr3(cpu::read_cr3()),
        Flush::Page(va) => paging::invlpg(va),
    }
}

/// Carries out this CPU's waiting shootdown request, if any (the interrupt handler).
pub fn flush_requested() {
    shootdown::serve(stacks::this_cpu(), flush_local);
}

/// Invalidates `what` on every online CPU of `mask` (bit n = CPU n) but this one (the caller
/// flushes its own TLB as it needs), and waits until each has done it
/// (`crate::arch::shootdown`). Returns the CPUs flushed. A CPU that cannot be interrupted
/// or does not answer within 30 s is a fatal error (it is taken for dead): going on would
/// leave a stale translation to memory that changes hands.
pub fn shootdown(mask: u32, what: Flush) -> u32 {
    let send = |n: usize| cpus::apic_id(n).is_some_and(|id| lapic::send_ipi(id, FLUSH_VECTOR));
    // Patience, not a timing assumption: under emulation on a loaded host a CPU's thread may
    // not run for a while; a CPU that has not answered in 30 s is taken for dead.
    let deadline = crate::arch::now_ns() + 30_000_000_000;
    match shootdown::shootdown(
        stacks::this_cpu(),
        mask & cpus::online_mask(),
        what,
        send,
        flush_local,
        crate::arch::now_ns,
        deadline,
    ) {
        Ok(flushed) => flushed,
        Err(e) => panic!("TLB shootdown of {what:?}: {e:?}"),
    }
}

/// Bench rows (`bench=` on the command line): a local full TLB flush, and a full-flush
/// shootdown to one and to three other CPUs (when the machine has them), in cycles.
pub fn bench(mode: &str) {
    let (runs, iters) = super::bench_floor::sizes(mode);
    let iters = (iters / 10).max(1);
    let local = super::bench_floor::per_call(runs, iters, || flush_local(Flush::All));
    crate::xen_println!("BENCH hw_tlb_flush_local cycles {local}");
    for (name, mask) in [("tlb_shootdown_1", 0b10u32), ("tlb_shootdown_3", 0b1110)] {
        if cpus::online_mask() & mask != mask {
            crate::xen_println!("BENCH {name} unavailable too-few-cpus");
            continue;
        }
        let line = super::bench_floor::per_call(runs, iters, || {
            shootdown(mask, Flush::All);
        });
        crate::xen_println!("BENCH {name} cycles {line}");
    }
}

/// Sends CPU `n` the reschedule IPI (nothing if it is not online).
pub fn kick(n: usize) {
    if let (Some(id), true) = (cpus::apic_id(n), cpus::is_online(n)) {
        lapic::send_ipi(id, lapic::RESCHED_VECTOR);
    }
}

/// What the application processors run once the hypervisor lets them run vCPUs.
static AP_MAIN: spin::Once<fn() -> !> = spin::Once::new();

/// Lets every application processor run `main` (they wait for it, halted) and kicks them.
pub fn release_aps(main: fn() -> !) {
    AP_MAIN.call_once(|| main);
    for n in (1..MAX_CPUS).filter(|&n| cpus::is_online(n)) {
        kick(n);
    }
}
