//! `cargo xtask bench [--smoke] [--block]`: boots the system in QEMU with `bench=<mode>` on the
//! hypervisor's and dom0's command lines, reads the BENCH lines the hypervisor and the guests
//! print (docs/performance.md), and prints one table plus `target/bench/results.json`.
//! Debian's Linux is built into dom0's initrd (fetched on first use) and its boot to a
//! shell timed (`linux_boot`). A last boot measures the block rows (`block`): dom0 on its
//! disk, and a Linux and a pv-guest domU through blkback.
//! `--smoke` uses tiny iteration counts and checks that every row is produced and sane
//! (no timing is asserted); `cargo xtask test` runs it. `--block` measures only the block
//! rows (one boot of the Linux machine).

mod block;
mod console;
pub mod guest_tools;
mod linux_boot;
mod parse;
mod report;

use crate::qemu::{self, Images, Outcome};
use parse::Row;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::build::NATIVE_IMAGE;

/// `cargo xtask bench`.
pub fn run(args: &[String]) -> Result<(), String> {
    let usage = "usage: cargo xtask bench [--smoke] [--block]";
    let (mut smoke, mut only_block) = (false, false);
    for a in args {
        match a.as_str() {
            "--smoke" => smoke = true,
            "--block" => only_block = true,
            _ => return Err(format!("{usage} (unknown argument `{a}`)")),
        }
    }
    // With Debian's Linux in dom0's initrd: its boot time is a row.
    crate::build::build_with(crate::build::LinuxGuests::Fetch)?;
    qemu::ensure_qemu()?;
    if only_block {
        return bench_block(smoke);
    }
    bench(smoke)
}

/// `--block`: only the block rows (one boot), for work on the disk path.
fn bench_block(smoke: bool) -> Result<(), String> {
    let out_dir = qemu::workspace_root().join("target").join("bench");
    std::fs::create_dir_all(&out_dir).map_err(|e| format!("{}: {e}", out_dir.display()))?;
    let images = Images::in_dir(&qemu::images_dir());
    let sizes = if smoke { block::SMOKE } else { block::FULL };
    eprintln!(
        "xtask bench: block rows only ({} MiB sequential, {} random reads, {}x)",
        sizes.seq_mib, sizes.rand_ops, sizes.reps
    );
    let with_linux = linux_boot::available(&images.initrd);
    let rows = block::measure(&images, sizes, with_linux, &out_dir.join("block.log"));
    let lines: Vec<report::Line> = report::lines(&rows)
        .into_iter()
        .filter(|l| l.id.starts_with("blk_"))
        .collect();
    print!("{}", report::table(&lines, None));
    if smoke {
        let (problems, _) = block::smoke(&rows);
        if !problems.is_empty() {
            return Err(format!("bench --smoke --block: {}", problems.join("; ")));
        }
    }
    Ok(())
}

/// Runs the benchmark on already built images.
pub fn bench(smoke: bool) -> Result<(), String> {
    let mode = if smoke { "smoke" } else { "full" };
    let out_dir = qemu::workspace_root().join("target").join("bench");
    std::fs::create_dir_all(&out_dir).map_err(|e| format!("{}: {e}", out_dir.display()))?;
    let images = Images::in_dir(&qemu::images_dir());
    let limit = Duration::from_secs(if smoke { 180 } else { 540 });

    let mut args = qemu::qemu_args(&images, &format!("bench={mode}"));
    // dom0's module line gets the bench mode: the value after `-initrd`.
    if let Some(i) = args.iter().position(|a| a == "-initrd") {
        args[i + 1] = format!(
            "{} bench={mode},{}",
            images.pv_guest.display(),
            images.initrd.display()
        );
    }
    eprintln!("xtask bench: booting the PV system (mode {mode})");
    let (pv_text, outcome) = boot(&args, limit, &out_dir.join("pv.log"))?;
    if !outcome.is_success() || !pv_text.contains("BENCH-DONE") {
        return Err(format!(
            "bench: the PV run did not finish ({}); transcript in {}",
            outcome.message(),
            out_dir.join("pv.log").display()
        ));
    }
    let (mut rows, khz) = parse::parse(&pv_text);

    let native = qemu::images_dir().join(NATIVE_IMAGE);
    if native.exists() {
        let args = native_args(&native, mode);
        eprintln!("xtask bench: booting the native image");
        let (text, outcome) = boot(&args, limit, &out_dir.join("native.log"))?;
        if !outcome.is_success() || !text.contains("BENCH-DONE") {
            return Err(format!(
                "bench: the native run did not finish ({}); transcript in {}",
                outcome.message(),
                out_dir.join("native.log").display()
            ));
        }
        let (native_rows, _) = parse::parse(&text);
        rows.extend(
            native_rows
                .into_iter()
                .filter(|(k, _)| k.starts_with("native_")),
        );
    }
    for (w, _) in report::WORKLOADS {
        rows.entry(format!("native_{w}"))
            .or_insert_with(|| Row::Unavailable("native image not built".into()));
    }

    let linux_log = out_dir.join("linux.log");
    let linux = if linux_boot::available(&images.initrd) {
        let runs = if smoke { 1 } else { 3 };
        eprintln!("xtask bench: booting Debian's Linux as a domU ({runs}x)");
        let row = linux_boot::measure(&images, runs, &linux_log);
        if let (true, Row::Unavailable(why)) = (smoke, &row) {
            return Err(format!("bench --smoke: linux_boot: {why}"));
        }
        row
    } else {
        Row::Unavailable(
            "Debian's Linux is not in dom0's initrd (cargo xtask build --guests)".into(),
        )
    };
    rows.insert("linux_boot".into(), linux);

    let sizes = if smoke { block::SMOKE } else { block::FULL };
    eprintln!(
        "xtask bench: booting for the block rows ({} MiB sequential, {} random reads, {}x)",
        sizes.seq_mib, sizes.rand_ops, sizes.reps
    );
    let with_linux = linux_boot::available(&images.initrd);
    rows.extend(block::measure(
        &images,
        sizes,
        with_linux,
        &out_dir.join("block.log"),
    ));

    let lines = report::lines(&rows);
    print!("{}", report::table(&lines, khz));
    let json_path = out_dir.join("results.json");
    std::fs::write(&json_path, report::json(&lines, khz, mode))
        .map_err(|e| format!("{}: {e}", json_path.display()))?;
    eprintln!("xtask bench: wrote {}", json_path.display());
    if smoke {
        let mut problems = report::smoke_problems(&rows, &lines);
        let (block_problems, pending) = block::smoke(&rows);
        problems.extend(block_problems);
        for p in &pending {
            eprintln!("xtask bench: smoke: PENDING {p}");
        }
        if !problems.is_empty() {
            return Err(format!("bench --smoke: {}", problems.join("; ")));
        }
        eprintln!(
            "xtask bench: smoke OK ({} rows, {} pending on work elsewhere)",
            lines.len(),
            pending.len()
        );
    }
    Ok(())
}

fn native_args(image: &Path, mode: &str) -> Vec<String> {
    crate::qemu::MACHINE_ARGS
        .iter()
        .map(|s| s.to_string())
        .chain([
            "-kernel".into(),
            image.display().to_string(),
            "-append".into(),
            format!("bench={mode}"),
        ])
        .collect()
}

/// Boots QEMU with `args` until it exits (or `limit` passes), saving the console to `log`.
fn boot(args: &[String], limit: Duration, log: &PathBuf) -> Result<(String, Outcome), String> {
    let mut child = Command::new(qemu::QEMU)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("starting {}: {e}", qemu::QEMU))?;
    let mut stdout = child.stdout.take().expect("piped stdout");
    let reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = stdout.read_to_end(&mut buf);
        String::from_utf8_lossy(&buf).into_owned()
    });
    let start = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break Some(s),
            Ok(None) if start.elapsed() > limit => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(50)),
            Err(e) => return Err(format!("waiting for QEMU: {e}")),
        }
    };
    let text = reader.join().unwrap_or_default();
    let _ = std::fs::write(log, &text);
    let outcome = status.map_or(Outcome::Killed, Outcome::from_status);
    Ok((text, outcome))
}
