//! The xenstore wire protocol and the xenstore ring page.

use static_assertions::{assert_eq_size, const_assert_eq};
use zerocopy::{FromBytes, FromZeros, Immutable, IntoBytes, KnownLayout};

/// Size of each xenstore ring.
pub const XENSTORE_RING_SIZE: usize = 1024;
/// Largest message payload.
pub const XENSTORE_PAYLOAD_MAX: usize = 4096;
/// Longest absolute path.
pub const XENSTORE_ABS_PATH_MAX: usize = 3072;
/// Longest relative path.
pub const XENSTORE_REL_PATH_MAX: usize = 2048;
/// Server feature: reconnection.
pub const XENSTORE_SERVER_FEATURE_RECONNECTION: u32 = 1;
/// Server feature: error reporting.
pub const XENSTORE_SERVER_FEATURE_ERROR: u32 = 2;
/// `connection`: steady state.
pub const XENSTORE_CONNECTED: u32 = 0;
/// `connection`: reconnect in progress.
pub const XENSTORE_RECONNECT: u32 = 1;
/// `error`: none.
pub const XENSTORE_ERROR_NONE: u32 = 0;
/// `error`: communication problem.
pub const XENSTORE_ERROR_COMM: u32 = 1;
/// `error`: invalid ring index.
pub const XENSTORE_ERROR_RINGIDX: u32 = 2;
/// `error`: protocol violation.
pub const XENSTORE_ERROR_PROTO: u32 = 3;

/// Masks a free-running xenstore ring index.
pub const fn mask_xenstore_idx(idx: u32) -> usize {
    (idx as usize) & (XENSTORE_RING_SIZE - 1)
}

/// The xenstore ring page (`xenstore_domain_interface`, 2076 B in 4.17).
/// The guest produces `req` and consumes `rsp`.
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, KnownLayout, Immutable)]
#[repr(C)]
pub struct XenstoreDomainInterface {
    /// Requests to the xenstore daemon.
    pub req: [u8; XENSTORE_RING_SIZE],
    /// Replies and watch events.
    pub rsp: [u8; XENSTORE_RING_SIZE],
    /// Request consumer index.
    pub req_cons: u32,
    /// Request producer index.
    pub req_prod: u32,
    /// Response consumer index.
    pub rsp_cons: u32,
    /// Response producer index.
    pub rsp_prod: u32,
    /// `XENSTORE_SERVER_FEATURE_*` bitmap.
    pub server_features: u32,
    /// `XENSTORE_CONNECTED` / `XENSTORE_RECONNECT`.
    pub connection: u32,
    /// `XENSTORE_ERROR_*`.
    pub error: u32,
}

impl Default for XenstoreDomainInterface {
    fn default() -> Self {
        XenstoreDomainInterface::new_zeroed()
    }
}

/// Message header (`xsd_sockmsg`, 16 B), followed by `len` payload bytes.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
#[repr(C)]
pub struct XsdSockmsg {
    /// [`XsType`] value.
    pub type_: u32,
    /// Request id, echoed in the reply.
    pub req_id: u32,
    /// Transaction id (0 = none).
    pub tx_id: u32,
    /// Payload length.
    pub len: u32,
}

impl XsdSockmsg {
    /// The message type, if known.
    pub fn xs_type(&self) -> Option<XsType> {
        XsType::from_u32(self.type_)
    }
}

macro_rules! xs_types {
    ($($name:ident = $v:expr, $doc:literal;)*) => {
        /// Xenstore message types (`XS_*`).
        #[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
        #[repr(u32)]
        pub enum XsType {
            $(#[doc = $doc] $name = $v,)*
        }

        impl XsType {
            /// Decodes a raw type.
            pub const fn from_u32(v: u32) -> Option<XsType> {
                match v {
                    $($v => Some(XsType::$name),)*
                    _ => None,
                }
            }
        }
    };
}

xs_types! {
    Control = 0, "Control/debug command (`XS_CONTROL`, alias `XS_DEBUG`).";
    Directory = 1, "List a directory.";
    Read = 2, "Read a node.";
    GetPerms = 3, "Read permissions.";
    Watch = 4, "Add a watch.";
    Unwatch = 5, "Remove a watch.";
    TransactionStart = 6, "Start a transaction.";
    TransactionEnd = 7, "End a transaction (`T` commit / `F` abort).";
    Introduce = 8, "Introduce a domain (dom0).";
    Release = 9, "Release a domain (dom0).";
    GetDomainPath = 10, "Home path of a domain.";
    Write = 11, "Write a node.";
    Mkdir = 12, "Create a directory.";
    Rm = 13, "Remove a node.";
    SetPerms = 14, "Set permissions.";
    WatchEvent = 15, "Watch fired (server to client).";
    Error = 16, "Error reply; the payload is the errno name.";
    IsDomainIntroduced = 17, "Is a domain introduced?";
    Resume = 18, "Resume a domain.";
    SetTarget = 19, "Set a domain's target.";
    ResetWatches = 21, "Drop all watches.";
    DirectoryPart = 22, "List part of a large directory.";
    Invalid = 0xffff, "Guaranteed invalid type.";
}

/// Number of valid message types (`XS_TYPE_COUNT`).
pub const XS_TYPE_COUNT: u32 = 23;
/// Watch-event payload field index: the path.
pub const XS_WATCH_PATH: usize = 0;
/// Watch-event payload field index: the token.
pub const XS_WATCH_TOKEN: usize = 1;

assert_eq_size!(XenstoreDomainInterface, [u8; 2076]);
const_assert_eq!(
    core::mem::offset_of!(XenstoreDomainInterface, req_cons),
    2048
);
const_assert_eq!(
    core::mem::offset_of!(XenstoreDomainInterface, server_features),
    2064
);
const_assert_eq!(core::mem::offset_of!(XenstoreDomainInterface, error), 2072);
assert_eq_size!(XsdSockmsg, [u8; 16]);
