//! Xenbus device states, written by each end to `<dev>/state` in xenstore.

/// A xenbus device state (`XenbusState*`).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
#[repr(u32)]
pub enum XenbusState {
    /// Unknown (also: node absent).
    Unknown = 0,
    /// Initialising.
    Initialising = 1,
    /// Early init done; waiting for the peer or hotplug scripts.
    InitWait = 2,
    /// Initialised; waiting for the peer to connect.
    Initialised = 3,
    /// Connected.
    Connected = 4,
    /// Closing.
    Closing = 5,
    /// Closed.
    Closed = 6,
    /// Reconfiguring.
    Reconfiguring = 7,
    /// Reconfigured.
    Reconfigured = 8,
}

impl XenbusState {
    /// Decodes a raw state.
    pub const fn from_u32(v: u32) -> Option<XenbusState> {
        Some(match v {
            0 => Self::Unknown,
            1 => Self::Initialising,
            2 => Self::InitWait,
            3 => Self::Initialised,
            4 => Self::Connected,
            5 => Self::Closing,
            6 => Self::Closed,
            7 => Self::Reconfiguring,
            8 => Self::Reconfigured,
            _ => return None,
        })
    }
}
