//! `domctl`: per-domain control operations used by the toolstack.
//!
//! A [`XenDomctl`] carries a command, the interface version, a target domain
//! and a 128-byte payload union; read or write the payload as the struct the
//! command uses with [`XenDomctl::payload`] / [`XenDomctl::set_payload`].

mod ops;

pub use ops::*;

use crate::types::DomId;
use static_assertions::{assert_eq_size, const_assert_eq};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// The domctl interface version of Xen 4.17; a mismatch fails with `EACCES`.
pub const XEN_DOMCTL_INTERFACE_VERSION: u32 = 0x15;

/// Create a domain ([`DomctlCreateDomain`]; the new id comes back in `domain`).
pub const XEN_DOMCTL_CREATEDOMAIN: u32 = 1;
/// Destroy a domain.
pub const XEN_DOMCTL_DESTROYDOMAIN: u32 = 2;
/// Pause a domain.
pub const XEN_DOMCTL_PAUSEDOMAIN: u32 = 3;
/// Unpause a domain.
pub const XEN_DOMCTL_UNPAUSEDOMAIN: u32 = 4;
/// Domain information ([`DomctlGetDomainInfo`]).
pub const XEN_DOMCTL_GETDOMAININFO: u32 = 5;
/// Set vCPU affinity ([`DomctlVcpuAffinity`]).
pub const XEN_DOMCTL_SETVCPUAFFINITY: u32 = 9;
/// Shadow paging / log-dirty control ([`DomctlShadowOp`]).
pub const XEN_DOMCTL_SHADOW_OP: u32 = 10;
/// Set the memory limit ([`DomctlMaxMem`]).
pub const XEN_DOMCTL_MAX_MEM: u32 = 11;
/// Set a vCPU's context ([`DomctlVcpuContext`]).
pub const XEN_DOMCTL_SETVCPUCONTEXT: u32 = 12;
/// Get a vCPU's context ([`DomctlVcpuContext`]).
pub const XEN_DOMCTL_GETVCPUCONTEXT: u32 = 13;
/// vCPU information ([`DomctlGetVcpuInfo`]).
pub const XEN_DOMCTL_GETVCPUINFO: u32 = 14;
/// Set the vCPU count ([`DomctlMaxVcpus`]).
pub const XEN_DOMCTL_MAX_VCPUS: u32 = 15;
/// Scheduler parameters.
pub const XEN_DOMCTL_SCHEDULER_OP: u32 = 16;
/// Set the domain handle ([`DomctlSetDomainHandle`]).
pub const XEN_DOMCTL_SETDOMAINHANDLE: u32 = 17;
/// Enable/disable debugging.
pub const XEN_DOMCTL_SETDEBUGGING: u32 = 18;
/// Grant/revoke a PIRQ ([`DomctlIrqPermission`]).
pub const XEN_DOMCTL_IRQ_PERMISSION: u32 = 19;
/// Grant/revoke an MMIO range ([`DomctlIomemPermission`]).
pub const XEN_DOMCTL_IOMEM_PERMISSION: u32 = 20;
/// Grant/revoke an I/O-port range ([`DomctlIoportPermission`]).
pub const XEN_DOMCTL_IOPORT_PERMISSION: u32 = 21;
/// Fill a frame as the hypercall page ([`DomctlHypercallInit`]).
pub const XEN_DOMCTL_HYPERCALL_INIT: u32 = 22;
/// Continue a soft reset.
pub const XEN_DOMCTL_SOFT_RESET_CONT: u32 = 23;
/// Set the wall-clock offset ([`DomctlSetTimeOffset`]).
pub const XEN_DOMCTL_SETTIMEOFFSET: u32 = 24;
/// Get vCPU affinity.
pub const XEN_DOMCTL_GETVCPUAFFINITY: u32 = 25;
/// Resume a suspended domain.
pub const XEN_DOMCTL_RESUMEDOMAIN: u32 = 27;
/// Send a trigger.
pub const XEN_DOMCTL_SENDTRIGGER: u32 = 28;
/// Subscribe to domain-state events.
pub const XEN_DOMCTL_SUBSCRIBE: u32 = 29;
/// Set the guest address size ([`DomctlAddressSize`]).
pub const XEN_DOMCTL_SET_ADDRESS_SIZE: u32 = 35;
/// Get the guest address size ([`DomctlAddressSize`]).
pub const XEN_DOMCTL_GET_ADDRESS_SIZE: u32 = 36;
/// Map MMIO into a domain.
pub const XEN_DOMCTL_MEMORY_MAPPING: u32 = 39;
/// Set the extended vCPU context.
pub const XEN_DOMCTL_SET_EXT_VCPUCONTEXT: u32 = 42;
/// Get the extended vCPU context.
pub const XEN_DOMCTL_GET_EXT_VCPUCONTEXT: u32 = 43;
/// Make a domain the target of another.
pub const XEN_DOMCTL_SET_TARGET: u32 = 46;
/// The page-table types of a batch of a domain's frames ([`DomctlGetPageFrameInfo3`]).
pub const XEN_DOMCTL_GETPAGEFRAMEINFO3: u32 = 61;
/// Set the handler domain of a global VIRQ.
pub const XEN_DOMCTL_SET_VIRQ_HANDLER: u32 = 66;
/// Soft-reset a domain.
pub const XEN_DOMCTL_SOFT_RESET: u32 = 79;

/// The domctl hypercall argument (`xen_domctl`, 144 B).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
#[repr(C)]
pub struct XenDomctl {
    /// `XEN_DOMCTL_*` command.
    pub cmd: u32,
    /// Must be [`XEN_DOMCTL_INTERFACE_VERSION`].
    pub interface_version: u32,
    /// Target domain.
    pub domain: DomId,
    /// Padding.
    pub _pad: [u16; 3],
    /// The payload union (128 B).
    pub u: [u64; 16],
}

impl XenDomctl {
    /// A request for `cmd` on `domain` with the current version and a
    /// zeroed payload.
    pub fn new(cmd: u32, domain: DomId) -> Self {
        XenDomctl {
            cmd,
            interface_version: XEN_DOMCTL_INTERFACE_VERSION,
            domain,
            ..Default::default()
        }
    }

    /// A request carrying `payload`.
    pub fn with_payload<T: IntoBytes + Immutable>(cmd: u32, domain: DomId, payload: &T) -> Self {
        let mut d = Self::new(cmd, domain);
        d.set_payload(payload);
        d
    }

    crate::payload::payload_accessors!();
}

assert_eq_size!(XenDomctl, [u8; 144]);
const_assert_eq!(core::mem::offset_of!(XenDomctl, interface_version), 4);
const_assert_eq!(core::mem::offset_of!(XenDomctl, domain), 8);
const_assert_eq!(core::mem::offset_of!(XenDomctl, u), 16);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_roundtrip() {
        let mut d = XenDomctl::new(XEN_DOMCTL_MAX_MEM, DomId(3));
        d.set_payload(&DomctlMaxMem { max_memkb: 65536 });
        assert_eq!(d.u[0], 65536);
        assert_eq!(d.payload::<DomctlMaxMem>().max_memkb, 65536);
        d.payload_mut::<DomctlMaxVcpus>().max = 2;
        assert_eq!(d.payload_ref::<DomctlMaxVcpus>().max, 2);
        let info = DomctlGetDomainInfo {
            flags: (DominfFlags::SHUTDOWN | DominfFlags::PAUSED).bits() | (3 << 16),
            ..Default::default()
        };
        d.set_payload(&info);
        let back: DomctlGetDomainInfo = d.payload();
        assert_eq!(back.shutdown_code(), 3);
        assert!(back.dominf_flags().contains(DominfFlags::SHUTDOWN));
    }
}
