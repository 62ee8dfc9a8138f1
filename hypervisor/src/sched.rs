//! Scheduling: which domain's vCPU runs next, and switching to it.
//!
//! Round-robin over runnable domains for now; the credit scheduler replaces the policy.

use crate::domain::state::{self, State};
use guest_abi::arch::CpuUserRegs;

/// Pick the next runnable domain after `after` in id order (wrapping), if any.
pub fn pick_next(st: &State, after: u16) -> Option<u16> {
    let later = st
        .domains
        .range(after.saturating_add(1)..)
        .find(|(_, d)| d.runnable());
    let wrap = || st.domains.range(..=after).find(|(_, d)| d.runnable());
    later.or_else(wrap).map(|(&id, _)| id)
}

/// Save the live frame into the current vCPU, choose the next one, load its frame and
/// address space. Idles (halting) while nothing is runnable.
pub fn schedule(regs: &mut CpuUserRegs) {
    loop {
        let switched = state::with(|st| switch(st, regs));
        if switched {
            return;
        }
        crate::arch::x86_64::idle_halt();
    }
}

/// Keep running the current domain if it may, else switch. Returns whether a runnable
/// domain's frame is loaded.
fn switch(st: &mut State, regs: &mut CpuUserRegs) -> bool {
    let cur = st.current;
    let now = crate::arch::x86_64::now_ns();
    let next = match pick_next(st, cur) {
        Some(n) => n,
        None => return false,
    };
    if let Some(d) = st.dom(cur) {
        d.cpu_time_ns +=
            now.saturating_sub(LAST_SWITCH.swap(now, core::sync::atomic::Ordering::Relaxed));
        if next == cur && d.runnable() {
            return true;
        }
        d.vcpu.regs = *regs;
        d.vcpu.fs_base = crate::arch::x86_64::cpu::fs_base();
        let gs = crate::arch::x86_64::cpu::gs_base();
        if d.vcpu.in_kernel {
            d.vcpu.gs_base_kernel = gs;
        } else {
            d.vcpu.gs_base_user = gs;
        }
    } else {
        LAST_SWITCH.store(now, core::sync::atomic::Ordering::Relaxed);
    }
    st.current = next;
    let d = st.cur();
    *regs = d.vcpu.regs;
    crate::arch::x86_64::cpu::set_fs_base(d.vcpu.fs_base);
    crate::arch::x86_64::cpu::set_gs_base(if d.vcpu.in_kernel {
        d.vcpu.gs_base_kernel
    } else {
        d.vcpu.gs_base_user
    });
    crate::arch::x86_64::cpu::write_cr3(d.vcpu.active_l4() << 12);
    crate::traps::vcpu_switched(st, cur);
    true
}

static LAST_SWITCH: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(0);
