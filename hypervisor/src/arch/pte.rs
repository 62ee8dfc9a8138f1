//! x86_64 page-table entry bits: the hypervisor's own tables use them and the PV MMU validates
//! guests' entries against them.

use guest_abi::types::Mfn;

/// Present.
pub const P: u64 = 1 << 0;
/// Writable.
pub const RW: u64 = 1 << 1;
/// User-accessible.
pub const US: u64 = 1 << 2;
/// Write-through.
pub const PWT: u64 = 1 << 3;
/// Cache disable.
pub const PCD: u64 = 1 << 4;
/// Accessed.
pub const A: u64 = 1 << 5;
/// Dirty.
pub const D: u64 = 1 << 6;
/// Large page at L2/L3; PAT at L1.
pub const PSE: u64 = 1 << 7;
/// PAT bit of an L1 entry.
pub const PAT_L1: u64 = 1 << 7;
/// Global.
pub const G: u64 = 1 << 8;
/// Software-available bits 9–11.
pub const AVAIL: u64 = 0x7 << 9;
/// No-execute.
pub const NX: u64 = 1 << 63;
/// The frame-number field.
pub const ADDR_MASK: u64 = 0x000F_FFFF_FFFF_F000;

/// Flags a guest may set in an L1 entry without I/O permission.
pub const L1_ALLOWED: u64 = P | RW | US | A | D | G | AVAIL | NX;
/// Flags a guest may set in an L2–L4 entry.
pub const UPPER_ALLOWED: u64 = P | RW | US | A | D | AVAIL | NX;
/// Cache-control flags that need I/O permission at L1.
pub const L1_CACHE_CTL: u64 = PWT | PCD | PAT_L1;

/// The machine frame an entry points at.
pub const fn mfn(pte: u64) -> Mfn {
    Mfn::containing(pte & ADDR_MASK)
}

/// Whether the entry is present.
pub const fn present(pte: u64) -> bool {
    pte & P != 0
}

/// A 64-bit PV guest's entry as it is stored: present entries at every level get the user
/// bit, as Xen does, because the guest kernel runs in ring 3 (its kernel and user halves are
/// kept apart by separate page tables, not by this bit). Not-present entries are stored as
/// the guest wrote them.
pub const fn guest_entry(pte: u64) -> u64 {
    if present(pte) {
        pte | US
    } else {
        pte
    }
}

/// The bits that are neither flags nor address (must be zero).
pub const RESERVED: u64 = !(ADDR_MASK | 0xFFF | NX);
