//! The hypervisor heap: `linked_list_allocator`'s first-fit heap over a region of its own
//! address space (`paging::HEAP_BASE`). It starts with a size taken from the machine's memory
//! and grows from free frames when an allocation does not fit, a page at a time at its top, so
//! the heap is never the limit while the machine has memory.

use crate::arch::paging;
use crate::sync::{Lock, Rank};
use core::alloc::{GlobalAlloc, Layout};
use core::ptr::NonNull;
use linked_list_allocator::Heap;

/// The smallest step the heap grows by.
const GROW_STEP: u64 = 256 << 10;

/// The heap's starting size for a machine of `ram_frames` frames: 1/512 of RAM within
/// [4 MiB, 32 MiB] (domains' structures scale with the memory they can be given).
pub fn initial_size(ram_frames: u64) -> u64 {
    ((ram_frames * 4096) / 512).clamp(4 << 20, 32 << 20) & !0xFFF
}

struct GrowingHeap(Lock<Heap>);

#[global_allocator]
static HEAP: GrowingHeap = GrowingHeap(Lock::new(Rank::Heap, "heap", Heap::empty()));

/// Maps `bytes` (whole pages) of fresh frames at the heap's top; returns how many bytes were
/// mapped (less when frames run out).
fn map_at(top: u64, bytes: u64) -> u64 {
    let mut done = 0;
    while done < bytes {
        let Some(mfn) = crate::phys::frames::alloc() else {
            break;
        };
        if paging::map_heap_page(top + done, mfn).is_err() {
            crate::phys::frames::free(mfn);
            break;
        }
        done += 4096;
    }
    done
}

/// Grows `heap` so that an allocation of `layout` fits; false if no frames are left.
fn grow(heap: &mut Heap, layout: Layout) -> bool {
    let want = (layout.size() as u64 + layout.align() as u64 + 64)
        .next_multiple_of(4096)
        .max(GROW_STEP);
    let top = heap.top() as u64;
    let got = map_at(top, want);
    if got == 0 {
        return false;
    }
    // SAFETY: [top, top + got) was just mapped read-write for the heap alone and directly
    // follows the heap's current end.
    unsafe { heap.extend(got as usize) };
    got >= layout.size() as u64
}

// SAFETY: every block comes from `Heap`'s first-fit allocator under the lock and is returned
// to it with the same layout; the heap's memory is mapped for the hypervisor's lifetime.
unsafe impl GlobalAlloc for GrowingHeap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let mut heap = self.0.lock();
        loop {
            if let Ok(p) = heap.allocate_first_fit(layout) {
                return p.as_ptr();
            }
            if !grow(&mut heap, layout) {
                return core::ptr::null_mut();
            }
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if let Some(p) = NonNull::new(ptr) {
            // SAFETY: per GlobalAlloc's contract `ptr` came from `alloc` with this layout.
            unsafe { self.0.lock().deallocate(p, layout) };
        }
    }
}

/// Maps the heap's first pages (sized from the machine, see [`initial_size`]) and hands them
/// to the allocator. Panics if the machine cannot hold even that.
pub fn init(ram_frames: u64) {
    let size = initial_size(ram_frames);
    let got = map_at(paging::HEAP_BASE, size);
    assert!(
        got == size,
        "no memory for the hypervisor heap ({size} bytes)"
    );
    // SAFETY: [HEAP_BASE, HEAP_BASE + size) was just mapped for the heap alone and stays
    // mapped forever.
    unsafe {
        HEAP.0
            .lock()
            .init(paging::HEAP_BASE as *mut u8, size as usize)
    };
}

/// Makes sure an allocation of up to `bytes` (16-aligned) will succeed right after (growing
/// the heap if needed), for the allocations stable Rust cannot make fallible (`Box::new`,
/// `BTreeMap::insert`): `ENOMEM` instead of the allocator's failure path. One CPU and no
/// allocation in between, so the room found stays.
pub fn try_reserve(bytes: usize) -> Result<(), guest_abi::errno::Errno> {
    let layout =
        Layout::from_size_align(bytes.max(16), 16).map_err(|_| guest_abi::errno::Errno::ENOMEM)?;
    // SAFETY: a plain allocation through our own allocator, freed at once with its layout.
    unsafe {
        let p = HEAP.alloc(layout);
        if p.is_null() {
            return Err(guest_abi::errno::Errno::ENOMEM);
        }
        HEAP.dealloc(p, layout);
    }
    Ok(())
}

/// Bytes in use and free.
pub fn usage() -> (usize, usize) {
    let h = HEAP.0.lock();
    (h.used(), h.free())
}
