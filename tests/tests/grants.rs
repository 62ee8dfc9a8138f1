//! Grant tables: a domU offers a page, another maps, copies through and unmaps it; a
//! read-only grant is never writable; a third domain is refused; revoking a grant in use is
//! refused; destroying either side with mappings live leaks no frame; limits are reported.
//! Each test boots afresh so the domain ids the example configs name (1, 2, 3) hold.

use std::time::Duration;
use tests::steps::{boot, check_free_memory_back, create_ok};
use tests::system::System;
use tests::test_name;

const T: Duration = Duration::from_secs(60);

/// Wait for the exact console line `(d<id>) <text>` after `since`.
fn line(sys: &mut System, since: usize, id: u32, text: &str) {
    let want = format!("(d{id}) {text}");
    if let Err(f) = sys.wait_line_where(since, &want, T, |l| l == want) {
        sys.fail(f);
    }
}

/// Wait for a console line equal to `want` after `since`.
fn line_any(sys: &mut System, since: usize, want: &str) {
    if let Err(f) = sys.wait_line_where(since, want, T, |l| l == want) {
        sys.fail(f);
    }
}

/// Offer (domain 1) and map-and-hold (domain 2): returns with the mapping live.
fn offer_and_hold(sys: &mut System) -> usize {
    let m = sys.mark();
    create_ok(sys, "grant-offer.cfg");
    line(sys, m, 1, "grant-offer: gref 8 offered to d2 (rw)");
    create_ok(sys, "grant-map-hold.cfg");
    line(
        sys,
        m,
        2,
        "grant-map: mapped gref 8 of d1 rw: \"grant-data\"",
    );
    line(sys, m, 1, "grant-offer: in use (reading, writing)");
    line(sys, m, 2, "grant-map: holding the mapping");
    m
}

#[test]
fn map_copy_unmap_and_revoke() {
    let mut sys = boot(&test_name!());
    let free_before = sys.free_memory();
    let m = sys.mark();
    create_ok(&mut sys, "grant-offer.cfg");
    line(&mut sys, m, 1, "grant-offer: gref 8 offered to d2 (rw)");
    create_ok(&mut sys, "grant-map.cfg");
    line(
        &mut sys,
        m,
        2,
        "grant-map: mapped gref 8 of d1 rw: \"grant-data\"",
    );
    // Copies in both directions, checked through the mapping; a copy across a page refused.
    line(
        &mut sys,
        m,
        2,
        "grant-copy: from grant: \"written through \"",
    );
    line(&mut sys, m, 2, "grant-copy: to grant: \"copied in\"");
    line(
        &mut sys,
        m,
        2,
        "grant-copy: crossing a page: GNTST_BAD_COPY_ARG",
    );
    // While mapped, the entry is busy and the granter cannot revoke it.
    line(&mut sys, m, 1, "grant-offer: in use (reading, writing)");
    line(
        &mut sys,
        m,
        1,
        "grant-offer: revoke while in use refused (EBUSY)",
    );
    line(&mut sys, m, 2, "grant-map: unmapped");
    // After the unmap the granter sees what the grantee wrote, and revokes.
    line(
        &mut sys,
        m,
        1,
        "grant-offer: released; page now says \"written through the mapping\"",
    );
    line(&mut sys, m, 1, "grant-offer: revoked");
    sys.run("xl destroy grant-map");
    sys.run("xl destroy grant-offer");
    check_free_memory_back(&mut sys, free_before, "} MiB after both domains went");
}

#[test]
fn read_only_grant_is_never_writable() {
    let mut sys = boot(&test_name!());
    let m = sys.mark();
    create_ok(&mut sys, "grant-offer-ro.cfg");
    line(&mut sys, m, 1, "grant-offer: gref 8 offered to d2 (ro)");
    create_ok(&mut sys, "grant-ro.cfg");
    line(
        &mut sys,
        m,
        2,
        "grant-ro: writable map of a read-only grant: GNTST_PERMISSION_DENIED",
    );
    line(&mut sys, m, 2, "grant-ro: read-only map: \"grant-data\"");
    line(
        &mut sys,
        m,
        2,
        "grant-ro: copy into a read-only grant: GNTST_PERMISSION_DENIED",
    );
}

#[test]
fn a_third_domain_is_refused() {
    let mut sys = boot(&test_name!());
    let m = offer_and_hold(&mut sys);
    create_ok(&mut sys, "grant-third.cfg");
    line(
        &mut sys,
        m,
        3,
        "grant-third: map of d1's gref 8: GNTST_PERMISSION_DENIED",
    );
    line(
        &mut sys,
        m,
        3,
        "grant-third: copy from d1's gref 8: GNTST_PERMISSION_DENIED",
    );
}

#[test]
fn destroying_the_mapper_with_a_live_mapping_leaks_nothing() {
    let mut sys = boot(&test_name!());
    let free_before = sys.free_memory();
    let m = offer_and_hold(&mut sys);
    sys.run("xl destroy grant-map-hold");
    // The granter sees its grant released by the mapper's destruction.
    line(
        &mut sys,
        m,
        1,
        "grant-offer: released; page now says \"written through the mapping\"",
    );
    line(&mut sys, m, 1, "grant-offer: revoked");
    sys.run("xl destroy grant-offer");
    check_free_memory_back(&mut sys, free_before, "} MiB after");
}

#[test]
fn destroying_the_granter_with_a_live_mapping_leaks_nothing() {
    let mut sys = boot(&test_name!());
    let free_before = sys.free_memory();
    offer_and_hold(&mut sys);
    sys.run("xl destroy grant-offer");
    // The granted frame is still mapped by domain 2: it must stay allocated until then.
    let free_mid = sys.free_memory();
    sys.check(
        free_mid < free_before,
        format!("free memory back to {free_mid} MiB while a grant of the destroyed domain is still mapped"),
    );
    sys.run("xl destroy grant-map-hold");
    check_free_memory_back(&mut sys, free_before, "} MiB after both domains went");
}

/// Domain identity: a destroyed granter's id is not handed out again while its grant is still
/// mapped (the mapping names that domain instance), nor right after: ids increase as Xen's do.
#[test]
fn a_destroyed_granters_id_is_not_reused() {
    let mut sys = boot(&test_name!());
    let free_before = sys.free_memory();
    offer_and_hold(&mut sys);
    sys.run("xl destroy grant-offer");
    let m = sys.mark();
    create_ok(&mut sys, "domu.cfg");
    line(
        &mut sys,
        m,
        3,
        "Hello from pv-guest domU, cmdline \"greet\"",
    );
    // Unmapping (by destroying the mapper) releases the old granter's pin, not domain 3's.
    sys.run("xl destroy grant-map-hold");
    let m = sys.mark();
    create_ok(&mut sys, "domu.cfg name=second");
    line(
        &mut sys,
        m,
        4,
        "Hello from pv-guest domU, cmdline \"greet\"",
    );
    sys.run("xl destroy domu");
    sys.run("xl destroy second");
    check_free_memory_back(&mut sys, free_before, "} MiB after all four domains went");
}

/// A grant mapped for device access only (no PTE) holds its frame: the destroyed granter's
/// page stays allocated until the device mapping goes.
#[test]
fn a_device_only_mapping_holds_the_frame() {
    let mut sys = boot(&test_name!());
    let free_before = sys.free_memory();
    let m = sys.mark();
    create_ok(&mut sys, "grant-offer.cfg");
    line(&mut sys, m, 1, "grant-offer: gref 8 offered to d2 (rw)");
    create_ok(
        &mut sys,
        "grant-map-hold.cfg extra=\"test=grant-map peer=1 device\"",
    );
    line(
        &mut sys,
        m,
        2,
        "grant-map: mapped gref 8 of d1 for device access, holding it",
    );
    let m = sys.mark();
    sys.run("xl destroy grant-offer");
    // The granter lingers (dying) while its frame is device-mapped: the hypervisor reports
    // it destroyed only once the mapping goes.
    sys.run("xl list");
    let gone = sys.lines_since(m, "(XEN) domain 1 destroyed");
    sys.check(
        gone.is_empty(),
        "domain 1 was destroyed while domain 2 still had its frame mapped for device access",
    );
    sys.run("xl destroy grant-map-hold");
    line_any(&mut sys, m, "(XEN) domain 1 destroyed");
    line_any(&mut sys, m, "(XEN) domain 2 destroyed");
    check_free_memory_back(&mut sys, free_before, "} MiB after both domains went");
}

#[test]
fn grant_limits_are_reported() {
    let mut sys = boot(&test_name!());
    let m = sys.mark();
    create_ok(&mut sys, "grant-limits.cfg");
    line(
        &mut sys,
        m,
        1,
        "grant-limits: setup_table(65 frames): GNTST_GENERAL_ERROR",
    );
    if let Err(f) = sys.wait_line(m, "limit max_grant_frames = 32", T) {
        sys.fail(f);
    }
    let l = match sys.wait_line(m, "(d1) grant-limits: ", T).and_then(|_| {
        sys.wait_line_where(m, "mappings, then", T, |l| l.contains(" mappings, then "))
    }) {
        Ok(l) => l,
        Err(f) => sys.fail(f),
    };
    let n: u64 = l
        .split_whitespace()
        .nth(2)
        .and_then(|w| w.parse().ok())
        .unwrap_or(0);
    sys.check(
        l.ends_with("mappings, then GNTST_NO_SPACE") && n > 0,
        format!("want `<N> mappings, then GNTST_NO_SPACE` with N > 0, got `{l}`"),
    );
    if let Err(f) = sys.wait_line(m, &format!("limit of {n} mappings reached"), T) {
        sys.fail(f);
    }
    line(
        &mut sys,
        m,
        1,
        &format!("grant-limits: {n} unmapped; revoke: Ok(())"),
    );
}
