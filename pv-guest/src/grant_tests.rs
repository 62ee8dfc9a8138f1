//! domU self-tests of grant tables (`test=grant-*` on the command line), each printing verdict
//! lines the end-to-end tests assert.
//!
//! - `grant-offer peer=N [ro]`: offer a page to domain N as gref 8, report when it is in use
//!   (and that revoking it then fails), when it is released (and what the peer wrote), revoke.
//! - `grant-map peer=N [hold]`: map domain N's gref 8, read and write it, copy through it both
//!   ways, check a copy crossing a page is refused, unmap (unless `hold`); with `device`, map
//!   it for device access only (no PTE) and hold it.
//! - `grant-ro peer=N`: a read-only grant: a writable map and a copy into it are refused,
//!   a read-only map works.
//! - `grant-third peer=N`: a grant meant for someone else: map and copy are refused.
//! - `grant-limits me=N`: the per-domain limits (grant frames, mappings) are reported.
//! - `grant-churn peer=N`: map domain N's gref 8, touch it, unmap it, for ever, reporting
//!   every 500 rounds how many maps worked and how many were refused (the e2e test destroys
//!   the granter meanwhile, from another CPU).

use crate::grant::{self, GrantTable, Spare};
use crate::println;
use guest_abi::grant_table::{
    GnttabCopyPtr, GnttabSetupTable, GtfFlags, GNTCOPY_DEST_GREF, GNTCOPY_SOURCE_GREF,
};
use guest_abi::guest;
use guest_abi::start_info::StartInfo;
use guest_abi::types::{DomId, GrantRef};

/// The grant reference the tests use (the first one not reserved).
const GREF: GrantRef = GrantRef(8);
/// Where in the granted page the granter acknowledges that it saw the grant in use.
const ACK_AT: usize = 1024;
/// The acknowledgement text.
const ACK: &str = "busy-seen";
/// How long (yields) a mapper waits for the acknowledgement before unmapping anyway.
const ACK_WAIT_YIELDS: u32 = 1_000_000;

fn arg(cmd: &str, key: &str) -> Option<u16> {
    cmd.split_ascii_whitespace()
        .find_map(|w| w.strip_prefix(key)?.strip_prefix('=')?.parse().ok())
}

fn flag(cmd: &str, word: &str) -> bool {
    cmd.split_ascii_whitespace().any(|w| w == word)
}

/// Runs the grant self-test the command line names; false if it names none.
pub fn run(cmd: &str, si: &StartInfo) -> bool {
    let Some(test) = cmd
        .split_ascii_whitespace()
        .find_map(|w| w.strip_prefix("test=grant-"))
    else {
        return false;
    };
    let spare = Spare::new(si);
    let peer = arg(cmd, "peer").map(DomId);
    match (test, peer) {
        ("offer", Some(p)) => offer(&spare, p, flag(cmd, "ro")),
        ("map", Some(p)) if flag(cmd, "device") => device_holder(p),
        ("map", Some(p)) => mapper(&spare, p, flag(cmd, "hold")),
        ("churn", Some(p)) => churn(&spare, p),
        ("ro", Some(p)) => read_only(&spare, p),
        ("third", Some(p)) => third(&spare, p),
        ("limits", _) => match arg(cmd, "me") {
            Some(me) => limits(&spare, DomId(me)),
            None => println!("grant-limits: needs me=<own domid>"),
        },
        _ => println!("grant-{test}: unknown grant test or missing peer=N"),
    }
    true
}

fn page(va: u64) -> *mut u8 {
    va as *mut u8
}

/// Copy `s` into the page at `va` (NUL-terminated).
fn put(va: u64, at: usize, s: &str) {
    let p = page(va).wrapping_add(at);
    // SAFETY: `va` is a spare page mapped writable by the caller; `at + len + 1` fits in it.
    unsafe {
        core::ptr::copy_nonoverlapping(s.as_ptr(), p, s.len());
        p.add(s.len()).write_volatile(0);
    }
}

/// The NUL-terminated text at `va + at` (at most 64 bytes).
fn get(va: u64, at: usize) -> heapless::String<64> {
    let mut out = heapless::String::new();
    for i in 0..64 {
        // SAFETY: `va` is a mapped page and `at + 64 <= 4096` for every caller.
        let b = unsafe { page(va).add(at + i).read_volatile() };
        if b == 0 || out.push(char::from(b)).is_err() {
            break;
        }
    }
    out
}

fn offer(spare: &Spare, peer: DomId, ro: bool) {
    let (table_va, data_va) = (spare.va(1), spare.va(2));
    let table = match GrantTable::setup(table_va) {
        Ok(t) => t,
        Err(e) => return println!("grant-offer: setup_table failed: {}", e.name()),
    };
    put(data_va, 0, "grant-data");
    let mfn = match spare.mfn_of(data_va) {
        Ok(m) => m,
        Err(e) => return println!("grant-offer: cannot find the data frame: {}", e.name()),
    };
    if let Err(e) = table.grant(GREF, peer, mfn, ro) {
        return println!("grant-offer: grant failed: {}", e.name());
    }
    println!(
        "grant-offer: gref {} offered to d{} ({})",
        GREF.0,
        peer.0,
        if ro { "ro" } else { "rw" }
    );
    let busy = GtfFlags::READING | GtfFlags::WRITING;
    let mut seen_busy = false;
    loop {
        let Ok(f) = table.flags(GREF) else { return };
        if f.intersects(busy) && !seen_busy {
            seen_busy = true;
            let how = if f.contains(GtfFlags::WRITING) {
                "reading, writing"
            } else {
                "reading"
            };
            println!("grant-offer: in use ({how})");
            // Tell the mapper, through the shared page itself, that we saw it in use.
            put(data_va, ACK_AT, ACK);
            match table.end_access(GREF) {
                Err(e) => println!("grant-offer: revoke while in use refused ({})", e.name()),
                Ok(()) => println!("grant-offer: revoke while in use SUCCEEDED"),
            }
        } else if seen_busy && !f.intersects(busy) {
            println!(
                "grant-offer: released; page now says \"{}\"",
                get(data_va, 0)
            );
            match table.end_access(GREF) {
                Ok(()) => println!("grant-offer: revoked"),
                Err(e) => println!("grant-offer: revoke failed: {}", e.name()),
            }
            return;
        }
        let _ = guest::sched_yield();
    }
}

fn local(va: u64, spare: &Spare, offset: u16) -> GnttabCopyPtr {
    GnttabCopyPtr {
        u: spare.mfn_of(va).unwrap_or(0),
        domid: DomId::SELF,
        offset,
        _pad: 0,
    }
}

fn remote(peer: DomId, offset: u16) -> GnttabCopyPtr {
    GnttabCopyPtr {
        u: u64::from(GREF.0),
        domid: peer,
        offset,
        _pad: 0,
    }
}

fn mapper(spare: &Spare, peer: DomId, hold: bool) {
    let (map_va, buf_va) = (spare.va(3), spare.va(4));
    if let Err(e) = grant::map_own(map_va, None) {
        return println!("grant-map: cannot free a page to map at: {}", e.name());
    }
    let handle = match grant::map(peer, GREF, map_va, false) {
        Ok(h) => h,
        Err(s) => {
            return println!(
                "grant-map: map of d{}'s gref {} failed: {}",
                peer.0,
                GREF.0,
                s.name()
            )
        }
    };
    println!(
        "grant-map: mapped gref {} of d{} rw: \"{}\"",
        GREF.0,
        peer.0,
        get(map_va, 0)
    );
    put(map_va, 0, "written through the mapping");
    // Copy from the grant into a local page, and from a local page into the grant.
    put(buf_va, 0, "");
    match grant::copy(
        remote(peer, 0),
        local(buf_va, spare, 0),
        16,
        GNTCOPY_SOURCE_GREF,
    ) {
        Ok(()) => println!("grant-copy: from grant: \"{}\"", get(buf_va, 0)),
        Err(s) => println!("grant-copy: from grant failed: {}", s.name()),
    }
    put(buf_va, 100, "copied in");
    match grant::copy(
        local(buf_va, spare, 100),
        remote(peer, 200),
        10,
        GNTCOPY_DEST_GREF,
    ) {
        Ok(()) => println!("grant-copy: to grant: \"{}\"", get(map_va, 200)),
        Err(s) => println!("grant-copy: to grant failed: {}", s.name()),
    }
    match grant::copy(
        remote(peer, 4090),
        local(buf_va, spare, 0),
        32,
        GNTCOPY_SOURCE_GREF,
    ) {
        Ok(()) => println!("grant-copy: crossing a page: ALLOWED"),
        Err(s) => println!("grant-copy: crossing a page: {}", s.name()),
    }
    // Keep the mapping until the granter has seen it in use (it writes an acknowledgement
    // into the shared page), so the test does not depend on scheduling order.
    let mut waited = 0;
    while get(map_va, ACK_AT).as_str() != ACK && waited < ACK_WAIT_YIELDS {
        let _ = guest::sched_yield();
        waited += 1;
    }
    if waited == ACK_WAIT_YIELDS {
        println!("grant-map: the granter never acknowledged the mapping");
    }
    if hold {
        return println!("grant-map: holding the mapping");
    }
    match grant::unmap(handle, map_va) {
        Ok(()) => println!("grant-map: unmapped"),
        Err(s) => println!("grant-map: unmap failed: {}", s.name()),
    }
}

/// Map, touch and unmap the peer's gref 8 for ever, counting what works and what is refused.
fn churn(spare: &Spare, peer: DomId) {
    let map_va = spare.va(3);
    if let Err(e) = grant::map_own(map_va, None) {
        return println!("grant-churn: cannot free a page to map at: {}", e.name());
    }
    let (mut rounds, mut mapped, mut refused) = (0u64, 0u64, 0u64);
    let mut last = "none";
    loop {
        match grant::map(peer, GREF, map_va, false) {
            Ok(h) => {
                mapped += 1;
                // Touch it: the frame is the granter's until the unmap, whatever happens to
                // the granter meanwhile.
                put(map_va, 2048, "churn");
                if let Err(s) = grant::unmap(h, map_va) {
                    println!("grant-churn: unmap failed: {}", s.name());
                }
            }
            Err(s) => {
                refused += 1;
                last = s.name();
            }
        }
        rounds += 1;
        if rounds % 500 == 0 {
            println!(
                "grant-churn: {rounds} rounds, {mapped} mapped, {refused} refused (last {last})"
            );
        }
    }
}

/// Map the peer's gref 8 for device access only (no PTE of ours) and hold it.
fn device_holder(peer: DomId) {
    match grant::map_device(peer, GREF) {
        Ok(_) => println!(
            "grant-map: mapped gref {} of d{} for device access, holding it",
            GREF.0, peer.0
        ),
        Err(s) => println!(
            "grant-map: device map of d{}'s gref {} failed: {}",
            peer.0,
            GREF.0,
            s.name()
        ),
    }
}

fn read_only(spare: &Spare, peer: DomId) {
    let va = spare.va(3);
    if let Err(e) = grant::map_own(va, None) {
        return println!("grant-ro: cannot free a page to map at: {}", e.name());
    }
    match grant::map(peer, GREF, va, false) {
        Ok(_) => println!("grant-ro: writable map of a read-only grant: ALLOWED"),
        Err(s) => println!("grant-ro: writable map of a read-only grant: {}", s.name()),
    }
    // Before the read-only map: once that is unmapped the granter revokes the grant.
    match grant::copy(
        local(spare.va(4), spare, 0),
        remote(peer, 0),
        4,
        GNTCOPY_DEST_GREF,
    ) {
        Ok(()) => println!("grant-ro: copy into a read-only grant: ALLOWED"),
        Err(s) => println!("grant-ro: copy into a read-only grant: {}", s.name()),
    }
    match grant::map(peer, GREF, va, true) {
        Ok(h) => {
            println!("grant-ro: read-only map: \"{}\"", get(va, 0));
            let _ = grant::unmap(h, va);
        }
        Err(s) => println!("grant-ro: read-only map failed: {}", s.name()),
    }
}

fn third(spare: &Spare, peer: DomId) {
    let va = spare.va(3);
    if let Err(e) = grant::map_own(va, None) {
        return println!("grant-third: cannot free a page to map at: {}", e.name());
    }
    match grant::map(peer, GREF, va, true) {
        Ok(_) => println!("grant-third: map of d{}'s gref {}: ALLOWED", peer.0, GREF.0),
        Err(s) => println!(
            "grant-third: map of d{}'s gref {}: {}",
            peer.0,
            GREF.0,
            s.name()
        ),
    }
    match grant::copy(
        remote(peer, 0),
        local(spare.va(4), spare, 0),
        4,
        GNTCOPY_SOURCE_GREF,
    ) {
        Ok(()) => println!(
            "grant-third: copy from d{}'s gref {}: ALLOWED",
            peer.0, GREF.0
        ),
        Err(s) => println!(
            "grant-third: copy from d{}'s gref {}: {}",
            peer.0,
            GREF.0,
            s.name()
        ),
    }
}

fn limits(spare: &Spare, me: DomId) {
    let mut frames = [0u64; 128];
    let mut op = GnttabSetupTable {
        dom: DomId::SELF,
        nr_frames: 65,
        frame_list: frames.as_mut_ptr() as u64,
        ..Default::default()
    };
    match grant::setup_table(&mut op) {
        Ok(()) => println!("grant-limits: setup_table(65 frames): ALLOWED"),
        Err(_) => println!(
            "grant-limits: setup_table(65 frames): {}",
            guest_abi::grant_table::GntStatus(op.status).name()
        ),
    }
    let table = match GrantTable::setup(spare.va(1)) {
        Ok(t) => t,
        Err(e) => return println!("grant-limits: setup_table failed: {}", e.name()),
    };
    let Ok(mfn) = spare.mfn_of(spare.va(2)) else {
        return;
    };
    if table.grant(GREF, me, mfn, true).is_err() {
        return println!("grant-limits: grant failed");
    }
    let mut handles = alloc::vec::Vec::new();
    let stop = loop {
        match grant::map_device(me, GREF) {
            Ok(h) => handles.push(h),
            Err(s) => break s,
        }
        if handles.len() > 100_000 {
            break guest_abi::grant_table::GntStatus::OKAY;
        }
    };
    println!(
        "grant-limits: {} mappings, then {}",
        handles.len(),
        stop.name()
    );
    let unmapped = handles
        .iter()
        .filter(|&&h| grant::unmap(h, 0).is_ok())
        .count();
    println!(
        "grant-limits: {unmapped} unmapped; revoke: {:?}",
        table.end_access(GREF).map_err(|e| e.name())
    );
}
