//! `test=smp`: bring up every vCPU the domain has and make them work together.
//!
//! vCPU 0 finds the domain's vCPUs (`VCPUOP_is_up` until ENOENT, as Linux's PV guests do),
//! checks the hostile cases against Xen's errnos (an id beyond them, up before initialise,
//! unreadable and bad contexts, initialising twice, binding events to a vCPU that does not
//! exist), then starts each other vCPU with `VCPUOP_initialise` (its own stack and entry,
//! our page tables and upcall) and `VCPUOP_up`. Each vCPU binds its own VIRQ_TIMER and an IPI
//! port, and works: a little computation, then a 2 ms sleep on its own one-shot timer. An
//! IPI goes around the ring of vCPUs (each one that gets it sends it on to the next) for
//! `rounds=` laps. vCPU 0 then prints one line per vCPU and the verdict:
//!
//! ```text
//! smp: vcpu 1: timer port 5 ticks 37, ipi port 6 got 10, work 37, ran 7400 us
//! smp: PASSED: 4 vCPUs, 40 IPIs around the ring, every vCPU ticked and worked
//! ```
//!
//! Before stopping the others, a race Xen has had: vCPU 1 pins and unpins a frame as an L1
//! table while vCPU 0 maps and unmaps the same frame writable; whenever a pin holds, the
//! frame must not be mapped writable (`smp: type race: ...`, counted in the verdict).
//!
//! Then the stale-TLB attack (`smp_stale_tlb`): a page a sibling vCPU's CPU still caches
//! writable becomes a page table; its next write must fault (`smp: stale TLB: ...`).
//!
//! Which vCPU runs is told by the stack: vCPU N (N ≥ 1) runs on `STACKS[N - 1]`, vCPU 0 on
//! the boot stack ([`current`]), so the upcall reads the right vcpu_info.

use crate::{events, println, time};
use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering::SeqCst};
use guest_abi::arch::{
    xen_pfn_to_cr3, VcpuGuestContext, VgcfFlags, FLAT_KERNEL_CS64, FLAT_KERNEL_SS64,
};
use guest_abi::errno::Errno;
use guest_abi::event_channel::{VIRQ_CONSOLE, VIRQ_TIMER};
use guest_abi::guest;
use guest_abi::start_info::StartInfo;
use guest_abi::vcpu::*;

/// The most vCPUs this test drives (the ids it probes).
pub const MAX: usize = 8;
const STACK: usize = 16 * 1024;
const MS: u64 = 1_000_000;

/// The other vCPUs' stacks: vCPU N on `[N - 1]`.
#[repr(C, align(4096))]
struct Stacks(UnsafeCell<[[u8; STACK]; MAX - 1]>);
// SAFETY: each stack is used by one vCPU only, and only through its stack pointer.
unsafe impl Sync for Stacks {}
static STACKS: Stacks = Stacks(UnsafeCell::new([[0; STACK]; MAX - 1]));

/// The vCPU this code runs on: from the stack pointer (0 off the other vCPUs' stacks).
pub fn current() -> usize {
    let sp: u64;
    // SAFETY: reads the stack pointer only.
    unsafe { core::arch::asm!("mov {}, rsp", out(reg) sp, options(nomem, nostack)) };
    let base = STACKS.0.get() as u64;
    match sp.checked_sub(base) {
        Some(off) if off < (STACK * (MAX - 1)) as u64 => off as usize / STACK + 1,
        _ => 0,
    }
}

fn stack_top(vcpu: usize) -> u64 {
    STACKS.0.get() as u64 + (STACK * vcpu) as u64
}

static N: AtomicU32 = AtomicU32::new(1);
static UP: [AtomicBool; MAX] = [const { AtomicBool::new(false) }; MAX];
static DONE: [AtomicBool; MAX] = [const { AtomicBool::new(false) }; MAX];
static STOP: AtomicBool = AtomicBool::new(false);
/// `test=busy`: the other vCPUs only spin ([`spin_others`]).
static SPIN: AtomicBool = AtomicBool::new(false);
static TIMER_PORT: [AtomicU32; MAX] = [const { AtomicU32::new(0) }; MAX];
static IPI_PORT: [AtomicU32; MAX] = [const { AtomicU32::new(0) }; MAX];
static TICKS: [AtomicU64; MAX] = [const { AtomicU64::new(0) }; MAX];
static PINGS: [AtomicU64; MAX] = [const { AtomicU64::new(0) }; MAX];
static WORK: [AtomicU64; MAX] = [const { AtomicU64::new(0) }; MAX];
/// IPIs sent around the ring so far, and how many to send.
static HOPS: AtomicU64 = AtomicU64::new(0);
static HOPS_WANTED: AtomicU64 = AtomicU64::new(0);
/// Events handled on a vCPU other than the one their port notifies.
static MISDELIVERED: AtomicU64 = AtomicU64::new(0);

core::arch::global_asm!(
    ".pushsection .text, \"ax\"",
    ".global pv_smp_ap_entry",
    "pv_smp_ap_entry:",
    // The context gave rsp = the top of this vCPU's stack and rdi = its id.
    "and rsp, -16",
    "call {main}",
    "ud2",
    ".popsection",
    main = sym ap_main,
);

extern "C" {
    fn pv_smp_ap_entry();
}

fn index_of(ports: &[AtomicU32; MAX], port: u32) -> Option<usize> {
    let n = N.load(SeqCst) as usize;
    (0..n).find(|&i| ports[i].load(SeqCst) == port)
}

fn on_timer(port: u32) {
    if let Some(i) = index_of(&TIMER_PORT, port) {
        if i != current() {
            MISDELIVERED.fetch_add(1, SeqCst);
        }
        TICKS[i].fetch_add(1, SeqCst);
    }
}

/// An IPI reached vCPU `i`: count it and pass it on to the next vCPU around the ring.
fn on_ipi(port: u32) {
    let Some(i) = index_of(&IPI_PORT, port) else {
        return;
    };
    if i != current() {
        MISDELIVERED.fetch_add(1, SeqCst);
    }
    PINGS[i].fetch_add(1, SeqCst);
    let n = N.load(SeqCst) as usize;
    if HOPS.load(SeqCst) < HOPS_WANTED.load(SeqCst) {
        HOPS.fetch_add(1, SeqCst);
        let _ = events::send(IPI_PORT[(i + 1) % n].load(SeqCst));
    }
}

/// A little computation: one unit of work.
fn work(me: usize) {
    let mut x = me as u64 + 1;
    for _ in 0..20_000 {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
    }
    core::hint::black_box(x);
    WORK[me].fetch_add(1, SeqCst);
}

/// Block until `done()` (events unmasked while blocked; the check runs masked).
fn wait(done: impl Fn() -> bool) {
    loop {
        events::mask_upcalls();
        if done() {
            events::unmask_upcalls();
            return;
        }
        let _ = guest::sched_block();
    }
}

/// Wait on vCPU 0 until `done()` or system time `deadline`: what the other vCPUs set comes
/// with no event, so the one-shot timer wakes us to look every 5 ms.
fn wait_until(deadline: u64, done: impl Fn() -> bool) {
    while !done() && time::now() < deadline {
        let _ = guest::set_timer_op(deadline.min(time::now() + 5 * MS));
        time::block_until(|| done() || time::now() >= deadline || time_fired());
    }
}

/// Whether vCPU 0's one-shot fired since the last look (the time module's flag).
fn time_fired() -> bool {
    time::take_fired()
}

/// Sleep 2 ms on vCPU `me`'s own one-shot timer (or until told to stop).
fn nap(me: usize) {
    let t = TICKS[me].load(SeqCst);
    if guest::set_timer_op(time::now() + 2 * MS).is_ok() {
        wait(|| TICKS[me].load(SeqCst) != t || STOP.load(SeqCst));
    }
}

/// Binds vCPU `id`'s VIRQ_TIMER and IPI port from vCPU 0, with upcalls masked here: each
/// port's owner is recorded before any upcall can look at it (a port whose owner is not
/// yet known would be taken for vCPU 0's by an upcall running on another vCPU meanwhile).
fn bind_for(id: usize) -> bool {
    events::mask_upcalls();
    let ok = events::bind_virq_on(VIRQ_TIMER, id as u32, on_timer)
        .map(|p| TIMER_PORT[id].store(p, SeqCst))
        .is_ok()
        && events::bind_ipi_to(id as u32)
            .map(|p| {
                events::set_handler(p, on_ipi);
                IPI_PORT[id].store(p, SeqCst)
            })
            .is_ok();
    events::unmask_upcalls();
    ok
}

/// Pins that must hold in the type race (vCPU 1 tries for at most 5 s).
const RACE_ROUNDS: u64 = 200;
static RACE_GO: AtomicBool = AtomicBool::new(false);
static RACE_DONE: AtomicBool = AtomicBool::new(false);
/// The frame raced on, and the VA vCPU 0 maps it at.
static RACE_MFN: AtomicU64 = AtomicU64::new(0);
static RACE_VA: AtomicU64 = AtomicU64::new(0);
static RACE_SPARE: spin::Once<crate::grant::Spare> = spin::Once::new();
/// Pins that held, and pins that held while the frame was mapped writable (must be 0) or
/// could not be undone.
static RACE_PINS: AtomicU64 = AtomicU64::new(0);
static RACE_BAD: AtomicU64 = AtomicU64::new(0);
/// The last refusal of a pin (a negative errno), for the report.
static RACE_LAST_ERR: AtomicU64 = AtomicU64::new(0);

fn ext(cmd: u32, mfn: u64) -> Result<(), Errno> {
    // SAFETY: pins and unpins a frame of ours that nothing else of this kernel uses (the
    // race frame); the hypervisor validates it.
    unsafe {
        guest::mmuext_op(
            &[guest_abi::mmu::MmuextOp::new(cmd, mfn, 0)],
            guest_abi::types::DomId::SELF,
        )
    }
    .map(|_| ())
    .map_err(|(_, e)| e)
}

/// vCPU 1's side of the type race: pin the frame as an L1, check that no writable mapping
/// of it exists while the pin holds, unpin; until [`RACE_ROUNDS`] pins held or 5 s.
fn pin_churn() {
    let (mfn, va) = (RACE_MFN.load(SeqCst), RACE_VA.load(SeqCst));
    let Some(spare) = RACE_SPARE.get() else {
        RACE_BAD.fetch_add(1, SeqCst);
        return;
    };
    let deadline = time::now() + 5_000 * MS;
    while RACE_PINS.load(SeqCst) < RACE_ROUNDS && time::now() < deadline {
        let r = ext(guest_abi::mmu::MMUEXT_PIN_L1_TABLE, mfn);
        if let Err(e) = r {
            RACE_LAST_ERR.store(e.to_ret() as u64, SeqCst);
        }
        if r.is_ok() {
            RACE_PINS.fetch_add(1, SeqCst);
            let e = spare.l1e(va).unwrap_or(0);
            let writable_here =
                e & 1 != 0 && e & 2 != 0 && (e & crate::pagetable::PTE_ADDR_MASK) >> 12 == mfn;
            if writable_here {
                RACE_BAD.fetch_add(1, SeqCst);
            }
            if ext(guest_abi::mmu::MMUEXT_UNPIN_TABLE, mfn).is_err() {
                RACE_BAD.fetch_add(1, SeqCst);
                return;
            }
        }
    }
}

/// vCPU 0's side of the type race (see the module doc); returns 1 if it went wrong.
fn type_race(si: &StartInfo) -> u32 {
    let spare = *RACE_SPARE.call_once(|| crate::grant::Spare::new(si));
    let va = spare.va(6);
    let Ok(mfn) = spare.mfn_of(va) else {
        println!("smp: type race: FAILED: no spare frame");
        return 1;
    };
    // Nothing may map it for a pin to hold: unmap our own mapping, and start from zeroes.
    if crate::grant::map_own(va, None).is_err()
        || ext(guest_abi::mmu::MMUEXT_CLEAR_PAGE, mfn).is_err()
    {
        println!("smp: type race: FAILED: cannot free the frame");
        return 1;
    }
    RACE_MFN.store(mfn, SeqCst);
    RACE_VA.store(va, SeqCst);
    RACE_GO.store(true, SeqCst);
    let (mut maps, mut refused) = (0u64, 0u64);
    let deadline = time::now() + 10_000 * MS;
    while !RACE_DONE.load(SeqCst) && time::now() < deadline {
        if crate::grant::map_own(va, Some(mfn)).is_ok() {
            maps += 1;
            let _ = crate::grant::map_own(va, None);
        } else {
            refused += 1;
        }
    }
    let done = RACE_DONE.load(SeqCst);
    // The frame back where it was (no pin holds now).
    let back = crate::grant::map_own(va, Some(mfn)).is_ok();
    let (pins, wrong) = (RACE_PINS.load(SeqCst), RACE_BAD.load(SeqCst));
    println!(
        "smp: type race: {pins} pins held (of {RACE_ROUNDS} wanted), {maps} writable maps ({refused} refused), \
         {wrong} wrong, frame mapped back: {back} (last pin refusal {})",
        RACE_LAST_ERR.load(SeqCst) as i64
    );
    u32::from(!done || wrong != 0 || !back || pins == 0 || maps == 0)
}

/// Where every other vCPU starts (on its own stack, events masked).
extern "C" fn ap_main(id: u64) -> ! {
    if SPIN.load(SeqCst) {
        // Events stay masked: nothing but the scheduler takes this vCPU off its CPU.
        loop {
            core::hint::spin_loop();
        }
    }
    let me = id as usize;
    // vCPU 0 bound our timer and IPI ports before bringing us up (`bind_for`).
    let ok = me == current() && TIMER_PORT[me].load(SeqCst) != 0 && IPI_PORT[me].load(SeqCst) != 0;
    events::unmask_upcalls();
    if ok {
        UP[me].store(true, SeqCst);
        while !STOP.load(SeqCst) {
            if me == 1 && RACE_GO.load(SeqCst) && !RACE_DONE.load(SeqCst) {
                pin_churn();
                RACE_DONE.store(true, SeqCst);
            }
            if me == 1 && crate::smp_stale_tlb::writer_due() {
                crate::smp_stale_tlb::writer();
            }
            work(me);
            nap(me);
        }
    }
    DONE[me].store(true, SeqCst);
    loop {
        let _ = guest::sched_block();
    }
}

/// The initial context of vCPU `id`: our kernel at `pv_smp_ap_entry` on its stack with our
/// page tables, events to our upcall.
fn context(id: usize, cr3_mfn: u64) -> VcpuGuestContext {
    let mut c = VcpuGuestContext {
        flags: VgcfFlags::IN_KERNEL.bits(),
        ..Default::default()
    };
    let sp = stack_top(id);
    c.user_regs.rip = pv_smp_ap_entry as *const () as u64;
    c.user_regs.rsp = sp;
    c.user_regs.rdi = id as u64;
    c.user_regs.rflags = 0x200;
    c.user_regs.cs = FLAT_KERNEL_CS64;
    c.user_regs.ss = FLAT_KERNEL_SS64;
    c.kernel_ss = FLAT_KERNEL_SS64.into();
    c.kernel_sp = sp;
    c.ctrlreg[3] = xen_pfn_to_cr3(cr3_mfn);
    c.event_callback_eip = events::upcall_entry();
    c
}

fn initialise(id: u32, c: &mut VcpuGuestContext) -> Result<u64, Errno> {
    // SAFETY: the context starts our own code on a stack nothing else uses.
    unsafe { guest::vcpu_op_raw(VCPUOP_INITIALISE, id, c as *mut _ as *mut u8) }
}

fn name(r: Result<impl Sized, Errno>) -> &'static str {
    match r {
        Ok(_) => "OK",
        Err(e) => e.name(),
    }
}

/// The vCPUs the domain has (`VCPUOP_is_up` answers for each, ENOENT beyond).
pub fn vcpu_count() -> u32 {
    (0..MAX as u32)
        .take_while(|&v| guest::vcpu_op(VCPUOP_IS_UP, v).is_ok())
        .count() as u32
}

/// `test=busy` on a domain with several vCPUs: brings up every other vCPU, each spinning
/// forever with events masked, so the domain wants as many CPUs as it has vCPUs (vCPU 0 then
/// spins and reports, `event_tests`). Prints what it started.
pub fn spin_others(si: &StartInfo) {
    let n = vcpu_count();
    if n < 2 {
        return;
    }
    SPIN.store(true, SeqCst);
    let cr3 = crate::mm::Space::new(si).l4_mfn();
    for id in 1..n {
        let mut c = context(id as usize, cr3);
        let r = initialise(id, &mut c).and_then(|_| guest::vcpu_op(VCPUOP_UP, id));
        if r.is_err() {
            println!("busy: FAILED: starting vCPU {id}: {}", name(r));
            return;
        }
    }
    println!("busy: {n} vCPUs spinning");
}

/// Runs `test=smp` if the command line asks for it.
pub fn run(cmd: &str, si: &StartInfo) -> bool {
    if crate::cmdline::param(cmd, "test") != Some("smp") {
        return false;
    }
    let rounds: u64 = crate::cmdline::param(cmd, "rounds")
        .and_then(|r| r.parse().ok())
        .unwrap_or(10);
    smp(si, rounds);
    true
}

fn smp(si: &StartInfo, rounds: u64) {
    // The vCPUs there are: is_up answers for each, ENOENT beyond.
    let n = (0..MAX as u32)
        .take_while(|&v| guest::vcpu_op(VCPUOP_IS_UP, v).is_ok())
        .count();
    N.store(n as u32, SeqCst);
    println!("smp: {n} vCPUs, vCPU 0 up");
    if n < 2 {
        println!("smp: FAILED: only {n} vCPU (give the domain vcpus = 2 or more)");
        return;
    }
    let cr3 = crate::mm::Space::new(si).l4_mfn();
    let mut bad = 0;
    let mut check = |what: &str, got: &'static str, want: &'static str| {
        println!("smp: hostile: {what}: {got} (want {want})");
        if got != want {
            bad += 1;
        }
    };
    // Hostile cases first, while vCPU 1 is still uninitialised.
    let nn = n as u32;
    let mut c = context(1, cr3);
    check("initialise vCPU n", name(initialise(nn, &mut c)), "ENOENT");
    check(
        "initialise vCPU 2^31",
        name(initialise(1 << 31, &mut c)),
        "ENOENT",
    );
    check(
        "is_up vCPU n",
        name(guest::vcpu_op(VCPUOP_IS_UP, nn)),
        "ENOENT",
    );
    check(
        "down vCPU n",
        name(guest::vcpu_op(VCPUOP_DOWN, nn)),
        "ENOENT",
    );
    check(
        "up uninitialised vCPU 1",
        name(guest::vcpu_op(VCPUOP_UP, 1)),
        "EINVAL",
    );
    // SAFETY: the hypervisor must refuse these pointers before reading anything.
    let unreadable = [0x1000u64, 0xFFFF_8000_0000_0000, 0x0000_8000_0000_0000]
        .map(|p| unsafe { guest::vcpu_op_raw(VCPUOP_INITIALISE, 1, p as *mut u8) });
    for (r, what) in unreadable.into_iter().zip([
        "initialise from an unmapped context",
        "initialise from a context in the hypervisor's hole",
        "initialise from a non-canonical context",
    ]) {
        check(what, name(r), "EFAULT");
    }
    let mut noncanonical = context(1, cr3);
    noncanonical.user_regs.rip = 0x0000_8000_0000_0000;
    check(
        "initialise with a non-canonical rip",
        name(initialise(1, &mut noncanonical)),
        "EINVAL",
    );
    let mut hole = context(1, cr3);
    hole.event_callback_eip = 0xFFFF_8000_0000_1000;
    check(
        "initialise with an event callback in the hypervisor",
        name(initialise(1, &mut hole)),
        "EINVAL",
    );
    check(
        "up vCPU 1 after refused initialises",
        name(guest::vcpu_op(VCPUOP_UP, 1)),
        "EINVAL",
    );
    check(
        "bind VIRQ_TIMER on vCPU n",
        name(events::bind_virq_on(VIRQ_TIMER, nn, |_| {})),
        "ENOENT",
    );
    check(
        "bind the global VIRQ_CONSOLE on vCPU 1",
        name(events::bind_virq_on(VIRQ_CONSOLE, 1, |_| {})),
        "EINVAL",
    );
    check(
        "bind an IPI to vCPU n",
        name(events::bind_ipi_to(nn)),
        "ENOENT",
    );
    // vCPU 0's own ports: its timer is the time module's, an IPI of its own.
    TIMER_PORT[0].store(time::timer_port(), SeqCst);
    match events::bind_ipi_to(0) {
        Ok(p) => {
            events::set_handler(p, on_ipi);
            IPI_PORT[0].store(p, SeqCst);
        }
        Err(e) => println!("smp: FAILED: vCPU 0's IPI: {}", e.name()),
    }
    UP[0].store(true, SeqCst);
    // Bring up the others.
    for id in 1..n {
        if !bind_for(id) {
            println!("smp: FAILED: binding vCPU {id}'s timer and IPI ports");
            return;
        }
        let mut c = context(id, cr3);
        let r = initialise(id as u32, &mut c);
        if r.is_err() {
            println!("smp: FAILED: initialise vCPU {id}: {}", name(r));
            return;
        }
        if id == 1 {
            check(
                "initialise vCPU 1 twice",
                name(initialise(1, &mut c)),
                "EEXIST",
            );
        }
        let r = guest::vcpu_op(VCPUOP_UP, id as u32);
        if r.is_err() {
            println!("smp: FAILED: up vCPU {id}: {}", name(r));
            return;
        }
    }
    check(
        "initialise vCPU 0 (the builder's)",
        name(initialise(0, &mut context(0, cr3))),
        "EEXIST",
    );
    wait_until(time::now() + 5_000 * MS, || {
        (0..n).all(|i| UP[i].load(SeqCst))
    });
    if let Some(i) = (0..n).find(|&i| !UP[i].load(SeqCst)) {
        println!("smp: FAILED: vCPU {i} did not come up within 5 s");
        return;
    }
    let up: usize = (0..n as u32)
        .filter(|&v| guest::vcpu_op(VCPUOP_IS_UP, v) == Ok(1))
        .count();
    println!("smp: all {n} vCPUs up ({up} say is_up), each with its timer and IPI port");
    // The IPI ring: vCPU 0 starts it.
    HOPS_WANTED.store(rounds * n as u64, SeqCst);
    HOPS.store(1, SeqCst);
    let _ = events::send(IPI_PORT[1].load(SeqCst));
    let deadline = time::now() + 10_000 * MS;
    let finished = || {
        HOPS.load(SeqCst) >= HOPS_WANTED.load(SeqCst)
            && (0..n).all(|i| TICKS[i].load(SeqCst) >= 5 && WORK[i].load(SeqCst) >= 5)
    };
    while !finished() && time::now() < deadline {
        work(0);
        // vCPU 0's timer port is the time module's: a sleep it ends is a tick.
        time::sleep(2 * MS);
        TICKS[0].fetch_add(1, SeqCst);
    }
    bad += type_race(si);
    if n > 1 {
        if let Some(spare) = RACE_SPARE.get() {
            bad += crate::smp_stale_tlb::attack(spare);
        }
    }
    // Let the last IPI settle, then stop the others.
    time::sleep(20 * MS);
    STOP.store(true, SeqCst);
    wait_until(time::now() + 2_000 * MS, || {
        (1..n).all(|i| DONE[i].load(SeqCst))
    });
    let mut failed = alloc::vec::Vec::new();
    for i in 0..n {
        let ran = guest::vcpu_runstate(i as u32)
            .map(|r| r.time[RUNSTATE_RUNNING as usize] / 1000)
            .unwrap_or(0);
        let (ticks, pings, w) = (
            TICKS[i].load(SeqCst),
            PINGS[i].load(SeqCst),
            WORK[i].load(SeqCst),
        );
        println!(
            "smp: vcpu {i}: timer port {} ticks {ticks}, ipi port {} got {pings}, work {w}, \
             ran {ran} us",
            TIMER_PORT[i].load(SeqCst),
            IPI_PORT[i].load(SeqCst)
        );
        if ticks < 5 || w < 5 || pings < rounds || (i > 0 && ran == 0) {
            failed.push(i);
        }
        if i > 0 && !DONE[i].load(SeqCst) {
            failed.push(i);
        }
    }
    // One of them down and up again.
    let last = (n - 1) as u32;
    let down = guest::vcpu_op(VCPUOP_DOWN, last);
    let after_down = guest::vcpu_op(VCPUOP_IS_UP, last);
    let again = guest::vcpu_op(VCPUOP_UP, last);
    let after_up = guest::vcpu_op(VCPUOP_IS_UP, last);
    println!(
        "smp: vCPU {last} down {}: is_up {}; up {}: is_up {}",
        name(down),
        after_down.unwrap_or(9),
        name(again),
        after_up.unwrap_or(9)
    );
    if after_down != Ok(0) || after_up != Ok(1) {
        bad += 1;
    }
    let hops = HOPS.load(SeqCst);
    let mis = MISDELIVERED.load(SeqCst);
    failed.sort_unstable();
    failed.dedup();
    if failed.is_empty() && bad == 0 && mis == 0 && hops >= rounds * n as u64 {
        println!(
            "smp: PASSED: {n} vCPUs, {hops} IPIs around the ring, every vCPU ticked and worked"
        );
    } else {
        println!(
            "smp: FAILED: vCPUs {failed:?} short, {bad} hostile answers wrong, {mis} events on \
             the wrong vCPU, {hops} IPIs of {}",
            rounds * n as u64
        );
    }
}
