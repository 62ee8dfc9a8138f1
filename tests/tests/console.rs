//! The PV console as a split driver: a domU's output arrives through its console ring
//! (forwarded by dom0's back end with the `(d<id>) ` prefix, or shown as is by `xl console`),
//! typed input reaches the guest, Ctrl-] detaches.

use std::time::Duration;
use tests::steps::{boot, create_cmd, xl_errors};
use tests::system::System;
use tests::test_name;

const T: Duration = Duration::from_secs(60);

fn line(sys: &mut System, since: usize, want: &str) {
    if let Err(f) = sys.wait_line_where(since, want, T, |l| l == want) {
        sys.fail(f);
    }
}

#[test]
fn console_ring_output_and_input_through_xl_console() {
    let mut sys = boot(&test_name!());
    let m = sys.mark();
    let cmd = format!("{} name=echoer extra=\"test=echo\"", create_cmd("domu.cfg"));
    let out = sys.run(&cmd);
    let errs = xl_errors(&out);
    sys.check(
        errs.is_empty(),
        format!("`{cmd}` failed: {}", errs.join(" / ")),
    );
    // The xenbus handshake, seen from both ends.
    line(
        &mut sys,
        m,
        "(d1) xenbus: console front end Initialising -> Initialised (back end InitWait)",
    );
    line(
        &mut sys,
        m,
        "(xl) xenbus: console of domain 1: back end InitWait -> Connected (front end Initialised)",
    );
    line(
        &mut sys,
        m,
        "(d1) xenbus: console front end Initialised -> Connected (back end Connected)",
    );
    // From here on the guest writes to its ring; dom0's back end forwards it.
    line(
        &mut sys,
        m,
        "(d1) console: output now through the console ring",
    );
    line(&mut sys, m, "(d1) echo: ready, type a line");

    let m = sys.mark();
    sys.send("xl console echoer\n")
        .unwrap_or_else(|f| sys.fail(f));
    line(
        &mut sys,
        m,
        "Connected to domain 1 console; Ctrl-] detaches",
    );
    sys.send("hello ring\r").unwrap_or_else(|f| sys.fail(f));
    // Unprefixed: only the back end's attached path prints a domU line without `(d1) `.
    line(&mut sys, m, "echo: hello ring");
    sys.send("second line\r").unwrap_or_else(|f| sys.fail(f));
    line(&mut sys, m, "echo: second line");
    let prefixed = sys.lines_since(m, "(d1) echo:");
    sys.check(
        prefixed.is_empty(),
        format!("attached output was prefixed: {prefixed:?}"),
    );
    // Ctrl-] detaches back to the prompt; the shell works again.
    sys.send("\x1d").unwrap_or_else(|f| sys.fail(f));
    if let Err(f) = sys.expect_prompt() {
        sys.fail(f);
    }
    let out = sys.run("echo back-in-dom0");
    sys.check(out.contains("back-in-dom0"), format!("{out:?}"));
    sys.poweroff();
}

#[test]
fn create_c_attaches_to_the_new_domains_console() {
    let mut sys = boot(&test_name!());
    let m = sys.mark();
    let cmd = "xl create -c /etc/xen/domu.cfg name=echoer extra=\"test=echo\"";
    sys.send(&format!("{cmd}\n"))
        .unwrap_or_else(|f| sys.fail(f));
    line(&mut sys, m, "Started domain echoer (id=1)");
    line(
        &mut sys,
        m,
        "Connected to domain 1 console; Ctrl-] detaches",
    );
    // Once the front end connects, its output reaches the terminal unprefixed.
    line(&mut sys, m, "echo: ready, type a line");
    sys.send("typed after create -c\r")
        .unwrap_or_else(|f| sys.fail(f));
    line(&mut sys, m, "echo: typed after create -c");
    let prefixed = sys.lines_since(m, "(d1) echo:");
    sys.check(
        prefixed.is_empty(),
        format!("attached output was prefixed: {prefixed:?}"),
    );
    sys.check(
        !sys.since(m).contains("dom0# "),
        "the shell printed a prompt while attached",
    );
    sys.send("\x1d").unwrap_or_else(|f| sys.fail(f));
    if let Err(f) = sys.expect_prompt() {
        sys.fail(f);
    }
    let out = sys.run("xl list");
    sys.check(
        out.lines().any(|l| l.starts_with("echoer ")),
        format!("the domain must keep running after detaching: {out}"),
    );
}
