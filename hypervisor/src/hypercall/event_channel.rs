//! `event_channel_op`: the 2-level event-channel operations (logic in `crate::evtchn`).

use super::{HcResult, Outcome};
use crate::domain::state::State;
use crate::evtchn;
use crate::mm::guest_copy;
use guest_abi::arch::CpuUserRegs;
use guest_abi::errno::Errno;
use guest_abi::event_channel::*;
use guest_abi::hypercall_args::*;
use guest_abi::types::{DomId, EvtchnPort};

/// event_channel_op(cmd, arg).
pub fn event_channel_op(st: &mut State, _regs: &mut CpuUserRegs, a: CmdArg) -> HcResult {
    let (cmd, arg) = (a.cmd, a.arg);
    let me = st.current.dom;
    match cmd {
        EVTCHNOP_ALLOC_UNBOUND => {
            let mut op: EvtchnAllocUnbound = guest_copy::read(&st.mem, arg)?;
            op.port = evtchn::alloc_unbound(st, op.dom, op.remote_dom)?;
            // The port is in the table of the domain it was allocated for.
            let owner = st.resolve(op.dom);
            write_or_close(st, arg, &op, owner, op.port)?;
        }
        EVTCHNOP_BIND_INTERDOMAIN => {
            let mut op: EvtchnBindInterdomain = guest_copy::read(&st.mem, arg)?;
            op.local_port = evtchn::bind_interdomain(st, op.remote_dom, op.remote_port)?;
            write_or_close(st, arg, &op, me, op.local_port)?;
        }
        EVTCHNOP_BIND_VIRQ => {
            let mut op: EvtchnBindVirq = guest_copy::read(&st.mem, arg)?;
            op.port = evtchn::bind_virq(st, op.virq, op.vcpu)?;
            write_or_close(st, arg, &op, me, op.port)?;
        }
        EVTCHNOP_BIND_IPI => {
            let mut op: EvtchnBindIpi = guest_copy::read(&st.mem, arg)?;
            op.port = evtchn::bind_ipi(st, op.vcpu)?;
            write_or_close(st, arg, &op, me, op.port)?;
        }
        EVTCHNOP_BIND_PIRQ => {
            let mut op: EvtchnBindPirq = guest_copy::read(&st.mem, arg)?;
            op.port = evtchn::bind_pirq(st, op.pirq)?;
            write_or_close(st, arg, &op, me, op.port)?;
        }
        EVTCHNOP_CLOSE => {
            let op: EvtchnClose = guest_copy::read(&st.mem, arg)?;
            evtchn::close_own(st, op.port)?;
        }
        EVTCHNOP_SEND => {
            let op: EvtchnSend = guest_copy::read(&st.mem, arg)?;
            evtchn::send(st, op.port)?;
        }
        EVTCHNOP_STATUS => {
            let mut op: EvtchnStatus = guest_copy::read(&st.mem, arg)?;
            evtchn::status(st, &mut op)?;
            guest_copy::write(&st.mem, arg, &op)?;
        }
        EVTCHNOP_UNMASK => {
            let op: EvtchnUnmask = guest_copy::read(&st.mem, arg)?;
            evtchn::unmask(st, op.port)?;
        }
        EVTCHNOP_RESET => {
            let op: EvtchnReset = guest_copy::read(&st.mem, arg)?;
            evtchn::reset(st, op.dom)?;
        }
        EVTCHNOP_BIND_VCPU => {
            let op: EvtchnBindVcpu = guest_copy::read(&st.mem, arg)?;
            evtchn::bind_vcpu(st, op.port, op.vcpu)?;
        }
        _ => return Err(Errno::ENOSYS),
    }
    Ok(Outcome::Done(0))
}

/// Write the result back; if the guest's buffer is gone, undo the allocation or bind of
/// `port` of domain `owner` (no leaked port).
fn write_or_close<T: zerocopy::IntoBytes + zerocopy::Immutable>(
    st: &mut State,
    arg: u64,
    op: &T,
    owner: DomId,
    port: EvtchnPort,
) -> Result<(), Errno> {
    guest_copy::write(&st.mem, arg, op).inspect_err(|_| {
        let _ = evtchn::close(st, owner, port);
    })
}
