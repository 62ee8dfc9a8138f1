//! Serving a connected ring: every request the front end published is read from a copy of
//! its ring pages (grant copy), checked ([`super::request`]), done against the disk with its
//! data grant-copied to or from the front end's pages, and answered in the slot it came in;
//! then `rsp_prod` is published and the front end notified. A front end cannot make dom0
//! do more than one ring's worth of requests per pass, nor read or write outside its disk.

use super::request::{self, Parsed, Refusal, Request, Segment};
use super::ring::{self, PAGE, REQ_EVENT, REQ_PROD, RSP_PROD, SLOT};
use crate::block::{BlockDevice, Io, SECTOR};
use crate::hv::{GrantCopy, Hypervisor};
use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use guest_abi::grant_table::GntStatus;
use guest_abi::io::blkif::BLKIF_RSP_OKAY;
use guest_abi::types::DomId;

/// Largest request (bytes of data) a front end may make: the advertised indirect maximum.
pub const MAX_INDIRECT_SEGMENTS: u16 = 256;
/// Buffers a ring keeps for its next requests.
const POOL_BUFFERS: usize = 32;
/// Data moved for one ring in one pass before the rest waits for the next pass (so that one
/// front end's full ring of 1 MiB requests cannot hold dom0 for seconds).
pub const PASS_BYTES: u64 = 4 << 20;

/// A request ready for the disk.
struct Prepared {
    /// Its place in the batch's responses.
    index: usize,
    write: bool,
    sector: u64,
    segments: Vec<Segment>,
    /// Its buffer (from the ring's pool: possibly longer than `len`).
    data: Vec<u8>,
    /// Bytes it moves.
    len: usize,
}

/// A connected ring's back-end state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ring {
    pub domid: DomId,
    /// The ring pages' grants, in order.
    pub grefs: Vec<u32>,
    /// Slots.
    pub entries: u32,
    /// Next request to take.
    pub req_cons: u32,
    /// Responses produced (published).
    pub rsp_prod: u32,
    /// Data buffers of earlier requests, kept for the next ones (no allocation and no
    /// zeroing per request).
    pool: Vec<Vec<u8>>,
}

/// How a pass went.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Served {
    /// Responses were published: notify the front end.
    pub published: bool,
    /// Requests are left for the next pass.
    pub more: bool,
}

/// What the passes did, counted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Done {
    pub requests: u64,
    pub errors: u64,
    pub sectors_read: u64,
    pub sectors_written: u64,
    pub flushes: u64,
}

impl Ring {
    /// A ring of `grefs` pages of `domid`, as the front end initialised it (indices 0).
    pub fn new(domid: DomId, grefs: Vec<u32>) -> Ring {
        let entries = ring::entries(grefs.len());
        Ring {
            domid,
            grefs,
            entries,
            req_cons: 0,
            rsp_prod: 0,
            pool: Vec::new(),
        }
    }

    fn copy<H: Hypervisor + ?Sized>(
        &self,
        hv: &mut H,
        ops: &mut [GrantCopy<'_>],
    ) -> Result<(), String> {
        crate::hv::grant_copy_all(hv, ops, "a ring page")
    }

    /// Reads `len` bytes at byte `at` of the ring into `buf` (split at page boundaries).
    fn read_ring_ops<'a>(&self, at: usize, buf: &'a mut [u8], ops: &mut Vec<GrantCopy<'a>>) {
        let mut rest = buf;
        let mut pos = at;
        while !rest.is_empty() {
            let (page, off) = (pos / PAGE, pos % PAGE);
            let n = (PAGE - off).min(rest.len());
            let (chunk, tail) = rest.split_at_mut(n);
            rest = tail;
            if let Some(&gref) = self.grefs.get(page) {
                ops.push(GrantCopy::FromGuest {
                    domid: self.domid,
                    gref,
                    offset: off as u16,
                    buf: chunk,
                });
            }
            pos += n;
        }
    }

    /// The ring's header (its indices).
    fn read_header<H: Hypervisor + ?Sized>(&self, hv: &mut H) -> Result<[u8; 16], String> {
        let mut h = [0u8; 16];
        let mut ops = Vec::new();
        self.read_ring_ops(0, &mut h, &mut ops);
        self.copy(hv, &mut ops)?;
        Ok(h)
    }

    /// The `n` request slots from index `from` on, in order (one copy per run of slots that
    /// are contiguous in a page).
    fn read_slots<H: Hypervisor + ?Sized>(
        &self,
        hv: &mut H,
        from: u32,
        n: u32,
    ) -> Result<Vec<u8>, String> {
        let mut out = vec![0u8; n as usize * SLOT];
        // Runs of consecutive slots up to the ring's end (where the indices wrap).
        let mut runs: Vec<(usize, usize)> = Vec::new();
        for k in 0..n {
            let at = ring::slot_offset(from.wrapping_add(k), self.entries);
            match runs.last_mut() {
                Some((start, len)) if *start + *len == at => *len += SLOT,
                _ => runs.push((at, SLOT)),
            }
        }
        let mut ops = Vec::new();
        let mut rest: &mut [u8] = &mut out;
        for (at, len) in runs {
            let (chunk, tail) = rest.split_at_mut(len);
            rest = tail;
            self.read_ring_ops(at, chunk, &mut ops);
        }
        self.copy(hv, &mut ops)?;
        Ok(out)
    }

    /// Writes `data` at byte `at` of the ring (split at page boundaries).
    fn write_ring_ops<'a>(&self, at: usize, data: &'a [u8], ops: &mut Vec<GrantCopy<'a>>) {
        let mut done = 0;
        while done < data.len() {
            let pos = at + done;
            let (page, off) = (pos / PAGE, pos % PAGE);
            let n = (PAGE - off).min(data.len() - done);
            if let Some(&gref) = self.grefs.get(page) {
                ops.push(GrantCopy::ToGuest {
                    domid: self.domid,
                    gref,
                    offset: off as u16,
                    buf: &data[done..done + n],
                });
            }
            done += n;
        }
    }

    /// Serves what is on the ring, at most one ring's worth of requests: a front end that
    /// keeps producing is served again at the next pass (`more`), not now. `Err` names why
    /// the ring cannot be served any more (the device is then disconnected).
    pub fn serve<H: Hypervisor + ?Sized>(
        &mut self,
        hv: &mut H,
        disk: &mut dyn BlockDevice,
        max_indirect: u16,
        done: &mut Done,
    ) -> Result<Served, String> {
        let mut served = Served::default();
        let mut budget = self.entries;
        // Each round either takes requests or finds none; a front end moving its index back
        // and forth between our reads cannot keep us here.
        // The header as read along with the last write, if it was.
        let mut next_header: Option<[u8; 16]> = None;
        for _ in 0..4 {
            let header = match next_header.take() {
                Some(h) => h,
                None => self.read_header(hv)?,
            };
            let req_prod = ring::read_u32(&header, REQ_PROD);
            let n = ring::unconsumed(req_prod, self.req_cons, self.rsp_prod, self.entries)
                .ok_or_else(|| {
                    format!(
                        "impossible ring indices: req_prod {req_prod}, ours req_cons {} rsp_prod {} of {} slots",
                        self.req_cons, self.rsp_prod, self.entries
                    )
                })?;
            if n == 0 {
                // Nothing left: ask for a notification at the next request, then look once
                // more for one that came in meanwhile (one copy operation after the other,
                // in one call).
                let ev = self.req_cons.wrapping_add(1).to_le_bytes();
                let mut again = [0u8; 16];
                let mut ops = Vec::new();
                self.write_ring_ops(REQ_EVENT, &ev, &mut ops);
                self.read_ring_ops(0, &mut again, &mut ops);
                self.copy(hv, &mut ops)?;
                if ring::read_u32(&again, REQ_PROD) == self.req_cons {
                    return Ok(served);
                }
                next_header = Some(again);
                continue;
            }
            if budget == 0 {
                served.more = true;
                return Ok(served);
            }
            let n = n.min(budget);
            budget -= n;
            let slots = self.read_slots(hv, self.req_cons, n)?;
            // The batch: each request prepared (its writes' data fetched), then the disk
            // given all of them at once, then the reads' data delivered. A flush waits for
            // the requests before it.
            let mut statuses: Vec<(u64, u8, i16)> = Vec::new();
            let mut batch: Vec<Prepared> = Vec::new();
            let mut bytes_in_pass = 0u64;
            for slot in slots.chunks_exact(SLOT) {
                if bytes_in_pass >= PASS_BYTES {
                    budget = 0;
                    break;
                }
                let p = request::parse(slot, max_indirect);
                let index = statuses.len();
                statuses.push((p.id, p.operation, BLKIF_RSP_OKAY));
                match self.prepare(hv, disk, &p, max_indirect) {
                    Ok(Some(prep)) => {
                        bytes_in_pass += prep.len as u64;
                        batch.push(Prepared { index, ..prep });
                    }
                    Ok(None) => {
                        // A flush: after everything before it.
                        self.run_batch(hv, disk, &mut batch, &mut statuses, done);
                        done.flushes += 1;
                        if disk.flush().is_err() {
                            statuses[index].2 = Refusal::Invalid.status();
                        }
                    }
                    Err(r) => statuses[index].2 = r.status(),
                }
                self.req_cons = self.req_cons.wrapping_add(1);
            }
            self.run_batch(hv, disk, &mut batch, &mut statuses, done);
            let mut responses: Vec<(u32, [u8; 16])> = Vec::new();
            for (id, op, status) in statuses {
                done.requests += 1;
                if status != BLKIF_RSP_OKAY {
                    done.errors += 1;
                }
                responses.push((self.rsp_prod, ring::response_bytes(id, op, status)));
                self.rsp_prod = self.rsp_prod.wrapping_add(1);
            }
            // The responses, then the producer index that publishes them, then a look at
            // the header for what came in meanwhile.
            let prod = self.rsp_prod.to_le_bytes();
            let mut again = [0u8; 16];
            let mut ops = Vec::new();
            for (idx, r) in &responses {
                self.write_ring_ops(ring::slot_offset(*idx, self.entries), r, &mut ops);
            }
            self.write_ring_ops(RSP_PROD, &prod, &mut ops);
            self.read_ring_ops(0, &mut again, &mut ops);
            self.copy(hv, &mut ops)?;
            next_header = Some(again);
            served.published = true;
        }
        served.more = true;
        Ok(served)
    }

    /// Gets a request ready for the disk: its segments (an indirect request's from its
    /// pages), checked against the device, and for a write its data from the front end.
    /// `Ok(None)` for a flush.
    fn prepare<H: Hypervisor + ?Sized>(
        &mut self,
        hv: &mut H,
        disk: &mut dyn BlockDevice,
        p: &Parsed,
        max_indirect: u16,
    ) -> Result<Option<Prepared>, Refusal> {
        let (write, sector, segments) = match p.request.clone()? {
            Request::Flush => return Ok(None),
            Request::Rw {
                write,
                sector,
                segments,
            } => (write, sector, segments),
            Request::Indirect {
                write,
                sector,
                count,
                pages,
            } => (
                write,
                sector,
                self.indirect_segments(hv, &pages, count, max_indirect)?,
            ),
        };
        let total =
            request::check_bounds(&segments, sector, disk.sectors(), write, disk.read_only())?;
        let len = total as usize * SECTOR;
        let mut data = self.pool.pop().unwrap_or_default();
        if data.len() < len {
            data.resize(len, 0);
        }
        if write {
            if let Err(e) = self.copy_segments(hv, &segments, &mut data[..len], false) {
                self.give_back(data);
                return Err(e);
            }
        }
        Ok(Some(Prepared {
            index: 0,
            write,
            sector,
            segments,
            data,
            len,
        }))
    }

    /// Keeps a request's buffer for the next ones (a bounded number of them).
    fn give_back(&mut self, data: Vec<u8>) {
        if self.pool.len() < POOL_BUFFERS {
            self.pool.push(data);
        }
    }

    /// Gives the disk every prepared request of `batch` at once, then delivers the reads'
    /// data; their statuses into `statuses`.
    fn run_batch<H: Hypervisor + ?Sized>(
        &mut self,
        hv: &mut H,
        disk: &mut dyn BlockDevice,
        batch: &mut Vec<Prepared>,
        statuses: &mut [(u64, u8, i16)],
        done: &mut Done,
    ) {
        if batch.is_empty() {
            return;
        }
        let results = {
            let mut ios: Vec<Io<'_>> = batch
                .iter_mut()
                .map(|p| {
                    if p.write {
                        Io::Write {
                            sector: p.sector,
                            buf: &p.data[..p.len],
                        }
                    } else {
                        Io::Read {
                            sector: p.sector,
                            buf: &mut p.data[..p.len],
                        }
                    }
                })
                .collect();
            disk.transfer_many(&mut ios)
        };
        for (p, r) in batch.drain(..).zip(results) {
            let mut p = p;
            let sectors = (p.len / SECTOR) as u64;
            let r = r
                .map_err(|_| Refusal::Invalid)
                .and_then(|()| match p.write {
                    true => Ok(()),
                    false => self.copy_segments(hv, &p.segments, &mut p.data[..p.len], true),
                });
            match r {
                Ok(()) if p.write => done.sectors_written += sectors,
                Ok(()) => done.sectors_read += sectors,
                Err(e) => statuses[p.index].2 = e.status(),
            }
            self.give_back(p.data);
        }
    }

    /// Copies `data` to (`to_guest`) or from the pages `segments` name, in order.
    fn copy_segments<H: Hypervisor + ?Sized>(
        &self,
        hv: &mut H,
        segments: &[Segment],
        data: &mut [u8],
        to_guest: bool,
    ) -> Result<(), Refusal> {
        let mut st = vec![0i16; segments.len()];
        {
            let mut rest: &mut [u8] = data;
            let mut ops = Vec::with_capacity(segments.len());
            for s in segments {
                let (chunk, tail) = rest.split_at_mut(s.sectors() as usize * SECTOR);
                rest = tail;
                let offset = u16::from(s.first) * SECTOR as u16;
                ops.push(if to_guest {
                    GrantCopy::ToGuest {
                        domid: self.domid,
                        gref: s.gref,
                        offset,
                        buf: &*chunk,
                    }
                } else {
                    GrantCopy::FromGuest {
                        domid: self.domid,
                        gref: s.gref,
                        offset,
                        buf: chunk,
                    }
                });
            }
            hv.grant_copy(&mut ops, &mut st)
                .map_err(|_| Refusal::Invalid)?;
        }
        if st.iter().any(|&s| s != GntStatus::OKAY.0) {
            return Err(Refusal::Invalid);
        }
        Ok(())
    }

    fn indirect_segments<H: Hypervisor + ?Sized>(
        &self,
        hv: &mut H,
        pages: &[u32],
        count: u16,
        max_indirect: u16,
    ) -> Result<Vec<Segment>, Refusal> {
        if count > max_indirect {
            return Err(Refusal::Invalid);
        }
        let need = usize::from(count) * 8;
        let mut bytes = vec![0u8; need];
        let mut ops: Vec<GrantCopy<'_>> = bytes
            .chunks_mut(PAGE)
            .zip(pages)
            .map(|(buf, &gref)| GrantCopy::FromGuest {
                domid: self.domid,
                gref,
                offset: 0,
                buf,
            })
            .collect();
        let mut st = vec![0i16; ops.len()];
        hv.grant_copy(&mut ops, &mut st)
            .map_err(|_| Refusal::Invalid)?;
        if st.iter().any(|&s| s != GntStatus::OKAY.0) {
            return Err(Refusal::Invalid);
        }
        request::indirect_segments(&bytes, count)
    }
}
