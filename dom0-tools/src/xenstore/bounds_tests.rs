//! Host tests of every bound xenstored keeps against a domain (finding 7): unread output,
//! reply size, node/size/path/permission/watch/transaction quotas, memory (per domain and
//! global), watch-event queues, and all-or-nothing transactions without store copies.

use super::daemon::{split_list, Xenstored, DOM0_EVENTS, REQUEST_HEADROOM};
use super::ring::{self, XS_REQ, XS_RSP};
use super::tests::{s, send, xs_with};
use super::wire::{self, nul_joined, Msg, Parse};
use super::*;
use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use guest_abi::errno::Errno;
use guest_abi::io::xenstore::{XsType, XENSTORE_PAYLOAD_MAX};

fn req(
    xs: &mut Xenstored,
    dom: u16,
    ty: XsType,
    tx: u32,
    payload: Vec<u8>,
) -> Result<Vec<u8>, Errno> {
    xs.request(dom, ty, tx, payload)
}

fn tx_start(xs: &mut Xenstored, dom: u16) -> Result<u32, Errno> {
    let r = req(xs, dom, XsType::TransactionStart, 0, nul_joined(&[""]))?;
    Ok(split_list(&r)[0].parse().unwrap())
}

fn tx_end(xs: &mut Xenstored, dom: u16, tx: u32, commit: bool) -> Result<(), Errno> {
    let how = if commit { "T" } else { "F" };
    req(xs, dom, XsType::TransactionEnd, tx, nul_joined(&[how])).map(drop)
}

fn tx_write(xs: &mut Xenstored, dom: u16, tx: u32, p: &str, v: &[u8]) -> Result<(), Errno> {
    let mut m = nul_joined(&[p]);
    m.extend_from_slice(v);
    req(xs, dom, XsType::Write, tx, m).map(drop)
}

fn long_name(i: usize, len: usize) -> String {
    let mut n = format!("c{i}-");
    while n.len() < len {
        n.push('x');
    }
    n
}

/// Finding 7, first bullet: a domain that floods XS_READs of a 2048-byte value and never
/// reads its response ring. xenstored queues at most its output budget; the rest of the
/// requests stay on the ring; once the guest reads, everything is answered in order.
#[test]
fn a_connection_that_never_reads_is_not_served() {
    let mut xs = xs_with(&[1]);
    let q = xs.quotas;
    xs.write(1, "data/big", &[b'v'; 2048]).unwrap();
    let mut page = vec![0u8; 4096];
    let read = Msg::new(XsType::Read, 0, 0, nul_joined(&["data/big"])).encode();
    let mut sent = 0u32;
    // 46 ring-fills' worth of requests, offered whenever the request ring has room.
    for _ in 0..46 * 1024 / read.len() {
        if ring::space(&page[..], XS_REQ).unwrap() < read.len() {
            xs.service_ring(1, &mut page[..]);
        }
        if ring::space(&page[..], XS_REQ).unwrap() < read.len() {
            break;
        }
        let mut m = read.clone();
        m[4..8].copy_from_slice(&sent.to_le_bytes());
        ring::write(&mut page[..], XS_REQ, &m).unwrap();
        sent += 1;
    }
    for _ in 0..10 {
        xs.service_ring(1, &mut page[..]);
    }
    let c = xs.conn(1).unwrap();
    assert!(c.stalled, "the connection should not be served");
    assert!(
        c.queued_bytes() < q.output_bytes + 16 + 2048,
        "{}",
        c.queued_bytes()
    );
    assert!(c.queued_replies() <= q.outstanding);
    // The requests it could not take are still on its ring.
    assert!(ring::pending(&page[..], XS_REQ).unwrap() > 0);
    let log = xs.take_log();
    assert!(
        log.iter().any(|l| l.contains("not reading its responses")),
        "{log:?}"
    );
    // The guest reads: every request is answered, in order.
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    let mut next = 0u32;
    for _ in 0..100_000 {
        let n = ring::read(&mut page[..], XS_RSP, &mut buf).unwrap();
        got.extend_from_slice(&buf[..n]);
        while let Parse::Msg(m, used) = wire::parse(&got) {
            assert_eq!(
                (m.ty, m.req_id, m.payload.len()),
                (XsType::Read as u32, next, 2048)
            );
            next += 1;
            got.drain(..used);
        }
        xs.service_ring(1, &mut page[..]);
        if next == sent {
            break;
        }
    }
    assert_eq!(next, sent);
    assert!(!xs.conn(1).unwrap().stalled);
    // One log line for the whole episode.
    assert!(xs.take_log().is_empty());
}

/// Finding 7, second bullet: an XS_DIRECTORY reply never exceeds XENSTORE_PAYLOAD_MAX:
/// E2BIG, and XS_DIRECTORY_PART lists the directory in parts.
#[test]
fn directory_over_payload_max_is_e2big_and_listed_in_parts() {
    let mut xs = xs_with(&[1]);
    // Only dom0 can make such a directory (a domain's nodes are limited to entry_size).
    for i in 0..999 {
        xs.write(0, &format!("/tool/big/{}", long_name(i, 200)), b"")
            .unwrap();
    }
    xs.set_perms(0, "/tool/big", &Perms::parse(["n0", "r1"]).unwrap())
        .unwrap();
    let r = xs.handle(
        1,
        &Msg::new(XsType::Directory, 7, 0, nul_joined(&["/tool/big"])),
    );
    assert_eq!(wire::error_name(&r.payload), "E2BIG");
    let mut all = Vec::new();
    let mut off = 0;
    loop {
        let r = req(
            &mut xs,
            1,
            XsType::DirectoryPart,
            0,
            nul_joined(&["/tool/big", &format!("{off}")]),
        )
        .unwrap();
        assert!(r.len() <= XENSTORE_PAYLOAD_MAX);
        let names = split_list(&r);
        let done = r.ends_with(&[0, 0]);
        for n in names.iter().skip(1).filter(|n| !n.is_empty()) {
            off += n.len() + 1;
            all.push(n.clone());
        }
        if done {
            break;
        }
    }
    assert_eq!(all.len(), 999);
    // dom0's own listing falls back to parts.
    assert_eq!(xs.directory(0, "/tool/big").unwrap(), all);
    // A value over the payload limit (only dom0 may write one) is E2BIG to read.
    xs.write(0, "/tool/huge", &[b'h'; 5000]).unwrap();
    xs.set_perms(0, "/tool/huge", &Perms::parse(["n0", "r1"]).unwrap())
        .unwrap();
    assert_eq!(xs.read(1, "/tool/huge"), Err(Errno::E2BIG));
}

/// A domain cannot build a big directory: a node's children's names count toward its size.
#[test]
fn node_size_counts_children_names() {
    let mut xs = xs_with(&[1]);
    let mut n = 0;
    let err = loop {
        match xs.write(1, &format!("data/d/{}", long_name(n, 200)), b"") {
            Ok(()) => n += 1,
            Err(e) => break e,
        }
        assert!(n < 999);
    };
    assert_eq!(err, Errno::ENOSPC);
    assert_eq!(n, 2048 / 201);
    let r = req(&mut xs, 1, XsType::Directory, 0, nul_joined(&["data/d"])).unwrap();
    assert!(r.len() <= 2048);
    // A value plus children within 2048 bytes.
    assert_eq!(xs.write(1, "data/d", &[b'v'; 100]), Err(Errno::ENOSPC));
    xs.write(1, "data/v", &[b'v'; 2048]).unwrap();
    assert_eq!(xs.write(1, "data/v", &[b'v'; 2049]), Err(Errno::ENOSPC));
}

#[test]
fn path_length_and_permission_quotas() {
    let mut xs = xs_with(&[1]);
    let q = xs.quotas;
    xs.write(1, "data/pp", b"").unwrap();
    // Below the home: path_len bytes (2048) relative.
    let ok = format!("data/{}", "p".repeat(q.path_len - 5));
    xs.write(1, &ok, b"").unwrap();
    let long = format!("data/{}", "p".repeat(q.path_len - 4));
    assert_eq!(xs.write(1, &long, b""), Err(Errno::EINVAL));
    assert_eq!(xs.watch(1, &long, "t"), Err(Errno::EINVAL));
    assert_eq!(
        xs.read(1, &format!("/local/domain/1/{long}")),
        Err(Errno::EINVAL)
    );
    // dom0 is not limited (up to the protocol's absolute maximum).
    xs.write(0, &format!("/local/domain/1/{long}"), b"")
        .unwrap();
    // Five permission entries per node.
    let five = Perms::parse(["n1", "r2", "r3", "r4", "r5"]).unwrap();
    xs.set_perms(1, "data/pp", &five).unwrap();
    let six = Perms::parse(["n1", "r2", "r3", "r4", "r5", "r6"]).unwrap();
    assert_eq!(xs.set_perms(1, "data/pp", &six), Err(Errno::ENOSPC));
}

/// Path names count toward a domain's memory: long names run into the memory quota
/// (ENOMEM) well before the node quota, and what the domain holds stays under it.
#[test]
fn memory_quota_counts_path_bytes() {
    let mut xs = xs_with(&[1]);
    let q = xs.quotas;
    let mut n = 0;
    let err = loop {
        // Ten levels of 190-byte names below data/: each path ~1.9 KiB.
        let mut p = format!("data/m{n}");
        for l in 0..9 {
            p.push('/');
            p.push_str(&long_name(l, 190));
        }
        match xs.write(1, &p, &[b'x'; 1024]) {
            Ok(()) => n += 1,
            Err(e) => break e,
        }
        assert!(n < 1000);
    };
    assert_eq!(err, Errno::ENOMEM);
    assert!(xs.store().entries_of(1) < q.entries);
    assert!(xs.held_by(1) <= q.memory, "{}", xs.held_by(1));
    assert!(xs.held_by(1) > q.memory - 64 * 1024, "{}", xs.held_by(1));
    // Removing frees it.
    xs.rm(1, "data/m0").unwrap();
    xs.write(1, "data/again", b"v").unwrap();
}

/// All domains together stay under the global bound, whatever their number.
#[test]
fn global_memory_bound_holds_across_domains() {
    let doms: Vec<u16> = (1..=8).collect();
    let mut xs = xs_with(&doms);
    xs.quotas.global_memory = 2 << 20;
    let mut refused = 0;
    for &d in &doms {
        for i in 0..1000 {
            let p = format!("data/{}/{}", i / 10, long_name(i, 150));
            match xs.write(d, &p, &[b'g'; 1500]) {
                Ok(()) => {}
                Err(e) => {
                    assert_eq!(e, Errno::ENOMEM);
                    refused += 1;
                    break;
                }
            }
        }
    }
    assert!(refused >= 6, "{refused}");
    let total: usize = doms.iter().map(|&d| xs.held_by(d)).sum();
    assert!(total <= 2 << 20, "{total}");
    // dom0 is not limited by it.
    xs.write(0, "/tool/after", &[b'z'; 2000]).unwrap();
}

#[test]
fn watch_and_transaction_quotas() {
    let mut xs = xs_with(&[1]);
    let q = xs.quotas;
    for i in 0..q.watches {
        xs.watch(1, &format!("data/w{i}"), "t").unwrap();
    }
    assert_eq!(xs.watch(1, "data/wx", "t"), Err(Errno::E2BIG));
    for _ in 0..q.transactions {
        tx_start(&mut xs, 1).unwrap();
    }
    assert_eq!(tx_start(&mut xs, 1), Err(Errno::ENOSPC));
    // Nodes one transaction may touch.
    let mut xs = xs_with(&[1]);
    xs.quotas.transaction_nodes = 20;
    let t = tx_start(&mut xs, 1).unwrap();
    let mut n = 0;
    let err = loop {
        match tx_write(&mut xs, 1, t, &format!("data/t{n}"), b"v") {
            Ok(()) => n += 1,
            Err(e) => break e,
        }
        assert!(n < 100);
    };
    assert_eq!(err, Errno::ENOSPC);
    assert!(n < 20);
}

/// Watch events a connection leaves unread are bounded: past the limit they are dropped
/// and logged; identical pending events are not queued twice.
#[test]
fn watch_events_beyond_the_limit_are_dropped_and_logged() {
    let mut xs = xs_with(&[1, 2]);
    let q = xs.quotas;
    let mut page = vec![0u8; 4096];
    send(
        &mut page,
        XsType::Watch,
        0,
        &nul_joined(&["/local/domain/2/data", "w"]),
    );
    xs.set_perms(
        0,
        "/local/domain/2/data",
        &Perms::parse(["n2", "r1"]).unwrap(),
    )
    .unwrap();
    xs.service_ring(1, &mut page[..]);
    // Domain 2 generates events for domain 1, which never reads its ring.
    for i in 0..2000 {
        xs.write(2, &format!("data/{}/e{}", i % 9, i % 900), b"1")
            .unwrap();
        if i % 100 == 0 {
            xs.service_ring(1, &mut page[..]);
        }
    }
    let c = xs.conn(1).unwrap();
    assert!(c.queued_events() <= q.watch_events, "{}", c.queued_events());
    assert!(c.queued_bytes() <= 2 * q.output_bytes);
    assert!(c.dropped_events > 0);
    let log = xs.take_log();
    assert!(
        log.iter()
            .any(|l| l.contains("domain 1: watch events dropped")),
        "{log:?}"
    );
    // The same event twice while the first waits: queued once.
    let mut xs = xs_with(&[1]);
    xs.watch(1, "data", "w").unwrap();
    let before = xs.conn(1).unwrap().queued_events();
    xs.write(1, "data/same", b"1").unwrap();
    xs.write(1, "data/same", b"2").unwrap();
    assert_eq!(xs.conn(1).unwrap().queued_events(), before + 1);
}

/// dom0's own event queue is bounded too (a domain writing below a node dom0 watches).
#[test]
fn dom0_event_queue_is_bounded() {
    let mut xs = xs_with(&[1]);
    xs.quotas.entries = 5000;
    xs.watch(0, "/local/domain/1/data", "d0").unwrap();
    for i in 0..(DOM0_EVENTS + 500) {
        xs.write(1, &format!("data/{}/{}", i / 100, i % 100), b"")
            .unwrap_or(());
    }
    assert!(xs.conn(0).unwrap().queued_events() <= DOM0_EVENTS);
    assert!(xs.conn(0).unwrap().dropped_events > 0);
    assert!(!xs.take_log().is_empty());
    assert!(xs.take_events(0).len() <= DOM0_EVENTS);
    xs.write(1, "data/late", b"").unwrap();
    assert_eq!(
        xs.take_events(0),
        vec![(s("/local/domain/1/data/late"), s("d0"))]
    );
}

/// A conflicting commit gets EAGAIN and applies nothing, not even its other writes.
#[test]
fn transaction_conflict_applies_nothing() {
    let mut xs = xs_with(&[1]);
    xs.write(1, "data/a", b"0").unwrap();
    let t = tx_start(&mut xs, 1).unwrap();
    req(&mut xs, 1, XsType::Read, t, nul_joined(&["data/a"])).unwrap();
    tx_write(&mut xs, 1, t, "data/a", b"tx").unwrap();
    tx_write(&mut xs, 1, t, "data/new/deep", b"tx").unwrap();
    tx_write(&mut xs, 1, t, "data/other", b"tx").unwrap();
    // The transaction sees its own writes, the store does not.
    assert_eq!(
        req(&mut xs, 1, XsType::Read, t, nul_joined(&["data/new/deep"])).unwrap(),
        b"tx"
    );
    assert_eq!(xs.read(1, "data/new/deep"), Err(Errno::ENOENT));
    xs.write(1, "data/a", b"outside").unwrap();
    let before = xs.store().len();
    assert_eq!(tx_end(&mut xs, 1, t, true), Err(Errno::EAGAIN));
    assert_eq!(xs.store().len(), before);
    assert_eq!(xs.read(1, "data/a").unwrap(), b"outside");
    assert_eq!(xs.read(1, "data/other"), Err(Errno::ENOENT));
    // Removing a subtree in a transaction, committed whole.
    xs.write(1, "data/r/x/y", b"1").unwrap();
    xs.write(1, "data/r/z", b"1").unwrap();
    let t = tx_start(&mut xs, 1).unwrap();
    req(&mut xs, 1, XsType::Rm, t, nul_joined(&["data/r"])).unwrap();
    assert_eq!(
        req(&mut xs, 1, XsType::Read, t, nul_joined(&["data/r/x/y"])),
        Err(Errno::ENOENT)
    );
    assert_eq!(xs.read(1, "data/r/x/y").unwrap(), b"1");
    let owned = xs.store().entries_of(1);
    tx_end(&mut xs, 1, t, true).unwrap();
    assert_eq!(xs.read(1, "data/r"), Err(Errno::ENOENT));
    assert_eq!(xs.store().entries_of(1), owned - 4);
}

/// A commit that would exceed a quota fails as a whole: nothing of it is applied.
#[test]
fn a_commit_over_quota_fails_whole() {
    let mut xs = xs_with(&[1]);
    xs.write(1, "data/a", b"").unwrap();
    xs.write(1, "data/b", b"").unwrap();
    xs.quotas.entries = xs.store().entries_of(1) + 7;
    let t1 = tx_start(&mut xs, 1).unwrap();
    let t2 = tx_start(&mut xs, 1).unwrap();
    for i in 0..5 {
        tx_write(&mut xs, 1, t1, &format!("data/a/{i}"), b"1").unwrap();
        tx_write(&mut xs, 1, t2, &format!("data/b/{i}"), b"2").unwrap();
    }
    tx_end(&mut xs, 1, t1, true).unwrap();
    let before = xs.store().len();
    assert_eq!(tx_end(&mut xs, 1, t2, true), Err(Errno::ENOSPC));
    assert_eq!(xs.store().len(), before);
    assert_eq!(xs.directory(1, "data/b").unwrap(), Vec::<String>::new());
    assert_eq!(xs.directory(1, "data/a").unwrap().len(), 5);
}

/// Open transactions hold what they touched, not a copy of the store.
#[test]
fn open_transactions_hold_little_memory() {
    let mut xs = xs_with(&[1]);
    for i in 0..2000 {
        xs.write(
            0,
            &format!("/tool/fill/{}/{}", i / 50, long_name(i, 100)),
            &[b'f'; 1000],
        )
        .unwrap();
    }
    let idle = xs.held_by(1);
    let mut ts = Vec::new();
    for _ in 0..10 {
        let t = tx_start(&mut xs, 1).unwrap();
        req(&mut xs, 1, XsType::Read, t, nul_joined(&["name"])).unwrap_or_default();
        ts.push(t);
    }
    let held = xs.held_by(1) - idle;
    assert!(held < 10 * 512, "ten transactions hold {held} bytes");
    // Ten transactions each writing near-quota data are contained by the domain's memory.
    let q = xs.quotas;
    let mut refused = 0;
    for (k, &t) in ts.iter().enumerate() {
        for i in 0..q.entries {
            if let Err(e) = tx_write(&mut xs, 1, t, &format!("data/t{k}/{i}"), &[b'd'; 2000]) {
                assert!(matches!(e, Errno::ENOMEM | Errno::ENOSPC), "{e}");
                refused += 1;
                break;
            }
        }
    }
    assert_eq!(refused, 10);
    assert!(xs.held_by(1) <= q.memory, "{}", xs.held_by(1));
    // Aborting gives it all back.
    for t in ts {
        tx_end(&mut xs, 1, t, false).unwrap();
    }
    assert_eq!(xs.held_by(1), idle);
}

/// With dom0's heap short, a request fails with ENOMEM instead of allocating.
#[test]
fn a_short_heap_refuses_requests_with_enomem() {
    let mut xs = xs_with(&[1]);
    xs.heap_free = Some(|| REQUEST_HEADROOM - 1);
    assert_eq!(xs.write(1, "data/x", b"v"), Err(Errno::ENOMEM));
    assert_eq!(xs.read(1, "name"), Err(Errno::ENOMEM));
    xs.heap_free = Some(|| REQUEST_HEADROOM);
    xs.write(1, "data/x", b"v").unwrap();
}
