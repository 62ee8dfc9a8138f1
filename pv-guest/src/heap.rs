//! The kernel heap: `linked_list_allocator` over a static array in .bss.
//!
//! The toolstack in dom0 (`dom0-tools`) needs `alloc`. A first-fit free list is plenty for a
//! shell and a domain builder; the region is fixed, so no page-table work is needed.

use core::ptr::addr_of_mut;
use linked_list_allocator::LockedHeap;

/// Heap size. dom0 parses guest ELF images and builds domains with it.
pub const HEAP_SIZE: usize = 4 << 20;

#[repr(C, align(4096))]
struct HeapSpace([u8; HEAP_SIZE]);

static mut HEAP_SPACE: HeapSpace = HeapSpace([0; HEAP_SIZE]);

#[global_allocator]
static ALLOCATOR: LockedHeap = LockedHeap::empty();

/// Hands the .bss array to the allocator. Call once, before any allocation.
pub fn init() {
    // SAFETY: HEAP_SPACE is used by nothing but the allocator, and `init` runs once at boot
    // (guest_main calls it first), so the region is given to the heap exactly once.
    unsafe {
        ALLOCATOR
            .lock()
            .init(addr_of_mut!(HEAP_SPACE).cast::<u8>(), HEAP_SIZE);
    }
}

/// Bytes currently free in the heap.
pub fn free() -> usize {
    ALLOCATOR.lock().free()
}
