//! The kernel heap: `linked_list_allocator` over a static array in .bss (the boot heap,
//! 4 MiB), and in dom0 a second heap sized from its memory ([`grow`]: a quarter of it, at
//! least 4 MiB), mapped from frames beyond the initial region. Allocations try the big heap
//! first; each block goes back to the heap its address lies in.
//!
//! An allocation failure here is fatal (the alloc error handler panics): dom0's xenstored
//! never lets a guest's request get that far (fallible allocation, quotas, a global bound
//! and a headroom check against [`free`]).

use crate::entry::VIRT_BASE;
use crate::pagetable::{self, heap_size_for, PAGE_SIZE, PTE_KERNEL_RW};
use core::alloc::{GlobalAlloc, Layout};
use core::ptr::addr_of_mut;
use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use guest_abi::errno::Errno;
use guest_abi::guest;
use guest_abi::mmu::{MmuUpdate, MmuextOp, MMUEXT_CLEAR_PAGE, MMUEXT_PIN_L1_TABLE};
use guest_abi::start_info::StartInfo;
use guest_abi::types::DomId;
use linked_list_allocator::LockedHeap;

/// Boot heap size (every domain's heap until [`grow`]; all of a domU's).
pub const HEAP_SIZE: usize = 4 << 20;
/// The big heap's virtual base: L2 slot 384 of the kernel's 1 GiB (the bench uses slot 256,
/// the MMU self-tests the slots just past the initial region).
const BIG_BASE: u64 = VIRT_BASE + (384 << 21);

#[repr(C, align(4096))]
struct HeapSpace([u8; HEAP_SIZE]);

static mut HEAP_SPACE: HeapSpace = HeapSpace([0; HEAP_SIZE]);

static BOOT: LockedHeap = LockedHeap::empty();
static BIG: LockedHeap = LockedHeap::empty();
/// The big heap's end (0: none).
static BIG_END: AtomicUsize = AtomicUsize::new(0);
/// First PFN beyond the frames the big heap took (0: none taken).
static FIRST_FREE_PFN: AtomicU64 = AtomicU64::new(0);
/// First PFN the big heap took (its first L1 table).
static FIRST_HEAP_PFN: AtomicU64 = AtomicU64::new(0);

struct Heaps;

#[global_allocator]
static ALLOCATOR: Heaps = Heaps;

// SAFETY: both heaps are `LockedHeap`s, each a correct allocator over memory given to it
// once; a block is always freed to the heap whose range holds it (the big heap's range is
// `BIG_BASE..BIG_END`, the boot heap's the static array), so each heap only ever sees its
// own blocks.
unsafe impl GlobalAlloc for Heaps {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        if BIG_END.load(Ordering::Acquire) != 0 {
            // SAFETY: forwarded with the caller's layout.
            let p = unsafe { BIG.alloc(l) };
            if !p.is_null() {
                return p;
            }
        }
        // SAFETY: as above.
        unsafe { BOOT.alloc(l) }
    }

    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        let a = p as usize;
        if a >= BIG_BASE as usize && a < BIG_END.load(Ordering::Acquire) {
            // SAFETY: the block lies in the big heap, which allocated it.
            unsafe { BIG.dealloc(p, l) }
        } else {
            // SAFETY: the block lies in the boot heap, which allocated it.
            unsafe { BOOT.dealloc(p, l) }
        }
    }
}

/// Hands the .bss array to the boot heap. Call once, before any allocation.
pub fn init() {
    // SAFETY: HEAP_SPACE is used by nothing but the allocator, and `init` runs once at boot
    // (guest_main calls it first), so the region is given to the heap exactly once.
    unsafe {
        BOOT.lock()
            .init(addr_of_mut!(HEAP_SPACE).cast::<u8>(), HEAP_SIZE);
    }
}

/// Bytes currently free in the heaps.
pub fn free() -> usize {
    BOOT.lock().free() + BIG.lock().free()
}

/// Bytes the heaps hold in all.
pub fn size() -> usize {
    BOOT.lock().size() + BIG.lock().size()
}

/// First of our PFNs beyond the initial region that the heap did not take (0 if it took
/// none): [`crate::mm::Space`] hands out frames from there.
pub fn first_free_pfn() -> u64 {
    FIRST_FREE_PFN.load(Ordering::Acquire)
}

/// The PFN behind big-heap address `va` (`None` outside the big heap): each 2 MiB of it is
/// one L1 frame followed by the 512 data frames it maps, in PFN order.
pub fn pfn_of(va: u64) -> Option<u64> {
    if va < BIG_BASE || va >= BIG_END.load(Ordering::Acquire) as u64 {
        return None;
    }
    let off = va - BIG_BASE;
    let (table, page) = (off / (2 << 20), (off % (2 << 20)) / PAGE_SIZE);
    Some(FIRST_HEAP_PFN.load(Ordering::Acquire) + table * 513 + 1 + page)
}

/// dom0: maps a heap sized from its memory ([`heap_size_for`]) at [`BIG_BASE`] from the frames
/// past the initial region and adds it to the allocator. Returns its size.
pub fn grow(si: &StartInfo) -> Result<usize, Errno> {
    let region_end = pagetable::initial_region_end(si.pt_base, si.nr_pt_frames);
    let first = (region_end - VIRT_BASE) / PAGE_SIZE;
    let size = heap_size_for(si.nr_pages, si.nr_pages.saturating_sub(first));
    if size == 0 {
        return Err(Errno::ENOMEM);
    }
    let tables = size / (2 << 20);
    let sp = crate::mm::Space::new(si);
    let mut pfn = first;
    let mut take = || {
        let m = sp.pfn_to_mfn(pfn);
        pfn += 1;
        m
    };
    for t in 0..tables {
        let va = BIG_BASE + t * (2 << 20);
        let l1 = take();
        let l2e = sp.entry_maddr(va, 2)?;
        if sp.read_entry(l2e)? != 0 {
            return Err(Errno::EEXIST);
        }
        // SAFETY: `l1` is a frame of ours beyond the initial region that nothing maps or
        // uses; clearing it, pinning it as an L1 and hooking it into an empty slot of the
        // kernel's L2 (which nothing else uses) changes no mapping this kernel relies on.
        unsafe {
            guest::mmuext_op(
                &[
                    MmuextOp::new(MMUEXT_CLEAR_PAGE, l1, 0),
                    MmuextOp::new(MMUEXT_PIN_L1_TABLE, l1, 0),
                ],
                DomId::SELF,
            )
            .map_err(|(_, e)| e)?;
            guest::mmu_update(
                &[MmuUpdate::normal(l2e, (l1 << 12) | PTE_KERNEL_RW)],
                DomId::SELF,
            )
            .map_err(|(_, e)| e)?;
        }
        let mut reqs = [MmuUpdate::normal(0, 0); 64];
        for chunk in 0..512 / reqs.len() as u64 {
            for (i, r) in reqs.iter_mut().enumerate() {
                let idx = chunk * 64 + i as u64;
                *r = MmuUpdate::normal((l1 << 12) + idx * 8, (take() << 12) | PTE_KERNEL_RW);
            }
            // SAFETY: entries of our new L1 only, mapping unused frames of ours beyond the
            // initial region (never mapped elsewhere, never page tables) writable at the
            // heap's addresses, which nothing else uses.
            unsafe { guest::mmu_update(&reqs, DomId::SELF) }.map_err(|(_, e)| e)?;
        }
    }
    FIRST_HEAP_PFN.store(first, Ordering::Release);
    FIRST_FREE_PFN.store(pfn, Ordering::Release);
    // SAFETY: `BIG_BASE..BIG_BASE + size` is now mapped writable to frames used by nothing
    // else, and is handed to the big heap once (`grow` runs once, in dom0's boot).
    unsafe { BIG.lock().init(BIG_BASE as *mut u8, size as usize) };
    BIG_END.store((BIG_BASE + size) as usize, Ordering::Release);
    Ok(size as usize)
}
