//! The block front end of one virtual disk: the xenbus handshake with its back end, the
//! granted ring (2^order pages) and data pages, the event channel, submitting requests
//! (direct, indirect, flush, and raw ones for the hostile test) and matching responses by id.
//!
//! Memory: the ring, the data pages and the indirect pages come from the kernel heap (pages
//! of our initial region, so their machine frames are known), are granted to the back end
//! once and stay granted while connected: persistent grants in blkif.h's sense, which we
//! advertise with `feature-persistent = 1` whatever the back end does. Data is copied
//! between the caller's buffers and these pages.

use super::geometry::{self, pages_for, sector_at, MAX_DIRECT_SEGMENTS, PAGE_SIZE};
use super::nodes::{self, Disk, Negotiated, Offer};
use super::request;
use super::ring::{FrontRing, Overrun};
use super::shadow::{Pool, Shadow, UnknownId};
use crate::grant::{GrantTable, Spare};
use crate::xenbus::XsClient;
use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use core::fmt;
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use dom0_tools::xenstore::xenbus;
use guest_abi::errno::Errno;
use guest_abi::event_channel::{EvtchnAllocUnbound, EvtchnUnmask};
use guest_abi::guest;
use guest_abi::io::blkif::*;
use guest_abi::io::xenbus::XenbusState;
use guest_abi::start_info::StartInfo;
use guest_abi::types::{DomId, EvtchnPort, GrantRef};
use zerocopy::IntoBytes;

/// Our largest ring: order 4, 16 pages, 512 slots (the most Linux's blkback accepts).
pub const MAX_RING_ORDER: u32 = 4;
/// Segments we put in one indirect request at most (one indirect page).
pub const MAX_INDIRECT: usize = 256;

/// Bounds on what the front end asks for, below what the back end offers (the tests lower
/// them to exercise the one-page ring and direct-only requests).
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Ring order at most ([`MAX_RING_ORDER`] and below).
    pub ring_order: u32,
    /// Indirect segments per request at most (0: no indirect requests).
    pub indirect: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            ring_order: MAX_RING_ORDER,
            indirect: MAX_INDIRECT,
        }
    }
}
/// Data pages, granted once for the life of the connection.
pub const DATA_PAGES: usize = 128;
/// Indirect pages (one per indirect request in flight).
const INDIRECT_PAGES: usize = 8;
/// The first grant reference we use (0..8 are reserved: console, xenstore).
const FIRST_GREF: u32 = 8;
/// The spare page of our initial region that maps our grant table frame.
const GRANT_TABLE_SPARE: u64 = 1;
/// How long the back end may take for each handshake step.
const HANDSHAKE_NS: u64 = 30_000_000_000;
/// What a read's sectors hold until the back end writes them.
const READ_POISON: u8 = 0xA5;

/// Events on our channels (any blkfront port), so that waits see each one.
static EVENTS: AtomicU64 = AtomicU64::new(0);

fn on_event(_port: u32) {
    EVENTS.fetch_add(1, Ordering::SeqCst);
}

/// A granted page of ours.
#[derive(Clone, Copy)]
struct Page {
    va: usize,
    gref: GrantRef,
}

/// A request in flight.
struct InFlight {
    /// The operation its response must echo.
    op: u8,
    /// Read: copy the pages out on success.
    read: bool,
    offset: u8,
    sectors: usize,
    pages: Vec<usize>,
    indirect: Vec<usize>,
}

/// A completed request.
#[derive(Debug)]
pub struct Done {
    /// Its id.
    pub id: u64,
    /// The response's status (`BLKIF_RSP_*`).
    pub status: i16,
    /// A successful read's data.
    pub data: Vec<u8>,
}

impl Done {
    /// Ok if the back end answered `BLKIF_RSP_OKAY`, else a message naming the status.
    pub fn ok(&self) -> Result<(), String> {
        if self.status == BLKIF_RSP_OKAY {
            Ok(())
        } else {
            Err(format!(
                "status {} ({})",
                self.status,
                request::status_name(self.status)
            ))
        }
    }
}

/// How a read or write is carried.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// Segments in the request (at most 11).
    Direct,
    /// Segments in an indirect page.
    Indirect,
}

/// Why a request could not be queued.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SubmitError {
    /// No free ring slot or id.
    RingFull,
    /// Not enough free data or indirect pages.
    NoPages,
    /// More segments than the shape carries (or none).
    Segments(usize),
    /// The back end offers no indirect requests.
    NoIndirect,
    /// The data does not match the sector count.
    Length,
}

impl fmt::Display for SubmitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SubmitError::RingFull => write!(f, "ring full"),
            SubmitError::NoPages => write!(f, "no free pages"),
            SubmitError::Segments(n) => write!(f, "{n} segments do not fit the request"),
            SubmitError::NoIndirect => write!(f, "the back end offers no indirect requests"),
            SubmitError::Length => write!(f, "data length is not the sector count"),
        }
    }
}

/// Why a wait ended without the response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WaitError {
    /// No response in time.
    Timeout,
    /// The back end published more responses than requests outstanding.
    Overrun(Overrun),
    /// The id is not (or no longer) in flight.
    NotInFlight(u64),
}

impl fmt::Display for WaitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WaitError::Timeout => write!(f, "no response in time"),
            WaitError::Overrun(o) => write!(
                f,
                "back end's rsp_prod {} is past our requests (rsp_cons {}, req_prod {})",
                o.rsp_prod, o.rsp_cons, o.req_prod
            ),
            WaitError::NotInFlight(id) => write!(f, "id {id:#x} is not in flight"),
        }
    }
}

/// Allocates `pages` zeroed, page-aligned pages for the life of the domain.
fn alloc_pages(pages: usize) -> Result<usize, String> {
    let layout = core::alloc::Layout::from_size_align(pages * PAGE_SIZE, PAGE_SIZE)
        .map_err(|_| String::from("bad page layout"))?;
    // SAFETY: a non-zero-sized layout; the memory is never freed (ring and data pages stay
    // granted to the back end as long as it may map them).
    let p = unsafe { alloc::alloc::alloc_zeroed(layout) };
    if p.is_null() {
        return Err(format!("no memory for {pages} pages"));
    }
    Ok(p as usize)
}

/// One virtual disk's front end, connected.
pub struct Blkfront {
    /// Virtual device number (`device/vbd/<devid>`), also the requests' `handle`.
    pub devid: u32,
    /// Linux's name for it (`xvda`).
    pub name: String,
    /// Our device directory (relative to our domain's home).
    dev: String,
    /// The back end's directory.
    pub backend: String,
    /// What the back end offered.
    pub offer: Offer,
    /// Transport parameters in effect.
    pub neg: Negotiated,
    /// The disk.
    pub disk: Disk,
    table: GrantTable,
    /// Every grant we made (revoked at close).
    grants: Vec<GrantRef>,
    next_gref: u32,
    ring: FrontRing<'static>,
    port: u32,
    data: Vec<Page>,
    pool: Pool,
    ind: Vec<Page>,
    ind_pool: Pool,
    shadow: Shadow<InFlight>,
    done: Vec<Done>,
    /// Back-end misbehaviour seen so far (responses with unknown ids or wrong operations).
    pub faults: Vec<String>,
    /// The most requests published and unanswered at once.
    pub peak_in_flight: usize,
}

impl Blkfront {
    /// Connects to disk `devid` (`device/vbd/<devid>`), through the whole xenbus handshake,
    /// asking for no more than `limits`.
    pub fn connect(
        xs: &mut XsClient,
        si: &StartInfo,
        devid: u32,
        limits: Limits,
    ) -> Result<Blkfront, String> {
        let dev = format!("device/vbd/{devid}");
        let name = nodes::vdev_name(devid).unwrap_or_else(|| format!("vbd{devid}"));
        let backend = xs
            .read(&format!("{dev}/backend"))
            .map_err(|e| format!("reading {dev}/backend: {}", e.name()))?;
        let backend_id = xs
            .read(&format!("{dev}/backend-id"))
            .map_err(|e| format!("reading {dev}/backend-id: {}", e.name()))
            .and_then(|v| {
                nodes::parse_num::<u16>(&v).ok_or(format!("backend-id {v:?} is not a domain"))
            })
            .map(DomId)?;
        let be_state = format!("{backend}/state");
        xs.watch(&be_state, "blkfront")
            .map_err(|e| format!("watching {be_state}: {}", e.name()))?;
        // The back end publishes its features, then InitWait (or skips to a later state,
        // which blkif.h allows: then its defaults are in effect).
        let seen = wait_backend(xs, &be_state, |s| {
            matches!(
                s,
                XenbusState::InitWait | XenbusState::Initialised | XenbusState::Connected
            )
        })?;
        if seen != XenbusState::InitWait {
            crate::println!("blk: {name}: back end went to {seen:?} without InitWait");
        }
        let offer = Offer::read(|n| xs.read(&format!("{backend}/{n}")).ok());
        let neg = offer.negotiate(
            limits.ring_order.min(MAX_RING_ORDER),
            limits.indirect.min(MAX_INDIRECT),
        );

        let spare = Spare::new(si);
        let table = GrantTable::setup(spare.va(GRANT_TABLE_SPARE))
            .map_err(|e| format!("grant table: {}", e.name()))?;
        let mut grants = Vec::new();
        let mut next_gref = FIRST_GREF;
        let mut grant_pages = |first_va: usize, n: usize| -> Result<Vec<Page>, String> {
            (0..n)
                .map(|i| {
                    let va = first_va + i * PAGE_SIZE;
                    let mfn = spare
                        .mfn_of(va as u64)
                        .map_err(|e| format!("frame of {va:#x}: {}", e.name()))?;
                    let gref = GrantRef(next_gref);
                    table
                        .grant(gref, backend_id, mfn, false)
                        .map_err(|e| format!("granting gref {}: {}", gref.0, e.name()))?;
                    next_gref += 1;
                    grants.push(gref);
                    Ok(Page { va, gref })
                })
                .collect()
        };
        let ring_pages = 1usize << neg.ring_order;
        let ring_va = alloc_pages(ring_pages)?;
        let ring_grants = grant_pages(ring_va, ring_pages)?;
        let data = grant_pages(alloc_pages(DATA_PAGES)?, DATA_PAGES)?;
        let ind = grant_pages(alloc_pages(INDIRECT_PAGES)?, INDIRECT_PAGES)?;
        // SAFETY: `ring_va` is our own allocation of `ring_pages` pages, page-aligned, never
        // freed and used for nothing else; its words are only ever accessed atomically (here
        // and by the back end), so viewing it as `AtomicU32`s is sound.
        let words = unsafe {
            core::slice::from_raw_parts(ring_va as *const AtomicU32, ring_pages * PAGE_SIZE / 4)
        };
        let ring = FrontRing::init(words);

        let mut op = EvtchnAllocUnbound {
            dom: DomId::SELF,
            remote_dom: backend_id,
            port: EvtchnPort(0),
        };
        guest::event_channel_op(&mut op)
            .map_err(|e| format!("allocating an event channel: {}", e.name()))?;
        let port = op.port.0;
        crate::events::set_handler(port, on_event);
        guest::event_channel_op(&mut EvtchnUnmask { port: op.port })
            .map_err(|e| format!("unmasking port {port}: {}", e.name()))?;

        let ring_grefs: Vec<GrantRef> = ring_grants.iter().map(|p| p.gref).collect();
        let mut publish = nodes::front_nodes(neg.ring_order, &ring_grefs, port);
        publish.push((
            String::from("state"),
            xenbus::text(XenbusState::Initialised),
        ));
        xs.write_all(&dev, &publish)?;

        wait_backend(xs, &be_state, |s| s == XenbusState::Connected)?;
        let disk = Disk::read(|n| xs.read(&format!("{backend}/{n}")).ok())
            .map_err(|e| format!("back end's disk: {e}"))?;
        xs.write(
            &format!("{dev}/state"),
            &xenbus::text(XenbusState::Connected),
        )
        .map_err(|e| format!("writing {dev}/state: {}", e.name()))?;

        Ok(Blkfront {
            devid,
            name,
            dev,
            backend,
            offer,
            neg,
            disk,
            table,
            grants,
            next_gref,
            pool: Pool::new(data.len()),
            data,
            ind_pool: Pool::new(ind.len()),
            ind,
            shadow: Shadow::new(ring.slots()),
            ring,
            port,
            done: Vec::new(),
            faults: Vec::new(),
            peak_in_flight: 0,
        })
    }

    /// The back end's state now.
    pub fn backend_state(&self, xs: &mut XsClient) -> XenbusState {
        xs.read(&format!("{}/state", self.backend))
            .map_or(XenbusState::Unknown, |v| xenbus::parse(v.as_bytes()))
    }

    /// The requests' `handle`.
    fn handle(&self) -> u16 {
        self.devid as u16
    }

    /// Queues a read (`data` None) or write of `sectors` sectors at `sector`, the first
    /// starting `offset` sectors into its page; published at the next [`kick`](Self::kick)
    /// or wait. Returns its id.
    pub fn submit(
        &mut self,
        sector: u64,
        offset: u8,
        sectors: usize,
        data: Option<&[u8]>,
        shape: Shape,
    ) -> Result<u64, SubmitError> {
        let layout = geometry::layout(offset, sectors);
        let n = layout.len();
        match shape {
            Shape::Direct if n == 0 || n > MAX_DIRECT_SEGMENTS => {
                return Err(SubmitError::Segments(n))
            }
            Shape::Indirect if self.neg.indirect_segments == 0 => {
                return Err(SubmitError::NoIndirect)
            }
            Shape::Indirect if n == 0 || n > self.neg.indirect_segments => {
                return Err(SubmitError::Segments(n))
            }
            _ => {}
        }
        if data.is_some_and(|d| d.len() != sectors * BLKIF_SECTOR_SIZE) {
            return Err(SubmitError::Length);
        }
        if self.ring.free() == 0 || self.shadow.len() == self.ring.slots() {
            return Err(SubmitError::RingFull);
        }
        let nind = match shape {
            Shape::Direct => 0,
            Shape::Indirect => geometry::indirect_pages(n),
        };
        if self.pool.available() < n || self.ind_pool.available() < nind {
            return Err(SubmitError::NoPages);
        }
        let pages = self.pool.take(n).ok_or(SubmitError::NoPages)?;
        let indirect = self.ind_pool.take(nind).ok_or(SubmitError::NoPages)?;
        debug_assert_eq!(pages.len(), pages_for(offset, sectors));
        debug_assert_eq!(
            layout.iter().map(geometry::Seg::sectors).sum::<usize>(),
            sectors
        );
        for i in 0..sectors {
            let (p, at) = sector_at(offset, i);
            let dst = (self.data[pages[p]].va + at) as *mut u8;
            // SAFETY: `dst..dst + 512` lies in data page `pages[p]`, ours and not in flight
            // (just taken from the pool), so the back end does not touch it now. A read's
            // sectors are poisoned first, so that data the back end never wrote (a page
            // still holding what an earlier request left) cannot pass for a good read.
            unsafe {
                match data {
                    Some(d) => core::ptr::copy_nonoverlapping(
                        d[i * BLKIF_SECTOR_SIZE..].as_ptr(),
                        dst,
                        BLKIF_SECTOR_SIZE,
                    ),
                    None => core::ptr::write_bytes(dst, READ_POISON, BLKIF_SECTOR_SIZE),
                }
            }
        }
        let grefs: Vec<GrantRef> = pages.iter().map(|&p| self.data[p].gref).collect();
        let segs = request::segments(&layout, &grefs);
        let op = if data.is_some() {
            BLKIF_OP_WRITE
        } else {
            BLKIF_OP_READ
        };
        let wire_op = match shape {
            Shape::Direct => op,
            Shape::Indirect => BLKIF_OP_INDIRECT,
        };
        let id = self
            .shadow
            .insert(InFlight {
                op: wire_op,
                read: data.is_none(),
                offset,
                sectors,
                pages,
                indirect: indirect.clone(),
            })
            .ok_or(SubmitError::RingFull)?;
        let handle = self.handle();
        let queued = match shape {
            Shape::Direct => self
                .ring
                .put(request::direct(op, handle, id, sector, &segs).as_bytes()),
            Shape::Indirect => {
                for (chunk, &ip) in request::indirect_pages(&segs).iter().zip(&indirect) {
                    let bytes = chunk.as_bytes();
                    let dst = self.ind[ip].va;
                    // SAFETY: an indirect page of ours, not in flight; `bytes` is at most
                    // 512 segments of 8 bytes, one page.
                    unsafe {
                        core::ptr::copy_nonoverlapping(bytes.as_ptr(), dst as *mut u8, bytes.len())
                    };
                }
                let igrefs: Vec<GrantRef> = indirect.iter().map(|&p| self.ind[p].gref).collect();
                self.ring
                    .put(request::indirect(op, handle, id, sector, n as u16, &igrefs).as_bytes())
            }
        };
        // The slot was checked free above.
        queued.map_err(|_| SubmitError::RingFull)?;
        Ok(id)
    }

    /// Queues a cache flush.
    pub fn submit_flush(&mut self) -> Result<u64, SubmitError> {
        self.submit_raw(|id, handle| request::flush(handle, id).as_bytes().to_vec())
    }

    /// Hostile tests: queues the bytes `build(id, handle)` makes (a whole request, at most a
    /// slot) as a request; its pages, if any, are the caller's ([`Self::hold_pages`]).
    pub fn submit_raw(
        &mut self,
        build: impl FnOnce(u64, u16) -> Vec<u8>,
    ) -> Result<u64, SubmitError> {
        if self.ring.free() == 0 {
            return Err(SubmitError::RingFull);
        }
        // The operation byte is filled in below from what `build` made.
        let id = self
            .shadow
            .insert(InFlight {
                op: 0,
                read: false,
                offset: 0,
                sectors: 0,
                pages: Vec::new(),
                indirect: Vec::new(),
            })
            .ok_or(SubmitError::RingFull)?;
        let bytes = build(id, self.handle());
        if let Some(f) = self.shadow.get_mut(id) {
            f.op = bytes.first().copied().unwrap_or(0);
        }
        self.ring.put(&bytes).map_err(|_| SubmitError::RingFull)?;
        Ok(id)
    }

    /// Hostile tests: takes `n` data pages out of the pool for good; their grants and
    /// addresses (the caller fills them).
    pub fn hold_pages(&mut self, n: usize) -> Option<Vec<(GrantRef, usize)>> {
        let p = self.pool.take(n)?;
        Some(
            p.iter()
                .map(|&i| (self.data[i].gref, self.data[i].va))
                .collect(),
        )
    }

    /// Hostile tests: a grant reference of our table we never granted.
    pub fn ungranted_gref(&self) -> GrantRef {
        GrantRef(self.next_gref + 100)
    }

    /// Hostile tests: publishes a request producer `ahead` past our consumer, claiming
    /// requests never queued, and notifies. The ring is unusable afterwards.
    pub fn push_bogus(&mut self, ahead: u32) {
        self.ring.push_bogus(ahead);
        let _ = crate::events::send(self.port);
    }

    /// Hostile tests: responses the back end has published that we have not taken (an
    /// [`Overrun`] if more than our requests).
    pub fn responses_waiting(&self) -> Result<usize, Overrun> {
        self.ring.unconsumed()
    }

    /// Waits up to `ns` for a response, without taking any.
    pub fn wait_response(&mut self, ns: u64) {
        let deadline = crate::time::now().saturating_add(ns);
        while crate::time::now() < deadline && !self.ring.pending() {
            self.sleep(deadline);
        }
    }

    /// Ring slots.
    pub fn slots(&self) -> usize {
        self.ring.slots()
    }

    /// Publishes the queued requests and notifies the back end if it asked.
    pub fn kick(&mut self) {
        self.peak_in_flight = self.peak_in_flight.max(self.shadow.len());
        if self.ring.push() {
            let _ = crate::events::send(self.port);
        }
    }

    /// Takes every waiting response, matching each to its request by id.
    fn reap(&mut self) -> Result<(), Overrun> {
        while let Some(rsp) = self.ring.take()? {
            let f = match self.shadow.remove(rsp.id) {
                Ok(f) => f,
                Err(UnknownId(id)) => {
                    self.faults.push(format!(
                        "response with id {id:#x}, which is not in flight (status {})",
                        rsp.status
                    ));
                    continue;
                }
            };
            // An indirect request is answered with the operation it did (as Linux's blkback
            // answers and Linux's blkfront checks), any other with its own.
            let want = match f.op {
                BLKIF_OP_INDIRECT if f.read => BLKIF_OP_READ,
                BLKIF_OP_INDIRECT => BLKIF_OP_WRITE,
                op => op,
            };
            if rsp.operation != want {
                self.faults.push(format!(
                    "response to a {} request names operation {}",
                    request::op_name(f.op),
                    rsp.operation
                ));
            }
            let mut data = Vec::new();
            if f.read && rsp.status == BLKIF_RSP_OKAY {
                data = vec![0u8; f.sectors * BLKIF_SECTOR_SIZE];
                for (i, s) in data.chunks_exact_mut(BLKIF_SECTOR_SIZE).enumerate() {
                    let (p, at) = sector_at(f.offset, i);
                    let src = self.data[f.pages[p]].va + at;
                    // SAFETY: a data page of ours whose request is answered, so the back
                    // end is done with it; `src..src + 512` lies inside it.
                    unsafe {
                        core::ptr::copy_nonoverlapping(src as *const u8, s.as_mut_ptr(), s.len())
                    };
                }
            }
            self.pool.give(&f.pages);
            self.ind_pool.give(&f.indirect);
            self.done.push(Done {
                id: rsp.id,
                status: rsp.status,
                data,
            });
        }
        Ok(())
    }

    /// Sleeps until a response may be waiting or `deadline` (system time) passes.
    fn sleep(&mut self, deadline: u64) {
        if self.ring.final_check() {
            return;
        }
        let now = crate::time::now();
        if now >= deadline {
            return;
        }
        let before = EVENTS.load(Ordering::SeqCst);
        let ring = &self.ring;
        crate::xenbus::wait::until(deadline - now, || {
            ring.pending() || EVENTS.load(Ordering::SeqCst) != before
        });
    }

    /// Waits for the response to `id`.
    pub fn wait(&mut self, id: u64, timeout_ns: u64) -> Result<Done, WaitError> {
        self.kick();
        let deadline = crate::time::now().saturating_add(timeout_ns);
        loop {
            self.reap().map_err(WaitError::Overrun)?;
            if let Some(i) = self.done.iter().position(|d| d.id == id) {
                return Ok(self.done.remove(i));
            }
            if self.shadow.get(id).is_none() {
                return Err(WaitError::NotInFlight(id));
            }
            if crate::time::now() >= deadline {
                return Err(WaitError::Timeout);
            }
            self.sleep(deadline);
        }
    }

    /// Waits for every request in flight; their responses, and those answered before.
    pub fn wait_all(&mut self, timeout_ns: u64) -> Result<Vec<Done>, WaitError> {
        self.kick();
        let deadline = crate::time::now().saturating_add(timeout_ns);
        loop {
            self.reap().map_err(WaitError::Overrun)?;
            if self.shadow.is_empty() {
                return Ok(core::mem::take(&mut self.done));
            }
            if crate::time::now() >= deadline {
                return Err(WaitError::Timeout);
            }
            self.sleep(deadline);
        }
    }

    /// Disconnects: Closing, then Closed once the back end closes too; then revokes every
    /// grant (an error if the back end still maps one) and closes the event channel.
    pub fn close(self, xs: &mut XsClient) -> Result<(), String> {
        let be_state = format!("{}/state", self.backend);
        let state = format!("{}/state", self.dev);
        xs.write(&state, &xenbus::text(XenbusState::Closing))
            .map_err(|e| format!("writing {state}: {}", e.name()))?;
        wait_backend(xs, &be_state, |s| {
            matches!(s, XenbusState::Closing | XenbusState::Closed)
        })?;
        xs.write(&state, &xenbus::text(XenbusState::Closed))
            .map_err(|e| format!("writing {state}: {}", e.name()))?;
        wait_backend(xs, &be_state, |s| s == XenbusState::Closed)?;
        let busy = self
            .grants
            .iter()
            .filter(|&&g| self.table.end_access(g) == Err(Errno::EBUSY))
            .count();
        let _ = crate::events::close(self.port);
        if busy > 0 {
            return Err(format!(
                "{busy} of {} grants still mapped by the back end after Closed",
                self.grants.len()
            ));
        }
        Ok(())
    }
}

/// Waits until the back end's state (node `path`) satisfies `want`; its state, or why not
/// (closed under us, or still elsewhere after [`HANDSHAKE_NS`]).
fn wait_backend(
    xs: &mut XsClient,
    path: &str,
    want: impl Fn(XenbusState) -> bool,
) -> Result<XenbusState, String> {
    let deadline = crate::time::now().saturating_add(HANDSHAKE_NS);
    loop {
        let s = xs.read_state(path);
        if want(s) {
            return Ok(s);
        }
        if matches!(s, XenbusState::Closing | XenbusState::Closed) {
            return Err(format!("back end {s:?} ({path})"));
        }
        let now = crate::time::now();
        if now >= deadline {
            return Err(format!(
                "back end still {s:?} after {} s ({path})",
                HANDSHAKE_NS / 1_000_000_000
            ));
        }
        let _ = xs.next_event(deadline - now);
    }
}
