//! Inter-domain I/O protocols: xenstore, xenbus states, block and network
//! devices. Their rings use [`crate::ring`].

pub mod blkif;
pub mod netif;
pub mod xenbus;
pub mod xenstore;
