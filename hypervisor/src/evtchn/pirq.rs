//! Event channels bound to physical IRQs (`crate::irq`): `EVTCHNOP_bind_pirq`, and the
//! delivery of the GSIs that fired to the ports their pirqs are bound to.

use super::ops::raise;
use crate::domain::ports::Binding;
use crate::domain::state::State;
use guest_abi::errno::Errno;
use guest_abi::types::EvtchnPort;

/// EVTCHNOP_bind_pirq: a new port of the caller for its mapped `pirq`, whose line is then
/// unmasked. `EPERM` for a pirq it has not mapped (every pirq of a domain without devices),
/// `EEXIST` if already bound. The flags (`BIND_PIRQ__WILL_SHARE`) change nothing: a line
/// has one owner.
pub fn bind_pirq(st: &mut State, pirq: u32) -> Result<EvtchnPort, Errno> {
    let me = st.current.dom;
    crate::irq::bindable(me, pirq)?;
    let port = st
        .dom(me)
        .ok_or(Errno::ESRCH)?
        .evtchn
        .alloc(Binding::Pirq(pirq))?;
    if let Err(e) = crate::irq::bind(me, pirq, port) {
        let _ = super::close(st, me, port);
        return Err(e);
    }
    Ok(port)
}

/// Raises the ports of the GSIs that fired since the last pass.
pub fn deliver_pirqs(st: &mut State) {
    for gsi in crate::irq::line::take_pending() {
        if let Some((dom, port)) = crate::irq::fired(gsi) {
            raise(st, dom, port);
        }
    }
}
