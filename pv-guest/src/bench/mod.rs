//! `bench=<what>` on the kernel command line: the benchmark workloads (docs/performance.md).
//!
//! Every result is one console line `BENCH <row> cycles <s1>,<s2>,...` (one sample per run,
//! TSC cycles per operation with one decimal) or `BENCH <row> unavailable <why>`; dom0's
//! driver ends with `BENCH-DONE`. `cargo xtask bench` reads them off the serial console.
//!
//! - dom0 with `bench=full|smoke`: the hypercall rows ([`hcalls`]), domain creation and
//!   hypervisor memory per domain ([`create`]), then a domU running the workloads; powers off.
//! - domU `bench=first row=<row> t0=<tsc>`: reports `<first instruction TSC> - t0`, powers off.
//! - domU `bench=workloads mode=<full|smoke>`: the PV half of PV versus native, powers off.
//! - domU `bench=idle`: stays up doing nothing (an "existing domain").
//! - domU `bench=evtchn-pong` / `bench=evtchn-ping ...`: the event-channel round trip
//!   ([`evtchn`]); the pong stays up, the ping powers off.

pub mod workloads;

#[cfg(target_os = "none")]
mod create;
#[cfg(target_os = "none")]
mod evtchn;
#[cfg(target_os = "none")]
mod hcalls;
#[cfg(target_os = "none")]
pub mod pv;
#[cfg(target_os = "none")]
mod tasks;
pub mod turns;

#[cfg(target_os = "none")]
pub use run::*;

#[cfg(target_os = "none")]
mod run {
    use super::workloads::{self, Workload};
    use super::{create, evtchn, hcalls, pv};
    use crate::cmdline;
    use crate::println;
    use alloc::string::String;
    use core::fmt::Write;
    use guest_abi::errno::Errno;
    use guest_abi::sched::ShutdownReason;
    use guest_abi::start_info::StartInfo;

    /// Why a row could not be measured.
    #[derive(Clone, Copy, Debug)]
    pub enum Why {
        /// A hypercall failed.
        Errno(Errno),
        /// A grant operation's status (GNTST_*).
        Gnt(i16),
        /// Anything else, in one word.
        Text(&'static str),
    }

    impl From<Errno> for Why {
        fn from(e: Errno) -> Why {
            Why::Errno(e)
        }
    }

    impl core::fmt::Display for Why {
        fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
            match self {
                Why::Errno(e) => write!(f, "{}", e.name()),
                Why::Gnt(s) => write!(f, "GNTST{s}"),
                Why::Text(s) => f.write_str(s),
            }
        }
    }

    /// The TSC (the guest reads it directly: the hypervisor does not trap rdtsc).
    pub fn rdtsc() -> u64 {
        let (lo, hi): (u32, u32);
        // SAFETY: rdtsc reads a counter; it touches no memory.
        unsafe {
            core::arch::asm!("lfence; rdtsc", out("eax") lo, out("edx") hi, options(nomem, nostack))
        };
        (u64::from(hi) << 32) | u64::from(lo)
    }

    /// Prints rows.
    pub struct Sink;

    impl Sink {
        /// Runs `f` `runs` times and prints its samples, or `unavailable` at its first error.
        pub fn row(&mut self, name: &str, runs: usize, mut f: impl FnMut() -> Result<u64, Why>) {
            let mut line = String::new();
            for i in 0..runs {
                match f() {
                    Ok(v) => {
                        let sep = if i == 0 { "" } else { "," };
                        let _ = write!(line, "{sep}{}.{}", v / 10, v % 10);
                    }
                    Err(e) => return self.unavailable(name, e),
                }
            }
            println!("BENCH {name} cycles {line}");
        }

        /// Prints a row that cannot be measured (yet).
        pub fn unavailable(&mut self, name: &str, why: impl core::fmt::Display) {
            println!("BENCH {name} unavailable {why}");
        }
    }

    /// Runs and iterations per run for a mode.
    pub fn sizes(smoke: bool) -> (usize, u64) {
        if smoke {
            (3, 20)
        } else {
            (11, 2000)
        }
    }

    /// dom0's driver; powers the machine off at the end.
    pub fn run_dom0(si: &'static StartInfo, mode: &str) -> ! {
        let smoke = mode == "smoke";
        let (runs, iters) = sizes(smoke);
        println!("BENCH-START dom0 mode={mode}");
        match pv::Pv::new(si) {
            Ok(mut p) => {
                hcalls::run(&mut p, &mut Sink, runs, iters);
                if let Err(e) = p.teardown() {
                    println!("bench: scratch teardown failed: {}", e.name());
                }
            }
            Err(e) => println!("bench: no scratch page table: {}", e.name()),
        }
        // From here dom0 blocks while its bench domains run (woken by VIRQ_DOM_EXC or its
        // timer) instead of yielding in a loop next to them.
        let ev = crate::events::init(si)
            .and_then(|()| crate::time::init())
            .and_then(|()| {
                crate::events::bind_virq(guest_abi::event_channel::VIRQ_DOM_EXC, |_| {})
            });
        if let Err(e) = ev {
            println!(
                "bench: no event channels ({}): dom0 yields instead",
                e.name()
            );
        }
        create::evtchn(si, smoke);
        create::run(si, &mut Sink, smoke);
        create::workloads(si, smoke);
        create::scaling(si, smoke);
        println!("BENCH-DONE");
        crate::shutdown(ShutdownReason::Poweroff)
    }

    /// A domU's bench mode; returns only for `bench=idle` and `bench=evtchn-pong`.
    pub fn run_domu(si: &'static StartInfo, what: &str) {
        let cmd = cmdline::from_raw(&si.cmd_line);
        match what {
            "first" => {
                let first = first_tsc();
                let t0 = cmdline::param(cmd, "t0").and_then(|v| u64::from_str_radix(v, 16).ok());
                let row = cmdline::param(cmd, "row").unwrap_or("create");
                match t0 {
                    Some(t0) => println!("BENCH {row} cycles {}", first.saturating_sub(t0)),
                    None => println!("BENCH {row} unavailable no-t0"),
                }
            }
            "workloads" => {
                let smoke = cmdline::param(cmd, "mode") == Some("smoke");
                run_workloads(si, smoke);
            }
            "compute" => {
                // A fixed amount of CPU-bound work, then power off (`create::scaling`).
                let iters = cmdline::param(cmd, "iters")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(1000);
                core::hint::black_box(workloads::compute_kernel(iters, first_tsc()));
            }
            "evtchn-pong" => return evtchn::pong(),
            "evtchn-ping" => evtchn::ping(cmd),
            "idle" => return,
            other => println!("bench: unknown bench={other}"),
        }
        crate::shutdown(ShutdownReason::Poweroff)
    }

    fn run_workloads(si: &'static StartInfo, smoke: bool) {
        let runs = sizes(smoke).0;
        let mut p = match pv::Pv::new(si) {
            Ok(p) => p,
            Err(e) => {
                for w in Workload::ALL {
                    Sink.unavailable(&alloc::format!("pv_{}", w.name()), e.name());
                }
                return;
            }
        };
        let buf = pv::pages(workloads::SCRATCH_PAGES * 4096);
        let frames: alloc::vec::Vec<u64> = (0..workloads::SCRATCH_PAGES)
            .map(|i| workloads::Platform::mfn_of(&p, buf.as_ptr() as u64 + i as u64 * 4096))
            .collect();
        workloads::warm_up(&mut p, buf);
        for w in Workload::ALL {
            let iters = w.iters(smoke);
            Sink.row(&alloc::format!("pv_{}", w.name()), runs, || {
                Ok(match w {
                    Workload::Compute => workloads::compute(&mut p, iters),
                    Workload::Memory => workloads::memory(&mut p, buf, iters),
                    Workload::PtChurn => workloads::ptchurn(&mut p, &frames, iters),
                    Workload::CtxSwitch => {
                        return workloads::ctxswitch(&mut p, iters).map_err(Why::Text)
                    }
                })
            });
        }
        let _ = p.teardown();
    }

    extern "C" {
        static pv_guest_first_tsc: u64;
    }

    /// The TSC at the kernel's first instruction (`_start` stores it).
    pub fn first_tsc() -> u64 {
        // SAFETY: written once by `_start` before any Rust code ran; only read afterwards.
        unsafe { core::ptr::read_volatile(&raw const pv_guest_first_tsc) }
    }
}
