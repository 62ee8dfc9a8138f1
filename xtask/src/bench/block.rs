//! The block rows: sequential write and read (MB/s) and 4 KiB random reads (IOPS) on the
//! machine's virtio disk, by dom0 directly and through blkback from a Linux domU and from
//! pv-guest, all in one boot of the Linux machine (1 GiB, `dom0_mem=512M`; the disk with
//! `snapshot=on`: writes go to QEMU's temporary overlay, the image is untouched).
//!
//! Everyone uses partition 3 (`vda3`, 22 MiB; the guests get it as `xvda` with
//! `disk=['phy:/dev/vda3,xvda,w']`) and in the same order: write the first `seq_mib` MiB,
//! read them back, then `rand_ops` 4 KiB reads at the same fixed-seed offsets, `reps` times,
//! dom0's reps interleaved with each guest's ([`measure`]):
//! - dom0: `dd if=/dev/zero of=/dev/vda3 bs=1M`, `dd if=/dev/vda3 of=/dev/null bs=1M`
//!   (dom0's shell, busybox's output: `N bytes (..) copied, S seconds, ..`) and
//!   `blkbench randread vda3 COUNT` (dom0-tools/src/shell/blkbench.rs);
//! - Linux: `xl create /etc/xen/linux.cfg -c "disk=[...]"`, then at its shell
//!   `/bin/blkbench seqwrite|seqread /dev/xvda MIB` and `blkbench randread /dev/xvda COUNT`
//!   (xtask/guest-tools: `O_DIRECT`, 1 MiB and 4 KiB requests, `CLOCK_MONOTONIC`);
//! - pv-guest: per rep a domain `xl create /etc/xen/domu.cfg ... "disk=[...]"
//!   extra="test=blk-bench mib=M count=C reps=1"`, whose blkfront prints the same `BLKBENCH`
//!   lines as the Linux program (seqwrite, seqread, randread), then `BLKBENCH done`.
//!
//! Rows `blk_<who>_<mode>`; the Linux and pv-guest ones are reported against dom0's runs
//! beside them (`blk_dom0_<mode>_beside_<who>`; goal for sequential: at least 0.8). A guest
//! part that cannot run yet because what it needs is still being built elsewhere (Linux's
//! xen-blkfront in its initramfs, pv-guest's `test=blk-bench`) gives rows
//! `Unavailable("pending: <why>")`; `--smoke` reports those and fails on any other missing
//! row ([`smoke`]).

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
    reps: 7,
};

/// dom0's device: the partition the guests get.
pub const DOM0_DEV: &str = "vda3";
/// The guests' disk spec.
pub const GUEST_DISK: &str = "phy:/dev/vda3,xvda,w";
/// dom0's `dd` block size: 1 MiB, the request size of the guests' sequential runs (64 KiB
/// measured no faster).
pub const DOM0_BS_KIB: u64 = 1024;
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
const PV_RUN: Duration = Duration::from_secs(120);

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

/// The name of the dom0 rows measured beside `who`: the baseline of `who`'s ratios.
pub fn beside(who: &str, mode: &str) -> String {
    format!("{}_beside_{who}", row("dom0", mode))
}

/// dom0's figures: all of them, and per guest those measured beside it.
#[derive(Default)]
struct Dom0 {
    all: Figures,
    beside: BTreeMap<&'static str, Figures>,
    /// Why dom0's runs stopped.
    failed: Option<String>,
}

impl Dom0 {
    /// One rep of dom0's runs, next to `who`'s; nothing once one has failed.
    fn rep(&mut self, m: &mut Machine, at: &mut usize, s: Sizes, who: &'static str) {
        if self.failed.is_some() {
            return;
        }
        match dom0_rep(m, at, s) {
            Ok(v) => {
                for (mode, x) in v {
                    self.all.entry(mode).or_default().push(x);
                    self.beside
                        .entry(who)
                        .or_default()
                        .entry(mode)
                        .or_default()
                        .push(x);
                }
            }
            Err(e) => self.failed = Some(e),
        }
    }
}

/// Boots the machine and measures every side; the `blk_*` rows (and dom0's beside each
/// guest, [`beside`]). `linux`: whether dom0's initrd carries Debian's Linux (else its rows
/// say so). The console goes to `log`.
///
/// Two phases, each interleaving dom0's runs with a guest's, rep by rep, so that a host
/// whose load drifts affects both sides of a ratio alike: the Linux domU (created once,
/// the console attached for its runs and detached for dom0's), then, once it is destroyed
/// (a writable disk belongs to one domain at a time), pv-guest (one domain per rep).
pub fn measure(images: &Images, sizes: Sizes, linux: bool, log: &Path) -> BTreeMap<String, Row> {
    let mut rows = BTreeMap::new();
    let where_ = format!("transcript in {}", log.display());
    let mut put = |name: String, unit: &str, r: &Result<Figures, Fail>, mode: &str| {
        let v = match r {
            Ok(f) => match f.get(mode) {
                Some(v) if !v.is_empty() => Row::Samples {
                    unit: unit.into(),
                    values: v.clone(),
                },
                _ => Row::Unavailable(format!("no {mode} figure ({where_})")),
            },
            Err(e) => Row::Unavailable(format!("{} ({where_})", e.reason())),
        };
        rows.insert(name, v);
    };
    let (mut dom0, linux_r, pv_r) = run(images, sizes, linux, log);
    let dom0_r = match dom0.failed.take() {
        Some(e) => Err(Fail::Error(e)),
        None => Ok(std::mem::take(&mut dom0.all)),
    };
    for (mode, unit, _) in MODES {
        put(row("dom0", mode), unit, &dom0_r, mode);
        for (who, r) in [("linux", &linux_r), ("pv", &pv_r)] {
            put(row(who, mode), unit, r, mode);
            let base = match &dom0_r {
                Ok(_) => Ok(dom0.beside.get(who).cloned().unwrap_or_default()),
                Err(e) => Err(e.clone()),
            };
            put(beside(who, mode), unit, &base, mode);
        }
    }
    rows
}

/// The machine's run: dom0's figures, Linux's and pv-guest's.
fn run(
    images: &Images,
    s: Sizes,
    linux: bool,
    log: &Path,
) -> (Dom0, Result<Figures, Fail>, Result<Figures, Fail>) {
    let mut dom0 = Dom0::default();
    let mut m = match Machine::start(&linux_machine_args(images)) {
        Ok(m) => m,
        Err(e) => {
            dom0.failed = Some(e.clone());
            return (dom0, Err(Fail::Error(e.clone())), Err(Fail::Error(e)));
        }
    };
    let mut at = match m.wait(0, DOM0_PROMPT, STEP) {
        Ok(a) => a,
        Err(e) => {
            m.finish(log);
            let e = format!("dom0's prompt: {e}");
            dom0.failed = Some(e.clone());
            return (dom0, Err(Fail::Error(e.clone())), Err(Fail::Error(e)));
        }
    };
    let at = &mut at;
    let (linux_r, usable) = if linux {
        eprintln!("xtask bench: block rows: dom0 on {DOM0_DEV} and a Linux domU with {GUEST_DISK}");
        let r = linux_phase(&mut m, at, s, &mut dom0);
        let usable = match &r {
            Ok(_) => true,
            Err(_) => leave_linux(&mut m, at).is_ok(),
        };
        (r, usable)
    } else {
        let why = "Debian's Linux is not in dom0's initrd (cargo xtask build --guests)";
        (Err(Fail::Error(why.into())), true)
    };
    let pv_r = if usable {
        eprintln!("xtask bench: block rows: dom0 on {DOM0_DEV} and pv-guest with {GUEST_DISK}");
        pv_phase(&mut m, at, s, &mut dom0)
    } else {
        Err(Fail::Error(
            "not run: dom0's prompt did not come back after the Linux part".into(),
        ))
    };
    let _ = m.send("poweroff\n");
    m.finish(log);
    (dom0, linux_r, pv_r)
}

/// One rep of dom0's runs: `dd` both ways and `blkbench randread`.
fn dom0_rep(m: &mut Machine, at: &mut usize, s: Sizes) -> Result<Vec<(&'static str, f64)>, String> {
    let count = s.seq_mib * 1024 / DOM0_BS_KIB;
    let mut v = Vec::new();
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
        v.push((mode, parse_dd(&out).map_err(|e| format!("`{cmd}`: {e}"))?));
    }
    let cmd = format!("blkbench randread {DOM0_DEV} {}", s.rand_ops);
    let out = m.run(at, &cmd, DOM0_PROMPT, STEP)?;
    let r = one_result(&out, "randread").map_err(|e| format!("`{cmd}`: {e}"))?;
    v.push(("randread", r));
    Ok(v)
}

/// Creates the Linux domU with the disk and checks it is there; then per rep dom0's runs and
/// Linux's (console attached). On success Linux is destroyed and dom0's prompt is back; on
/// failure it may still run, attached or not ([`leave_linux`] cleans up).
fn linux_phase(
    m: &mut Machine,
    at: &mut usize,
    s: Sizes,
    dom0: &mut Dom0,
) -> Result<Figures, Fail> {
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
    detach(m, at)?;
    let mut f = Figures::new();
    for _ in 0..s.reps {
        dom0.rep(m, at, s, "linux");
        m.send("xl console linux\n")?;
        let connected = m.wait(*at, "Ctrl-] detaches", STEP)?;
        m.send("\n")?;
        *at = m.wait(connected, LINUX_PROMPT, STEP)?;
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
        detach(m, at)?;
    }
    destroy(m, at, "linux")?;
    Ok(f)
}

/// Ctrl-]: back from a domain's console to dom0's prompt.
fn detach(m: &mut Machine, at: &mut usize) -> Result<(), String> {
    m.send("\x1d")?;
    *at = m.wait(*at, DOM0_PROMPT, Duration::from_secs(30))?;
    Ok(())
}

/// `xl destroy <name>`, which must say nothing.
fn destroy(m: &mut Machine, at: &mut usize, name: &str) -> Result<(), String> {
    let out = m.run(at, &format!("xl destroy {name}"), DOM0_PROMPT, STEP)?;
    match out.lines().find(|l| l.starts_with("xl: ")) {
        Some(e) => Err(format!("xl destroy {name}: {e}")),
        None => Ok(()),
    }
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

/// After a failed Linux part: back at dom0's prompt (Linux's console may be attached) and
/// the domain gone.
fn leave_linux(m: &mut Machine, at: &mut usize) -> Result<(), String> {
    detach(m, at)?;
    destroy(m, at, "linux")
}

/// Per rep dom0's runs, then a pv-guest domain running `test=blk-bench` once.
fn pv_phase(m: &mut Machine, at: &mut usize, s: Sizes, dom0: &mut Dom0) -> Result<Figures, Fail> {
    let mut f = Figures::new();
    for _ in 0..s.reps {
        dom0.rep(m, at, s, "pv");
        for (mode, v) in pv_rep(m, at, s)? {
            f.entry(mode).or_default().extend(v);
        }
    }
    Ok(f)
}

/// One pv-guest domain with the disk running `test=blk-bench reps=1`: its figures.
fn pv_rep(m: &mut Machine, at: &mut usize, s: Sizes) -> Result<Figures, Fail> {
    let from = *at;
    let cmd = format!(
        "xl create /etc/xen/domu.cfg name=blkbench memory=32 \"disk=['{GUEST_DISK}']\" \
         extra=\"test=blk-bench mib={} count={} reps=1\"",
        s.seq_mib, s.rand_ops
    );
    let out = m.run(at, &cmd, DOM0_PROMPT, STEP)?;
    if let Some(e) = out.lines().find(|l| l.starts_with("xl: ")) {
        return Err(Fail::Error(format!("xl create (pv-guest): {e}")));
    }
    let unknown = "test=blk-bench: unknown test";
    let r = m.wait_any(from, &["BLKBENCH done", "BLKBENCH error", unknown], PV_RUN);
    let text = m.text[from..].to_string();
    let destroyed = destroy(m, at, "blkbench");
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
            let base = (who != "dom0").then(|| beside(who, mode));
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
        // dom0's rows are all its runs; a guest's ratio is against those beside it.
        let dom0_all = samples("MB/s", &[100.0, 90.0, 110.0, 50.0]);
        rows.insert(row("dom0", "seqread"), dom0_all);
        let beside_linux = samples("MB/s", &[100.0, 90.0, 110.0]);
        rows.insert(beside("linux", "seqread"), beside_linux);
        rows.insert(beside("pv", "seqread"), samples("MB/s", &[50.0]));
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
        // Rates: the second ratio is the fastest runs', max over max.
        assert_eq!(linux.ratio_min, Some(85.0 / 110.0));
        let table = super::super::report::table(&l, None);
        assert!(table.contains("max/max"), "{table}");
        assert_eq!(linux.unit, "MB/s");
        assert_eq!(linux.anchor, "goal >=0.8x dom0");
        assert_eq!(
            linux.baseline,
            Some(("blk_dom0_seqread_beside_linux".to_string(), 100.0))
        );
        let dom0 = l.iter().find(|l| l.id == "blk_dom0_seqread").unwrap();
        assert_eq!((dom0.ratio, dom0.value.unwrap().median), (None, 95.0));
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
