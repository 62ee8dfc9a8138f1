//! The benchmarks' random offsets: splitmix64 from a fixed seed, so every run (and every
//! implementation: dom0's `blkbench` shell command, pv-guest's `test=blk-bench`) reads the
//! same blocks of a device of the same size.
//!
//! Block `i` of a random-read run over a device of `blocks` 4 KiB blocks is
//! `next_u64() % blocks` for the `i`-th `next_u64()` after [`SplitMix64::new`]`(`[`SEED`]`)`.
//! The first three values from [`SEED`]: 0x36720bf958dc9587, 0x29c794696297dec5,
//! 0x22f4fdd5558aaf69.

/// The fixed seed of the random-read benchmarks.
pub const SEED: u64 = 0x5EED_B10C;

/// splitmix64 (Steele, Lea, Flood: "Fast splittable pseudorandom number generators").
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub const fn new(seed: u64) -> SplitMix64 {
        SplitMix64(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}
