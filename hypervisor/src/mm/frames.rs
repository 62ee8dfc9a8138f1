//! The physical frame allocator: a pair of bitmaps over machine frame numbers (which frames
//! are RAM, which are in use). The bookkeeping ([`FrameBitmap`]) is pure and host-tested; the
//! global allocator around it zeroes frames through the direct map.

/// Why a frame could not be freed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FreeError {
    /// Not a RAM frame this allocator manages.
    NotRam,
    /// Already free: a double free.
    NotAllocated,
}

/// Frame bookkeeping over caller-provided bitmaps (one bit per frame).
pub struct FrameBitmap<'a> {
    ram: &'a mut [u64],
    used: &'a mut [u64],
    total: u64,
    free: u64,
    hint: usize,
}

impl<'a> FrameBitmap<'a> {
    /// An allocator managing no frames yet; capacity `64 * ram.len()` frames.
    pub fn new(ram: &'a mut [u64], used: &'a mut [u64]) -> Self {
        assert_eq!(ram.len(), used.len());
        ram.fill(0);
        used.fill(!0);
        FrameBitmap {
            ram,
            used,
            total: 0,
            free: 0,
            hint: 0,
        }
    }

    /// Frames this bitmap can describe.
    pub fn capacity(&self) -> u64 {
        self.ram.len() as u64 * 64
    }

    fn bit(mfn: u64) -> (usize, u64) {
        ((mfn / 64) as usize, 1 << (mfn % 64))
    }

    fn is_used(&self, mfn: u64) -> bool {
        let (w, b) = Self::bit(mfn);
        self.used[w] & b != 0
    }

    /// Adds RAM frames `[start, end)` as free (clipped to the capacity; idempotent).
    pub fn add_ram(&mut self, start: u64, end: u64) {
        for mfn in start..end.min(self.capacity()) {
            let (w, b) = Self::bit(mfn);
            if self.ram[w] & b == 0 {
                self.ram[w] |= b;
                self.used[w] &= !b;
                self.total += 1;
                self.free += 1;
            }
        }
    }

    /// Marks frames `[start, end)` in use (boot reservations; non-RAM frames are ignored).
    pub fn reserve(&mut self, start: u64, end: u64) {
        for mfn in start..end.min(self.capacity()) {
            let (w, b) = Self::bit(mfn);
            if self.ram[w] & b != 0 && self.used[w] & b == 0 {
                self.used[w] |= b;
                self.free -= 1;
            }
        }
    }

    /// Allocates one frame (lowest free first, from a moving hint).
    pub fn alloc(&mut self) -> Option<u64> {
        let n = self.used.len();
        for i in 0..n {
            let w = (self.hint + i) % n;
            if self.used[w] != !0 {
                let bit = (!self.used[w]).trailing_zeros() as u64;
                self.used[w] |= 1 << bit;
                self.free -= 1;
                self.hint = w;
                return Some(w as u64 * 64 + bit);
            }
        }
        None
    }

    /// Allocates `count` contiguous frames whose first is a multiple of `align` (frames).
    pub fn alloc_contiguous(&mut self, count: u64, align: u64) -> Option<u64> {
        let align = align.max(1);
        let cap = self.capacity();
        let mut start = 0;
        'outer: while start + count <= cap {
            let mut mfn = start;
            while mfn < start + count {
                if self.is_used(mfn) {
                    start = (mfn + 1).div_ceil(align) * align;
                    continue 'outer;
                }
                mfn += 1;
            }
            for mfn in start..start + count {
                let (w, b) = Self::bit(mfn);
                self.used[w] |= b;
            }
            self.free -= count;
            return Some(start);
        }
        None
    }

    /// Frees a frame; a double free or a non-RAM frame is refused and changes nothing.
    pub fn free(&mut self, mfn: u64) -> Result<(), FreeError> {
        if mfn >= self.capacity() {
            return Err(FreeError::NotRam);
        }
        let (w, b) = Self::bit(mfn);
        if self.ram[w] & b == 0 {
            return Err(FreeError::NotRam);
        }
        if self.used[w] & b == 0 {
            return Err(FreeError::NotAllocated);
        }
        self.used[w] &= !b;
        self.free += 1;
        self.hint = self.hint.min(w);
        Ok(())
    }

    /// Free frames.
    pub fn free_count(&self) -> u64 {
        self.free
    }

    /// RAM frames managed (free or in use).
    pub fn total_count(&self) -> u64 {
        self.total
    }
}

#[cfg(target_os = "none")]
pub use hw::*;

#[cfg(target_os = "none")]
mod hw {
    use super::{FrameBitmap, FreeError};
    use crate::boot_info::BootInfo;
    use spin::Mutex;

    /// Frames the allocator can manage: 16 GiB of RAM.
    const MAX_FRAMES: usize = 4 << 20;
    const WORDS: usize = MAX_FRAMES / 64;

    static mut RAM_BITS: [u64; WORDS] = [0; WORDS];
    static mut USED_BITS: [u64; WORDS] = [0; WORDS];
    static FRAMES: Mutex<Option<FrameBitmap<'static>>> = Mutex::new(None);

    /// Sets the allocator up from the memory map, reserving the first MiB, the hypervisor
    /// image, the loader's structures and every module.
    pub fn init(info: &BootInfo, image: (u64, u64)) {
        // Called once at boot before any other use of the bitmaps, which from then on are
        // only reached through the FRAMES lock.
        let (ram, used) = (&raw mut RAM_BITS, &raw mut USED_BITS);
        // SAFETY: (as above) exclusive at boot; the pointers come from the statics themselves.
        let (ram, used) = unsafe { (&mut *ram, &mut *used) };
        let mut bm = FrameBitmap::new(ram, used);
        for r in info.memory.iter().filter(|r| r.is_available()) {
            bm.add_ram(r.start.div_ceil(4096), r.end / 4096);
            if r.end / 4096 > bm.capacity() {
                log::warn!("RAM above {} GiB ignored", MAX_FRAMES >> 18);
            }
        }
        let mut reserve = |s: u64, e: u64| bm.reserve(s / 4096, e.div_ceil(4096));
        reserve(0, 1 << 20);
        reserve(image.0, image.1);
        for &(s, e) in &info.loader_ranges {
            reserve(s, e);
        }
        for m in &info.modules {
            reserve(m.start, m.end);
        }
        *FRAMES.lock() = Some(bm);
    }

    fn with<R>(f: impl FnOnce(&mut FrameBitmap<'static>) -> R) -> R {
        f(FRAMES
            .lock()
            .as_mut()
            .expect("frame allocator not initialised"))
    }

    fn zero(mfn: u64, count: u64) {
        let p = crate::mm::directmap::mfn_to_virt(mfn);
        // SAFETY: the frames were just allocated (owned by nobody else) and are direct-mapped.
        unsafe { core::ptr::write_bytes(p, 0, (count * 4096) as usize) };
    }

    /// Allocates a zeroed frame; returns its MFN.
    pub fn alloc() -> Option<u64> {
        let mfn = with(|b| b.alloc())?;
        zero(mfn, 1);
        Some(mfn)
    }

    /// Allocates `count` zeroed contiguous frames aligned to `align` frames; returns the first.
    pub fn alloc_contiguous(count: u64, align: u64) -> Option<u64> {
        let mfn = with(|b| b.alloc_contiguous(count, align))?;
        zero(mfn, count);
        Some(mfn)
    }

    /// Frees a frame. A double free or a bad MFN is logged and ignored.
    pub fn free(mfn: u64) {
        if let Err(e) = with(|b| b.free(mfn)) {
            match e {
                FreeError::NotAllocated => log::error!("frames: double free of mfn {mfn:#x}"),
                FreeError::NotRam => log::error!("frames: free of non-RAM mfn {mfn:#x}"),
            }
        }
    }

    /// Free frames.
    pub fn free_count() -> u64 {
        with(|b| b.free_count())
    }

    /// RAM frames managed.
    pub fn total_count() -> u64 {
        with(|b| b.total_count())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bm(words: usize) -> FrameBitmap<'static> {
        FrameBitmap::new(vec![0; words].leak(), vec![0; words].leak())
    }

    #[test]
    fn alloc_free_counts() {
        let mut b = bm(4);
        b.add_ram(0, 100);
        b.add_ram(150, 200);
        b.reserve(0, 10);
        assert_eq!((b.total_count(), b.free_count()), (150, 140));
        let a = b.alloc().unwrap();
        assert_eq!(a, 10);
        assert_eq!(b.free_count(), 139);
        assert_eq!(b.free(a), Ok(()));
        assert_eq!(b.free(a), Err(FreeError::NotAllocated));
        assert_eq!(b.free(120), Err(FreeError::NotRam));
        assert_eq!(b.free(5000), Err(FreeError::NotRam));
        assert_eq!(b.free_count(), 140);
    }

    #[test]
    fn exhausts_then_none() {
        let mut b = bm(2);
        b.add_ram(3, 70);
        let mut got = std::collections::BTreeSet::new();
        while let Some(f) = b.alloc() {
            assert!((3..70).contains(&f));
            assert!(got.insert(f), "frame {f} handed out twice");
        }
        assert_eq!(got.len(), 67);
        assert_eq!(b.free_count(), 0);
    }

    #[test]
    fn contiguous_respects_holes_and_alignment() {
        let mut b = bm(4);
        b.add_ram(0, 256);
        b.reserve(0, 1);
        b.reserve(20, 21);
        let s = b.alloc_contiguous(16, 16).unwrap();
        assert_eq!(s, 32);
        assert_eq!(b.alloc_contiguous(8, 1), Some(1));
        assert_eq!(b.alloc_contiguous(1000, 1), None);
        assert_eq!(b.free_count(), 256 - 2 - 16 - 8);
        assert_eq!(b.alloc(), Some(9));
    }
}
