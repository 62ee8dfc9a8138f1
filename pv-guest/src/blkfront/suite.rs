//! The domU block tests, on the first disk (`device/vbd/51712`, xvda), one stable line per
//! step (`blk: <step>: ok` or `blk: <step>: FAILED (<why>)`, `skipped (<why>)` for what the
//! back end does not offer) and a last `blk: N passed, M failed`.
//!
//! `test=blk [seed=N] [base=S] [max-ring-order=K] [max-indirect=M]`: connects (asking for a
//! ring of at most 2^K pages and M indirect segments, if given) and prints the connection,
//! then writes a pattern (each sector holds its number and the seed: [`pattern`]) over
//! sectors `S..S+870`, reading each part back: the whole region first under the inverted
//! seed (so that a later read cannot pass on stale data), then one sector, a transfer of
//! partial page segments, 11 segments, an indirect request of 32 segments, 16 requests in
//! flight at once; a flush; the whole region read back; reads and a write beyond the end
//! (must be BLKIF_RSP_ERROR); and a clean disconnect (every grant released).
//!
//! `test=blk-hostile`: sends malformed requests one at a time and prints the answer to each
//! (`blk-hostile: <step>: ok (status -1 BLKIF_RSP_ERROR)`); an error status or the back end
//! disconnecting is right, `BLKIF_RSP_OKAY` or silence while connected is not. Last, it
//! publishes a request producer far beyond the ring; then it disconnects and says that it
//! still runs.

use super::device::{Blkfront, Done, Limits, Shape};
use super::geometry::{MAX_DIRECT_SEGMENTS, SECTORS_PER_PAGE, SEGMENTS_PER_INDIRECT_PAGE};
use super::pattern;
use super::request;
use crate::cmdline;
use crate::println;
use crate::xenbus::XsClient;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;
use guest_abi::io::blkif::*;
use guest_abi::io::xenbus::XenbusState;
use guest_abi::start_info::StartInfo;
use guest_abi::types::GrantRef;
use zerocopy::IntoBytes;

/// The disk the tests use: xvda.
const DISK: u32 = 51712;
/// How long one request may take.
const IO_NS: u64 = 10_000_000_000;
/// How long a hostile request waits for its answer.
const HOSTILE_NS: u64 = 5_000_000_000;
/// Sectors of each part of the region, in order from its start.
const SINGLE: u64 = 1;
const PARTIAL: u64 = 13;
const MULTI: u64 = (MAX_DIRECT_SEGMENTS * SECTORS_PER_PAGE) as u64;
const INDIRECT_PAGES: usize = 32;
const INDIRECT: u64 = (INDIRECT_PAGES * SECTORS_PER_PAGE) as u64;
const IN_FLIGHT: usize = 16;
const IN_FLIGHT_SECTORS: u64 = 32;
/// The whole region.
const REGION: u64 = SINGLE + PARTIAL + MULTI + INDIRECT + IN_FLIGHT as u64 * IN_FLIGHT_SECTORS;
/// The in-page offset of the partial-segments transfer (3 + 8 + 2 sectors).
const PARTIAL_OFFSET: u8 = 5;

/// Runs `test=blk` or `test=blk-hostile` if the command line names one; false if not.
pub fn run(cmd: &str, si: &StartInfo, xs: Option<&mut XsClient>) -> bool {
    let hostile = match cmdline::param(cmd, "test") {
        Some("blk") => false,
        Some("blk-hostile") => true,
        _ => return false,
    };
    let tag = if hostile { "blk-hostile" } else { "blk" };
    let mut r = Report {
        tag,
        passed: 0,
        failed: 0,
    };
    let Some(xs) = xs else {
        r.step("connect", Err(String::from("no XenStore")));
        r.finish();
        return true;
    };
    let mut limits = Limits::default();
    if let Some(o) = num(cmd, "max-ring-order") {
        limits.ring_order = o.min(u64::from(u32::MAX)) as u32;
    }
    if let Some(n) = num(cmd, "max-indirect") {
        limits.indirect = n.min(usize::MAX as u64) as usize;
    }
    let dev = match Blkfront::connect(xs, si, DISK, limits) {
        Ok(d) => d,
        Err(e) => {
            r.step("connect", Err(e));
            r.finish();
            return true;
        }
    };
    println!(
        "{tag}: {}: {} sectors, ring order {}, indirect {}, persistent {}",
        dev.name,
        dev.disk.sectors,
        dev.neg.ring_order,
        dev.neg.indirect_segments,
        u8::from(dev.neg.persistent)
    );
    r.step("connect", Ok(()));
    if hostile {
        hostile_run(&mut r, xs, dev, cmd);
        println!("blk-hostile: domain still running");
    } else {
        pattern_run(&mut r, xs, dev, cmd);
    }
    r.finish();
    true
}

/// Counts and prints the steps.
struct Report {
    tag: &'static str,
    passed: u32,
    failed: u32,
}

impl Report {
    fn step(&mut self, name: &str, r: Result<(), String>) {
        match r {
            Ok(()) => {
                self.passed += 1;
                println!("{}: {name}: ok", self.tag);
            }
            Err(e) => {
                self.failed += 1;
                println!("{}: {name}: FAILED ({e})", self.tag);
            }
        }
    }

    /// A step that passed with a detail worth printing.
    fn ok_with(&mut self, name: &str, detail: &str) {
        self.passed += 1;
        println!("{}: {name}: ok ({detail})", self.tag);
    }

    fn skip(&self, name: &str, why: &str) {
        println!("{}: {name}: skipped ({why})", self.tag);
    }

    fn finish(&self) {
        println!(
            "{}: {} passed, {} failed",
            self.tag, self.passed, self.failed
        );
    }
}

/// Runs `f` as step `name`; back-end faults seen meanwhile (responses with ids not in
/// flight, wrong operations) fail it too.
fn step(
    r: &mut Report,
    dev: &mut Blkfront,
    name: &str,
    f: impl FnOnce(&mut Blkfront) -> Result<(), String>,
) {
    let before = dev.faults.len();
    let mut res = f(dev);
    if dev.faults.len() > before && res.is_ok() {
        res = Err(dev.faults[before..].join("; "));
    }
    r.step(name, res);
}

fn num(cmd: &str, key: &str) -> Option<u64> {
    cmdline::param(cmd, key).and_then(|v| v.parse().ok())
}

/// One request, waited for.
fn io(
    dev: &mut Blkfront,
    sector: u64,
    offset: u8,
    sectors: usize,
    data: Option<&[u8]>,
    shape: Shape,
) -> Result<Done, String> {
    let what = if data.is_some() { "write" } else { "read" };
    let id = dev
        .submit(sector, offset, sectors, data, shape)
        .map_err(|e| format!("{what} of {sectors} sectors at {sector}: {e}"))?;
    dev.wait(id, IO_NS)
        .map_err(|e| format!("{what} of {sectors} sectors at {sector}: {e}"))
}

fn write_pattern(
    dev: &mut Blkfront,
    first: u64,
    sectors: u64,
    offset: u8,
    shape: Shape,
    seed: u64,
) -> Result<(), String> {
    let mut buf = vec![0u8; sectors as usize * BLKIF_SECTOR_SIZE];
    pattern::fill(&mut buf, first, seed);
    io(dev, first, offset, sectors as usize, Some(&buf), shape)?
        .ok()
        .map_err(|e| format!("write of {sectors} sectors at {first}: {e}"))
}

fn read_verify(
    dev: &mut Blkfront,
    first: u64,
    sectors: u64,
    offset: u8,
    shape: Shape,
    seed: u64,
) -> Result<(), String> {
    let d = io(dev, first, offset, sectors as usize, None, shape)?;
    d.ok()
        .map_err(|e| format!("read of {sectors} sectors at {first}: {e}"))?;
    pattern::verify(&d.data, first, seed).map_err(|m| m.to_string())
}

/// `sectors` from `first` in transfers of at most `chunk` sectors (one request each,
/// waited for), written (`write`) or read and verified.
fn chunked(
    dev: &mut Blkfront,
    first: u64,
    sectors: u64,
    chunk: u64,
    shape: Shape,
    seed: u64,
    write: bool,
) -> Result<(), String> {
    let mut at = first;
    while at < first + sectors {
        let n = chunk.min(first + sectors - at);
        if write {
            write_pattern(dev, at, n, 0, shape, seed)?;
        } else {
            read_verify(dev, at, n, 0, shape, seed)?;
        }
        at += n;
    }
    Ok(())
}

/// The largest transfer for reading the region back: an indirect request of up to 128
/// pages if offered, else 11 pages.
fn big_chunk(dev: &Blkfront) -> (u64, Shape) {
    if dev.neg.indirect_segments > MAX_DIRECT_SEGMENTS {
        let pages = dev.neg.indirect_segments.min(super::device::DATA_PAGES);
        ((pages * SECTORS_PER_PAGE) as u64, Shape::Indirect)
    } else {
        (MULTI, Shape::Direct)
    }
}

/// A response that must be BLKIF_RSP_ERROR.
fn want_error(d: Result<Done, String>) -> Result<(), String> {
    let d = d?;
    if d.status == BLKIF_RSP_ERROR {
        Ok(())
    } else {
        Err(format!(
            "status {} ({}), want BLKIF_RSP_ERROR",
            d.status,
            request::status_name(d.status)
        ))
    }
}

fn pattern_run(r: &mut Report, xs: &mut XsClient, mut dev: Blkfront, cmd: &str) {
    let base = num(cmd, "base").unwrap_or(0);
    // Without a seed, one from the clock: runs on the same disk differ.
    let seed = num(cmd, "seed").unwrap_or_else(|| crate::time::now() % 1_000_000_007);
    println!("blk: seed {seed}, sectors {base}..{}", base + REGION);
    if dev.disk.readonly() {
        println!(
            "blk: {}: read-only (VDISK_READONLY): writes must fail",
            dev.name
        );
    }
    if base + REGION > dev.disk.sectors {
        r.step(
            "region",
            Err(format!(
                "sectors {base}..{} lie beyond the disk's {}",
                base + REGION,
                dev.disk.sectors
            )),
        );
        return;
    }
    let d = &mut dev;
    let (single, partial) = (base, base + SINGLE);
    let multi = partial + PARTIAL;
    let indirect = multi + MULTI;
    let in_flight = indirect + INDIRECT;

    step(r, d, "prepare", |d| {
        chunked(d, base, REGION, MULTI, Shape::Direct, !seed, true)?;
        chunked(d, base, REGION, MULTI, Shape::Direct, !seed, false)
    });
    step(r, d, "single-sector", |d| {
        write_pattern(d, single, SINGLE, 0, Shape::Direct, seed)?;
        read_verify(d, single, SINGLE, 0, Shape::Direct, seed)
    });
    step(r, d, "partial-segments", |d| {
        write_pattern(d, partial, PARTIAL, PARTIAL_OFFSET, Shape::Direct, seed)?;
        read_verify(d, partial, PARTIAL, PARTIAL_OFFSET, Shape::Direct, seed)
    });
    step(r, d, "multi-segment", |d| {
        write_pattern(d, multi, MULTI, 0, Shape::Direct, seed)?;
        read_verify(d, multi, MULTI, 0, Shape::Direct, seed)
    });
    if d.neg.indirect_segments == 0 {
        r.skip("indirect", "no indirect segments negotiated");
        // The region still gets its pattern, for the whole-region check.
        if let Err(e) = chunked(d, indirect, INDIRECT, MULTI, Shape::Direct, seed, true) {
            println!("blk: indirect region by direct requests: {e}");
        }
    } else {
        let chunk = (d.neg.indirect_segments.min(INDIRECT_PAGES) * SECTORS_PER_PAGE) as u64;
        step(r, d, "indirect", |d| {
            chunked(d, indirect, INDIRECT, chunk, Shape::Indirect, seed, true)?;
            chunked(d, indirect, INDIRECT, chunk, Shape::Indirect, seed, false)
        });
    }
    step(r, d, "in-flight", |d| in_flight_step(d, in_flight, seed));
    if d.disk.flush {
        step(r, d, "flush", |d| {
            let id = d.submit_flush().map_err(|e| format!("flush: {e}"))?;
            d.wait(id, IO_NS).map_err(|e| format!("flush: {e}"))?.ok()
        });
    } else {
        r.skip("flush", "the back end offers no feature-flush-cache");
    }
    let (chunk, shape) = big_chunk(d);
    step(r, d, "whole-region", |d| {
        chunked(d, base, REGION, chunk, shape, seed, false)
    });
    let end = d.disk.sectors;
    step(r, d, "read-past-end", |d| {
        want_error(io(d, end, 0, 1, None, Shape::Direct))
    });
    step(r, d, "read-across-end", |d| {
        want_error(io(d, end - 4, 0, 8, None, Shape::Direct))
    });
    step(r, d, "write-past-end", |d| {
        let mut buf = vec![0u8; BLKIF_SECTOR_SIZE];
        pattern::fill(&mut buf, end, seed);
        want_error(io(d, end, 0, 1, Some(&buf), Shape::Direct))
    });
    let faults = dev.faults.len();
    r.step(
        "disconnect",
        if faults > 0 {
            Err(format!("{faults} back-end faults seen"))
        } else {
            dev.close(xs)
        },
    );
}

/// 16 writes of 32 sectors queued and published at once (odd ones indirect if offered),
/// then 16 reads the same way, each verified; at least 8 must have been in flight together.
fn in_flight_step(d: &mut Blkfront, first: u64, seed: u64) -> Result<(), String> {
    let shape = |i: usize, d: &Blkfront| {
        if i % 2 == 1 && d.neg.indirect_segments >= 4 {
            Shape::Indirect
        } else {
            Shape::Direct
        }
    };
    let sector = |i: usize| first + i as u64 * IN_FLIGHT_SECTORS;
    d.peak_in_flight = 0;
    let mut ids = Vec::new();
    for i in 0..IN_FLIGHT {
        let mut buf = vec![0u8; IN_FLIGHT_SECTORS as usize * BLKIF_SECTOR_SIZE];
        pattern::fill(&mut buf, sector(i), seed);
        let s = shape(i, d);
        let id = d
            .submit(sector(i), 0, IN_FLIGHT_SECTORS as usize, Some(&buf), s)
            .map_err(|e| format!("queueing write {i}: {e}"))?;
        ids.push(id);
    }
    let writes = d.wait_all(IO_NS).map_err(|e| format!("writes: {e}"))?;
    let peak_writes = core::mem::take(&mut d.peak_in_flight);
    if writes.len() != IN_FLIGHT {
        return Err(format!(
            "{} writes answered, want {IN_FLIGHT}",
            writes.len()
        ));
    }
    for done in writes {
        let i = ids
            .iter()
            .position(|&x| x == done.id)
            .ok_or("a response to no write")?;
        done.ok().map_err(|e| format!("write {i}: {e}"))?;
    }
    ids.clear();
    for i in 0..IN_FLIGHT {
        let s = shape(i, d);
        let id = d
            .submit(sector(i), 0, IN_FLIGHT_SECTORS as usize, None, s)
            .map_err(|e| format!("queueing read {i}: {e}"))?;
        ids.push(id);
    }
    let mut seen = 0;
    let reads = d.wait_all(IO_NS).map_err(|e| format!("reads: {e}"))?;
    let peak_reads = d.peak_in_flight;
    for done in reads {
        let i = ids
            .iter()
            .position(|&x| x == done.id)
            .ok_or("a response to no read")?;
        done.ok().map_err(|e| format!("read {i}: {e}"))?;
        pattern::verify(&done.data, sector(i), seed).map_err(|m| format!("read {i}: {m}"))?;
        seen += 1;
    }
    if seen != IN_FLIGHT {
        return Err(format!("{seen} reads answered, want {IN_FLIGHT}"));
    }
    if peak_writes.min(peak_reads) < 8 {
        return Err(format!(
            "only {} writes and {} reads in flight at once",
            peak_writes, peak_reads
        ));
    }
    Ok(())
}

/// How a malformed request was answered.
enum Answer {
    Status(i16),
    Disconnected(XenbusState),
    Silent(XenbusState),
    Broken(String),
}

/// Sends one malformed request (`build(id, handle)`) and judges the answer: an error
/// status, or the back end closing, is right.
fn probe(
    r: &mut Report,
    xs: &mut XsClient,
    dev: &mut Blkfront,
    name: &str,
    build: impl FnOnce(u64, u16) -> Vec<u8>,
) -> bool {
    let answer = match dev.submit_raw(build) {
        Err(e) => Answer::Broken(format!("could not queue: {e}")),
        Ok(id) => match dev.wait(id, HOSTILE_NS) {
            Ok(d) => Answer::Status(d.status),
            Err(super::device::WaitError::Timeout) => match dev.backend_state(xs) {
                s @ (XenbusState::Closing | XenbusState::Closed) => Answer::Disconnected(s),
                s => Answer::Silent(s),
            },
            Err(e) => Answer::Broken(e.to_string()),
        },
    };
    match answer {
        Answer::Status(s @ (BLKIF_RSP_ERROR | BLKIF_RSP_EOPNOTSUPP)) => {
            r.ok_with(name, &format!("status {s} {}", request::status_name(s)));
            true
        }
        Answer::Status(s) => {
            r.step(name, Err(format!("status {s} {}", request::status_name(s))));
            true
        }
        Answer::Disconnected(s) => {
            r.ok_with(name, &format!("disconnected: back end {s:?}"));
            false
        }
        Answer::Silent(s) => {
            let secs = HOSTILE_NS / 1_000_000_000;
            r.step(
                name,
                Err(format!("no response in {secs} s, back end {s:?}")),
            );
            true
        }
        Answer::Broken(e) => {
            r.step(name, Err(e));
            true
        }
    }
}

fn seg(gref: GrantRef, first: u8, last: u8) -> BlkifRequestSegment {
    BlkifRequestSegment {
        gref,
        first_sect: first,
        last_sect: last,
        _pad: 0,
    }
}

fn rw(
    op: u8,
    nr: u8,
    sector: u64,
    segs: &[BlkifRequestSegment],
) -> impl FnOnce(u64, u16) -> Vec<u8> {
    let mut req = BlkifRequest {
        operation: op,
        nr_segments: nr,
        sector_number: sector,
        ..Default::default()
    };
    req.seg[..segs.len()].copy_from_slice(segs);
    move |id, handle| {
        req.id = id;
        req.handle = handle;
        req.as_bytes().to_vec()
    }
}

fn indirect(
    indirect_op: u8,
    nr: u16,
    sector: u64,
    pages: &[GrantRef],
) -> impl FnOnce(u64, u16) -> Vec<u8> {
    let pages = pages.to_vec();
    move |id, handle| {
        request::indirect(indirect_op, handle, id, sector, nr, &pages)
            .as_bytes()
            .to_vec()
    }
}

fn hostile_run(r: &mut Report, xs: &mut XsClient, mut dev: Blkfront, cmd: &str) {
    let base = num(cmd, "base").unwrap_or(0);
    let end = dev.disk.sectors;
    // One data page for the segments, and eight pages to hold indirect segments.
    let Some(held) = dev.hold_pages(1 + BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST) else {
        r.step("pages", Err(String::from("no free data pages")));
        return;
    };
    let g = held[0].0;
    let ok = seg(g, 0, 7);
    let eleven = [ok; MAX_DIRECT_SEGMENTS];
    let ungranted = dev.ungranted_gref();
    type Build = alloc::boxed::Box<dyn FnOnce(u64, u16) -> Vec<u8>>;
    let mut probes: Vec<(&str, Build)> = vec![
        (
            "read-0-segments",
            alloc::boxed::Box::new(rw(BLKIF_OP_READ, 0, base, &[])),
        ),
        (
            "write-0-segments",
            alloc::boxed::Box::new(rw(BLKIF_OP_WRITE, 0, base, &[])),
        ),
        (
            "read-12-segments",
            alloc::boxed::Box::new(rw(BLKIF_OP_READ, 12, base, &eleven)),
        ),
        (
            "write-12-segments",
            alloc::boxed::Box::new(rw(BLKIF_OP_WRITE, 12, base, &eleven)),
        ),
        (
            "first-after-last",
            alloc::boxed::Box::new(rw(BLKIF_OP_READ, 1, base, &[seg(g, 5, 2)])),
        ),
        (
            "last-sect-8",
            alloc::boxed::Box::new(rw(BLKIF_OP_READ, 1, base, &[seg(g, 0, 8)])),
        ),
        (
            "ungranted-gref",
            alloc::boxed::Box::new(rw(BLKIF_OP_READ, 1, base, &[seg(ungranted, 0, 7)])),
        ),
        (
            "gref-out-of-range",
            alloc::boxed::Box::new(rw(
                BLKIF_OP_READ,
                1,
                base,
                &[seg(GrantRef(0xFFFF_FF00), 0, 7)],
            )),
        ),
        (
            "sector-past-end",
            alloc::boxed::Box::new(rw(BLKIF_OP_READ, 1, end, &[ok])),
        ),
        (
            "sector-wraps",
            alloc::boxed::Box::new(rw(BLKIF_OP_READ, 1, u64::MAX - 3, &[ok])),
        ),
        (
            "unknown-operation",
            alloc::boxed::Box::new(rw(99, 1, base, &[ok])),
        ),
        (
            "reserved-operation",
            alloc::boxed::Box::new(rw(4, 1, base, &[ok])),
        ),
    ];
    let ind_pages: Vec<GrantRef> = held[1..].iter().map(|p| p.0).collect();
    match dev.offer.max_indirect_segments.filter(|&m| m > 0) {
        Some(max) => {
            // Every indirect page full of valid segments, so only the count is wrong.
            for &(_, va) in &held[1..] {
                let segs = [ok; SEGMENTS_PER_INDIRECT_PAGE];
                let bytes = segs.as_bytes();
                // SAFETY: a data page of ours held out of the pool for this test (never in
                // a request of the driver's); `bytes` is exactly one page.
                unsafe {
                    core::ptr::copy_nonoverlapping(bytes.as_ptr(), va as *mut u8, bytes.len())
                };
            }
            let over = (max as usize + 1).min(u16::MAX as usize) as u16;
            let need = (over as usize)
                .div_ceil(SEGMENTS_PER_INDIRECT_PAGE)
                .min(BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST);
            probes.push((
                "indirect-over-maximum",
                alloc::boxed::Box::new(indirect(BLKIF_OP_READ, over, base, &ind_pages[..need])),
            ));
            probes.push((
                "indirect-0-segments",
                alloc::boxed::Box::new(indirect(BLKIF_OP_READ, 0, base, &ind_pages[..1])),
            ));
            probes.push((
                "indirect-flush",
                alloc::boxed::Box::new(indirect(
                    BLKIF_OP_FLUSH_DISKCACHE,
                    1,
                    base,
                    &ind_pages[..1],
                )),
            ));
            probes.push((
                "indirect-ungranted-page",
                alloc::boxed::Box::new(indirect(BLKIF_OP_READ, 1, base, &[ungranted])),
            ));
        }
        None => probes.push((
            "indirect-not-offered",
            alloc::boxed::Box::new(indirect(BLKIF_OP_READ, 1, base, &ind_pages[..1])),
        )),
    }
    let mut connected = true;
    for (name, build) in probes {
        if !connected {
            r.skip(name, "device disconnected");
            continue;
        }
        connected = probe(r, xs, &mut dev, name, build);
    }
    if connected {
        // Far more requests than the ring holds: the back end must not serve them.
        let ahead = dev.slots() as u32 * 2 + 5;
        dev.push_bogus(ahead);
        dev.wait_response(HOSTILE_NS);
        let name = "req-prod-far-ahead";
        match (dev.responses_waiting(), dev.backend_state(xs)) {
            (_, s @ (XenbusState::Closing | XenbusState::Closed)) => {
                r.ok_with(name, &format!("disconnected: back end {s:?}"));
            }
            (Ok(0), _) => r.ok_with(name, "no response: ring not served"),
            (Ok(n), _) => r.step(name, Err(format!("{n} responses to slots never filled"))),
            (Err(o), _) => r.step(
                name,
                Err(format!("rsp_prod {} beyond anything asked", o.rsp_prod)),
            ),
        }
    } else {
        r.skip("req-prod-far-ahead", "device disconnected");
    }
    r.step("disconnect", dev.close(xs));
}
