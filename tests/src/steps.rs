//! Steps the end-to-end tests share: each one asserts, failing with the transcript.

use crate::system::{strip_prompts, OrFail, System, CMD_TIMEOUT};
use crate::xl::{crash_line, domu_line, XlRow};
use crate::BootOptions;

/// Boot to the first `dom0# ` prompt.
pub fn boot(name: &str) -> System {
    System::boot_to_prompt(BootOptions::new(name))
}

/// `xl create /etc/xen/<cfg>` (the example configs are packed there).
pub fn create_cmd(cfg: &str) -> String {
    format!("xl create /etc/xen/{cfg}")
}

/// Lines of a command's output that are `xl: ...` errors.
pub fn xl_errors(out: &str) -> Vec<String> {
    out.lines()
        .map(strip_prompts)
        .filter(|l| l.starts_with("xl: "))
        .map(str::to_string)
        .collect()
}

/// Find the row named `name`.
pub fn row<'a>(rows: &'a [XlRow], name: &str) -> Option<&'a XlRow> {
    rows.iter().find(|r| r.name == name)
}

/// `xl list`, asserting Domain-0 is there, healthy: ID 0, some memory, a vCPU, a live state.
pub fn list_with_healthy_dom0(sys: &mut System) -> Vec<XlRow> {
    let rows = sys.xl_list();
    let d0 = row(&rows, "Domain-0").cloned();
    match d0 {
        None => sys.fail(format!("`xl list` has no Domain-0 row: {rows:?}")),
        Some(d0) => {
            sys.check(d0.id == 0, format!("Domain-0 has ID {}, want 0", d0.id));
            sys.check(
                (1..=512).contains(&d0.mem),
                format!("Domain-0 memory {} MiB is not in 1..=512", d0.mem),
            );
            sys.check(d0.vcpus >= 1, "Domain-0 has no vCPU");
            sys.check(
                !d0.is_dead(),
                format!("Domain-0 state {:?} is not running/blocked", d0.state),
            );
        }
    }
    rows
}

/// What "changes nothing" compares: the domains (without state/time) and free memory.
#[derive(Debug, PartialEq)]
pub struct Snapshot {
    pub domains: Vec<(String, u32, u64, u32)>,
    pub free_memory: u64,
}

pub fn snapshot(sys: &mut System) -> Snapshot {
    let domains = list_with_healthy_dom0(sys).iter().map(XlRow::key).collect();
    let free_memory = sys.free_memory();
    Snapshot {
        domains,
        free_memory,
    }
}

/// `xl create` that must succeed (no `xl:` error); returns its output.
pub fn create_ok(sys: &mut System, cfg: &str) -> String {
    let cmd = create_cmd(cfg);
    let out = sys.run(&cmd);
    let errs = xl_errors(&out);
    sys.check(
        errs.is_empty(),
        format!("`{cmd}` failed: {}", errs.join(" / ")),
    );
    out
}

/// `xl create` that must fail with an `xl: ...` error mentioning each of `mention`
/// (case-insensitive) and change nothing. Returns the error line.
pub fn create_refused(sys: &mut System, cfg: &str, mention: &[&str]) -> String {
    let before = snapshot(sys);
    let cmd = create_cmd(cfg);
    let mark = sys.mark();
    let out = sys.run(&cmd);
    let errs = xl_errors(&out);
    let Some(err) = errs.first().cloned() else {
        sys.fail(format!(
            "`{cmd}` printed no `xl: ...` error line; output was:\n{out}"
        ))
    };
    for m in mention {
        sys.check(
            err.to_lowercase().contains(&m.to_lowercase()),
            format!("`{cmd}`: the error {err:?} does not mention {m:?}"),
        );
    }
    let after = snapshot(sys);
    sys.check(
        before == after,
        format!("`{cmd}` was refused but changed the system:\nbefore {before:?}\nafter  {after:?}"),
    );
    let crashes = sys.lines_since(mark, " crashed:");
    sys.check(
        crashes.is_empty(),
        format!("a domain crashed after `{cmd}`: {crashes:?}"),
    );
    err
}

/// Create from `cfg` and wait for a domU console line `(dN) <text>` (N >= 1) containing
/// `text`; returns `(N, the text after the prefix)`.
pub fn create_and_wait_guest_line(sys: &mut System, cfg: &str, text: &str) -> (u32, String) {
    let mark = sys.mark();
    create_ok(sys, cfg);
    let line = sys
        .wait_line_where(mark, &format!("(dN) ...{text}"), CMD_TIMEOUT, |l| {
            domu_line(l).is_some_and(|(_, t)| t.contains(text))
        })
        .or_fail();
    let (id, t) = domu_line(&line).expect("matched a domU line");
    sys.check(
        id >= 1,
        format!("domU line carries domain ID {id}: {line:?}"),
    );
    (id, t.to_string())
}

/// Create from `cfg`, whose guest executes a privileged instruction: the hypervisor must
/// report `(XEN) domain N crashed: <reason>` for a domU (N >= 1) and dom0 must keep working,
/// with the guest crashed (`c` in its state) or gone from `xl list`.
pub fn create_expect_crash(sys: &mut System, cfg: &str) -> (u32, String) {
    let name = crate::example_config(cfg).and_then(|c| crate::xl::cfg_value(&c, "name"));
    let mark = sys.mark();
    // `xl create` may report the start or, if the guest died already, an error; both are fine
    // as long as the crash is reported.
    sys.run(&create_cmd(cfg));
    let line = sys
        .wait_line_where(mark, "(XEN) domain N crashed: ...", CMD_TIMEOUT, |l| {
            crash_line(l).is_some()
        })
        .or_fail();
    let (id, reason) = crash_line(&line).expect("matched a crash line");
    let reason = reason.to_string();
    sys.check(
        id >= 1,
        format!("the crashed domain is {id}, not a domU: {line:?}"),
    );
    sys.check(
        !reason.is_empty(),
        format!("the crash report gives no reason: {line:?}"),
    );
    // dom0 keeps running: the shell answers, and the toolstack still sees the hypervisor.
    let rows = list_with_healthy_dom0(sys);
    if let Some(r) = rows.iter().find(|r| r.id == id) {
        sys.check(
            r.is_crashed(),
            format!(
                "domain {id} crashed but `xl list` shows it as {:?}",
                r.state
            ),
        );
    }
    if let Some(name) = name {
        if let Some(r) = row(&rows, &name) {
            sys.check(
                r.is_crashed(),
                format!("{name} crashed but `xl list` shows it as {:?}", r.state),
            );
        }
    }
    sys.xl_info();
    (id, reason)
}

/// Run a shell command that must succeed: no `xl: ...` error in its output. Returns it.
pub fn run_ok(sys: &mut System, cmd: &str) -> String {
    let out = sys.run(cmd);
    let errs = xl_errors(&out);
    sys.check(
        errs.is_empty(),
        format!("`{cmd}` failed: {}\n{out}", errs.join(" / ")),
    );
    out
}

/// Free memory must be exactly `before` MiB again (after `what`).
pub fn check_free_memory_back(sys: &mut System, before: u64, what: &str) {
    let after = sys.free_memory();
    sys.check(
        after == before,
        format!("free memory {before} MiB before, {after} MiB after {what}"),
    );
}
