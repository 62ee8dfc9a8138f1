//! Steps of the tests that run hostile guests next to a canary (`test=canary`, which checks
//! its 1 MiB every 100 ms and reports every 20 checks): the fuzz seed, and the canary's
//! verdict.

use crate::system::System;
use std::time::{Duration, SystemTime};

/// The fuzzer's seed: `$FUZZ_SEED`, else the time (printed; a failure names it).
pub fn fuzz_seed() -> u64 {
    let seed = std::env::var("FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map_or(1, |d| d.as_secs())
        });
    println!("fuzz seed {seed} (rerun with FUZZ_SEED={seed})");
    seed
}

/// Domain `canary` reports an intact check after `after`, and no corruption since `mark`;
/// failures are prefixed with `what` (e.g. the seed).
pub fn check_intact(sys: &mut System, canary: u32, mark: usize, after: usize, what: &str) {
    let intact = format!("(d{canary}) canary: ");
    let line = sys
        .wait_line_where(
            after,
            "canary: N checks, intact",
            Duration::from_secs(30),
            |l| l.starts_with(&intact) && l.ends_with("checks, intact"),
        )
        .unwrap_or_else(|f| sys.fail(format!("{what}: {}", f.msg)));
    let corrupted = sys.lines_since(mark, "canary: CORRUPTED");
    sys.check(
        corrupted.is_empty(),
        format!("{what}: the canary's memory changed: {corrupted:?} (last: {line})"),
    );
}
