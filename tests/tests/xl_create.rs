//! `xl create <cfg> [-p] [KEY=VALUE...]`: overrides after the config file reach the guest, and
//! `-p` leaves the domain paused until `xl unpause`.

use std::time::Duration;
use tests::steps::{
    boot, create_and_wait_guest_line, list_with_healthy_dom0, row, run_ok, xl_errors,
};
use tests::test_name;
use tests::xl::domu_line;
use tests::OrFail;

#[test]
fn create_overrides_reach_the_guest() {
    let mut sys = boot(&test_name!());
    let mark = sys.mark();
    let out = sys.run("xl create /etc/xen/domu.cfg name=ovr memory=24 extra=\"test=none peer=1\"");
    let errs = xl_errors(&out);
    sys.check(errs.is_empty(), format!("create failed: {errs:?}"));
    let line = sys
        .wait_line_where(mark, "(dN) Hello ...", Duration::from_secs(20), |l| {
            domu_line(l).is_some_and(|(_, t)| t.starts_with("Hello from pv-guest domU"))
        })
        .or_fail();
    sys.check(
        line.ends_with("cmdline \"test=none peer=1\""),
        format!("the guest did not get the overridden command line: {line:?}"),
    );
    let rows = list_with_healthy_dom0(&mut sys);
    let Some(r) = row(&rows, "ovr").cloned() else {
        sys.fail(format!("no row named by the name= override: {rows:?}"))
    };
    sys.check(
        r.mem == 24,
        format!("memory=24 override: row has {} MiB", r.mem),
    );
    sys.check(row(&rows, "domu").is_none(), "the file's name was used");
}

#[test]
fn create_paused_then_unpause() {
    let mut sys = boot(&test_name!());
    let mark = sys.mark();
    let out = sys.run("xl create -p /etc/xen/domu.cfg");
    sys.check(
        out.contains("Created paused domain domu (id=1)"),
        format!("`xl create -p` did not report a paused domain: {out}"),
    );
    let rows = list_with_healthy_dom0(&mut sys);
    let Some(r) = row(&rows, "domu").cloned() else {
        sys.fail(format!("no domu row: {rows:?}"))
    };
    sys.check(
        r.state == "--p---",
        format!("state {:?}, want --p---", r.state),
    );
    // Paused: the guest has not run, so it has not greeted.
    std::thread::sleep(Duration::from_millis(500));
    let hello = sys.lines_since(mark, "Hello from pv-guest domU");
    sys.check(hello.is_empty(), format!("a paused domain ran: {hello:?}"));
    run_ok(&mut sys, "xl unpause domu");
    sys.wait_line(
        mark,
        "(d1) Hello from pv-guest domU",
        Duration::from_secs(20),
    )
    .or_fail();
    let rows = list_with_healthy_dom0(&mut sys);
    let st = row(&rows, "domu")
        .map(|r| r.state.clone())
        .unwrap_or_default();
    sys.check(
        !st.contains('p'),
        format!("still paused after unpause: {st:?}"),
    );
    // Unpausing a running domain is an error naming the cause.
    let out = sys.run("xl unpause 1");
    let errs = xl_errors(&out);
    sys.check(
        errs.len() == 1 && errs[0].contains("not paused"),
        format!("want `xl: unpause: ... is not paused`, got {out:?}"),
    );
    run_ok(&mut sys, "xl pause domu");
    let rows = list_with_healthy_dom0(&mut sys);
    let st = row(&rows, "domu")
        .map(|r| r.state.clone())
        .unwrap_or_default();
    sys.check(
        st.contains('p') && !st.contains('r'),
        format!("after pause: {st:?}"),
    );
}

/// A kernel shipped as a bzImage with a bzip2 payload (xtask wraps pv-guest so): the builder
/// in dom0 decompresses it and the guest boots and greets; the same ELF as `/boot/pv-guest`.
#[test]
fn a_bzip2_bzimage_kernel_boots() {
    let mut sys = boot(&test_name!());
    let (_, text) =
        create_and_wait_guest_line(&mut sys, "domu-bzip2.cfg", "Hello from pv-guest domU");
    sys.check(
        text.ends_with("cmdline \"greet\""),
        format!("not the bzip2 config's guest: {text:?}"),
    );
    let rows = list_with_healthy_dom0(&mut sys);
    sys.check(
        row(&rows, "domu-bz").is_some_and(|r| !r.is_crashed() && r.mem == 16),
        format!("{rows:?}"),
    );
}
