//! The modelled machine's RAM: one zeroed block of host memory, frame-aligned, that the
//! direct map (`phys::directmap`) points into. Machine frame `n` is bytes `n * 4096..` of it.
//! Each test machine gets a fresh block of the size it asks for ([`reset`]); the host's
//! allocator hands large zeroed blocks out lazily, so a machine of gigabytes costs only the
//! pages the test touches.

use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use spin::Mutex;

/// Frames of RAM a machine gets unless it asks for another size (64 MiB).
pub const DEFAULT_FRAMES: u64 = 16 * 1024;

static BASE: AtomicUsize = AtomicUsize::new(0);
static FRAMES: AtomicU64 = AtomicU64::new(0);
static RESET: Mutex<()> = Mutex::new(());

fn layout(frames: u64) -> std::alloc::Layout {
    std::alloc::Layout::from_size_align(frames as usize * 4096, 4096).expect("RAM layout")
}

/// The host address of machine address 0 (a default-sized RAM if none was made yet).
pub fn base() -> *mut u8 {
    if BASE.load(Ordering::Acquire) == 0 {
        reset(DEFAULT_FRAMES);
    }
    BASE.load(Ordering::Acquire) as *mut u8
}

/// Frames of RAM the machine has.
pub fn frames() -> u64 {
    if BASE.load(Ordering::Acquire) == 0 {
        reset(DEFAULT_FRAMES);
    }
    FRAMES.load(Ordering::Acquire)
}

/// New, zeroed RAM of `frames` frames; the old block is freed. Callers hold nothing that
/// points into the old RAM (a machine is being set up: no state, no frame allocator).
pub fn reset(frames: u64) {
    assert!(frames > 0, "a machine needs RAM");
    let _g = RESET.lock();
    let old = BASE.swap(0, Ordering::AcqRel);
    if old != 0 {
        // SAFETY: `old` came from `alloc_zeroed` below with the layout of the size recorded
        // in FRAMES, and nothing uses it any more (per the contract above).
        unsafe { std::alloc::dealloc(old as *mut u8, layout(FRAMES.load(Ordering::Acquire))) };
    }
    // SAFETY: a non-zero-sized layout; the block lives until the next reset.
    let p = unsafe { std::alloc::alloc_zeroed(layout(frames)) };
    assert!(
        !p.is_null(),
        "no host memory for {frames} frames of modelled RAM"
    );
    FRAMES.store(frames, Ordering::Release);
    BASE.store(p as usize, Ordering::Release);
}
