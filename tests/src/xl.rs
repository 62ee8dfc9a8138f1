//! Parsers for what dom0's `xl` prints, and for the xl-style example configs.
//!
//! `xl list` follows Xen's layout:
//!
//! ```text
//! Name                                        ID   Mem VCPUs State Time(s)
//! Domain-0                                     0    64     1     r-----       1.2
//! domu                                         1    16     1     -b----       0.1
//! ```
//!
//! `xl info` prints `key : value` lines; the tests use `total_memory` and `free_memory` (MiB).

use std::fmt;

/// One row of `xl list`.
#[derive(Clone, Debug, PartialEq)]
pub struct XlRow {
    pub name: String,
    pub id: u32,
    /// Memory in MiB.
    pub mem: u64,
    pub vcpus: u32,
    /// Xen's six-character state, e.g. `r-----`, `-b----`, `----c-`.
    pub state: String,
    /// CPU time in seconds.
    pub time: f64,
}

/// The letters of Xen's state column, one per position.
pub const STATE_LETTERS: &str = "rbpscd";

impl XlRow {
    /// The domain is marked crashed (`c`, position 4 of Xen's `rbpscd`).
    pub fn is_crashed(&self) -> bool {
        self.state.contains('c')
    }

    /// The domain is dying or shut down.
    pub fn is_dead(&self) -> bool {
        self.state.contains('d') || self.state.contains('s') || self.is_crashed()
    }

    /// The identity of the row without its volatile columns (state, time).
    pub fn key(&self) -> (String, u32, u64, u32) {
        (self.name.clone(), self.id, self.mem, self.vcpus)
    }
}

impl fmt::Display for XlRow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} id={} mem={} vcpus={} state={} time={}",
            self.name, self.id, self.mem, self.vcpus, self.state, self.time
        )
    }
}

/// Is this a header line of `xl list` (`Name ID Mem VCPUs State Time(s)`)?
fn is_list_header(line: &str) -> bool {
    let t: Vec<&str> = line.split_whitespace().collect();
    t.len() >= 6 && t[0] == "Name" && t[1] == "ID" && t[2] == "Mem" && t[3] == "VCPUs"
}

/// Lines that other components may interleave into a command's output: hypervisor log lines
/// `(XEN) ...` and domU console lines `(dN) ...`.
pub fn is_foreign_line(line: &str) -> bool {
    line.starts_with("(XEN)") || domu_line(line).is_some()
}

/// Validate a Xen state string: six positions, each `-` or the letter of that position.
pub fn valid_state(s: &str) -> bool {
    s.len() == 6
        && s.chars()
            .zip(STATE_LETTERS.chars())
            .all(|(c, want)| c == '-' || c == want)
}

/// Parse one `xl list` data row.
pub fn parse_xl_row(line: &str) -> Result<XlRow, String> {
    let t: Vec<&str> = line.split_whitespace().collect();
    if t.len() < 6 {
        return Err(format!("expected 6 columns, got {}: {line:?}", t.len()));
    }
    let n = t.len();
    let name = t[..n - 5].join(" ");
    let id = t[n - 5]
        .parse()
        .map_err(|_| format!("bad ID {:?} in {line:?}", t[n - 5]))?;
    let mem = t[n - 4]
        .parse()
        .map_err(|_| format!("bad Mem {:?} in {line:?}", t[n - 4]))?;
    let vcpus = t[n - 3]
        .parse()
        .map_err(|_| format!("bad VCPUs {:?} in {line:?}", t[n - 3]))?;
    let state = t[n - 2].to_string();
    if !valid_state(&state) {
        return Err(format!(
            "bad State {state:?} (want 6 chars of `rbpscd` or `-`) in {line:?}"
        ));
    }
    let time = t[n - 1]
        .parse()
        .map_err(|_| format!("bad Time(s) {:?} in {line:?}", t[n - 1]))?;
    Ok(XlRow {
        name,
        id,
        mem,
        vcpus,
        state,
        time,
    })
}

/// Parse the output of `xl list`. Lines before the header (a stray echo) and `(XEN)`/`(dN)`
/// lines are ignored; every other non-empty line after the header must be a valid row.
pub fn parse_xl_list(out: &str) -> Result<Vec<XlRow>, String> {
    let mut lines = out.lines();
    if !lines.by_ref().any(is_list_header) {
        return Err("no `Name ID Mem VCPUs State Time(s)` header in `xl list` output".into());
    }
    let mut rows = Vec::new();
    for line in lines {
        if line.trim().is_empty() || is_foreign_line(line) {
            continue;
        }
        rows.push(parse_xl_row(line)?);
    }
    Ok(rows)
}

/// `xl info` output: `key : value` pairs in order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct XlInfo {
    pub pairs: Vec<(String, String)>,
}

impl XlInfo {
    pub fn get(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// A numeric field (first word of the value), e.g. `free_memory`.
    pub fn num(&self, key: &str) -> Option<u64> {
        self.get(key)?.split_whitespace().next()?.parse().ok()
    }

    pub fn total_memory(&self) -> Option<u64> {
        self.num("total_memory")
    }

    pub fn free_memory(&self) -> Option<u64> {
        self.num("free_memory")
    }
}

/// Parse `xl info` output (`key : value` lines; others ignored).
pub fn parse_xl_info(out: &str) -> XlInfo {
    let pairs = out
        .lines()
        .filter(|l| !is_foreign_line(l))
        .filter_map(|l| {
            let (k, v) = l.split_once(':')?;
            let k = k.trim();
            if k.is_empty() || k.contains(char::is_whitespace) {
                return None;
            }
            Some((k.to_string(), v.trim().to_string()))
        })
        .collect();
    XlInfo { pairs }
}

/// A domU console line `(d<id>) <text>`: returns `(id, text)`.
pub fn domu_line(line: &str) -> Option<(u32, &str)> {
    let rest = line.strip_prefix("(d")?;
    let (id, text) = rest.split_once(") ")?;
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((id.parse().ok()?, text))
}

/// The new domain id in xl's life-cycle notice `... restarted as domain <id> ...`.
pub fn restarted_domid(notice: &str) -> Option<u32> {
    notice
        .split("restarted as domain ")
        .nth(1)?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// A crash report `(XEN) domain <id> crashed: <reason>`: returns `(id, reason)`.
pub fn crash_line(line: &str) -> Option<(u32, &str)> {
    let rest = line.strip_prefix("(XEN) domain ")?;
    let (id, reason) = rest.split_once(" crashed:")?;
    Some((id.parse().ok()?, reason.trim()))
}

/// A value from an xl-style config (`key = "value"` or `key = 16`), quotes removed.
pub fn cfg_value(cfg: &str, key: &str) -> Option<String> {
    cfg.lines().find_map(|l| {
        let l = l.split('#').next()?.trim();
        let (k, v) = l.split_once('=')?;
        if k.trim() != key {
            return None;
        }
        let v = v.trim();
        let v = v
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .or_else(|| v.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
            .unwrap_or(v);
        Some(v.to_string())
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn restarted_domid_reads_the_new_id() {
        let n =
            "(xl) domain 1 shut down (reboot): on_reboot = restart: restarted as domain 2 [poll]";
        assert_eq!(super::restarted_domid(n), Some(2));
        assert_eq!(super::restarted_domid("restarted as domain x"), None);
        assert_eq!(super::restarted_domid("no notice"), None);
    }

    use super::*;

    const LIST: &str = "xl list\n\
Name                                        ID   Mem VCPUs\tState\tTime(s)\n\
Domain-0                                     0    64     1     r-----       1.2\n\
(d1) Hello from pv-guest domU, cmdline \"greet\"\n\
domu                                         1    16     1     -b----       0.0\n";

    #[test]
    fn parses_xl_list() {
        let rows = parse_xl_list(LIST).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(
            rows[0],
            XlRow {
                name: "Domain-0".into(),
                id: 0,
                mem: 64,
                vcpus: 1,
                state: "r-----".into(),
                time: 1.2
            }
        );
        assert_eq!(rows[1].name, "domu");
        assert_eq!(rows[1].id, 1);
        assert_eq!(rows[1].mem, 16);
        assert!(!rows[1].is_crashed());
    }

    #[test]
    fn xl_list_rejects_garbage() {
        assert!(
            parse_xl_list("Domain-0 0 64 1 r----- 1.0\n").is_err(),
            "no header"
        );
        let bad = "Name ID Mem VCPUs State Time(s)\nDomain-0 0 lots 1 r----- 1.0\n";
        assert!(parse_xl_list(bad).is_err());
        let bad = "Name ID Mem VCPUs State Time(s)\nDomain-0 0 64 1 running 1.0\n";
        assert!(parse_xl_list(bad).is_err());
        let bad = "Name ID Mem VCPUs State Time(s)\nDomain-0 0 64\n";
        assert!(parse_xl_list(bad).is_err());
    }

    #[test]
    fn xl_list_empty_after_header() {
        let rows = parse_xl_list("Name ID Mem VCPUs State Time(s)\n\n").unwrap();
        assert!(rows.is_empty());
    }

    #[test]
    fn states() {
        assert!(valid_state("r-----"));
        assert!(valid_state("----c-"));
        assert!(valid_state("------"));
        assert!(!valid_state("c-----"));
        assert!(!valid_state("r----"));
        let row = parse_xl_row("domu 3 16 1 ----c- 0.5").unwrap();
        assert!(row.is_crashed() && row.is_dead());
    }

    #[test]
    fn parses_xl_info() {
        let info = parse_xl_info(
            "host                   : pvh\n\
             (XEN) noise: 1\n\
             total_memory           : 511\n\
             free_memory            : 430 MiB\n\
             xen_version            : 4.19.0\n",
        );
        assert_eq!(info.total_memory(), Some(511));
        assert_eq!(info.free_memory(), Some(430));
        assert_eq!(info.get("xen_version"), Some("4.19.0"));
        assert_eq!(info.get("noise"), None);
        assert_eq!(parse_xl_info("nothing here").free_memory(), None);
    }

    #[test]
    fn console_lines() {
        assert_eq!(domu_line("(d1) Hello"), Some((1, "Hello")));
        assert_eq!(domu_line("(d12) x y"), Some((12, "x y")));
        assert_eq!(domu_line("(dx) Hello"), None);
        assert_eq!(domu_line("(XEN) Hello"), None);
        assert_eq!(
            crash_line("(XEN) domain 2 crashed: privileged instruction hlt at ffff"),
            Some((2, "privileged instruction hlt at ffff"))
        );
        assert_eq!(crash_line("(XEN) domain x crashed: y"), None);
        assert_eq!(crash_line("(d1) domain 1 crashed: y"), None);
    }

    #[test]
    fn config_values() {
        let cfg = "# comment\nname = \"domu\"\nmemory = 16 # MiB\nkernel='/boot/x'\n";
        assert_eq!(cfg_value(cfg, "name").as_deref(), Some("domu"));
        assert_eq!(cfg_value(cfg, "memory").as_deref(), Some("16"));
        assert_eq!(cfg_value(cfg, "kernel").as_deref(), Some("/boot/x"));
        assert_eq!(cfg_value(cfg, "extra"), None);
    }
}
