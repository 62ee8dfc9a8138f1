//! A page shared with dom0 (the xenstore or console ring page of our initial region),
//! accessed with volatile loads and stores since dom0 changes it under us.

use crate::entry::VIRT_BASE;
use crate::pagetable::PAGE_SIZE;
use dom0_tools::xenstore::ring::RingPage;
use guest_abi::start_info::StartInfo;

/// One shared page.
#[derive(Clone, Copy, Debug)]
pub struct SharedPage {
    va: usize,
}

impl SharedPage {
    /// The page of our initial region backed by machine frame `mfn`, found in the p2m list
    /// the builder gave us (`None` if no PFN has it).
    pub fn of_mfn(si: &StartInfo, mfn: u64) -> Option<SharedPage> {
        if mfn == 0 {
            return None;
        }
        // SAFETY: the builder maps the p2m list (one u64 per PFN, nr_pages of them) at
        // mfn_list for the life of the domain; nothing writes to it.
        let p2m =
            unsafe { core::slice::from_raw_parts(si.mfn_list as *const u64, si.nr_pages as usize) };
        let pfn = p2m.iter().position(|&m| m == mfn)? as u64;
        Some(SharedPage {
            va: (VIRT_BASE + pfn * PAGE_SIZE) as usize,
        })
    }

    /// Rebuilds a handle from [`SharedPage::va`].
    pub const fn from_va(va: usize) -> SharedPage {
        SharedPage { va }
    }

    pub fn va(&self) -> usize {
        self.va
    }

    fn at(&self, off: usize) -> *mut u8 {
        assert!(off < PAGE_SIZE as usize);
        (self.va + off) as *mut u8
    }
}

impl RingPage for SharedPage {
    fn load_u32(&self, off: usize) -> u32 {
        // SAFETY: `at` bounds the offset to our mapped, writable page; the ring indices are
        // 4-byte aligned fields of the ring structures.
        unsafe { core::ptr::read_volatile(self.at(off) as *const u32) }
    }
    fn store_u32(&mut self, off: usize, v: u32) {
        // SAFETY: as in load_u32.
        unsafe { core::ptr::write_volatile(self.at(off) as *mut u32, v) }
    }
    fn load_u8(&self, off: usize) -> u8 {
        // SAFETY: `at` bounds the offset to our mapped page.
        unsafe { core::ptr::read_volatile(self.at(off)) }
    }
    fn store_u8(&mut self, off: usize, v: u8) {
        // SAFETY: as in load_u8; the page is mapped writable (initial region).
        unsafe { core::ptr::write_volatile(self.at(off), v) }
    }
}
