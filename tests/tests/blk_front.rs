//! Our own block front end (pv-guest's blkfront) against dom0's blkback, on the scratch
//! partition vda1 given as xvda: `test=blk` writes a seeded pattern and reads it back with
//! every kind of request (one sector, partial page segments, 11 segments, indirect, 16 in
//! flight), flushes, is refused beyond the disk's end and disconnects cleanly, and dom0 then
//! finds the pattern on vda1 itself; `test=blk-hostile` sends malformed requests, each of
//! which must be answered with an error (or the disk disconnected), with dom0 and the domain
//! still running and the disk serving the next domain.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tests::steps::{boot, create_ok, list_with_healthy_dom0, row, run_ok};
use tests::system::System;
use tests::xl::domu_line;
use tests::{disk, test_name, OrFail};

/// How long a whole block test may take in the guest (TCG, dom0 serving by grant copy).
const RUN: Duration = Duration::from_secs(240);
/// The steps of `test=blk`, in order, each of which must print `blk: <step>: ok`.
const STEPS: &[&str] = &[
    "connect",
    "prepare",
    "single-sector",
    "partial-segments",
    "multi-segment",
    "indirect",
    "in-flight",
    "flush",
    "whole-region",
    "read-past-end",
    "read-across-end",
    "write-past-end",
    "disconnect",
];
/// Sectors the pattern covers from the start of the disk.
const REGION: u64 = 870;

fn seed() -> u64 {
    let t = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    t % 1_000_000_007 + 1
}

/// Creates domain `name` with vda1 as its xvda and `extra`, waits for its last line
/// (`<tag>: N passed, M failed`); returns the domain's id and its `<tag>: ` lines.
fn run_guest(sys: &mut System, name: &str, extra: &str, tag: &str) -> (u32, Vec<String>) {
    let mark = sys.mark();
    create_ok(
        sys,
        &format!("domu.cfg name={name} \"disk=['phy:/dev/vda1,xvda,w']\" extra=\"{extra}\""),
    );
    let prefix = format!("{tag}: ");
    let last = sys
        .wait_line_where(mark, &format!("(dN) {tag}: N passed, M failed"), RUN, |l| {
            domu_line(l).is_some_and(|(_, t)| {
                t.strip_prefix(&prefix)
                    .is_some_and(|r| r.contains(" passed, ") && r.ends_with(" failed"))
            })
        })
        .or_fail();
    let (id, _) = domu_line(&last).expect("a domU line");
    let lines = sys
        .lines_since(mark, &format!("(d{id}) {prefix}"))
        .iter()
        .filter_map(|l| domu_line(l).map(|(_, t)| t.to_string()))
        .collect();
    (id, lines)
}

/// The front end's nodes directly under `/local/domain/<id>/device/vbd/51712` (name, value).
fn front_nodes(sys: &mut System, id: u32) -> BTreeMap<String, String> {
    let out = run_ok(
        sys,
        &format!("xenstore-ls /local/domain/{id}/device/vbd/51712"),
    );
    out.lines()
        .filter(|l| !l.starts_with(' '))
        .filter_map(|l| {
            let (k, v) = l.split_once(" = ")?;
            Some((k.trim().to_string(), v.trim().trim_matches('"').to_string()))
        })
        .collect()
}

/// Checks what the front end published: the ring's grants for `order` (ring-ref for one
/// page, ring-page-order and ring-ref0.. for more), its channel, ABI and persistent grants,
/// and its state Closed after the disconnect.
fn check_front_nodes(sys: &mut System, id: u32, order: u32) {
    let n = front_nodes(sys, id);
    let get = |k: &str| n.get(k).map(String::as_str);
    sys.check(
        get("protocol") == Some("x86_64-abi"),
        format!("protocol: {n:?}"),
    );
    sys.check(
        get("feature-persistent") == Some("1"),
        format!("feature-persistent: {n:?}"),
    );
    sys.check(
        get("event-channel").is_some_and(|v| v.parse::<u32>().is_ok_and(|p| p > 0)),
        format!("event-channel: {n:?}"),
    );
    sys.check(
        get("state") == Some("6"),
        format!("front end not Closed: {n:?}"),
    );
    let refs: Vec<&String> = n.keys().filter(|k| k.starts_with("ring-ref")).collect();
    if order == 0 {
        sys.check(
            refs == ["ring-ref"] && get("ring-page-order").is_none(),
            format!("a one-page ring is published as ring-ref alone: {n:?}"),
        );
    } else {
        let want: Vec<String> = (0..1u32 << order).map(|i| format!("ring-ref{i}")).collect();
        let mut got: Vec<String> = refs.into_iter().cloned().collect();
        got.sort_by_key(|k| k["ring-ref".len()..].parse::<u32>().unwrap_or(u32::MAX));
        sys.check(
            got == want && get("ring-page-order") == Some(&order.to_string()),
            format!("a ring of order {order}: ring-page-order and {want:?}, got {n:?}"),
        );
    }
    let grefs: Vec<&str> = n
        .iter()
        .filter(|(k, _)| k.starts_with("ring-ref"))
        .map(|(_, v)| v.as_str())
        .collect();
    sys.check(
        grefs.iter().all(|g| g.parse::<u32>().is_ok_and(|g| g >= 8)),
        format!("ring grants must be references past the reserved 0..7: {grefs:?}"),
    );
}

fn step_line<'a>(lines: &'a [String], tag: &str, step: &str) -> Option<&'a str> {
    let p = format!("{tag}: {step}: ");
    lines.iter().find_map(|l| l.strip_prefix(p.as_str()))
}

/// The 16 bytes `hexdump -C` prints for the start of pattern sector `sector` under `seed`:
/// the sector number and the seed, little-endian.
fn pattern_head(sector: u64, seed: u64) -> String {
    let bytes: Vec<String> = sector
        .to_le_bytes()
        .iter()
        .chain(seed.to_le_bytes().iter())
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("{}  {}", bytes[..8].join(" "), bytes[8..].join(" "))
}

/// The first 16 bytes at `offset` of dom0's device `dev`, as hexdump prints them.
fn head(sys: &mut System, dev: &str, offset: u64) -> String {
    let out = run_ok(sys, &format!("hexdump -C -s {offset} -n 16 {dev}"));
    let want = format!("{offset:08x}  ");
    out.lines()
        .find_map(|l| l.trim_start_matches("dom0# ").strip_prefix(want.as_str()))
        .map(|l| l.get(..48).unwrap_or(l).trim_end().to_string())
        .unwrap_or_else(|| sys.fail(format!("no hexdump line at {offset:#x}: {out:?}")))
}

#[test]
fn blkfront_writes_a_pattern_and_reads_it_back() {
    let mut sys = boot(&test_name!());
    let seed = seed();
    let (id, lines) = run_guest(&mut sys, "blk", &format!("test=blk seed={seed}"), "blk");
    let vda1 = disk::partition(&disk::image(), disk::PVTEST).unwrap_or_else(|e| sys.fail(e));
    let conn = format!(
        "blk: xvda: {} sectors, ring order 4, indirect 256, persistent 1",
        vda1.sectors()
    );
    sys.check(
        lines.contains(&conn),
        format!("want the connection {conn:?} (blkback offers order 4, 256 segments, persistent grants) in {lines:#?}"),
    );
    sys.check(
        lines.contains(&format!("blk: seed {seed}, sectors 0..{REGION}")),
        format!("the seed or region line is missing: {lines:#?}"),
    );
    for step in STEPS {
        let got = step_line(&lines, "blk", step);
        sys.check(
            got == Some("ok"),
            format!("step {step}: {got:?} in {lines:#?}"),
        );
    }
    let total = format!("blk: {} passed, 0 failed", STEPS.len());
    sys.check(
        lines.last() == Some(&total),
        format!("want {total:?} last: {lines:#?}"),
    );
    // The domain lives on, and the disk is closed on both sides.
    let rows = list_with_healthy_dom0(&mut sys);
    sys.check(
        row(&rows, "blk").is_some_and(|r| r.id == id && !r.is_crashed()),
        format!("domain blk after the test: {rows:?}"),
    );
    let state = run_ok(
        &mut sys,
        &format!("xenstore-read /local/domain/0/backend/vbd/{id}/51712/state"),
    );
    sys.check(
        state.lines().any(|l| l.trim() == "6"),
        format!("the back end is not Closed after the front end's disconnect: {state:?}"),
    );
    check_front_nodes(&mut sys, id, 4);
    // dom0 reads the pattern from vda1 itself: the writes reached the disk.
    for sector in [0, 1, 13, 14, 101, 102, 357, 358, REGION - 1] {
        let got = head(&mut sys, "/dev/vda1", sector * 512);
        let want = pattern_head(sector, seed);
        sys.check(
            got == want,
            format!("vda1 sector {sector}: dom0 reads {got:?}, want {want:?}"),
        );
    }
    // The refused write beyond the end touched nothing: the disk's sector after vda1 does not
    // hold the pattern.
    let after = vda1.last_lba + 1;
    let got = head(&mut sys, "/dev/vda", after * 512);
    sys.check(
        got != pattern_head(vda1.sectors(), seed),
        format!("vda sector {after}, just past vda1, holds the pattern: the write beyond the end went through"),
    );
}

#[test]
fn blkfront_hostile_requests_are_refused_and_the_disk_serves_the_next_domain() {
    let mut sys = boot(&test_name!());
    let (id, lines) = run_guest(&mut sys, "blkh", "test=blk-hostile", "blk-hostile");
    let probes = [
        "read-0-segments",
        "write-0-segments",
        "read-12-segments",
        "write-12-segments",
        "first-after-last",
        "last-sect-8",
        "ungranted-gref",
        "gref-out-of-range",
        "sector-past-end",
        "sector-wraps",
        "unknown-operation",
        "reserved-operation",
        "indirect-over-maximum",
        "indirect-0-segments",
        "indirect-flush",
        "indirect-ungranted-page",
        "req-prod-far-ahead",
    ];
    sys.check(
        step_line(&lines, "blk-hostile", "connect") == Some("ok"),
        format!("no connection: {lines:#?}"),
    );
    // Each malformed request: an error status, or the disk disconnected (and the rest
    // skipped). Never BLKIF_RSP_OKAY, never silence while connected.
    let mut answered = 0;
    for p in probes {
        let got = step_line(&lines, "blk-hostile", p).unwrap_or("");
        let fine = got.starts_with("ok (status -1 BLKIF_RSP_ERROR)")
            || got.starts_with("ok (status -2 BLKIF_RSP_EOPNOTSUPP)")
            || got.starts_with("ok (disconnected")
            || got == "ok (no response: ring not served)"
            || got == "skipped (device disconnected)";
        sys.check(fine, format!("probe {p}: {got:?} in {lines:#?}"));
        answered += usize::from(got.starts_with("ok (status"));
    }
    sys.check(
        answered >= 1,
        format!("the back end answered no malformed request: {lines:#?}"),
    );
    sys.check(
        lines
            .iter()
            .any(|l| l == "blk-hostile: domain still running"),
        format!("{lines:#?}"),
    );
    sys.check(
        lines
            .last()
            .is_some_and(|l| l.ends_with(" passed, 0 failed")),
        format!("failures: {lines:#?}"),
    );
    let rows = list_with_healthy_dom0(&mut sys);
    sys.check(
        row(&rows, "blkh").is_some_and(|r| r.id == id && !r.is_crashed()),
        format!("the hostile domain after its test: {rows:?}"),
    );
    // The disk goes back to dom0 with the domain and serves the next one in full.
    run_ok(&mut sys, "xl destroy blkh");
    let seed = seed();
    let (_, lines) = run_guest(&mut sys, "blk2", &format!("test=blk seed={seed}"), "blk");
    let total = format!("blk: {} passed, 0 failed", STEPS.len());
    sys.check(
        lines.last() == Some(&total),
        format!("the next domain on the same disk: {lines:#?}"),
    );
    list_with_healthy_dom0(&mut sys);
}

#[test]
fn blkfront_with_a_one_page_ring_and_direct_requests_only() {
    let mut sys = boot(&test_name!());
    let seed = seed();
    let extra = format!("test=blk seed={seed} max-ring-order=0 max-indirect=0");
    let (id, lines) = run_guest(&mut sys, "blk1", &extra, "blk");
    sys.check(
        lines
            .iter()
            .any(|l| l.ends_with(" sectors, ring order 0, indirect 0, persistent 1")),
        format!("want a one-page ring without indirect requests: {lines:#?}"),
    );
    for step in STEPS {
        let want = if *step == "indirect" {
            "skipped (no indirect segments negotiated)"
        } else {
            "ok"
        };
        let got = step_line(&lines, "blk", step);
        sys.check(
            got == Some(want),
            format!("step {step}: want {want:?}, got {got:?} in {lines:#?}"),
        );
    }
    let total = format!("blk: {} passed, 0 failed", STEPS.len() - 1);
    sys.check(
        lines.last() == Some(&total),
        format!("want {total:?} last: {lines:#?}"),
    );
    check_front_nodes(&mut sys, id, 0);
    // The region the indirect step would have written was written by direct requests.
    for sector in [102, 357] {
        let got = head(&mut sys, "/dev/vda1", sector * 512);
        let want = pattern_head(sector, seed);
        sys.check(
            got == want,
            format!("vda1 sector {sector}: dom0 reads {got:?}, want {want:?}"),
        );
    }
    list_with_healthy_dom0(&mut sys);
}

/// `test=blk-bench` (the block rows of `cargo xtask bench`) prints a figure for each mode it
/// measures and then `BLKBENCH done`, with nothing refused on the way.
#[test]
fn blk_bench_prints_a_figure_for_each_mode() {
    let mut sys = boot(&test_name!());
    let mark = sys.mark();
    create_ok(
        &mut sys,
        "domu.cfg name=bench \"disk=['phy:/dev/vda1,xvda,w']\" extra=\"test=blk-bench mib=1 count=16 reps=1\"",
    );
    sys.wait_line_where(mark, "(dN) BLKBENCH done", RUN, |l| {
        domu_line(l).is_some_and(|(_, t)| t == "BLKBENCH done")
    })
    .or_fail();
    let lines: Vec<String> = sys
        .since(mark)
        .lines()
        .filter_map(domu_line)
        .filter_map(|(_, t)| t.strip_prefix("BLKBENCH ").map(str::to_string))
        .collect();
    for mode in ["seqwrite", "seqread", "randread"] {
        let line = lines.iter().find(|l| l.starts_with(&format!("{mode} ")));
        let field = |k: &str| -> Option<u64> {
            line?
                .split_whitespace()
                .find_map(|w| w.strip_prefix(k)?.strip_prefix('=')?.parse().ok())
        };
        let want_bytes = if mode == "randread" {
            16 * 4096
        } else {
            1 << 20
        };
        sys.check(
            field("bytes") == Some(want_bytes) && field("ns").is_some_and(|n| n > 0),
            format!("{mode}: want bytes={want_bytes} and a time, got {line:?} (all: {lines:?})"),
        );
    }
    sys.check(
        !lines.iter().any(|l| l.starts_with("error")),
        format!("blk-bench errors: {lines:?}"),
    );
    list_with_healthy_dom0(&mut sys);
}
