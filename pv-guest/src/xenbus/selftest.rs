//! domU XenStore self-tests (`test=xs-*`), each printing verdict lines the end-to-end tests
//! assert:
//!
//! - `xs-perms peer=N`: reads its own `name`; reading, listing or writing domain N's
//!   nodes is refused (`EACCES`); writing its own `data/` works.
//! - `xs-watch`: a watch fires once when set, once per change below it (also for a change
//!   dom0 makes), never for unrelated nodes.
//! - `xs-tx`: two transactions change the same node; the second commit gets `EAGAIN`, a
//!   retry succeeds.
//! - `xs-quota`: floods writes until refused; an over-long value, too many watches and
//!   too many transactions are refused too; the errno is named each time.

use super::XsClient;
use crate::println;
use alloc::format;
use alloc::string::String;
use guest_abi::errno::Errno;

/// How long to wait for watch events that should (or should not) come.
const EVENT_NS: u64 = 300_000_000;

fn res<T>(r: &Result<T, Errno>) -> &'static str {
    match r {
        Ok(_) => "OK",
        Err(e) => e.name(),
    }
}

/// Runs the test the command line names; false if none.
pub fn run(cmd: &str, xs: Option<&mut XsClient>) -> bool {
    let Some(test) = crate::cmdline::param(cmd, "test").filter(|t| t.starts_with("xs-")) else {
        return false;
    };
    let Some(xs) = xs else {
        println!("{test}: FAILED: no xenstore connection");
        return true;
    };
    match test {
        "xs-perms" => perms(xs, cmd),
        "xs-watch" => watch(xs),
        "xs-tx" => tx(xs),
        "xs-quota" => quota(xs),
        "xs-flood" => super::flood::run(xs, cmd),
        _ => println!("{test}: unknown test"),
    }
    true
}

fn perms(xs: &mut XsClient, cmd: &str) {
    let peer = crate::cmdline::param(cmd, "peer").unwrap_or("0");
    match xs.read("name") {
        Ok(n) => println!("xs-perms: own name: \"{n}\""),
        Err(e) => println!("xs-perms: own name: {}", e.name()),
    }
    let r = xs.read(&format!("/local/domain/{peer}/name"));
    println!("xs-perms: read d{peer} name: {}", res(&r));
    let r = xs.directory(&format!("/local/domain/{peer}"));
    println!("xs-perms: list d{peer}: {}", res(&r));
    let r = xs.write(&format!("/local/domain/{peer}/data/evil"), "x");
    println!("xs-perms: write d{peer} data: {}", res(&r));
    let r = xs.write("name", "renamed");
    println!("xs-perms: write own name: {}", res(&r));
    let r = xs.write("data/mine", "v");
    println!("xs-perms: write own data: {}", res(&r));
    let r = xs.read("data/mine");
    println!(
        "xs-perms: read back own data: {}",
        r.unwrap_or_else(|e| String::from(e.name()))
    );
}

/// Counts the events of this test's watches (tokens `tok...`; the console front end's
/// watch is not ours) that arrive within [`EVENT_NS`], printing each.
fn events(xs: &mut XsClient, what: &str) -> usize {
    let mut n = 0;
    while let Some((p, t)) = xs.next_event(EVENT_NS) {
        if t.starts_with("tok") {
            println!("xs-watch: {what}: event {p} {t}");
            n += 1;
        }
    }
    n
}

fn watch(xs: &mut XsClient) {
    let r = xs.watch("data/w", "tok");
    println!("xs-watch: watch data/w: {}", res(&r));
    let n = events(xs, "set");
    println!("xs-watch: set: {n} event(s)");
    for (i, v) in ["1", "2"].iter().enumerate() {
        let _ = xs.write("data/w/a", v);
        let n = events(xs, "write");
        println!("xs-watch: write {}: {n} event(s)", i + 1);
    }
    let _ = xs.write("data/other", "x");
    let n = events(xs, "unrelated");
    println!("xs-watch: unrelated write: {n} event(s)");
    let _ = xs.rm("data/w");
    let n = events(xs, "rm");
    println!("xs-watch: rm: {n} event(s)");
    // The watch outlives the node it watched.
    println!("xs-watch: waiting for dom0 to write data/w/fromdom0");
    let dom0_event = loop {
        match xs.next_event(30_000_000_000) {
            Some((_, t)) if !t.starts_with("tok") => continue,
            e => break e,
        }
    };
    if let Some((p, t)) = dom0_event {
        println!("xs-watch: dom0's write: event {p} {t}");
        let n = events(xs, "after");
        println!("xs-watch: then {n} more event(s)");
    } else {
        println!("xs-watch: no event for dom0's write");
    }
}

fn tx(xs: &mut XsClient) {
    let _ = xs.write("data/c", "0");
    let (Ok(t1), Ok(t2)) = (xs.tx_start(), xs.tx_start()) else {
        println!("xs-tx: FAILED: cannot start transactions");
        return;
    };
    let a = xs.read_tx(t1, "data/c");
    let b = xs.read_tx(t2, "data/c");
    println!(
        "xs-tx: both read {} {}",
        a.unwrap_or_default(),
        b.unwrap_or_default()
    );
    let _ = xs.write_tx(t1, "data/c", b"1");
    let _ = xs.write_tx(t2, "data/c", b"2");
    println!("xs-tx: first commit: {}", res(&xs.tx_end(t1, true)));
    println!("xs-tx: second commit: {}", res(&xs.tx_end(t2, true)));
    println!("xs-tx: value now {}", xs.read("data/c").unwrap_or_default());
    // The usual retry loop.
    let mut tries = 0;
    loop {
        tries += 1;
        let Ok(t) = xs.tx_start() else { break };
        let v: u32 = xs
            .read_tx(t, "data/c")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let _ = xs.write_tx(t, "data/c", format!("{}", v + 10).as_bytes());
        match xs.tx_end(t, true) {
            Err(Errno::EAGAIN) if tries < 5 => continue,
            r => {
                println!("xs-tx: retry commit: {} after {tries} tries", res(&r));
                break;
            }
        }
    }
    println!("xs-tx: value now {}", xs.read("data/c").unwrap_or_default());
}

fn quota(xs: &mut XsClient) {
    let mut n = 0u32;
    let err = loop {
        // Fifty per directory: a node's children count toward its size (2048 bytes).
        match xs.write(&format!("data/f{}/n{}", n / 50, n % 50), "x") {
            Ok(()) => n += 1,
            Err(e) => break e,
        }
        if n >= 5000 {
            break Errno::EINVAL;
        }
    };
    println!("xs-quota: flood refused after {n} writes: {}", err.name());
    let big = alloc::vec![b'b'; 4000];
    println!(
        "xs-quota: 4000-byte value: {}",
        res(&xs.write_tx(0, "data/f0/n0", &big))
    );
    let mut w = 0;
    let werr = loop {
        match xs.watch(&format!("data/flood{w}"), "q") {
            Ok(()) => w += 1,
            Err(e) => break e,
        }
        if w >= 1000 {
            break Errno::EINVAL;
        }
    };
    // Drain the events of the new watches.
    while xs.next_event(10_000_000).is_some() {}
    println!("xs-quota: watches refused after {w}: {}", werr.name());
    let mut t = 0;
    let terr = loop {
        match xs.tx_start() {
            Ok(_) => t += 1,
            Err(e) => break e,
        }
        if t >= 1000 {
            break Errno::EINVAL;
        }
    };
    println!("xs-quota: transactions refused after {t}: {}", terr.name());
    println!(
        "xs-quota: still served: name = \"{}\"",
        xs.read("name").unwrap_or_default()
    );
}
