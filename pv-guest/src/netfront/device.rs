//! One virtual interface's front end: the xenbus handshake with its back end, the granted
//! transmit and receive rings and buffer pages, the event channel, and smoltcp's `Device`
//! over them.
//!
//! Memory: rings and buffers are pages of the kernel heap (pages of our initial region, so
//! their machine frames are known), granted to the back end for the life of the connection
//! (transmit buffers read-only, receive buffers writable: the back end grant-copies into
//! them), never freed: a back end that disabled the interface may still hold a mapping.
//! Frames are copied between smoltcp's buffers and these pages.

use super::options::parse_mac;
use super::rings::{RxRing, TxRing, PAGE_SIZE};
use crate::grant::{GrantTable, Spare};
use crate::xenbus::XsClient;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, Ordering};
use dom0_tools::xenstore::xenbus;
use guest_abi::errno::Errno;
use guest_abi::event_channel::{EvtchnAllocUnbound, EvtchnUnmask};
use guest_abi::guest;
use guest_abi::io::netif::{NetifTxRequest, NetifTxResponse};
use guest_abi::io::xenbus::XenbusState;
use guest_abi::ring::SharedRing;
use guest_abi::start_info::StartInfo;
use guest_abi::types::{DomId, EvtchnPort, GrantRef};
use smoltcp::phy::{self, Device, DeviceCapabilities, Medium};
use smoltcp::time::Instant;

/// The largest Ethernet frame (without FCS) we send or accept: 1500 bytes of IP.
pub const MAX_FRAME: usize = 1514;
/// The first grant reference we use (0..8 are reserved: console, xenstore).
const FIRST_GREF: u32 = 8;
/// The spare page of our initial region that maps our grant table frame.
const GRANT_TABLE_SPARE: u64 = 1;

/// How many buffer pages a connection gets.
#[derive(Clone, Copy, Debug)]
pub struct Sizes {
    /// Transmit buffers (frames in flight at most).
    pub tx: usize,
    /// Receive buffers (posted at once at most; the ring has 256 slots).
    pub rx: usize,
}

/// Events on our channels, so that waits see each one.
static EVENTS: AtomicU64 = AtomicU64::new(0);

fn on_event(_port: u32) {
    EVENTS.fetch_add(1, Ordering::SeqCst);
}

/// Allocates `n` zeroed, page-aligned pages for the life of the domain.
fn alloc_pages(n: usize) -> Result<usize, String> {
    let layout = core::alloc::Layout::from_size_align(n * PAGE_SIZE, PAGE_SIZE)
        .map_err(|_| String::from("bad page layout"))?;
    // SAFETY: a non-zero-sized layout; the memory is never freed (it stays granted to the
    // back end as long as it may use it).
    let p = unsafe { alloc::alloc::alloc_zeroed(layout) };
    if p.is_null() {
        return Err(format!("no memory for {n} pages"));
    }
    Ok(p as usize)
}

/// Our grant table and the references handed out so far (for every connection of this
/// domain's life; references are never reused, as a back end may still hold old ones).
pub struct Grants {
    spare: Spare,
    table: GrantTable,
    next: u32,
}

impl Grants {
    /// Sets up our grant table.
    pub fn new(si: &StartInfo) -> Result<Grants, String> {
        let spare = Spare::new(si);
        let table = GrantTable::setup(spare.va(GRANT_TABLE_SPARE))
            .map_err(|e| format!("grant table: {}", e.name()))?;
        Ok(Grants {
            spare,
            table,
            next: FIRST_GREF,
        })
    }

    /// Grants `dom` the `n` pages from `va`; their references.
    fn grant(
        &mut self,
        dom: DomId,
        va: usize,
        n: usize,
        readonly: bool,
    ) -> Result<Vec<GrantRef>, String> {
        (0..n)
            .map(|i| {
                let va = va + i * PAGE_SIZE;
                let mfn = self
                    .spare
                    .mfn_of(va as u64)
                    .map_err(|e| format!("frame of {va:#x}: {}", e.name()))?;
                let gref = GrantRef(self.next);
                self.table
                    .grant(gref, dom, mfn, readonly)
                    .map_err(|e| format!("granting gref {}: {}", gref.0, e.name()))?;
                self.next += 1;
                Ok(gref)
            })
            .collect()
    }

    /// A reference of our table we never granted.
    pub fn ungranted(&self) -> GrantRef {
        GrantRef(self.next + 200)
    }
}

/// One interface's front end, connected.
pub struct Netfront {
    /// Our MAC (the toolstack's `mac` node).
    pub mac: [u8; 6],
    dev: String,
    backend: String,
    tx: TxRing<'static>,
    rx: RxRing<'static>,
    tx_pages: usize,
    rx_pages: usize,
    port: u32,
    /// Frames smoltcp sent that found no free buffer (dropped).
    pub tx_full: u64,
}

/// Waits until the node `path` (a xenbus state) satisfies `want`, up to `timeout_ns`; the
/// state, or why not.
pub fn wait_state(
    xs: &mut XsClient,
    path: &str,
    timeout_ns: u64,
    want: impl Fn(XenbusState) -> bool,
) -> Result<XenbusState, String> {
    let deadline = crate::time::now().saturating_add(timeout_ns);
    loop {
        let s = xs.read_state(path);
        if want(s) {
            return Ok(s);
        }
        let now = crate::time::now();
        if now >= deadline {
            return Err(format!(
                "{path} still {s:?} after {} s",
                timeout_ns / 1_000_000_000
            ));
        }
        // Watch events wake us; the slice bounds a missed one.
        let _ = xs.next_event((deadline - now).min(100_000_000));
    }
}

/// A ring page at `va` (one of ours from [`alloc_pages`]).
fn sring(va: usize) -> &'static SharedRing {
    // SAFETY: `va` is a page-aligned (so 64-byte-aligned) page of our own, never freed nor
    // used for anything else; the back end accesses it only through the ring protocol, and
    // every field of `SharedRing` is atomic.
    unsafe { SharedRing::from_ptr(va as *mut u8) }
}

impl Netfront {
    /// Connects interface `devid` (`device/vif/<devid>`) through the whole handshake, with
    /// `sizes` buffers, waiting up to `timeout_ns` for each step of the back end.
    pub fn connect(
        xs: &mut XsClient,
        grants: &mut Grants,
        devid: u32,
        sizes: Sizes,
        timeout_ns: u64,
    ) -> Result<Netfront, String> {
        let dev = format!("device/vif/{devid}");
        let read = |xs: &mut XsClient, n: &str| {
            xs.read(&format!("{dev}/{n}"))
                .map_err(|e| format!("reading {dev}/{n}: {}", e.name()))
        };
        let backend = read(xs, "backend")?;
        let backend_id = read(xs, "backend-id")?;
        let backend_id = backend_id
            .trim()
            .parse::<u16>()
            .map(DomId)
            .map_err(|_| format!("backend-id {backend_id:?} is not a domain"))?;
        let mac = read(xs, "mac")?;
        let mac = parse_mac(&mac).ok_or_else(|| format!("mac {mac:?} is not a MAC"))?;
        let be_state = format!("{backend}/state");
        // A reconnection finds the watch of the first connection still set.
        match xs.watch(&be_state, "netfront") {
            Ok(()) | Err(Errno::EEXIST) => {}
            Err(e) => return Err(format!("watching {be_state}: {}", e.name())),
        }
        wait_state(xs, &be_state, timeout_ns, |s| s == XenbusState::InitWait)?;
        let rx_copy = xs
            .read(&format!("{backend}/feature-rx-copy"))
            .is_ok_and(|v| v.trim() == "1");
        if !rx_copy {
            return Err(String::from(
                "the back end does not offer feature-rx-copy (we cannot take page flips)",
            ));
        }

        let rings = alloc_pages(2)?;
        let ring_grefs = grants.grant(backend_id, rings, 2, false)?;
        let tx_pages = alloc_pages(sizes.tx)?;
        let tx_grefs = grants.grant(backend_id, tx_pages, sizes.tx, true)?;
        let rx_pages = alloc_pages(sizes.rx)?;
        let rx_grefs = grants.grant(backend_id, rx_pages, sizes.rx, false)?;
        let tx = TxRing::new(sring(rings), tx_grefs);
        let mut rx = RxRing::new(sring(rings + PAGE_SIZE), rx_grefs);

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
        // Receive buffers are posted before we say Connected (as Linux's netfront does).
        rx.refill();

        let one = || String::from("1");
        let nodes = [
            ("tx-ring-ref", ring_grefs[0].0.to_string()),
            ("rx-ring-ref", ring_grefs[1].0.to_string()),
            ("event-channel", port.to_string()),
            ("request-rx-copy", one()),
            ("feature-rx-notify", one()),
            ("feature-sg", one()),
            // We neither fill in blank checksums nor trust unchecked ones: the back end
            // must hand us frames with their checksums complete.
            ("feature-no-csum-offload", one()),
            ("state", xenbus::text(XenbusState::Connected)),
        ];
        xs.write_all(&dev, &nodes)?;
        wait_state(xs, &be_state, timeout_ns, |s| s == XenbusState::Connected)?;
        let nf = Netfront {
            mac,
            dev,
            backend,
            tx,
            rx,
            tx_pages,
            rx_pages,
            port,
            tx_full: 0,
        };
        nf.notify();
        Ok(nf)
    }

    /// The back end's state now.
    pub fn backend_state(&self, xs: &mut XsClient) -> XenbusState {
        xs.read_state(&format!("{}/state", self.backend))
    }

    fn notify(&self) {
        let _ = crate::events::send(self.port);
    }

    /// The next frame received, if any; receive buffers are posted again as they are used.
    pub fn recv(&mut self) -> Option<Vec<u8>> {
        let pages = self.rx_pages;
        let f = self.rx.next_frame(|id, off, len, out| {
            let at = out.len();
            out.resize(at + len, 0);
            let src = pages + usize::from(id) * PAGE_SIZE + off;
            // SAFETY: receive buffer `id` is a page of ours, answered by the back end (not
            // posted now); `off + len` is within the page (RxRing checks); `out` has room.
            unsafe {
                core::ptr::copy_nonoverlapping(src as *const u8, out[at..].as_mut_ptr(), len)
            };
        });
        if self.rx.refill() {
            self.notify();
        }
        f
    }

    /// Takes the transmit responses waiting (freeing their buffers); each to `seen`.
    pub fn reap(&mut self, seen: impl FnMut(&NetifTxResponse)) -> usize {
        self.tx.reap(seen)
    }

    /// Sends a frame (at most a page); false if no buffer or slot is free (dropped).
    pub fn send(&mut self, frame: &[u8]) -> bool {
        self.tx.reap(|_| {});
        let Some(id) = self.tx_alloc() else {
            self.tx_full += 1;
            return false;
        };
        let len = frame.len().min(PAGE_SIZE);
        self.tx_fill(id, 0, &frame[..len]);
        // A buffer from tx_alloc comes with a free slot.
        let _ = self.tx.send(id, 0, len as u16);
        self.push_tx();
        true
    }

    /// Whether a frame can be sent now.
    pub fn can_send(&mut self) -> bool {
        self.tx.reap(|_| {});
        self.tx.can_send()
    }

    /// A free transmit buffer (with a free ring slot).
    pub fn tx_alloc(&mut self) -> Option<u16> {
        self.tx.alloc()
    }

    /// Its grant.
    pub fn tx_gref(&self, id: u16) -> GrantRef {
        self.tx.gref(id)
    }

    /// Copies `bytes` to `offset` of transmit buffer `id` (clipped to the page).
    pub fn tx_fill(&mut self, id: u16, offset: usize, bytes: &[u8]) {
        let len = bytes.len().min(PAGE_SIZE.saturating_sub(offset));
        let dst = self.tx_pages + usize::from(id) * PAGE_SIZE + offset;
        // SAFETY: transmit buffer `id` is a page of ours taken by tx_alloc and not yet
        // queued, which the back end may only read (a read-only grant) and only once we
        // publish it; `offset + len` is within the page.
        unsafe { core::ptr::copy_nonoverlapping(bytes.as_ptr(), dst as *mut u8, len) };
    }

    /// Hostile tests: queues `req` as it is (not yet published).
    pub fn queue_raw(&mut self, req: &NetifTxRequest) -> bool {
        self.tx.queue_raw(req).is_ok()
    }

    /// Publishes the transmit requests queued, notifying the back end if it asked.
    pub fn push_tx(&mut self) {
        if self.tx.push() {
            self.notify();
        }
    }

    /// Sleeps until an event of ours, a response waiting, or `deadline` (system time).
    pub fn sleep(&mut self, deadline: u64) {
        if self.rx.final_check() | self.tx.final_check() {
            return;
        }
        let now = crate::time::now();
        if now >= deadline {
            return;
        }
        let before = EVENTS.load(Ordering::SeqCst);
        let (rx, tx) = (&self.rx, &self.tx);
        crate::xenbus::wait::until(deadline - now, || {
            rx.pending() || tx.pending() || EVENTS.load(Ordering::SeqCst) != before
        });
    }

    /// Disconnects: Closing, then Closed once the back end closes too (each waited for up
    /// to `timeout_ns`), and closes the event channel. Its grants stay (never reused).
    pub fn close(self, xs: &mut XsClient, timeout_ns: u64) -> Result<(), String> {
        let be_state = format!("{}/state", self.backend);
        let state = format!("{}/state", self.dev);
        let _ = crate::events::close(self.port);
        xs.write(&state, &xenbus::text(XenbusState::Closing))
            .map_err(|e| format!("writing {state}: {}", e.name()))?;
        wait_state(xs, &be_state, timeout_ns, |s| {
            matches!(
                s,
                XenbusState::Closing | XenbusState::Closed | XenbusState::Unknown
            )
        })?;
        xs.write(&state, &xenbus::text(XenbusState::Closed))
            .map_err(|e| format!("writing {state}: {}", e.name()))?;
        wait_state(xs, &be_state, timeout_ns, |s| {
            matches!(
                s,
                XenbusState::Closed | XenbusState::InitWait | XenbusState::Unknown
            )
        })?;
        Ok(())
    }

    /// Reopens the device after [`close`](Self::close): state Initialising, so that the
    /// back end offers itself again (InitWait).
    pub fn reopen(xs: &mut XsClient, devid: u32) -> Result<(), String> {
        let state = format!("device/vif/{devid}/state");
        xs.write(&state, &xenbus::text(XenbusState::Initialising))
            .map_err(|e| format!("writing {state}: {}", e.name()))
    }
}

/// A frame received, handed to smoltcp.
pub struct RxFrame(Vec<u8>);

impl phy::RxToken for RxFrame {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(&self.0)
    }
}

/// Room to send one frame.
pub struct TxSlot<'a>(&'a mut Netfront);

impl phy::TxToken for TxSlot<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let mut buf = [0u8; MAX_FRAME];
        let len = len.min(MAX_FRAME);
        let r = f(&mut buf[..len]);
        self.0.send(&buf[..len]);
        r
    }
}

impl Device for Netfront {
    type RxToken<'a> = RxFrame;
    type TxToken<'a> = TxSlot<'a>;

    fn receive(&mut self, _: Instant) -> Option<(RxFrame, TxSlot<'_>)> {
        let f = self.recv()?;
        Some((RxFrame(f), TxSlot(self)))
    }

    fn transmit(&mut self, _: Instant) -> Option<TxSlot<'_>> {
        self.can_send().then_some(TxSlot(self))
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ethernet;
        // smoltcp's Ethernet MTU counts the header: 1500 bytes of IP.
        caps.max_transmission_unit = MAX_FRAME;
        caps.max_burst_size = None;
        caps
    }
}
