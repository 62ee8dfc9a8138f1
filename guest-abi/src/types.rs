//! Identifier newtypes shared by every interface.

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

macro_rules! id_newtype {
    ($(#[$m:meta])* $name:ident($inner:ty)) => {
        $(#[$m])*
        #[derive(
            Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Default,
            FromBytes, IntoBytes, KnownLayout, Immutable,
        )]
        #[repr(transparent)]
        pub struct $name(pub $inner);

        impl From<$inner> for $name {
            fn from(v: $inner) -> Self {
                $name(v)
            }
        }

        impl From<$name> for $inner {
            fn from(v: $name) -> $inner {
                v.0
            }
        }

        impl core::fmt::LowerHex for $name {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                core::fmt::LowerHex::fmt(&self.0, f)
            }
        }
    };
}

id_newtype!(
    /// A domain id (`domid_t`, 16 bits).
    DomId(u16)
);
id_newtype!(
    /// A machine frame number: a physical page of the host.
    Mfn(u64)
);
id_newtype!(
    /// A guest pseudo-physical frame number (an index into the guest's p2m).
    Pfn(u64)
);
id_newtype!(
    /// An event-channel port number.
    EvtchnPort(u32)
);
id_newtype!(
    /// A grant reference: an index into a domain's grant table.
    GrantRef(u32)
);

/// Ids print as the plain decimal number, as Xen's messages show them (`domain 3`, `port 7`).
macro_rules! decimal_display {
    ($($name:ident),*) => {$(
        impl core::fmt::Display for $name {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                core::fmt::Display::fmt(&self.0, f)
            }
        }
    )*};
}

decimal_display!(DomId, EvtchnPort, GrantRef);

impl DomId {
    /// The first id reserved for special meanings; real domains are below it.
    pub const FIRST_RESERVED: DomId = DomId(0x7FF0);
    /// The highest id a domain can have (just below the reserved ones).
    pub const MAX_DOMAIN: DomId = DomId(0x7FEF);
    /// "The calling domain".
    pub const SELF: DomId = DomId(0x7FF0);
    /// I/O memory owner (privileged mappings of device memory).
    pub const IO: DomId = DomId(0x7FF1);
    /// The hypervisor itself as a page owner.
    pub const XEN: DomId = DomId(0x7FF2);
    /// Copy-on-write shared pages.
    pub const COW: DomId = DomId(0x7FF3);
    /// No domain.
    pub const INVALID: DomId = DomId(0x7FF4);
    /// The idle domain.
    pub const IDLE: DomId = DomId(0x7FFF);
    /// dom0, the initial privileged domain.
    pub const DOM0: DomId = DomId(0);

    /// Whether this id names a real domain rather than a reserved value.
    pub const fn is_real(self) -> bool {
        self.0 < Self::FIRST_RESERVED.0
    }
}

/// Size of a page (and of a frame) in bytes.
pub const PAGE_SIZE: usize = 4096;
/// log2 of [`PAGE_SIZE`].
pub const PAGE_SHIFT: u32 = 12;

impl Mfn {
    /// The machine address of the start of this frame.
    pub const fn addr(self) -> u64 {
        self.0 << PAGE_SHIFT
    }
    /// The frame holding machine address `addr`.
    pub const fn containing(addr: u64) -> Mfn {
        Mfn(addr >> PAGE_SHIFT)
    }
}

impl Pfn {
    /// The pseudo-physical address of the start of this frame.
    pub const fn addr(self) -> u64 {
        self.0 << PAGE_SHIFT
    }
    /// The frame holding pseudo-physical address `addr`.
    pub const fn containing(addr: u64) -> Pfn {
        Pfn(addr >> PAGE_SHIFT)
    }
}

/// The M2P entry of a machine frame no guest PFN names (all ones, Xen's `INVALID_M2P_ENTRY`).
pub const INVALID_PFN: Pfn = Pfn(!0);

/// Invalid MFN marker (all ones), as used in p2m tables.
pub const INVALID_MFN: Mfn = Mfn(!0);

/// A 16-byte domain handle (UUID), `xen_domain_handle_t`.
pub type DomainHandle = [u8; 16];
