//! Reporting commands: `xl info` memory accounting and `--json`, `xl list -l` / `--json`,
//! `xl vcpu-list [--json]`, `xl uptime`.

use tests::steps::{boot, create_and_wait_guest_line, list_with_healthy_dom0, row, xl_errors};
use tests::test_name;
use tests::xl::parse_xl_info;

/// The first `"key": <number>` in JSON text after `from`.
fn json_num(text: &str, key: &str) -> Option<u64> {
    let pat = format!("\"{key}\": ");
    let at = text.find(&pat)? + pat.len();
    let digits: String = text[at..]
        .chars()
        .take_while(|c| c.is_ascii_digit())
        .collect();
    digits.parse().ok()
}

/// The text of the JSON object that contains `"name": "<name>"`.
fn json_object<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    let at = text.find(&format!("\"name\": \"{name}\""))?;
    let start = text[..at].rfind('{')?;
    let end = at + text[at..].find('}')?;
    Some(&text[start..=end])
}

#[test]
fn info_accounts_for_every_page() {
    let mut sys = boot(&test_name!());
    create_and_wait_guest_line(&mut sys, "domu.cfg", "Hello from pv-guest domU");
    let info = sys.xl_info();
    let n = |k: &str| {
        info.num(k)
            .unwrap_or_else(|| panic!("xl info has no numeric {k}"))
    };
    let (total, free, xen) = (n("total_memory"), n("free_memory"), n("xen_memory"));
    let per: Vec<(String, u64)> = info
        .get("domain_memory")
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|w| {
            let (k, v) = w.split_once('=')?;
            Some((k.to_string(), v.parse().ok()?))
        })
        .collect();
    let rows = list_with_healthy_dom0(&mut sys);
    sys.check(
        per.len() == rows.len(),
        format!("domain_memory {per:?} does not cover `xl list` {rows:?}"),
    );
    for r in &rows {
        sys.check(
            per.iter().any(|(k, v)| *k == r.name && *v == r.mem),
            format!("domain_memory {per:?} disagrees with `xl list` row {r}"),
        );
    }
    sys.check(
        per.iter().any(|(k, v)| k == "domu" && *v == 16),
        format!("domu's 16 MiB missing from domain_memory {per:?}"),
    );
    // Whole MiB each, so allow one MiB of rounding per domain.
    let sum: u64 = per.iter().map(|(_, v)| v).sum::<u64>() + free + xen;
    sys.check(
        sum <= total && total - sum <= per.len() as u64 + 1,
        format!("free {free} + xen {xen} + domains {per:?} = {sum} MiB, total {total}"),
    );

    let out = sys.run("xl info --json");
    sys.check(
        json_num(&out, "total_memory") == Some(total)
            && json_num(&out, "free_memory") == Some(free),
        format!("`xl info --json` disagrees with `xl info`: {out}"),
    );
    let domu = json_object(&out, "domu").unwrap_or_default();
    sys.check(
        json_num(domu, "memory") == Some(16) && json_num(domu, "domid") == Some(1),
        format!("`xl info --json` lacks domu's memory: {out}"),
    );
    // The text form parses as before (no JSON leaking into it).
    let plain = parse_xl_info(&sys.run("xl info"));
    sys.check(plain.total_memory() == Some(total), "xl info changed");
}

#[test]
fn list_long_and_json() {
    let mut sys = boot(&test_name!());
    let out = sys.run(
        "xl create /etc/xen/domu.cfg maxmem=24 cpu_weight=512 disk=\"['phy:/dev/vda1,xvda,w']\"",
    );
    sys.check(xl_errors(&out).is_empty(), format!("create failed: {out}"));
    let out = sys.run("xl list -l domu");
    sys.check(
        json_num(&out, "domid") == Some(1)
            && json_num(&out, "max_memkb") == Some(24 * 1024)
            && json_num(&out, "target_memkb") == Some(16 * 1024)
            && json_num(&out, "weight") == Some(512),
        format!("`xl list -l domu` lacks the config: {out}"),
    );
    sys.check(
        out.contains("\"cmdline\": \"greet\"")
            && out.contains("\"phy:/dev/vda1,xvda,w\"")
            && out.contains("\"on_reboot\": \"restart\""),
        format!("`xl list -l domu`: {out}"),
    );
    let out = sys.run("xl list --json");
    let d0 = json_object(&out, "Domain-0").unwrap_or_default();
    let du = json_object(&out, "domu").unwrap_or_default();
    sys.check(
        json_num(d0, "domid") == Some(0) && json_num(du, "domid") == Some(1),
        format!("`xl list --json`: {out}"),
    );
    sys.check(
        json_num(du, "mem_mib") == Some(16) && json_num(du, "vcpus") == Some(1),
        format!("`xl list --json` domu: {du}"),
    );
    let rows = list_with_healthy_dom0(&mut sys);
    let d0row = row(&rows, "Domain-0").cloned().unwrap();
    sys.check(
        json_num(d0, "mem_mib") == Some(d0row.mem),
        format!("`xl list --json` Domain-0 memory vs `xl list` {d0row}: {d0}"),
    );
}

#[test]
fn vcpu_list_and_uptime() {
    let mut sys = boot(&test_name!());
    create_and_wait_guest_line(&mut sys, "domu.cfg", "Hello from pv-guest domU");
    let out = sys.run("xl vcpu-list");
    let lines: Vec<&str> = out.lines().filter(|l| !l.starts_with('(')).collect();
    let hdr = lines
        .iter()
        .position(|l| l.starts_with("Name") && l.contains("VCPU"));
    sys.check(hdr.is_some(), format!("no vcpu-list header: {out}"));
    let rows: Vec<Vec<&str>> = lines[hdr.unwrap_or(0) + 1..]
        .iter()
        .map(|l| l.split_whitespace().collect())
        .filter(|w: &Vec<&str>| !w.is_empty())
        .collect();
    sys.check(
        rows.len() == 2,
        format!("want one vCPU each for 2 domains: {out}"),
    );
    // Domain-0 is the one running the command; each vCPU is on one of the machine's four
    // CPUs.
    let on_a_cpu = |w: &str| w.parse::<u32>().is_ok_and(|c| c < 4);
    sys.check(
        rows[0][..3] == ["Domain-0", "0", "0"]
            && on_a_cpu(rows[0][3])
            && rows[0][4].starts_with('r'),
        format!("Domain-0 vCPU row: {:?}", rows[0]),
    );
    sys.check(
        rows[1][..3] == ["domu", "1", "0"] && on_a_cpu(rows[1][3]) && !rows[1][4].starts_with('r'),
        format!("domu vCPU row: {:?}", rows.get(1)),
    );
    let out = sys.run("xl vcpu-list --json domu");
    sys.check(
        json_num(&out, "domid") == Some(1)
            && json_num(&out, "vcpu") == Some(0)
            && json_num(&out, "online") == Some(1),
        format!("`xl vcpu-list --json domu`: {out}"),
    );
    let out = sys.run("xl vcpu-list nosuch");
    sys.check(
        xl_errors(&out) == ["xl: vcpu-list: no such domain: \"nosuch\""],
        format!("vcpu-list of an unknown domain: {out:?}"),
    );

    let out = sys.run("xl uptime");
    let up: Vec<Vec<&str>> = out
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .filter(|w| w.len() >= 3 && (w[0] == "Domain-0" || w[0] == "domu"))
        .collect();
    sys.check(up.len() == 2, format!("`xl uptime` rows: {out}"));
    let secs = |t: &str| -> Option<u64> {
        let p: Vec<u64> = t
            .split(':')
            .map(|x| x.trim().parse().ok())
            .collect::<Option<_>>()?;
        (p.len() == 3).then(|| p[0] * 3600 + p[1] * 60 + p[2])
    };
    let d0 = up.first().and_then(|w| secs(w[2]));
    let du = up.get(1).and_then(|w| secs(w[2]));
    sys.check(
        d0.is_some() && du.is_some() && du <= d0 && d0 < Some(3600),
        format!("uptimes must parse as h:mm:ss, domu's <= Domain-0's: {out}"),
    );
}

/// `xl uptime` runs on the hypervisor's system time (vcpu_time_info), the clock every guest
/// reads: Domain-0's uptime agrees with the system time a domU reads, to the second.
#[test]
fn uptime_uses_the_hypervisors_system_time() {
    let mut sys = boot(&test_name!());
    // Let some time pass so that a wrong clock would show.
    std::thread::sleep(std::time::Duration::from_secs(2));
    let start = std::time::Instant::now();
    let (_, text) = create_and_wait_guest_line(
        &mut sys,
        "domu.cfg extra=\"test=clock\"",
        "clock: system time ",
    );
    let guest_ns: u64 = text
        .trim_start_matches("clock: system time ")
        .trim_end_matches(" ns")
        .parse()
        .unwrap_or_else(|_| sys.fail(format!("no system time in {text:?}")));
    let out = sys.run("xl uptime -s Domain-0");
    // Host time from before the domU existed (so before it read the clock) to the answer.
    let host_s = start.elapsed().as_secs();
    let up = out
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .find(|w| w.len() == 3 && w[0] == "Domain-0")
        .and_then(|w| {
            let p: Vec<u64> = w[2]
                .split(':')
                .map(|x| x.parse().ok())
                .collect::<Option<_>>()?;
            (p.len() == 3).then(|| p[0] * 3600 + p[1] * 60 + p[2])
        });
    let Some(up) = up else {
        sys.fail(format!("`xl uptime -s Domain-0`: {out:?}"))
    };
    let guest_s = guest_ns / 1_000_000_000;
    sys.check(
        guest_s >= 2 && up >= guest_s && up <= guest_s + host_s + 1,
        format!(
            "Domain-0 up {up} s by `xl uptime`, the domU read system time {guest_ns} ns \
             at most {host_s} s earlier: {out:?}"
        ),
    );
}
