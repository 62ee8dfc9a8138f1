//! The balloon driver: follows `memory/target` (KiB) in our XenStore directory, which
//! `xl mem-set` writes, by giving pages back to the hypervisor (`XENMEM_decrease_reservation`)
//! or taking more (`XENMEM_populate_physmap`, up to the `max_pages` the hypervisor enforces),
//! and keeps our p2m list (PFN → MFN) in step.
//!
//! Only frames beyond the initial region are ballooned: nothing maps or uses them (the
//! kernel, its heap, the p2m list and the page tables all live inside the region), so a frame
//! can go without unmapping anything. PFNs beyond the boot memory (growing past `memory`, up
//! to `maxmem`) get p2m entries in a heap-allocated tail. An idle domU with a XenStore
//! connection watches the target from its idle loop ([`crate::xs_idle`]).

use crate::pagetable::{self, PAGE_SIZE};
use crate::println;
use crate::xenbus::XsClient;
use alloc::vec::Vec;
use guest_abi::errno::Errno;
use guest_abi::guest;
use guest_abi::memory::{
    XenMemoryReservation, XENMEM_CURRENT_RESERVATION, XENMEM_DECREASE_RESERVATION,
    XENMEM_POPULATE_PHYSMAP,
};
use guest_abi::start_info::StartInfo;
use guest_abi::types::DomId;

/// A p2m entry whose PFN has no frame (ballooned out).
pub const INVALID_MFN: u64 = u64::MAX;
/// Pages per memory_op call.
const BATCH: usize = 256;
/// The node we follow, relative to our domain's directory.
const TARGET: &str = "memory/target";
/// Our watch token.
pub const TOKEN: &str = "balloon";

/// Our PFN → MFN map and the range we may balloon.
pub struct Balloon {
    /// The builder's p2m list (one u64 per boot PFN, in the initial region, writable).
    p2m: *mut u64,
    boot_pages: u64,
    /// First PFN beyond the initial region.
    first: u64,
    /// p2m entries of PFNs `boot_pages..`.
    tail: Vec<u64>,
}

impl Balloon {
    pub fn new(si: &StartInfo) -> Balloon {
        let end = pagetable::initial_region_end(si.pt_base, si.nr_pt_frames);
        Balloon {
            p2m: si.mfn_list as *mut u64,
            boot_pages: si.nr_pages,
            first: (end - crate::entry::VIRT_BASE) / PAGE_SIZE,
            tail: Vec::new(),
        }
    }

    fn nr_pfns(&self) -> u64 {
        self.boot_pages + self.tail.len() as u64
    }

    fn get(&self, pfn: u64) -> u64 {
        if pfn < self.boot_pages {
            // SAFETY: the p2m list maps boot_pages u64s in our initial region; pfn is below.
            unsafe { core::ptr::read_volatile(self.p2m.add(pfn as usize)) }
        } else {
            self.tail
                .get((pfn - self.boot_pages) as usize)
                .copied()
                .unwrap_or(INVALID_MFN)
        }
    }

    fn set(&mut self, pfn: u64, mfn: u64) {
        if pfn < self.boot_pages {
            // SAFETY: as in `get`; the builder maps the p2m list writable, and only this
            // driver changes entries beyond the initial region.
            unsafe { core::ptr::write_volatile(self.p2m.add(pfn as usize), mfn) }
        } else if let Some(e) = self.tail.get_mut((pfn - self.boot_pages) as usize) {
            *e = mfn;
        }
    }

    /// Gives up to `n` frames back, the highest PFNs first; returns how many went.
    pub fn shrink(&mut self, n: u64) -> u64 {
        let mut gone = 0;
        while gone < n {
            let want = ((n - gone) as usize).min(BATCH);
            let pfns: Vec<u64> = (self.first..self.nr_pfns())
                .rev()
                .filter(|&p| self.get(p) != INVALID_MFN)
                .take(want)
                .collect();
            if pfns.is_empty() {
                break;
            }
            let mut mfns: Vec<u64> = pfns.iter().map(|&p| self.get(p)).collect();
            let done = reservation(XENMEM_DECREASE_RESERVATION, &mut mfns).unwrap_or(0);
            for &p in &pfns[..done] {
                self.set(p, INVALID_MFN);
            }
            gone += done as u64;
            if done < pfns.len() {
                break;
            }
        }
        gone
    }

    /// Takes up to `n` more frames, filling the lowest empty PFNs first (and growing past the
    /// boot memory if need be); returns how many came.
    pub fn grow(&mut self, n: u64) -> u64 {
        let mut got = 0;
        while got < n {
            let want = ((n - got) as usize).min(BATCH);
            let mut pfns: Vec<u64> = (self.first..self.nr_pfns())
                .filter(|&p| self.get(p) == INVALID_MFN)
                .take(want)
                .collect();
            while pfns.len() < want {
                pfns.push(self.nr_pfns());
                self.tail.push(INVALID_MFN);
            }
            let mut extents = pfns.clone();
            let done = reservation(XENMEM_POPULATE_PHYSMAP, &mut extents).unwrap_or(0);
            for (i, &p) in pfns[..done].iter().enumerate() {
                self.set(p, extents[i]);
            }
            // Tail entries the hypervisor did not fill are not kept.
            while self.tail.last() == Some(&INVALID_MFN) {
                self.tail.pop();
            }
            got += done as u64;
            if done < pfns.len() {
                break;
            }
        }
        got
    }

    /// Starts watching `memory/target` (the watch fires once at once).
    pub fn watch(&self, xs: &mut XsClient) {
        if let Err(e) = xs.watch(TARGET, TOKEN) {
            println!("balloon: cannot watch {TARGET}: {}", e.name());
        }
    }

    /// `memory/target` changed: move towards it.
    pub fn on_event(&mut self, xs: &mut XsClient) {
        match xs.read(TARGET).map(|v| v.trim().parse::<u64>()) {
            Ok(Ok(kib)) => self.adjust(kib),
            Ok(Err(_)) => println!("balloon: {TARGET} is not a number of KiB"),
            Err(Errno::ENOENT) => {}
            Err(e) => println!("balloon: cannot read {TARGET}: {}", e.name()),
        }
    }

    /// Moves towards `target_kib`; prints what happened when anything did (or could not).
    pub fn adjust(&mut self, target_kib: u64) {
        let Ok(have) = current_pages() else {
            println!("balloon: cannot read our reservation");
            return;
        };
        let want = target_kib / (PAGE_SIZE / 1024);
        if want == have {
            return;
        }
        let (verb, moved, asked) = if want < have {
            ("gave back", self.shrink(have - want), have - want)
        } else {
            ("took", self.grow(want - have), want - have)
        };
        let now = current_pages().unwrap_or(0);
        println!(
            "balloon: target {target_kib} KiB: {verb} {moved} pages, now {} KiB",
            now * (PAGE_SIZE / 1024)
        );
        if moved < asked {
            let why = if want < have {
                "the rest is our initial region (kernel, p2m, page tables)"
            } else {
                "the hypervisor refused more (maxmem or free memory)"
            };
            println!("balloon: stopped {} pages short: {why}", asked - moved);
        }
    }
}

/// `XENMEM_current_reservation` for ourselves: the pages we hold.
fn current_pages() -> Result<u64, Errno> {
    let mut dom = DomId::SELF;
    // SAFETY: current_reservation reads one domid_t from `dom`, which lives across the call.
    unsafe { guest::memory_op_raw(XENMEM_CURRENT_RESERVATION, (&raw mut dom).cast()) }
}

/// One order-0 reservation op on `extents` for ourselves; returns how many were done.
fn reservation(op: u32, extents: &mut [u64]) -> Result<usize, Errno> {
    let mut r = XenMemoryReservation {
        extent_start: extents.as_mut_ptr() as u64,
        nr_extents: extents.len() as u64,
        extent_order: 0,
        mem_flags: 0,
        domid: DomId::SELF,
        _pad: [0; 3],
    };
    // SAFETY: `extents` is a live array of nr_extents u64s. Decrease gives back frames of
    // PFNs beyond the initial region, which nothing maps; populate adds frames to empty PFNs.
    let done = unsafe { guest::memory_op(op, &mut r) }?;
    Ok(done as usize)
}
