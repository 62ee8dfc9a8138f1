//! The software page walk behind every guest-memory access.
//!
//! The hypervisor never dereferences a guest virtual address. It walks the guest's page
//! tables (by machine address, through the direct map) checking at every level that the
//! entry is present and user-accessible, and writable for a write, refuses the hypervisor
//! hole and non-canonical addresses, and then touches the machine frame through the direct
//! map. The walk is pure: it reads tables through [`PhysRead`], so it is host-tested.

use super::pte;
use guest_abi::errno::Errno;
use guest_abi::types::Mfn;

/// Reads 64-bit words of machine memory.
pub trait PhysRead {
    /// The word at machine address `maddr` (8-aligned).
    fn read_u64(&self, maddr: u64) -> u64;
    /// Whether `mfn` is RAM the hypervisor may touch on a guest's behalf.
    fn is_ram(&self, mfn: Mfn) -> bool;
    /// Whether the page `mfn` a guest mapping ends at may be read or written for the guest:
    /// RAM, never I/O memory (a device's registers are the guest's own business).
    fn is_guest_data(&self, mfn: Mfn) -> bool {
        self.is_ram(mfn)
    }
}

/// The hypervisor hole, which guest pointers may never name.
pub use guest_abi::arch::{HYPERVISOR_VIRT_END as HOLE_END, HYPERVISOR_VIRT_START as HOLE_START};

/// Whether an address is canonical (bits 63–47 all equal).
pub fn canonical(va: u64) -> bool {
    !(0x0000_8000_0000_0000..0xFFFF_8000_0000_0000).contains(&va)
}

/// Whether a guest pointer is canonical and outside the hypervisor hole.
pub fn guest_va_ok(va: u64) -> bool {
    canonical(va) && !(HOLE_START..HOLE_END).contains(&va)
}

/// Translate guest virtual address `va` under the L4 table in frame `l4_mfn` to a machine
/// address, checking user access (and write access if `write`) at every level.
pub fn translate(mem: &impl PhysRead, l4_mfn: Mfn, va: u64, write: bool) -> Result<u64, Errno> {
    if !guest_va_ok(va) {
        return Err(Errno::EFAULT);
    }
    let mut table = l4_mfn;
    for level in (1..=4u32).rev() {
        if !mem.is_ram(table) {
            return Err(Errno::EFAULT);
        }
        let idx = (va >> (12 + 9 * (level - 1))) & 0x1FF;
        let e = mem.read_u64(table.addr() | (idx << 3));
        let need = pte::P | pte::US | if write { pte::RW } else { 0 };
        if e & need != need {
            return Err(Errno::EFAULT);
        }
        if level > 1 && e & pte::PSE != 0 {
            // Guest tables never hold superpages (validation refuses them).
            return Err(Errno::EFAULT);
        }
        table = pte::mfn(e);
    }
    if !mem.is_guest_data(table) {
        return Err(Errno::EFAULT);
    }
    Ok(table.addr() | (va & 0xFFF))
}

/// The L1 table and slot through which `va` is mapped (or would be) under the L4 table in
/// frame `l4`: the entries at L4–L2 on the way must be present (no user or write check: the
/// PV MMU finds the slot to change, it does not access the page). `None` for an address a
/// guest cannot name or a missing table.
pub fn l1_slot(mem: &impl PhysRead, l4: Mfn, va: u64) -> Option<(Mfn, usize)> {
    if !guest_va_ok(va) {
        return None;
    }
    let mut table = l4;
    for level in (2..=4u32).rev() {
        let idx = (va >> (12 + 9 * (level - 1))) & 0x1FF;
        if !mem.is_ram(table) {
            return None;
        }
        let e = mem.read_u64(table.addr() | (idx << 3));
        if !pte::present(e) {
            return None;
        }
        table = pte::mfn(e);
    }
    Some((table, ((va >> 12) & 0x1FF) as usize))
}

/// Split the guest range `[va, va+len)` into per-page chunks `(va, len)`; `None` on overflow.
pub fn chunks(va: u64, len: usize) -> Option<impl Iterator<Item = (u64, usize)>> {
    let end = va.checked_add(len as u64)?;
    let mut cur = va;
    Some(core::iter::from_fn(move || {
        if cur >= end {
            return None;
        }
        let page_end = (cur | 0xFFF).saturating_add(1).min(end);
        let chunk = (cur, (page_end - cur) as usize);
        cur = page_end;
        Some(chunk)
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    struct M(HashMap<u64, u64>);
    impl PhysRead for M {
        fn read_u64(&self, maddr: u64) -> u64 {
            *self.0.get(&maddr).unwrap_or(&0)
        }
        fn is_ram(&self, mfn: Mfn) -> bool {
            mfn.0 < 1000
        }
        fn is_guest_data(&self, mfn: Mfn) -> bool {
            // Frame 500 plays a device's registers inside the RAM range.
            self.is_ram(mfn) && mfn.0 != 500
        }
    }

    const U: u64 = pte::P | pte::US;
    const UW: u64 = pte::P | pte::US | pte::RW;

    fn map(va: u64, flags_leaf: u64, flags_mid: u64) -> M {
        let idx = |l: u32| (va >> (12 + 9 * (l - 1))) & 0x1FF;
        let mut m = HashMap::new();
        m.insert((1 << 12) | (idx(4) << 3), (2 << 12) | flags_mid);
        m.insert((2 << 12) | (idx(3) << 3), (3 << 12) | flags_mid);
        m.insert((3 << 12) | (idx(2) << 3), (4 << 12) | flags_mid);
        m.insert((4 << 12) | (idx(1) << 3), (77 << 12) | flags_leaf);
        M(m)
    }

    #[test]
    fn translates_a_user_mapping() {
        let va = 0xFFFF_FFFF_8012_3456;
        let m = map(va, UW, UW);
        assert_eq!(translate(&m, Mfn(1), va, true), Ok((77 << 12) | 0x456));
    }

    #[test]
    fn write_needs_rw_at_every_level() {
        let va = 0x40_1000;
        assert_eq!(
            translate(&map(va, U, UW), Mfn(1), va, true),
            Err(Errno::EFAULT)
        );
        assert_eq!(
            translate(&map(va, UW, U), Mfn(1), va, true),
            Err(Errno::EFAULT)
        );
        assert!(translate(&map(va, U, U), Mfn(1), va, false).is_ok());
    }

    #[test]
    fn supervisor_only_and_absent_mappings_fault() {
        let va = 0x40_1000;
        assert_eq!(
            translate(&map(va, pte::P, UW), Mfn(1), va, false),
            Err(Errno::EFAULT)
        );
        assert_eq!(
            translate(&map(va, UW, UW), Mfn(1), va + 0x20_0000, false),
            Err(Errno::EFAULT)
        );
    }

    #[test]
    fn the_hole_and_noncanonical_addresses_are_refused() {
        for va in [
            0xFFFF_8000_0000_0000,
            0xFFFF_8300_0000_1000,
            0xFFFF_87FF_FFFF_FFFF,
            0x0000_8000_0000_0000,
        ] {
            let m = map(va, UW, UW);
            assert_eq!(
                translate(&m, Mfn(1), va, false),
                Err(Errno::EFAULT),
                "{va:#x}"
            );
        }
    }

    #[test]
    fn a_leaf_outside_ram_faults() {
        let va = 0x40_1000;
        let mut m = map(va, UW, UW);
        let idx1 = (va >> 12) & 0x1FF;
        m.0.insert((4 << 12) | (idx1 << 3), (5000 << 12) | UW);
        assert_eq!(translate(&m, Mfn(1), va, false), Err(Errno::EFAULT));
    }

    #[test]
    fn a_leaf_on_io_memory_faults_even_within_the_ram_range() {
        let va = 0x40_0000;
        let mut m = map(va, U, U);
        assert!(translate(&m, Mfn(1), va, false).is_ok());
        // The same leaf, pointing at frame 500 (I/O memory here).
        m.0.insert((4 << 12) | (((va >> 12) & 0x1FF) << 3), (500 << 12) | U);
        assert_eq!(translate(&m, Mfn(1), va, false), Err(Errno::EFAULT));
    }

    #[test]
    fn chunks_split_at_page_boundaries() {
        let v: Vec<_> = chunks(0x1ff0, 0x30).unwrap().collect();
        assert_eq!(v, vec![(0x1ff0, 0x10), (0x2000, 0x20)]);
        assert!(chunks(u64::MAX - 1, 4).is_none());
        assert_eq!(chunks(0x1000, 0).unwrap().count(), 0);
    }
}
