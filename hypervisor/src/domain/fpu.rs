//! Lazy FPU/SSE switching, per vCPU.
//!
//! The FPU registers stay with the vCPU that used them last (the owner) until another vCPU
//! uses the FPU: every switch sets CR0.TS unless the incoming vCPU owns the registers, and
//! the resulting #NM saves the owner's state (FXSAVE) and loads the new one's (FXRSTOR).
//! A guest's own TS (`fpu_taskswitch(1)`) is virtual: its next FPU use gets the state
//! loaded and then #NM bounced to its handler, with its TS cleared, as Xen does.

use super::state::State;
use crate::arch::fpu_regs as fpu;
use core::sync::atomic::{AtomicU64, Ordering};

/// Set or clear the current vCPU's virtual CR0.TS (`fpu_taskswitch`).
pub fn set_guest_ts(st: &mut State, set: bool) {
    let f = &mut st.cur_vcpu().fpu;
    if set {
        f.guest_ts = true;
        fpu::set_ts();
    } else {
        f.guest_ts = false;
        if owner() == f.token {
            fpu::clear_ts();
        }
    }
}

/// Per CPU: the FPU context whose registers are live there (`FpuState::token`; 0 =
/// nobody's).
static OWNER: [AtomicU64; crate::cpus::MAX_CPUS] =
    [const { AtomicU64::new(0) }; crate::cpus::MAX_CPUS];

fn owner() -> u64 {
    OWNER[crate::arch::this_cpu()].load(Ordering::Relaxed)
}

fn set_owner(token: u64) {
    OWNER[crate::arch::this_cpu()].store(token, Ordering::Relaxed)
}

/// Nobody's registers are live (a machine set up again, in the host tests).
pub fn forget_owner() {
    set_owner(0);
}

/// Bring FPU context `f`'s saved image up to date if its registers are live on this CPU
/// (lazy switching left them here after its vCPU stopped): FXSAVE them into its area. They
/// stay live and this CPU's owner and TS stay as they were (`XEN_DOMCTL_getvcpucontext`).
pub fn sync_area(f: &mut crate::arch::fpu::FpuState) {
    if f.token != 0 && owner() == f.token {
        let ts = fpu::ts_set();
        fpu::save(&mut f.area);
        if ts {
            fpu::set_ts();
        }
    }
}

/// The current vCPU leaves this CPU. With several CPUs running vCPUs it may be picked by
/// another, so registers of its that are live here are saved now (lazy restore, eager
/// save); with one, they stay until another vCPU uses the FPU.
pub fn descheduled(st: &mut State) {
    if crate::cpus::online_count() <= 1 {
        return;
    }
    let mine = owner();
    let v = st.cur_vcpu();
    // Registers used before any #NM established ownership are the vCPU's that ran.
    let live = mine == v.fpu.token || (mine == 0 && !fpu::ts_set());
    if live {
        fpu::save(&mut v.fpu.area);
        set_owner(0);
    }
    fpu::set_ts();
}

/// The CPU switched from vCPU `prev` to the current one: make its next FPU use trap unless
/// its registers are already live and it has not set TS.
pub fn switched(st: &mut State, prev: crate::domain::VcpuId) {
    if !fpu::ts_set() && owner() == 0 {
        // Someone used the FPU before any #NM established ownership: it was `prev`.
        if let Some(v) = st.vcpu(prev) {
            set_owner(v.fpu.token);
        }
    }
    let f = &st.cur_vcpu().fpu;
    if owner() == f.token && !f.guest_ts {
        fpu::clear_ts();
    } else {
        fpu::set_ts();
    }
}

/// #NM from the current guest: load its FPU state (saving the owner's). Returns whether
/// the guest itself had set TS, in which case #NM is to be bounced to it.
pub fn device_not_available(st: &mut State) -> bool {
    let me = st.cur_vcpu().fpu.token;
    let owner = owner();
    if owner != me {
        if owner != 0 {
            // The owner may be gone (destroyed): then its registers are just dropped.
            let owner = st
                .domains
                .values_mut()
                .flat_map(|d| d.vcpus.iter_mut())
                .find(|v| v.fpu.token == owner);
            if let Some(v) = owner {
                fpu::save(&mut v.fpu.area);
            }
        }
        fpu::restore(&st.cur_vcpu().fpu.area);
        set_owner(me);
    }
    fpu::clear_ts();
    let f = &mut st.cur_vcpu().fpu;
    core::mem::replace(&mut f.guest_ts, false)
}
