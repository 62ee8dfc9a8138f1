//! Finding 7 end to end: a hostile domU (`test=xs-flood`) attacks dom0's xenstored through
//! its real ring, one attack per bound (see pv-guest/src/xenbus/flood.rs); each is refused
//! or contained, and afterwards dom0 still answers, a new domU still starts and XenStore
//! still works for other domains.

use std::time::Duration;
use tests::steps::{boot, create_ok, list_with_healthy_dom0};
use tests::system::System;
use tests::test_name;

const T: Duration = Duration::from_secs(120);

/// The verdict line of `attack` from domain `id`, which must start with `want`.
fn verdict(sys: &mut System, since: usize, id: u32, attack: &str, want: &str) -> String {
    let prefix = format!("(d{id}) xs-flood: {attack}: ");
    let l = match sys.wait_line_where(since, &prefix, T, |l| l.starts_with(&prefix)) {
        Ok(l) => l,
        Err(f) => sys.fail(f),
    };
    let rest = l[prefix.len()..].to_string();
    sys.check(
        rest.starts_with(want),
        format!("{attack}: want {want:?}, got {rest:?}"),
    );
    rest
}

/// The first number in `s` after `after`.
fn number_after(s: &str, after: &str) -> u64 {
    s.split(after)
        .nth(1)
        .and_then(|r| r.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(u64::MAX)
}

#[test]
fn a_flooding_domain_cannot_take_dom0_down() {
    let mut sys = boot(&test_name!());
    // A directory whose listing exceeds one payload (25 names of 180 bytes), readable by
    // the first domain.
    for i in 0..25 {
        let name = format!("{i:02}{}", "n".repeat(178));
        sys.run(&format!("xenstore-write /tool/xsbig/{name} x"));
    }
    sys.run("xenstore-chmod /tool/xsbig n0 r1");
    let m = sys.mark();
    create_ok(
        &mut sys,
        "domu.cfg name=flooder extra=\"test=xs-flood bigdir=/tool/xsbig\"",
    );
    verdict(&mut sys, m, 1, "long-path", "refused (EINVAL)");
    let l = verdict(&mut sys, m, 1, "long-children", "refused (ENOSPC after ");
    let n = number_after(&l, "after ");
    sys.check((1..999).contains(&n), format!("long-children: {l}"));
    verdict(&mut sys, m, 1, "big-directory", "refused (E2BIG)");
    verdict(
        &mut sys,
        m,
        1,
        "directory-part",
        "listed in 2 parts: 25 children",
    );
    verdict(&mut sys, m, 1, "path-memory", "refused (ENOMEM after ");
    let l = verdict(
        &mut sys,
        m,
        1,
        "ten-transactions",
        "contained (ENOMEM after ",
    );
    let kib = number_after(&l, "after ");
    sys.check(kib <= 1024, format!("ten-transactions held {kib} KiB: {l}"));
    let l = verdict(
        &mut sys,
        m,
        1,
        "unread-replies",
        "contained (xenstored took ",
    );
    let taken = number_after(&l, "took ");
    // At most 20 replies queued, one in the ring, and what one read of the ring took.
    sys.check(taken < 100, format!("unread-replies: {l}"));
    let l = verdict(&mut sys, m, 1, "reading-again", "served once read: ");
    let got = number_after(&l, "read: ");
    sys.check(
        l.ends_with(&format!("{got} of {got} replies")),
        format!("unread-replies: {l}"),
    );
    let l = verdict(&mut sys, m, 1, "watch-events", "contained (");
    let delivered = number_after(&l, "contained (");
    sys.check(
        delivered <= 300 && l.contains("of 24000 events"),
        format!("watch-events: {l}"),
    );
    verdict(&mut sys, m, 1, "still served", "name = \"flooder\"");
    // dom0 logged what it refused to hold.
    sys.run("");
    let log = sys.since(m);
    for want in [
        "(xl) xenstored: domain 1: not reading its responses",
        "(xl) xenstored: domain 1: watch events dropped",
    ] {
        sys.check(log.contains(want), format!("no notice {want:?}"));
    }
    // dom0 still answers, its store works, and a new domain starts and uses XenStore.
    list_with_healthy_dom0(&mut sys);
    sys.run("xenstore-write /tool/after-flood yes");
    let out = sys.run("xenstore-read /tool/after-flood");
    sys.check(out.contains("yes"), format!("{out:?}"));
    let m2 = sys.mark();
    create_ok(
        &mut sys,
        "domu.cfg name=second extra=\"test=xs-perms peer=1\"",
    );
    let want = "(d2) xs-perms: write own data: OK";
    if let Err(f) = sys.wait_line_where(m2, want, T, |l| l == want) {
        sys.fail(f);
    }
    let want = "(d2) xs-perms: read d1 name: EACCES";
    if let Err(f) = sys.wait_line_where(m2, want, T, |l| l == want) {
        sys.fail(f);
    }
    sys.poweroff();
}
