//! Reading BENCH lines off a console transcript, and the statistics of their samples.

use std::collections::BTreeMap;

/// What the guests reported for one row.
#[derive(Clone, Debug, PartialEq)]
pub enum Row {
    /// Samples (one per run, or one per line for rows reported a sample at a time).
    Samples { unit: String, values: Vec<f64> },
    /// The row could not be measured, and why.
    Unavailable(String),
}

/// Median, min and max.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Stats {
    pub median: f64,
    pub min: f64,
    pub max: f64,
    pub n: usize,
}

/// The statistics of `v` (`None` if empty).
pub fn stats(v: &[f64]) -> Option<Stats> {
    if v.is_empty() {
        return None;
    }
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let n = s.len();
    let median = if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2.0
    };
    Some(Stats {
        median,
        min: s[0],
        max: s[n - 1],
        n,
    })
}

/// A console line without the `(XEN) ` / `(dN) ` prefix and any leading `dom0# ` prompts.
fn payload(line: &str) -> &str {
    let mut l = line.trim_end_matches('\r');
    while let Some(r) = l.strip_prefix("dom0# ") {
        l = r;
    }
    if let Some(rest) = l.strip_prefix('(') {
        if let Some((tag, after)) = rest.split_once(") ") {
            if tag == "XEN"
                || (tag.starts_with('d') && tag[1..].bytes().all(|b| b.is_ascii_digit()))
            {
                return after;
            }
        }
    }
    l
}

/// Every BENCH row in `text` (samples of repeated lines accumulate), and the TSC frequency
/// the hypervisor logged (`TSC <n> kHz`).
pub fn parse(text: &str) -> (BTreeMap<String, Row>, Option<u64>) {
    let mut rows: BTreeMap<String, Row> = BTreeMap::new();
    let mut khz = None;
    for line in text.lines() {
        let p = payload(line);
        if let Some(rest) = p.strip_prefix("TSC ") {
            khz = rest.split_whitespace().next().and_then(|n| n.parse().ok());
            continue;
        }
        let Some(rest) = p.strip_prefix("BENCH ") else {
            continue;
        };
        let mut w = rest.splitn(3, ' ');
        let (Some(name), Some(kind), Some(val)) = (w.next(), w.next(), w.next()) else {
            continue;
        };
        if kind == "unavailable" {
            rows.entry(name.to_string())
                .or_insert_with(|| Row::Unavailable(val.trim().to_string()));
            continue;
        }
        let values: Vec<f64> = val
            .trim()
            .split(',')
            .filter_map(|s| s.trim().parse().ok())
            .collect();
        match rows.get_mut(name) {
            Some(Row::Samples { values: v, .. }) => v.extend(values),
            _ => {
                rows.insert(
                    name.to_string(),
                    Row::Samples {
                        unit: kind.to_string(),
                        values,
                    },
                );
            }
        }
    }
    (rows, khz)
}

/// Least-squares slope of `(x, y)` points (`None` with fewer than two distinct x).
pub fn slope(points: &[(f64, f64)]) -> Option<f64> {
    let n = points.len() as f64;
    if points.len() < 2 {
        return None;
    }
    let mx = points.iter().map(|p| p.0).sum::<f64>() / n;
    let my = points.iter().map(|p| p.1).sum::<f64>() / n;
    let sxx: f64 = points.iter().map(|p| (p.0 - mx) * (p.0 - mx)).sum();
    if sxx == 0.0 {
        return None;
    }
    let sxy: f64 = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    Some(sxy / sxx)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_with_prefixes_accumulate() {
        let text = "(XEN) TSC 2601998 kHz, LAPIC timer\n\
            (XEN) BENCH floor_syscall_sysret cycles 111.3,125.3,109.7\n\
            dom0# BENCH hypercall_null cycles 700.0,710.5\n\
            (d3) BENCH create_16m cycles 5000\n\
            (d4) BENCH create_16m cycles 7000\n\
            BENCH evtchn_roundtrip unavailable ENOSYS\n\
            (d12) not a bench line\n";
        let (rows, khz) = parse(text);
        assert_eq!(khz, Some(2_601_998));
        assert_eq!(
            rows["floor_syscall_sysret"],
            Row::Samples {
                unit: "cycles".into(),
                values: vec![111.3, 125.3, 109.7]
            }
        );
        assert_eq!(
            rows["create_16m"],
            Row::Samples {
                unit: "cycles".into(),
                values: vec![5000.0, 7000.0]
            }
        );
        assert_eq!(rows["evtchn_roundtrip"], Row::Unavailable("ENOSYS".into()));
        assert!(
            matches!(&rows["hypercall_null"], Row::Samples { values, .. } if values.len() == 2)
        );
        assert_eq!(rows.len(), 4);
    }

    #[test]
    fn statistics() {
        let s = stats(&[3.0, 1.0, 2.0]).unwrap();
        assert_eq!((s.median, s.min, s.max, s.n), (2.0, 1.0, 3.0, 3));
        assert_eq!(stats(&[4.0, 1.0, 2.0, 3.0]).unwrap().median, 2.5);
        assert!(stats(&[]).is_none());
    }

    #[test]
    fn slopes() {
        let s = slope(&[(16.0, 100.0), (32.0, 132.0), (64.0, 196.0)]).unwrap();
        assert!((s - 2.0).abs() < 1e-9, "{s}");
        assert_eq!(slope(&[(1.0, 5.0)]), None);
        assert_eq!(slope(&[(1.0, 5.0), (1.0, 6.0)]), None);
    }
}
