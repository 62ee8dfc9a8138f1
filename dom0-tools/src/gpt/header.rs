//! One GPT header (UEFI spec, "GPT Header"): its fields and every check made before its
//! entry array is read.
//!
//! | offset | field |
//! | --- | --- |
//! | 0 | signature `EFI PART` |
//! | 8 | revision (u32) |
//! | 12 | HeaderSize (u32, ≥ 92) |
//! | 16 | HeaderCRC32 (u32, over HeaderSize bytes with this field zero) |
//! | 20 | reserved (u32) |
//! | 24, 32 | MyLBA, AlternateLBA (u64) |
//! | 40, 48 | FirstUsableLBA, LastUsableLBA (u64) |
//! | 56 | DiskGUID (16 bytes) |
//! | 72 | PartitionEntryLBA (u64) |
//! | 80, 84 | NumberOfPartitionEntries, SizeOfPartitionEntry (u32) |
//! | 88 | PartitionEntryArrayCRC32 (u32) |

use super::{Guid, Invalid, MAX_ENTRY_ARRAY_BYTES, SECTOR};

/// The signature at the start of a header.
pub const SIGNATURE: &[u8; 8] = b"EFI PART";
/// The bytes of the defined fields (the smallest valid HeaderSize).
pub const MIN_HEADER_SIZE: u32 = 92;
/// The defined fields of an entry (the smallest valid SizeOfPartitionEntry).
pub const MIN_ENTRY_SIZE: u32 = 128;

/// A header that passed [`Header::parse`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub my_lba: u64,
    pub alternate_lba: u64,
    pub first_usable: u64,
    pub last_usable: u64,
    pub disk_guid: Guid,
    pub entry_lba: u64,
    pub entries: u32,
    pub entry_size: u32,
    pub entries_crc: u32,
}

pub(super) fn u32_at(b: &[u8], at: usize) -> u32 {
    let mut w = [0; 4];
    w.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(w)
}

pub(super) fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut w = [0; 8];
    w.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(w)
}

pub(super) fn guid_at(b: &[u8], at: usize) -> Guid {
    let mut g = [0; 16];
    g.copy_from_slice(&b[at..at + 16]);
    Guid(g)
}

/// CRC32 (IEEE, as UEFI uses) of `data`.
pub(super) fn crc32(data: &[u8]) -> u32 {
    crc32fast::hash(data)
}

impl Header {
    /// The header in `sector`, read from `lba` of a disk of `sectors` sectors: signature,
    /// size, CRC, its own LBA, the usable range, the entry size and the entry array's
    /// size and place, all checked.
    pub fn parse(sector: &[u8; SECTOR], lba: u64, sectors: u64) -> Result<Header, Invalid> {
        if &sector[..8] != SIGNATURE {
            return Err(Invalid::BadSignature);
        }
        let size = u32_at(sector, 12);
        if !(MIN_HEADER_SIZE..=SECTOR as u32).contains(&size) {
            return Err(Invalid::BadHeaderSize { size });
        }
        let stored = u32_at(sector, 16);
        let mut copy = [0u8; SECTOR];
        copy.copy_from_slice(sector);
        copy[16..20].fill(0);
        let computed = crc32(&copy[..size as usize]);
        if stored != computed {
            return Err(Invalid::HeaderCrc { stored, computed });
        }
        let h = Header {
            my_lba: u64_at(sector, 24),
            alternate_lba: u64_at(sector, 32),
            first_usable: u64_at(sector, 40),
            last_usable: u64_at(sector, 48),
            disk_guid: guid_at(sector, 56),
            entry_lba: u64_at(sector, 72),
            entries: u32_at(sector, 80),
            entry_size: u32_at(sector, 84),
            entries_crc: u32_at(sector, 88),
        };
        if h.my_lba != lba {
            return Err(Invalid::WrongLba { found: h.my_lba });
        }
        // LBA 0 (MBR), 1 (primary header) and the last sector (backup header) are never usable.
        let (first, last) = (h.first_usable, h.last_usable);
        if first < 2 || first > last || last > sectors.saturating_sub(2) {
            return Err(Invalid::BadUsableRange { first, last });
        }
        if h.entry_size < MIN_ENTRY_SIZE || !h.entry_size.is_power_of_two() {
            return Err(Invalid::BadEntrySize { size: h.entry_size });
        }
        let bytes = u64::from(h.entries) * u64::from(h.entry_size);
        if bytes > MAX_ENTRY_ARRAY_BYTES {
            return Err(Invalid::EntryArrayTooLarge {
                entries: h.entries,
                entry_size: h.entry_size,
            });
        }
        let array_sectors = h.array_sectors();
        let out_of_place = Invalid::EntryArrayOutOfPlace {
            lba: h.entry_lba,
            sectors: array_sectors,
        };
        // [entry_lba, end) must lie between the primary header (LBA 1) and the backup's
        // (the last sector), clear of the usable range.
        let end = h.entry_lba.checked_add(array_sectors).ok_or(out_of_place)?;
        if h.entry_lba < 2 || end > sectors - 1 || (h.entry_lba <= last && first < end) {
            return Err(out_of_place);
        }
        Ok(h)
    }

    /// The entry array's length in bytes (bounded by [`MAX_ENTRY_ARRAY_BYTES`] once parsed).
    pub fn array_bytes(&self) -> u64 {
        u64::from(self.entries) * u64::from(self.entry_size)
    }

    /// The sectors the entry array spans.
    pub fn array_sectors(&self) -> u64 {
        self.array_bytes().div_ceil(SECTOR as u64)
    }
}
