//! netback: dom0's back end of Xen's network split driver. A domain's vif (`vif<domid>.<devid>`)
//! is a port of the bridge `xenbr0` (`crate::net`); its front end (Linux's xen-netfront,
//! pv-guest's netfront) speaks the netif protocol over two one-page rings, TX (guest → bridge)
//! and RX (bridge → guest), and one event channel. The XenStore handshake and layout are
//! Xen's (`crate::xl::vif`); this module serves the rings ([`service`]).
//!
//! Both rings are reached by grant copy only, never mapped: each pass copies the ring page in
//! (header first, then the slots: a snapshot the front end cannot change under us), works on
//! the copy, and copies the responses and indices back. Packet data is grant-copied too: the
//! fragments of a TX packet into one frame, an RX frame into the page the front end posted.
//!
//! What is offered (the back end's XenStore features): scatter-gather (`feature-sg`: a TX
//! packet may span up to [`XEN_NETIF_NR_SLOTS_MIN`](guest_abi::io::netif::XEN_NETIF_NR_SLOTS_MIN)
//! slots), receive by copy (`feature-rx-copy`; flipping is not offered) and IPv4 and IPv6
//! checksum offload (the front end may leave a TCP/UDP checksum blank: netback fills it in,
//! [`csum`], since the NIC offloads nothing). Not offered: GSO, multiple queues, split event
//! channels, a control ring, multicast control. So frames are at most
//! [`MAX_FRAME`](crate::net::MAX_FRAME) bytes each way.
//!
//! A front end breaking the protocol as Xen's netback calls fatal ([`tx`]: too many slots, a
//! slot past its page, an extra-info slot of no known type, a packet running past the
//! published requests, impossible ring indices) loses its vif: serving stops and the toolstack
//! closes the device, as Xen's `xenvif_fatal_tx_err`. Lesser faults (a bad grant, sizes that do
//! not add up, a runt or oversize frame) cost only the packet, answered with
//! `NETIF_RSP_ERROR`. A `rate=` limit is a credit of bytes per interval ([`credit`]).

pub mod credit;
pub mod csum;
pub mod ring;
pub mod service;
#[cfg(test)]
mod tests;
pub mod tx;
