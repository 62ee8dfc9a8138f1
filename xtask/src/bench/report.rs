//! The report: each row a figure and its ratio against a floor or baseline from the same boot,
//! printed as one table and written as JSON.

use super::parse::{slope, stats, Row, Stats};
use std::collections::BTreeMap;
use std::fmt::Write;

/// One line of the report.
#[derive(Clone, Debug)]
pub struct Line {
    /// Short id (JSON key).
    pub id: String,
    /// What it measures.
    pub what: String,
    /// The figure, if measured.
    pub value: Option<Stats>,
    /// Unit of the figure.
    pub unit: String,
    /// The baseline row and its median (times its multiplier).
    pub baseline: Option<(String, f64)>,
    /// value.median / baseline.
    pub ratio: Option<f64>,
    /// value.min / (baseline.min × multiplier): steadier when the two come from separate
    /// boots (PV versus native) or a loaded host. For rates (higher is better: MB/s, IOPS)
    /// the least disturbed runs are the fastest: value.max / baseline.max.
    pub ratio_min: Option<f64>,
    /// Real Xen's figure / the project's target (performance-anchors.md).
    pub anchor: &'static str,
    /// Why there is no figure.
    pub missing: Option<String>,
}

/// A ratio row: `row` against `mult` × `base`.
struct RatioDef<'a> {
    id: &'static str,
    what: &'static str,
    row: &'a str,
    base: &'a str,
    mult: f64,
    anchor: &'static str,
}

const RATIOS: &[RatioDef<'static>] = &[
    RatioDef {
        id: "null_hypercall",
        what: "null hypercall (xen_version) vs syscall+sysret floor",
        row: "hypercall_null",
        base: "floor_syscall_sysret",
        mult: 1.0,
        anchor: "Xen 744 cyc, floor 111; target <=1.3x floor",
    },
    RatioDef {
        id: "evtchn_roundtrip",
        what: "event-channel round trip between two domains vs 2 null hypercalls",
        row: "evtchn_roundtrip",
        base: "hypercall_null",
        mult: 2.0,
        anchor: "Xen send 1250 cyc; target <=417",
    },
    RatioDef {
        id: "sched_yield",
        what: "sched_op yield (nothing else runnable) vs null hypercall",
        row: "sched_yield",
        base: "hypercall_null",
        mult: 1.0,
        anchor: "Xen 8657 cyc; target <=2886",
    },
    RatioDef {
        id: "mmu_update_entry",
        what: "mmu_update, per PTE in a batch of 32, vs null hypercall",
        row: "mmu_update_entry",
        base: "hypercall_null",
        mult: 1.0,
        anchor: "Xen 3410 cyc/PTE; target <=1137",
    },
    RatioDef {
        id: "mmu_update_single",
        what: "mmu_update of one PTE vs null hypercall",
        row: "mmu_update_single",
        base: "hypercall_null",
        mult: 1.0,
        anchor: "Xen 3410 cyc; target <=1137",
    },
    RatioDef {
        id: "update_va_mapping_invlpg",
        what: "update_va_mapping with UVMF_INVLPG (map/unmap) vs null hypercall",
        row: "update_va_mapping_invlpg",
        base: "hypercall_null",
        mult: 1.0,
        anchor: "Xen 3487 cyc; target <=1162",
    },
    RatioDef {
        id: "multicall_entry",
        what: "multicall, per entry in a batch of 32, vs null hypercall",
        row: "multicall_entry",
        base: "hypercall_null",
        mult: 1.0,
        anchor: "-",
    },
    RatioDef {
        id: "grant_copy_4k",
        what: "grant copy of 4 KiB vs local 4 KiB copy",
        row: "grant_copy_4k",
        base: "local_copy_4k",
        mult: 1.0,
        anchor: "-",
    },
    RatioDef {
        id: "grant_map_unmap",
        what: "grant map+unmap vs local 4 KiB copy",
        row: "grant_map_unmap",
        base: "local_copy_4k",
        mult: 1.0,
        anchor: "-",
    },
    RatioDef {
        id: "scale_2cpu",
        what: "4 CPU-bound domUs on 2 CPUs vs on 1 (wall time; 0.5 = linear)",
        row: "scale_4doms_2cpu",
        base: "scale_4doms_1cpu",
        mult: 1.0,
        anchor: "target 0.5 (TCG on a 2-core host: at best 0.5)",
    },
    RatioDef {
        id: "scale_4cpu",
        what: "4 CPU-bound domUs on 4 CPUs vs on 1 (wall time; 0.25 = linear)",
        row: "scale_4doms_4cpu",
        base: "scale_4doms_1cpu",
        mult: 1.0,
        anchor: "target 0.25 (TCG on a 2-core host: at best 0.5)",
    },
    RatioDef {
        id: "tlb_shootdown_1",
        what: "TLB shootdown (full flush) to 1 other CPU vs a local flush",
        row: "tlb_shootdown_1",
        base: "hw_tlb_flush_local",
        mult: 1.0,
        anchor: "-",
    },
    RatioDef {
        id: "tlb_shootdown_3",
        what: "TLB shootdown (full flush) to 3 other CPUs vs to 1",
        row: "tlb_shootdown_3",
        base: "tlb_shootdown_1",
        mult: 1.0,
        anchor: "-",
    },
];

/// The PV-versus-native workloads.
pub const WORKLOADS: &[(&str, &str)] = &[
    ("compute", "CPU-bound compute (xorshift)"),
    ("memory", "memory touching (2 MiB, every line)"),
    ("ptchurn", "page-table churn (map/touch/unmap 512 pages)"),
    ("ctxswitch", "context switch between two user tasks"),
];

fn median(rows: &BTreeMap<String, Row>, name: &str) -> Result<Stats, String> {
    match rows.get(name) {
        Some(Row::Samples { values, .. }) => {
            stats(values).ok_or_else(|| format!("{name}: no samples"))
        }
        Some(Row::Unavailable(why)) => Err(format!("{name}: {why}")),
        None => Err(format!("{name}: not reported")),
    }
}

fn ratio_line(rows: &BTreeMap<String, Row>, d: &RatioDef<'_>) -> Line {
    let v = median(rows, d.row);
    let b = median(rows, d.base);
    let baseline = b
        .as_ref()
        .ok()
        .map(|s| (d.base.to_string(), s.median * d.mult));
    let ratio = match (&v, &baseline) {
        (Ok(v), Some((_, b))) if *b > 0.0 => Some(v.median / b),
        _ => None,
    };
    let ratio_min = match (&v, &b) {
        (Ok(v), Ok(b)) if b.min > 0.0 => Some(v.min / (b.min * d.mult)),
        _ => None,
    };
    let missing = match (&v, &b) {
        (Err(e), _) | (Ok(_), Err(e)) => Some(e.clone()),
        _ => None,
    };
    Line {
        id: d.id.into(),
        what: d.what.into(),
        value: v.ok(),
        unit: "cycles".into(),
        baseline,
        ratio,
        ratio_min,
        anchor: d.anchor,
        missing,
    }
}

/// Whether figures in `unit` are rates, better when higher.
pub fn is_rate(unit: &str) -> bool {
    unit.ends_with("/s") || unit == "IOPS"
}

/// Row `id` (in its samples' unit, else `unit`) against row `base` (none: no ratio); for a
/// rate the second ratio is best over best (max/max, see [`Line::ratio_min`]).
pub fn ratio_with_unit(
    rows: &BTreeMap<String, Row>,
    id: &str,
    what: &str,
    base: Option<&str>,
    unit: &str,
    anchor: &'static str,
) -> Line {
    let unit = match rows.get(id) {
        Some(Row::Samples { unit, .. }) => unit.as_str(),
        _ => unit,
    };
    let Some(base) = base else {
        return plain(id, what, median(rows, id), unit, anchor);
    };
    let mut l = ratio_line(
        rows,
        &RatioDef {
            id: "",
            what: "",
            row: id,
            base,
            mult: 1.0,
            anchor,
        },
    );
    l.id = id.into();
    l.what = what.into();
    l.unit = unit.into();
    if is_rate(unit) {
        l.ratio_min = match (median(rows, id), median(rows, base)) {
            (Ok(v), Ok(b)) if b.max > 0.0 => Some(v.max / b.max),
            _ => None,
        };
    }
    l
}

fn plain(id: &str, what: &str, v: Result<Stats, String>, unit: &str, anchor: &'static str) -> Line {
    Line {
        id: id.into(),
        what: what.into(),
        missing: v.as_ref().err().cloned(),
        value: v.ok(),
        unit: unit.into(),
        baseline: None,
        ratio: None,
        ratio_min: None,
        anchor,
    }
}

fn one(x: f64) -> Stats {
    Stats {
        median: x,
        min: x,
        max: x,
        n: 1,
    }
}

/// Every line of the report.
pub fn lines(rows: &BTreeMap<String, Row>) -> Vec<Line> {
    let mut out: Vec<Line> = RATIOS.iter().map(|d| ratio_line(rows, d)).collect();
    out.push(plain(
        "create_16m",
        "domain create -> first instruction, 16 MiB",
        median(rows, "create_16m"),
        "cycles",
        "Xen ~720 ms (4 MiB); target <7 ms",
    ));
    out.push(plain(
        "linux_boot",
        "Debian's Linux 6.1 domU: xl create -> busybox shell prompt (wall clock)",
        median(rows, "linux_boot"),
        "ms",
        "-",
    ));
    let sizes: Vec<(f64, f64)> = [16.0, 32.0, 64.0]
        .iter()
        .filter_map(|&m| {
            median(rows, &format!("create_{m}m"))
                .ok()
                .map(|s| (m, s.median))
        })
        .collect();
    let per_mib = slope(&sizes)
        .map(one)
        .ok_or_else(|| "create_16m/32m/64m: not all reported".to_string());
    out.push(plain(
        "create_per_mib",
        "domain create growth per MiB of guest memory",
        per_mib,
        "cycles/MiB",
        "-",
    ));
    let ks: Vec<(f64, f64)> = (0..32)
        .filter_map(|k| {
            median(rows, &format!("create_16m_k{k}"))
                .ok()
                .map(|s| (k as f64, s.median))
        })
        .collect();
    let per_dom = slope(&ks)
        .map(one)
        .ok_or_else(|| "create_16m_k<N>: fewer than two reported".to_string());
    out.push(plain(
        "create_per_domain",
        "domain create growth per existing domain",
        per_dom,
        "cycles/domain",
        "-",
    ));
    let frames = median(rows, "hv_frames_per_domain");
    let heap = median(rows, "hv_heap_per_domain");
    out.push(plain(
        "hv_frames_per_domain",
        "hypervisor frames per idle domain beyond its own pages",
        frames.clone(),
        "bytes",
        "-",
    ));
    out.push(plain(
        "hv_heap_per_domain",
        "hypervisor heap bytes per idle domain",
        heap.clone(),
        "bytes",
        "-",
    ));
    let total = match (frames, heap) {
        (Ok(f), Ok(h)) => Ok(one(f.median + h.median)),
        (Err(e), _) | (_, Err(e)) => Err(e),
    };
    out.push(plain(
        "hv_mem_per_domain",
        "hypervisor memory per idle domain (frames + heap)",
        total,
        "bytes",
        "Xen 92-164 KiB; target <=16 KiB",
    ));
    for (w, what) in WORKLOADS {
        let d = RatioDef {
            id: "",
            what: "",
            row: "",
            base: "",
            mult: 1.0,
            anchor: "SOSP'03: ~1.00",
        };
        let pv = format!("pv_{w}");
        let native = format!("native_{w}");
        let mut l = ratio_line(
            rows,
            &RatioDef {
                row: &pv,
                base: &native,
                ..d
            },
        );
        l.id = format!("pv_vs_native_{w}");
        l.what = format!("PV/native: {what}, cycles per iteration");
        out.push(l);
    }
    out.extend(super::block::lines(rows));
    out
}

/// The table.
pub fn table(lines: &[Line], khz: Option<u64>) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{:<24} {:>14} {:>12} {:>12} {:>8} {:>8}  {:<62} anchor",
        "row", "median", "min", "max", "ratio", "min/min", "what"
    );
    for l in lines {
        let (med, min, max) = match l.value {
            Some(v) => (
                format!("{:.1}", v.median),
                format!("{:.1}", v.min),
                format!("{:.1}", v.max),
            ),
            None => ("-".into(), "-".into(), "-".into()),
        };
        let ratio = l.ratio.map_or("-".into(), |r| format!("{r:.2}x"));
        let ratio_min = l.ratio_min.map_or("-".into(), |r| format!("{r:.2}x"));
        let _ = writeln!(
            s,
            "{:<24} {:>14} {:>12} {:>12} {:>8} {:>8}  {:<62} {}",
            l.id, med, min, max, ratio, ratio_min, l.what, l.anchor
        );
        if let Some(m) = &l.missing {
            let _ = writeln!(s, "{:<24}   (not measured: {m})", "");
        }
        if l.id == "create_16m" {
            if let (Some(v), Some(k)) = (l.value, khz) {
                let _ = writeln!(
                    s,
                    "{:<24}   = {:.3} ms at {} kHz",
                    "",
                    v.median / k as f64,
                    k
                );
            }
        }
    }
    if lines
        .iter()
        .any(|l| is_rate(&l.unit) && l.ratio_min.is_some())
    {
        let _ = writeln!(
            s,
            "(min/min of the MB/s and IOPS rows: max/max, their fastest runs)"
        );
    }
    s
}

fn json_str(s: &str) -> String {
    let mut o = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(o, "\\u{:04x}", c as u32);
            }
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

fn json_num(x: f64) -> String {
    if x.is_finite() {
        format!("{x}")
    } else {
        "null".into()
    }
}

/// The JSON document.
pub fn json(lines: &[Line], khz: Option<u64>, mode: &str) -> String {
    let mut s = String::from("{\n");
    let _ = writeln!(s, "  \"mode\": {},", json_str(mode));
    let _ = writeln!(
        s,
        "  \"tsc_khz\": {},",
        khz.map_or("null".into(), |k| k.to_string())
    );
    s.push_str("  \"rows\": [\n");
    for (i, l) in lines.iter().enumerate() {
        let value = l.value.map_or("null".into(), |v| {
            format!(
                "{{\"median\": {}, \"min\": {}, \"max\": {}, \"n\": {}}}",
                json_num(v.median),
                json_num(v.min),
                json_num(v.max),
                v.n
            )
        });
        let baseline = l.baseline.as_ref().map_or("null".into(), |(n, m)| {
            format!("{{\"row\": {}, \"median\": {}}}", json_str(n), json_num(*m))
        });
        let _ = write!(
            s,
            "    {{\"id\": {}, \"what\": {}, \"unit\": {}, \"value\": {value}, \"baseline\": {baseline}, \"ratio\": {}, \"ratio_min\": {}, \"anchor\": {}, \"missing\": {}}}",
            json_str(&l.id),
            json_str(&l.what),
            json_str(&l.unit),
            l.ratio.map_or("null".into(), json_num),
            l.ratio_min.map_or("null".into(), json_num),
            json_str(l.anchor),
            l.missing.as_deref().map_or("null".into(), json_str),
        );
        s.push_str(if i + 1 < lines.len() { ",\n" } else { "\n" });
    }
    s.push_str("  ]\n}\n");
    s
}

/// Smoke checks: every row was reported by the guests (a figure, or `unavailable` with a
/// reason), and every figure and ratio is positive and finite.
pub fn smoke_problems(rows: &BTreeMap<String, Row>, lines: &[Line]) -> Vec<String> {
    let mut p = Vec::new();
    for l in lines {
        if let Some(v) = l.value {
            let sane = v.median.is_finite() && v.min > 0.0 && v.max >= v.min;
            if !sane && !l.id.starts_with("create_per") {
                p.push(format!("{}: implausible figure {v:?}", l.id));
            }
        }
        for r in [l.ratio, l.ratio_min].into_iter().flatten() {
            if !(r.is_finite() && r > 0.0) {
                p.push(format!("{}: implausible ratio {r}", l.id));
            }
        }
        if let Some(m) = &l.missing {
            if m.ends_with("not reported") {
                p.push(format!("{}: {m}", l.id));
            }
        }
    }
    let workloads = WORKLOADS
        .iter()
        .flat_map(|(w, _)| [format!("pv_{w}"), format!("native_{w}")]);
    for must in [
        "floor_syscall_sysret",
        "hypercall_null",
        "sched_yield",
        "update_va_mapping_invlpg",
        "evtchn_roundtrip",
        "hv_heap_per_domain",
        "local_copy_4k",
        "create_16m",
        "tlb_shootdown_1",
        "tlb_shootdown_3",
        "scale_4doms_1cpu",
        "scale_4doms_2cpu",
        "scale_4doms_4cpu",
    ]
    .map(String::from)
    .into_iter()
    .chain(workloads)
    {
        if !matches!(rows.get(&must), Some(Row::Samples { values, .. }) if !values.is_empty()) {
            p.push(format!("{must}: no samples"));
        }
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::parse::parse;

    #[test]
    fn pv_over_native_per_workload() {
        let (rows, _) = parse(
            "(d5) BENCH pv_compute cycles 300,310,320\n\
             BENCH native_compute cycles 290,300,310\n\
             BENCH native_memory cycles 10\n",
        );
        let l = lines(&rows);
        let c = l.iter().find(|l| l.id == "pv_vs_native_compute").unwrap();
        assert!((c.ratio.unwrap() - 310.0 / 300.0).abs() < 1e-9);
        assert!((c.ratio_min.unwrap() - 300.0 / 290.0).abs() < 1e-9);
        let m = l.iter().find(|l| l.id == "pv_vs_native_memory").unwrap();
        assert_eq!(m.ratio, None);
        assert_eq!(m.missing.as_deref(), Some("pv_memory: not reported"));
        let p = smoke_problems(&rows, &l);
        assert!(!p.iter().any(|s| s.starts_with("native_compute")));
        assert!(p.iter().any(|s| s == "native_ptchurn: no samples"));
    }

    #[test]
    fn ratios_and_missing_rows() {
        let (rows, _) = parse(
            "BENCH floor_syscall_sysret cycles 100,110,120\n\
             BENCH hypercall_null cycles 200,220,240\n\
             BENCH evtchn_roundtrip unavailable ENOSYS\n\
             BENCH create_16m cycles 1000\nBENCH create_32m cycles 1160\nBENCH create_64m cycles 1480\n",
        );
        let l = lines(&rows);
        let null = l.iter().find(|l| l.id == "null_hypercall").unwrap();
        assert_eq!(null.ratio, Some(2.0));
        assert_eq!(null.ratio_min, Some(2.0));
        let ev = l.iter().find(|l| l.id == "evtchn_roundtrip").unwrap();
        assert_eq!(ev.missing.as_deref(), Some("evtchn_roundtrip: ENOSYS"));
        let mib = l.iter().find(|l| l.id == "create_per_mib").unwrap();
        assert!((mib.value.unwrap().median - 10.0).abs() < 1e-9);
        let p = smoke_problems(&rows, &l);
        assert!(p.iter().any(|s| s.starts_with("local_copy_4k")));
        assert!(p
            .iter()
            .any(|s| s.contains("mmu_update_entry: not reported")));
        // Wired now: a row the guests could not measure is a smoke failure.
        assert!(p.iter().any(|s| s == "evtchn_roundtrip: no samples"));
        assert!(p.iter().any(|s| s == "native_ptchurn: no samples"));
        assert!(p.iter().any(|s| s == "pv_compute: no samples"));
        let j = json(&l, Some(1000), "smoke");
        assert!(j.contains("\"id\": \"null_hypercall\""));
        assert!(j.contains("\"ratio\": 2"));
        assert!(j.contains("\"ratio_min\": 2"));
    }

    #[test]
    fn evtchn_against_two_null_hypercalls_and_memory_per_domain() {
        let (rows, _) = parse(
            "BENCH hypercall_null cycles 500,400,600\n\
             (d7) BENCH evtchn_roundtrip cycles 3000,2000,4000\n\
             BENCH hv_frames_per_domain bytes 4096\n\
             BENCH hv_heap_per_domain bytes 1500\n",
        );
        let l = lines(&rows);
        let ev = l.iter().find(|l| l.id == "evtchn_roundtrip").unwrap();
        assert_eq!(ev.ratio, Some(3.0));
        assert_eq!(ev.ratio_min, Some(2.5));
        let m = l.iter().find(|l| l.id == "hv_mem_per_domain").unwrap();
        assert_eq!(m.value.unwrap().median, 5596.0);
        let h = l.iter().find(|l| l.id == "hv_heap_per_domain").unwrap();
        assert_eq!(h.value.unwrap().median, 1500.0);
    }
}
