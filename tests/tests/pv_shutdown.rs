//! Cooperative PV shutdown, as Xen's xl does it: `xl shutdown` / `xl reboot` write the request
//! into the domain's XenStore node `control/shutdown`; the pv-guest watching it says
//! `control: shutdown requested: <value>`, clears the node and shuts down with the matching
//! reason (the hypervisor's `domain N shut down (<reason>)` line), and dom0 applies the
//! config's life-cycle action. A guest that does not watch is reported after 5 s, and `-F`
//! has the hypervisor shut it down from outside.

use std::time::Duration;
use tests::steps::{
    boot, check_free_memory_back, create_and_wait_guest_line, list_with_healthy_dom0, row, run_ok,
    xl_errors,
};
use tests::{test_name, OrFail, System};

const WAIT: Duration = Duration::from_secs(20);

/// Where `pat` first occurs in the transcript after `m`, failing if it does not.
fn position(sys: &mut System, m: usize, pat: &str) -> usize {
    let text = sys.since(m);
    match text.find(pat) {
        Some(p) => p,
        None => sys.fail(format!(
            "no {pat:?} in the transcript since the mark: {text}"
        )),
    }
}

#[test]
fn shutdown_is_done_by_the_guest_through_control_shutdown() {
    let mut sys = boot(&test_name!());
    let free_before = sys.free_memory();
    create_and_wait_guest_line(&mut sys, "domu.cfg", "Hello from pv-guest domU");
    let m = sys.mark();
    let out = run_ok(&mut sys, "xl shutdown -w domu");
    sys.check(
        out.contains("Domain 1 has been shut down, reason code 0"),
        format!("shutdown -w did not report reason poweroff: {out}"),
    );
    sys.check(
        out.contains(
            "(xl) domain 1 \"domu\" shut down (poweroff): on_poweroff = destroy: destroyed",
        ),
        format!("shutdown -w did not apply on_poweroff: {out}"),
    );
    // The guest acted on the request itself, before it shut down: its line (from its console
    // ring, which dom0 flushes before acting on a dying domain) precedes the toolstack's
    // notice. (The hypervisor's own `(XEN)` line travels another path and may come first.)
    let asked = position(&mut sys, m, "(d1) control: shutdown requested: poweroff");
    let down = position(&mut sys, m, "(xl) domain 1 \"domu\" shut down (poweroff)");
    sys.check(
        asked < down,
        "the guest's control line must come before the toolstack's shutdown notice",
    );
    position(&mut sys, m, "(XEN) domain 1 shut down (poweroff)");
    let rows = list_with_healthy_dom0(&mut sys);
    sys.check(
        row(&rows, "domu").is_none(),
        format!("domu still listed: {rows:?}"),
    );
    check_free_memory_back(&mut sys, free_before, "} after the shutdown");
}

#[test]
fn reboot_is_done_by_the_guest_and_the_restarted_domain_listens_too() {
    let mut sys = boot(&test_name!());
    create_and_wait_guest_line(&mut sys, "domu.cfg", "Hello from pv-guest domU");
    let m = sys.mark();
    run_ok(&mut sys, "xl reboot domu");
    sys.wait_line(m, "(d1) control: shutdown requested: reboot", WAIT)
        .or_fail();
    let notice = sys
        .wait_line(m, "on_reboot = restart: restarted as domain ", WAIT)
        .or_fail();
    sys.check(
        notice.starts_with("(xl) domain 1 \"domu\" shut down (reboot): "),
        format!("restart notice: {notice:?}"),
    );
    let asked = position(&mut sys, m, "(d1) control: shutdown requested: reboot");
    let down = position(&mut sys, m, "(xl) domain 1 \"domu\" shut down (reboot)");
    sys.check(
        asked < down,
        "the guest's control line must come before the toolstack's reboot notice",
    );
    position(&mut sys, m, "(XEN) domain 1 shut down (reboot)");
    let new: u32 = tests::xl::restarted_domid(&notice)
        .unwrap_or_else(|| sys.fail(format!("no domain id in {notice:?}")));
    sys.wait_line(m, &format!("(d{new}) Hello from pv-guest domU"), WAIT)
        .or_fail();
    // The rebuilt domain watches its own (fresh) control node.
    let m = sys.mark();
    let out = sys.run("xl shutdown -w domu");
    sys.check(
        xl_errors(&out).is_empty()
            && out.contains(&format!("Domain {new} has been shut down, reason code 0")),
        format!("shutdown -w of the restarted domain: {out}"),
    );
    sys.wait_line(
        m,
        &format!("(d{new}) control: shutdown requested: poweroff"),
        WAIT,
    )
    .or_fail();
}

/// `halt` is a power-off request too; the dom0 shell's xenstore-write makes it.
#[test]
fn halt_written_by_hand_powers_the_guest_off() {
    let mut sys = boot(&test_name!());
    create_and_wait_guest_line(&mut sys, "domu.cfg", "Hello from pv-guest domU");
    let m = sys.mark();
    let out = sys.run("xenstore-write /local/domain/1/control/shutdown halt");
    sys.check(
        !out.contains("xenstore-write:"),
        format!("xenstore-write failed: {out}"),
    );
    sys.wait_line(m, "(d1) control: shutdown requested: halt", WAIT)
        .or_fail();
    sys.wait_line(m, "(XEN) domain 1 shut down (poweroff)", WAIT)
        .or_fail();
    sys.wait_line(
        m,
        "(xl) domain 1 \"domu\" shut down (poweroff): on_poweroff = destroy: destroyed",
        WAIT,
    )
    .or_fail();
}

#[test]
fn a_guest_that_ignores_the_request_times_out_and_force_shuts_it_down() {
    let mut sys = boot(&test_name!());
    create_and_wait_guest_line(
        &mut sys,
        "domu.cfg extra=\"control=ignore\"",
        "control: not watching control/shutdown (control=ignore)",
    );
    let m = sys.mark();
    let out = sys.run("xl shutdown domu");
    sys.check(
        xl_errors(&out)
            == ["xl: domain 1 (\"domu\") did not respond to the shutdown request in 5 s; use -F to force"],
        format!("want the timeout report: {out:?}"),
    );
    let out = sys.run("xl reboot domu");
    sys.check(
        xl_errors(&out)
            == ["xl: domain 1 (\"domu\") did not respond to the reboot request in 5 s; use -F to force"],
        format!("want the timeout report for reboot: {out:?}"),
    );
    // The request is still there, unanswered, and the domain runs on.
    let out = sys.run("xenstore-read /local/domain/1/control/shutdown");
    sys.check(
        out.lines().any(|l| l.trim() == "reboot"),
        format!("control/shutdown should still hold the request: {out:?}"),
    );
    let rows = list_with_healthy_dom0(&mut sys);
    match row(&rows, "domu") {
        Some(r) if !r.is_dead() => {}
        other => sys.fail(format!(
            "domu must still run after ignoring the request: {other:?}"
        )),
    }
    sys.check(
        sys.lines_since(m, "shut down").is_empty(),
        "nothing may have shut down yet",
    );
    // -F: the hypervisor shuts it down from outside; -w applies on_poweroff.
    let out = run_ok(&mut sys, "xl shutdown -F -w domu");
    sys.check(
        out.contains("Domain 1 has been shut down, reason code 0")
            && out.contains("on_poweroff = destroy: destroyed"),
        format!("shutdown -F -w did not shut it down and destroy it: {out}"),
    );
    sys.check(
        !sys.lines_since(m, "(XEN) domain 1 shut down (poweroff)")
            .is_empty(),
        "the hypervisor must log the forced shutdown",
    );
    sys.check(
        sys.lines_since(m, "control: shutdown requested").is_empty(),
        "the ignoring guest must not have acted on the request",
    );
    let rows = list_with_healthy_dom0(&mut sys);
    sys.check(
        row(&rows, "domu").is_none(),
        format!("domu still listed: {rows:?}"),
    );
}
