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
    use crate::sim::SimHypervisor;

    #[test]
    fn plain_command_lines_pass_through() {
        let mut hv = SimHypervisor::new(512, 64);
        assert_eq!(connect(&mut hv, DomId(2), "test=x").unwrap(), "test=x");
        let e = connect(&mut hv, DomId(2), "evtchn_peer=abc").unwrap_err();
        assert!(e.contains("not a domain id"), "{e}");
    }
}
