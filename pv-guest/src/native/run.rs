//! The native benchmark driver: the same workloads, the same sample format and run counts as
//! the PV guest's `bench=workloads`, rows named `native_<workload>`.

use super::cpu;
use super::layout;
use super::platform::Native;
use crate::println;
use crate::workloads::{self, Platform, Workload, SCRATCH_PAGES};
use core::fmt::Write;
use core::ptr::addr_of_mut;

/// Runs per row for a mode (the PV side's `bench::sizes`).
pub fn runs(smoke: bool) -> usize {
    if smoke {
        3
    } else {
        11
    }
}

/// The memory workload's buffer (also the frames the page-table churn maps).
#[repr(C, align(4096))]
struct Buffer([u8; SCRATCH_PAGES * 4096]);
static mut BUF: Buffer = Buffer([0; SCRATCH_PAGES * 4096]);

/// Prints `BENCH <row> cycles s1,s2,...` from `runs` runs of `f`, or
/// `BENCH <row> unavailable <why>` at its first error.
fn row(name: &str, runs: usize, mut f: impl FnMut() -> Result<u64, &'static str>) {
    let mut line: heapless::String<512> = heapless::String::new();
    for i in 0..runs {
        if i > 0 {
            let _ = line.push(',');
        }
        match f() {
            Ok(v) => {
                let _ = layout::sample(v, &mut line);
            }
            Err(why) => {
                println!("BENCH {name} unavailable {why}");
                return;
            }
        }
    }
    println!("BENCH {name} cycles {line}");
}

/// Runs every workload and ends the run.
pub fn run(cmdline: &str) -> ! {
    let mode = crate::cmdline::param(cmdline, "bench").unwrap_or("full");
    let smoke = mode == "smoke";
    if mode == "fault" {
        // Checks the exception path (tests/tests/bench_smoke.rs): page 0 is never mapped.
        // SAFETY: none needed beyond the fault itself, which the #PF handler reports.
        let v = unsafe { core::ptr::read_volatile(core::hint::black_box(0usize) as *const u64) };
        println!("native: page 0 is mapped ({v:#x})");
        cpu::exit(cpu::EXIT_CRASH);
    }
    println!("BENCH-START native mode={mode}");
    let mut p = Native;
    // SAFETY: the only reference to the buffer, taken once; nothing else uses it.
    let buf: &mut [u8] = unsafe { &mut (*addr_of_mut!(BUF)).0 };
    let mut frames = [0u64; SCRATCH_PAGES];
    for (i, f) in frames.iter_mut().enumerate() {
        *f = p.mfn_of(buf.as_ptr() as u64 + i as u64 * 4096);
    }
    let n = runs(smoke);
    workloads::warm_up(&mut p, buf);
    for w in Workload::ALL {
        let iters = w.iters(smoke);
        let mut name: heapless::String<32> = heapless::String::new();
        let _ = write!(name, "native_{}", w.name());
        row(&name, n, || match w {
            Workload::Compute => Ok(workloads::compute(&mut p, iters)),
            Workload::Memory => Ok(workloads::memory(&mut p, buf, iters)),
            Workload::PtChurn => Ok(workloads::ptchurn(&mut p, &frames, iters)),
            Workload::CtxSwitch => workloads::ctxswitch(&mut p, iters),
        });
    }
    println!("BENCH-DONE");
    cpu::exit(cpu::EXIT_POWEROFF)
}
