//! The guest side of grant tables: this domain's own table (to offer pages to others) and
//! mapping, unmapping and copying other domains' grants.

use crate::dom0::Direct;
use crate::pagetable::{self, Walker, PAGE_SIZE, PTE_ADDR_MASK, PTE_KERNEL_RW};
use guest_abi::errno::Errno;
use guest_abi::grant_table::*;
use guest_abi::guest;
use guest_abi::mmu::UvmfFlags;
use guest_abi::start_info::StartInfo;
use guest_abi::types::{DomId, GrantRef};

use crate::entry::VIRT_BASE;

/// Spare pages at the end of the initial region (the builder maps every page of it): the
/// last one is dom0's foreign window; the grant code uses the ones before it.
#[derive(Clone, Copy)]
pub struct Spare {
    region_end: u64,
    walker_base: (u64, u64),
}

impl Spare {
    /// The spare pages of this kernel's initial region.
    pub fn new(si: &StartInfo) -> Spare {
        let region_end = pagetable::initial_region_end(si.pt_base, si.nr_pt_frames);
        Spare {
            region_end,
            walker_base: (si.pt_base, VIRT_BASE),
        }
    }

    /// The VA of spare page `n` (1 = the one before dom0's window).
    pub fn va(&self, n: u64) -> u64 {
        self.region_end - (n + 1) * PAGE_SIZE
    }

    /// The machine frame behind our own VA `va`.
    pub fn mfn_of(&self, va: u64) -> Result<u64, Errno> {
        Ok((self.l1e(va)? & PTE_ADDR_MASK) >> 12)
    }

    /// The machine address of the L1 entry that maps our own VA `va`.
    pub fn l1e_maddr(&self, va: u64) -> Result<u64, Errno> {
        let w = Walker::new(
            &Direct,
            self.walker_base.0,
            self.walker_base.1,
            self.region_end,
        );
        w.l1e_maddr(va).map_err(|_| Errno::EFAULT)
    }

    /// The L1 entry that maps our own VA `va`, as our page tables hold it now.
    pub fn l1e(&self, va: u64) -> Result<u64, Errno> {
        let w = Walker::new(
            &Direct,
            self.walker_base.0,
            self.walker_base.1,
            self.region_end,
        );
        w.l1e(va).map_err(|_| Errno::EFAULT)
    }
}

/// Map machine frame `mfn` (ours) at `va`, or unmap `va` with `mfn = None`.
pub fn map_own(va: u64, mfn: Option<u64>) -> Result<(), Errno> {
    let pte = mfn.map_or(0, |m| (m << 12) | PTE_KERNEL_RW);
    // SAFETY: `va` is a spare page of the initial region that nothing else in this kernel
    // uses; the frame is ours (the hypervisor checks).
    unsafe { guest::update_va_mapping(va, pte, UvmfFlags::INVLPG) }
}

/// This domain's grant table, mapped at a spare page.
pub struct GrantTable {
    entries: *mut GrantEntryV1,
    nr: u32,
}

impl GrantTable {
    /// Ask for one table frame and map it at `va`.
    pub fn setup(va: u64) -> Result<GrantTable, Errno> {
        let mut frame: u64 = 0;
        let mut op = GnttabSetupTable {
            dom: DomId::SELF,
            nr_frames: 1,
            frame_list: &mut frame as *mut u64 as u64,
            ..Default::default()
        };
        setup_table(&mut op)?;
        map_own(va, Some(frame))?;
        Ok(GrantTable {
            entries: va as *mut GrantEntryV1,
            nr: GRANT_ENTRIES_PER_FRAME_V1 as u32,
        })
    }

    fn entry(&self, r: GrantRef) -> Result<*mut GrantEntryV1, Errno> {
        if r.0 >= self.nr {
            return Err(Errno::EINVAL);
        }
        Ok(self.entries.wrapping_add(r.0 as usize))
    }

    /// Grant `domid` access to our frame `mfn` through entry `r`.
    pub fn grant(&self, r: GrantRef, domid: DomId, mfn: u64, readonly: bool) -> Result<(), Errno> {
        let e = self.entry(r)?;
        let mut flags = GtfFlags::PERMIT_ACCESS;
        if readonly {
            flags |= GtfFlags::READONLY;
        }
        let frame = u32::try_from(mfn).map_err(|_| Errno::ERANGE)?;
        // SAFETY: `e` is inside our mapped table frame (index checked). domid and frame are
        // written before flags, with a fence, as the protocol requires.
        unsafe {
            core::ptr::addr_of_mut!((*e).domid).write_volatile(domid);
            core::ptr::addr_of_mut!((*e).frame).write_volatile(frame);
            core::sync::atomic::fence(core::sync::atomic::Ordering::SeqCst);
            core::ptr::addr_of_mut!((*e).flags).write_volatile(flags.bits());
        }
        Ok(())
    }

    /// The entry's flags as the hypervisor keeps them (busy bits included).
    pub fn flags(&self, r: GrantRef) -> Result<GtfFlags, Errno> {
        let e = self.entry(r)?;
        // SAFETY: inside our mapped table frame; the hypervisor updates it, hence volatile.
        Ok(GtfFlags::from_bits_retain(unsafe {
            core::ptr::addr_of!((*e).flags).read_volatile()
        }))
    }

    /// Revoke entry `r` unless the grantee is using it (then `EBUSY`).
    pub fn end_access(&self, r: GrantRef) -> Result<(), Errno> {
        let e = self.entry(r)?;
        // SAFETY: `flags` is a naturally aligned u16 inside our table frame; the hypervisor
        // only changes it while handling a hypercall, so a compare-and-swap sees any use.
        let atomic = unsafe {
            &*(core::ptr::addr_of_mut!((*e).flags) as *const core::sync::atomic::AtomicU16)
        };
        let cur = atomic.load(core::sync::atomic::Ordering::SeqCst);
        let busy = GtfFlags::READING | GtfFlags::WRITING;
        if GtfFlags::from_bits_retain(cur).intersects(busy) {
            return Err(Errno::EBUSY);
        }
        atomic
            .compare_exchange(
                cur,
                0,
                core::sync::atomic::Ordering::SeqCst,
                core::sync::atomic::Ordering::SeqCst,
            )
            .map(|_| ())
            .map_err(|_| Errno::EBUSY)
    }
}

fn status(s: i16) -> Result<(), GntStatus> {
    let s = GntStatus(s);
    if s.is_ok() {
        Ok(())
    } else {
        Err(s)
    }
}

/// GNTTABOP_setup_table (hypercall errors as errno, a bad status as EINVAL after printing).
pub fn setup_table(op: &mut GnttabSetupTable) -> Result<(), Errno> {
    // SAFETY: `op.frame_list` points at a live array of `nr_frames` u64s the caller owns.
    unsafe { guest::grant_table_op(GNTTABOP_SETUP_TABLE, core::slice::from_mut(op)) }?;
    status(op.status).map_err(|_| Errno::EINVAL)
}

/// Map grant `r` of `dom` at our spare `va` (read-only or writable); returns the handle.
pub fn map(dom: DomId, r: GrantRef, va: u64, readonly: bool) -> Result<u32, GntStatus> {
    let mut flags = GntmapFlags::HOST_MAP;
    if readonly {
        flags |= GntmapFlags::READONLY;
    }
    let mut op = GnttabMapGrantRef {
        host_addr: va,
        flags: flags.bits(),
        ref_: r,
        dom,
        ..Default::default()
    };
    // SAFETY: `va` is a spare page whose PTE the caller cleared; nothing else uses it.
    unsafe { guest::grant_table_op(GNTTABOP_MAP_GRANT_REF, core::slice::from_mut(&mut op)) }
        .map_err(|_| GntStatus::GENERAL_ERROR)?;
    status(op.status).map(|_| op.handle)
}

/// Map grant `r` of `dom` read-only for device access only (no PTE); returns the handle.
pub fn map_device(dom: DomId, r: GrantRef) -> Result<u32, GntStatus> {
    let mut op = GnttabMapGrantRef {
        flags: (GntmapFlags::DEVICE_MAP | GntmapFlags::READONLY).bits(),
        ref_: r,
        dom,
        ..Default::default()
    };
    // SAFETY: a device-only mapping changes no page table of ours.
    unsafe { guest::grant_table_op(GNTTABOP_MAP_GRANT_REF, core::slice::from_mut(&mut op)) }
        .map_err(|_| GntStatus::GENERAL_ERROR)?;
    status(op.status).map(|_| op.handle)
}

/// Unmap a mapping made by [`map`] (`va` = 0 for a device-only one).
pub fn unmap(handle: u32, va: u64) -> Result<(), GntStatus> {
    let mut op = GnttabUnmapGrantRef {
        host_addr: va,
        handle,
        ..Default::default()
    };
    // SAFETY: removes the mapping at `va`, which the caller no longer uses.
    unsafe { guest::grant_table_op(GNTTABOP_UNMAP_GRANT_REF, core::slice::from_mut(&mut op)) }
        .map_err(|_| GntStatus::GENERAL_ERROR)?;
    status(op.status)
}

/// GNTTABOP_copy of `len` bytes.
pub fn copy(
    source: GnttabCopyPtr,
    dest: GnttabCopyPtr,
    len: u16,
    flags: u16,
) -> Result<(), GntStatus> {
    let mut op = GnttabCopy {
        source,
        dest,
        len,
        flags,
        ..Default::default()
    };
    // SAFETY: the hypervisor checks every frame named; our own frames it may write are
    // ordinary data pages the caller chose.
    unsafe { guest::grant_table_op(GNTTABOP_COPY, core::slice::from_mut(&mut op)) }
        .map_err(|_| GntStatus::GENERAL_ERROR)?;
    status(op.status)
}
