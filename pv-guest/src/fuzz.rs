//! `test=fuzz seed=N count=M`: random hypercalls — numbers in and out of range, arguments from
//! boundary values, random values, pointers into our own memory (refilled with random
//! bytes), unmapped addresses, the hypervisor hole, non-canonical addresses and other
//! domains' frames. Reproducible from the seed it prints. It keeps itself alive by never
//! asking for what only destroys its own state (see [`tame`]): everything else goes through.
//! `test=canary`: fills memory with a pattern and checks it until the end, reporting.
//!
//! Lines: `fuzz: seed S, M calls`, `fuzz: N calls` every 100000, `fuzz: done N calls (E
//! errors, K ok)`; `canary: N checks, intact` every 20 checks or `canary: CORRUPTED ...`.

use crate::mm::Space;
use alloc::vec::Vec;
use guest_abi::arch::MACH2PHYS_VIRT_START;
use guest_abi::guest;
use guest_abi::hypercall::nr;
use guest_abi::start_info::StartInfo;
use guest_abi::types::DomId;

/// xorshift64*: small, fast, and the same sequence for the same seed everywhere.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }

    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next() % n
        }
    }
}

/// Where argument values come from.
struct Targets {
    /// Our scratch buffer (mapped, refilled with random bytes).
    scratch: u64,
    /// Frames of ours nothing else uses.
    spare_mfns: Vec<u64>,
    /// Frames of other domains (from the M2P).
    foreign_mfns: Vec<u64>,
}

const BOUNDARY: [u64; 14] = [
    0,
    1,
    2,
    u64::MAX,
    0x7FFF_FFFF,
    0x8000_0000,
    0xFFFF_FFFF,
    1 << 32,
    i64::MIN as u64,
    DomId::SELF.0 as u64,
    0x7FF2, // DOMID_XEN
    0x1000,
    0x0000_8000_0000_0000,
    MACH2PHYS_VIRT_START,
];

impl Targets {
    fn arg(&self, r: &mut Rng) -> u64 {
        match r.below(10) {
            0 | 1 => BOUNDARY[r.below(BOUNDARY.len() as u64) as usize],
            2 => r.next(),
            3 | 4 => self.scratch + (r.below(4096 * SCRATCH_PAGES - 64) & !7),
            5 => 0xFFFF_8000_0000_0000 + (r.below(1 << 40) & !0xFFF), // the hole
            6 => self.pick(&self.spare_mfns, r) << if r.below(2) == 0 { 12 } else { 0 },
            7 => self.pick(&self.foreign_mfns, r) << if r.below(2) == 0 { 12 } else { 0 },
            8 => r.below(64),
            _ => r.next() & 0xFFFF_FFFF,
        }
    }

    fn pick(&self, v: &[u64], r: &mut Rng) -> u64 {
        v.get(r.below(v.len() as u64) as usize)
            .copied()
            .unwrap_or(0)
    }
}

/// Pages of scratch buffer arguments point into.
const SCRATCH_PAGES: u64 = 4;

/// Make a call harmless *to ourselves only*: what would end or wreck this fuzzer's own
/// domain (returning through `iret`, shutting down, blocking forever, going offline,
/// replacing its trap table, callbacks or kernel stack, having the hypervisor write into
/// our memory later, unmapping our own kernel) is steered elsewhere; the hypervisor still
/// sees every other value. Returns false to skip the call.
fn tame(
    num: u64,
    a: &mut [u64; 5],
    live: &core::ops::Range<u64>,
    elsewhere: u64,
    ours_in_use: impl Fn(u64) -> bool,
    spare: u64,
) -> bool {
    let cmd = a[0];
    match num as usize {
        nr::IRET => false,
        nr::SCHED_OP | nr::SCHED_OP_COMPAT => {
            // yield, shutdown_code, and unknown commands only.
            if cmd < 7 && cmd != 0 && cmd != 5 {
                a[0] = 0;
            }
            true
        }
        // Trap table, callbacks and kernel stack: only pointers/addresses that are refused.
        nr::SET_TRAP_TABLE | nr::SET_CALLBACKS | nr::CALLBACK_OP | nr::STACK_SWITCH => {
            for x in a.iter_mut() {
                if *x >= 0xFFFF_8000_0000_0000 && *x < 0xFFFF_8800_0000_0000 {
                    continue;
                }
                *x = 0xFFFF_8000_0000_1000;
            }
            true
        }
        // Never down/up/initialise, never register areas the hypervisor writes later.
        nr::VCPU_OP => {
            if matches!(cmd, 0..=2 | 5 | 10 | 13) {
                a[0] = 100;
            }
            true
        }
        // Only the user segment bases (the kernel's gs is its own).
        nr::SET_SEGMENT_BASE => {
            a[0] &= 1;
            true
        }
        // Our own mappings are kept: a live kernel address becomes a scratch one.
        nr::UPDATE_VA_MAPPING | nr::UPDATE_VA_MAPPING_OTHERDOMAIN => {
            if live.contains(&a[0]) {
                a[0] = elsewhere;
            }
            true
        }
        // A descriptor written into a frame of ours in use would overwrite our kernel.
        nr::UPDATE_DESCRIPTOR => {
            if ours_in_use(a[0] >> 12) {
                a[0] = (spare << 12) | (a[0] & 0xFF8);
            }
            true
        }
        // No console garbage: writes of nothing.
        nr::CONSOLE_IO => {
            a[1] = 0;
            true
        }
        _ => true,
    }
}

/// Tames the entries of a multicall batch at `at` (`count` of them) that lie in our scratch
/// buffer: an entry `tame` would not make becomes a harmless `xen_version(0)`.
fn tame_batch(
    at: u64,
    count: u64,
    t: &Targets,
    live: &core::ops::Range<u64>,
    elsewhere: u64,
    ours_in_use: &impl Fn(u64) -> bool,
    spare: u64,
) {
    let end = t.scratch + 4096 * SCRATCH_PAGES;
    const ENTRY: u64 = core::mem::size_of::<guest_abi::multicall::MulticallEntry>() as u64;
    if at < t.scratch || at >= end || !at.is_multiple_of(8) {
        return;
    }
    let fits = (end - at) / ENTRY;
    for i in 0..count.min(fits) {
        let e = at + i * ENTRY;
        let op = crate::mm::peek(e);
        let mut args = [0u64; 5];
        for (k, x) in args.iter_mut().enumerate() {
            *x = crate::mm::peek(e + 16 + k as u64 * 8);
        }
        if tame(op, &mut args, live, elsewhere, ours_in_use, spare) && op as usize != nr::MULTICALL
        {
            for (k, x) in args.iter().enumerate() {
                crate::mm::poke(e + 16 + k as u64 * 8, *x);
            }
        } else {
            crate::mm::poke(e, nr::XEN_VERSION as u64);
            for k in 0..6 {
                crate::mm::poke(e + 16 + k * 8, 0);
            }
        }
    }
}

/// A hypercall by number through `syscall`, in range or not (the hypercall page only has
/// slots for the table's numbers).
fn raw_hypercall(num: u64, a: &[u64; 5]) -> i64 {
    let ret: i64;
    // SAFETY: a hypercall from guest kernel mode; `tame` removed every request that would
    // change our own control flow or mappings, so whatever the hypervisor does with the
    // rest (refuse it, or act on our scratch memory) leaves this kernel intact.
    unsafe {
        core::arch::asm!(
            "syscall",
            inlateout("rax") num as i64 => ret,
            in("rdi") a[0],
            in("rsi") a[1],
            in("rdx") a[2],
            in("r10") a[3],
            in("r8") a[4],
            lateout("rcx") _,
            lateout("r11") _,
        );
    }
    ret
}

/// Runs `test=fuzz` or `test=canary`; false if the command line asks for neither.
pub fn run(cmd: &str, si: &StartInfo) -> bool {
    match crate::cmdline::param(cmd, "test") {
        Some("fuzz") => fuzz(cmd, si),
        Some("canary") => canary(),
        _ => return false,
    }
    true
}

fn say(args: core::fmt::Arguments) {
    // Straight to the hypervisor's console: a fuzzed event channel may be our console's.
    let mut line = alloc::string::String::new();
    let _ = core::fmt::write(&mut line, args);
    line.push('\n');
    let _ = guest::console_write(line.as_bytes());
}

fn fuzz(cmd: &str, si: &StartInfo) {
    let param = |k: &str| crate::cmdline::param(cmd, k).and_then(|v| v.parse::<u64>().ok());
    let seed = param("seed").unwrap_or(1);
    let count = param("count").unwrap_or(1_000_000);
    let sp = Space::new(si);
    let scratch = sp.spare(40);
    let mut spare_mfns = Vec::new();
    for i in 0..SCRATCH_PAGES {
        let Some(f) = sp.alloc_frame() else { break };
        let _ = sp.map(scratch + i * 4096, f, crate::pagetable::PTE_KERNEL_RW);
        spare_mfns.push(f);
    }
    for _ in 0..16 {
        if let Some(f) = sp.alloc_frame() {
            spare_mfns.push(f);
        }
    }
    let ours = |m: u64, pfn: u64| pfn < sp.nr_pages() && sp.pfn_to_mfn(pfn) == m;
    let foreign_mfns: Vec<u64> = (0x100..0x1_0000u64)
        .filter(|&m| {
            let pfn = crate::mm::peek(MACH2PHYS_VIRT_START + m * 8);
            pfn != 0 && pfn < 0x10_0000 && !ours(m, pfn)
        })
        .take(64)
        .collect();
    let t = Targets {
        scratch,
        spare_mfns,
        foreign_mfns,
    };
    // Our whole initial region is in use (the kernel, its stacks, shared_info, rings, the
    // scratch buffer); mapping requests for it go past its end instead.
    let live = crate::entry::VIRT_BASE..sp.region_end;
    let elsewhere = sp.region_end + (8 << 20);
    let spare = t.spare_mfns.last().copied().unwrap_or(0);
    // SAFETY: XENMEM_maximum_ram_page takes no argument.
    let max_mfn = unsafe {
        guest::memory_op_raw(
            guest_abi::memory::XENMEM_MAXIMUM_RAM_PAGE,
            core::ptr::null_mut(),
        )
    }
    .unwrap_or(0);
    let ours_in_use = |m: u64| {
        m < max_mfn
            && ours(m, crate::mm::peek(MACH2PHYS_VIRT_START + m * 8))
            && !t.spare_mfns.contains(&m)
    };
    say(format_args!("fuzz: seed {seed}, {count} calls"));
    let mut r = Rng::new(seed);
    let (mut errors, mut ok) = (0u64, 0u64);
    for i in 0..count {
        // A fresh random window of the scratch buffer for the hypervisor to read.
        let at = scratch + (r.below(4096 * SCRATCH_PAGES / 8 - 8) * 8);
        for k in 0..8 {
            crate::mm::poke(at + k * 8, r.next());
        }
        let num = if r.below(8) == 0 {
            r.next()
        } else {
            r.below(64)
        };
        let mut a = [0u64; 5];
        for x in a.iter_mut() {
            *x = t.arg(&mut r);
        }
        if !tame(num, &mut a, &live, elsewhere, ours_in_use, spare) {
            continue;
        }
        // A multicall runs entries from our scratch memory: each is tamed as a call of its
        // own would be (an `iret` entry, say, would return us to whatever our stack holds).
        if num as usize == nr::MULTICALL {
            tame_batch(a[0], a[1], &t, &live, elsewhere, &ours_in_use, spare);
        }
        if raw_hypercall(num, &a) < 0 {
            errors += 1;
        } else {
            ok += 1;
        }
        // Leave no TS set behind (fpu_taskswitch), whatever the call did.
        if num as usize == nr::FPU_TASKSWITCH {
            let _ = raw_hypercall(nr::FPU_TASKSWITCH as u64, &[0; 5]);
        }
        if (i + 1).is_multiple_of(100_000) {
            say(format_args!("fuzz: {} calls", i + 1));
        }
    }
    say(format_args!(
        "fuzz: done {count} calls ({errors} errors, {ok} ok)"
    ));
}

/// Words of memory the canary fills and checks (1 MiB).
const CANARY_WORDS: usize = 128 * 1024;

fn canary() {
    let pattern = |i: usize| (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xC0FF_EE00;
    let mut mem: Vec<u64> = (0..CANARY_WORDS).map(pattern).collect();
    let mut checks = 0u64;
    loop {
        crate::time::sleep(100_000_000);
        checks += 1;
        if let Some(bad) = (0..CANARY_WORDS).find(|&i| mem[i] != pattern(i)) {
            say(format_args!(
                "canary: CORRUPTED at word {bad} after {checks} checks: {:#x}",
                mem[bad]
            ));
            mem[bad] = pattern(bad);
        } else if checks.is_multiple_of(20) {
            say(format_args!("canary: {checks} checks, intact"));
        }
    }
}
