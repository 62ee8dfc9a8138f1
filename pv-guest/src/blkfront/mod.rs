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
mod bench;
#[cfg(target_os = "none")]
mod device;
#[cfg(target_os = "none")]
mod suite;

/// Runs the block test or benchmark the command line names (`test=blk`, `test=blk-hostile`,
/// `test=blk-bench`); false if none.
#[cfg(target_os = "none")]
pub fn run(
    cmd: &str,
    si: &guest_abi::start_info::StartInfo,
    mut xs: Option<&mut crate::xenbus::XsClient>,
) -> bool {
    bench::run(cmd, si, xs.as_deref_mut()) || suite::run(cmd, si, xs)
}
