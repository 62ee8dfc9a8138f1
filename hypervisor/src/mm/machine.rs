//! Machine memory through the direct map: the one place the PV MMU and the guest-copy
//! layer read and write frames.

use super::access::{Readable, Writable};
use super::guest_walk::PhysRead;
use super::page_types::{HeldPage, TableMem, XenPage};
use core::sync::atomic::{AtomicU32, Ordering};
use guest_abi::errno::Errno;
use guest_abi::types::{DomId, Mfn};

/// Advances with every full TLB flush; starts at 1 so that 0 can mean "no flush pending".
static TLB_EPOCH: AtomicU32 = AtomicU32::new(1);

/// Flush this CPU's TLB (all non-global entries). While one CPU runs vCPUs that is every TLB
/// that may hold a guest's translation, and the TLB epoch advances; with several it does not
/// (another CPU may still hold one): [`flush_tlb_all`] does.
pub fn flush_tlb_local() {
    let cr3 = crate::arch::cpu::read_cr3();
    crate::arch::cpu::write_cr3(cr3);
    if !crate::cpus::several_run_vcpus() {
        TLB_EPOCH.fetch_add(1, Ordering::Relaxed);
    }
}

/// Flush the TLB of every CPU that may hold a guest's translation (this one, and by
/// shootdown, waiting until each has, every other CPU whose frame holds a vCPU: one that let
/// its vCPU go took the idle page tables, which flushed it) and advance the TLB epoch: no
/// translation removed before the call survives anywhere. Called under the state lock, which
/// also guards which CPUs hold a vCPU. What a frame changing type or owner waits for ([`FrameTable`]'s
/// stale frames): a sibling vCPU on another CPU must not keep writing through a removed
/// writable mapping of a frame that has become a page table.
///
/// [`FrameTable`]: super::page_types::FrameTable
pub fn flush_tlb_all() {
    let cr3 = crate::arch::cpu::read_cr3();
    crate::arch::cpu::write_cr3(cr3);
    if crate::cpus::several_run_vcpus() {
        let others = crate::cpus::guest_loaded() & !(1 << crate::arch::this_cpu());
        crate::arch::shootdown_cpus(others, crate::arch::shootdown::Flush::All);
    }
    TLB_EPOCH.fetch_add(1, Ordering::Relaxed);
}

/// One byte of a frame the hypervisor allocated (a domain's shared_info), read through the
/// direct map without the state lock.
pub fn read_u8_unlocked(maddr: u64) -> u8 {
    if Mfn::containing(maddr).0 >= crate::arch::paging::max_mfn() {
        return 0;
    }
    let p = crate::phys::directmap::phys_to_virt(maddr);
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
    fn entry_ptr(&self, mfn: Mfn, idx: usize) -> Option<*mut u64> {
        if mfn.0 >= self.max_mfn || idx >= 512 {
            return None;
        }
        Some(
            crate::phys::directmap::mfn_to_virt(mfn)
                .cast::<u64>()
                .wrapping_add(idx),
        )
    }

    /// The direct-map address of bytes `off..off + len` of RAM frame `mfn` (`EFAULT` past
    /// the frame or for a frame that is not RAM).
    fn frame_ptr(&self, mfn: Mfn, off: usize, len: usize) -> Result<*mut u8, Errno> {
        if mfn.0 >= self.max_mfn || off.checked_add(len).is_none_or(|end| end > 4096) {
            return Err(Errno::EFAULT);
        }
        Ok(crate::phys::directmap::mfn_to_virt(mfn).wrapping_add(off))
    }

    /// Copy `data` into frame `f` at `off` (within the frame, else `EFAULT` and nothing is
    /// written). `f` is the proof that the frame may be written for the domain asking.
    pub fn write_frame(&self, f: &Writable, off: usize, data: &[u8]) -> Result<(), Errno> {
        let p = self.frame_ptr(f.mfn(), off, data.len())?;
        // SAFETY: the range lies inside one RAM frame (checked above), which the direct map
        // maps writable; `f` proves the domain may have it written.
        unsafe { core::ptr::copy_nonoverlapping(data.as_ptr(), p, data.len()) };
        Ok(())
    }

    /// Copy bytes `off..off + out.len()` of frame `f` (within the frame, else `EFAULT`)
    /// into `out`.
    pub fn read_frame(&self, f: &Readable, off: usize, out: &mut [u8]) -> Result<(), Errno> {
        let p = self.frame_ptr(f.mfn(), off, out.len())?;
        // SAFETY: the range lies inside one RAM frame (checked above), mapped by the direct map.
        unsafe { core::ptr::copy_nonoverlapping(p, out.as_mut_ptr(), out.len()) };
        Ok(())
    }

    /// Copy `len` bytes from `src_off` of frame `src` to `dst_off` of frame `dst` (each
    /// range within its frame, else `EFAULT`; the two may be the same frame, even
    /// overlapping), with no copy in between.
    pub fn copy_frame(
        &self,
        src: &Readable,
        src_off: usize,
        dst: &Writable,
        dst_off: usize,
        len: usize,
    ) -> Result<(), Errno> {
        let from = self.frame_ptr(src.mfn(), src_off, len)?;
        let to = self.frame_ptr(dst.mfn(), dst_off, len)?;
        // SAFETY: both ranges lie inside RAM frames (checked above) mapped by the direct map,
        // the destination writable; `dst` proves the domain may have it written. `copy` is
        // a memmove: the ranges may overlap.
        unsafe { core::ptr::copy(from, to, len) };
        Ok(())
    }

    /// Zero frame `f`.
    pub fn zero_frame(&self, f: &Writable) -> Result<(), Errno> {
        let p = self.frame_ptr(f.mfn(), 0, 4096)?;
        // SAFETY: a whole RAM frame (checked above) mapped writable by the direct map.
        unsafe { core::ptr::write_bytes(p, 0, 4096) };
        Ok(())
    }
}

mod sealed {
    pub trait Sealed {}
}

/// A frame the hypervisor may write on a guest's behalf whatever the guest does: a
/// [`XenPage`] (its own page shared with the guest) or a [`HeldPage`] (a guest frame it
/// holds). Sealed: only these proofs are such frames.
pub trait SharedFrame: sealed::Sealed {
    /// The frame.
    fn frame(&self) -> Mfn;
}

impl sealed::Sealed for XenPage {}
impl SharedFrame for XenPage {
    fn frame(&self) -> Mfn {
        self.mfn()
    }
}

impl sealed::Sealed for HeldPage {}
impl SharedFrame for HeldPage {
    fn frame(&self) -> Mfn {
        self.mfn()
    }
}

/// The direct-map address of byte `off..off + len` of a hypervisor page, if it fits.
fn xen_ptr<P: SharedFrame + ?Sized>(page: &P, off: usize, len: usize) -> Result<*mut u8, Errno> {
    if off.checked_add(len).is_none_or(|end| end > 4096) {
        return Err(Errno::EINVAL);
    }
    Ok(crate::phys::directmap::mfn_to_virt(page.frame()).wrapping_add(off))
}

/// Write `data` at `off` in a page shared with a guest (`EINVAL` past its end). The
/// [`SharedFrame`] proof says the frame is never a page table or descriptor page, whatever
/// the guest does.
pub fn xen_write<P: SharedFrame + ?Sized>(page: &P, off: usize, data: &[u8]) -> Result<(), Errno> {
    let p = xen_ptr(page, off, data.len())?;
    // SAFETY: inside the hypervisor page (checked above), a RAM frame the direct map maps
    // writable; the guest may write it concurrently, which only it can observe.
    unsafe { core::ptr::copy_nonoverlapping(data.as_ptr(), p, data.len()) };
    Ok(())
}

/// Read `out.len()` bytes at `off` of a hypervisor page (`EINVAL` past its end).
pub fn xen_read<P: SharedFrame + ?Sized>(
    page: &P,
    off: usize,
    out: &mut [u8],
) -> Result<(), Errno> {
    let p = xen_ptr(page, off, out.len())?;
    // SAFETY: inside the hypervisor page (checked above), mapped by the direct map.
    unsafe { core::ptr::copy_nonoverlapping(p, out.as_mut_ptr(), out.len()) };
    Ok(())
}

/// Zero a hypervisor page.
pub fn xen_zero(page: &XenPage) {
    let p = crate::phys::directmap::mfn_to_virt(page.mfn());
    // SAFETY: the whole hypervisor page, a RAM frame mapped writable by the direct map.
    unsafe { core::ptr::write_bytes(p, 0, 4096) };
}

/// The aligned word at `off` of a hypervisor page as an atomic, for words a guest updates
/// concurrently (event-channel bitmaps); borrowed from the page's proof, so it cannot outlive
/// the page. `EINVAL` if unaligned or past the end.
pub fn xen_u64<P: SharedFrame + ?Sized>(
    page: &P,
    off: usize,
) -> Result<&core::sync::atomic::AtomicU64, Errno> {
    if !off.is_multiple_of(8) {
        return Err(Errno::EINVAL);
    }
    let p = xen_ptr(page, off, 8)?;
    // SAFETY: an 8-aligned word of the hypervisor page, mapped writable by the direct map
    // while the page exists (the borrow of its proof); all accesses through it are atomic.
    Ok(unsafe { &*p.cast::<core::sync::atomic::AtomicU64>() })
}

/// The byte at `off` of a hypervisor page as an atomic (vcpu_info's upcall flags).
pub fn xen_u8<P: SharedFrame + ?Sized>(
    page: &P,
    off: usize,
) -> Result<&core::sync::atomic::AtomicU8, Errno> {
    let p = xen_ptr(page, off, 1)?;
    // SAFETY: a byte of the hypervisor page, mapped writable by the direct map while the page
    // exists; all accesses through it are atomic.
    Ok(unsafe { &*p.cast::<core::sync::atomic::AtomicU8>() })
}

impl TableMem for Machine {
    fn read(&self, mfn: Mfn, idx: usize) -> u64 {
        match self.entry_ptr(mfn, idx) {
            // SAFETY: an in-range, 8-aligned entry of a RAM frame mapped by the direct map.
            Some(p) => unsafe { p.read_volatile() },
            None => 0,
        }
    }

    fn write(&mut self, mfn: Mfn, idx: usize, val: u64) {
        if let Some(p) = self.entry_ptr(mfn, idx) {
            // SAFETY: as in `read`; the PV MMU only writes entries of validated tables.
            unsafe { p.write_volatile(val) }
        }
    }

    fn hypervisor_slots(&self) -> [u64; 16] {
        crate::arch::paging::hypervisor_l4_slots()
    }

    fn tlb_epoch(&self) -> u32 {
        TLB_EPOCH.load(Ordering::Relaxed)
    }

    fn flush_tlb(&mut self) {
        flush_tlb_all();
    }

    fn should_preempt(&mut self) -> bool {
        crate::arch::preempt::armed_expired()
    }

    fn note_pending(&mut self, owner: DomId, mfn: Mfn) {
        crate::arch::preempt::note_pending(owner, mfn);
    }
}

impl PhysRead for Machine {
    fn read_u64(&self, maddr: u64) -> u64 {
        TableMem::read(
            self,
            Mfn::containing(maddr),
            ((maddr & 0xFFF) >> 3) as usize,
        )
    }

    fn is_ram(&self, mfn: Mfn) -> bool {
        mfn.0 < self.max_mfn
    }

    fn is_guest_data(&self, mfn: Mfn) -> bool {
        self.is_ram(mfn) && !crate::phys::iomem::is_io(mfn)
    }
}

/// Where a vCPU's `vcpu_info` is: its slot of its domain's shared_info, or where the guest
/// registered it (`VCPUOP_register_vcpu_info`) in a frame the hypervisor holds. Offsets
/// given to its accessors are within the `vcpu_info`.
pub struct VcpuInfoAt<'a> {
    page: &'a dyn SharedFrame,
    off: usize,
}

/// Size of a `vcpu_info`.
pub const VCPU_INFO_SIZE: usize = core::mem::size_of::<guest_abi::shared_info::VcpuInfo>();

impl<'a> VcpuInfoAt<'a> {
    /// vcpu_info[0] of shared_info page `si`.
    pub fn shared(si: &'a XenPage) -> Self {
        VcpuInfoAt { page: si, off: 0 }
    }

    /// vcpu_info[`slot`] of shared_info page `si` (the legacy array's last slot for a larger
    /// index, which no vCPU has: `MAX_VCPUS` is below it).
    pub fn shared_slot(si: &'a XenPage, slot: usize) -> Self {
        let slot = slot.min(guest_abi::shared_info::XEN_LEGACY_MAX_VCPUS - 1);
        VcpuInfoAt {
            page: si,
            off: slot * VCPU_INFO_SIZE,
        }
    }

    /// A registered `vcpu_info` at `off` of held frame `page` (`None` if it would not fit).
    pub fn held(page: &'a HeldPage, off: usize) -> Option<Self> {
        (off.checked_add(VCPU_INFO_SIZE)? <= 4096).then_some(VcpuInfoAt { page, off })
    }

    /// Its machine address.
    pub fn maddr(&self) -> u64 {
        self.page.frame().addr() + self.off as u64
    }

    fn at(&self, rel: usize, len: usize) -> Result<usize, Errno> {
        match rel.checked_add(len) {
            Some(end) if end <= VCPU_INFO_SIZE => Ok(self.off + rel),
            _ => Err(Errno::EINVAL),
        }
    }

    /// Write `data` at `rel` in the `vcpu_info`.
    pub fn write(&self, rel: usize, data: &[u8]) -> Result<(), Errno> {
        xen_write(self.page, self.at(rel, data.len())?, data)
    }

    /// Read `out.len()` bytes at `rel` of the `vcpu_info`.
    pub fn read(&self, rel: usize, out: &mut [u8]) -> Result<(), Errno> {
        xen_read(self.page, self.at(rel, out.len())?, out)
    }

    /// The byte at `rel` as an atomic.
    pub fn u8(&self, rel: usize) -> Result<&'a core::sync::atomic::AtomicU8, Errno> {
        xen_u8(self.page, self.at(rel, 1)?)
    }

    /// The aligned word at `rel` as an atomic (`EINVAL` if unaligned).
    pub fn u64(&self, rel: usize) -> Result<&'a core::sync::atomic::AtomicU64, Errno> {
        xen_u64(self.page, self.at(rel, 8)?)
    }
}
