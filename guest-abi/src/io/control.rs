//! The XenStore control protocol between a toolstack and a PV guest: the toolstack writes a
//! request into `control/shutdown` (relative to the guest's home directory,
//! `/local/domain/<id>`); a guest that watches the node acts on it with `SCHEDOP_shutdown`
//! and clears the node (writes the empty string) to acknowledge it.

use crate::sched::ShutdownReason;

/// The node, relative to the domain's XenStore directory.
pub const CONTROL_SHUTDOWN: &str = "control/shutdown";

/// Request: power off.
pub const REQ_POWEROFF: &str = "poweroff";
/// Request: reboot.
pub const REQ_REBOOT: &str = "reboot";
/// Request: halt (a PV guest treats it as power off).
pub const REQ_HALT: &str = "halt";
/// Request: suspend (save); needs a toolstack that saves the domain.
pub const REQ_SUSPEND: &str = "suspend";

/// What a guest makes of the value of `control/shutdown`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShutdownRequest<'a> {
    /// Empty: nothing asked (or the previous request was acknowledged).
    None,
    /// Shut down with this reason.
    Shutdown(ShutdownReason),
    /// Suspend (`SCHEDOP_shutdown(SHUTDOWN_suspend)`), to be saved or resumed.
    Suspend,
    /// A value this guest does not know.
    Unsupported(&'a str),
}

impl<'a> ShutdownRequest<'a> {
    /// Decodes a node value (surrounding whitespace and a trailing NUL are ignored).
    pub fn parse(value: &'a str) -> ShutdownRequest<'a> {
        match value.trim_matches(|c: char| c == '\0' || c.is_whitespace()) {
            "" => ShutdownRequest::None,
            REQ_POWEROFF | REQ_HALT => ShutdownRequest::Shutdown(ShutdownReason::Poweroff),
            REQ_REBOOT => ShutdownRequest::Shutdown(ShutdownReason::Reboot),
            REQ_SUSPEND => ShutdownRequest::Suspend,
            other => ShutdownRequest::Unsupported(other),
        }
    }
}

/// The request a toolstack writes to ask for shutdown with `reason` (poweroff or reboot).
pub const fn request_for(reason: ShutdownReason) -> Option<&'static str> {
    match reason {
        ShutdownReason::Poweroff => Some(REQ_POWEROFF),
        ShutdownReason::Reboot => Some(REQ_REBOOT),
        ShutdownReason::Suspend => Some(REQ_SUSPEND),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_decode_to_reasons() {
        assert_eq!(ShutdownRequest::parse(""), ShutdownRequest::None);
        assert_eq!(ShutdownRequest::parse("\0"), ShutdownRequest::None);
        assert_eq!(
            ShutdownRequest::parse("poweroff"),
            ShutdownRequest::Shutdown(ShutdownReason::Poweroff)
        );
        assert_eq!(
            ShutdownRequest::parse("halt"),
            ShutdownRequest::Shutdown(ShutdownReason::Poweroff)
        );
        assert_eq!(
            ShutdownRequest::parse("reboot\n"),
            ShutdownRequest::Shutdown(ShutdownReason::Reboot)
        );
        assert_eq!(ShutdownRequest::parse("suspend"), ShutdownRequest::Suspend);
        assert_eq!(
            ShutdownRequest::parse("Poweroff"),
            ShutdownRequest::Unsupported("Poweroff")
        );
    }

    #[test]
    fn toolstack_requests_round_trip() {
        for r in [ShutdownReason::Poweroff, ShutdownReason::Reboot] {
            let v = request_for(r).unwrap();
            assert_eq!(ShutdownRequest::parse(v), ShutdownRequest::Shutdown(r));
        }
        assert_eq!(request_for(ShutdownReason::Crash), None);
    }
}
