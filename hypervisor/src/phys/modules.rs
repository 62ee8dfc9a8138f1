//! The boot modules (dom0's kernel and initrd) in RAM: reserved from the frame allocator at
//! boot, read while dom0 is built, then given back, as Xen frees them once dom0 has its
//! copies. Their bytes are borrowed from [`BootModules`], so none outlives [`release`].
//!
//! [`release`]: BootModules::release

use super::{directmap, frames};
use guest_abi::types::{Mfn, PAGE_SIZE};

/// At most this many modules are kept (Multiboot gives dom0's kernel and initrd).
pub const MAX_MODULES: usize = 16;

/// The modules' physical byte ranges `[start, end)`, reserved until released.
pub struct BootModules {
    ranges: heapless::Vec<(u64, u64), MAX_MODULES>,
}

impl BootModules {
    /// The modules at `ranges` (RAM the allocator reserved for them at boot; more than
    /// [`MAX_MODULES`] are ignored, and stay reserved).
    pub fn new(ranges: impl IntoIterator<Item = (u64, u64)>) -> Self {
        let mut v = heapless::Vec::new();
        for r in ranges.into_iter().filter(|r| r.0 <= r.1) {
            if v.push(r).is_err() {
                break;
            }
        }
        BootModules { ranges: v }
    }

    /// The bytes of module `i`.
    pub fn bytes(&self, i: usize) -> Option<&[u8]> {
        let &(start, end) = self.ranges.get(i)?;
        let len = usize::try_from(end - start).ok()?;
        // SAFETY: the range is RAM the allocator reserved at boot for this module (nothing
        // else allocates or writes it) and the direct map maps; it stays reserved until
        // `release`, which consumes `self` and so ends every borrow of these bytes first.
        Some(unsafe { core::slice::from_raw_parts(directmap::phys_to_virt(start), len) })
    }

    /// Give the modules' frames back to the allocator: every frame wholly inside a module
    /// (a frame it shares with something else at either end stays reserved). Returns how
    /// many frames were freed.
    pub fn release(self) -> u64 {
        let page = PAGE_SIZE as u64;
        let mut freed = 0;
        for &(start, end) in &self.ranges {
            for mfn in start.div_ceil(page)..end / page {
                frames::free(Mfn(mfn));
                freed += 1;
            }
        }
        freed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testbed::Testbed;

    #[test]
    fn modules_are_read_in_place_and_only_their_whole_frames_are_freed() {
        let _tb = Testbed::boot();
        // Inside the reserved "image" range of the test machine (1 MiB .. 4 MiB).
        let (a, b) = (0x20_0000 + 100, 0x30_0000);
        crate::phys::ram::write_for_test(a, b"kernel");
        let m = BootModules::new([(a, b), (0x30_0000, 0x30_0000)]);
        assert_eq!(&m.bytes(0).unwrap()[..6], b"kernel");
        assert_eq!(m.bytes(1).unwrap().len(), 0);
        assert!(m.bytes(2).is_none());
        let before = frames::free_count();
        // 0x201000 .. 0x300000: the first frame is shared with whatever lies before.
        assert_eq!(m.release(), 255);
        assert_eq!(frames::free_count(), before + 255);
    }
}
