//! GPT parsing against disks built here byte by byte (the layout of the UEFI spec), then
//! damaged in the ways a hostile or broken disk can be.

use super::*;
use alloc::vec;

/// A disk in memory; reads past its end fail. Counts reads.
struct MemDisk {
    data: Vec<u8>,
    reads: usize,
    /// A sector whose read fails.
    bad: Option<u64>,
}

#[derive(Debug, PartialEq, Eq)]
struct ReadError(u64);

impl core::fmt::Display for ReadError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "read error at {}", self.0)
    }
}

impl BlockRead for MemDisk {
    type Error = ReadError;
    fn sector_count(&self) -> u64 {
        (self.data.len() / SECTOR) as u64
    }
    fn read_sector(&mut self, lba: u64, buf: &mut [u8; SECTOR]) -> Result<(), ReadError> {
        self.reads += 1;
        let at = usize::try_from(lba).map_err(|_| ReadError(lba))? * SECTOR;
        if self.bad == Some(lba) || at + SECTOR > self.data.len() {
            return Err(ReadError(lba));
        }
        buf.copy_from_slice(&self.data[at..at + SECTOR]);
        Ok(())
    }
}

const DISK_GUID: Guid = Guid::from_fields(0x1234_5678, 0x9ABC, 0xDEF0, [1, 2, 3, 4, 5, 6, 7, 8]);
const BASIC_DATA: Guid = Guid::from_fields(
    0xEBD0_A0A2,
    0xB9E5,
    0x4433,
    [0x87, 0xC0, 0x68, 0xB6, 0xB7, 0x26, 0x99, 0xC7],
);

/// One entry to write: slot (from 1), range, name, type.
struct Spec<'a> {
    slot: u32,
    first: u64,
    last: u64,
    name: &'a str,
    kind: Guid,
}

fn spec(slot: u32, first: u64, last: u64, name: &str) -> Spec<'_> {
    Spec {
        slot,
        first,
        last,
        name,
        kind: Guid::LINUX_FS_DATA,
    }
}

/// Geometry of a test disk.
#[derive(Clone, Copy)]
struct Layout {
    sectors: u64,
    entries: u32,
    entry_size: u32,
}

impl Layout {
    fn array_sectors(&self) -> u64 {
        (u64::from(self.entries) * u64::from(self.entry_size)).div_ceil(SECTOR as u64)
    }
    fn first_usable(&self) -> u64 {
        2 + self.array_sectors()
    }
    fn last_usable(&self) -> u64 {
        self.sectors - 2 - self.array_sectors()
    }
    fn backup_array(&self) -> u64 {
        self.sectors - 1 - self.array_sectors()
    }
}

const STD: Layout = Layout {
    sectors: 4096,
    entries: 128,
    entry_size: 128,
};

fn put(d: &mut [u8], at: usize, bytes: &[u8]) {
    d[at..at + bytes.len()].copy_from_slice(bytes);
}

fn unique(slot: u32) -> Guid {
    Guid::from_fields(0xA000_0000 + slot, 0x1111, 0x2222, [slot as u8; 8])
}

/// The entry array's bytes.
fn entry_array(l: Layout, parts: &[Spec]) -> Vec<u8> {
    let size = l.entry_size as usize;
    let mut a = vec![0u8; l.entries as usize * size];
    for p in parts {
        let at = (p.slot as usize - 1) * size;
        put(&mut a, at, &p.kind.0);
        put(&mut a, at + 16, &unique(p.slot).0);
        put(&mut a, at + 32, &p.first.to_le_bytes());
        put(&mut a, at + 40, &p.last.to_le_bytes());
        put(&mut a, at + 48, &(u64::from(p.slot) << 60).to_le_bytes());
        for (i, u) in p.name.encode_utf16().take(36).enumerate() {
            put(&mut a, at + 56 + 2 * i, &u.to_le_bytes());
        }
    }
    a
}

/// A header for `my_lba` with its array at `array_lba`, CRCs computed.
fn header(l: Layout, my_lba: u64, alt: u64, array_lba: u64, array: &[u8]) -> [u8; SECTOR] {
    let mut h = [0u8; SECTOR];
    put(&mut h, 0, b"EFI PART");
    put(&mut h, 8, &0x0001_0000u32.to_le_bytes());
    put(&mut h, 12, &92u32.to_le_bytes());
    put(&mut h, 24, &my_lba.to_le_bytes());
    put(&mut h, 32, &alt.to_le_bytes());
    put(&mut h, 40, &l.first_usable().to_le_bytes());
    put(&mut h, 48, &l.last_usable().to_le_bytes());
    put(&mut h, 56, &DISK_GUID.0);
    put(&mut h, 72, &array_lba.to_le_bytes());
    put(&mut h, 80, &l.entries.to_le_bytes());
    put(&mut h, 84, &l.entry_size.to_le_bytes());
    put(&mut h, 88, &crc32fast::hash(array).to_le_bytes());
    reseal(&mut h);
    h
}

/// Recomputes a header's CRC32 after a field was changed.
fn reseal(h: &mut [u8]) {
    let size = u32::from_le_bytes(h[12..16].try_into().unwrap()) as usize;
    h[16..20].fill(0);
    let crc = crc32fast::hash(&h[..size.min(SECTOR)]);
    put(h, 16, &crc.to_le_bytes());
}

/// A whole disk: protective MBR, both headers and arrays.
fn disk(l: Layout, parts: &[Spec]) -> MemDisk {
    let mut d = vec![0u8; l.sectors as usize * SECTOR];
    // Protective MBR: one entry of type 0xEE from LBA 1 over the disk.
    d[446 + 4] = 0xEE;
    put(&mut d, 446 + 8, &1u32.to_le_bytes());
    put(&mut d, 446 + 12, &((l.sectors - 1) as u32).to_le_bytes());
    put(&mut d, 510, &[0x55, 0xAA]);
    let array = entry_array(l, parts);
    let last = l.sectors - 1;
    put(&mut d, SECTOR, &header(l, 1, last, 2, &array));
    put(&mut d, 2 * SECTOR, &array);
    let b = l.backup_array();
    put(&mut d, b as usize * SECTOR, &array);
    put(
        &mut d,
        last as usize * SECTOR,
        &header(l, last, 1, b, &array),
    );
    MemDisk {
        data: d,
        reads: 0,
        bad: None,
    }
}

fn three_parts() -> Vec<Spec<'static>> {
    vec![
        spec(1, 34, 1057, "pvtest"),
        spec(2, 1058, 3000, "linux-root"),
        Spec {
            kind: BASIC_DATA,
            ..spec(4, 3001, 4061, "spare")
        },
    ]
}

/// The header sector of `lba`, to change a field in it.
fn sector_mut(d: &mut MemDisk, lba: u64) -> &mut [u8] {
    let at = lba as usize * SECTOR;
    &mut d.data[at..at + SECTOR]
}

fn invalid_both(d: &mut MemDisk) -> (Invalid, Invalid) {
    match read(d) {
        Err(GptError::NoValidHeader {
            primary, backup, ..
        }) => (primary, backup),
        other => panic!("want NoValidHeader, got {other:?}"),
    }
}

/// Changes a field of both headers (and reseals them).
fn both_headers(d: &mut MemDisk, f: impl Fn(&mut [u8])) {
    let last = d.sector_count() - 1;
    for lba in [1, last] {
        let h = sector_mut(d, lba);
        f(h);
        reseal(h);
    }
}

#[test]
fn a_disk_with_three_partitions() {
    let mut d = disk(STD, &three_parts());
    let gpt = read(&mut d).expect("valid");
    assert_eq!(gpt.source, Source::Primary);
    assert_eq!(gpt.disk_guid, DISK_GUID);
    assert_eq!((gpt.first_usable, gpt.last_usable), (34, 4062));
    let got: Vec<(u32, u64, u64, &str)> = gpt
        .partitions
        .iter()
        .map(|p| (p.index, p.first_lba, p.last_lba, p.name.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            (1, 34, 1057, "pvtest"),
            (2, 1058, 3000, "linux-root"),
            (4, 3001, 4061, "spare"),
        ]
    );
    let p2 = gpt.partition(2).unwrap();
    assert_eq!(p2.type_guid, Guid::LINUX_FS_DATA);
    assert_eq!(p2.unique_guid, unique(2));
    assert_eq!(p2.attributes, 2 << 60);
    assert_eq!(p2.sectors(), 1943);
    assert_eq!(p2.byte_offset(), 1058 * 512);
    assert_eq!(gpt.partition(4).unwrap().type_guid, BASIC_DATA);
    assert!(gpt.partition(3).is_none(), "slot 3 is unused");
    // MBR, header and its 32 array sectors: the backup is not read when the primary is good.
    assert_eq!(d.reads, 34);
}

#[test]
fn guids_print_in_the_canonical_form() {
    extern crate std;
    use std::string::ToString;
    assert_eq!(
        Guid::LINUX_FS_DATA.to_string(),
        "0FC63DAF-8483-4772-8E79-3D69D8477DE4"
    );
    // On disk the first three fields are little-endian.
    assert_eq!(
        Guid::LINUX_FS_DATA.0[..4],
        [0xAF, 0x3D, 0xC6, 0x0F],
        "first field little-endian"
    );
    assert_eq!(Guid::LINUX_FS_DATA.0[8..10], [0x8E, 0x79]);
    assert_eq!(
        DISK_GUID.to_string(),
        "12345678-9ABC-DEF0-0102-030405060708"
    );
}

#[test]
fn a_corrupt_primary_header_falls_back_to_the_backup() {
    let mut d = disk(STD, &three_parts());
    sector_mut(&mut d, 1)[60] ^= 1; // in the disk GUID: the CRC no longer matches
    let gpt = read(&mut d).expect("the backup");
    match gpt.source {
        Source::Backup {
            primary: Invalid::HeaderCrc { stored, computed },
        } => assert_ne!(stored, computed),
        s => panic!("want the backup after a header CRC error, got {s:?}"),
    }
    assert_eq!(gpt.partitions.len(), 3);
    assert_eq!(gpt.partition(2).unwrap().name, "linux-root");
}

#[test]
fn a_corrupt_primary_entry_array_falls_back_to_the_backup() {
    let mut d = disk(STD, &three_parts());
    d.data[2 * SECTOR + 128 + 32] ^= 0x40; // partition 2's first LBA
    let gpt = read(&mut d).expect("the backup");
    assert!(
        matches!(
            gpt.source,
            Source::Backup {
                primary: Invalid::EntriesCrc { .. }
            }
        ),
        "{:?}",
        gpt.source
    );
    assert_eq!(
        gpt.partition(2).unwrap().first_lba,
        1058,
        "the backup's copy"
    );
}

#[test]
fn a_missing_primary_header_falls_back_to_the_backup() {
    let mut d = disk(STD, &three_parts());
    sector_mut(&mut d, 1).fill(0);
    let gpt = read(&mut d).expect("the backup");
    assert_eq!(
        gpt.source,
        Source::Backup {
            primary: Invalid::BadSignature
        }
    );
}

#[test]
fn both_headers_corrupt_is_an_error_naming_both() {
    let mut d = disk(STD, &three_parts());
    sector_mut(&mut d, 1)[60] ^= 1;
    sector_mut(&mut d, 4095).fill(0);
    let err = read(&mut d).unwrap_err();
    let (p, b) = match &err {
        GptError::NoValidHeader {
            backup_lba: 4095,
            primary,
            backup,
        } => (*primary, *backup),
        e => panic!("{e:?}"),
    };
    assert!(matches!(p, Invalid::HeaderCrc { .. }), "{p:?}");
    assert_eq!(b, Invalid::BadSignature);
    let msg = alloc::format!("{err}");
    assert!(
        msg.starts_with("GPT: no valid partition table: primary header (LBA 1): header CRC32 0x"),
        "{msg}"
    );
    assert!(
        msg.ends_with("backup header (LBA 4095): no \"EFI PART\" signature"),
        "{msg}"
    );
}

#[test]
fn partitions_outside_the_usable_range_are_refused() {
    for (first, last) in [(34, 4063), (33, 100), (2, 10), (200, 100), (4094, 4095)] {
        let mut parts = three_parts();
        parts[1] = spec(2, first, last, "bad");
        parts.truncate(2);
        if first <= 1057 {
            parts.remove(0);
        }
        let mut d = disk(STD, &parts);
        let (p, b) = invalid_both(&mut d);
        let want = Invalid::BadPartition {
            index: 2,
            first,
            last,
        };
        assert_eq!((p, b), (want, want), "LBAs {first}..={last}");
    }
}

#[test]
fn overlapping_partitions_are_refused() {
    let mut d = disk(
        STD,
        &[
            spec(1, 34, 1000, "a"),
            spec(3, 2000, 3000, "b"),
            spec(5, 1000, 1999, "c"),
        ],
    );
    let (p, _) = invalid_both(&mut d);
    assert_eq!(p, Invalid::Overlap { index: 5, other: 1 });
    // Touching is not overlapping.
    let mut d = disk(
        STD,
        &[
            spec(1, 34, 999, "a"),
            spec(3, 2000, 3000, "b"),
            spec(5, 1000, 1999, "c"),
        ],
    );
    assert_eq!(read(&mut d).unwrap().partitions.len(), 3);
}

#[test]
fn hostile_header_fields_are_refused_before_anything_is_read() {
    type Case = (&'static str, fn(&mut [u8]), Invalid);
    let cases: [Case; 10] = [
        (
            "header size",
            |h| put(h, 12, &600u32.to_le_bytes()),
            Invalid::BadHeaderSize { size: 600 },
        ),
        (
            "header size too small",
            |h| put(h, 12, &91u32.to_le_bytes()),
            Invalid::BadHeaderSize { size: 91 },
        ),
        (
            "entry size",
            |h| put(h, 84, &100u32.to_le_bytes()),
            Invalid::BadEntrySize { size: 100 },
        ),
        (
            "entry size 0",
            |h| put(h, 84, &0u32.to_le_bytes()),
            Invalid::BadEntrySize { size: 0 },
        ),
        (
            "entry count",
            |h| put(h, 80, &u32::MAX.to_le_bytes()),
            Invalid::EntryArrayTooLarge {
                entries: u32::MAX,
                entry_size: 128,
            },
        ),
        (
            "entry size huge",
            |h| put(h, 84, &(1u32 << 31).to_le_bytes()),
            Invalid::EntryArrayTooLarge {
                entries: 128,
                entry_size: 1 << 31,
            },
        ),
        (
            "usable range reversed",
            |h| put(h, 40, &5000u64.to_le_bytes()),
            Invalid::BadUsableRange {
                first: 5000,
                last: 4062,
            },
        ),
        (
            "usable range past the disk",
            |h| put(h, 48, &u64::MAX.to_le_bytes()),
            Invalid::BadUsableRange {
                first: 34,
                last: u64::MAX,
            },
        ),
        (
            "usable range over the primary header",
            |h| put(h, 40, &1u64.to_le_bytes()),
            Invalid::BadUsableRange {
                first: 1,
                last: 4062,
            },
        ),
        (
            "array at LBA 0",
            |h| put(h, 72, &0u64.to_le_bytes()),
            Invalid::EntryArrayOutOfPlace {
                lba: 0,
                sectors: 32,
            },
        ),
    ];
    for (what, change, want) in cases {
        let mut d = disk(STD, &three_parts());
        both_headers(&mut d, change);
        let (p, b) = invalid_both(&mut d);
        assert_eq!(p, want, "{what} (primary)");
        assert_eq!(b, want, "{what} (backup)");
        assert_eq!(d.reads, 3, "{what}: MBR and two headers, no entries");
    }
}

#[test]
fn the_entry_array_must_lie_inside_the_disk_clear_of_headers_and_data() {
    for lba in [
        1,        // over the primary header
        20,       // into the usable range
        1000,     // inside the usable range
        4064,     // over the backup header
        4090,     // past the end
        u64::MAX, // wraps
        u64::MAX - 10,
    ] {
        let mut d = disk(STD, &three_parts());
        both_headers(&mut d, |h| put(h, 72, &lba.to_le_bytes()));
        let (p, b) = invalid_both(&mut d);
        let want = Invalid::EntryArrayOutOfPlace { lba, sectors: 32 };
        assert_eq!((p, b), (want, want), "array at {lba}");
    }
}

#[test]
fn a_header_at_the_wrong_lba_is_refused() {
    let mut d = disk(STD, &three_parts());
    both_headers(&mut d, |h| put(h, 24, &7u64.to_le_bytes()));
    assert_eq!(
        invalid_both(&mut d),
        (
            Invalid::WrongLba { found: 7 },
            Invalid::WrongLba { found: 7 }
        )
    );
}

#[test]
fn no_protective_mbr_no_gpt() {
    let mut d = disk(STD, &three_parts());
    d.data[446 + 4] = 0x83; // a Linux MBR partition instead of 0xEE
    assert_eq!(read(&mut d), Err(GptError::NoProtectiveMbr));
    let mut d = disk(STD, &three_parts());
    d.data[511] = 0;
    assert_eq!(read(&mut d), Err(GptError::NoProtectiveMbr));
    // A hybrid MBR: 0xEE in the second entry.
    let mut d = disk(STD, &three_parts());
    d.data[446 + 4] = 0x83;
    d.data[446 + 16 + 4] = 0xEE;
    assert!(read(&mut d).is_ok());
}

#[test]
fn tiny_disks_and_read_errors() {
    let mut d = MemDisk {
        data: vec![0; 2 * SECTOR],
        reads: 0,
        bad: None,
    };
    assert_eq!(read(&mut d), Err(GptError::DiskTooSmall { sectors: 2 }));
    assert_eq!(d.reads, 0);
    let mut d = disk(STD, &three_parts());
    d.bad = Some(5);
    assert_eq!(
        read(&mut d),
        Err(GptError::Io {
            lba: 5,
            error: ReadError(5)
        })
    );
    let msg = alloc::format!("{}", read(&mut d).unwrap_err());
    assert_eq!(msg, "GPT: reading LBA 5: read error at 5");
}

#[test]
fn names_are_utf16_up_to_the_first_nul() {
    let long = "abcdefghijklmnopqrstuvwxyz0123456789"; // 36 units, no NUL
    let mut d = disk(
        STD,
        &[
            spec(1, 100, 199, "räksmörgås"),
            spec(2, 200, 299, long),
            spec(3, 300, 399, "😀 root"),
            spec(4, 400, 499, ""),
        ],
    );
    // Slot 5: an unpaired high surrogate, then "x".
    {
        let l = STD;
        let mut parts = entry_array(l, &[]);
        put(&mut parts, 4 * 128, &Guid::LINUX_FS_DATA.0);
        put(&mut parts, 4 * 128 + 32, &500u64.to_le_bytes());
        put(&mut parts, 4 * 128 + 40, &599u64.to_le_bytes());
        put(&mut parts, 4 * 128 + 56, &[0x00, 0xD8, b'x', 0]);
        let at = 2 * SECTOR + 4 * 128;
        d.data[at..at + 128].copy_from_slice(&parts[4 * 128..5 * 128]);
        let array = d.data[2 * SECTOR..2 * SECTOR + 128 * 128].to_vec();
        let h = sector_mut(&mut d, 1);
        put(h, 88, &crc32fast::hash(&array).to_le_bytes());
        reseal(h);
    }
    let gpt = read(&mut d).unwrap();
    assert_eq!(gpt.source, Source::Primary);
    let names: Vec<&str> = gpt.partitions.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["räksmörgås", long, "😀 root", "", "\u{FFFD}x"]);
}

#[test]
fn entry_sizes_other_than_128_bytes() {
    for (entries, entry_size) in [(128, 256), (16, 1024), (4, 128), (64, 512)] {
        let l = Layout {
            sectors: 2048,
            entries,
            entry_size,
        };
        let first = l.first_usable();
        let mut d = disk(
            l,
            &[
                spec(1, first, first + 9, "one"),
                spec(4, first + 10, 1000, "four"),
            ],
        );
        let gpt = read(&mut d).unwrap_or_else(|e| panic!("{entries}x{entry_size}: {e}"));
        let got: Vec<(u32, &str)> = gpt
            .partitions
            .iter()
            .map(|p| (p.index, p.name.as_str()))
            .collect();
        assert_eq!(got, [(1, "one"), (4, "four")], "{entries}x{entry_size}");
    }
}

#[test]
fn at_most_128_partitions_are_kept() {
    let l = Layout {
        sectors: 4096,
        entries: 1024,
        entry_size: 128,
    };
    let first = l.first_usable();
    let names: Vec<String> = (0..129).map(|i| alloc::format!("p{i}")).collect();
    let parts = |n: usize| -> Vec<Spec> {
        (0..n)
            .map(|i| spec(i as u32 + 1, first + i as u64, first + i as u64, &names[i]))
            .collect()
    };
    let mut d = disk(l, &parts(128));
    let gpt = read(&mut d).expect("128 partitions");
    assert_eq!(gpt.partitions.len(), 128);
    assert_eq!(gpt.partition(128).unwrap().name, "p127");
    let mut d = disk(l, &parts(129));
    assert_eq!(
        invalid_both(&mut d),
        (Invalid::TooManyPartitions, Invalid::TooManyPartitions)
    );
    // The largest array accepted is read sector by sector, and no further.
    let mut d = disk(l, &parts(1));
    read(&mut d).unwrap();
    assert_eq!(d.reads, 2 + 256);
}

#[test]
fn device_names_as_linux_gives_them() {
    assert_eq!(partition_device_name("vda", 2), "vda2");
    assert_eq!(partition_device_name("vdb", 13), "vdb13");
    assert_eq!(partition_device_name("nvme0n1", 1), "nvme0n1p1");
    assert_eq!(partition_device_name("mmcblk0", 3), "mmcblk0p3");
}

/// Random damage to a valid disk's metadata sectors never panics, and whatever is accepted
/// holds only partitions inside the disk.
#[test]
fn random_damage_never_panics() {
    let mut seed = 0x2545_F491_4F6C_DD1Du64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let clean = disk(STD, &three_parts());
    // The metadata: MBR, primary header and array, backup array and header.
    let hot: Vec<usize> = (0..34 * SECTOR)
        .chain(4063 * SECTOR..4096 * SECTOR)
        .collect();
    let mut accepted = 0;
    for round in 0..3000 {
        let mut d = MemDisk {
            data: clean.data.clone(),
            reads: 0,
            bad: None,
        };
        for _ in 0..1 + next() % 8 {
            let at = hot[(next() % hot.len() as u64) as usize];
            d.data[at] = next() as u8;
        }
        // Sometimes reseal the headers, so that damage gets past the CRC check.
        if round % 2 == 0 {
            for lba in [1, 4095] {
                reseal(sector_mut(&mut d, lba));
            }
        }
        if let Ok(gpt) = read(&mut d) {
            accepted += 1;
            for p in &gpt.partitions {
                assert!(p.first_lba <= p.last_lba && p.last_lba < 4095, "{p:?}");
            }
        }
        assert!(d.reads <= 3 + 2 * 256, "round {round}: {} reads", d.reads);
    }
    assert!(
        accepted > 0,
        "some damage is harmless or the backup takes over"
    );
}
