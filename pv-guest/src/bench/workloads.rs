//! The PV-versus-native workloads. Each one is written once against [`Platform`], which the PV
//! kernel implements with hypercalls (`bench::pv`) and the native image with privileged
//! instructions (`native::platform`), so both builds run the same code.
//!
//! A workload returns the TSC cycles one iteration took, averaged over `iters` iterations
//! (in tenths of a cycle, like every BENCH sample).

/// Pages in the scratch area the page-table workload maps and unmaps (one L1 table).
pub const SCRATCH_PAGES: usize = 512;

/// What the workloads need from the machine.
pub trait Platform {
    /// The TSC.
    fn rdtsc(&self) -> u64;
    /// Start of the scratch area: `SCRATCH_PAGES` pages mapped by one L1 table that
    /// [`Platform::write_ptes`] may rewrite; nothing else uses it.
    fn scratch_va(&self) -> u64;
    /// The machine address of the scratch L1 table's entry `i`.
    fn scratch_pte(&self, i: usize) -> u64;
    /// The PTE value mapping machine frame `mfn` read-write for this kernel.
    fn pte_rw(&self, mfn: u64) -> u64;
    /// Machine frame of this kernel's page at `va`.
    fn mfn_of(&self, va: u64) -> u64;
    /// Writes `(machine address of a PTE, value)` pairs, as one batch where the platform can.
    fn write_ptes(&mut self, ptes: &[(u64, u64)]);
    /// Flushes this CPU's TLB.
    fn flush_tlb(&mut self);
    /// Runs two user tasks, each in its own address space, that yield to each other through
    /// a system call, until `switches` task-to-task switches (system call, save registers,
    /// switch address space, resume the other task) have happened; `Err(why)` if the
    /// platform cannot or a task's state came back wrong.
    fn user_switches(&mut self, switches: u64) -> Result<(), &'static str>;
}

/// Cycles per iteration in tenths, from a TSC delta over `iters` iterations.
pub fn per_iter(cycles: u64, iters: u64) -> u64 {
    cycles.saturating_mul(10) / iters.max(1)
}

/// An xorshift generator mixed into a running sum: integer ALU work only.
pub fn compute_kernel(iters: u64, seed: u64) -> u64 {
    let mut x = seed | 1;
    let mut acc = 0u64;
    for i in 0..iters {
        for _ in 0..64 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            acc = acc.wrapping_add(x.rotate_left((i & 63) as u32));
        }
    }
    acc
}

/// CPU-bound compute: `iters` rounds of 64 xorshift steps.
pub fn compute<P: Platform>(p: &mut P, iters: u64) -> u64 {
    let t0 = p.rdtsc();
    let r = compute_kernel(iters, t0);
    let t1 = p.rdtsc();
    core::hint::black_box(r);
    per_iter(t1 - t0, iters)
}

/// One pass over `buf`: a write to every cache line, then a read of every line.
pub fn touch_kernel(buf: &mut [u8], salt: u8) -> u64 {
    let mut i = 0;
    while i < buf.len() {
        buf[i] = buf[i].wrapping_add(salt);
        i += 64;
    }
    let mut sum = 0u64;
    let mut i = 0;
    while i < buf.len() {
        sum = sum.wrapping_add(u64::from(buf[i]));
        i += 64;
    }
    sum
}

/// Brings the machine to a steady state before any row is measured: a few passes over `buf`,
/// each followed by a TLB flush. Under QEMU's TCG the emulated TLB only grows at a flush, so
/// without this a kernel that never flushes (the native one, until its page-table workload)
/// would measure a TLB sized for its boot rather than for the 2 MiB it touches.
pub fn warm_up<P: Platform>(p: &mut P, buf: &mut [u8]) {
    for i in 0..WARM_UP_PASSES {
        core::hint::black_box(touch_kernel(core::hint::black_box(&mut *buf), i as u8));
        p.flush_tlb();
    }
}

/// Passes of [`warm_up`].
pub const WARM_UP_PASSES: usize = 8;

/// Memory-touching: `iters` passes over `buf` (one iteration = one pass).
pub fn memory<P: Platform>(p: &mut P, buf: &mut [u8], iters: u64) -> u64 {
    let t0 = p.rdtsc();
    let mut sum = 0u64;
    for i in 0..iters {
        sum = sum.wrapping_add(touch_kernel(core::hint::black_box(&mut *buf), i as u8));
    }
    let t1 = p.rdtsc();
    core::hint::black_box(sum);
    per_iter(t1 - t0, iters)
}

/// Page-table churn, as fork+exit of a 2 MiB process image: map `frames` (up to
/// [`SCRATCH_PAGES`] machine frames) into the scratch area in one batch, touch every page,
/// unmap them all in one batch and flush the TLB. One iteration = one map/touch/unmap cycle.
pub fn ptchurn<P: Platform>(p: &mut P, frames: &[u64], iters: u64) -> u64 {
    let n = frames.len().min(SCRATCH_PAGES);
    let base = p.scratch_va();
    let mut map = [(0u64, 0u64); SCRATCH_PAGES];
    let mut unmap = [(0u64, 0u64); SCRATCH_PAGES];
    for (i, &mfn) in frames.iter().take(n).enumerate() {
        map[i] = (p.scratch_pte(i), p.pte_rw(mfn));
        unmap[i] = (p.scratch_pte(i), 0);
    }
    let t0 = p.rdtsc();
    let mut sum = 0u64;
    for _ in 0..iters {
        p.write_ptes(&map[..n]);
        for i in 0..n {
            let va = base + (i as u64) * 4096;
            // SAFETY: the scratch page was just mapped to one of our own frames; reading a
            // byte of it has no effect beyond the TLB fill being measured.
            sum = sum.wrapping_add(u64::from(unsafe {
                core::ptr::read_volatile(va as *const u8)
            }));
        }
        p.write_ptes(&unmap[..n]);
        p.flush_tlb();
    }
    let t1 = p.rdtsc();
    core::hint::black_box(sum);
    per_iter(t1 - t0, iters)
}

/// Context switches between two user tasks in their own address spaces: one iteration = one
/// switch.
pub fn ctxswitch<P: Platform>(p: &mut P, iters: u64) -> Result<u64, &'static str> {
    let t0 = p.rdtsc();
    p.user_switches(iters)?;
    let t1 = p.rdtsc();
    Ok(per_iter(t1 - t0, iters))
}

/// Which workload a name selects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Workload {
    Compute,
    Memory,
    PtChurn,
    CtxSwitch,
}

impl Workload {
    /// Every workload, in report order.
    pub const ALL: [Workload; 4] = [
        Workload::Compute,
        Workload::Memory,
        Workload::PtChurn,
        Workload::CtxSwitch,
    ];

    /// The row suffix (`pv_<name>`, `native_<name>`).
    pub fn name(self) -> &'static str {
        match self {
            Workload::Compute => "compute",
            Workload::Memory => "memory",
            Workload::PtChurn => "ptchurn",
            Workload::CtxSwitch => "ctxswitch",
        }
    }

    /// Iterations per run for a mode (`smoke` or full).
    pub fn iters(self, smoke: bool) -> u64 {
        match (self, smoke) {
            (Workload::Compute, false) => 20_000,
            (Workload::Memory, false) => 64,
            (Workload::PtChurn, false) => 16,
            (Workload::CtxSwitch, false) => 2000,
            (Workload::CtxSwitch, true) => 20,
            (_, true) => 2,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_iteration_in_tenths() {
        assert_eq!(per_iter(1234, 10), 1234);
        assert_eq!(per_iter(5, 0), 50);
    }

    #[test]
    fn kernels_are_deterministic_and_touch_every_line() {
        assert_eq!(compute_kernel(3, 42), compute_kernel(3, 42));
        assert_ne!(compute_kernel(3, 41), compute_kernel(3, 45));
        let mut buf = [0u8; 256];
        assert_eq!(touch_kernel(&mut buf, 1), 4);
        assert_eq!(buf[64], 1);
        assert_eq!(buf[65], 0);
    }

    #[test]
    fn names() {
        let names: Vec<_> = Workload::ALL.iter().map(|w| w.name()).collect();
        assert_eq!(names, ["compute", "memory", "ptchurn", "ctxswitch"]);
        assert!(Workload::ALL.iter().all(|w| w.iters(true) < w.iters(false)));
    }
}
