//! GUID Partition Tables (UEFI spec, chapter "GUID Partition Table (GPT) Disk Layout"):
//! dom0 reads the machine's disk's GPT to name its partitions as Linux does (`vda2`).
//!
//! The disk is anything: every field is checked before it is used, nothing panics and
//! nothing is allocated beyond [`MAX_PARTITIONS`] partitions; the entry array is read a
//! sector at a time, at most [`MAX_ENTRY_ARRAY_BYTES`] of it. [`read`]:
//! 1. sector 0 must hold a protective MBR (signature 0x55AA, an entry of type 0xEE), as
//!    Linux requires unless told otherwise;
//! 2. the primary header (LBA 1) and its entry array: signature, header size, header
//!    CRC32, MyLBA, usable range, entry size (128·2^n), the array's size and place, the
//!    array's CRC32, then each used entry inside the usable range and no two overlapping;
//! 3. if anything in 2 is wrong, the same for the backup header in the disk's last sector,
//!    and the result says why the primary was passed over.
//!
//! A partition's index is its entry's slot, from 1 (an unused slot leaves a gap, as in
//! Linux's names). CRC32 is `crc32fast` (no_std, the builder's crate too).

mod entries;
mod error;
mod guid;
mod header;
#[cfg(test)]
mod tests;

pub use error::{GptError, Invalid};
pub use guid::Guid;

use alloc::string::String;
use alloc::vec::Vec;

/// The logical block size read: 512 bytes (virtio-blk's unit).
pub const SECTOR: usize = 512;
/// The most used entries kept; a table with more is refused.
pub const MAX_PARTITIONS: usize = 128;
/// The largest entry array read (1024 entries of 128 bytes; the usual is 128 of them).
pub const MAX_ENTRY_ARRAY_BYTES: u64 = 128 * 1024;

/// A disk read one 512-byte sector at a time.
pub trait BlockRead {
    type Error;
    /// The disk's size in sectors.
    fn sector_count(&self) -> u64;
    /// Reads sector `lba` (`< sector_count()`) into `buf`.
    fn read_sector(&mut self, lba: u64, buf: &mut [u8; SECTOR]) -> Result<(), Self::Error>;
}

/// One used partition entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Partition {
    /// Its slot in the entry array, from 1: the `N` of `vdaN`.
    pub index: u32,
    pub type_guid: Guid,
    pub unique_guid: Guid,
    /// The first and last sector, inclusive.
    pub first_lba: u64,
    pub last_lba: u64,
    pub attributes: u64,
    /// The name, decoded from UTF-16LE (unpaired surrogates as U+FFFD).
    pub name: String,
}

impl Partition {
    /// Its length in sectors.
    pub fn sectors(&self) -> u64 {
        self.last_lba - self.first_lba + 1
    }

    /// Where it starts, in bytes from the start of the disk.
    pub fn byte_offset(&self) -> u64 {
        self.first_lba * SECTOR as u64
    }
}

/// Which header the table came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The primary header at LBA 1.
    Primary,
    /// The backup header in the last sector; the primary was not valid for the reason
    /// given.
    Backup { primary: Invalid },
}

/// A disk's partition table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gpt {
    pub disk_guid: Guid,
    pub source: Source,
    /// The usable sectors, inclusive.
    pub first_usable: u64,
    pub last_usable: u64,
    /// The used entries in slot order.
    pub partitions: Vec<Partition>,
}

impl Gpt {
    /// The partition in slot `index` (from 1), if that slot is used.
    pub fn partition(&self, index: u32) -> Option<&Partition> {
        self.partitions.iter().find(|p| p.index == index)
    }
}

/// The GPT of `disk` (see the module's documentation for what is checked).
pub fn read<D: BlockRead>(disk: &mut D) -> Result<Gpt, GptError<D::Error>> {
    let sectors = disk.sector_count();
    if sectors < 3 {
        return Err(GptError::DiskTooSmall { sectors });
    }
    let mut buf = [0u8; SECTOR];
    read_at(disk, 0, &mut buf)?;
    if !is_protective_mbr(&buf) {
        return Err(GptError::NoProtectiveMbr);
    }
    let primary = match table_at(disk, 1, sectors)? {
        Ok(gpt) => return Ok(gpt),
        Err(why) => why,
    };
    let backup_lba = sectors - 1;
    match table_at(disk, backup_lba, sectors)? {
        Ok(gpt) => Ok(Gpt {
            source: Source::Backup { primary },
            ..gpt
        }),
        Err(backup) => Err(GptError::NoValidHeader {
            backup_lba,
            primary,
            backup,
        }),
    }
}

/// The name Linux gives partition `index` of disk `disk`: `vda` → `vda2`, and with a `p`
/// when the disk's name ends in a digit: `nvme0n1` → `nvme0n1p2`.
pub fn partition_device_name(disk: &str, index: u32) -> String {
    if disk.ends_with(|c: char| c.is_ascii_digit()) {
        alloc::format!("{disk}p{index}")
    } else {
        alloc::format!("{disk}{index}")
    }
}

fn read_at<D: BlockRead>(
    disk: &mut D,
    lba: u64,
    buf: &mut [u8; SECTOR],
) -> Result<(), GptError<D::Error>> {
    disk.read_sector(lba, buf)
        .map_err(|error| GptError::Io { lba, error })
}

/// 0x55AA at byte 510 and one of the four entries of type 0xEE (GPT protective; a hybrid
/// MBR has others beside it).
fn is_protective_mbr(sector: &[u8; SECTOR]) -> bool {
    sector[510..512] == [0x55, 0xAA] && (0..4).any(|i| sector[446 + 16 * i + 4] == 0xEE)
}

/// The table of the header at `lba`: the outer error is the device's, the inner why the
/// header or its entries are not valid.
fn table_at<D: BlockRead>(
    disk: &mut D,
    lba: u64,
    sectors: u64,
) -> Result<Result<Gpt, Invalid>, GptError<D::Error>> {
    let mut buf = [0u8; SECTOR];
    read_at(disk, lba, &mut buf)?;
    let h = match header::Header::parse(&buf, lba, sectors) {
        Ok(h) => h,
        Err(why) => return Ok(Err(why)),
    };
    match entries::read(disk, &h) {
        Ok(partitions) => Ok(Ok(Gpt {
            disk_guid: h.disk_guid,
            source: Source::Primary,
            first_usable: h.first_usable,
            last_usable: h.last_usable,
            partitions,
        })),
        Err(entries::Fail::Invalid(why)) => Ok(Err(why)),
        Err(entries::Fail::Io { lba, error }) => Err(GptError::Io { lba, error }),
    }
}
