//! The hypervisor heap: `linked_list_allocator` over contiguous frames taken at boot,
//! reached through the direct map.

use linked_list_allocator::LockedHeap;

/// Heap size.
pub const HEAP_SIZE: u64 = 8 << 20;

#[global_allocator]
static HEAP: LockedHeap = LockedHeap::empty();

/// Takes `HEAP_SIZE` bytes of frames and hands them to the allocator.
pub fn init() {
    let frames = HEAP_SIZE / 4096;
    let mfn = crate::mm::frames::alloc_contiguous(frames, 1).expect("no memory for the heap");
    let start = crate::mm::directmap::mfn_to_virt(mfn);
    // SAFETY: the frames were just allocated for the heap alone and stay mapped forever.
    unsafe { HEAP.lock().init(start, HEAP_SIZE as usize) };
}

/// Bytes in use and free.
pub fn usage() -> (usize, usize) {
    let h = HEAP.lock();
    (h.used(), h.free())
}
