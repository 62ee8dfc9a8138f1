//! Event channels (Xen's 2-level ABI): per-domain port tables ([`ports`]), the pending/mask
//! bit logic on shared_info ([`two_level`]), the operations behind `event_channel_op`, VIRQ
//! delivery, and the upcall into the guest on its way back from the hypervisor.

pub mod ports;
pub mod two_level;

#[cfg(target_os = "none")]
mod ops;
#[cfg(target_os = "none")]
mod shared;
#[cfg(target_os = "none")]
#[cfg(target_os = "none")]
pub use ops::*;
#[cfg(target_os = "none")]
pub use shared::SharedWords;
