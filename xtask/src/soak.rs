//! `cargo xtask soak [--cycles N] [--calls M]`: the long run the test suite leaves out — ten
//! million fuzzed hypercalls, then N (default 1000) create/destroy cycles of mixed domUs
//! (hostile, fuzzer, event-channel and grant peers) — ending with
//! `soak: N cycles, leaked frames 0, leaked heap bytes 0` (tests/tests/soak.rs).

use crate::{build, qemu};
use std::process::Command;

const USAGE: &str = "usage: cargo xtask soak [--cycles N] [--calls M]";

/// `cargo xtask soak`.
pub fn run(args: &[String]) -> Result<(), String> {
    let mut env: Vec<(&str, String)> = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let key = match a.as_str() {
            "--cycles" => "SOAK_CYCLES",
            "--calls" => "SOAK_FUZZ_CALLS",
            "-h" | "--help" => return Err(USAGE.into()),
            other => return Err(format!("soak: unknown argument {other:?}\n{USAGE}")),
        };
        let v = it
            .next()
            .ok_or_else(|| format!("soak: {a} needs a number\n{USAGE}"))?;
        v.parse::<u64>()
            .map_err(|_| format!("soak: {a} {v:?}: not a number\n{USAGE}"))?;
        env.push((key, v.clone()));
    }
    build::build_all()?;
    qemu::ensure_qemu()?;
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .current_dir(qemu::workspace_root())
        .args([
            "test",
            "-p",
            "tests",
            "--test",
            "e2e",
            "soak::soak",
            "--",
            "--ignored",
            "--nocapture",
        ])
        .envs(env)
        .status()
        .map_err(|e| format!("running cargo: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err("soak: failed (transcript in target/e2e-logs/soak.log)".into())
    }
}
