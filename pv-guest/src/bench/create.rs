//! Domain creation rows, run by dom0 through its own toolstack (`xl create domu.cfg` with
//! overrides): create-to-first-instruction for 16, 32 and 64 MiB guests, for a 16 MiB guest
//! with 0..K idle domains already running, and the hypervisor's frames and heap bytes per
//! domain (free frames from sysctl physinfo, heap in use from sysctl perfc_op, before and
//! after creating the idle domains).
//!
//! dom0 reads the TSC (t0) right before `xl create` and passes it on the guest's command line;
//! the guest's `_start` reads the TSC as its first instruction and prints the difference.

use super::{rdtsc, Sink};
use crate::dom0::Dom0Hypervisor;
use crate::println;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use dom0_tools::hv::Hypervisor;
use dom0_tools::xl::Toolstack;
use guest_abi::domctl::DominfFlags;
use guest_abi::errno::Errno;
use guest_abi::guest;
use guest_abi::start_info::StartInfo;
use guest_abi::types::DomId;

/// The config every bench domain starts from (in dom0's initrd).
const CONFIG: &str = "domu.cfg";
/// Waits (yields, or blocks of at most [`WAIT_NS`]) for a bench guest to finish before
/// giving up on it.
const WAIT_YIELDS: u32 = 2_000_000;
/// The longest dom0 blocks before looking at a bench guest again.
const WAIT_NS: u64 = 10_000_000;

/// Lets the bench guests run: blocks until an event (VIRQ_DOM_EXC when one shuts down) or
/// [`WAIT_NS`], so dom0 stays off the CPU while they measure; yields if dom0 has no events.
fn wait() {
    if crate::events::shared_info().is_some() {
        crate::time::wait_any(WAIT_NS);
    } else {
        let _ = guest::sched_yield();
    }
}

struct Creator {
    ts: Toolstack<'static, Dom0Hypervisor>,
    seq: u32,
}

impl Creator {
    /// `xl create` a domain; returns its name and id.
    fn create(&mut self, mib: u64, extra: &str) -> Result<(String, DomId), String> {
        self.create_with(mib, extra, &[])
    }

    /// `xl create` a domain with more `key=value` overrides; returns its name and id.
    fn create_with(
        &mut self,
        mib: u64,
        extra: &str,
        more: &[&str],
    ) -> Result<(String, DomId), String> {
        self.seq += 1;
        let name = format!("bench{}", self.seq);
        let mut out = String::new();
        let (name_arg, mem_arg, extra_arg) = (
            format!("name={name}"),
            format!("memory={mib}"),
            format!("extra=\"{extra}\""),
        );
        let mut argv = alloc::vec!["xl", "create", CONFIG, &name_arg, &mem_arg, &extra_arg];
        argv.extend_from_slice(more);
        if self.ts.run(&argv, &mut out) != 0 {
            return Err(out);
        }
        let id = self
            .ts
            .domains()
            .iter()
            .find(|d| d.name == name)
            .map(|d| d.id)
            .ok_or_else(|| format!("{name} missing after xl create"))?;
        Ok((name, id))
    }

    /// One create-to-first-instruction sample (the guest prints it), then destroy.
    fn sample(&mut self, row: &str, mib: u64) -> Result<(), String> {
        // The guest's command line carries t0; formatting it is part of the measured path.
        let t0 = rdtsc();
        self.run_to_end(mib, &format!("bench=first row={row} t0={t0:x}"))
    }

    /// Creates a domain, waits until it shuts itself down, destroys it.
    fn run_to_end(&mut self, mib: u64, extra: &str) -> Result<(), String> {
        let (name, id) = self.create(mib, extra)?;
        let mut done = false;
        for _ in 0..WAIT_YIELDS {
            wait();
            match self.ts.hypervisor().domain_info(id) {
                Ok(i)
                    if DominfFlags::from_bits_truncate(i.flags).contains(DominfFlags::SHUTDOWN) =>
                {
                    done = true;
                    break;
                }
                Ok(_) => {}
                Err(e) => return Err(format!("getdomaininfo {}: {e}", id.0)),
            }
        }
        let mut out = String::new();
        self.ts.run(&["xl", "destroy", &name], &mut out);
        if done {
            Ok(())
        } else {
            Err(format!("{name} did not finish"))
        }
    }

    fn free_pages(&mut self) -> u64 {
        self.ts.hypervisor().physinfo().map_or(0, |p| p.free_pages)
    }
}

/// The hypervisor heap's bytes in use (its `heap_used_bytes` counter, sysctl perfc_op).
fn heap_used(hv: &mut impl Hypervisor) -> Result<u64, Errno> {
    hv.perf_counters()?
        .into_iter()
        .find(|(name, _)| name == "heap_used_bytes")
        .and_then(|(_, v)| v.first().copied())
        .map(u64::from)
        .ok_or(Errno::ENOENT)
}

/// Runs the PV workloads in a 32 MiB domU (`bench=workloads`) and waits for it to finish.
pub fn workloads(si: &'static StartInfo, smoke: bool) {
    let Ok(hv) = Dom0Hypervisor::new(si) else {
        return;
    };
    let mut c = Creator {
        ts: Toolstack::new(hv, crate::dom0::initrd(si)),
        seq: 100,
    };
    let mode = if smoke { "smoke" } else { "full" };
    if let Err(e) = c.run_to_end(32, &format!("bench=workloads mode={mode}")) {
        println!("bench: workloads domain: {e}");
    }
}

/// The event-channel round trip: a pong domU, then a ping domU bound to it (through
/// `evtchn_peer=`, as `xl create` sets up) that measures and prints the row.
pub fn evtchn(si: &'static StartInfo, smoke: bool) {
    let Ok(hv) = Dom0Hypervisor::new(si) else {
        return Sink.unavailable("evtchn_roundtrip", "no-foreign-window");
    };
    let mut c = Creator {
        ts: Toolstack::new(hv, crate::dom0::initrd(si)),
        seq: 200,
    };
    let (pong, id) = match c.create(16, "bench=evtchn-pong") {
        Ok(d) => d,
        Err(e) => return Sink.unavailable("evtchn_roundtrip", e.replace(['\n', ' '], "_")),
    };
    let mode = if smoke { "smoke" } else { "full" };
    let extra = format!("bench=evtchn-ping evtchn_peer={} mode={mode}", id.0);
    if let Err(e) = c.run_to_end(16, &extra) {
        println!("bench: evtchn-ping domain: {e}");
    }
    let mut out = String::new();
    c.ts.run(&["xl", "destroy", &pong], &mut out);
}

/// Independent CPU-bound domUs: four domains, each computing the same fixed amount
/// (`bench=compute`), confined to one, two and then four CPUs (`cpus=`); each row is the
/// wall-clock cycles from the first `xl create` until all four shut down. The scaling is the
/// ratio of the rows (one CPU's time over k CPUs').
pub fn scaling(si: &'static StartInfo, smoke: bool) {
    let rows = [
        ("scale_4doms_1cpu", "0"),
        ("scale_4doms_2cpu", "0-1"),
        ("scale_4doms_4cpu", "0-3"),
    ];
    let Ok(hv) = Dom0Hypervisor::new(si) else {
        for (row, _) in rows {
            Sink.unavailable(row, "no-foreign-window");
        }
        return;
    };
    let mut c = Creator {
        ts: Toolstack::new(hv, crate::dom0::initrd(si)),
        seq: 300,
    };
    let online = c.ts.hypervisor().physinfo().map_or(1, |p| p.nr_cpus);
    let (reps, iters) = if smoke {
        (1, 200_000u64)
    } else {
        (3, 4_000_000)
    };
    for (row, cpus) in rows {
        let need = if cpus == "0" {
            1
        } else if cpus == "0-1" {
            2
        } else {
            4
        };
        if online < need {
            Sink.unavailable(row, format!("{online}-cpus"));
            continue;
        }
        let mut samples = alloc::vec::Vec::new();
        for _ in 0..reps {
            match batch(&mut c, cpus, iters) {
                Ok(cycles) => samples.push(cycles),
                Err(e) => {
                    Sink.unavailable(row, e.replace(['\n', ' '], "_"));
                    break;
                }
            }
        }
        if samples.len() == reps {
            let line: alloc::vec::Vec<String> = samples.iter().map(|s| format!("{s}")).collect();
            println!("BENCH {row} cycles {}", line.join(","));
        }
    }
}

/// Four compute domains on CPUs `cpus`: cycles until all four finished.
fn batch(c: &mut Creator, cpus: &str, iters: u64) -> Result<u64, String> {
    let t0 = rdtsc();
    let pin = format!("cpus=\"{cpus}\"");
    let mut doms = Vec::new();
    for _ in 0..4 {
        match c.create_with(16, &format!("bench=compute iters={iters}"), &[&pin]) {
            Ok(d) => doms.push(d),
            Err(e) => {
                destroy_all(c, &doms);
                return Err(e);
            }
        }
    }
    let mut left = doms.len();
    for _ in 0..WAIT_YIELDS {
        wait();
        left = doms
            .iter()
            .filter(|(_, id)| {
                !c.ts.hypervisor().domain_info(*id).is_ok_and(|i| {
                    DominfFlags::from_bits_truncate(i.flags).contains(DominfFlags::SHUTDOWN)
                })
            })
            .count();
        if left == 0 {
            break;
        }
    }
    let t1 = rdtsc();
    destroy_all(c, &doms);
    if left == 0 {
        Ok(t1 - t0)
    } else {
        Err(format!("{left} compute domains did not finish"))
    }
}

fn destroy_all(c: &mut Creator, doms: &[(String, DomId)]) {
    for (name, _) in doms {
        let mut out = String::new();
        c.ts.run(&["xl", "destroy", name], &mut out);
    }
}

/// Runs the creation rows.
pub fn run(si: &'static StartInfo, out: &mut Sink, smoke: bool) {
    let hv = match Dom0Hypervisor::new(si) {
        Ok(hv) => hv,
        Err(e) => {
            out.unavailable("create_16m", "no-foreign-window");
            println!("bench: {e}");
            return;
        }
    };
    let mut c = Creator {
        ts: Toolstack::new(hv, crate::dom0::initrd(si)),
        seq: 0,
    };
    let (reps, max_existing) = if smoke { (1, 2) } else { (5, 6) };
    for mib in [16u64, 32, 64] {
        let row = format!("create_{mib}m");
        for _ in 0..reps {
            if let Err(e) = c.sample(&row, mib) {
                out.unavailable(&row, e.replace(['\n', ' '], "_"));
                break;
            }
        }
    }
    // With 0..=max_existing idle 16 MiB domains up.
    let free_before = c.free_pages();
    let heap_before = heap_used(c.ts.hypervisor());
    let mut idle: Vec<(String, DomId)> = Vec::new();
    for k in 0..=max_existing {
        let row = format!("create_16m_k{k}");
        for _ in 0..reps {
            if let Err(e) = c.sample(&row, 16) {
                out.unavailable(&row, e.replace(['\n', ' '], "_"));
                break;
            }
        }
        if k < max_existing {
            match c.create(16, "bench=idle") {
                Ok(d) => idle.push(d),
                Err(e) => {
                    println!("bench: idle domain: {e}");
                    break;
                }
            }
        }
    }
    // Frames the hypervisor took per domain beyond the domains' own pages, and its heap.
    let free_after = c.free_pages();
    let heap_after = heap_used(c.ts.hypervisor());
    let guest_pages: u64 = idle
        .iter()
        .map(|(_, id)| {
            c.ts.hypervisor()
                .domain_info(*id)
                .map_or(0, |i| i.tot_pages)
        })
        .sum();
    if idle.is_empty() {
        out.unavailable("hv_frames_per_domain", "no-idle-domains");
    } else {
        let hv_pages = free_before
            .saturating_sub(free_after)
            .saturating_sub(guest_pages);
        println!(
            "BENCH hv_frames_per_domain bytes {}",
            hv_pages * 4096 / idle.len() as u64
        );
    }
    match (heap_before, heap_after) {
        _ if idle.is_empty() => out.unavailable("hv_heap_per_domain", "no-idle-domains"),
        (Ok(b), Ok(a)) => println!(
            "BENCH hv_heap_per_domain bytes {}",
            a.saturating_sub(b) / idle.len() as u64
        ),
        (Err(e), _) | (_, Err(e)) => out.unavailable("hv_heap_per_domain", e.name()),
    }
    for (name, _) in idle {
        let mut o = String::new();
        c.ts.run(&["xl", "destroy", &name], &mut o);
    }
}
