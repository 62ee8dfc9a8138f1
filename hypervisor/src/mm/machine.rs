//! Machine memory through the direct map: the one place the PV MMU and the guest-copy
//! layer read and write frames.

use super::guest_walk::PhysRead;
use super::page_types::TableMem;
use core::sync::atomic::{AtomicU32, Ordering};

/// Advances with every full TLB flush; starts at 1 so that 0 can mean "no flush pending".
static TLB_EPOCH: AtomicU32 = AtomicU32::new(1);

/// Flush this CPU's TLB (all non-global entries) and advance the TLB epoch.
pub fn flush_tlb_local() {
    let cr3 = crate::arch::x86_64::cpu::read_cr3();
    crate::arch::x86_64::cpu::write_cr3(cr3);
    TLB_EPOCH.fetch_add(1, Ordering::Relaxed);
}

/// One byte of a frame the hypervisor allocated (a domain's shared_info), read through the
/// direct map without the state lock.
pub fn read_u8_unlocked(maddr: u64) -> u8 {
    if maddr >> 12 >= crate::arch::x86_64::paging::max_mfn() {
        return 0;
    }
    let p = crate::mm::directmap::phys_to_virt(maddr);
    // SAFETY: a byte of RAM (checked above), mapped by the direct map for the hypervisor's
    // lifetime; a volatile read of a byte the guest may write concurrently is benign.
    unsafe { p.read_volatile() }
}

/// Direct-map access to machine memory, bounded by the number of RAM frames.
pub struct Machine {
    /// One past the highest machine frame the hypervisor manages.
    pub max_mfn: u64,
}

impl Machine {
    fn entry_ptr(&self, mfn: u64, idx: usize) -> Option<*mut u64> {
        if mfn >= self.max_mfn || idx >= 512 {
            return None;
        }
        Some(
            crate::mm::directmap::mfn_to_virt(mfn)
                .cast::<u64>()
                .wrapping_add(idx),
        )
    }

    /// Copy `data` into machine memory at `maddr` (must stay within one frame).
    pub fn write_bytes(&self, maddr: u64, data: &[u8]) {
        let off = (maddr & 0xFFF) as usize;
        if maddr >> 12 >= self.max_mfn || off + data.len() > 4096 {
            return;
        }
        let p = crate::mm::directmap::mfn_to_virt(maddr >> 12).wrapping_add(off);
        // SAFETY: the range lies inside one RAM frame (checked above), which the direct map
        // maps writable; callers only name frames whose owner they checked.
        unsafe { core::ptr::copy_nonoverlapping(data.as_ptr(), p, data.len()) };
    }

    /// Copy machine memory at `maddr` (within one frame) into `out`.
    pub fn read_bytes(&self, maddr: u64, out: &mut [u8]) {
        let off = (maddr & 0xFFF) as usize;
        if maddr >> 12 >= self.max_mfn || off + out.len() > 4096 {
            out.fill(0);
            return;
        }
        let p = crate::mm::directmap::mfn_to_virt(maddr >> 12).wrapping_add(off);
        // SAFETY: the range lies inside one RAM frame (checked above), mapped by the direct map.
        unsafe { core::ptr::copy_nonoverlapping(p, out.as_mut_ptr(), out.len()) };
    }

    /// The aligned u64 at machine address `maddr` as an atomic, for words a guest updates
    /// concurrently (event-channel bitmaps in shared_info). `None` if out of RAM or unaligned.
    pub fn atomic_u64(&self, maddr: u64) -> Option<&core::sync::atomic::AtomicU64> {
        if maddr >> 12 >= self.max_mfn || maddr & 7 != 0 {
            return None;
        }
        let p =
            crate::mm::directmap::mfn_to_virt(maddr >> 12).wrapping_add((maddr & 0xFFF) as usize);
        // SAFETY: an 8-aligned word of a RAM frame, mapped writable by the direct map for the
        // hypervisor's lifetime; all accesses to it through this reference are atomic.
        Some(unsafe { &*p.cast::<core::sync::atomic::AtomicU64>() })
    }

    /// The byte at machine address `maddr` as an atomic (vcpu_info's upcall flags).
    pub fn atomic_u8(&self, maddr: u64) -> Option<&core::sync::atomic::AtomicU8> {
        if maddr >> 12 >= self.max_mfn {
            return None;
        }
        let p =
            crate::mm::directmap::mfn_to_virt(maddr >> 12).wrapping_add((maddr & 0xFFF) as usize);
        // SAFETY: a byte of a RAM frame, mapped writable by the direct map for the
        // hypervisor's lifetime; all accesses to it through this reference are atomic.
        Some(unsafe { &*p.cast::<core::sync::atomic::AtomicU8>() })
    }

    /// Zero a whole frame.
    pub fn zero_frame(&self, mfn: u64) {
        if mfn >= self.max_mfn {
            return;
        }
        // SAFETY: `mfn` is a RAM frame (checked above) mapped writable by the direct map.
        unsafe { core::ptr::write_bytes(crate::mm::directmap::mfn_to_virt(mfn), 0, 4096) };
    }
}

impl TableMem for Machine {
    fn read(&self, mfn: u64, idx: usize) -> u64 {
        match self.entry_ptr(mfn, idx) {
            // SAFETY: an in-range, 8-aligned entry of a RAM frame mapped by the direct map.
            Some(p) => unsafe { p.read_volatile() },
            None => 0,
        }
    }

    fn write(&mut self, mfn: u64, idx: usize, val: u64) {
        if let Some(p) = self.entry_ptr(mfn, idx) {
            // SAFETY: as in `read`; the PV MMU only writes entries of validated tables.
            unsafe { p.write_volatile(val) }
        }
    }

    fn hypervisor_slots(&self) -> [u64; 16] {
        crate::arch::x86_64::paging::hypervisor_l4_slots()
    }

    fn tlb_epoch(&self) -> u32 {
        TLB_EPOCH.load(Ordering::Relaxed)
    }

    fn flush_tlb(&mut self) {
        flush_tlb_local();
    }
}

impl PhysRead for Machine {
    fn read_u64(&self, maddr: u64) -> u64 {
        TableMem::read(self, maddr >> 12, ((maddr & 0xFFF) >> 3) as usize)
    }

    fn is_ram(&self, mfn: u64) -> bool {
        mfn < self.max_mfn
    }
}
