//! The modelled machine's paging structures the hypervisor owns: the M2P, the hypervisor's L4
//! slots every guest L4 carries, and the TLB (invalidations are counted).

use super::ram;
use core::sync::atomic::{AtomicU64, Ordering};
use spin::Mutex;

static M2P: Mutex<Vec<u64>> = Mutex::new(Vec::new());
static INVLPGS: AtomicU64 = AtomicU64::new(0);

/// One past the highest MFN of RAM.
pub fn max_mfn() -> u64 {
    ram::FRAMES
}

/// Sets M2P[mfn] = pfn (ignored for MFNs beyond RAM).
pub fn m2p_set(mfn: u64, pfn: u64) {
    if mfn < max_mfn() {
        let mut m = M2P.lock();
        if m.is_empty() {
            m.resize(max_mfn() as usize, u64::MAX);
        }
        m[mfn as usize] = pfn;
    }
}

/// Reads M2P[mfn] (`u64::MAX` for MFNs beyond RAM or never set).
pub fn m2p_get(mfn: u64) -> u64 {
    M2P.lock().get(mfn as usize).copied().unwrap_or(u64::MAX)
}

/// The hypervisor's L4 entries for slots 256..272: distinct, present, supervisor-only
/// entries (naming reserved low frames), so a test sees whether they were copied.
pub fn hypervisor_l4_slots() -> [u64; 16] {
    core::array::from_fn(|i| ((i as u64 + 1) << 12) | 0x63)
}

/// Invalidates the TLB entry of `va` (counted).
pub fn invlpg(_va: u64) {
    INVLPGS.fetch_add(1, Ordering::Relaxed);
}

/// How many single-page invalidations there were.
pub fn invlpgs() -> u64 {
    INVLPGS.load(Ordering::Relaxed)
}
