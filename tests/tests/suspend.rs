//! A PV guest suspending itself, as before `xl save` (groundwork for issue 18): pv-guest's
//! `test=suspend` calls `SCHEDOP_shutdown(SHUTDOWN_suspend)`; the hypervisor stops it with
//! reason suspend and tells dom0, `xl list` shows `s` and the domain keeps its memory;
//! `xl resume` lets it carry on in place, its suspend call returning 1 (a cancelled
//! suspend, what `xl save -c` ends with). Before suspending, the guest tries the domctls a
//! saving toolstack uses (getvcpucontext, getpageframeinfo3, resumedomain) on itself and on
//! dom0: each is refused with EPERM.
//!
//! Guest cooperation (issue 18): an ordinary idle domU asked to suspend through its
//! `control/shutdown` ("suspend", written with `xenstore-write` as the toolstack's save path
//! does) clears the node, suspends with its start_info frame, shows `s`, and after
//! `xl resume` says the suspend was cancelled and carries on: asked again it suspends again,
//! and it shuts down cleanly when asked, its memory coming back.

use std::time::Duration;
use tests::steps::{
    boot, check_free_memory_back, create_and_wait_guest_line, list_with_healthy_dom0, row, run_ok,
    xl_errors,
};
use tests::{test_name, OrFail, System};

const WAIT: Duration = Duration::from_secs(20);

/// `name`'s state in `xl list` once `ok` holds for it (polled for up to 20 s).
fn wait_state_of(sys: &mut System, name: &str, ok: impl Fn(&str) -> bool, what: &str) -> String {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let rows = list_with_healthy_dom0(sys);
        let state = row(&rows, name).map(|r| r.state.clone());
        if let Some(s) = state.as_deref().filter(|s| ok(s)) {
            return s.to_string();
        }
        if std::time::Instant::now() > deadline {
            sys.fail(format!("{name} never {what} in `xl list`: {rows:?}"));
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// `sus`'s state in `xl list` once `ok` holds for it.
fn wait_state(sys: &mut System, ok: impl Fn(&str) -> bool, what: &str) -> String {
    wait_state_of(sys, "sus", ok, what)
}

#[test]
fn a_suspended_guest_shows_s_keeps_its_memory_and_resumes_in_place() {
    let mut sys = boot(&test_name!());
    let free_before = sys.free_memory();
    let m = sys.mark();
    let (id, _) = create_and_wait_guest_line(
        &mut sys,
        "domu.cfg name=sus extra=\"test=suspend\"",
        "suspend: suspending",
    );
    // The save domctls from a domU: refused, about itself and about dom0.
    for name in ["getvcpucontext", "getpageframeinfo3", "resumedomain"] {
        for dom in [32752, 0] {
            let want = format!("(d{id}) suspend: {name} of domain {dom} returned -1 (EPERM)");
            sys.check(
                sys.since(m).contains(&want),
                format!("no {want:?} in the transcript"),
            );
        }
    }
    sys.wait_line(m, &format!("(XEN) domain {id} shut down (suspend)"), WAIT)
        .or_fail();
    let state = wait_state(&mut sys, |s| s.contains('s'), "suspended");
    sys.check(
        !state.contains('c') && !state.contains('d'),
        format!("suspended, not crashed or dying: {state}"),
    );
    let rows = list_with_healthy_dom0(&mut sys);
    let mem = row(&rows, "sus").map(|r| r.mem);
    sys.check(
        mem.is_some_and(|m| m > 0),
        format!("the suspended domain keeps its memory: {rows:?}"),
    );
    // Resumed in place: its suspend call returns 1 and it runs on.
    let m = sys.mark();
    run_ok(&mut sys, "xl resume sus");
    sys.wait_line(
        m,
        &format!("(d{id}) suspend: resumed, the suspend call returned 1"),
        WAIT,
    )
    .or_fail();
    sys.wait_line(
        m,
        &format!("(d{id}) suspend: running on after the resume"),
        WAIT,
    )
    .or_fail();
    sys.wait_line(m, &format!("(XEN) domain {id} resumed"), WAIT)
        .or_fail();
    wait_state(&mut sys, |s| !s.contains('s'), "running again");
    // Running, it is not resumed again; Domain-0 never is.
    let out = sys.run("xl resume sus");
    let errs = xl_errors(&out);
    sys.check(
        errs.iter().any(|e| e.contains("is not suspended")),
        format!("a running domain is not resumed: {out}"),
    );
    let out = sys.run("xl resume Domain-0");
    sys.check(
        xl_errors(&out)
            .iter()
            .any(|e| e.contains("not permitted on Domain-0")),
        format!("Domain-0 is not resumed: {out}"),
    );
    // It answers the toolstack as any running guest: a cooperative shutdown.
    let out = run_ok(&mut sys, "xl shutdown -w sus");
    sys.check(
        out.contains("shut down (poweroff)"),
        format!("the resumed guest shuts down when asked: {out}"),
    );
    check_free_memory_back(&mut sys, free_before, "the resumed domain's shutdown");
}

/// Asks domain `id` to suspend as the toolstack does: "suspend" in its `control/shutdown`.
/// Its suspend handler clears the node and suspends; `xl list` shows `s`.
fn ask_to_suspend(sys: &mut System, id: u32, name: &str) {
    let node = format!("/local/domain/{id}/control/shutdown");
    let m = sys.mark();
    run_ok(sys, &format!("xenstore-write {node} suspend"));
    for line in [
        format!("(d{id}) control: suspend requested"),
        format!("(d{id}) suspend: suspending (start_info at machine frame 0x"),
        format!("(XEN) domain {id} shut down (suspend)"),
    ] {
        sys.wait_line(m, &line, WAIT).or_fail();
    }
    let state = wait_state_of(sys, name, |s| s.contains('s'), "suspended");
    sys.check(
        !state.contains('c') && !state.contains('d'),
        format!("suspended, not crashed or dying: {state}"),
    );
    // The guest acknowledged the request by clearing the node.
    let out = run_ok(sys, &format!("xenstore-read {node}"));
    // (Life-cycle notices such as "(xl) domain N ... shut down (suspend)" may come with it.)
    sys.check(
        !out.lines()
            .any(|l| !l.starts_with("(xl)") && l.contains("suspend")),
        format!("the request is still in {node}: {out}"),
    );
}

/// Lets suspended domain `id` run on in place (`xl resume`): its handler says the suspend
/// was cancelled and it carries on.
fn resume(sys: &mut System, id: u32, name: &str) {
    let m = sys.mark();
    run_ok(sys, &format!("xl resume {name}"));
    sys.wait_line(m, &format!("(XEN) domain {id} resumed"), WAIT)
        .or_fail();
    sys.wait_line(
        m,
        &format!("(d{id}) suspend: cancelled, resumed in place: carrying on"),
        WAIT,
    )
    .or_fail();
    wait_state_of(sys, name, |s| !s.contains('s'), "running again");
}

#[test]
fn an_idle_guest_suspends_when_asked_through_control_shutdown_and_carries_on_after_resume() {
    let mut sys = boot(&test_name!());
    let free_before = sys.free_memory();
    let (id, _) =
        create_and_wait_guest_line(&mut sys, "domu.cfg name=idler", "Hello from pv-guest domU");
    ask_to_suspend(&mut sys, id, "idler");
    resume(&mut sys, id, "idler");
    // Its XenStore connection and watch survived: asked again, it suspends again.
    ask_to_suspend(&mut sys, id, "idler");
    resume(&mut sys, id, "idler");
    // And it answers the toolstack as any running guest: a cooperative shutdown.
    let out = run_ok(&mut sys, "xl shutdown -w idler");
    sys.check(
        out.contains("shut down (poweroff)"),
        format!("the resumed guest shuts down when asked: {out}"),
    );
    check_free_memory_back(&mut sys, free_before, "the resumed domain's shutdown");
}

/// Debian's Linux handles `control/shutdown = "suspend"` itself (its Xen suspend support):
/// asked through the node it takes the request, suspends (`s`), and after `xl resume` (a
/// cancelled suspend) its shell answers again.
#[test]
fn linux_asked_to_suspend_reaches_s_and_its_shell_answers_after_resume() {
    use tests::linux::{attach, detach, sh_says, Create};
    let mut sys = tests::linux::boot(&test_name!());
    let free_before = sys.free_memory();
    Create::linux("").to_shell(&mut sys);
    sh_says(&mut sys, "echo before-$((40+2))", "before-42");
    detach(&mut sys);
    let rows = list_with_healthy_dom0(&mut sys);
    let Some(id) = row(&rows, "linux").map(|r| r.id) else {
        sys.fail(format!("no linux in `xl list`: {rows:?}"));
    };
    let node = format!("/local/domain/{id}/control/shutdown");
    let m = sys.mark();
    run_ok(&mut sys, &format!("xenstore-write {node} suspend"));
    sys.wait_line(
        m,
        &format!("(XEN) domain {id} shut down (suspend)"),
        tests::linux::CMD,
    )
    .or_fail();
    let state = wait_state_of(&mut sys, "linux", |s| s.contains('s'), "suspended");
    sys.check(
        !state.contains('c') && !state.contains('d'),
        format!("suspended, not crashed or dying: {state}"),
    );
    let out = run_ok(&mut sys, &format!("xenstore-read {node}"));
    sys.check(
        !out.lines()
            .any(|l| !l.starts_with("(xl)") && l.contains("suspend")),
        format!("Linux left the request in {node}: {out}"),
    );
    let m = sys.mark();
    run_ok(&mut sys, "xl resume linux");
    sys.wait_line(m, &format!("(XEN) domain {id} resumed"), WAIT)
        .or_fail();
    wait_state_of(&mut sys, "linux", |s| !s.contains('s'), "running again");
    attach(&mut sys, "linux");
    sh_says(&mut sys, "echo after-$((40+3))", "after-43");
    detach(&mut sys);
    let out = run_ok(&mut sys, "xl shutdown -w linux");
    sys.check(
        out.contains("shut down (poweroff)"),
        format!("the resumed Linux shuts down when asked: {out}"),
    );
    check_free_memory_back(&mut sys, free_before, "the resumed Linux's shutdown");
}
