//! The xenbus device handshake, for both ends of a split driver. Each end keeps its state
//! in its own `state` node and watches the other's; [`front_step`] and [`back_step`] say
//! which state an end moves to when it sees the peer's. The caller does the work a step
//! implies before writing the new state: the front end publishes its ring details before
//! `Initialised`; the back end maps the ring and binds the channel before `Connected`.

use alloc::format;
use alloc::string::String;
use guest_abi::io::xenbus::XenbusState;

/// A state as written in xenstore (`"4"`).
pub fn text(s: XenbusState) -> String {
    format!("{}", s as u32)
}

/// Parses a state node's value; an absent or unreadable node is `Unknown`.
pub fn parse(v: &[u8]) -> XenbusState {
    core::str::from_utf8(v)
        .ok()
        .and_then(|s| s.trim().parse::<u32>().ok())
        .and_then(XenbusState::from_u32)
        .unwrap_or(XenbusState::Unknown)
}

/// The front end's next state, seeing the back end in `peer` (`None`: stay).
pub fn front_step(own: XenbusState, peer: XenbusState) -> Option<XenbusState> {
    use XenbusState::*;
    match (own, peer) {
        (Initialising, InitWait | Initialised | Connected) => Some(Initialised),
        (Initialised, Connected) => Some(Connected),
        (Initialising | Initialised | Connected, Closing) => Some(Closing),
        (Closing, Closed) => Some(Closed),
        (Closing, Closing) => Some(Closed),
        _ => None,
    }
}

/// The back end's next state, seeing the front end in `peer` (`None`: stay).
pub fn back_step(own: XenbusState, peer: XenbusState) -> Option<XenbusState> {
    use XenbusState::*;
    match (own, peer) {
        (Initialising, _) => Some(InitWait),
        (InitWait, Initialised | Connected) => Some(Connected),
        (InitWait | Connected, Closing) => Some(Closing),
        (InitWait | Connected | Closing, Closed) => Some(Closed),
        _ => None,
    }
}

/// Runs a step function to a fixed point, calling `visit` with every state passed through.
pub fn settle(
    mut own: XenbusState,
    peer: XenbusState,
    step: fn(XenbusState, XenbusState) -> Option<XenbusState>,
    mut visit: impl FnMut(XenbusState),
) -> XenbusState {
    while let Some(next) = step(own, peer) {
        if next == own {
            break;
        }
        visit(next);
        own = next;
    }
    own
}
