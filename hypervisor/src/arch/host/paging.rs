//! The modelled machine's paging structures the hypervisor owns: the M2P (in modelled RAM, as
//! on bare metal: `arch::page_tables`), the hypervisor's L4 slots every guest L4 carries, and
//! the TLB (invalidations are counted).

use core::sync::atomic::{AtomicU64, Ordering};

pub use crate::arch::page_tables::{m2p_get, m2p_set, map_4k, max_mfn, MapError};

static INVLPGS: AtomicU64 = AtomicU64::new(0);

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

/// The host model has no idle page tables of its own: CPU 0 never idles away from its
/// vCPU there (`sched` saves a vCPU out only when several CPUs run vCPUs).
pub fn idle_l4_mfn() -> guest_abi::types::Mfn {
    guest_abi::types::Mfn(0)
}
