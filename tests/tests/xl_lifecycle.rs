//! Life-cycle commands and actions: `xl shutdown [-w]`, `xl reboot` (on_reboot = restart
//! rebuilds the domain from its config), on_crash = preserve / destroy, the crash reason
//! in `xl dmesg`, and dom0 acting on VIRQ_DOM_EXC.

use std::time::{Duration, Instant};
use tests::steps::{
    boot, check_free_memory_back, create_and_wait_guest_line, list_with_healthy_dom0, row, run_ok,
    xl_errors,
};
use tests::xl::XlRow;
use tests::{test_name, OrFail, System};

/// `xl list` until `pred` holds (checking Domain-0 each time), or fail after 20 s.
fn list_until(sys: &mut System, what: &str, pred: impl Fn(&[XlRow]) -> bool) -> Vec<XlRow> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let rows = list_with_healthy_dom0(sys);
        if pred(&rows) {
            return rows;
        }
        if Instant::now() > deadline {
            sys.fail(format!("timed out waiting for {what}; `xl list`: {rows:?}"));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn shutdown_wait_applies_on_poweroff_destroy() {
    let mut sys = boot(&test_name!());
    let free_before = sys.free_memory();
    create_and_wait_guest_line(&mut sys, "domu.cfg", "Hello from pv-guest domU");
    let out = run_ok(&mut sys, "xl shutdown -w domu");
    sys.check(
        out.contains("Domain 1 has been shut down, reason code 0"),
        format!("shutdown -w did not report the shutdown: {out}"),
    );
    sys.check(
        out.contains("on_poweroff = destroy: destroyed"),
        format!("shutdown -w did not apply on_poweroff: {out}"),
    );
    let rows = list_with_healthy_dom0(&mut sys);
    sys.check(
        row(&rows, "domu").is_none(),
        format!("domu still listed after shutdown -w: {rows:?}"),
    );
    check_free_memory_back(&mut sys, free_before, "} after shutdown");
    // Errors name the cause.
    let out = sys.run("xl shutdown domu");
    sys.check(
        xl_errors(&out) == ["xl: shutdown: no such domain: \"domu\""],
        format!("shutdown of a gone domain: {out:?}"),
    );
    let out = sys.run("xl shutdown 0");
    sys.check(
        xl_errors(&out) == ["xl: shutdown: not permitted on Domain-0 (domain 0)"],
        format!("shutdown of Domain-0: {out:?}"),
    );
}

#[test]
fn shutdown_without_wait_is_noticed_by_dom0() {
    let mut sys = boot(&test_name!());
    create_and_wait_guest_line(&mut sys, "domu.cfg", "Hello from pv-guest domU");
    let m = sys.mark();
    run_ok(&mut sys, "xl shutdown domu");
    // dom0's shell loop notices and destroys it (on_poweroff = destroy).
    sys.wait_line(
        m,
        "(xl) domain 1 \"domu\" shut down (poweroff): on_poweroff = destroy: destroyed",
        Duration::from_secs(20),
    )
    .or_fail();
    list_until(&mut sys, "domu to go", |r| row(r, "domu").is_none());
}

#[test]
fn reboot_restarts_from_the_config() {
    let mut sys = boot(&test_name!());
    let m = sys.mark();
    run_ok(
        &mut sys,
        "xl create /etc/xen/domu.cfg extra=\"test=none first\"",
    );
    sys.wait_line(
        m,
        "(d1) Hello from pv-guest domU, cmdline \"test=none first\"",
        Duration::from_secs(20),
    )
    .or_fail();
    let m = sys.mark();
    run_ok(&mut sys, "xl reboot domu");
    // Rebuilt from the same (overridden) config, same name: the hypervisor picks the id.
    let notice = sys
        .wait_line(
            m,
            "on_reboot = restart: restarted as domain ",
            Duration::from_secs(20),
        )
        .or_fail();
    sys.check(
        notice.starts_with("(xl) domain 1 \"domu\" shut down (reboot): "),
        format!("restart notice: {notice:?}"),
    );
    let new: u32 = tests::xl::restarted_domid(&notice)
        .unwrap_or_else(|| sys.fail(format!("no domain id in {notice:?}")));
    let greet = format!("(d{new}) Hello from pv-guest domU, cmdline \"test=none first\"");
    sys.wait_line_where(m, &greet, Duration::from_secs(20), |l| l == greet)
        .or_fail();
    let rows = list_until(&mut sys, "domu restarted", |r| {
        row(r, "domu").is_some_and(|d| d.id == new && !d.is_dead())
    });
    sys.check(rows.len() == 2, format!("want Domain-0 and domu: {rows:?}"));
}

#[test]
fn crash_preserve_keeps_the_domain_and_dmesg_has_the_reason() {
    let mut sys = boot(&test_name!());
    let m = sys.mark();
    sys.run("xl create /etc/xen/test-hlt.cfg on_crash=\"preserve\"");
    sys.wait_line(m, "(XEN) domain 1 crashed:", Duration::from_secs(20))
        .or_fail();
    sys.wait_line(
        m,
        "(xl) domain 1 \"test-hlt\" shut down (crash): on_crash = preserve: preserved",
        Duration::from_secs(20),
    )
    .or_fail();
    let rows = list_with_healthy_dom0(&mut sys);
    let Some(r) = row(&rows, "test-hlt").cloned() else {
        sys.fail(format!("a preserved domain must stay listed: {rows:?}"))
    };
    sys.check(
        r.is_crashed(),
        format!("state {:?} is not crashed", r.state),
    );
    // The hypervisor's log ring has the crash report with its reason.
    let out = sys.run("xl dmesg");
    let crash: Vec<&str> = out
        .lines()
        .filter(|l| l.starts_with("(XEN) domain 1 crashed: "))
        .collect();
    sys.check(
        crash.len() == 1 && crash[0].len() > "(XEN) domain 1 crashed: ".len(),
        format!("`xl dmesg` must have the crash line with a reason: {out}"),
    );
    sys.check(
        out.lines().any(|l| l.starts_with("(XEN) memory: ")),
        format!("`xl dmesg` lacks the boot log: {out}"),
    );
    // `xl destroy` cleans up a preserved domain.
    run_ok(&mut sys, "xl destroy test-hlt");
    list_until(&mut sys, "test-hlt to go", |r| row(r, "test-hlt").is_none());
    // dmesg -c clears the ring.
    sys.run("xl dmesg -c");
    let out = sys.run("xl dmesg");
    sys.check(
        !out.contains("crashed"),
        format!("`xl dmesg` after `-c` still has old lines: {out}"),
    );
}

#[test]
fn crash_default_destroys_the_domain() {
    let mut sys = boot(&test_name!());
    let free_before = sys.free_memory();
    let m = sys.mark();
    sys.run("xl create /etc/xen/test-hlt.cfg");
    sys.wait_line(m, "on_crash = destroy: destroyed", Duration::from_secs(20))
        .or_fail();
    list_until(&mut sys, "test-hlt to go", |r| row(r, "test-hlt").is_none());
    check_free_memory_back(&mut sys, free_before, "} after the crash");
}

/// Every shutdown and crash of a domU raises VIRQ_DOM_EXC to dom0, which then applies the
/// config's action at once: its notice says the event announced it (`[VIRQ_DOM_EXC]`, not
/// `[poll]`), and follows the hypervisor's own log line of the shutdown.
#[test]
fn dom0_acts_on_virq_dom_exc() {
    let mut sys = boot(&test_name!());
    create_and_wait_guest_line(&mut sys, "domu.cfg", "Hello from pv-guest domU");
    let m = sys.mark();
    run_ok(&mut sys, "xl shutdown domu");
    let notice = sys
        .wait_line(
            m,
            "(xl) domain 1 \"domu\" shut down (poweroff)",
            Duration::from_secs(20),
        )
        .or_fail();
    sys.check(
        notice.ends_with("on_poweroff = destroy: destroyed [VIRQ_DOM_EXC]"),
        format!("the shutdown was not acted on through VIRQ_DOM_EXC: {notice:?}"),
    );
    let text = sys.since(m);
    let hv = text.find("(XEN) domain 1 shut down (poweroff)");
    let xl = text.find("(xl) domain 1 \"domu\" shut down");
    sys.check(
        hv.is_some() && hv < xl,
        format!("the hypervisor's shutdown line must come before dom0's notice: {text}"),
    );

    // A crash raises it too.
    let m = sys.mark();
    sys.run("xl create /etc/xen/test-hlt.cfg");
    let notice = sys
        .wait_line(m, "\"test-hlt\" shut down (crash)", Duration::from_secs(20))
        .or_fail();
    sys.check(
        notice.ends_with("on_crash = destroy: destroyed [VIRQ_DOM_EXC]"),
        format!("the crash was not acted on through VIRQ_DOM_EXC: {notice:?}"),
    );
    sys.check(
        sys.lines_since(0, "[poll]").is_empty(),
        "a life-cycle action was found by polling, not by VIRQ_DOM_EXC",
    );
}
