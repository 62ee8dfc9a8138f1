//! The partition entry array (UEFI spec, "GPT Partition Entry Array"), read one sector at
//! a time: its CRC32 is taken over the whole array while only the used entries are kept
//! (at most [`MAX_PARTITIONS`]), then each is checked against the usable range and the
//! others.
//!
//! | offset | field |
//! | --- | --- |
//! | 0 | PartitionTypeGUID (zero: the entry is unused) |
//! | 16 | UniquePartitionGUID |
//! | 32, 40 | StartingLBA, EndingLBA (u64, inclusive) |
//! | 48 | Attributes (u64) |
//! | 56 | PartitionName (36 UTF-16LE code units, NUL-padded) |

use super::header::{guid_at, u64_at, Header, MIN_ENTRY_SIZE};
use super::{BlockRead, Invalid, Partition, MAX_PARTITIONS, SECTOR};
use alloc::string::String;
use alloc::vec::Vec;

/// UTF-16 code units in a partition name.
const NAME_UNITS: usize = 36;

/// Why the array was not read: the device failed, or the array is not acceptable.
pub(super) enum Fail<E> {
    Io { lba: u64, error: E },
    Invalid(Invalid),
}

/// The used entries of the array `h` describes, checked.
pub(super) fn read<D: BlockRead>(
    disk: &mut D,
    h: &Header,
) -> Result<Vec<Partition>, Fail<D::Error>> {
    let total = h.array_bytes();
    let size = u64::from(h.entry_size);
    let mut crc = crc32fast::Hasher::new();
    let mut parts: Vec<Partition> = Vec::new();
    let mut too_many = false;
    let mut buf = [0u8; SECTOR];
    for s in 0..h.array_sectors() {
        let lba = h.entry_lba + s;
        disk.read_sector(lba, &mut buf)
            .map_err(|error| Fail::Io { lba, error })?;
        let start = s * SECTOR as u64;
        let end = (start + SECTOR as u64).min(total);
        crc.update(&buf[..(end - start) as usize]);
        // Entries are 128·2^n bytes: each one's 128 defined bytes lie in the sector it
        // starts in.
        let mut index = start.div_ceil(size);
        while index * size < end {
            let at = (index * size - start) as usize;
            let entry = &buf[at..at + MIN_ENTRY_SIZE as usize];
            if let Some(p) = parse_entry(entry, index as u32 + 1) {
                if parts.len() == MAX_PARTITIONS {
                    too_many = true;
                } else {
                    parts.push(p);
                }
            }
            index += 1;
        }
    }
    let computed = crc.finalize();
    if computed != h.entries_crc {
        return Err(Fail::Invalid(Invalid::EntriesCrc {
            stored: h.entries_crc,
            computed,
        }));
    }
    if too_many {
        return Err(Fail::Invalid(Invalid::TooManyPartitions));
    }
    check(&parts, h).map_err(Fail::Invalid)?;
    Ok(parts)
}

/// The partition in a 128-byte entry, `None` if the entry is unused.
fn parse_entry(e: &[u8], index: u32) -> Option<Partition> {
    let type_guid = guid_at(e, 0);
    if type_guid.is_zero() {
        return None;
    }
    Some(Partition {
        index,
        type_guid,
        unique_guid: guid_at(e, 16),
        first_lba: u64_at(e, 32),
        last_lba: u64_at(e, 40),
        attributes: u64_at(e, 48),
        name: decode_name(&e[56..56 + 2 * NAME_UNITS]),
    })
}

/// A UTF-16LE name up to its first NUL; unpaired surrogates become U+FFFD.
fn decode_name(raw: &[u8]) -> String {
    let units = raw
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .take_while(|&u| u != 0);
    char::decode_utf16(units)
        .map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER))
        .collect()
}

/// Every partition inside the usable range, none reversed, no two sharing a sector.
fn check(parts: &[Partition], h: &Header) -> Result<(), Invalid> {
    for (i, p) in parts.iter().enumerate() {
        if p.first_lba > p.last_lba || p.first_lba < h.first_usable || p.last_lba > h.last_usable {
            return Err(Invalid::BadPartition {
                index: p.index,
                first: p.first_lba,
                last: p.last_lba,
            });
        }
        if let Some(o) = parts[..i]
            .iter()
            .find(|o| o.first_lba <= p.last_lba && p.first_lba <= o.last_lba)
        {
            return Err(Invalid::Overlap {
                index: p.index,
                other: o.index,
            });
        }
    }
    Ok(())
}
