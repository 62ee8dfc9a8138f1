//! `cargo xtask clippy`: clippy with `-D warnings` over every crate, in the configurations they
//! are built and tested in; `cargo xtask test` runs the same steps with the host unit tests.
//!
//! 1. the host crates with all their targets (tests, examples):
//!    `cargo clippy --workspace --exclude hypervisor --exclude pv-guest --all-targets`;
//! 2. the bare-metal crates on the host with their unit tests:
//!    `cargo clippy -p hypervisor -p pv-guest --all-targets --all-features` (all features:
//!    the host build of the `native` binary too);
//! 3. each bare-metal build for `x86_64-unknown-none` exactly as `cargo xtask build` makes it:
//!    the same command line (RUSTFLAGS, `--release`, target dir, `--bin`, `--features`; see
//!    [`build::BARE_METAL`]) with `clippy` for `build`, so nothing is rebuilt needlessly.
//!
//! Each invocation is one step: one passed or one failed in the tally.

use super::Tally;
use crate::prereq::TARGET;
use crate::{build, qemu};
use std::path::Path;
use std::process::{Command, Stdio};

const USAGE: &str = "usage: cargo xtask clippy";

/// `cargo xtask clippy`: the clippy steps alone; ends with `N passed, N failed`.
pub fn run(args: &[String]) -> Result<(), String> {
    if let Some(a) = args.first() {
        return Err(format!("clippy: unknown argument {a:?}\n{USAGE}"));
    }
    let root = qemu::workspace_root();
    crate::prereq::ensure_toolchain(&root)?;
    let mut t = Tally::default();
    steps(&mut t, &root);
    t.finish("clippy")
}

/// Runs every clippy invocation, adding one passed or one failed step each to the tally.
pub(super) fn steps(t: &mut Tally, root: &Path) {
    for (step, mut cmd) in commands(root) {
        eprintln!("\nxtask test: {step}: {}", show(&cmd));
        match cmd.stdin(Stdio::null()).status() {
            Ok(s) if s.success() => t.passed += 1,
            Ok(s) => t.step_failed(&step, &format!("cargo clippy exited with {s}")),
            Err(e) => t.step_failed(&step, &format!("cannot run cargo: {e}")),
        }
    }
}

/// The clippy invocations in order, each with its step name.
fn commands(root: &Path) -> Vec<(String, Command)> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let host = |args: &[&str]| {
        let mut cmd = Command::new(&cargo);
        cmd.current_dir(root).arg("clippy").args(args);
        cmd
    };
    let mut all = vec![
        (
            "clippy of the host crates".to_string(),
            host(&[
                "--workspace",
                "--exclude",
                "hypervisor",
                "--exclude",
                "pv-guest",
                "--all-targets",
            ]),
        ),
        (
            "clippy of the bare-metal crates on the host".to_string(),
            host(&[
                "-p",
                "hypervisor",
                "-p",
                "pv-guest",
                "--all-targets",
                "--all-features",
            ]),
        ),
    ];
    for c in build::BARE_METAL {
        all.push((
            format!("clippy of {} ({TARGET})", c.bin()),
            c.cargo(root, "clippy"),
        ));
    }
    // The Linux guests' static programs: a workspace of their own.
    let mut tools = crate::bench::guest_tools::cargo("clippy");
    tools
        .current_dir(root.join(crate::bench::guest_tools::CRATE_DIR))
        .arg("--all-targets");
    all.push(("clippy of the Linux guests' tools".to_string(), tools));
    for (_, cmd) in &mut all {
        cmd.args(["--", "-D", "warnings"]);
    }
    all
}

/// A command as one shell line: the variables it sets, `cargo`, its arguments.
fn show(cmd: &Command) -> String {
    let mut words: Vec<String> = cmd
        .get_envs()
        .filter_map(|(k, v)| Some(format!("{}={:?}", k.to_string_lossy(), v?)))
        .collect();
    words.push("cargo".into());
    words.extend(cmd.get_args().map(|a| a.to_string_lossy().into_owned()));
    words.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(cmd: &Command) -> Vec<String> {
        cmd.get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn every_crate_every_configuration() {
        let root = Path::new("/ws");
        let all = commands(root);
        let steps: Vec<&str> = all.iter().map(|(s, _)| s.as_str()).collect();
        assert_eq!(
            steps,
            [
                "clippy of the host crates",
                "clippy of the bare-metal crates on the host",
                "clippy of hypervisor (x86_64-unknown-none)",
                "clippy of pv-guest (x86_64-unknown-none)",
                "clippy of pv-guest-native (x86_64-unknown-none)",
                "clippy of the Linux guests' tools",
            ]
        );
        let (tools, rest) = all.split_last().expect("steps");
        for (_, cmd) in rest {
            let a = args(cmd);
            assert_eq!(a[0], "clippy");
            assert_eq!(a[a.len() - 3..], ["--", "-D", "warnings"]);
            assert_eq!(cmd.get_current_dir(), Some(root));
        }
        assert_eq!(
            tools.1.get_current_dir(),
            Some(root.join("xtask/guest-tools").as_path())
        );
        assert_eq!(
            args(&tools.1)[args(&tools.1).len() - 3..],
            ["--", "-D", "warnings"]
        );
        assert!(args(&all[0].1).contains(&"--all-targets".to_string()));
        assert!(args(&all[1].1).contains(&"--all-targets".to_string()));
        // The bare-metal steps are `cargo xtask build`'s command lines with `clippy`.
        for (c, (_, cmd)) in build::BARE_METAL.iter().zip(&rest[2..]) {
            let mut built = args(&c.cargo(root, "build"));
            built[0] = "clippy".into();
            let a = args(cmd);
            assert_eq!(a[..a.len() - 3], built[..]);
            let envs: Vec<_> = cmd.get_envs().collect();
            assert_eq!(envs, c.cargo(root, "build").get_envs().collect::<Vec<_>>());
        }
    }

    #[test]
    fn shown_as_a_shell_line() {
        let mut cmd = Command::new("cargo");
        cmd.env_remove("A")
            .env("RUSTFLAGS", "-C x")
            .args(["clippy", "-p", "p"]);
        assert_eq!(show(&cmd), "RUSTFLAGS=\"-C x\" cargo clippy -p p");
    }
}
