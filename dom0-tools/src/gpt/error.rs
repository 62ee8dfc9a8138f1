//! Why a disk's GPT was not accepted.

use core::fmt;

/// What is wrong with one GPT header or the entry array it describes. Each names the
/// values that were wrong, so a message says what to look at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Invalid {
    /// The sector does not start with `EFI PART`.
    BadSignature,
    /// HeaderSize is below the 92 bytes of the defined fields or over the sector.
    BadHeaderSize { size: u32 },
    /// The header's CRC32 does not match its contents.
    HeaderCrc { stored: u32, computed: u32 },
    /// MyLBA names another sector than the one the header was read from.
    WrongLba { found: u64 },
    /// The usable range is reversed, covers LBA 0/1 or the last sector, or runs past the
    /// disk.
    BadUsableRange { first: u64, last: u64 },
    /// SizeOfPartitionEntry is not 128 times a power of two.
    BadEntrySize { size: u32 },
    /// The entry array is larger than [`super::MAX_ENTRY_ARRAY_BYTES`].
    EntryArrayTooLarge { entries: u32, entry_size: u32 },
    /// The entry array is not between LBA 1 and the last sector (the two headers' places)
    /// or overlaps the usable range.
    EntryArrayOutOfPlace { lba: u64, sectors: u64 },
    /// The entry array's CRC32 does not match its contents.
    EntriesCrc { stored: u32, computed: u32 },
    /// A used entry's range is reversed or leaves the usable range.
    BadPartition { index: u32, first: u64, last: u64 },
    /// Two used entries share sectors.
    Overlap { index: u32, other: u32 },
    /// More used entries than [`super::MAX_PARTITIONS`].
    TooManyPartitions,
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::BadSignature => f.write_str("no \"EFI PART\" signature"),
            Self::BadHeaderSize { size } => {
                write!(f, "header size {size} is not within 92..=512 bytes")
            }
            Self::HeaderCrc { stored, computed } => write!(
                f,
                "header CRC32 {stored:#010x} does not match its contents ({computed:#010x})"
            ),
            Self::WrongLba { found } => write!(f, "the header says it lies at LBA {found}"),
            Self::BadUsableRange { first, last } => write!(
                f,
                "usable LBAs {first}..={last} are reversed or not inside the disk"
            ),
            Self::BadEntrySize { size } => write!(
                f,
                "partition entry size {size} is not 128 times a power of two"
            ),
            Self::EntryArrayTooLarge {
                entries,
                entry_size,
            } => write!(
                f,
                "{entries} partition entries of {entry_size} bytes exceed the {} byte limit",
                super::MAX_ENTRY_ARRAY_BYTES
            ),
            Self::EntryArrayOutOfPlace { lba, sectors } => write!(
                f,
                "the partition entries at LBA {lba} ({sectors} sectors) are not between \
                 the two headers or overlap the usable LBAs"
            ),
            Self::EntriesCrc { stored, computed } => write!(
                f,
                "partition entries CRC32 {stored:#010x} does not match their contents \
                 ({computed:#010x})"
            ),
            Self::BadPartition { index, first, last } => write!(
                f,
                "partition {index} (LBAs {first}..={last}) is reversed or outside the \
                 usable LBAs"
            ),
            Self::Overlap { index, other } => {
                write!(f, "partitions {other} and {index} overlap")
            }
            Self::TooManyPartitions => write!(
                f,
                "more than {} partitions are in use",
                super::MAX_PARTITIONS
            ),
        }
    }
}

/// Why [`super::read`] found no partition table; `E` is the block reader's error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GptError<E> {
    /// Reading sector `lba` failed.
    Io { lba: u64, error: E },
    /// The disk has fewer sectors than a GPT needs (3: MBR, header, backup header).
    DiskTooSmall { sectors: u64 },
    /// Sector 0 holds no protective MBR (no 0x55AA signature or no type-0xEE entry): not a
    /// GPT disk, as Linux decides it.
    NoProtectiveMbr,
    /// Neither header (with its entries) is valid.
    NoValidHeader {
        /// The backup header's LBA (the disk's last sector).
        backup_lba: u64,
        primary: Invalid,
        backup: Invalid,
    },
}

impl<E: fmt::Display> fmt::Display for GptError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io { lba, error } => write!(f, "GPT: reading LBA {lba}: {error}"),
            Self::DiskTooSmall { sectors } => {
                write!(f, "GPT: a disk of {sectors} sectors is too small for one")
            }
            Self::NoProtectiveMbr => {
                f.write_str("GPT: no protective MBR in sector 0 (not a GPT disk)")
            }
            Self::NoValidHeader {
                backup_lba,
                primary,
                backup,
            } => write!(
                f,
                "GPT: no valid partition table: primary header (LBA 1): {primary}; \
                 backup header (LBA {backup_lba}): {backup}"
            ),
        }
    }
}
