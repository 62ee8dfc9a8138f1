//! Time on the test machine: dom0 reads system time as a PV guest does (its vcpu_time_info
//! and the TSC), and waiting lets modelled time pass, with the timer interrupts that fall due
//! meanwhile taken through the hypervisor's interrupt entry and the guests' planned actions
//! done at their time.

use super::TestHv;
use guest_abi::shared_info::{SharedInfo, VcpuInfo, VcpuTimeInfo};
use hypervisor::arch::{cpu, lapic};

impl TestHv {
    /// System time as dom0 computes it from vcpu_info[0].time in its shared_info.
    pub fn guest_time(&mut self) -> u64 {
        let at = self.shared_info
            + (core::mem::offset_of!(SharedInfo, vcpu_info) + core::mem::offset_of!(VcpuInfo, time))
                as u64;
        self.dom0_on_cpu();
        loop {
            let t: VcpuTimeInfo = self.tb.read(at);
            let again: VcpuTimeInfo = self.tb.read(at);
            if t.version & 1 == 0 && t.version == again.version {
                return t.system_time_at(cpu::rdtsc());
            }
        }
    }

    /// Lets `ns` of modelled time pass: each timer interrupt due meanwhile is taken (the
    /// scheduler charges, fires vCPU timers, picks the next vCPU), and each guest action
    /// planned meanwhile is done at its time. dom0 has the CPU afterwards.
    pub fn pass_time(&mut self, ns: u64) {
        let end = hypervisor::arch::now_ns().saturating_add(ns);
        loop {
            let timer = lapic::deadline();
            let planned = self.planned.iter().map(|p| p.0).min();
            let next = match (timer, planned) {
                (Some(a), Some(b)) => a.min(b),
                (a, b) => match a.or(b) {
                    Some(t) => t,
                    None => break,
                },
            };
            if next > end {
                break;
            }
            cpu::advance_to_ns(next);
            if timer.is_some_and(|t| t <= next) {
                lapic::take_deadline();
                self.timer_interrupt();
            }
            self.do_planned();
        }
        cpu::advance_to_ns(end);
        self.dom0_on_cpu();
    }

    /// The LAPIC timer fires while the vCPU on the CPU runs.
    fn timer_interrupt(&mut self) {
        let regs = &mut self.tb.regs;
        regs.entry_vector = u32::from(lapic::TIMER_VECTOR);
        hypervisor::dispatch::guest_interrupt(regs);
        hypervisor::dispatch::before_guest_entry(regs);
    }
}
