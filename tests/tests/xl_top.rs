//! `xl top`: a live view refreshed in place (ANSI clear + redraw) until `q`; `xl top -b`
//! prints one plain frame.

use std::time::Duration;
use tests::steps::{boot, create_and_wait_guest_line};
use tests::{test_name, OrFail, PROMPT};

const CLEAR: &str = "\x1b[H\x1b[2J";

#[test]
fn top_refreshes_until_q() {
    let mut sys = boot(&test_name!());
    create_and_wait_guest_line(&mut sys, "domu.cfg", "Hello from pv-guest domU");
    let m = sys.mark();
    sys.send("xl top\n").or_fail();
    // Two frames at least: the view refreshes by itself, without input.
    sys.expect(CLEAR, Duration::from_secs(10)).or_fail();
    let frame = sys.expect(CLEAR, Duration::from_secs(10)).or_fail();
    sys.check(
        frame.contains("NAME  STATE   CPU(sec) CPU(%)")
            && frame
                .lines()
                .any(|l| l.trim_start().starts_with("Domain-0 r"))
            && frame.lines().any(|l| l.trim_start().starts_with("domu -")),
        format!("a frame must list both domains: {frame:?}"),
    );
    let mem_line = frame.lines().find(|l| l.starts_with("Mem: ")).unwrap_or("");
    sys.check(
        mem_line.contains("k total"),
        format!("no memory line: {frame:?}"),
    );
    // No prompt while top runs; q brings it back.
    sys.check(
        !sys.since(m).contains(PROMPT),
        "the shell printed a prompt while `xl top` was running",
    );
    sys.send("q").or_fail();
    sys.expect(PROMPT, Duration::from_secs(10)).or_fail();
    let out = sys.run("echo after-top");
    sys.check(
        out.contains("after-top"),
        format!("shell not back after q: {out:?}"),
    );
}

#[test]
fn top_batch_prints_one_plain_frame() {
    let mut sys = boot(&test_name!());
    let out = sys.run("xl top -b");
    sys.check(
        !out.contains('\x1b'),
        format!("-b must not use ANSI codes: {out:?}"),
    );
    sys.check(
        out.contains("1 domains: 1 running")
            && out
                .lines()
                .any(|l| l.trim_start().starts_with("Domain-0 r")),
        format!("`xl top -b`: {out}"),
    );
}
