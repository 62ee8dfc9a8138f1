//! XenStore end to end: `xl create` writes the domain's paths and dom0's shell reads and
//! writes them; domUs talk to xenstored over their rings: permissions hold between domains,
//! watches fire once per change, conflicting transactions get EAGAIN, a flooding domain hits
//! its quotas with the errno named while dom0 stays healthy.

use std::time::Duration;
use tests::steps::{boot, create_ok, list_with_healthy_dom0};
use tests::system::System;
use tests::test_name;
use tests::xl::is_foreign_line;

const T: Duration = Duration::from_secs(60);

/// Wait for the exact console line `(d<id>) <text>` after `since`.
fn line(sys: &mut System, since: usize, id: u32, text: &str) {
    let want = format!("(d{id}) {text}");
    if let Err(f) = sys.wait_line_where(since, &want, T, |l| l == want) {
        sys.fail(f);
    }
}

fn out_lines(out: &str) -> Vec<String> {
    out.lines()
        .map(|l| tests::system::strip_prompts(l).trim_end().to_string())
        .filter(|l| !l.is_empty() && !is_foreign_line(l) && !l.starts_with("(xl) "))
        .collect()
}

#[test]
fn shell_commands_and_domain_paths() {
    let mut sys = boot(&test_name!());
    let m = sys.mark();
    create_ok(&mut sys, "domu.cfg name=xsa extra=\"greet\"");
    line(
        &mut sys,
        m,
        1,
        "console: output now through the console ring",
    );
    let out = sys.run("xenstore-read /local/domain/1/name /local/domain/0/name");
    let l = out_lines(&out);
    sys.check(l == ["xsa", "Domain-0"], format!("xenstore-read: {l:?}"));
    let out = sys.run("xenstore-read /local/domain/1/memory/target");
    sys.check(
        out_lines(&out) == ["16384"],
        format!("memory/target: {out:?}"),
    );
    sys.run("xenstore-write /tool/test/greeting hello-store /tool/test/n 42");
    let out = sys.run("xenstore-ls /tool");
    let l = out_lines(&out);
    sys.check(
        l == ["test = \"\"", " greeting = \"hello-store\"", " n = \"42\""],
        format!("xenstore-ls /tool: {l:?}"),
    );
    let out = sys.run("xenstore-ls /local/domain/1");
    for want in [
        "name = \"xsa\"",
        "domid = \"1\"",
        " ring-ref = ",
        "  state = \"4\"",
    ] {
        sys.check(
            out.contains(want),
            format!("xenstore-ls lacks {want:?}:\n{out}"),
        );
    }
    // The console's xenbus handshake, both ends Connected.
    let fe = out_lines(&sys.run("xenstore-read /local/domain/1/device/console/0/state"));
    let be = out_lines(&sys.run("xenstore-read /local/domain/0/backend/console/1/0/state"));
    sys.check(
        fe == ["4"] && be == ["4"],
        format!("states: front {fe:?} back {be:?}"),
    );
    let out = sys.run("xenstore-rm /tool/test/greeting");
    sys.check(out_lines(&out).is_empty(), format!("xenstore-rm: {out:?}"));
    let out = sys.run("xenstore-read /tool/test/greeting");
    sys.check(
        out.contains("xenstore-read: /tool/test/greeting: ENOENT"),
        format!("read after rm: {out:?}"),
    );
    sys.run("xenstore-chmod /tool/test/n n0 r1");
    let out = sys.run("xenstore-ls /local/domain");
    sys.check(
        out.contains("1 = \"\""),
        format!("`xenstore-ls` should list the empty node 1 = \"\": {out}"),
    );
    // Destroy releases the domain: its home is gone.
    sys.run("xl destroy xsa");
    let out = sys.run("xenstore-ls /local/domain");
    sys.check(
        !out.contains("1 = \"\"") && out.contains("0 = \"\""),
        format!("after destroy: {out}"),
    );
    sys.poweroff();
}

#[test]
fn permissions_are_enforced_between_domains() {
    let mut sys = boot(&test_name!());
    let m = sys.mark();
    create_ok(&mut sys, "domu.cfg name=victim extra=\"greet\"");
    line(
        &mut sys,
        m,
        1,
        "console: output now through the console ring",
    );
    create_ok(
        &mut sys,
        "domu.cfg name=prober extra=\"test=xs-perms peer=1\"",
    );
    line(&mut sys, m, 2, "xs-perms: own name: \"prober\"");
    line(&mut sys, m, 2, "xs-perms: read d1 name: EACCES");
    line(&mut sys, m, 2, "xs-perms: list d1: EACCES");
    line(&mut sys, m, 2, "xs-perms: write d1 data: EACCES");
    line(&mut sys, m, 2, "xs-perms: write own name: EACCES");
    line(&mut sys, m, 2, "xs-perms: write own data: OK");
    line(&mut sys, m, 2, "xs-perms: read back own data: v");
    let out = sys.run("xenstore-read /local/domain/1/data/evil");
    sys.check(
        out.contains("ENOENT"),
        format!("the refused write landed: {out:?}"),
    );
    sys.poweroff();
}

#[test]
fn watches_fire_once_per_change() {
    let mut sys = boot(&test_name!());
    let m = sys.mark();
    create_ok(&mut sys, "domu.cfg name=watcher extra=\"test=xs-watch\"");
    line(&mut sys, m, 1, "xs-watch: watch data/w: OK");
    line(&mut sys, m, 1, "xs-watch: set: 1 event(s)");
    line(&mut sys, m, 1, "xs-watch: write 1: 1 event(s)");
    line(&mut sys, m, 1, "xs-watch: write 2: 1 event(s)");
    line(&mut sys, m, 1, "xs-watch: unrelated write: 0 event(s)");
    line(&mut sys, m, 1, "xs-watch: rm: 1 event(s)");
    line(
        &mut sys,
        m,
        1,
        "xs-watch: waiting for dom0 to write data/w/fromdom0",
    );
    sys.run("xenstore-write /local/domain/1/data/w/fromdom0 hi");
    line(
        &mut sys,
        m,
        1,
        "xs-watch: dom0's write: event data/w/fromdom0 tok",
    );
    line(&mut sys, m, 1, "xs-watch: then 0 more event(s)");
    sys.poweroff();
}

#[test]
fn conflicting_transactions_get_eagain() {
    let mut sys = boot(&test_name!());
    let m = sys.mark();
    create_ok(&mut sys, "domu.cfg name=txer extra=\"test=xs-tx\"");
    line(&mut sys, m, 1, "xs-tx: both read 0 0");
    line(&mut sys, m, 1, "xs-tx: first commit: OK");
    line(&mut sys, m, 1, "xs-tx: second commit: EAGAIN");
    line(&mut sys, m, 1, "xs-tx: value now 1");
    line(&mut sys, m, 1, "xs-tx: retry commit: OK after 1 tries");
    line(&mut sys, m, 1, "xs-tx: value now 11");
    let out = sys.run("xenstore-read /local/domain/1/data/c");
    sys.check(out_lines(&out) == ["11"], format!("dom0 sees {out:?}"));
    sys.poweroff();
}

#[test]
fn quotas_hold_against_a_flooding_domain() {
    let mut sys = boot(&test_name!());
    let m = sys.mark();
    create_ok(&mut sys, "domu.cfg name=flooder extra=\"test=xs-quota\"");
    let want = "(d1) xs-quota: flood refused after ";
    let l = match sys.wait_line_where(m, want, T, |l| l.starts_with(want)) {
        Ok(l) => l,
        Err(f) => sys.fail(f),
    };
    // 1000 entries per domain; the domain already owns a few nodes of its home.
    let n: u32 = l[want.len()..]
        .split(' ')
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    sys.check(
        l.ends_with("writes: ENOSPC") && (950..1000).contains(&n),
        format!("flood verdict: {l:?}"),
    );
    line(&mut sys, m, 1, "xs-quota: 4000-byte value: ENOSPC");
    // 128 watches per domain, one of them the console front end's.
    line(&mut sys, m, 1, "xs-quota: watches refused after 127: E2BIG");
    line(
        &mut sys,
        m,
        1,
        "xs-quota: transactions refused after 10: ENOSPC",
    );
    line(&mut sys, m, 1, "xs-quota: still served: name = \"flooder\"");
    // dom0 is fine and its store still works for everyone.
    list_with_healthy_dom0(&mut sys);
    sys.run("xenstore-write /tool/after-flood yes");
    let out = sys.run("xenstore-read /tool/after-flood");
    sys.check(out_lines(&out) == ["yes"], format!("{out:?}"));
    let m2 = sys.mark();
    create_ok(
        &mut sys,
        "domu.cfg name=second extra=\"test=xs-perms peer=1\"",
    );
    line(&mut sys, m2, 2, "xs-perms: write own data: OK");
    sys.poweroff();
}
