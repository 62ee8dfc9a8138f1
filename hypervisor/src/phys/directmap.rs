//! The direct map: all RAM at `0xFFFF830000000000 + phys` (L4 slot 262), supervisor-only, NX.
//! During boot the first 4 GiB are mapped there by the boot page tables; `paging::init`
//! replaces that with a map of all RAM.

use guest_abi::types::Mfn;

/// Base of the direct map.
pub const DIRECTMAP_BASE: u64 = 0xFFFF_8300_0000_0000;

/// The direct-map address of physical address `pa`.
#[cfg(target_os = "none")]
pub fn phys_to_virt(pa: u64) -> *mut u8 {
    (DIRECTMAP_BASE + pa) as *mut u8
}

/// The direct-map address of physical address `pa`: on the host, inside the modelled RAM
/// (callers bound `pa` by the number of RAM frames, as on bare metal).
#[cfg(not(target_os = "none"))]
pub fn phys_to_virt(pa: u64) -> *mut u8 {
    crate::phys::ram::base().wrapping_add(pa as usize)
}

/// The direct-map address of machine frame `mfn`.
pub fn mfn_to_virt(mfn: Mfn) -> *mut u8 {
    phys_to_virt(mfn.addr())
}

/// The physical address of a bare-metal direct-map address, if it is one.
pub fn virt_to_phys(va: u64) -> Option<u64> {
    va.checked_sub(DIRECTMAP_BASE).filter(|&pa| pa < 1 << 43)
}
