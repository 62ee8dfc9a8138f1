//! `test=xs-flood [bigdir=<path>]`: a hostile XenStore client. It performs each attack of
//! finding 7 through its real ring, attacks that would take dom0 down (or grow its memory
//! without bound) if the xenstored bound each targets were missing, and prints one verdict
//! per attack: `xs-flood: <attack>: refused (<errno>...)` or `contained (<how>)`, else
//! `FAILED: <what got through>`. Each attack cleans up after itself.
//!
//! - `long-path`: an absolute path 2049 bytes below its home (`EINVAL`).
//! - `long-children`: 999 children with 200-byte names in one directory (`ENOSPC`: a
//!   node's children count toward its size).
//! - `big-directory`: lists a dom0-made directory (`bigdir=`) whose listing exceeds one
//!   payload (`E2BIG`), then lists it with `XS_DIRECTORY_PART`.
//! - `path-memory`: nodes with ~1 KiB paths and 2 KiB values until refused (`ENOMEM`:
//!   paths count toward the domain's memory).
//! - `ten-transactions`: ten transactions each writing 2000-byte values until refused
//!   (`ENOMEM`: transactions count toward it too).
//! - `unread-replies`: 46 ring-fills of `XS_READ`s of a 2048-byte value without reading
//!   the response ring (xenstored stops taking requests), then reads.
//! - `watch-events`: 100 watches, then a commit that changes 240 nodes with ~800-byte
//!   paths (24000 events) while not reading (events past the limit are dropped).
//!
//! Checked by removing each bound in turn (the default 64 MiB dom0, 20 MiB of heap): without
//! the path quota the 2065-byte path is written; without children in a node's size 990
//! children are made and one `XS_DIRECTORY` queues a 198 KB reply (which also jams the
//! client's ring); without the memory quotas one domain holds 9.7 MB in ten transactions
//! and its plain nodes stop only at the node count; without the unread-output bound
//! xenstored takes all 1884 requests (3.9 MB of replies queued, more with more fills);
//! without the watch-event bound dom0 runs out of heap ("memory allocation of 774 bytes
//! failed") and the machine stops.

use super::{wait, XsClient};
use crate::println;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use dom0_tools::xenstore::daemon::split_list;
use dom0_tools::xenstore::wire::{nul_joined, Msg};
use guest_abi::errno::Errno;
use guest_abi::io::xenstore::{XsType, XENSTORE_PAYLOAD_MAX};

fn name(e: &Errno) -> &'static str {
    e.name()
}

/// A name of `len` bytes starting with `tag`.
fn long(tag: &str, len: usize) -> String {
    let mut s = String::from(tag);
    while s.len() < len {
        s.push('x');
    }
    s
}

/// `levels` directories of 190-byte names (a deep path whose nodes each have one child).
fn chain(levels: usize) -> String {
    let mut p = String::new();
    for l in 0..levels {
        p.push('/');
        p.push_str(&long(&format!("l{l}-"), 190));
    }
    p
}

pub fn run(xs: &mut XsClient, cmd: &str) {
    long_path(xs);
    long_children(xs);
    if let Some(dir) = crate::cmdline::param(cmd, "bigdir") {
        big_directory(xs, dir);
    }
    path_memory(xs);
    ten_transactions(xs);
    unread_replies(xs);
    watch_events(xs);
    println!(
        "xs-flood: still served: name = \"{}\"",
        xs.read("name").unwrap_or_default()
    );
}

fn long_path(xs: &mut XsClient) {
    // Absolute: the protocol itself refuses relative paths over 2048 bytes; an absolute
    // one may have 3072, so this one is refused by the path quota alone.
    let home = format!("/local/domain/{}", xs.read("domid").unwrap_or_default());
    let p = format!("{home}/data/{}", long("p", 2044));
    match xs.write(&p, "v") {
        Err(e) => println!("xs-flood: long-path: refused ({})", name(&e)),
        Ok(()) => {
            println!("xs-flood: long-path: FAILED: a path of {} bytes", p.len());
            let _ = xs.rm(&p);
        }
    }
}

fn long_children(xs: &mut XsClient) {
    let mut n = 0;
    let err = loop {
        if n == 999 {
            break None;
        }
        match xs.write(&format!("data/dir/{}", long(&format!("c{n}-"), 200)), "") {
            Ok(()) => n += 1,
            Err(e) => break Some(e),
        }
    };
    let listed = xs
        .request(XsType::Directory, 0, nul_joined(&["data/dir"]))
        .map(|r| r.len());
    match (err, listed) {
        (Some(e), Ok(len)) if len <= XENSTORE_PAYLOAD_MAX => println!(
            "xs-flood: long-children: refused ({} after {n} children; listing {len} bytes)",
            name(&e)
        ),
        (e, l) => println!("xs-flood: long-children: FAILED: {n} children ({e:?}), listing {l:?}"),
    }
    let _ = xs.rm("data/dir");
}

fn big_directory(xs: &mut XsClient, dir: &str) {
    match xs.request(XsType::Directory, 0, nul_joined(&[dir])) {
        Err(e) => println!("xs-flood: big-directory: refused ({})", name(&e)),
        Ok(r) => println!("xs-flood: big-directory: FAILED: a {}-byte reply", r.len()),
    }
    // What a client does instead: the directory in parts.
    let mut names = 0;
    let mut off = 0usize;
    let mut parts = 0;
    loop {
        let r = match xs.request(
            XsType::DirectoryPart,
            0,
            nul_joined(&[dir, &format!("{off}")]),
        ) {
            Ok(r) => r,
            Err(e) => {
                println!("xs-flood: directory-part: {}", name(&e));
                return;
            }
        };
        parts += 1;
        let done = r.ends_with(&[0, 0]);
        for n in split_list(&r).iter().skip(1).filter(|n| !n.is_empty()) {
            off += n.len() + 1;
            names += 1;
        }
        if done || parts > 100 {
            break;
        }
    }
    println!("xs-flood: directory-part: listed in {parts} parts: {names} children");
}

fn path_memory(xs: &mut XsClient) {
    let deep = chain(5);
    let value = alloc::vec![b'm'; 2048];
    let mut n = 0;
    let err = loop {
        if n == 1000 {
            break None;
        }
        // Six nodes a write, their paths 10 to 1000 bytes long.
        match xs.write_tx(0, &format!("data/m/{n}{deep}"), &value) {
            Ok(()) => n += 1,
            Err(e) => break Some(e),
        }
    };
    match err {
        Some(e) if e != Errno::ENOSPC => println!(
            "xs-flood: path-memory: refused ({} after {n} writes of six nodes)",
            name(&e),
        ),
        e => println!("xs-flood: path-memory: FAILED: {n} writes ({e:?})"),
    }
    let _ = xs.rm("data/m");
}

fn ten_transactions(xs: &mut XsClient) {
    let value = alloc::vec![b't'; 2000];
    let mut txs = Vec::new();
    for _ in 0..10 {
        match xs.tx_start() {
            Ok(t) => txs.push(t),
            Err(e) => println!("xs-flood: ten-transactions: start: {}", name(&e)),
        }
    }
    let mut held = 0usize;
    let mut errs = Vec::new();
    for (k, &t) in txs.iter().enumerate() {
        for i in 0..1000 {
            match xs.write_tx(t, &format!("data/t{k}/{}/{}", i / 50, i % 50), &value) {
                Ok(()) => held += value.len(),
                Err(e) => {
                    errs.push(e);
                    break;
                }
            }
        }
    }
    for t in txs {
        let _ = xs.tx_end(t, false);
    }
    let first = errs.first().map_or("none", name);
    if errs.len() == 10 && held < 2 << 20 {
        println!(
            "xs-flood: ten-transactions: contained ({first} after {} KiB in 10 transactions)",
            held >> 10
        );
    } else {
        println!(
            "xs-flood: ten-transactions: FAILED: {} KiB held, {} refused",
            held >> 10,
            errs.len()
        );
    }
}

fn unread_replies(xs: &mut XsClient) {
    let _ = xs.write_tx(0, "data/big", &[b'v'; 2048]);
    let len = Msg::new(XsType::Read, 0, 0, nul_joined(&["data/big"]))
        .encode()
        .len();
    let offered = 46 * 1024 / len;
    let mut sent = 0;
    let mut stuck = false;
    while sent < offered {
        if xs.request_space() < len && !wait::until(300_000_000, || xs.request_space() >= len) {
            stuck = true;
            break;
        }
        let id = xs.next_req_id();
        let m = Msg::new(XsType::Read, id, 0, nul_joined(&["data/big"])).encode();
        xs.send_raw(&m);
        sent += 1;
    }
    let waiting = (1024 - xs.request_space()).div_ceil(len);
    let taken = sent - waiting;
    if stuck {
        println!(
            "xs-flood: unread-replies: contained (xenstored took {taken} of {offered} requests, then left them on the ring)"
        );
    } else {
        println!(
            "xs-flood: unread-replies: FAILED: xenstored took all {offered} requests while we read nothing"
        );
    }
    // Now read: every request is answered.
    let mut got = 0;
    let mut idle = 0;
    while got < sent && idle < 50 {
        let msgs = xs.take_raw();
        if msgs.is_empty() {
            idle += 1;
            wait::until(100_000_000, || xs.response_pending());
            continue;
        }
        idle = 0;
        got += msgs
            .iter()
            .filter(|m| m.ty == XsType::Read as u32 && m.payload.len() == 2048)
            .count();
    }
    println!("xs-flood: reading-again: served once read: {got} of {sent} replies");
    let _ = xs.rm("data/big");
}

fn watch_events(xs: &mut XsClient) {
    const WATCHES: usize = 100;
    const NODES: usize = 240;
    let base = "data/w";
    let _ = xs.write(base, "");
    let mut w = 0;
    for i in 0..WATCHES {
        if xs.watch(base, &format!("w{i}")).is_ok() {
            w += 1;
        }
    }
    // The initial events of the watches.
    while xs.next_event(50_000_000).is_some() {}
    let deep = format!("{base}{}", chain(4));
    let Ok(t) = xs.tx_start() else {
        println!("xs-flood: watch-events: no transaction");
        return;
    };
    let mut planted = 0;
    for i in 0..NODES {
        if xs
            .write_tx(t, &format!("{deep}/{}/{}", i / 20, i % 20), b"e")
            .is_ok()
        {
            planted += 1;
        }
    }
    // Commit without reading: every change fires every watch at our connection.
    let id = xs.next_req_id();
    xs.send_raw(&Msg::new(XsType::TransactionEnd, id, t, nul_joined(&["T"])).encode());
    wait::until(1_000_000_000, || false);
    let expected = planted * w;
    let mut events = 0;
    let mut commit = None;
    let mut idle = 0;
    while idle < 10 {
        let msgs = xs.take_raw();
        if msgs.is_empty() {
            idle += 1;
            wait::until(50_000_000, || xs.response_pending());
            continue;
        }
        idle = 0;
        for m in msgs {
            if m.ty == XsType::WatchEvent as u32 {
                if split_list(&m.payload)
                    .get(1)
                    .is_some_and(|t| t.starts_with('w'))
                {
                    events += 1;
                }
            } else if m.req_id == id {
                commit = Some(m.ty);
            }
        }
    }
    let committed = commit == Some(XsType::TransactionEnd as u32);
    if committed && events < expected {
        println!(
            "xs-flood: watch-events: contained ({events} of {expected} events delivered, the rest dropped)"
        );
    } else {
        println!(
            "xs-flood: watch-events: FAILED: {events} of {expected} events, commit {commit:?}"
        );
    }
    for i in 0..WATCHES {
        let _ = xs.request(XsType::Unwatch, 0, nul_joined(&[base, &format!("w{i}")]));
    }
    let _ = xs.rm(base);
}
