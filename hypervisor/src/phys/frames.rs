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
    /// The lowest word that may hold a free frame (for [`FrameBitmap::alloc`]).
    hint: usize,
    /// The highest word that may hold a free frame (for [`FrameBitmap::alloc_high`]).
    high_hint: usize,
}

impl<'a> FrameBitmap<'a> {
    /// An allocator managing no frames yet; capacity `64 * ram.len()` frames.
    pub fn new(ram: &'a mut [u64], used: &'a mut [u64]) -> Self {
        assert_eq!(ram.len(), used.len());
        ram.fill(0);
        used.fill(!0);
        let high_hint = ram.len().saturating_sub(1);
        FrameBitmap {
            ram,
            used,
            total: 0,
            free: 0,
            hint: 0,
            high_hint,
        }
    }

    /// Bitmap words needed for frames `[0, frames)`.
    pub fn words_for(frames: u64) -> usize {
        frames.div_ceil(64) as usize
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

    /// Calls `f(word, mask)` for the words covering frames `[start, end)` (clipped to the
    /// capacity), a word at a time: boot-time set-up of many GiB stays cheap.
    fn for_words(&mut self, start: u64, end: u64, mut f: impl FnMut(&mut Self, usize, u64)) {
        let end = end.min(self.capacity());
        let mut mfn = start;
        while mfn < end {
            let (w, first) = ((mfn / 64) as usize, mfn % 64);
            let last = (end - mfn + first).min(64);
            let mask = if last - first == 64 {
                !0
            } else {
                ((1u64 << (last - first)) - 1) << first
            };
            f(self, w, mask);
            mfn += last - first;
        }
    }

    /// Adds RAM frames `[start, end)` as free (clipped to the capacity; idempotent).
    pub fn add_ram(&mut self, start: u64, end: u64) {
        self.for_words(start, end, |b, w, mask| {
            let new = mask & !b.ram[w];
            b.ram[w] |= new;
            b.used[w] &= !new;
            b.total += u64::from(new.count_ones());
            b.free += u64::from(new.count_ones());
        });
    }

    /// Marks frames `[start, end)` in use (boot reservations; non-RAM frames are ignored).
    pub fn reserve(&mut self, start: u64, end: u64) {
        self.for_words(start, end, |b, w, mask| {
            let take = mask & b.ram[w] & !b.used[w];
            b.used[w] |= take;
            b.free -= u64::from(take.count_ones());
        });
    }

    /// Allocates one frame, lowest free first (the hypervisor's own structures).
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

    /// Allocates one frame, highest free first (domains' memory, as Xen gives guests the
    /// highest memory first and keeps low memory for what needs it).
    pub fn alloc_high(&mut self) -> Option<u64> {
        let n = self.used.len();
        for i in 0..n {
            let w = (self.high_hint + n - i) % n;
            if self.used[w] != !0 {
                let bit = 63 - u64::from((!self.used[w]).leading_zeros());
                self.used[w] |= 1 << bit;
                self.free -= 1;
                self.high_hint = w;
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
        self.high_hint = self.high_hint.max(w);
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

/// Frames kept from domains' memory on a machine of `total` frames, so that the hypervisor's
/// own memory (its heap grows from free frames, page tables, shared pages) never runs out
/// because guests took everything: 1/128 of RAM within [4 MiB, 64 MiB].
pub fn reserve_for(total: u64) -> u64 {
    (total / 128).clamp(1024, 16 * 1024)
}

/// Where boot-time data of `bytes` can go: the lowest page-aligned address at or above
/// 1 MiB inside one of the `available` ranges, ending at or below `limit`, overlapping none
/// of the `reserved` ranges (all `[start, end)` byte ranges, in any order).
pub fn place(
    available: &[(u64, u64)],
    reserved: &[(u64, u64)],
    bytes: u64,
    limit: u64,
) -> Option<u64> {
    let mut best: Option<u64> = None;
    for &(start, end) in available {
        let end = end.min(limit);
        let Some(mut at) = start.max(1 << 20).checked_next_multiple_of(4096) else {
            continue;
        };
        while let Some(stop) = at.checked_add(bytes).filter(|&s| s <= end) {
            match reserved
                .iter()
                .filter(|&&(s, e)| s < stop && e > at)
                .map(|&(_, e)| e)
                .max()
            {
                Some(e) => match e.checked_next_multiple_of(4096) {
                    Some(next) => at = next,
                    None => break,
                },
                None => {
                    best = Some(best.map_or(at, |b| b.min(at)));
                    break;
                }
            }
        }
    }
    best
}

pub use hw::*;

mod hw {
    use super::{reserve_for, FrameBitmap, FreeError};
    use crate::boot_info::BootInfo;
    use crate::sync::{Lock, Rank};
    use guest_abi::types::Mfn;

    static FRAMES: Lock<Option<FrameBitmap<'static>>> =
        Lock::new(Rank::Frames, "frame allocator", None);

    /// Sets the allocator up from the memory map, reserving the first MiB, the hypervisor
    /// image, the loader's structures, every module and the bitmaps themselves. The bitmaps
    /// are sized from the highest RAM frame and placed in free RAM below 4 GiB (which the boot
    /// page tables map).
    pub fn init(info: &BootInfo, image: (u64, u64)) -> Result<(), &'static str> {
        let mut reserved: heapless::Vec<(u64, u64), 32> = heapless::Vec::new();
        let _ = reserved.push((0, 1 << 20));
        let _ = reserved.push(image);
        for &r in &info.loader_ranges {
            let _ = reserved.push(r);
        }
        for m in &info.modules {
            let _ = reserved.push((m.start, m.end));
        }
        let ranges: heapless::Vec<(u64, u64), 128> = info
            .memory
            .iter()
            .filter(|r| r.is_available())
            .map(|r| (r.start, r.end))
            .collect();
        init_ranges(&ranges, &reserved)
    }

    /// No allocator any more (a host test machine about to get new RAM).
    pub fn forget() {
        *FRAMES.lock() = None;
    }

    /// Sets the allocator up over the RAM byte ranges `ranges` minus `reserved` (see
    /// [`init`]); the host tests give it their modelled RAM.
    pub fn init_ranges(ranges: &[(u64, u64)], reserved: &[(u64, u64)]) -> Result<(), &'static str> {
        // A machine set up again (host tests) drops the old bitmaps before the new ones
        // (which may lie where they did) are made.
        *FRAMES.lock() = None;
        let ram_end = ranges.iter().map(|r| r.1 / 4096).max().unwrap_or(0);
        let words = FrameBitmap::words_for(ram_end);
        let bytes = (words * 8) as u64;
        let at = super::place(ranges, reserved, 2 * bytes, 1 << 32)
            .ok_or("no room below 4 GiB for the frame bitmaps")?;
        let base = crate::phys::directmap::phys_to_virt(at).cast::<u64>();
        // SAFETY: [at, at + 2 * bytes) is RAM below 4 GiB (mapped by the boot page tables and
        // later by the direct map) that no loader structure, module or the image uses; it is
        // reserved below before anything else can allocate, and from then on reached only
        // through the FRAMES lock.
        let (ram, used) = unsafe {
            (
                core::slice::from_raw_parts_mut(base, words),
                core::slice::from_raw_parts_mut(base.add(words), words),
            )
        };
        // Every frame that is not RAM is I/O memory (`phys::iomem`).
        crate::phys::iomem::set_ram(ranges);
        let mut bm = FrameBitmap::new(ram, used);
        for &(s, e) in ranges {
            bm.add_ram(s.div_ceil(4096), e / 4096);
        }
        let mut reserve = |s: u64, e: u64| bm.reserve(s / 4096, e.div_ceil(4096));
        for &(s, e) in reserved {
            reserve(s, e);
        }
        reserve(at, at + 2 * bytes);
        *FRAMES.lock() = Some(bm);
        Ok(())
    }

    fn with<R>(f: impl FnOnce(&mut FrameBitmap<'static>) -> R) -> R {
        f(FRAMES
            .lock()
            .as_mut()
            .expect("frame allocator not initialised"))
    }

    fn zero(mfn: u64, count: u64) {
        let p = crate::phys::directmap::mfn_to_virt(Mfn(mfn));
        // SAFETY: the frames were just allocated (owned by nobody else) and are direct-mapped.
        unsafe { core::ptr::write_bytes(p, 0, (count * 4096) as usize) };
    }

    /// Allocates a zeroed frame for the hypervisor's own use (lowest first); returns its MFN.
    pub fn alloc() -> Option<Mfn> {
        let mfn = with(|b| b.alloc())?;
        zero(mfn, 1);
        Some(Mfn(mfn))
    }

    /// Allocates a zeroed frame for a domain's memory (highest first); returns its MFN.
    pub fn alloc_for_domain() -> Option<Mfn> {
        let mfn = with(|b| {
            if b.free_count() <= reserve_for(b.total_count()) {
                return None;
            }
            b.alloc_high()
        })?;
        zero(mfn, 1);
        Some(Mfn(mfn))
    }

    /// Free frames domains' memory may still take: all but the hypervisor's reserve
    /// ([`super::reserve_for`]), what `sysctl physinfo` reports as free.
    pub fn free_for_domains() -> u64 {
        with(|b| b.free_count().saturating_sub(reserve_for(b.total_count())))
    }

    /// Allocates `count` zeroed contiguous frames aligned to `align` frames; returns the first.
    pub fn alloc_contiguous(count: u64, align: u64) -> Option<Mfn> {
        let mfn = with(|b| b.alloc_contiguous(count, align))?;
        zero(mfn, count);
        Some(Mfn(mfn))
    }

    /// A permanent array of `count` copies of `init` in contiguous frames reached through the
    /// direct map (the frame table: sized from the machine, so not from the heap).
    pub fn alloc_array<T: Copy>(count: usize, init: T) -> Option<&'static mut [T]> {
        let bytes = core::mem::size_of::<T>().checked_mul(count)? as u64;
        let align = core::mem::align_of::<T>();
        if align > 4096 {
            return None;
        }
        // Not zeroed first: every element is written below (a frame table of a large machine
        // is hundreds of MiB).
        let mfn = with(|b| b.alloc_contiguous(bytes.div_ceil(4096).max(1), 1))?;
        let p = crate::phys::directmap::mfn_to_virt(Mfn(mfn)).cast::<T>();
        for i in 0..count {
            // SAFETY: inside the frames just allocated (count * size_of::<T>() bytes, page
            // aligned, so aligned for T), owned by nobody else.
            unsafe { p.add(i).write(init) };
        }
        // SAFETY: the frames are initialised above and never freed, so the slice is valid and
        // exclusively owned for 'static.
        Some(unsafe { core::slice::from_raw_parts_mut(p, count) })
    }

    /// Frees a frame. A double free or a bad MFN is logged and ignored.
    pub fn free(mfn: Mfn) {
        if let Err(e) = with(|b| b.free(mfn.0)) {
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
    fn high_allocation_takes_the_top_first_and_meets_low() {
        let mut b = bm(4);
        b.add_ram(0, 100);
        b.add_ram(150, 200);
        assert_eq!(b.alloc_high(), Some(199));
        assert_eq!(b.alloc_high(), Some(198));
        assert_eq!(b.alloc(), Some(0));
        b.reserve(150, 198);
        assert_eq!(
            b.alloc_high(),
            Some(99),
            "skips the hole and the reserved frames"
        );
        assert_eq!(b.free(199), Ok(()));
        assert_eq!(
            b.alloc_high(),
            Some(199),
            "a freed high frame is found again"
        );
        let mut seen = std::collections::BTreeSet::new();
        while let Some(f) = b.alloc_high() {
            assert!(seen.insert(f));
        }
        assert_eq!(seen.len(), 98, "frames 1..=98");
        assert_eq!(b.free_count(), 0);
    }

    #[test]
    fn ranges_are_set_a_word_at_a_time_exactly() {
        let mut b = bm(8);
        b.add_ram(3, 3);
        assert_eq!(b.total_count(), 0);
        b.add_ram(5, 300);
        b.add_ram(64, 128);
        assert_eq!((b.total_count(), b.free_count()), (295, 295));
        b.reserve(0, 6);
        b.reserve(63, 65);
        b.reserve(299, 1000);
        assert_eq!(b.free_count(), 295 - 1 - 2 - 1);
        assert_eq!(b.alloc(), Some(6));
        assert_eq!(b.alloc_high(), Some(298));
        assert_eq!(b.free(63), Ok(()));
        assert_eq!(b.free(4), Err(FreeError::NotRam));
        assert_eq!(FrameBitmap::words_for(0), 0);
        assert_eq!(FrameBitmap::words_for(65), 2);
    }

    #[test]
    fn boot_data_is_placed_in_free_ram_below_the_limit() {
        const MIB: u64 = 1 << 20;
        let ram = [(0, 0x9fc00), (MIB, 512 * MIB), (4096 * MIB, 8192 * MIB)];
        let reserved = [(0, MIB), (2 * MIB, 3 * MIB), (3 * MIB + 5, 7 * MIB + 1)];
        assert_eq!(place(&ram, &reserved, MIB, 1 << 32), Some(MIB));
        assert_eq!(
            place(&ram, &reserved, MIB + 1, 1 << 32),
            Some(7 * MIB + 4096),
            "skips both reservations, page-aligned after the second"
        );
        assert_eq!(
            place(&ram, &reserved, 600 * MIB, 1 << 32),
            None,
            "only high RAM is that big"
        );
        assert_eq!(
            place(&ram, &reserved, 600 * MIB, u64::MAX),
            Some(4096 * MIB)
        );
        assert_eq!(place(&ram, &[(0, u64::MAX)], 4096, u64::MAX), None);
        assert_eq!(
            place(&[(u64::MAX - 4096, u64::MAX)], &[], 8192, u64::MAX),
            None
        );
    }

    #[test]
    fn the_reserve_scales_with_the_machine_within_bounds() {
        assert_eq!(reserve_for(131072), 1024, "512 MiB: 4 MiB");
        assert_eq!(reserve_for(2 << 20), 16384, "8 GiB: capped at 64 MiB");
        assert_eq!(reserve_for(1 << 19), 4096, "2 GiB: 16 MiB");
        assert_eq!(reserve_for(100), 1024);
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
