//! Resource floods: what a guest can make the hypervisor hold or do without bound. Each is
//! contained by a limit the e2e test checks from the outside as well.

use super::Tally;
use guest_abi::guest;

/// Bytes the console flood writes through `console_io`.
pub const CONSOLE_FLOOD_BYTES: usize = 1 << 20;

pub fn all(t: &Tally) {
    t.class("resource floods");
    console(t);
    log(t);
}

/// 10000 requests the hypervisor refuses with a warning each (a grant table past its
/// limit): its log shows a bounded number of them and says how many it left out.
fn log(t: &Tally) {
    let mut frames = [0u64; 1];
    let refused = (0..10_000)
        .filter(|_| {
            let mut op = guest_abi::grant_table::GnttabSetupTable {
                dom: guest_abi::types::DomId::SELF,
                nr_frames: 1000,
                frame_list: frames.as_mut_ptr() as u64,
                ..Default::default()
            };
            crate::grant::setup_table(&mut op).is_err()
        })
        .count();
    t.contained(
        "10000 refusals the hypervisor logs",
        if refused == 10_000 {
            Ok("all refused; the hypervisor rate-limits its warnings")
        } else {
            Err("some were granted")
        },
    );
}

/// 1 MiB of direct console output (64-byte lines, 4 KiB a call): the hypervisor shows a
/// bounded share (its per-domain rate limit) and drops the rest.
fn console(t: &Tally) {
    let mut chunk = [b'x'; 4096];
    for line in chunk.chunks_exact_mut(64) {
        line[..6].copy_from_slice(b"FLOOD ");
        line[63] = b'\n';
    }
    let mut ok = true;
    for _ in 0..CONSOLE_FLOOD_BYTES / chunk.len() {
        ok &= guest::console_write(&chunk).is_ok();
    }
    t.contained(
        "1 MiB through console_io",
        if ok {
            Ok("every write accepted; the hypervisor rate-limits what it shows")
        } else {
            Err("a write failed")
        },
    );
}
