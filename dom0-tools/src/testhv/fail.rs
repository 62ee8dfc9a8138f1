//! Where a test injects a failure (or runs its own step) in [`super::TestHv`]: at one of the
//! toolstack's operations, before it reaches the hypervisor.

/// An operation of the toolstack's [`crate::hv::Hypervisor`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailPoint {
    /// The domctl with this command (including the ones behind the typed methods).
    Domctl(u32),
    /// The sysctl with this command (including the ones behind the typed methods).
    Sysctl(u32),
    /// `XENMEM_populate_physmap`.
    PopulatePhysmap,
    /// Mapping a foreign frame.
    ForeignMap,
    /// `mmuext_op` on another domain.
    Mmuext,
    /// `XEN_DOMCTL_setvcpucontext` (also matched by `Domctl` of it).
    SetVcpuContext,
}
