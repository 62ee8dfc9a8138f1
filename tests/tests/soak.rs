//! The soak (`cargo xtask soak`, not part of `cargo xtask test`): ten million fuzzed
//! hypercalls, then create/destroy cycles of mixed domUs — a hostile guest, a fuzzer, an
//! event-channel ping/pong pair, a grant offer/map pair — with the hypervisor's free frames
//! and heap compared before and after: `soak: N cycles, leaked frames 0, leaked heap bytes 0`.
//! `SOAK_CYCLES` (default 1000) and `SOAK_FUZZ_CALLS` (default 10^7) size it; frames are
//! compared with the freshly booted system, the heap with the system after one warm-up cycle.

use std::time::Duration;
use tests::steps::{create_and_wait_guest_line, list_with_healthy_dom0, run_ok};
use tests::{BootOptions, System};

const T: Duration = Duration::from_secs(120);

fn env(key: &str, default: u64) -> u64 {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Waits for a console line of domain `id` containing `text` after `mark`.
fn guest_says(sys: &mut System, mark: usize, id: u32, text: &str) {
    let prefix = format!("(d{id}) ");
    if let Err(f) = sys.wait_line_where(mark, text, T, |l| {
        l.starts_with(&prefix) && l.contains(text)
    }) {
        sys.fail(f.msg);
    }
}

fn one_cycle(sys: &mut System, cycle: u64) {
    let mark = sys.mark();
    let me = sys_next_id(sys);
    let (hostile, _) = create_and_wait_guest_line(
        sys,
        &format!("domu.cfg name=hostile extra=\"test=hostile me={me}\""),
        "Hello from pv-guest domU",
    );
    guest_says(sys, mark, hostile, " refused or contained");
    let (fuzz, _) = create_and_wait_guest_line(
        sys,
        &format!("domu.cfg name=fuzz extra=\"test=fuzz seed={cycle} count=20000\""),
        "fuzz: seed",
    );
    guest_says(sys, mark, fuzz, "fuzz: done 20000 calls");
    let (pong, _) = create_and_wait_guest_line(sys, "evtchn-pong.cfg", "evtchn-pong: ready");
    let (ping, _) = create_and_wait_guest_line(
        sys,
        &format!("evtchn-ping.cfg extra=\"test=evtchn-ping rounds=100 evtchn_peer={pong}\""),
        "Hello from pv-guest domU",
    );
    guest_says(sys, mark, ping, "evtchn-ping: 100 round trips");
    let offer_id = sys_next_id(sys);
    let (offer, _) = create_and_wait_guest_line(
        sys,
        &format!(
            "grant-offer.cfg extra=\"test=grant-offer peer={}\"",
            offer_id + 1
        ),
        "grant-offer: gref 8 offered",
    );
    let (map, _) = create_and_wait_guest_line(
        sys,
        &format!("grant-map.cfg extra=\"test=grant-map peer={offer}\""),
        "Hello from pv-guest domU",
    );
    guest_says(sys, mark, map, "grant-map: unmapped");
    for name in [
        "hostile",
        "fuzz",
        "evtchn-pong",
        "evtchn-ping",
        "grant-offer",
        "grant-map",
    ] {
        run_ok(sys, &format!("xl destroy {name}"));
    }
}

/// The id the next domain gets: ids increase (one past the highest handed out so far, which
/// the last `Started domain ... (id=N)` line names).
fn sys_next_id(sys: &mut System) -> u32 {
    sys.transcript()
        .rsplit("(id=")
        .next()
        .and_then(|s| s.split(')').next())
        .and_then(|s| s.parse::<u32>().ok())
        .map_or(1, |n| n + 1)
}

#[test]
#[ignore = "long: run by `cargo xtask soak`"]
fn soak() {
    let cycles = env("SOAK_CYCLES", 1000);
    let calls = env("SOAK_FUZZ_CALLS", 10_000_000);
    let opts = BootOptions::new("soak")
        .memory("1G")
        .hard_timeout(Duration::from_secs(6 * 3600));
    let mut sys = System::boot_to_prompt(opts);
    let frames0 = sys.xenperf_counter("free_frames");
    // One warm-up cycle first: tables that grow to the largest number of ports or mappings
    // ever used at once (dom0's port table, say) reach it, so what the heap holds after it is
    // the baseline; a leak grows with every further cycle.
    one_cycle(&mut sys, 1);
    let heap0 = sys.xenperf_counter("heap_used_bytes");
    println!(
        "soak: before: free frames {frames0}, heap used {heap0} bytes (after one warm-up cycle)"
    );
    let mark = sys.mark();
    let (fuzz, _) = create_and_wait_guest_line(
        &mut sys,
        &format!("domu.cfg name=fuzz extra=\"test=fuzz seed=1 count={calls}\""),
        "fuzz: seed",
    );
    if let Err(f) = sys.wait_line(
        mark,
        &format!("(d{fuzz}) fuzz: done {calls} calls"),
        Duration::from_secs(3 * 3600),
    ) {
        sys.fail(f.msg);
    }
    run_ok(&mut sys, "xl destroy fuzz");
    for c in 0..cycles {
        one_cycle(&mut sys, c + 2);
        if (c + 1) % 50 == 0 || c + 1 == cycles {
            let heap = sys.xenperf_counter("heap_used_bytes");
            println!("soak: {} cycles, heap used {heap} bytes", c + 1);
        }
    }
    list_with_healthy_dom0(&mut sys);
    let frames1 = sys.xenperf_counter("free_frames");
    let heap1 = sys.xenperf_counter("heap_used_bytes");
    println!("soak: after: free frames {frames1}, heap used {heap1} bytes");
    let leaked_frames = frames0.saturating_sub(frames1);
    let leaked_heap = heap1.saturating_sub(heap0);
    println!(
        "soak: {cycles} cycles, leaked frames {leaked_frames}, leaked heap bytes {leaked_heap}"
    );
    sys.check(
        leaked_frames == 0 && leaked_heap == 0,
        format!(
            "soak: {cycles} cycles, leaked frames {leaked_frames}, leaked heap bytes {leaked_heap}"
        ),
    );
}
