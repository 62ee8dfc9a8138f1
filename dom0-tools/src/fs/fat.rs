//! Freeing a file's clusters, which embedded-sdmmc does not do when it deletes a directory
//! entry: the chain from the file's first cluster is walked in the FAT and every entry set
//! free in each copy of the FAT, and FAT32's FSInfo free count raised by as many. Facts
//! from Microsoft's FAT specification (the BPB's fields, FAT16/FAT32 entry sizes, the
//! end-of-chain and bad-cluster marks, FSInfo's signatures and free count).
//!
//! The volume's sector `n` is block `n + 1` of [`Blocks`] (behind its made-up MBR).

use super::blocks::{Blocks, DevError};
use super::FsError;
use crate::block::BlockError;
use embedded_sdmmc::{Block, BlockDevice as _, BlockIdx};

/// The geometry read from the boot sector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Geometry {
    /// First sector of the first FAT, and each FAT's length in sectors.
    fat_start: u32,
    fat_sectors: u32,
    fats: u32,
    /// Clusters in the data area (valid numbers are 2..clusters + 2).
    clusters: u32,
    fat32: bool,
    /// FAT32's FSInfo sector.
    fsinfo: Option<u32>,
}

fn u16_at(b: &[u8], at: usize) -> u32 {
    u32::from(u16::from_le_bytes([b[at], b[at + 1]]))
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn dev(e: DevError) -> FsError {
    match e.0 {
        BlockError::ReadOnly => FsError::ReadOnly,
        e => FsError::Device(e),
    }
}

fn read(b: &Blocks<'_>, sector: u32) -> Result<Block, FsError> {
    let mut blk = [Block::new()];
    let idx = sector
        .checked_add(1)
        .ok_or(FsError::Device(BlockError::OutOfRange))?;
    b.read(&mut blk, BlockIdx(idx)).map_err(dev)?;
    let [blk] = blk;
    Ok(blk)
}

fn write(b: &Blocks<'_>, sector: u32, blk: &Block) -> Result<(), FsError> {
    let idx = sector
        .checked_add(1)
        .ok_or(FsError::Device(BlockError::OutOfRange))?;
    b.write(core::slice::from_ref(blk), BlockIdx(idx))
        .map_err(dev)
}

impl Geometry {
    /// From the boot sector (`bpb`, the volume's sector 0).
    pub fn parse(bpb: &[u8]) -> Result<Geometry, FsError> {
        let bad = |why: &str| FsError::Format(why.into());
        if bpb.len() < 512 || bpb[510] != 0x55 || bpb[511] != 0xAA {
            return Err(bad("no boot sector signature"));
        }
        if u16_at(bpb, 11) != 512 {
            return Err(bad("sectors are not 512 bytes"));
        }
        let per_cluster = u32::from(bpb[13]);
        let reserved = u16_at(bpb, 14);
        let fats = u32::from(bpb[16]);
        let root_entries = u16_at(bpb, 17);
        let fat_sectors = match u16_at(bpb, 22) {
            0 => u32_at(bpb, 36),
            n => n,
        };
        let total = match u16_at(bpb, 19) {
            0 => u32_at(bpb, 32),
            n => n,
        };
        if per_cluster == 0 || !per_cluster.is_power_of_two() || fats == 0 || reserved == 0 {
            return Err(bad("a BPB field is zero or not a power of two"));
        }
        let root_sectors = (root_entries * 32).div_ceil(512);
        let meta = u64::from(reserved)
            + u64::from(fats) * u64::from(fat_sectors)
            + u64::from(root_sectors);
        let data = u64::from(total)
            .checked_sub(meta)
            .ok_or_else(|| bad("the FATs are larger than the volume"))?;
        let clusters =
            u32::try_from(data / u64::from(per_cluster)).map_err(|_| bad("too many clusters"))?;
        if clusters < 4085 {
            return Err(bad("FAT12"));
        }
        let fat32 = clusters >= 65525;
        let entry = if fat32 { 4 } else { 2 };
        if u64::from(fat_sectors) * 512 < (u64::from(clusters) + 2) * entry {
            return Err(bad("the FAT is too short for the clusters"));
        }
        let fsinfo = match u16_at(bpb, 48) {
            n if fat32 && n != 0 && n != 0xFFFF && n < reserved => Some(n),
            _ => None,
        };
        Ok(Geometry {
            fat_start: reserved,
            fat_sectors,
            fats,
            clusters,
            fat32,
            fsinfo,
        })
    }

    fn entry_bytes(&self) -> u32 {
        if self.fat32 {
            4
        } else {
            2
        }
    }

    /// (sector within a FAT, byte offset) of cluster `c`'s entry.
    fn place(&self, c: u32) -> (u32, usize) {
        let at = c * self.entry_bytes();
        (at / 512, (at % 512) as usize)
    }

    fn get(&self, b: &Blocks<'_>, c: u32) -> Result<u32, FsError> {
        let (s, off) = self.place(c);
        let blk = read(b, self.fat_start + s)?;
        Ok(if self.fat32 {
            u32_at(&blk.contents, off) & 0x0FFF_FFFF
        } else {
            u16_at(&blk.contents, off)
        })
    }

    /// Sets cluster `c`'s entry free in every FAT.
    fn free(&self, b: &Blocks<'_>, c: u32) -> Result<(), FsError> {
        let (s, off) = self.place(c);
        for f in 0..self.fats {
            let sector = self.fat_start + f * self.fat_sectors + s;
            let mut blk = read(b, sector)?;
            if self.fat32 {
                // The top four bits are reserved: kept as they are.
                let old = u32_at(&blk.contents, off);
                blk.contents[off..off + 4].copy_from_slice(&(old & 0xF000_0000).to_le_bytes());
            } else {
                blk.contents[off..off + 2].fill(0);
            }
            write(b, sector, &blk)?;
        }
        Ok(())
    }

    /// Whether `c` names a data cluster.
    fn is_data(&self, c: u32) -> bool {
        (2..self.clusters + 2).contains(&c)
    }
}

/// Frees the chain of clusters from `first` (a deleted file's); how many were freed. A chain
/// that loops or runs into a free or out-of-range entry ends there.
pub fn free_chain(b: &Blocks<'_>, first: u32) -> Result<u32, FsError> {
    let g = Geometry::parse(&read(b, 0)?.contents)?;
    let mut c = first;
    let mut freed = 0u32;
    while g.is_data(c) && freed < g.clusters {
        let next = g.get(b, c)?;
        if next == 0 {
            break;
        }
        g.free(b, c)?;
        freed += 1;
        c = next;
    }
    if let Some(s) = g.fsinfo {
        let mut blk = read(b, s)?;
        let ok =
            u32_at(&blk.contents, 0) == 0x4161_5252 && u32_at(&blk.contents, 484) == 0x6141_7272;
        let count = u32_at(&blk.contents, 488);
        if ok && count != u32::MAX && freed > 0 {
            let count = count.saturating_add(freed).min(g.clusters);
            blk.contents[488..492].copy_from_slice(&count.to_le_bytes());
            write(b, s, &blk)?;
        }
    }
    Ok(freed)
}
