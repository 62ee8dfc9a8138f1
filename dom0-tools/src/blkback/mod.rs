//! blkback: dom0's back end of Xen's block split driver. A domain's virtual disk (`xvda`,
//! ...) is a whole disk or a partition of dom0's (`/dev/vda2`), served over the blkif
//! protocol to the domain's front end (Linux's xen-blkfront, pv-guest's blkfront): the
//! XenStore handshake and layout are Xen's (`crate::xl::block`), the ring is read and
//! answered by grant copy ([`service`]), every request checked first ([`request`]).
//!
//! Offered to front ends: multi-page rings (`max-ring-page-order` 4), indirect requests
//! (`feature-max-indirect-segments` 256), persistent grants (`feature-persistent`: the back
//! end copies, so a front end may keep its pages granted) and flush
//! (`feature-flush-cache`). Discard and barriers are not offered (`BLKIF_RSP_EOPNOTSUPP`).

pub mod request;
pub mod ring;
pub mod service;
#[cfg(test)]
mod tests;
