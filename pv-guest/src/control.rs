//! The guest side of the control protocol ([`guest_abi::io::control`]): we watch
//! `control/shutdown` in our XenStore directory, and when the toolstack writes
//! "poweroff", "halt" or "reboot" there we say so, clear the node (the toolstack's sign that
//! the request was taken) and shut down with the matching reason. "suspend" is taken the
//! same way and handed to our suspend handler ([`crate::suspend`]), after which we carry on
//! watching. Other requests are reported and left in place, unanswered.
//!
//! A domU whose command line says `control=ignore` does not watch, like a guest without PV
//! shutdown support: `xl shutdown` then times out and `xl shutdown -F` is needed.

use crate::cmdline;
use crate::println;
use crate::xenbus::XsClient;
use guest_abi::errno::Errno;
use guest_abi::io::control::{ShutdownRequest, CONTROL_SHUTDOWN};

/// Our watch token.
pub const TOKEN: &str = "control";

/// Whether the command line asks us not to watch `control/shutdown`.
pub fn ignored(cmd: &str) -> bool {
    cmdline::param(cmd, "control") == Some("ignore")
}

/// Starts watching `control/shutdown` (the watch fires once at once, for the current value).
pub fn watch(xs: &mut XsClient) {
    match xs.watch(CONTROL_SHUTDOWN, TOKEN) {
        // Watched already (a test mode handing over to the idle loop): the watch stands.
        Ok(()) | Err(Errno::EEXIST) => {}
        Err(e) => println!("control: cannot watch {CONTROL_SHUTDOWN}: {}", e.name()),
    }
}

/// The node changed: act on its value. Returns unless we shut down (after a suspend, once
/// we run again).
pub fn on_event(xs: &mut XsClient) {
    let value = match xs.read(CONTROL_SHUTDOWN) {
        Ok(v) => v,
        Err(Errno::ENOENT) => return,
        Err(e) => {
            println!("control: cannot read {CONTROL_SHUTDOWN}: {}", e.name());
            return;
        }
    };
    match ShutdownRequest::parse(&value) {
        ShutdownRequest::None => {}
        ShutdownRequest::Suspend => {
            println!("control: suspend requested");
            if let Err(e) = xs.write(CONTROL_SHUTDOWN, "") {
                println!("control: cannot clear {CONTROL_SHUTDOWN}: {}", e.name());
            }
            crate::suspend::suspend();
        }
        ShutdownRequest::Unsupported(v) => {
            println!("control: unsupported request \"{v}\" in {CONTROL_SHUTDOWN}: ignored");
        }
        ShutdownRequest::Shutdown(reason) => {
            println!(
                "control: shutdown requested: {}",
                value.trim_end_matches('\0')
            );
            if let Err(e) = xs.write(CONTROL_SHUTDOWN, "") {
                println!("control: cannot clear {CONTROL_SHUTDOWN}: {}", e.name());
            }
            crate::console_ring::drain();
            crate::shutdown(reason)
        }
    }
}
