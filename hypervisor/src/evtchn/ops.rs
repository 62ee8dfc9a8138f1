//! Event-channel operations on the global state: allocate, bind, send, close, status,
//! unmask, reset; raising a port (with the wake-up of a blocked or polling vCPU); VIRQs.

use super::two_level;
use super::SharedWords;
use crate::domain::ports::{virq_is_per_vcpu, Binding};
use crate::domain::state::State;
use crate::domain::VcpuId;
use guest_abi::errno::Errno;
use guest_abi::event_channel::*;
use guest_abi::types::{DomId, EvtchnPort};

fn live(st: &mut State, id: DomId) -> Result<&mut crate::domain::Domain, Errno> {
    match st.dom(id) {
        Some(d) if !d.dying => Ok(d),
        _ => Err(Errno::ESRCH),
    }
}

fn alloc(st: &mut State, dom: DomId, b: Binding) -> Result<EvtchnPort, Errno> {
    alloc_for(st, dom, b, 0)
}

/// Allocate a port of `dom` bound as `b`, notifying its vCPU `vcpu`.
fn alloc_for(st: &mut State, dom: DomId, b: Binding, vcpu: u32) -> Result<EvtchnPort, Errno> {
    let d = live(st, dom)?;
    d.evtchn.alloc_for(b, vcpu).inspect_err(|_| {
        log::warn!(
            "d{dom}: event channel ports exhausted (limit: max_evtchn_port = {})",
            d.evtchn.max_port()
        );
    })
}

/// Raise `port` of domain `dom`: set it pending in the shared bitmap, and in the vcpu_info
/// of the vCPU the port notifies; kick that vCPU if its upcall became pending, and every vCPU
/// of the domain polling this port.
pub fn raise(st: &mut State, dom: DomId, port: EvtchnPort) {
    let Some(d) = st.domains.get(&dom) else {
        return;
    };
    if d.dying {
        return;
    }
    let notify = d.evtchn.notify_vcpu(port);
    let w = SharedWords::new(d, notify);
    let kick = two_level::set_pending(&w, port);
    let mut wake: alloc::vec::Vec<u32> = d
        .vcpus
        .iter()
        .filter(|v| v.poll.as_ref().is_some_and(|ports| ports.contains(&port)))
        .map(|v| v.id)
        .collect();
    if kick {
        wake.push(notify);
    }
    for v in wake {
        st.wake(VcpuId::new(dom, v));
    }
}

/// Raise global VIRQ `virq` of domain `dom` if it bound one (on vCPU 0, delivered to the
/// vCPU its port notifies).
pub fn send_virq(st: &mut State, dom: DomId, virq: u32) {
    if let Some(port) = st.dom(dom).and_then(|d| d.evtchn.virq_port(virq)) {
        raise(st, dom, port);
    }
}

/// Raise per-vCPU VIRQ `virq` of vCPU `v` if it bound one.
pub fn send_vcpu_virq(st: &mut State, v: VcpuId, virq: u32) {
    if let Some(port) = st
        .dom(v.dom)
        .and_then(|d| d.evtchn.virq_port_on(v.vcpu, virq))
    {
        raise(st, v.dom, port);
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
    let me = st.current.dom;
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

/// EVTCHNOP_bind_virq, as Xen: a VIRQ beyond the table `EINVAL`, a global one on a vCPU
/// other than 0 `EINVAL`, a vCPU the caller lacks `ENOENT`, one already bound on that vCPU
/// `EEXIST`. The port notifies that vCPU.
pub fn bind_virq(st: &mut State, virq: u32, vcpu: u32) -> Result<EvtchnPort, Errno> {
    if virq >= NR_VIRQS {
        return Err(Errno::EINVAL);
    }
    if !virq_is_per_vcpu(virq) && vcpu != 0 {
        return Err(Errno::EINVAL);
    }
    let me = st.current.dom;
    let d = st.cur();
    if d.vcpu(vcpu).is_none() {
        return Err(Errno::ENOENT);
    }
    if d.evtchn.virq_port_on(vcpu, virq).is_some() {
        return Err(Errno::EEXIST);
    }
    alloc_for(st, me, Binding::Virq(virq), vcpu)
}

/// EVTCHNOP_bind_ipi: a port whose sends notify the caller's vCPU `vcpu` (`ENOENT` for a
/// vCPU it lacks).
pub fn bind_ipi(st: &mut State, vcpu: u32) -> Result<EvtchnPort, Errno> {
    let me = st.current.dom;
    if st.cur().vcpu(vcpu).is_none() {
        return Err(Errno::ENOENT);
    }
    alloc_for(st, me, Binding::Ipi, vcpu)
}

/// EVTCHNOP_send from the caller's `port`.
pub fn send(st: &mut State, port: EvtchnPort) -> Result<(), Errno> {
    let me = st.current.dom;
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
    two_level::clear_pending(&SharedWords::new(d, 0), port);
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
    let me = st.current.dom;
    close(st, me, port)
}

/// EVTCHNOP_status of (`dom`, `port`).
pub fn status(st: &mut State, q: &mut EvtchnStatus) -> Result<(), Errno> {
    let dom = st.lookup(q.dom)?;
    let d = live(st, dom)?;
    let b = d.evtchn.get(q.port)?;
    q.vcpu = d.evtchn.notify_vcpu(q.port);
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

/// EVTCHNOP_unmask: clear the mask bit, re-raising a pending port (to the vCPU it
/// notifies).
pub fn unmask(st: &mut State, port: EvtchnPort) -> Result<(), Errno> {
    let me = st.current.dom;
    let d = st.cur();
    if !d.evtchn.valid(port) {
        return Err(Errno::EINVAL);
    }
    let notify = d.evtchn.notify_vcpu(port);
    if two_level::unmask(&SharedWords::new(d, notify), port) {
        st.wake(VcpuId::new(me, notify));
    }
    Ok(())
}

/// EVTCHNOP_reset of `dom` (the caller, or any domain if privileged, which must be paused
/// by the toolstack as in Xen: its ports do not vanish under it while it runs).
pub fn reset(st: &mut State, dom: DomId) -> Result<(), Errno> {
    let me = st.current.dom;
    let dom = st.lookup(dom)?;
    if live(st, dom)?.pause_count == 0 && dom != me {
        return Err(Errno::EINVAL);
    }
    close_all(st, dom);
    Ok(())
}

/// EVTCHNOP_bind_vcpu: make the caller's `port` notify its vCPU `vcpu` (`ENOENT` for a vCPU
/// it lacks). As Xen: global VIRQs, unbound, interdomain and pirq ports move; an IPI, a
/// per-vCPU VIRQ or a closed port `EINVAL`. A port pending now stays pending where it was
/// marked: the next event on it goes to the new vCPU.
pub fn bind_vcpu(st: &mut State, port: EvtchnPort, vcpu: u32) -> Result<(), Errno> {
    let d = st.cur();
    if d.vcpu(vcpu).is_none() {
        return Err(Errno::ENOENT);
    }
    match d.evtchn.get(port)? {
        Binding::Closed | Binding::Ipi => return Err(Errno::EINVAL),
        Binding::Virq(v) if virq_is_per_vcpu(v) => return Err(Errno::EINVAL),
        _ => {}
    }
    d.evtchn.set_notify_vcpu(port, vcpu);
    Ok(())
}
