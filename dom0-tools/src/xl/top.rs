//! `xl uptime` and `xl top` (a live view refreshed in place: name, state, CPU seconds, CPU %,
//! memory; `q` quits). `xl top` hands the terminal to a [`TopView`] that the shell keeps
//! refreshing ([`Toolstack::top_refresh`]) until `q` arrives; `xl top -b` prints one frame
//! without terminal codes.

use super::args::{self, Opt};
use super::report::{mem_mib, state_letters};
use super::{Toolstack, XlResult};
use crate::hv::Hypervisor;
use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write;

/// Refresh period of `xl top` (when the hypervisor tells the time).
pub const TOP_PERIOD_NS: u64 = 1_000_000_000;
/// ANSI: cursor home, clear screen.
pub const CLEAR: &str = "\x1b[H\x1b[2J";
/// The `xl top` column header.
pub const TOP_HEADER: &str =
    "      NAME  STATE   CPU(sec) CPU(%)     MEM(k) MEM(%)  MAXMEM(k) VCPUS";

const TOP_OPTS: &[Opt] = &[Opt::flag('b', "batch")];
const UPTIME_OPTS: &[Opt] = &[Opt::flag('s', "short")];

/// The state of a running `xl top`: the previous sample, for CPU %.
#[derive(Debug, Default, Clone)]
pub struct TopView {
    last_ns: Option<u64>,
    last_cpu: BTreeMap<u16, u64>,
    /// Frames drawn.
    pub frames: u64,
}

/// `d days, hh:mm:ss` as xl uptime prints it.
pub fn fmt_uptime(ns: u64) -> String {
    let s = ns / 1_000_000_000;
    let (d, h, m, sec) = (s / 86400, s / 3600 % 24, s / 60 % 60, s % 60);
    if d > 0 {
        format!("{d} days, {h:2}:{m:02}:{sec:02}")
    } else {
        format!("{h:2}:{m:02}:{sec:02}")
    }
}

impl<H: Hypervisor> Toolstack<'_, H> {
    /// `xl uptime [-s] [Domain...]`.
    pub(super) fn uptime(&mut self, argv: &[&str], out: &mut dyn Write) -> XlResult {
        let p = args::parse(argv, UPTIME_OPTS).map_err(|e| format!("uptime: {e}"))?;
        let now = self.hv.now_ns().ok_or_else(|| {
            String::from("uptime: the hypervisor does not tell the time (no system time)")
        })?;
        let doms: Vec<(String, u16)> = if p.positional.is_empty() {
            self.all_domains()
                .map_err(|e| format!("uptime: cannot list the domains: {e}"))?
                .into_iter()
                .map(|(n, i)| (n, i.domain.0))
                .collect()
        } else {
            let mut v = Vec::new();
            for d in &p.positional {
                let (n, id) = self.resolve(d).map_err(|e| format!("uptime: {e}"))?;
                v.push((n, id.0));
            }
            v
        };
        if !p.has(UPTIME_OPTS, "short") {
            let _ = writeln!(out, "{:<32} {:>5} Uptime", "Name", "ID");
        }
        for (name, id) in doms {
            // Domain-0 started with the hypervisor; others when this toolstack started them.
            let start = if id == 0 {
                Some(0)
            } else {
                self.record(guest_abi::types::DomId(id))
                    .and_then(|r| r.started_ns)
            };
            let up = start.map_or_else(|| String::from("-"), |t| fmt_uptime(now.saturating_sub(t)));
            let _ = writeln!(out, "{name:<32} {id:>5} {up}");
        }
        Ok(())
    }

    /// `xl top [-b]`: draws the first frame; unless `-b`, leaves a [`TopView`] for the shell.
    pub(super) fn top(&mut self, argv: &[&str], out: &mut dyn Write) -> XlResult {
        let p = args::parse(argv, TOP_OPTS).map_err(|e| format!("top: {e}"))?;
        if !p.positional.is_empty() {
            return Err(String::from("top: wrong arguments"));
        }
        let mut view = TopView::default();
        let batch = p.has(TOP_OPTS, "batch");
        self.top_frame(&mut view, !batch, out)?;
        if !batch {
            self.top_view = Some(view);
        }
        Ok(())
    }

    /// A running `xl top` took the terminal (the shell hands it input and refreshes it).
    pub fn take_top_view(&mut self) -> Option<TopView> {
        self.top_view.take()
    }

    /// Redraws `view` if a period passed since the last frame (or `force`).
    pub fn top_refresh(&mut self, view: &mut TopView, force: bool, out: &mut dyn Write) {
        let due = match (view.last_ns, self.hv.now_ns()) {
            (Some(a), Some(b)) => b.saturating_sub(a) >= TOP_PERIOD_NS,
            _ => true,
        };
        if force || due {
            if let Err(e) = self.top_frame(view, true, out) {
                let _ = writeln!(out, "xl: {e}");
            }
        }
    }

    fn top_frame(&mut self, view: &mut TopView, ansi: bool, out: &mut dyn Write) -> XlResult {
        let now = self.hv.now_ns();
        let ph = self
            .hv
            .physinfo()
            .map_err(|e| format!("top: cannot get host information: {e}"))?;
        let doms = self
            .all_domains()
            .map_err(|e| format!("top: cannot list the domains: {e}"))?;
        // The hypervisor's numbers, whatever they are, never overflow here.
        let total_k = ph.total_pages.saturating_mul(4);
        let free_k = ph.free_pages.saturating_mul(4);
        let mut s = String::new();
        if ansi {
            s.push_str(CLEAR);
        }
        let count = |c: char| {
            doms.iter()
                .filter(|(_, i)| state_letters(i).contains(c))
                .count()
        };
        let _ = writeln!(
            s,
            "xl top - {}   {} domains: {} running, {} blocked, {} paused, {} crashed",
            now.map_or_else(|| String::from("-"), fmt_uptime),
            doms.len(),
            count('r'),
            count('b'),
            count('p'),
            count('c')
        );
        let _ = writeln!(
            s,
            "Mem: {total_k}k total, {}k used, {free_k}k free",
            total_k.saturating_sub(free_k)
        );
        let _ = writeln!(s, "{TOP_HEADER}");
        let elapsed = match (view.last_ns, now) {
            (Some(a), Some(b)) if b > a => Some(b - a),
            _ => None,
        };
        let mut cpu_now = BTreeMap::new();
        for (name, i) in &doms {
            let pct = match (elapsed, view.last_cpu.get(&i.domain.0)) {
                (Some(dt), Some(&c0)) => {
                    let tenths = i.cpu_time.saturating_sub(c0).saturating_mul(1000) / dt;
                    format!("{}.{}", tenths / 10, tenths % 10)
                }
                _ => String::from("0.0"),
            };
            cpu_now.insert(i.domain.0, i.cpu_time);
            let mem_k = mem_mib(i).saturating_mul(1024);
            let mem_pct = mem_k.saturating_mul(1000).checked_div(total_k).unwrap_or(0);
            let max = if i.max_pages >= u64::MAX / 8 || i.domain.0 == 0 {
                String::from("no limit")
            } else {
                format!("{}", i.max_pages * 4)
            };
            let short: String = name.chars().take(10).collect();
            let _ = writeln!(
                s,
                "{short:>10} {} {:>10} {pct:>6} {mem_k:>10} {:>4}.{} {max:>10} {:>5}",
                state_letters(i),
                i.cpu_time / 1_000_000_000,
                mem_pct / 10,
                mem_pct % 10,
                i.nr_online_vcpus
            );
        }
        if ansi {
            s.push_str("\nPress q to quit.\n");
        }
        view.last_ns = now;
        view.last_cpu = cpu_now;
        view.frames += 1;
        let _ = out.write_str(&s);
        Ok(())
    }
}
