//! Event channels (Xen's 2-level ABI): the pending/mask bit logic on shared_info
//! ([`two_level`]), the operations behind `event_channel_op` on each domain's port table
//! (`domain::ports`), VIRQ delivery, and the upcall into the guest on its way back from the
//! hypervisor.

pub mod two_level;

mod ops;
mod pirq;
mod shared;
pub use ops::*;
pub use pirq::{bind_pirq, deliver_pirqs};
pub use shared::SharedWords;
