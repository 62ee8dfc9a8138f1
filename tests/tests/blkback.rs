//! blkback's XenStore side as Xen lays it out, whatever the front end: `disk = [...]` makes
//! the front end's and the back end's directories with the nodes Linux's blkfront reads, the
//! back end waits in InitWait offering its features; `xl block-list` shows the disks;
//! `xl block-detach` of a disk whose front end never connected removes it at once; a disk
//! written by one domain is refused to another, read-only sharing allowed; bad specs and
//! devices dom0 does not have are refused naming why; destroying the domain removes it all.

use tests::steps::{boot, create_and_wait_guest_line, list_with_healthy_dom0, xl_errors};
use tests::system::System;
use tests::test_name;

#[test]
fn disks_are_laid_out_in_xenstore_as_xen_does_and_given_to_one_writer_only() {
    let mut sys = boot(&test_name!());
    create_and_wait_guest_line(
        &mut sys,
        "domu.cfg name=d1 \"disk=['phy:/dev/vda1,xvda,w','/dev/vda3,raw,xvdb,r']\"",
        "output now through the console ring",
    );
    let be = "/local/domain/0/backend/vbd/1/51712";
    let fe = "/local/domain/1/device/vbd/51712";
    for (path, want) in [
        (format!("{be}/frontend"), fe.to_string()),
        (format!("{be}/frontend-id"), "1".into()),
        (format!("{be}/state"), "2".into()),
        (format!("{be}/mode"), "w".into()),
        (format!("{be}/params"), "/dev/vda1".into()),
        (format!("{be}/dev"), "xvda".into()),
        (format!("{be}/feature-persistent"), "1".into()),
        (format!("{be}/feature-flush-cache"), "1".into()),
        (format!("{be}/feature-max-indirect-segments"), "256".into()),
        (format!("{be}/max-ring-page-order"), "4".into()),
        (format!("{fe}/backend"), be.to_string()),
        (format!("{fe}/backend-id"), "0".into()),
        (format!("{fe}/virtual-device"), "51712".into()),
        (format!("{fe}/device-type"), "disk".into()),
        (
            "/local/domain/0/backend/vbd/1/51728/mode".to_string(),
            "r".into(),
        ),
    ] {
        let got = read(&mut sys, &path);
        sys.check(got == want, format!("{path}: want {want:?}, got {got:?}"));
    }
    let out = sys.run("xl block-list d1");
    sys.check(
        out.contains("51712") && out.contains("51728") && out.contains(be),
        format!("xl block-list: {out:?}"),
    );
    // The same partition, writable, for another domain: refused naming both; read-only
    // sharing of the read-only one is fine.
    let out = sys.run("xl create /etc/xen/domu.cfg name=d2 \"disk=['phy:/dev/vda1,xvda,w']\"");
    let errs = xl_errors(&out);
    sys.check(
        errs.first().is_some_and(|e| {
            e.contains("/dev/vda1") && e.contains("domain 1") && e.contains("writable")
        }),
        format!("a second writer: {errs:?}"),
    );
    let out = sys.run("xl create /etc/xen/domu.cfg name=d3 \"disk=['phy:/dev/vda3,xvda,r']\"");
    sys.check(
        xl_errors(&out).is_empty(),
        format!("read-only sharing: {out:?}"),
    );
    // Bad specs and missing devices.
    for (cmd, want) in [
        (
            "xl block-attach d1 phy:/dev/vdz9,xvdc,w",
            "dom0 has no device /dev/vdz9",
        ),
        ("xl block-attach d1 phy:/dev/vda2,xvda,w", "xvda"),
        ("xl block-attach d1 phy:/dev/vda2,xvdc,x", "access"),
        ("xl block-attach d3 phy:/dev/vda1,xvdc,r", "writable"),
    ] {
        let out = sys.run(cmd);
        let errs = xl_errors(&out);
        sys.check(
            errs.first().is_some_and(|e| e.contains(want)),
            format!("`{cmd}`: want an error naming {want:?}, got {out:?}"),
        );
    }
    // Attach and detach a third disk (its front end never connects: it goes at once).
    let out = sys.run("xl block-attach d1 phy:/dev/vda2,xvdc,w");
    sys.check(xl_errors(&out).is_empty(), format!("block-attach: {out:?}"));
    let got = read(&mut sys, "/local/domain/0/backend/vbd/1/51744/state");
    sys.check(got == "2", format!("attached disk's state: {got:?}"));
    let out = sys.run("xl block-detach d1 xvdc");
    sys.check(xl_errors(&out).is_empty(), format!("block-detach: {out:?}"));
    let out = sys.run("xl block-list d1");
    sys.check(
        !out.contains("51744"),
        format!("detached disk still listed: {out:?}"),
    );
    let out = sys.run("xl block-detach d1 xvdq");
    sys.check(
        xl_errors(&out)
            .first()
            .is_some_and(|e| e.contains("no disk")),
        format!("detaching what is not there: {out:?}"),
    );
    // Destroying the domain takes its disks away: another may have vda1 now.
    sys.run("xl destroy d1");
    let out = sys.run("xenstore-ls /local/domain/0/backend/vbd");
    sys.check(
        out.lines().any(|l| l == "2 = \"\"") && !out.lines().any(|l| l == "1 = \"\""),
        format!("domain 1's back ends left (or domain 2's gone): {out:?}"),
    );
    let out = sys.run("xl create /etc/xen/domu.cfg name=d4 \"disk=['phy:/dev/vda1,xvda,w']\"");
    sys.check(
        xl_errors(&out).is_empty(),
        format!("after destroy: {out:?}"),
    );
    list_with_healthy_dom0(&mut sys);
}

/// A XenStore node's value (the last line: a domU's console output may come first).
fn read(sys: &mut System, path: &str) -> String {
    let out = sys.run(&format!("xenstore-read {path}"));
    out.lines().last().unwrap_or("").trim().to_string()
}
