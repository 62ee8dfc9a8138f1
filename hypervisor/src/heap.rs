//! The hypervisor heap: `linked_list_allocator` over contiguous frames taken at boot,
//! reached through the direct map.

use linked_list_allocator::LockedHeap;

/// The smallest heap (what a machine of up to ~1 GiB gets).
pub const MIN_HEAP_SIZE: u64 = 8 << 20;
/// Room beyond the frame table for everything else (domains, ports, grant maptracks, ...).
pub const HEADROOM: u64 = 4 << 20;

#[global_allocator]
static HEAP: LockedHeap = LockedHeap::empty();

/// The heap for a machine whose frame table (one `PageInfo` per frame up to the highest
/// RAM address, which a PC's memory hole puts well above the RAM's size) takes
/// `frame_table` bytes: that plus [`HEADROOM`], at least [`MIN_HEAP_SIZE`], in whole frames.
pub fn size_for(frame_table: u64) -> u64 {
    (frame_table + HEADROOM)
        .max(MIN_HEAP_SIZE)
        .next_multiple_of(4096)
}

/// Takes [`size_for`]`(frame_table)` bytes of frames and hands them to the allocator.
pub fn init(frame_table: u64) {
    let size = size_for(frame_table);
    let mfn = crate::mm::frames::alloc_contiguous(size / 4096, 1).expect("no memory for the heap");
    let start = crate::mm::directmap::mfn_to_virt(mfn);
    // SAFETY: the frames were just allocated for the heap alone and stay mapped forever.
    unsafe { HEAP.lock().init(start, size as usize) };
}

/// Bytes in use and free.
pub fn usage() -> (usize, usize) {
    let h = HEAP.lock();
    (h.used(), h.free())
}
