//! The domU console front end: once the console device is connected (see
//! [`crate::xenbus::front`]), output goes into the `out` ring of our console page
//! (`xencons_interface`) and is signalled on the console event channel; typed input is read
//! from the `in` ring. Before that (or if the back end stops consuming) output goes through
//! `console_io`, as it always does for dom0.
//!
//! A write waits only while the ring is full; [`drain`] waits (a bounded time) until the back
//! end has consumed everything, so that output keeps its order with what the hypervisor prints
//! next (the report of a crash that follows at once, say).

use crate::xenbus::page::SharedPage;
use crate::xenbus::wait;
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering::SeqCst};
use dom0_tools::xenstore::ring::{self, CONS_IN, CONS_OUT};
use guest_abi::start_info::StartInfo;
use guest_abi::types::EvtchnPort;

static PAGE_VA: AtomicUsize = AtomicUsize::new(0);
static PORT: AtomicU32 = AtomicU32::new(0);
static ON: AtomicBool = AtomicBool::new(false);
/// Set while a write is in progress (a nested print, from an event handler, goes to
/// console_io).
static BUSY: AtomicBool = AtomicBool::new(false);

/// How long a write waits for the back end to consume it before falling back.
const DRAIN_TIMEOUT_NS: u64 = 1_000_000_000;

/// Our console page and port (`None` if start_info gives none).
pub fn locate(si: &StartInfo) -> Option<(SharedPage, u32)> {
    let c = si.console.domu();
    let page = SharedPage::of_mfn(si, c.mfn.0)?;
    (c.evtchn.0 != 0).then_some((page, c.evtchn.0))
}

/// Routes output through the ring from now on.
pub fn enable(page: SharedPage, port: u32) {
    PAGE_VA.store(page.va(), SeqCst);
    PORT.store(port, SeqCst);
    ON.store(true, SeqCst);
}

/// Whether output goes through the ring.
pub fn enabled() -> bool {
    ON.load(SeqCst)
}

fn notify() {
    let _ = guest_abi::guest::evtchn_send(EvtchnPort(PORT.load(SeqCst)));
}

/// Writes `data` to the ring and waits until the back end took it; `false` if the ring is
/// not in use (the caller uses console_io).
pub fn write(data: &[u8]) -> bool {
    if !ON.load(SeqCst) || BUSY.swap(true, SeqCst) {
        return false;
    }
    let mut page = SharedPage::from_va(PAGE_VA.load(SeqCst));
    let mut sent = 0;
    let mut ok = true;
    while sent < data.len() {
        match ring::write(&mut page, CONS_OUT, &data[sent..]) {
            Ok(n) => sent += n,
            Err(_) => {
                ok = false;
                break;
            }
        }
        notify();
        if sent == data.len() {
            break;
        }
        // The ring is full: wait until dom0 took it all.
        if !drained(page) {
            ok = false;
            break;
        }
    }
    if !ok {
        // The back end is gone or stuck: back to console_io for good.
        ON.store(false, SeqCst);
        let _ = guest_abi::guest::console_write(&data[sent..]);
    }
    BUSY.store(false, SeqCst);
    true
}

/// Waits (a bounded time, yielding rather than blocking so the domain stays runnable)
/// until dom0 has taken everything in the output ring.
fn drained(page: SharedPage) -> bool {
    wait::yielding(DRAIN_TIMEOUT_NS, || {
        ring::pending(&page, CONS_OUT).unwrap_or(0) == 0
    })
}

/// Waits until dom0 has taken our output: call before something that may end the domain
/// at once (a deliberate fault, a panic), so the output precedes the hypervisor's report.
pub fn drain() {
    if ON.load(SeqCst) && !drained(SharedPage::from_va(PAGE_VA.load(SeqCst))) {
        ON.store(false, SeqCst);
    }
}

/// Reads waiting input into `buf` (0 if none or the ring is not in use).
pub fn read(buf: &mut [u8]) -> usize {
    if !ON.load(SeqCst) {
        return 0;
    }
    let mut page = SharedPage::from_va(PAGE_VA.load(SeqCst));
    let n = ring::read(&mut page, CONS_IN, buf).unwrap_or(0);
    if n > 0 {
        notify();
    }
    n
}

/// Waits up to `timeout_ns` for input.
pub fn wait_input(timeout_ns: u64) -> bool {
    let page = SharedPage::from_va(PAGE_VA.load(SeqCst));
    wait::until(timeout_ns, || {
        ring::pending(&page, CONS_IN).unwrap_or(0) > 0
    })
}

/// `test=echo`: prints every line typed on the console as `echo: <line>`, forever.
pub fn echo_loop() -> ! {
    crate::println!("echo: ready, type a line");
    let mut line = alloc::vec::Vec::new();
    let mut buf = [0u8; 64];
    loop {
        let n = read(&mut buf);
        if n == 0 {
            wait_input(1_000_000_000);
            continue;
        }
        for &b in &buf[..n] {
            match b {
                b'\n' | b'\r' if !line.is_empty() => {
                    crate::println!("echo: {}", alloc::string::String::from_utf8_lossy(&line));
                    line.clear();
                }
                b'\n' | b'\r' => {}
                _ if line.len() < 256 => line.push(b),
                _ => {}
            }
        }
    }
}
