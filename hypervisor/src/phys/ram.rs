//! The modelled machine's RAM: one zeroed block of host memory, frame-aligned, that the
//! direct map (`phys::directmap`) points into. Machine frame `n` is bytes `n * 4096..` of it.
//! Each test machine gets a fresh block of the size it asks for ([`reset`]); the host's
//! allocator hands large zeroed blocks out lazily, so a machine of gigabytes costs only the
//! pages the test touches. (Only with the allocator's default alignment: asked for 4 KiB
//! alignment, the system allocator zeroes the block itself, touching all of it; so the block
//! is over-allocated by a frame and its frame-aligned part used.)

use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use spin::Mutex;

/// Frames of RAM a machine gets unless it asks for another size (64 MiB).
pub const DEFAULT_FRAMES: u64 = 16 * 1024;

static BASE: AtomicUsize = AtomicUsize::new(0);
static FRAMES: AtomicU64 = AtomicU64::new(0);
/// The block as allocated (BASE is its first frame-aligned byte).
static BLOCK: AtomicUsize = AtomicUsize::new(0);
static RESET: Mutex<()> = Mutex::new(());

/// The block for `frames` frames: one frame more than they need, at the allocator's default
/// alignment (so that it is zeroed lazily).
fn layout(frames: u64) -> std::alloc::Layout {
    std::alloc::Layout::from_size_align((frames as usize + 1) * 4096, 16).expect("RAM layout")
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
    BASE.store(0, Ordering::Release);
    let old = BLOCK.swap(0, Ordering::AcqRel);
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
    // The block's first frame-aligned byte: `frames` frames of it follow within the block.
    let base = (p as usize).next_multiple_of(4096);
    FRAMES.store(frames, Ordering::Release);
    BLOCK.store(p as usize, Ordering::Release);
    BASE.store(base, Ordering::Release);
}

/// A test puts `bytes` into RAM at physical address `pa` (as a boot loader would).
#[cfg(test)]
pub fn write_for_test(pa: u64, bytes: &[u8]) {
    let end = pa + bytes.len() as u64;
    assert!(end <= frames() * 4096, "inside the modelled RAM");
    // SAFETY: inside the block (checked above); tests write RAM nothing else holds.
    unsafe { core::ptr::copy_nonoverlapping(bytes.as_ptr(), base().add(pa as usize), bytes.len()) };
}
