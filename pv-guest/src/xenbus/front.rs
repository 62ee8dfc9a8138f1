//! The console front end's xenbus handshake: read the back end's path from our device
//! directory, watch its state, publish our ring page and port, and follow the back end to
//! `Connected` (then the console output moves to the ring). Each transition is printed.

use super::XsClient;
use crate::println;
use dom0_tools::xenstore::xenbus::{self, front_step};
use guest_abi::errno::Errno;
use guest_abi::io::xenbus::XenbusState;
use guest_abi::start_info::StartInfo;

/// Our console device.
pub const DEVICE: &str = "device/console/0";
/// How long the whole handshake may take.
const HANDSHAKE_NS: u64 = 3_000_000_000;

/// Connects the console; on success output goes through the ring.
pub fn connect_console(xs: &mut XsClient, si: &StartInfo) -> Result<(), Errno> {
    let (page, port) = crate::console_ring::locate(si).ok_or(Errno::ENODEV)?;
    let be = xs.read(&alloc::format!("{DEVICE}/backend"))?;
    let be_state = alloc::format!("{be}/state");
    xs.watch(&be_state, "console-backend")?;
    let mut own = XenbusState::Initialising;
    let deadline = crate::time::now() + HANDSHAKE_NS;
    loop {
        let peer = xs.read_state(&be_state);
        if let Some(next) = front_step(own, peer) {
            if next == XenbusState::Initialised {
                xs.write(
                    &alloc::format!("{DEVICE}/ring-ref"),
                    &alloc::format!("{}", si.console.domu().mfn.0),
                )?;
                xs.write(&alloc::format!("{DEVICE}/port"), &alloc::format!("{port}"))?;
            }
            xs.write(&alloc::format!("{DEVICE}/state"), &xenbus::text(next))?;
            println!("xenbus: console front end {own:?} -> {next:?} (back end {peer:?})");
            own = next;
            if own == XenbusState::Connected {
                crate::console_ring::enable(page, port);
                println!("console: output now through the console ring");
                return Ok(());
            }
            continue;
        }
        let now = crate::time::now();
        if now >= deadline {
            return Err(Errno::ETIME);
        }
        let _ = xs.next_event(deadline - now);
    }
}
