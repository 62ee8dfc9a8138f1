//! Event channels used hostilely: every operation with bad ports, bad or foreign domains,
//! out-of-range VIRQs and vCPUs, and floods.

use super::Tally;
use crate::events;
use guest_abi::errno::Errno;
use guest_abi::event_channel::*;
use guest_abi::guest::{event_channel_op, hypercall2};
use guest_abi::hypercall::nr;
use guest_abi::types::{DomId, EvtchnPort};

/// A domain id no domain has.
const NO_DOMAIN: DomId = DomId::MAX_DOMAIN;

fn op<T: EvtchnOp>(mut arg: T) -> Result<u64, Errno> {
    event_channel_op(&mut arg)
}

pub fn all(t: &Tally) {
    t.class("event channels");
    let p = |n| EvtchnPort(n);
    t.refused("send on port 0", op(EvtchnSend { port: p(0) }));
    t.refused("send on port 2^31", op(EvtchnSend { port: p(1 << 31) }));
    t.refused("close port 0", op(EvtchnClose { port: p(0) }));
    t.refused(
        "close a port never allocated",
        op(EvtchnClose { port: p(4000) }),
    );
    t.refused("unmask port 2^32-1", op(EvtchnUnmask { port: p(u32::MAX) }));
    t.refused(
        "bind to a port of a domain that does not exist",
        op(EvtchnBindInterdomain {
            remote_dom: NO_DOMAIN,
            remote_port: p(1),
            ..Default::default()
        }),
    );
    t.refused(
        "bind to a dom0 port not offered to us",
        op(EvtchnBindInterdomain {
            remote_dom: DomId(0),
            remote_port: p(1),
            ..Default::default()
        }),
    );
    t.refused(
        "bind to DOMID_XEN",
        op(EvtchnBindInterdomain {
            remote_dom: DomId(0x7FF2),
            remote_port: p(1),
            ..Default::default()
        }),
    );
    t.refused(
        "allocate a port in dom0 for ourselves",
        op(EvtchnAllocUnbound {
            dom: DomId(0),
            remote_dom: DomId::SELF,
            ..Default::default()
        }),
    );
    t.refused(
        "bind VIRQ 4096",
        op(EvtchnBindVirq {
            virq: 4096,
            ..Default::default()
        }),
    );
    t.refused(
        "bind a VIRQ to vCPU 7",
        op(EvtchnBindVirq {
            virq: VIRQ_TIMER,
            vcpu: 7,
            ..Default::default()
        }),
    );
    t.refused(
        "bind a physical IRQ",
        op(EvtchnBindPirq {
            pirq: 4,
            ..Default::default()
        }),
    );
    let ipi = events::bind_ipi();
    t.refused(
        "bind a port to vCPU 1",
        op(EvtchnBindVcpu {
            port: p(*ipi.as_ref().unwrap_or(&1)),
            vcpu: 1,
        }),
    );
    t.refused(
        "status of a dom0 port",
        op(EvtchnStatus {
            dom: DomId(0),
            port: p(1),
            ..Default::default()
        }),
    );
    t.refused(
        "reset dom0's event channels",
        op(EvtchnReset { dom: DomId(0) }),
    );
    // SAFETY: an unknown command is refused before its argument is read.
    t.refused(
        "an unknown command",
        Errno::from_ret(unsafe { hypercall2(nr::EVENT_CHANNEL_OP, 99, 0x1000) }),
    );
    // A flood of sends to ourselves: each is a bit set; nothing queues.
    let flood = ipi.map(|port| (0..100_000).filter(|_| events::send(port).is_ok()).count());
    t.contained(
        "100000 sends to our own port",
        match flood {
            Ok(100_000) => Ok("every send a pending bit, nothing queued"),
            _ => Err("a send failed"),
        },
    );
    // Ports until the limit: the per-domain limit answers, nothing else runs out.
    let mut got = 0u32;
    let last = loop {
        match op(EvtchnAllocUnbound {
            dom: DomId::SELF,
            remote_dom: DomId(0),
            ..Default::default()
        }) {
            Ok(_) => got += 1,
            Err(e) => break e,
        }
        if got > 100_000 {
            break Errno::EOVERFLOW;
        }
    };
    // Refused at the limit (the count depends on the ports in use before).
    t.refused(
        "allocate ports until refused",
        if got > 0 { Err(last) } else { Ok(0) },
    );
}
