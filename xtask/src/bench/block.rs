//! The block rows: sequential write and read (MB/s) and 4 KiB random reads (IOPS) on the
//! machine's virtio disk, by dom0 directly and through blkback from a Linux domU and from
//! pv-guest, all in one boot of the Linux machine (1 GiB, `dom0_mem=512M`; the disk with
//! `snapshot=on`: writes go to QEMU's temporary overlay, the image is untouched).
//!
//! Everyone uses partition 3 (`vda3`, 22 MiB; the guests get it as `xvda` with
//! `disk=['phy:/dev/vda3,xvda,w']`) and in the same order: write the first `seq_mib` MiB,
//! read them back, then `rand_ops` 4 KiB reads at the same fixed-seed offsets, `reps` times:
//! - dom0: `dd if=/dev/zero of=/dev/vda3 bs=64k`, `dd if=/dev/vda3 of=/dev/null bs=64k`
//!   (dom0's shell, busybox's output: `N bytes (..) copied, S seconds, ..`) and
//!   `blkbench randread vda3 COUNT` (dom0-tools/src/shell/blkbench.rs);
//! - Linux: `xl create /etc/xen/linux.cfg -c "disk=[...]"`, then at its shell
//!   `/bin/blkbench seqwrite|seqread /dev/xvda MIB` and `blkbench randread /dev/xvda COUNT`
//!   (xtask/guest-tools: `O_DIRECT`, 1 MiB and 4 KiB requests, `CLOCK_MONOTONIC`);
//! - pv-guest: `xl create /etc/xen/domu.cfg ... "disk=[...]" extra="test=blk-bench mib=M
//!   count=C reps=R"`, whose blkfront prints the same `BLKBENCH` lines as the Linux program
//!   (per rep: seqwrite, seqread, randread), then `BLKBENCH done`.
//!
//! Rows `blk_<who>_<mode>`; the Linux and pv-guest ones are reported against dom0's (goal
//! for sequential: at least 0.8 of dom0's). A guest part that cannot run yet because what it
//! needs is still being built elsewhere (Linux's xen-blkfront in its initramfs, pv-guest's
//! `test=blk-bench`) gives rows `Unavailable("pending: <why>")`; `--smoke` reports those
//! and fails on any other missing row ([`smoke`]).

use super::console::{linux_machine_args, Machine, DOM0_PROMPT, LINUX_PROMPT};
use super::parse::Row;
use super::report::{ratio_with_unit, Line};
use crate::qemu::Images;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

/// How much each run moves.
#[derive(Clone, Copy, Debug)]
pub struct Sizes {
    /// MiB written, then read, from the start of the disk.
    pub seq_mib: u64,
    /// 4 KiB random reads.
    pub rand_ops: u64,
    /// Runs of the three, per side.
    pub reps: usize,
}

/// `--smoke`: every row, tiny.
pub const SMOKE: Sizes = Sizes {
    seq_mib: 2,
    rand_ops: 64,
    reps: 1,
};
/// The full run.
pub const FULL: Sizes = Sizes {
    seq_mib: 16,
    rand_ops: 4096,
    reps: 5,
};

/// dom0's device: the partition the guests get.
pub const DOM0_DEV: &str = "vda3";
/// The guests' disk spec.
pub const GUEST_DISK: &str = "phy:/dev/vda3,xvda,w";
/// dom0's `dd` block size.
pub const DOM0_BS_KIB: u64 = 64;
/// A row's reason that names a dependency still being built elsewhere.
pub const PENDING: &str = "pending: ";

/// The modes in the order of a run: (mode, unit, what).
pub const MODES: [(&str, &str, &str); 3] = [
    ("seqwrite", "MB/s", "sequential write"),
    ("seqread", "MB/s", "sequential read"),
    ("randread", "IOPS", "4 KiB random reads"),
];

/// Who measures: (id, what).
pub const WHO: [(&str, &str); 3] = [
    ("dom0", "dom0 on its virtio disk"),
    ("linux", "Linux domU (xen-blkfront, O_DIRECT)"),
    ("pv", "pv-guest domU (our blkfront)"),
];

/// One step's wait (a Linux boot is ~10 s under TCG, a full-size run some seconds).
const STEP: Duration = Duration::from_secs(240);
/// How long the pv-guest's whole run may take.
const PV_RUN: Duration = Duration::from_secs(300);

/// The row name of `who`'s `mode`.
pub fn row(who: &str, mode: &str) -> String {
    format!("blk_{who}_{mode}")
}

/// Why a part did not give figures.
#[derive(Debug, Clone, PartialEq)]
enum Fail {
    /// Waiting on work elsewhere: the rows say `pending: <why>`.
    Pending(String),
    /// A real failure.
    Error(String),
}

impl Fail {
    fn reason(&self) -> String {
        match self {
            Fail::Pending(w) => format!("{PENDING}{w}"),
            Fail::Error(e) => e.clone(),
        }
    }
}

impl From<String> for Fail {
    fn from(e: String) -> Fail {
        Fail::Error(e)
    }
}

/// Figures per mode.
type Figures = BTreeMap<&'static str, Vec<f64>>;

/// Boots the machine and measures every side; the `blk_*` rows. `linux`: whether dom0's initrd
/// carries Debian's Linux (else its rows say so). The console goes to `log`.
pub fn measure(images: &Images, sizes: Sizes, linux: bool, log: &Path) -> BTreeMap<String, Row> {
    let mut rows = BTreeMap::new();
    let mut put = |who: &str, r: Result<Figures, Fail>| {
        for (mode, unit, _) in MODES {
            let v = match &r {
                Ok(f) => match f.get(mode) {
                    Some(v) if !v.is_empty() => Row::Samples {
                        unit: unit.into(),
                        values: v.clone(),
                    },
                    _ => Row::Unavailable(format!("no {mode} figure")),
                },
                Err(e) => {
                    Row::Unavailable(format!("{} (transcript in {})", e.reason(), log.display()))
                }
            };
            rows.insert(row(who, mode), v);
        }
    };
    let mut m = match Machine::start(&linux_machine_args(images)) {
        Ok(m) => m,
        Err(e) => {
            for (who, _) in WHO {
                put(who, Err(Fail::Error(e.clone())));
            }
            return rows;
        }
    };
    let mut at = match m.wait(0, DOM0_PROMPT, STEP) {
        Ok(a) => a,
        Err(e) => {
            m.finish(log);
            for (who, _) in WHO {
                put(who, Err(Fail::Error(format!("dom0's prompt: {e}"))));
            }
            return rows;
        }
    };
    eprintln!("xtask bench: block rows: dom0 on {DOM0_DEV}");
    put("dom0", dom0(&mut m, &mut at, sizes).map_err(Fail::Error));
    let usable = if linux {
        eprintln!("xtask bench: block rows: a Linux domU with {GUEST_DISK}");
        let r = linux_side(&mut m, &mut at, sizes);
        let usable = match &r {
            Ok(_) | Err(Fail::Pending(_)) => true,
            Err(Fail::Error(_)) => leave_linux(&mut m, &mut at).is_ok(),
        };
        put("linux", r);
        usable
    } else {
        put(
            "linux",
            Err(Fail::Error(
                "Debian's Linux is not in dom0's initrd (cargo xtask build --guests)".into(),
            )),
        );
        true
    };
    let pv = if usable {
        eprintln!("xtask bench: block rows: pv-guest with {GUEST_DISK}");
        pv_side(&mut m, &mut at, sizes)
    } else {
        Err(Fail::Error(
            "not run: dom0's prompt did not come back after the Linux part".into(),
        ))
    };
    put("pv", pv);
    let _ = m.send("poweroff\n");
    m.finish(log);
    rows
}

/// dom0's figures: `dd` both ways and `blkbench randread`.
fn dom0(m: &mut Machine, at: &mut usize, s: Sizes) -> Result<Figures, String> {
    let mut f = Figures::new();
    let count = s.seq_mib * 1024 / DOM0_BS_KIB;
    for _ in 0..s.reps {
        for (mode, cmd) in [
            (
                "seqwrite",
                format!("dd if=/dev/zero of=/dev/{DOM0_DEV} bs={DOM0_BS_KIB}k count={count}"),
            ),
            (
                "seqread",
                format!("dd if=/dev/{DOM0_DEV} of=/dev/null bs={DOM0_BS_KIB}k count={count}"),
            ),
        ] {
            let out = m.run(at, &cmd, DOM0_PROMPT, STEP)?;
            let mbs = parse_dd(&out).map_err(|e| format!("`{cmd}`: {e}"))?;
            f.entry(mode).or_default().push(mbs);
        }
        let cmd = format!("blkbench randread {DOM0_DEV} {}", s.rand_ops);
        let out = m.run(at, &cmd, DOM0_PROMPT, STEP)?;
        let r = one_result(&out, "randread").map_err(|e| format!("`{cmd}`: {e}"))?;
        f.entry("randread").or_default().push(r);
    }
    Ok(f)
}

/// The Linux domU's figures; on success it is destroyed and dom0's prompt is back.
fn linux_side(m: &mut Machine, at: &mut usize, s: Sizes) -> Result<Figures, Fail> {
    m.send(&format!(
        "xl create /etc/xen/linux.cfg -c \"disk=['{GUEST_DISK}']\"\n"
    ))?;
    let (which, end) = m
        .wait_any(*at, &[LINUX_PROMPT, DOM0_PROMPT], STEP)
        .map_err(|e| format!("Linux did not reach its shell: {e}"))?;
    if which == 1 {
        let err = m.text[*at..end]
            .lines()
            .find(|l| l.starts_with("xl: "))
            .unwrap_or("no xl: line")
            .to_string();
        *at = end;
        return Err(Fail::Error(format!("xl create failed: {err}")));
    }
    *at = end;
    // The disk: xen-blkfront probes it once xenbus has connected both ends; give it 10 s.
    // The markers are split in the typed line so that its echo does not match them.
    let probe = "i=0; while [ ! -b /dev/xvda ] && [ $i -lt 100 ]; do usleep 100000; i=$((i+1)); \
                 done; if [ -b /dev/xvda ]; then echo BLK''DEV ok; else echo BLK''DEV none: \
                 drivers $(ls /sys/bus/xen/drivers | tr '\\n' ' '); fi; \
                 [ -x /bin/blkbench ] || echo BLK''DEV no blkbench";
    let out = m.run(at, probe, LINUX_PROMPT, STEP)?;
    disk_state(&out)?;
    let mut f = Figures::new();
    for _ in 0..s.reps {
        for (mode, _, _) in MODES {
            let n = if mode == "randread" {
                s.rand_ops
            } else {
                s.seq_mib
            };
            let cmd = format!("blkbench {mode} /dev/xvda {n}");
            let out = m.run(at, &cmd, LINUX_PROMPT, STEP)?;
            let v = one_result(&out, mode).map_err(|e| format!("`{cmd}` in Linux: {e}"))?;
            f.entry(mode).or_default().push(v);
        }
    }
    leave_linux(m, at)?;
    Ok(f)
}

/// What the disk probe in Linux said: ok, pending (no xen-blkfront loaded), or an error.
fn disk_state(out: &str) -> Result<(), Fail> {
    let said = |what: &str| out.lines().find_map(|l| l.trim_end().strip_prefix(what));
    if said("BLKDEV no blkbench").is_some() {
        return Err(Fail::Error(
            "the Linux domU has no /bin/blkbench (its initramfs lacks it)".into(),
        ));
    }
    if said("BLKDEV ok").is_some() {
        return Ok(());
    }
    match said("BLKDEV none: drivers") {
        Some(drivers) if drivers.split_whitespace().any(|d| d == "vbd") => Err(Fail::Error(format!(
            "xen-blkfront is loaded (xen drivers:{drivers}) but /dev/xvda did not appear within 10 s"
        ))),
        Some(drivers) => Err(Fail::Pending(format!(
            "the Linux domU has no xen-blkfront (xen drivers:{drivers}): its initramfs does not \
             load the module yet"
        ))),
        None => Err(Fail::Error(format!(
            "the disk probe in Linux printed nothing recognisable: {out:?}"
        ))),
    }
}

/// Detaches from the Linux console and destroys the domain.
fn leave_linux(m: &mut Machine, at: &mut usize) -> Result<(), String> {
    m.send("\x1d")?;
    *at = m.wait(*at, DOM0_PROMPT, Duration::from_secs(30))?;
    let out = m.run(at, "xl destroy linux", DOM0_PROMPT, STEP)?;
    match out.lines().find(|l| l.starts_with("xl: ")) {
        Some(e) => Err(format!("xl destroy linux: {e}")),
        None => Ok(()),
    }
}

/// pv-guest's figures from `test=blk-bench`.
fn pv_side(m: &mut Machine, at: &mut usize, s: Sizes) -> Result<Figures, Fail> {
    let from = *at;
    let cmd = format!(
        "xl create /etc/xen/domu.cfg name=blkbench memory=32 \"disk=['{GUEST_DISK}']\" \
         extra=\"test=blk-bench mib={} count={} reps={}\"",
        s.seq_mib, s.rand_ops, s.reps
    );
    let out = m.run(at, &cmd, DOM0_PROMPT, STEP)?;
    if let Some(e) = out.lines().find(|l| l.starts_with("xl: ")) {
        return Err(Fail::Error(format!("xl create (pv-guest): {e}")));
    }
    let unknown = "test=blk-bench: unknown test";
    let r = m.wait_any(from, &["BLKBENCH done", "BLKBENCH error", unknown], PV_RUN);
    let text = m.text[from..].to_string();
    let destroyed = m.run(at, "xl destroy blkbench", DOM0_PROMPT, STEP);
    let figures = match r {
        Ok((2, _)) => Err(Fail::Pending(
            "pv-guest has no test=blk-bench mode yet (it says \"test=blk-bench: unknown test\")"
                .into(),
        )),
        Ok(_) => pv_figures(&text).map_err(Fail::Error),
        Err(e) => Err(Fail::Error(format!("pv-guest's test=blk-bench: {e}"))),
    }?;
    destroyed?;
    Ok(figures)
}

/// Every `BLKBENCH` line of pv-guest's run: figures per mode, or its error.
fn pv_figures(text: &str) -> Result<Figures, String> {
    let mut f = Figures::new();
    for l in text.lines() {
        let Some(rest) = l.find("BLKBENCH ").map(|i| &l[i..]) else {
            continue;
        };
        if rest.trim_end() == "BLKBENCH done" {
            break;
        }
        let (mode, v) = parse_blkbench(rest)?;
        let mode = MODES
            .iter()
            .map(|m| m.0)
            .find(|&m| m == mode)
            .ok_or_else(|| format!("unknown mode in {rest:?}"))?;
        f.entry(mode).or_default().push(v);
    }
    Ok(f)
}

/// The figure of the one `BLKBENCH` line of mode `mode` in `out`.
fn one_result(out: &str, mode: &str) -> Result<f64, String> {
    let line = out
        .lines()
        .find_map(|l| l.find("BLKBENCH ").map(|i| &l[i..]))
        .ok_or_else(|| format!("no BLKBENCH line in {:?}", out.trim()))?;
    let (m, v) = parse_blkbench(line)?;
    if m != mode {
        return Err(format!("a {m} line for {mode}: {line:?}"));
    }
    Ok(v)
}

/// `BLKBENCH <mode> ... bytes=B ns=T [ops=N]`: the mode and its figure (MB/s for the
/// sequential modes, IOPS for `randread`); `BLKBENCH error <mode>: why` is an error.
pub fn parse_blkbench(line: &str) -> Result<(String, f64), String> {
    let line = line.trim_end();
    let rest = line
        .strip_prefix("BLKBENCH ")
        .ok_or_else(|| format!("not a BLKBENCH line: {line:?}"))?;
    if let Some(e) = rest.strip_prefix("error ") {
        return Err(format!("blkbench: {e}"));
    }
    let mut words = rest.split_whitespace();
    let mode = words.next().unwrap_or_default().to_string();
    let field = |k: &str| -> Result<u64, String> {
        rest.split_whitespace()
            .find_map(|w| w.strip_prefix(k)?.strip_prefix('='))
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| format!("no {k}= in {line:?}"))
    };
    let bytes = field("bytes")?;
    let ns = field("ns")?;
    if ns == 0 || bytes == 0 {
        return Err(format!("nothing measured: {line:?}"));
    }
    let v = if mode == "randread" {
        field("ops")? as f64 * 1e9 / ns as f64
    } else {
        bytes as f64 * 1e3 / ns as f64
    };
    Ok((mode, v))
}

/// The MB/s of busybox-style `dd` output (`N bytes (..) copied, S seconds, R/s`); a `dd:`
/// line is the error.
pub fn parse_dd(out: &str) -> Result<f64, String> {
    if let Some(e) = out.lines().find(|l| l.starts_with("dd: ")) {
        return Err(e.to_string());
    }
    let line = out
        .lines()
        .find(|l| l.contains(" bytes (") && l.contains(" copied"))
        .ok_or_else(|| format!("no `copied` line in {:?}", out.trim()))?;
    let bytes: f64 = line
        .split_whitespace()
        .next()
        .and_then(|b| b.parse().ok())
        .ok_or_else(|| format!("no byte count in {line:?}"))?;
    let secs: f64 = line
        .split(", ")
        .find_map(|p| p.strip_suffix(" seconds"))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("no time in {line:?} (does dom0 tell the time?)"))?;
    if bytes <= 0.0 || secs <= 0.0 {
        return Err(format!("nothing measured: {line:?}"));
    }
    Ok(bytes / secs / 1e6)
}

/// The report's block lines: dom0's figures, then each guest's against dom0's.
pub fn lines(rows: &BTreeMap<String, Row>) -> Vec<Line> {
    let mut out = Vec::new();
    for (who, who_what) in WHO {
        for (mode, unit, what) in MODES {
            let id = row(who, mode);
            let what = format!("{what} ({unit}), {who_what}");
            let anchor = match (who, mode) {
                ("dom0", _) => "-",
                (_, "randread") => "-",
                _ => "goal >=0.8x dom0",
            };
            let base = if who == "dom0" {
                None
            } else {
                Some(row("dom0", mode))
            };
            out.push(ratio_with_unit(
                rows,
                &id,
                &what,
                base.as_deref(),
                unit,
                anchor,
            ));
        }
    }
    out
}

/// `--smoke`'s view of the block rows: the problems (a row missing for any reason but a
/// pending dependency, an implausible figure), and the pending rows with their reason.
pub fn smoke(rows: &BTreeMap<String, Row>) -> (Vec<String>, Vec<String>) {
    let (mut problems, mut pending) = (Vec::new(), Vec::new());
    for (who, _) in WHO {
        for (mode, _, _) in MODES {
            let id = row(who, mode);
            match rows.get(&id) {
                Some(Row::Samples { values, .. }) if !values.is_empty() => {
                    if let Some(v) = values.iter().find(|v| !(v.is_finite() && **v > 0.0)) {
                        problems.push(format!("{id}: implausible figure {v}"));
                    }
                }
                Some(Row::Unavailable(why)) if who != "dom0" && why.starts_with(PENDING) => {
                    pending.push(format!("{id}: {why}"));
                }
                Some(Row::Unavailable(why)) => problems.push(format!("{id}: {why}")),
                _ => problems.push(format!("{id}: no samples")),
            }
        }
    }
    (problems, pending)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dd_output_as_dom0_prints_it() {
        let out = "dd if=/dev/vda3 of=/dev/null bs=64k count=32\n32+0 records in\n\
                   32+0 records out\n2097152 bytes (2.0M) copied, 0.020000 seconds, 100.0M/s\n";
        assert!((parse_dd(out).unwrap() - 104.8576).abs() < 1e-9);
        assert_eq!(
            parse_dd("dd: vdz: no such device\n"),
            Err("dd: vdz: no such device".into())
        );
        // Without a clock dom0 prints no time: not a figure.
        assert!(
            parse_dd("1+0 records in\n1+0 records out\n4096 bytes (4.0K) copied\n")
                .unwrap_err()
                .contains("no time")
        );
        assert!(parse_dd("0 bytes (0B) copied, 0.000001 seconds, 0B/s\n").is_err());
        assert!(parse_dd("dom0# \n").is_err());
    }

    #[test]
    fn blkbench_lines_give_mb_per_s_and_iops() {
        let (m, v) = parse_blkbench(
            "BLKBENCH seqread dev=/dev/xvda size=23068672 bytes=2097152 ns=20000000\r\n",
        )
        .unwrap();
        assert_eq!(m, "seqread");
        assert!((v - 104.8576).abs() < 1e-9);
        let (m, v) = parse_blkbench(
            "BLKBENCH randread dev=vda3 size=23068672 bytes=262144 ns=500000000 ops=64",
        )
        .unwrap();
        assert_eq!((m.as_str(), v), ("randread", 128.0));
        assert_eq!(
            parse_blkbench("BLKBENCH error seqread: open: errno 2 (ENOENT)"),
            Err("blkbench: seqread: open: errno 2 (ENOENT)".into())
        );
        assert!(
            parse_blkbench("BLKBENCH randread bytes=4096 ns=10").is_err(),
            "no ops"
        );
        assert!(parse_blkbench("BLKBENCH seqread bytes=4096 ns=0").is_err());
        assert!(parse_blkbench("blkbench seqread").is_err());
        // The one line of a command's output, of the right mode.
        let out = "blkbench seqwrite /dev/xvda 2\r\nBLKBENCH seqwrite dev=/dev/xvda size=1 bytes=1000 ns=1000\r\n";
        assert_eq!(one_result(out, "seqwrite"), Ok(1000.0));
        assert!(one_result(out, "seqread")
            .unwrap_err()
            .contains("a seqwrite line"));
        assert!(one_result("sh: blkbench: not found\n", "seqread")
            .unwrap_err()
            .contains("no BLKBENCH line"));
    }

    #[test]
    fn pv_guest_lines_accumulate_per_mode_until_done() {
        let text = "(d3) Hello from pv-guest domU\n\
                    (d3) BLKBENCH seqwrite dev=xvda size=1 bytes=1000 ns=1000\n\
                    (d3) BLKBENCH seqread dev=xvda size=1 bytes=2000 ns=1000\n\
                    (d3) BLKBENCH randread dev=xvda size=1 bytes=4096 ns=1000000 ops=1\n\
                    (d3) BLKBENCH seqread dev=xvda size=1 bytes=3000 ns=1000\n\
                    (d3) BLKBENCH done\n\
                    (d3) BLKBENCH seqread dev=xvda size=1 bytes=9000 ns=1000\n";
        let f = pv_figures(text).unwrap();
        assert_eq!(f["seqwrite"], vec![1000.0]);
        assert_eq!(f["seqread"], vec![2000.0, 3000.0]);
        assert_eq!(f["randread"], vec![1000.0]);
        assert!(pv_figures("(d3) BLKBENCH error seqread: I/O error\n").is_err());
        assert!(pv_figures("(d3) BLKBENCH scan bytes=1 ns=1\n").is_err());
    }

    #[test]
    fn the_disk_probe_tells_pending_from_broken() {
        assert_eq!(disk_state("...\nBLKDEV ok\r\n"), Ok(()));
        let pending = disk_state("BLKDEV none: drivers console vfb \r\n").unwrap_err();
        assert!(matches!(&pending, Fail::Pending(w) if w.contains("no xen-blkfront")));
        assert!(pending.reason().starts_with(PENDING));
        let broken = disk_state("BLKDEV none: drivers console vbd vif\n").unwrap_err();
        assert!(matches!(&broken, Fail::Error(e) if e.contains("did not appear")));
        assert!(matches!(
            disk_state("BLKDEV ok\nBLKDEV no blkbench\n"),
            Err(Fail::Error(e)) if e.contains("/bin/blkbench")
        ));
        // The echo of the typed probe is not an answer.
        let echo = "i=0; ... then echo BLK''DEV ok; else echo BLK''DEV none: drivers ...\n";
        assert!(matches!(disk_state(echo), Err(Fail::Error(_))));
    }

    fn samples(unit: &str, v: &[f64]) -> Row {
        Row::Samples {
            unit: unit.into(),
            values: v.to_vec(),
        }
    }

    #[test]
    fn lines_put_the_guests_against_dom0() {
        let mut rows = BTreeMap::new();
        rows.insert(
            row("dom0", "seqread"),
            samples("MB/s", &[100.0, 90.0, 110.0]),
        );
        rows.insert(
            row("linux", "seqread"),
            samples("MB/s", &[80.0, 70.0, 85.0]),
        );
        rows.insert(
            row("pv", "seqread"),
            Row::Unavailable(format!("{PENDING}pv-guest has no test=blk-bench mode yet")),
        );
        let l = lines(&rows);
        assert_eq!(l.len(), 9);
        let linux = l.iter().find(|l| l.id == "blk_linux_seqread").unwrap();
        assert_eq!(linux.ratio, Some(0.8));
        assert_eq!(linux.ratio_min, Some(70.0 / 90.0));
        assert_eq!(linux.unit, "MB/s");
        assert_eq!(linux.anchor, "goal >=0.8x dom0");
        let dom0 = l.iter().find(|l| l.id == "blk_dom0_seqread").unwrap();
        assert_eq!((dom0.ratio, dom0.value.unwrap().median), (None, 100.0));
        let pv = l.iter().find(|l| l.id == "blk_pv_seqread").unwrap();
        assert!(pv.missing.as_deref().unwrap().contains("test=blk-bench"));
    }

    #[test]
    fn smoke_fails_on_missing_rows_and_reports_pending_ones() {
        let mut rows = BTreeMap::new();
        for (mode, unit, _) in MODES {
            rows.insert(row("dom0", mode), samples(unit, &[10.0]));
            rows.insert(row("linux", mode), samples(unit, &[5.0]));
            rows.insert(
                row("pv", mode),
                Row::Unavailable(format!("{PENDING}no test=blk-bench")),
            );
        }
        let (problems, pending) = smoke(&rows);
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(pending.len(), 3);
        assert!(pending[0].starts_with("blk_pv_seqwrite: pending: "));
        // dom0 is never pending; any other reason is a failure; a zero is implausible.
        rows.insert(
            row("dom0", "seqread"),
            Row::Unavailable(format!("{PENDING}x")),
        );
        rows.insert(row("linux", "randread"), Row::Unavailable("EIO".into()));
        rows.insert(row("linux", "seqwrite"), samples("MB/s", &[0.0]));
        rows.remove(&row("linux", "seqread"));
        let (problems, _) = smoke(&rows);
        assert_eq!(
            problems,
            [
                "blk_dom0_seqread: pending: x",
                "blk_linux_seqwrite: implausible figure 0",
                "blk_linux_seqread: no samples",
                "blk_linux_randread: EIO",
            ]
        );
    }
}
