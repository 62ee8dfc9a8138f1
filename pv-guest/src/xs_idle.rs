//! The idle loop of a domU: with XenStore it watches `memory/target` (the balloon driver,
//! [`crate::balloon`]) and `control/shutdown` ([`crate::control`]), blocks until a watch
//! fires and hands the event to its owner; without XenStore it just blocks.

use crate::balloon::Balloon;
use crate::xenbus::XsClient;
use guest_abi::start_info::StartInfo;

/// Idles for good, acting on watch events when there is XenStore.
pub fn run(xs: Option<&mut XsClient>, si: &StartInfo, cmd: &str) -> ! {
    let Some(xs) = xs else { crate::idle() };
    let mut balloon = Balloon::new(si);
    balloon.watch(xs);
    if crate::control::ignored(cmd) {
        crate::println!("control: not watching control/shutdown (control=ignore)");
    } else {
        crate::control::watch(xs);
    }
    loop {
        let (_, token) = xs.wait_event();
        match token.as_str() {
            crate::balloon::TOKEN => balloon.on_event(xs),
            crate::control::TOKEN => crate::control::on_event(xs),
            // Watches a self-test left behind.
            _ => {}
        }
    }
}
