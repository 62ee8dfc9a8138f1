//! Host tests of the store, its protocol and the ring math.

use super::daemon::{split_list, Xenstored};
use super::perms::{Access, Perm, Perms};
use super::ring::{self, RingLayout, CONS_OUT, XS_REQ, XS_RSP};
use super::wire::{self, nul_joined, Msg, Parse};
use super::xenbus::{back_step, front_step, settle};
use super::*;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use guest_abi::errno::Errno;
use guest_abi::io::xenbus::XenbusState;
use guest_abi::io::xenstore::XsType;

pub(super) fn xs_with(doms: &[u16]) -> Xenstored {
    let mut xs = Xenstored::new();
    for &d in doms {
        xs.introduce(d, 100 + u64::from(d), 5).unwrap();
        let home = path::domain_path(d);
        xs.write(0, &home, b"").unwrap();
        xs.set_perms(
            0,
            &home,
            &Perms::parse(["n0", &alloc::format!("r{d}")]).unwrap(),
        )
        .unwrap();
        xs.write(0, &alloc::format!("{home}/data"), b"").unwrap();
        xs.set_perms(0, &alloc::format!("{home}/data"), &Perms::owned_by(d))
            .unwrap();
    }
    xs
}

#[test]
fn tree_write_read_directory_rm() {
    let mut xs = Xenstored::new();
    xs.write(0, "/a/b/c", b"hello").unwrap();
    assert_eq!(xs.read(0, "/a/b/c").unwrap(), b"hello");
    assert_eq!(xs.read(0, "/a/b").unwrap(), b"");
    assert_eq!(xs.directory(0, "/a").unwrap(), vec!["b"]);
    xs.write(0, "/a/b2", b"x").unwrap();
    assert_eq!(xs.directory(0, "/a").unwrap(), vec!["b", "b2"]);
    assert_eq!(xs.read(0, "/nope"), Err(Errno::ENOENT));
    xs.rm(0, "/a/b").unwrap();
    assert_eq!(xs.read(0, "/a/b/c"), Err(Errno::ENOENT));
    assert_eq!(xs.directory(0, "/a").unwrap(), vec!["b2"]);
    // Removing an absent node under an existing parent is fine; under an absent one not.
    assert_eq!(xs.rm(0, "/a/zz"), Ok(()));
    assert_eq!(xs.rm(0, "/q/zz"), Err(Errno::ENOENT));
    assert_eq!(xs.rm(0, "/"), Err(Errno::EINVAL));
    assert_eq!(
        xs.request(0, XsType::Mkdir, 0, nul_joined(&["/m/n"])),
        Ok(nul_joined(&["OK"]))
    );
    assert_eq!(xs.directory(0, "/m").unwrap(), vec!["n"]);
}

#[test]
fn bad_paths_are_einval() {
    let mut xs = Xenstored::new();
    for p in ["", "/a//b", "/a/", "/a b", "/a@b", "/ä"] {
        assert_eq!(xs.write(0, p, b"v"), Err(Errno::EINVAL), "{p:?}");
    }
    assert_eq!(path::canonical(3, "name").unwrap(), "/local/domain/3/name");
    assert_eq!(path::parent("/a"), Some("/"));
    assert_eq!(path::parent("/"), None);
    assert!(path::is_at_or_below("/a/b", "/a"));
    assert!(!path::is_at_or_below("/ab", "/a"));
}

#[test]
fn perms_parse_and_access() {
    let p = Perms::parse(["n1", "r2", "w3", "b4"]).unwrap();
    assert_eq!(p.owner(), 1);
    assert_eq!(p.access_of(1), Access::Both);
    assert_eq!(p.access_of(0), Access::Both);
    assert_eq!(p.access_of(2), Access::Read);
    assert_eq!(p.access_of(3), Access::Write);
    assert_eq!(p.access_of(4), Access::Both);
    assert_eq!(p.access_of(5), Access::None);
    assert_eq!(p.texts(), vec!["n1", "r2", "w3", "b4"]);
    for bad in ["", "x1", "r", "r-1", "r70000", "rr1"] {
        assert!(Perm::parse(bad).is_err(), "{bad:?}");
    }
    assert!(Perms::parse([]).is_err());
}

#[test]
fn domains_cannot_read_each_other() {
    let mut xs = xs_with(&[1, 2]);
    xs.write(0, "/local/domain/1/name", b"one").unwrap();
    assert_eq!(xs.read(1, "/local/domain/1/name").unwrap(), b"one");
    assert_eq!(xs.read(1, "name").unwrap(), b"one");
    assert_eq!(xs.read(2, "/local/domain/1/name"), Err(Errno::EACCES));
    assert_eq!(
        xs.write(2, "/local/domain/1/data/x", b"v"),
        Err(Errno::EACCES)
    );
    assert_eq!(xs.directory(2, "/local/domain"), Err(Errno::EACCES));
    // Its own data dir: it creates (and owns) nodes there.
    xs.write(1, "data/x", b"v").unwrap();
    assert_eq!(xs.get_perms(1, "data/x").unwrap().owner(), 1);
    // A read-only home: no writes to name.
    assert_eq!(xs.write(1, "name", b"evil"), Err(Errno::EACCES));
    // Granting domain 2 read access to one node works through set_perms.
    xs.set_perms(1, "data/x", &Perms::parse(["n1", "r2"]).unwrap())
        .unwrap();
    assert_eq!(xs.read(2, "/local/domain/1/data/x").unwrap(), b"v");
    // An unprivileged owner cannot give a node away.
    assert_eq!(
        xs.set_perms(1, "data/x", &Perms::owned_by(2)),
        Err(Errno::EPERM)
    );
    // Only dom0 introduces.
    assert_eq!(
        xs.request(1, XsType::Introduce, 0, nul_joined(&["7", "1", "1"])),
        Err(Errno::EACCES)
    );
}

#[test]
fn watches_fire_once_per_change_and_respect_perms() {
    let mut xs = xs_with(&[1, 2]);
    xs.watch(0, "/local/domain/1/data", "t0").unwrap();
    // The initial event.
    assert_eq!(
        xs.take_events(0),
        vec![(s("/local/domain/1/data"), s("t0"))]
    );
    xs.write(1, "data/k", b"1").unwrap();
    assert_eq!(
        xs.take_events(0),
        vec![(s("/local/domain/1/data/k"), s("t0"))]
    );
    xs.write(1, "data/k", b"2").unwrap();
    assert_eq!(xs.take_events(0).len(), 1);
    xs.write(0, "/elsewhere", b"2").unwrap();
    assert!(xs.take_events(0).is_empty());
    // Removing a parent fires watches below it.
    xs.watch(0, "/local/domain/1/data/k", "deep").unwrap();
    xs.take_events(0);
    xs.rm(0, "/local/domain/1/data").unwrap();
    let ev = xs.take_events(0);
    assert!(ev.contains(&(s("/local/domain/1/data"), s("t0"))), "{ev:?}");
    assert!(
        ev.contains(&(s("/local/domain/1/data/k"), s("deep"))),
        "{ev:?}"
    );
    assert_eq!(
        xs.watch(0, "/local/domain/1/data/k", "deep"),
        Err(Errno::EEXIST)
    );
    assert_eq!(
        xs.request(0, XsType::Unwatch, 0, nul_joined(&["/x", "nope"])),
        Err(Errno::ENOENT)
    );
}

#[test]
fn ring_watch_events_relative_and_denied() {
    let mut xs = xs_with(&[1, 2]);
    let mut page1 = vec![0u8; 4096];
    let mut page2 = vec![0u8; 4096];
    send(&mut page1, XsType::Watch, 0, &nul_joined(&["data", "mine"]));
    xs.service_ring(1, &mut page1[..]);
    send(
        &mut page2,
        XsType::Watch,
        0,
        &nul_joined(&["/local/domain/1/data", "spy"]),
    );
    xs.service_ring(2, &mut page2[..]);
    let r1 = recv_all(&mut page1);
    assert_eq!(r1[0].ty, XsType::Watch as u32);
    assert_eq!(r1[1].payload, nul_joined(&["data", "mine"]));
    recv_all(&mut page2);
    xs.write(1, "data/z", b"1").unwrap();
    xs.service_ring(1, &mut page1[..]);
    xs.service_ring(2, &mut page2[..]);
    let r1 = recv_all(&mut page1);
    assert_eq!(r1.len(), 1);
    assert_eq!(r1[0].ty, XsType::WatchEvent as u32);
    assert_eq!(r1[0].payload, nul_joined(&["data/z", "mine"]));
    // Domain 2 cannot read domain 1's node: no event.
    assert!(recv_all(&mut page2).is_empty());
}

#[test]
fn conflicting_transactions_get_eagain() {
    let mut xs = Xenstored::new();
    xs.write(0, "/c", b"0").unwrap();
    let t1 = tx_start(&mut xs);
    let t2 = tx_start(&mut xs);
    assert_ne!(t1, t2);
    let r = xs
        .request(0, XsType::Read, t1, nul_joined(&["/c"]))
        .unwrap();
    assert_eq!(r, b"0");
    xs.request(0, XsType::Write, t1, wr("/c", "1")).unwrap();
    xs.request(0, XsType::Read, t2, nul_joined(&["/c"]))
        .unwrap();
    xs.request(0, XsType::Write, t2, wr("/c", "2")).unwrap();
    // Isolation: not visible before commit.
    assert_eq!(xs.read(0, "/c").unwrap(), b"0");
    assert_eq!(tx_end(&mut xs, t1, "T"), Ok(nul_joined(&["OK"])));
    assert_eq!(xs.read(0, "/c").unwrap(), b"1");
    assert_eq!(tx_end(&mut xs, t2, "T"), Err(Errno::EAGAIN));
    assert_eq!(xs.read(0, "/c").unwrap(), b"1");
    // Unrelated transactions both commit; an abort changes nothing; ids are single-use.
    xs.write(0, "/x", b"").unwrap();
    xs.write(0, "/y", b"").unwrap();
    let a = tx_start(&mut xs);
    let b = tx_start(&mut xs);
    xs.request(0, XsType::Write, a, wr("/x/a", "1")).unwrap();
    xs.request(0, XsType::Write, b, wr("/y/b", "1")).unwrap();
    assert!(tx_end(&mut xs, a, "T").is_ok());
    assert!(tx_end(&mut xs, b, "T").is_ok());
    let c = tx_start(&mut xs);
    xs.request(0, XsType::Write, c, wr("/z", "1")).unwrap();
    assert!(tx_end(&mut xs, c, "F").is_ok());
    assert_eq!(xs.read(0, "/z"), Err(Errno::ENOENT));
    assert_eq!(tx_end(&mut xs, c, "T"), Err(Errno::ENOENT));
    assert_eq!(tx_end(&mut xs, 0, "T"), Err(Errno::EINVAL));
    let d = tx_start(&mut xs);
    assert_eq!(tx_end(&mut xs, d, "X"), Err(Errno::EINVAL));
    // Creating siblings in two transactions conflicts on the parent's directory.
    let e = tx_start(&mut xs);
    let f = tx_start(&mut xs);
    xs.request(0, XsType::Directory, e, nul_joined(&["/x"]))
        .unwrap();
    xs.request(0, XsType::Write, e, wr("/x/e", "1")).unwrap();
    xs.request(0, XsType::Write, f, wr("/x/f", "1")).unwrap();
    assert!(tx_end(&mut xs, f, "T").is_ok());
    assert_eq!(tx_end(&mut xs, e, "T"), Err(Errno::EAGAIN));
}

#[test]
fn transaction_commit_fires_watches() {
    let mut xs = Xenstored::new();
    xs.watch(0, "/w", "tok").unwrap();
    xs.take_events(0);
    let t = tx_start(&mut xs);
    xs.request(0, XsType::Write, t, wr("/w/a", "1")).unwrap();
    assert!(xs.take_events(0).is_empty());
    tx_end(&mut xs, t, "T").unwrap();
    assert_eq!(xs.take_events(0), vec![(s("/w/a"), s("tok"))]);
}

#[test]
fn quotas_hold_with_named_errors() {
    let mut xs = xs_with(&[1]);
    xs.quotas = Quotas {
        entries: 10,
        entry_size: 64,
        watches: 3,
        transactions: 2,
        ..Quotas::default()
    };
    let owned = xs.store().entries_of(1);
    let mut n = 0;
    let err = loop {
        match xs.write(1, &alloc::format!("data/n{n}"), b"v") {
            Ok(()) => n += 1,
            Err(e) => break e,
        }
        assert!(n < 100);
    };
    assert_eq!(err, Errno::ENOSPC);
    assert_eq!(owned + n, 10);
    // Overwriting an existing node still works; removing frees quota.
    xs.write(1, "data/n0", b"w").unwrap();
    xs.rm(1, "data/n0").unwrap();
    xs.write(1, "data/again", b"v").unwrap();
    assert_eq!(xs.write(1, "data/n1", &[b'x'; 65]), Err(Errno::ENOSPC));
    for i in 0..3 {
        xs.watch(1, &alloc::format!("data/w{i}"), "t").unwrap();
    }
    assert_eq!(xs.watch(1, "data/w9", "t"), Err(Errno::E2BIG));
    let tx = |xs: &mut Xenstored| xs.request(1, XsType::TransactionStart, 0, nul_joined(&[""]));
    tx(&mut xs).unwrap();
    tx(&mut xs).unwrap();
    assert_eq!(tx(&mut xs), Err(Errno::ENOSPC));
    // dom0 has no quota.
    for i in 0..20 {
        xs.write(0, &alloc::format!("/dom0/n{i}"), &[b'y'; 100])
            .unwrap();
    }
}

#[test]
fn introduce_release_and_special_watches() {
    let mut xs = Xenstored::new();
    xs.watch(0, "@introduceDomain", "i").unwrap();
    xs.watch(0, "@releaseDomain", "r").unwrap();
    xs.take_events(0);
    xs.introduce(4, 77, 3).unwrap();
    assert_eq!(xs.take_events(0), vec![(s("@introduceDomain"), s("i"))]);
    assert_eq!(xs.introduce(4, 77, 3), Ok(()));
    assert_eq!(xs.introduce(4, 78, 3), Err(Errno::EEXIST));
    let is = |xs: &mut Xenstored, d: &str| {
        xs.request(0, XsType::IsDomainIntroduced, 0, nul_joined(&[d]))
    };
    assert_eq!(is(&mut xs, "4"), Ok(nul_joined(&["T"])));
    assert_eq!(is(&mut xs, "5"), Ok(nul_joined(&["F"])));
    assert_eq!(
        xs.request(0, XsType::GetDomainPath, 0, nul_joined(&["4"])),
        Ok(nul_joined(&["/local/domain/4"]))
    );
    xs.release(4).unwrap();
    assert_eq!(xs.take_events(0), vec![(s("@releaseDomain"), s("r"))]);
    assert_eq!(xs.release(4), Err(Errno::ENOENT));
    assert_eq!(is(&mut xs, "4"), Ok(nul_joined(&["F"])));
    // Unintroduced domains have no connection.
    assert_eq!(xs.read(4, "/"), Err(Errno::EACCES));
}

#[test]
fn wire_parsing_and_malformed_messages() {
    let m = Msg::new(XsType::Read, 7, 0, nul_joined(&["/a"]));
    let enc = m.encode();
    assert_eq!(enc.len(), 16 + 3);
    assert_eq!(wire::parse(&enc), Parse::Msg(m.clone(), enc.len()));
    assert_eq!(wire::parse(&enc[..10]), Parse::Incomplete);
    assert_eq!(wire::parse(&enc[..17]), Parse::Incomplete);
    let mut long = enc.clone();
    long[12..16].copy_from_slice(&4097u32.to_le_bytes());
    assert_eq!(wire::parse(&long), Parse::TooLong(4097));
    assert_eq!(wire::strings(b"a\0b\0").unwrap(), vec!["a", "b"]);
    assert!(wire::strings(b"a").is_err());
    assert!(wire::strings(b"\xff\0").is_err());
    assert_eq!(wire::one_string(b"a\0b\0"), Err(Errno::EINVAL));
    assert_eq!(
        wire::path_and_value(b"/p\0v\0x").unwrap(),
        ("/p", &b"v\0x"[..])
    );
    assert!(wire::path_and_value(b"/p").is_err());
    assert!(wire::number::<u16>("70000").is_err());
    assert!(wire::number::<u16>("-1").is_err());
    let mut xs = Xenstored::new();
    // Unknown type, missing terminator: error replies naming the errno.
    let r = xs.handle(
        0,
        &Msg {
            ty: 99,
            req_id: 3,
            tx_id: 0,
            payload: vec![],
        },
    );
    assert_eq!((r.ty, r.req_id), (XsType::Error as u32, 3));
    assert_eq!(wire::error_name(&r.payload), "EINVAL");
    let r = xs.handle(0, &Msg::new(XsType::Read, 4, 0, b"/a".to_vec()));
    assert_eq!(wire::error_name(&r.payload), "EINVAL");
    let r = xs.handle(0, &Msg::new(XsType::Read, 5, 0, nul_joined(&["/nope"])));
    assert_eq!(wire::error_name(&r.payload), "ENOENT");
    let r = xs.handle(0, &Msg::new(XsType::WatchEvent, 5, 0, vec![]));
    assert_eq!(wire::error_name(&r.payload), "ENOSYS");
}

#[test]
fn ring_serving_whole_and_split_messages() {
    let mut xs = xs_with(&[1]);
    xs.write(0, "/local/domain/1/name", b"dom-one").unwrap();
    let mut page = vec![0u8; 4096];
    let msg = Msg::new(XsType::Read, 9, 0, nul_joined(&["name"])).encode();
    // Half a message: consumed, nothing answered yet.
    ring::write(&mut page[..], XS_REQ, &msg[..10]).unwrap();
    let a = xs.service_ring(1, &mut page[..]);
    assert_eq!((a.consumed, a.produced), (10, 0));
    ring::write(&mut page[..], XS_REQ, &msg[10..]).unwrap();
    let a = xs.service_ring(1, &mut page[..]);
    assert!(a.notify() && a.produced > 0);
    let r = recv_all(&mut page);
    assert_eq!((r[0].ty, r[0].req_id), (XsType::Read as u32, 9));
    assert_eq!(r[0].payload, b"dom-one");
}

#[test]
fn ring_large_replies_wait_for_space() {
    let mut xs = xs_with(&[1]);
    xs.write(0, "/local/domain/1/data/big", &[b'q'; 3000])
        .unwrap();
    let mut page = vec![0u8; 4096];
    send(&mut page, XsType::Read, 0, &nul_joined(&["data/big"]));
    let a = xs.service_ring(1, &mut page[..]);
    assert_eq!(a.produced, 1024);
    assert!(xs.has_output(1));
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while got.len() < 16 + 3000 {
        let n = ring::read(&mut page[..], XS_RSP, &mut buf).unwrap();
        got.extend_from_slice(&buf[..n]);
        xs.service_ring(1, &mut page[..]);
    }
    match wire::parse(&got) {
        Parse::Msg(m, _) => assert_eq!(m.payload, vec![b'q'; 3000]),
        other => panic!("{other:?}"),
    }
}

#[test]
fn broken_rings_are_contained() {
    let mut xs = xs_with(&[1, 2]);
    let mut page = vec![0u8; 4096];
    page.store_u32_le(XS_REQ.prod, 5000);
    xs.service_ring(1, &mut page[..]);
    assert!(xs.conn(1).unwrap().broken.is_some());
    assert_eq!(page.load_le(ring::XS_ERROR_OFFSET), 2);
    let mut page = vec![0u8; 4096];
    let mut m = Msg::new(XsType::Read, 1, 0, vec![]).encode();
    m[12..16].copy_from_slice(&5000u32.to_le_bytes());
    ring::write(&mut page[..], XS_REQ, &m).unwrap();
    xs.service_ring(2, &mut page[..]);
    assert!(xs.conn(2).unwrap().broken.is_some());
    assert_eq!(page.load_le(ring::XS_ERROR_OFFSET), 3);
    // dom0 and the store are fine.
    xs.write(0, "/ok", b"1").unwrap();
}

#[test]
fn ring_index_math() {
    assert_eq!(ring::used(0, 0, 1024), Ok(0));
    assert_eq!(ring::used(u32::MAX - 1, 2, 1024), Ok(4));
    assert!(ring::used(0, 1025, 1024).is_err());
    assert!(ring::used(10, 5, 1024).is_err());
    // Wrap-around of the free-running indices and of the ring array.
    let mut page = vec![0u8; 4096];
    let r = CONS_OUT;
    page.store_u32_le(r.cons, u32::MAX - 2);
    page.store_u32_le(r.prod, u32::MAX - 2);
    assert_eq!(ring::write(&mut page[..], r, b"abcdef").unwrap(), 6);
    assert_eq!(page.load_le(r.prod), 3);
    let mut buf = [0u8; 16];
    assert_eq!(ring::peek(&page[..], r, &mut buf).unwrap(), 6);
    assert_eq!(ring::read(&mut page[..], r, &mut buf).unwrap(), 6);
    assert_eq!(&buf[..6], b"abcdef");
    // A full ring takes no more.
    let small = RingLayout {
        data: 0,
        size: 8,
        cons: 100,
        prod: 104,
    };
    assert_eq!(ring::write(&mut page[..], small, b"0123456789").unwrap(), 8);
    assert_eq!(ring::space(&page[..], small).unwrap(), 0);
    assert_eq!(ring::write(&mut page[..], small, b"x").unwrap(), 0);
    ring::consume(&mut page[..], small, 3);
    assert_eq!(ring::space(&page[..], small).unwrap(), 3);
}

#[test]
fn xenbus_handshake() {
    use XenbusState::*;
    let mut front = Initialising;
    let mut back = Initialising;
    let mut log = Vec::new();
    for _ in 0..4 {
        back = settle(back, front, back_step, |s| log.push(("back", s)));
        front = settle(front, back, front_step, |s| log.push(("front", s)));
    }
    assert_eq!((front, back), (Connected, Connected));
    assert_eq!(
        log,
        vec![
            ("back", InitWait),
            ("front", Initialised),
            ("back", Connected),
            ("front", Connected)
        ]
    );
    assert_eq!(front_step(Connected, Closing), Some(Closing));
    assert_eq!(back_step(Connected, Closed), Some(Closed));
    assert_eq!(front_step(Initialising, Initialising), None);
    assert_eq!(xenbus::parse(b"4"), Connected);
    assert_eq!(xenbus::parse(b"junk"), Unknown);
    assert_eq!(xenbus::text(InitWait), "2");
}

// Helpers.

pub(super) fn s(x: &str) -> String {
    String::from(x)
}

pub(super) fn wr(p: &str, v: &str) -> Vec<u8> {
    let mut m = nul_joined(&[p]);
    m.extend_from_slice(v.as_bytes());
    m
}

pub(super) fn tx_start(xs: &mut Xenstored) -> u32 {
    let r = xs
        .request(0, XsType::TransactionStart, 0, nul_joined(&[""]))
        .unwrap();
    split_list(&r)[0].parse().unwrap()
}

pub(super) fn tx_end(xs: &mut Xenstored, tx: u32, how: &str) -> Result<Vec<u8>, Errno> {
    xs.request(0, XsType::TransactionEnd, tx, nul_joined(&[how]))
}

pub(super) fn send(page: &mut [u8], ty: XsType, tx: u32, payload: &[u8]) {
    let m = Msg::new(ty, 1, tx, payload.to_vec()).encode();
    assert_eq!(ring::write(page, XS_REQ, &m).unwrap(), m.len());
}

pub(super) fn recv_all(page: &mut [u8]) -> Vec<Msg> {
    let mut buf = [0u8; 1024];
    let n = ring::read(page, XS_RSP, &mut buf).unwrap();
    let mut out = Vec::new();
    let mut at = 0;
    while let Parse::Msg(m, used) = wire::parse(&buf[at..n]) {
        out.push(m);
        at += used;
    }
    assert_eq!(at, n, "partial message left");
    out
}

trait Le {
    fn store_u32_le(&mut self, off: usize, v: u32);
    fn load_le(&self, off: usize) -> u32;
}

impl Le for Vec<u8> {
    fn store_u32_le(&mut self, off: usize, v: u32) {
        self[off..off + 4].copy_from_slice(&v.to_le_bytes());
    }
    fn load_le(&self, off: usize) -> u32 {
        u32::from_le_bytes(self[off..off + 4].try_into().unwrap())
    }
}
