//! DMA and register access for dom0's virtio drivers: virtio-drivers' [`Hal`].
//!
//! A device reaches memory by machine address (there is no IOMMU), so a buffer handed to it
//! must be machine-contiguous: DMA allocations are whole pages of our heap whose frames are
//! checked to be consecutive, and a shared buffer that is not (one crossing a page boundary
//! onto an unrelated frame) is bounced through a page of its own. Registers are mapped once,
//! uncached, into spare pages of the initial region's padding (slots [`FIRST_MMIO_SLOT`]
//! on, which nothing else in dom0 uses).

use crate::dom0::Direct;
use crate::entry::VIRT_BASE;
use crate::pagetable::{self, Walker, PAGE_SIZE, PTE_ACCESSED, PTE_ADDR_MASK, PTE_PRESENT};
use core::alloc::Layout;
use core::ptr::NonNull;
use guest_abi::errno::Errno;
use guest_abi::guest;
use guest_abi::mmu::{MmuUpdate, MmuextOp, MMUEXT_INVLPG_LOCAL};
use guest_abi::start_info::StartInfo;
use guest_abi::types::DomId;
use spin::{Mutex, Once};
use virtio_drivers::{BufferDirection, Hal, PhysAddr};

/// The first spare page (counted back from the region's end, as `grant::Spare::va`) used
/// for device registers, and how many there are.
const FIRST_MMIO_SLOT: u64 = 24;
const MMIO_SLOTS: u64 = 8;

struct Memory {
    mfn_list: u64,
    nr_pages: u64,
    pt_base: u64,
    region_end: u64,
}

static MEMORY: Once<Memory> = Once::new();
/// Register pages mapped so far.
static MMIO_USED: Mutex<u64> = Mutex::new(0);
/// Shared buffers being bounced: (machine address given to the device, bounce page).
static BOUNCES: Mutex<heapless::Vec<(u64, usize), 32>> = Mutex::new(heapless::Vec::new());

/// Records our p2m and initial region.
pub fn init(si: &StartInfo) {
    MEMORY.call_once(|| Memory {
        mfn_list: si.mfn_list,
        nr_pages: si.nr_pages,
        pt_base: si.pt_base,
        region_end: pagetable::initial_region_end(si.pt_base, si.nr_pt_frames),
    });
}

fn memory() -> &'static Memory {
    MEMORY.get().expect("devices::init ran before any driver")
}

/// The machine address behind our kernel address `va` (the heap or the initial region).
pub fn maddr_of(va: u64) -> Option<u64> {
    let m = memory();
    let pfn = crate::heap::pfn_of(va).or_else(|| {
        (VIRT_BASE..m.region_end)
            .contains(&va)
            .then(|| (va - VIRT_BASE) / PAGE_SIZE)
    })?;
    if pfn >= m.nr_pages {
        return None;
    }
    // SAFETY: mfn_list maps nr_pages u64s in the initial region; pfn < nr_pages.
    let mfn = unsafe { core::ptr::read_volatile((m.mfn_list as *const u64).add(pfn as usize)) };
    Some((mfn << 12) | (va & 0xFFF))
}

/// The machine address of `[va, va + len)` if it is machine-contiguous.
fn contiguous(va: u64, len: usize) -> Option<u64> {
    let start = maddr_of(va)?;
    let first_page = va & !0xFFF;
    let last_page = (va + len.max(1) as u64 - 1) & !0xFFF;
    let mut page = first_page + PAGE_SIZE;
    while page <= last_page {
        if maddr_of(page)? != (start & !0xFFF) + (page - first_page) {
            return None;
        }
        page += PAGE_SIZE;
    }
    Some(start)
}

fn page_layout(pages: usize) -> Layout {
    Layout::from_size_align(pages.max(1) * PAGE_SIZE as usize, PAGE_SIZE as usize)
        .expect("a page-aligned layout")
}

/// Maps `size` bytes of device registers at machine address `maddr`, uncached, for good.
pub fn map_mmio(maddr: u64, size: usize) -> Result<NonNull<u8>, Errno> {
    let m = memory();
    let pages = ((maddr & 0xFFF) + size as u64).div_ceil(PAGE_SIZE);
    let mut used = MMIO_USED.lock();
    if *used + pages > MMIO_SLOTS {
        return Err(Errno::ENOSPC);
    }
    // Consecutive slots count down from the region's end: the highest slot number first.
    let first = FIRST_MMIO_SLOT + *used + pages - 1;
    let va = m.region_end - (first + 1) * PAGE_SIZE;
    let walker = Walker::new(&Direct, m.pt_base, VIRT_BASE, m.region_end);
    const PCD_PWT: u64 = (1 << 4) | (1 << 3);
    const RW_DIRTY: u64 = (1 << 1) | (1 << 6);
    const NX: u64 = 1 << 63;
    for i in 0..pages {
        let page_va = va + i * PAGE_SIZE;
        let pte_maddr = walker.l1e_maddr(page_va).map_err(|_| Errno::EFAULT)?;
        let frame = ((maddr & !0xFFF) + i * PAGE_SIZE) & PTE_ADDR_MASK;
        let pte = frame | PTE_PRESENT | PTE_ACCESSED | RW_DIRTY | PCD_PWT | NX;
        let req = MmuUpdate::normal(pte_maddr, pte);
        // SAFETY: the page is a spare slot of the initial region's padding that nothing else
        // uses; the hypervisor maps it only if `frame` is I/O memory dom0 may reach.
        unsafe { guest::mmu_update(core::slice::from_ref(&req), DomId::IO) }.map_err(|(_, e)| e)?;
        let op = MmuextOp::new(MMUEXT_INVLPG_LOCAL, page_va, 0);
        // SAFETY: flushing our own TLB entry for the page just mapped.
        unsafe { guest::mmuext_op(core::slice::from_ref(&op), DomId::SELF) }.map_err(|(_, e)| e)?;
    }
    *used += pages;
    NonNull::new((va + (maddr & 0xFFF)) as *mut u8).ok_or(Errno::EFAULT)
}

/// virtio-drivers' view of dom0's memory.
pub struct Dom0Hal;

// SAFETY: `dma_alloc` returns zeroed, page-aligned heap pages owned by the caller until
// `dma_dealloc`, at their (checked contiguous) machine address; `mmio_phys_to_virt` maps the
// device's registers uncached for the rest of dom0's life; `share` gives the device the
// machine address of the buffer itself when contiguous, else of a bounce page holding a copy
// (copied back by `unshare` for the device's writes).
unsafe impl Hal for Dom0Hal {
    fn dma_alloc(pages: usize, _direction: BufferDirection) -> (PhysAddr, NonNull<u8>) {
        let layout = page_layout(pages);
        // SAFETY: the layout has a non-zero size.
        let p = unsafe { alloc::alloc::alloc_zeroed(layout) };
        let Some(p) = NonNull::new(p) else {
            alloc::alloc::handle_alloc_error(layout)
        };
        let pa = contiguous(p.as_ptr() as u64, layout.size())
            .expect("DMA pages for a virtio queue are not machine-contiguous");
        (pa, p)
    }

    unsafe fn dma_dealloc(_paddr: PhysAddr, vaddr: NonNull<u8>, pages: usize) -> i32 {
        // SAFETY: `vaddr` came from `dma_alloc` with the same number of pages.
        unsafe { alloc::alloc::dealloc(vaddr.as_ptr(), page_layout(pages)) };
        0
    }

    unsafe fn mmio_phys_to_virt(paddr: PhysAddr, size: usize) -> NonNull<u8> {
        map_mmio(paddr, size).expect("device registers mapped through DOMID_IO")
    }

    unsafe fn share(buffer: NonNull<[u8]>, direction: BufferDirection) -> PhysAddr {
        let (va, len) = (buffer.as_ptr().cast::<u8>() as u64, buffer.len());
        if let Some(pa) = contiguous(va, len) {
            return pa;
        }
        assert!(
            len <= PAGE_SIZE as usize,
            "a {len}-byte DMA buffer that is not machine-contiguous"
        );
        let layout = page_layout(1);
        // SAFETY: the layout has a non-zero size.
        let bounce = unsafe { alloc::alloc::alloc_zeroed(layout) };
        if bounce.is_null() {
            alloc::alloc::handle_alloc_error(layout);
        }
        if direction != BufferDirection::DeviceToDriver {
            // SAFETY: the caller's buffer is valid for `len` bytes; the bounce page is ours.
            unsafe { core::ptr::copy_nonoverlapping(va as *const u8, bounce, len) };
        }
        let pa = maddr_of(bounce as u64).expect("a heap page has a machine address");
        BOUNCES
            .lock()
            .push((pa, bounce as usize))
            .expect("at most 32 bounced DMA buffers at once");
        pa
    }

    unsafe fn unshare(paddr: PhysAddr, buffer: NonNull<[u8]>, direction: BufferDirection) {
        let mut b = BOUNCES.lock();
        let Some(i) = b.iter().position(|e| e.0 == paddr) else {
            return;
        };
        let (_, bounce) = b.swap_remove(i);
        if direction != BufferDirection::DriverToDevice {
            // SAFETY: the bounce page holds the device's `len` bytes; the caller's buffer is
            // valid for them and no longer shared.
            unsafe {
                core::ptr::copy_nonoverlapping(
                    bounce as *const u8,
                    buffer.as_ptr().cast::<u8>(),
                    buffer.len(),
                );
            }
        }
        // SAFETY: allocated by `share` with this layout.
        unsafe { alloc::alloc::dealloc(bounce as *mut u8, page_layout(1)) };
    }
}
