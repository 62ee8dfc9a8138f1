//! `XEN_DOMCTL_scheduler_op` for the credit scheduler: getinfo / putinfo of weight and cap.

use crate::domain::credit::{MAX_CAP, MIN_WEIGHT};
use crate::domain::state::State;
use guest_abi::domctl::*;
use guest_abi::errno::Errno;
use guest_abi::types::DomId;

/// Handle a scheduler_op on domain `dom`; `op` is updated in place for getinfo.
pub fn scheduler_op(st: &mut State, dom: DomId, op: &mut DomctlSchedulerOp) -> Result<(), Errno> {
    if op.sched_id != XEN_SCHEDULER_CREDIT {
        return Err(Errno::EINVAL);
    }
    let d = match st.dom(dom) {
        Some(d) if !d.dying => d,
        _ => return Err(Errno::ESRCH),
    };
    match op.cmd {
        XEN_DOMCTL_SCHEDOP_GETINFO => {
            op.credit = DomctlSchedCredit {
                weight: d.credit.weight,
                cap: d.credit.cap,
            };
            Ok(())
        }
        XEN_DOMCTL_SCHEDOP_PUTINFO => {
            let DomctlSchedCredit { weight, cap } = op.credit;
            // As Xen: weight 0 and cap 0xFFFF leave the value as it is.
            // A cap is a percentage of one CPU: at most all of the host's.
            let max_cap = u32::from(MAX_CAP) * crate::cpus::online_count();
            if cap != u16::MAX && u32::from(cap) > max_cap {
                log::warn!(
                    "d{dom}: cap {cap} refused: at most {max_cap} (percent of one CPU, {} CPU(s))",
                    crate::cpus::online_count()
                );
                return Err(Errno::EINVAL);
            }
            if weight != 0 {
                d.credit.weight = weight.max(MIN_WEIGHT);
            }
            if cap != u16::MAX {
                d.credit.cap = cap;
                d.credit.parked = false;
                d.credit.cap_used = 0;
            }
            Ok(())
        }
        _ => Err(Errno::EINVAL),
    }
}
