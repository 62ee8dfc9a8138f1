//! The partition as embedded-sdmmc sees a disk: block 0 is a made-up MBR whose first entry
//! is the whole partition (the crate finds volumes only through an MBR; ours sits in a
//! GPT), block `n + 1` is the partition's sector `n`.
//!
//! Writes stay in a write-back cache of at most [`MAX_DIRTY`] blocks (a FAT sector written
//! for every cluster of a growing file is written to the device once, not once a cluster)
//! and go to the device in runs of consecutive sectors, sorted; reads that miss the cache
//! fetch [`READ_AHEAD`] sectors at once. [`Blocks::write_back`] empties the cache; the
//! caller then flushes the device.

use crate::block::{BlockDevice, BlockError, Io, SECTOR};
use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use core::cell::RefCell;
use core::fmt;
use embedded_sdmmc::{Block, BlockCount, BlockIdx};

/// Dirty blocks kept before they are written (256 KiB).
pub const MAX_DIRTY: usize = 512;
/// Sectors read at once on a miss (64 KiB).
pub const READ_AHEAD: usize = 128;
/// The longest run handed to the device in one request (64 KiB).
const MAX_RUN: usize = 128;
/// MBR partition type of the made-up entry: FAT32 with LBA (the crate reads the BPB to
/// tell FAT16 from FAT32 whatever the type says).
const MBR_TYPE_FAT32_LBA: u8 = 0x0C;

/// A device error as the crate carries it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DevError(pub BlockError);

impl fmt::Display for DevError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl core::error::Error for DevError {}

struct Inner<'d> {
    dev: &'d mut dyn BlockDevice,
    sectors: u32,
    /// Written blocks not yet on the device, by partition sector.
    dirty: BTreeMap<u32, Block>,
    /// The last read-ahead: its first sector and its bytes.
    ahead: Option<(u32, Vec<u8>)>,
    /// Whether anything was written to the device (it wants a flush).
    wrote: bool,
}

/// The partition behind the made-up MBR.
pub struct Blocks<'d> {
    inner: RefCell<Inner<'d>>,
}

impl<'d> Blocks<'d> {
    /// Wraps `dev`; refused if it is larger than an MBR entry can describe (2 TiB).
    pub fn new(dev: &'d mut dyn BlockDevice) -> Result<Blocks<'d>, BlockError> {
        let sectors = u32::try_from(dev.sectors())
            .ok()
            .filter(|s| *s < u32::MAX)
            .ok_or(BlockError::OutOfRange)?;
        Ok(Blocks {
            inner: RefCell::new(Inner {
                dev,
                sectors,
                dirty: BTreeMap::new(),
                ahead: None,
                wrote: false,
            }),
        })
    }

    /// Writes every cached block to the device; whether anything was ever written (so the
    /// caller knows to flush).
    pub fn write_back(&self) -> Result<bool, BlockError> {
        let mut inner = self.inner.borrow_mut();
        inner.write_back()?;
        Ok(inner.wrote)
    }

    /// Flushes the device (after [`write_back`](Self::write_back)).
    pub fn flush(&self) -> Result<(), BlockError> {
        self.inner.borrow_mut().dev.flush()
    }
}

/// Block 0: a made-up MBR with one entry, the whole partition from block 1.
fn mbr(sectors: u32) -> Block {
    let mut b = Block::new();
    let e = &mut b.contents[446..462];
    e[4] = MBR_TYPE_FAT32_LBA;
    e[8..12].copy_from_slice(&1u32.to_le_bytes());
    e[12..16].copy_from_slice(&sectors.to_le_bytes());
    b.contents[510] = 0x55;
    b.contents[511] = 0xAA;
    b
}

impl Inner<'_> {
    fn read_one(&mut self, sector: u32, out: &mut Block) -> Result<(), BlockError> {
        if let Some(b) = self.dirty.get(&sector) {
            out.contents.copy_from_slice(&b.contents);
            return Ok(());
        }
        let hit = |ahead: &Option<(u32, Vec<u8>)>| match ahead {
            Some((first, data)) if sector >= *first => {
                let at = (sector - first) as usize * SECTOR;
                (at + SECTOR <= data.len()).then_some(at)
            }
            _ => None,
        };
        if hit(&self.ahead).is_none() {
            let n = (READ_AHEAD as u32).min(self.sectors - sector) as usize;
            let mut data = alloc::vec![0u8; n * SECTOR];
            self.dev.read(u64::from(sector), &mut data)?;
            self.ahead = Some((sector, data));
        }
        let at = hit(&self.ahead).ok_or(BlockError::Io)?;
        let data = &self.ahead.as_ref().ok_or(BlockError::Io)?.1;
        out.contents.copy_from_slice(&data[at..at + SECTOR]);
        Ok(())
    }

    fn write_one(&mut self, sector: u32, b: &Block) -> Result<(), BlockError> {
        if let Some((first, data)) = &mut self.ahead {
            if sector >= *first {
                let at = (sector - *first) as usize * SECTOR;
                if at + SECTOR <= data.len() {
                    data[at..at + SECTOR].copy_from_slice(&b.contents);
                }
            }
        }
        self.dirty.insert(sector, b.clone());
        if self.dirty.len() > MAX_DIRTY {
            self.write_back()?;
        }
        Ok(())
    }

    fn write_back(&mut self) -> Result<(), BlockError> {
        if self.dirty.is_empty() {
            return Ok(());
        }
        // Runs of consecutive sectors, each at most MAX_RUN long.
        let mut runs: Vec<(u32, Vec<u8>)> = Vec::new();
        for (&s, b) in &self.dirty {
            match runs.last_mut() {
                Some((first, data))
                    if *first + (data.len() / SECTOR) as u32 == s
                        && data.len() < MAX_RUN * SECTOR =>
                {
                    data.extend_from_slice(&b.contents)
                }
                _ => runs.push((s, b.contents.to_vec())),
            }
        }
        let mut ios: Vec<Io<'_>> = runs
            .iter()
            .map(|(s, data)| Io::Write {
                sector: u64::from(*s),
                buf: data,
            })
            .collect();
        self.wrote = true;
        let results = self.dev.transfer_many(&mut ios);
        if let Some(Err(e)) = results.into_iter().find(|r| r.is_err()) {
            return Err(e);
        }
        self.dirty.clear();
        Ok(())
    }
}

impl embedded_sdmmc::BlockDevice for Blocks<'_> {
    type Error = DevError;

    fn read(&self, blocks: &mut [Block], start: BlockIdx) -> Result<(), DevError> {
        let mut inner = self.inner.borrow_mut();
        for (i, b) in blocks.iter_mut().enumerate() {
            let idx = start
                .0
                .checked_add(i as u32)
                .ok_or(DevError(BlockError::OutOfRange))?;
            if idx == 0 {
                *b = mbr(inner.sectors);
                continue;
            }
            if idx > inner.sectors {
                return Err(DevError(BlockError::OutOfRange));
            }
            inner.read_one(idx - 1, b).map_err(DevError)?;
        }
        Ok(())
    }

    fn write(&self, blocks: &[Block], start: BlockIdx) -> Result<(), DevError> {
        let mut inner = self.inner.borrow_mut();
        if inner.dev.read_only() {
            return Err(DevError(BlockError::ReadOnly));
        }
        for (i, b) in blocks.iter().enumerate() {
            let idx = start
                .0
                .checked_add(i as u32)
                .ok_or(DevError(BlockError::OutOfRange))?;
            // The made-up MBR is not ours to change.
            if idx == 0 || idx > inner.sectors {
                return Err(DevError(BlockError::OutOfRange));
            }
            inner.write_one(idx - 1, b).map_err(DevError)?;
        }
        Ok(())
    }

    fn num_blocks(&self) -> Result<BlockCount, DevError> {
        Ok(BlockCount(self.inner.borrow().sectors + 1))
    }
}
