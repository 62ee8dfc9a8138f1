//! `xl sched-credit`: show and set the credit scheduler's weight and cap per domain
//! (`XEN_DOMCTL_scheduler_op` getinfo / putinfo), in Xen's output format.

use super::{Toolstack, XlResult};
use crate::hv::Hypervisor;
use alloc::format;
use alloc::string::String;
use core::fmt::Write;
use guest_abi::domctl::*;
use guest_abi::types::DomId;

/// Weight bounds (as Xen's credit scheduler).
const MIN_WEIGHT: u16 = 1;
const MAX_WEIGHT: u16 = 65535;
/// The cap of one whole CPU, in percent: a cap may be this times the host's CPUs.
const CPU_CAP: u16 = 100;

/// A weight or cap: decimal digits, within `lo..=hi` (`range` names it in the error). Digits
/// beyond 64 bits are out of range too, not "not a number".
fn number(what: &str, v: &str, lo: u16, hi: u16, range: &str) -> Result<u16, String> {
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("sched-credit: {what} \"{v}\" is not a number"));
    }
    v.parse::<u16>()
        .ok()
        .filter(|n| (lo..=hi).contains(n))
        .ok_or_else(|| format!("sched-credit: {what} {v} out of range: {range}"))
}

impl<H: Hypervisor> Toolstack<'_, H> {
    fn sched_credit_op(
        &mut self,
        id: DomId,
        cmd: u32,
        credit: DomctlSchedCredit,
    ) -> Result<DomctlSchedCredit, String> {
        let payload = DomctlSchedulerOp {
            sched_id: XEN_SCHEDULER_CREDIT,
            cmd,
            credit,
            ..Default::default()
        };
        let mut op = XenDomctl::with_payload(XEN_DOMCTL_SCHEDULER_OP, id, &payload);
        self.hv
            .domctl(&mut op)
            .map_err(|e| format!("sched-credit: domain {}: scheduler_op: {e}", id.0))?;
        Ok(op.payload::<DomctlSchedulerOp>().credit)
    }

    /// `xl sched-credit [-d <Domain>] [-w <Weight>] [-c <Cap>]`.
    pub(super) fn sched_credit(&mut self, args: &[&str], out: &mut dyn Write) -> XlResult {
        let (mut dom, mut weight, mut cap) = (None, None, None);
        let mut it = args.iter();
        while let Some(&a) = it.next() {
            let (key, inline) = match a.split_once('=') {
                Some((k, v)) => (k, Some(v)),
                None => (a, None),
            };
            let mut value = || {
                inline
                    .or_else(|| it.next().copied())
                    .ok_or_else(|| format!("sched-credit: {key} needs a value"))
            };
            match key {
                "-d" | "--domain" => dom = Some(value()?),
                "-w" | "--weight" => {
                    let range = format!("valid weights are {MIN_WEIGHT} to {MAX_WEIGHT}");
                    weight = Some(number("weight", value()?, MIN_WEIGHT, MAX_WEIGHT, &range)?);
                }
                "-c" | "--cap" => {
                    // As the hypervisor: up to one CPU's worth per CPU of the host.
                    let cpus = self.hv.physinfo().map_or(1, |p| p.nr_cpus.max(1));
                    let cpus = u16::try_from(cpus).unwrap_or(u16::MAX);
                    let max = CPU_CAP.saturating_mul(cpus);
                    let plural = if cpus > 1 { "s" } else { "" };
                    let range = format!(
                        "valid caps are 0 (none) to {max} (percent of the host's {cpus} CPU{plural})"
                    );
                    cap = Some(number("cap", value()?, 0, max, &range)?);
                }
                _ => return Err(format!("sched-credit: unknown option \"{a}\"")),
            }
        }
        if weight.is_some() || cap.is_some() {
            let Some(d) = dom else {
                return Err(String::from(
                    "sched-credit: -w and -c need the domain to set (-d <Domain>)",
                ));
            };
            let (_, id) = self.resolve(d)?;
            let set = DomctlSchedCredit {
                weight: weight.unwrap_or(0),
                cap: cap.unwrap_or(u16::MAX),
            };
            self.sched_credit_op(id, XEN_DOMCTL_SCHEDOP_PUTINFO, set)?;
            return Ok(());
        }
        let doms = match dom {
            Some(d) => {
                let (name, id) = self.resolve(d)?;
                alloc::vec![(name, id)]
            }
            None => self
                .all_domains()
                .map_err(|e| format!("sched-credit: cannot list the domains: {e}"))?
                .into_iter()
                .map(|(name, info)| (name, info.domain))
                .collect(),
        };
        let _ = writeln!(
            out,
            "Cpupool Pool-0: tslice=10ms ratelimit=0us migration-delay=0us"
        );
        let _ = writeln!(
            out,
            "{:<33} {:>4} {:>6} {:>4}",
            "Name", "ID", "Weight", "Cap"
        );
        for (name, id) in doms {
            let c =
                self.sched_credit_op(id, XEN_DOMCTL_SCHEDOP_GETINFO, DomctlSchedCredit::default())?;
            let _ = writeln!(out, "{:<33} {:>4} {:>6} {:>4}", name, id.0, c.weight, c.cap);
        }
        Ok(())
    }
}
