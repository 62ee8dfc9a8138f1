//! Inter-domain I/O protocols: xenstore, xenbus states, the control (shutdown) node, block
//! and network devices. Their rings use [`crate::ring`].

pub mod blkif;
pub mod control;
pub mod netif;
pub mod xenbus;
pub mod xenstore;
