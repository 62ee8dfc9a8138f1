//! Interdomain event channels set up by the toolstack, as libxl does for the console and
//! xenstore rings: a guest whose command line says `evtchn_peer=<domid>` gets a port that
//! the toolstack allocated in domain `<domid>` for it (`EVTCHNOP_alloc_unbound` on the
//! peer's behalf), passed as `evtchn_port=<port>`; the guest binds it with
//! `EVTCHNOP_bind_interdomain`.

use crate::hv::Hypervisor;
use alloc::format;
use alloc::string::String;
use guest_abi::types::DomId;

/// The command line for new domain `domid`, with `evtchn_port=` appended if it names an
/// `evtchn_peer=`.
pub fn connect<H: Hypervisor>(hv: &mut H, domid: DomId, cmdline: &str) -> Result<String, String> {
    let Some(peer) = cmdline
        .split_ascii_whitespace()
        .find_map(|w| w.strip_prefix("evtchn_peer="))
    else {
        return Ok(String::from(cmdline));
    };
    let peer: u16 = peer
        .parse()
        .map_err(|_| format!("evtchn_peer={peer}: not a domain id"))?;
    let port = hv.evtchn_alloc_unbound(DomId(peer), domid).map_err(|e| {
        format!(
            "evtchn_peer={peer}: cannot allocate a port of domain {peer} for domain {}: {e}",
            domid.0
        )
    })?;
    Ok(format!("{cmdline} evtchn_port={port}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testhv::TestHv;

    #[test]
    fn plain_command_lines_pass_through() {
        let mut hv = TestHv::boot(64);
        assert_eq!(connect(&mut hv, DomId(2), "test=x").unwrap(), "test=x");
        let e = connect(&mut hv, DomId(2), "evtchn_peer=abc").unwrap_err();
        assert!(e.contains("not a domain id"), "{e}");
    }

    #[test]
    fn a_peer_gets_a_port_the_new_domain_may_bind() {
        use guest_abi::types::EvtchnPort;
        use hypervisor::domain::ports::Binding;
        let mut hv = TestHv::boot(64);
        let mut op = crate::testhv::createdomain_op();
        hv.domctl(&mut op).unwrap();
        let new = op.domain;
        let line = connect(&mut hv, new, "test=x evtchn_peer=0").unwrap();
        let port: u32 = line
            .strip_prefix("test=x evtchn_peer=0 evtchn_port=")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("{line}"));
        let binding = hv
            .testbed()
            .st(|st| st.dom(DomId::DOM0).map(|d| d.evtchn.get(EvtchnPort(port))));
        assert_eq!(binding, Some(Ok(Binding::Unbound { remote: new })));
        // A peer that does not exist: the hypervisor's answer, named.
        let e = connect(&mut hv, new, "evtchn_peer=7").unwrap_err();
        assert_eq!(
            e,
            format!(
                "evtchn_peer=7: cannot allocate a port of domain 7 for domain {}: ESRCH",
                new.0
            )
        );
    }
}
