//! The front end of Xen's network split driver (`netfront`, Xen's `public/io/netif.h` as
//! Linux's netback speaks it) with a TCP/IP stack (smoltcp), and the domU network tests
//! `test=net` and `test=net-hostile`.
//!
//! - [`options`], [`rings`], [`stack`]: the pure logic (command line, HTTP text; the two
//!   rings' bookkeeping; the stack's services and client actions), host-tested.
//! - `device`: the driver: the xenbus handshake with the back end, the granted ring and
//!   buffer pages, the event channel, and smoltcp's `Device` over them.
//! - `suite`: the two test modes, printing `NETFRONT ...` lines.

pub mod options;
pub mod rings;
pub mod stack;

#[cfg(target_os = "none")]
mod device;
#[cfg(target_os = "none")]
mod suite;

/// Runs the network test the command line names (`test=net`, `test=net-hostile`); false
/// if none. `test=net` serves until the domain is destroyed or shut down.
#[cfg(target_os = "none")]
pub fn run(
    cmd: &str,
    si: &guest_abi::start_info::StartInfo,
    xs: Option<&mut crate::xenbus::XsClient>,
) -> bool {
    suite::run(cmd, si, xs)
}
