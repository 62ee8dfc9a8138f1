//! The front end of Xen's block split driver (`blkfront`), as Xen's `public/io/blkif.h`
//! defines it, and the domU block tests `test=blk` and `test=blk-hostile`.
//!
//! - [`geometry`], [`pattern`], [`ring`], [`shadow`], [`request`], [`nodes`]: the pure
//!   logic (ring geometry and a multi-page front ring, segment layout, the test pattern,
//!   request ids and the page pool, request layouts, the XenStore negotiation), host-tested.
//! - `device`: the driver: the xenbus handshake with the back end, the granted ring and data
//!   pages, the event channel, submitting requests and matching responses by id.
//! - `suite`: the two test modes, printing one stable line per step.

pub mod geometry;
pub mod nodes;
pub mod pattern;
pub mod request;
pub mod ring;
pub mod shadow;

#[cfg(target_os = "none")]
mod device;
#[cfg(target_os = "none")]
mod suite;

#[cfg(target_os = "none")]
pub use suite::run;
