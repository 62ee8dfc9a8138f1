//! Event-channel operations on the global state: allocate, bind, send, close, status,
//! unmask, reset; raising a port (with the wake-up of a blocked or polling vCPU); VIRQs.

use super::two_level;
use super::SharedWords;
use crate::domain::ports::Binding;
use crate::domain::state::State;
use guest_abi::errno::Errno;
use guest_abi::event_channel::*;
use guest_abi::types::{DomId, EvtchnPort};

/// VIRQs delivered per vCPU (the others are global, to dom0).
fn virq_is_per_vcpu(virq: u32) -> bool {
    matches!(virq, VIRQ_TIMER | VIRQ_DEBUG | VIRQ_XENOPROF | VIRQ_XENPMU)
}

fn live(st: &mut State, id: DomId) -> Result<&mut crate::domain::Domain, Errno> {
    match st.dom(id) {
        Some(d) if !d.dying => Ok(d),
        _ => Err(Errno::ESRCH),
    }
}

fn alloc(st: &mut State, dom: DomId, b: Binding) -> Result<EvtchnPort, Errno> {
    let d = live(st, dom)?;
    d.evtchn.alloc(b).inspect_err(|_| {
        log::warn!(
            "d{dom}: event channel ports exhausted (limit: max_evtchn_port = {})",
            d.evtchn.max_port()
        );
    })
}

/// Raise `port` of domain `dom`: set it pending and kick the vCPU if the upcall became
/// pending, or if it polls this port.
pub fn raise(st: &mut State, dom: DomId, port: EvtchnPort) {
    let Some(d) = st.domains.get(&dom) else {
        return;
    };
    if d.dying {
        return;
    }
    let w = SharedWords::new(d);
    let kick = two_level::set_pending(&w, port);
    let polled = d
        .vcpu
        .poll
        .as_ref()
        .is_some_and(|ports| ports.contains(&port));
    if kick || polled {
        st.wake(dom);
    }
}

/// Raise VIRQ `virq` of domain `dom` if it bound one.
pub fn send_virq(st: &mut State, dom: DomId, virq: u32) {
    if let Some(port) = st.dom(dom).and_then(|d| d.evtchn.virq_port(virq)) {
        raise(st, dom, port);
    }
}

/// EVTCHNOP_alloc_unbound: a port of `dom` (the caller, or any domain for a privileged
/// caller) that `remote` may bind.
pub fn alloc_unbound(st: &mut State, dom: DomId, remote: DomId) -> Result<EvtchnPort, Errno> {
    let dom = st.lookup(dom)?;
    let remote = st.resolve(remote);
    alloc(st, dom, Binding::Unbound { remote })
}

/// EVTCHNOP_bind_interdomain: connect a new local port to `remote_port` of `remote`, which
/// must be unbound and offered to the caller. The local port is raised once, as in Xen, so
/// no notification sent before the bind is lost.
pub fn bind_interdomain(
    st: &mut State,
    remote: DomId,
    remote_port: EvtchnPort,
) -> Result<EvtchnPort, Errno> {
    let me = st.current;
    let remote = st.resolve(remote);
    match live(st, remote)?.evtchn.get(remote_port)? {
        Binding::Unbound { remote: allowed } if allowed == me => {}
        _ => return Err(Errno::EINVAL),
    }
    // Reserve the local port first so a full table leaves the remote port as it was.
    let local = alloc(st, me, Binding::Ipi)?;
    let lb = Binding::Interdomain {
        remote,
        port: remote_port,
    };
    live(st, me)?.evtchn.set(local, lb);
    live(st, remote)?.evtchn.set(
        remote_port,
        Binding::Interdomain {
            remote: me,
            port: local,
        },
    );
    raise(st, me, local);
    Ok(local)
}

/// EVTCHNOP_bind_virq.
pub fn bind_virq(st: &mut State, virq: u32, vcpu: u32) -> Result<EvtchnPort, Errno> {
    if virq >= NR_VIRQS {
        return Err(Errno::EINVAL);
    }
    if vcpu != 0 {
        return Err(if virq_is_per_vcpu(virq) {
            Errno::ENOENT
        } else {
            Errno::EINVAL
        });
    }
    let me = st.current;
    if st.cur().evtchn.virq_port(virq).is_some() {
        return Err(Errno::EEXIST);
    }
    alloc(st, me, Binding::Virq(virq))
}

/// EVTCHNOP_bind_ipi.
pub fn bind_ipi(st: &mut State, vcpu: u32) -> Result<EvtchnPort, Errno> {
    if vcpu != 0 {
        return Err(Errno::ENOENT);
    }
    let me = st.current;
    alloc(st, me, Binding::Ipi)
}

/// EVTCHNOP_send from the caller's `port`.
pub fn send(st: &mut State, port: EvtchnPort) -> Result<(), Errno> {
    let me = st.current;
    match st.cur().evtchn.get(port)? {
        Binding::Interdomain { remote, port: rp } => raise(st, remote, rp),
        Binding::Ipi => raise(st, me, port),
        // As Xen: sending on a port nobody bound yet is dropped silently.
        Binding::Unbound { .. } => {}
        Binding::Closed | Binding::Virq(_) | Binding::Pirq(_) => return Err(Errno::EINVAL),
    }
    Ok(())
}

/// Close `port` of `dom`: the peer of an interdomain channel sees its side go unbound.
pub fn close(st: &mut State, dom: DomId, port: EvtchnPort) -> Result<(), Errno> {
    let d = st.dom(dom).ok_or(Errno::ESRCH)?;
    let old = d.evtchn.close(port)?;
    two_level::clear_pending(&SharedWords::new(d), port);
    if let Binding::Pirq(pirq) = old {
        crate::irq::unbind(dom, pirq, port);
    }
    if let Binding::Interdomain { remote, port: rp } = old {
        if let Some(peer) = st.dom(remote) {
            let back = Binding::Interdomain { remote: dom, port };
            if peer.evtchn.get(rp) == Ok(back) {
                peer.evtchn.set(rp, Binding::Unbound { remote: dom });
            }
        }
    }
    Ok(())
}

/// Close every port of `dom` (EVTCHNOP_reset, domain destruction).
pub fn close_all(st: &mut State, dom: DomId) {
    let ports: alloc::vec::Vec<EvtchnPort> = match st.dom(dom) {
        Some(d) => d.evtchn.in_use().map(|(p, _)| p).collect(),
        None => return,
    };
    for p in ports {
        let _ = close(st, dom, p);
    }
}

/// EVTCHNOP_close from the caller.
pub fn close_own(st: &mut State, port: EvtchnPort) -> Result<(), Errno> {
    let me = st.current;
    close(st, me, port)
}

/// EVTCHNOP_status of (`dom`, `port`).
pub fn status(st: &mut State, q: &mut EvtchnStatus) -> Result<(), Errno> {
    let dom = st.lookup(q.dom)?;
    let b = live(st, dom)?.evtchn.get(q.port)?;
    q.vcpu = 0;
    q.u = [0; 2];
    q.status = match b {
        Binding::Closed => EVTCHNSTAT_CLOSED,
        Binding::Unbound { remote } => {
            q.u[0] = u32::from(remote.0);
            EVTCHNSTAT_UNBOUND
        }
        Binding::Interdomain { remote, port } => {
            q.set_interdomain(remote, port);
            EVTCHNSTAT_INTERDOMAIN
        }
        Binding::Virq(v) => {
            q.u[0] = v;
            EVTCHNSTAT_VIRQ
        }
        Binding::Ipi => EVTCHNSTAT_IPI,
        Binding::Pirq(p) => {
            q.u[0] = p;
            EVTCHNSTAT_PIRQ
        }
    };
    Ok(())
}

/// EVTCHNOP_unmask: clear the mask bit, re-raising a pending port.
pub fn unmask(st: &mut State, port: EvtchnPort) -> Result<(), Errno> {
    let me = st.current;
    let d = st.cur();
    if !d.evtchn.valid(port) {
        return Err(Errno::EINVAL);
    }
    if two_level::unmask(&SharedWords::new(d), port) {
        st.wake(me);
    }
    Ok(())
}

/// EVTCHNOP_reset of `dom` (the caller, or any domain if privileged, which must be paused
/// by the toolstack as in Xen: its ports do not vanish under it while it runs).
pub fn reset(st: &mut State, dom: DomId) -> Result<(), Errno> {
    let me = st.current;
    let dom = st.lookup(dom)?;
    if live(st, dom)?.pause_count == 0 && dom != me {
        return Err(Errno::EINVAL);
    }
    close_all(st, dom);
    Ok(())
}

/// EVTCHNOP_bind_vcpu: with one vCPU per domain only vCPU 0 exists.
pub fn bind_vcpu(st: &mut State, port: EvtchnPort, vcpu: u32) -> Result<(), Errno> {
    if vcpu != 0 {
        return Err(Errno::ENOENT);
    }
    // As Xen: only global VIRQs and interdomain (or unbound) ports move; an IPI or a
    // per-vCPU VIRQ belongs to its vCPU.
    match st.cur().evtchn.get(port)? {
        Binding::Closed | Binding::Ipi => Err(Errno::EINVAL),
        Binding::Virq(v) if virq_is_per_vcpu(v) => Err(Errno::EINVAL),
        _ => Ok(()),
    }
}
