//! `cargo xtask test [--host-only | --e2e-only] [FILTER]`: host unit tests, then the QEMU
//! end-to-end tests.
//!
//! 1. prerequisites: QEMU (for the e2e tests) and the Xen public headers (`libxen-dev`, for
//!    guest-abi's conformance test), installed with apt-get when running as root;
//! 2. host unit tests: the workspace's host crates, `hypervisor` and `pv-guest` on the host
//!    (their hardware code is gated on `target_os = "none"`), and the e2e harness's own tests;
//!    then clippy with `-D warnings` over every crate ([`clippy`], also `cargo xtask clippy`);
//! 3. `cargo xtask build`;
//! 4. for the end-to-end tests: QEMU, OVMF and the bootable ISO (`cargo xtask iso`, which the
//!    tests that boot a PC from it need: if it cannot be made, the step fails and so do they);
//! 5. the end-to-end tests (`cargo test -p tests --test e2e -- --test-threads=2 [FILTER]`).
//!
//! Ends with the line `N passed, N failed` (CI reads it) and fails if anything failed.

#[cfg(test)]
mod baremetal;
pub mod clippy;
#[cfg(test)]
mod layering;

use crate::{build, iso, prereq, qemu};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};

const USAGE: &str = "usage: cargo xtask test [--host-only | --e2e-only] [FILTER]\n\
    FILTER selects end-to-end tests by name (e.g. `crash`, `domu`).";

#[derive(Debug, PartialEq)]
struct Options {
    host: bool,
    e2e: bool,
    filter: Option<String>,
}

fn parse_args(args: &[String]) -> Result<Options, String> {
    let mut o = Options {
        host: true,
        e2e: true,
        filter: None,
    };
    let (mut host_only, mut e2e_only) = (false, false);
    for a in args {
        match a.as_str() {
            "--host-only" => host_only = true,
            "--e2e-only" => e2e_only = true,
            "-h" | "--help" => return Err(USAGE.into()),
            s if s.starts_with('-') => return Err(format!("test: unknown option {s}\n{USAGE}")),
            s if o.filter.is_none() => o.filter = Some(s.to_string()),
            s => return Err(format!("test: one FILTER only (got {s:?} too)\n{USAGE}")),
        }
    }
    if host_only && e2e_only {
        return Err(format!(
            "test: --host-only and --e2e-only exclude each other\n{USAGE}"
        ));
    }
    if host_only && o.filter.is_some() {
        return Err(format!(
            "test: FILTER applies to the e2e tests, not with --host-only\n{USAGE}"
        ));
    }
    o.host = !e2e_only;
    o.e2e = !host_only;
    Ok(o)
}

/// Counts over all steps.
#[derive(Debug, Default)]
struct Tally {
    passed: u64,
    failed: u64,
    /// Failed tests and failed steps, for the summary.
    failures: Vec<String>,
}

impl Tally {
    fn step_failed(&mut self, what: &str, why: &str) {
        eprintln!("xtask test: {what} FAILED: {why}");
        self.failed += 1;
        self.failures.push(format!("{what}: {why}"));
    }

    /// Prints the failures and the line `N passed, N failed` (CI reads it); an error if
    /// anything failed.
    fn finish(&self, command: &str) -> Result<(), String> {
        println!();
        for f in &self.failures {
            println!("FAILED: {f}");
        }
        println!("{} passed, {} failed", self.passed, self.failed);
        if self.failed > 0 {
            Err(format!("{command}: {} failed", self.failed))
        } else {
            Ok(())
        }
    }
}

/// `(passed, failed)` from a libtest summary line
/// `test result: ok. 22 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; ...`.
fn parse_result_line(line: &str) -> Option<(u64, u64)> {
    let rest = line.trim().strip_prefix("test result: ")?;
    let (mut passed, mut failed) = (None, None);
    for part in rest.split([';', '.']) {
        let mut w = part.split_whitespace();
        if let (Some(n), Some(what)) = (w.next(), w.next()) {
            match what {
                "passed" => passed = n.parse().ok(),
                "failed" => failed = n.parse().ok(),
                _ => {}
            }
        }
    }
    Some((passed?, failed?))
}

/// The name of a failed test from a libtest line `test path::name ... FAILED`.
fn parse_failed_test(line: &str) -> Option<&str> {
    line.strip_prefix("test ")?.strip_suffix(" ... FAILED")
}

/// Run `cargo <args>`, streaming its output, and add its test results to the tally. A cargo
/// failure that reported no failed test (a build error, a crashed test binary) counts as one
/// failure of the step.
fn cargo_test(t: &mut Tally, step: &str, root: &Path, args: &[&str]) {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    eprintln!("\nxtask test: {step}: cargo {}", args.join(" "));
    let child = Command::new(&cargo)
        .args(args)
        .current_dir(root)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => return t.step_failed(step, &format!("cannot run {cargo}: {e}")),
    };
    let failed_before = t.failed;
    let stdout = child.stdout.take().expect("piped stdout");
    let mut out = std::io::stdout();
    for line in BufReader::new(stdout).lines() {
        let Ok(line) = line else { break };
        let _ = writeln!(out, "{line}");
        if let Some((p, f)) = parse_result_line(&line) {
            t.passed += p;
            t.failed += f;
        } else if let Some(name) = parse_failed_test(&line) {
            t.failures.push(format!("{step}: {name}"));
        }
    }
    let _ = out.flush();
    match child.wait() {
        Ok(s) if s.success() => {}
        Ok(s) if t.failed == failed_before => {
            t.step_failed(
                step,
                &format!("cargo exited with {s} without a failed test"),
            );
        }
        Ok(_) => {}
        Err(e) => t.step_failed(step, &format!("waiting for cargo: {e}")),
    }
}

/// `cargo xtask test`.
pub fn run(args: &[String]) -> Result<(), String> {
    let opts = parse_args(args)?;
    let root = qemu::workspace_root();
    let mut t = Tally::default();

    // The images first: the host tests of pv-guest check the built kernel image too. dom0's
    // initrd carries Debian's guests (fetched with apt-get on first use, then cached), which
    // the end-to-end tests run.
    eprintln!("\nxtask test: cargo xtask build --guests");
    let built = match build::build_with(build::LinuxGuests::Fetch) {
        Ok(()) => {
            // Tell the image checks in the host tests that the images must exist.
            std::env::set_var("PVH_IMAGES_BUILT", "1");
            true
        }
        Err(e) => {
            t.step_failed("cargo xtask build", &e);
            false
        }
    };

    if opts.host {
        if let Err(e) = crate::prereq::ensure(&crate::prereq::XEN_HEADERS) {
            t.step_failed("prerequisite libxen-dev", &e);
        }
        cargo_test(
            &mut t,
            "host unit tests",
            &root,
            &[
                "test",
                "--workspace",
                "--exclude",
                "tests",
                "--exclude",
                "hypervisor",
                "--exclude",
                "pv-guest",
            ],
        );
        cargo_test(
            &mut t,
            "host unit tests of the bare-metal crates",
            &root,
            &["test", "-p", "hypervisor", "-p", "pv-guest"],
        );
        cargo_test(
            &mut t,
            "e2e harness unit tests",
            &root,
            &["test", "-p", "tests", "--lib"],
        );
        clippy::steps(&mut t, &root);
    }

    if opts.e2e {
        let ready = match qemu::ensure_qemu() {
            Err(e) => {
                t.step_failed("prerequisite QEMU", &e);
                false
            }
            Ok(()) => built,
        };
        if ready {
            // The ISO the PC boot tests use (its old copy is removed first, so a failure
            // here fails them with a clear message instead of testing a stale image).
            eprintln!("\nxtask test: cargo xtask iso");
            if let Err(e) = iso::build_iso() {
                t.step_failed("cargo xtask iso", &e);
            }
            if let Err(e) = prereq::ensure(&prereq::OVMF) {
                t.step_failed("prerequisite OVMF (UEFI firmware)", &e);
            }
        }
        if ready {
            let mut a = vec![
                "test",
                "-p",
                "tests",
                "--test",
                "e2e",
                "--",
                "--test-threads=2",
            ];
            if let Some(f) = &opts.filter {
                a.push(f);
            }
            cargo_test(&mut t, "end-to-end tests", &root, &a);
            // The benchmark's smoke mode: every row produced and sane, no timing asserted.
            if opts.filter.is_none() {
                eprintln!("\nxtask test: cargo xtask bench --smoke");
                match crate::bench::bench(true) {
                    Ok(()) => t.passed += 1,
                    Err(e) => t.step_failed("cargo xtask bench --smoke", &e),
                }
            }
            eprintln!(
                "xtask test: console transcripts in {}",
                root.join("target/e2e-logs").display()
            );
        } else {
            eprintln!("xtask test: end-to-end tests not run (see above)");
        }
    }

    t.finish("test")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn options() {
        let o = parse_args(&[]).unwrap();
        assert!(o.host && o.e2e && o.filter.is_none());
        let o = parse_args(&args(&["--host-only"])).unwrap();
        assert!(o.host && !o.e2e);
        let o = parse_args(&args(&["--e2e-only", "crash"])).unwrap();
        assert_eq!(
            o,
            Options {
                host: false,
                e2e: true,
                filter: Some("crash".into())
            }
        );
        assert!(parse_args(&args(&["--host-only", "--e2e-only"])).is_err());
        assert!(parse_args(&args(&["--host-only", "x"])).is_err());
        assert!(parse_args(&args(&["--bogus"])).is_err());
        assert!(parse_args(&args(&["a", "b"])).is_err());
    }

    #[test]
    fn result_lines() {
        assert_eq!(
            parse_result_line(
                "test result: ok. 22 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.58s"
            ),
            Some((22, 0))
        );
        assert_eq!(
            parse_result_line("test result: FAILED. 2 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out; finished in 1.03s"),
            Some((2, 1))
        );
        assert_eq!(parse_result_line("test foo ... ok"), None);
        assert_eq!(
            parse_failed_test("test crash::domu_hlt_is_crashed_dom0_survives ... FAILED"),
            Some("crash::domu_hlt_is_crashed_dom0_survives")
        );
        assert_eq!(parse_failed_test("test x ... ok"), None);
    }
}
