//! Event upcalls: on every return to a guest, a pending virtual NMI is delivered first
//! (`domain::nmi`), then a pending, unmasked upcall by bouncing to the guest's registered
//! event callback with events masked (Xen's `evtchn_upcall_pending && !evtchn_upcall_mask`).

use crate::domain::{state, vcpu_info};
use guest_abi::arch::CpuUserRegs;

/// Deliver a due upcall to the vCPU whose frame is `regs`. A guest whose callback frame
/// cannot be written is crashed and another vCPU is scheduled (which is checked in turn).
pub fn deliver(regs: &mut CpuUserRegs) {
    for _ in 0..64 {
        // Without the lock unless some vCPU has an NMI pending.
        if crate::domain::nmi::any_pending() {
            if let Err(why) = state::with(|st| crate::domain::nmi::deliver(st, regs)) {
                crate::sched::crash_current(regs, why);
                continue;
            }
        }
        let vi = state::current_vcpu_info();
        if vi == 0 {
            return;
        }
        // The common case, without the lock: nothing pending in the current vCPU's vcpu_info.
        if !vcpu_info::upcall_pending_unlocked(vi) {
            return;
        }
        let r = state::with(|st| {
            let me = st.current;
            let d = st.cur();
            let cb = d.vcpu(me.vcpu).map_or(0, |v| v.callbacks.event);
            let si = &d.vcpu_info(me.vcpu);
            if cb == 0
                || !d.vcpu_runnable(me.vcpu)
                || !vcpu_info::upcall_pending(si)
                || vcpu_info::upcall_masked(si)
            {
                return Ok(());
            }
            crate::domain::bounce::bounce(st, regs, cb, None, true)
        });
        match r {
            Ok(()) => return,
            Err(why) => crate::sched::crash_current(regs, why),
        }
    }
}
