//! The modelled machine's RAM: one zeroed block of host memory, frame-aligned, that the
//! direct map (`mm::directmap`) points into. Machine frame `n` is bytes `n * 4096..` of it.

use std::sync::OnceLock;

/// Frames of RAM (64 MiB).
pub const FRAMES: u64 = 16 * 1024;

static BASE: OnceLock<usize> = OnceLock::new();

/// The host address of machine address 0.
pub fn base() -> *mut u8 {
    *BASE.get_or_init(|| {
        let layout =
            std::alloc::Layout::from_size_align(FRAMES as usize * 4096, 4096).expect("RAM layout");
        // SAFETY: a non-zero-sized layout; the block is never freed, so it lives as long as
        // the machine it models (the test process).
        let p = unsafe { std::alloc::alloc_zeroed(layout) };
        assert!(!p.is_null(), "no host memory for the modelled RAM");
        p as usize
    }) as *mut u8
}

/// Zero all of RAM (a fresh machine for the next test).
pub fn wipe() {
    // SAFETY: the whole block `base()` allocated; callers hold no references into it (a new
    // machine is being set up: no state, no frame allocator).
    unsafe { core::ptr::write_bytes(base(), 0, FRAMES as usize * 4096) };
}
