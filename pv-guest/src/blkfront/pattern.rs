//! The test pattern (pure, host-tested): every 512-byte sector holds its own sector number,
//! the run's seed, and 62 words derived from both, so a sector written to the wrong place,
//! left stale from another run, or torn shows which.

use core::fmt;
use guest_abi::io::blkif::BLKIF_SECTOR_SIZE;

/// Words (u64, little-endian) in a sector.
const WORDS: usize = BLKIF_SECTOR_SIZE / 8;

/// SplitMix64's output function: a cheap, well-mixed 64-bit hash.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Word `w` of sector `sector` under `seed`.
fn word(sector: u64, seed: u64, w: usize) -> u64 {
    match w {
        0 => sector,
        1 => seed,
        _ => mix(seed ^ mix(sector) ^ (w as u64).wrapping_mul(0xD6E8_FEB8_6659_FD93)),
    }
}

fn get(buf: &[u8], w: usize) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&buf[w * 8..w * 8 + 8]);
    u64::from_le_bytes(b)
}

/// Fills `buf` (whole sectors) with the pattern of sectors `first..` under `seed`.
pub fn fill(buf: &mut [u8], first: u64, seed: u64) {
    for (i, s) in buf.chunks_exact_mut(BLKIF_SECTOR_SIZE).enumerate() {
        let sector = first + i as u64;
        for (w, out) in s.chunks_exact_mut(8).enumerate() {
            out.copy_from_slice(&word(sector, seed, w).to_le_bytes());
        }
    }
}

/// A sector that does not hold its pattern.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mismatch {
    /// The sector read.
    pub sector: u64,
    /// The seed expected.
    pub seed: u64,
    /// The sector number it holds (word 0).
    pub found_sector: u64,
    /// The seed it holds (word 1).
    pub found_seed: u64,
    /// The first word that differs.
    pub word: usize,
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.found_sector == self.sector && self.found_seed == self.seed {
            write!(
                f,
                "sector {}: word {} differs (sector number and seed right)",
                self.sector, self.word
            )
        } else {
            write!(
                f,
                "sector {}: holds sector {} seed {} (want sector {} seed {})",
                self.sector, self.found_sector, self.found_seed, self.sector, self.seed
            )
        }
    }
}

/// Checks that `buf` (whole sectors) holds the pattern of sectors `first..` under `seed`;
/// the first sector that does not.
pub fn verify(buf: &[u8], first: u64, seed: u64) -> Result<(), Mismatch> {
    for (i, s) in buf.chunks_exact(BLKIF_SECTOR_SIZE).enumerate() {
        let sector = first + i as u64;
        if let Some(w) = (0..WORDS).find(|&w| get(s, w) != word(sector, seed, w)) {
            return Err(Mismatch {
                sector,
                seed,
                found_sector: get(s, 0),
                found_seed: get(s, 1),
                word: w,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    #[test]
    fn a_filled_region_verifies_and_names_its_sectors() {
        let mut buf = vec![0u8; 512 * 5];
        fill(&mut buf, 100, 7);
        assert_eq!(verify(&buf, 100, 7), Ok(()));
        assert_eq!(get(&buf[512 * 3..], 0), 103);
        assert_eq!(get(&buf[512 * 3..], 1), 7);
    }

    #[test]
    fn another_seed_or_place_or_a_torn_sector_fails() {
        let mut buf = vec![0u8; 512 * 4];
        fill(&mut buf, 10, 1);
        let e = verify(&buf, 10, 2).unwrap_err();
        assert_eq!(
            (e.sector, e.found_sector, e.found_seed, e.word),
            (10, 10, 1, 1)
        );
        assert_eq!(
            e.to_string(),
            "sector 10: holds sector 10 seed 1 (want sector 10 seed 2)"
        );
        // Shifted by one sector: the data of sector 11 read as sector 12.
        let e = verify(&buf[512..], 12, 1).unwrap_err();
        assert_eq!((e.sector, e.found_sector), (12, 11));
        assert_eq!(
            e.to_string(),
            "sector 12: holds sector 11 seed 1 (want sector 12 seed 1)"
        );
        // One byte changed in the third sector's tail.
        buf[2 * 512 + 300] ^= 0x40;
        let e = verify(&buf, 10, 1).unwrap_err();
        assert_eq!((e.sector, e.word), (12, 300 / 8));
        assert_eq!(
            e.to_string(),
            "sector 12: word 37 differs (sector number and seed right)"
        );
        // Zeros are never a pattern (sector 0 holds seed and hashes too).
        let zero = vec![0u8; 512];
        assert!(verify(&zero, 0, 0).is_err());
    }

    #[test]
    fn patterns_of_different_sectors_and_seeds_differ_beyond_the_header() {
        let (mut a, mut b) = (vec![0u8; 512], vec![0u8; 512]);
        fill(&mut a, 5, 9);
        fill(&mut b, 6, 9);
        assert_ne!(a[16..], b[16..]);
        fill(&mut b, 5, 10);
        assert_ne!(a[16..], b[16..]);
    }
}
