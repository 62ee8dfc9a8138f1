//! dom0's storage against FAT volumes in memory, formatted and read back by another FAT
//! implementation (the `fatfs` crate): what dom0 writes, fatfs reads; what fatfs writes
//! (long names included), dom0 reads. Error cases end in clear errors and leave a volume
//! that still works.

use super::*;
use crate::block::{BlockDevice, MemDisk};
use alloc::boxed::Box;
use alloc::rc::Rc;
use alloc::vec;
use core::cell::Cell;
use std::io::{Cursor, Read, Write};

/// A FAT volume of `mib` MiB formatted by fatfs (FAT32 if `fat32`, else FAT16), with
/// `/etc/xen` and a long-named config in it.
fn volume(mib: usize, fat32: bool) -> Vec<u8> {
    let mut c = Cursor::new(vec![0u8; mib << 20]);
    let kind = if fat32 {
        fatfs::FatType::Fat32
    } else {
        fatfs::FatType::Fat16
    };
    fatfs::format_volume(
        &mut c,
        fatfs::FormatVolumeOptions::new()
            .fat_type(kind)
            .bytes_per_cluster(512),
    )
    .unwrap();
    {
        let fs = fatfs::FileSystem::new(&mut c, fatfs::FsOptions::new()).unwrap();
        let etc = fs.root_dir().create_dir("etc").unwrap();
        let xen = etc.create_dir("xen").unwrap();
        let mut f = xen.create_file("Long-Named Domain.cfg").unwrap();
        f.write_all(b"name = \"long\"\n").unwrap();
    }
    c.into_inner()
}

/// What the device saw.
#[derive(Default)]
struct Stats {
    writes: Cell<u64>,
    written: Cell<u64>,
    flushes: Cell<u64>,
    /// Fail writes from now on as a full device would not: an I/O error.
    fail_writes: Cell<bool>,
}

/// A [`MemDisk`] that counts.
struct Counting {
    disk: MemDisk,
    stats: Rc<Stats>,
}

impl BlockDevice for Counting {
    fn sectors(&self) -> u64 {
        self.disk.sectors()
    }
    fn read_only(&self) -> bool {
        self.disk.read_only()
    }
    fn read(&mut self, sector: u64, buf: &mut [u8]) -> Result<(), BlockError> {
        self.disk.read(sector, buf)
    }
    fn write(&mut self, sector: u64, buf: &[u8]) -> Result<(), BlockError> {
        if self.stats.fail_writes.get() {
            return Err(BlockError::Io);
        }
        self.stats.writes.set(self.stats.writes.get() + 1);
        self.stats
            .written
            .set(self.stats.written.get() + buf.len() as u64);
        self.disk.write(sector, buf)
    }
    fn flush(&mut self) -> Result<(), BlockError> {
        self.stats.flushes.set(self.stats.flushes.get() + 1);
        self.disk.flush()
    }
}

/// `bytes` as disk `vda` (no GPT: the whole disk is the volume).
fn disks_of(bytes: Vec<u8>, read_only: bool) -> (Disks, Rc<Stats>) {
    let stats = Rc::new(Stats::default());
    let mut disk = MemDisk::from_bytes(bytes);
    if read_only {
        disk = disk.into_read_only();
    }
    let mut disks = Disks::new();
    let _ = disks.add(
        "vda",
        Box::new(Counting {
            disk,
            stats: stats.clone(),
        }),
    );
    (disks, stats)
}

/// The disk's bytes now.
fn bytes(disks: &mut Disks) -> Vec<u8> {
    let mut d = disks.open("vda").unwrap();
    let mut out = vec![0u8; d.sectors() as usize * 512];
    d.read(0, &mut out).unwrap();
    out
}

/// File `path` as fatfs reads it from the disk, if it is there.
fn fatfs_read(disks: &mut Disks, path: &str) -> Option<Vec<u8>> {
    let mut c = Cursor::new(bytes(disks));
    let fs = fatfs::FileSystem::new(&mut c, fatfs::FsOptions::new()).unwrap();
    let mut f = fs.root_dir().open_file(path.trim_start_matches('/')).ok()?;
    let mut out = Vec::new();
    f.read_to_end(&mut out).unwrap();
    Some(out)
}

fn mounted(mib: usize, fat32: bool) -> (Disks, Storage, Rc<Stats>) {
    let (mut disks, stats) = disks_of(volume(mib, fat32), false);
    let s = Storage::mount(&mut disks, "vda", Some(|| Some(1_767_225_600))).unwrap();
    (disks, s, stats)
}

#[test]
fn mount_makes_the_mount_points_and_flushes_them() {
    let (mut disks, s, stats) = mounted(34, true);
    assert_eq!(s.device(), "vda");
    assert!(stats.flushes.get() >= 1, "the new /var/lib/xen was flushed");
    let etc = s.list(&mut disks, "/etc/xen").unwrap();
    assert_eq!(
        etc,
        [Entry {
            name: "Long-Named Domain.cfg".into(),
            size: 14,
            dir: false
        }]
    );
    assert_eq!(s.list(&mut disks, "/var/lib/xen").unwrap(), []);
    // A second mount, a listing and a read write nothing.
    let (writes, flushes) = (stats.writes.get(), stats.flushes.get());
    Storage::mount(&mut disks, "vda", None).unwrap();
    s.list(&mut disks, "/etc/xen").unwrap();
    s.read(&mut disks, "/etc/xen/long-named domain.cfg", 100)
        .unwrap();
    assert_eq!((stats.writes.get(), stats.flushes.get()), (writes, flushes));
}

#[test]
fn written_files_read_back_here_and_in_fatfs_and_are_flushed() {
    for fat32 in [true, false] {
        let (mut disks, s, stats) = mounted(34, fat32);
        let flushes = stats.flushes.get();
        s.write(&mut disks, "/etc/xen/mine.cfg", b"name = \"mine\"\n")
            .unwrap();
        assert!(stats.flushes.get() > flushes, "flushed before returning");
        assert_eq!(
            s.read(&mut disks, "/etc/xen/MINE.CFG", 1 << 20).unwrap(),
            b"name = \"mine\"\n"
        );
        assert_eq!(
            fatfs_read(&mut disks, "etc/xen/mine.cfg").unwrap(),
            b"name = \"mine\"\n"
        );
        // Replaced by a shorter one: truncated.
        s.write(&mut disks, "/etc/xen/mine.cfg", b"x").unwrap();
        assert_eq!(fatfs_read(&mut disks, "etc/xen/mine.cfg").unwrap(), b"x");
        // The long-named file fatfs wrote, by its long name in any case.
        assert_eq!(
            s.read(&mut disks, "/etc/xen/long-named domain.CFG", 100)
                .unwrap(),
            b"name = \"long\"\n"
        );
        let names: Vec<String> = s
            .list(&mut disks, "/etc/xen")
            .unwrap()
            .into_iter()
            .map(|e| e.name)
            .collect();
        assert_eq!(names, ["Long-Named Domain.cfg", "mine.cfg"]);
        // ls of a file is the file.
        assert_eq!(s.list(&mut disks, "/etc/xen/mine.cfg").unwrap()[0].size, 1);
        s.remove(&mut disks, "/etc/xen/mine.cfg").unwrap();
        assert_eq!(fatfs_read(&mut disks, "etc/xen/mine.cfg"), None);
        assert_eq!(
            s.read(&mut disks, "/etc/xen/mine.cfg", 100),
            Err(FsError::NotFound("/etc/xen/mine.cfg".into()))
        );
    }
}

#[test]
fn bad_paths_and_names_are_refused_by_name() {
    let (mut disks, s, _) = mounted(34, true);
    let e = s.write(&mut disks, "/boot/x", b"1").unwrap_err();
    assert_eq!(e, FsError::NotOnStorage("/boot/x".into()));
    assert!(e.to_string().contains("only /etc/xen and /var/lib/xen"));
    assert!(matches!(
        s.write(&mut disks, "etc/xen/x", b"1"),
        Err(FsError::BadPath(..))
    ));
    assert!(matches!(
        s.read(&mut disks, "/etc/xen/../x", 9),
        Err(FsError::BadPath(..))
    ));
    let e = s
        .write(&mut disks, "/var/lib/xen/much-too-long-name.save", b"1")
        .unwrap_err();
    assert!(matches!(e, FsError::NameTooLong(_)));
    assert!(e.to_string().contains("at most 8 characters"), "{e}");
    assert_eq!(
        s.read(&mut disks, "/etc/xen/none.cfg", 9),
        Err(FsError::NotFound("/etc/xen/none.cfg".into()))
    );
    assert_eq!(
        s.write(&mut disks, "/etc/xen/nodir/a", b"1"),
        Err(FsError::NotFound("/etc/xen/nodir/a".into()))
    );
    assert_eq!(
        s.read(&mut disks, "/etc/xen", 9),
        Err(FsError::IsADirectory("/etc/xen".into()))
    );
    assert_eq!(
        s.write(&mut disks, "/etc/xen", b"1"),
        Err(FsError::IsADirectory("/etc/xen".into()))
    );
    assert_eq!(
        s.remove(&mut disks, "/var/lib/xen"),
        Err(FsError::IsADirectory("/var/lib/xen".into()))
    );
    s.write(&mut disks, "/etc/xen/a", b"1").unwrap();
    assert_eq!(
        s.list(&mut disks, "/etc/xen/a/b"),
        Err(FsError::NotADirectory("/etc/xen/a/b".into()))
    );
    let e = s
        .remove(&mut disks, "/etc/xen/Long-Named Domain.cfg")
        .unwrap_err();
    assert!(matches!(e, FsError::LongName(_)), "{e}");
    assert!(s
        .read(&mut disks, "/etc/xen/Long-Named Domain.cfg", 100)
        .is_ok());
    assert!(matches!(
        s.read(&mut disks, "/etc/xen/Long-Named Domain.cfg", 3),
        Err(FsError::TooLarge(_))
    ));
    // The volume still works.
    s.write(&mut disks, "/etc/xen/b", b"2").unwrap();
    assert_eq!(fatfs_read(&mut disks, "etc/xen/b").unwrap(), b"2");
}

#[test]
fn a_full_disk_is_an_error_the_partial_file_goes_and_the_volume_still_works() {
    let (mut disks, s, _) = mounted(4, false);
    let chunk = vec![0xA5u8; 64 * 1024];
    let e = s
        .write_with(&mut disks, "/var/lib/xen/big", &mut |w| {
            for _ in 0..128 {
                w.write(&chunk)?;
            }
            Ok(())
        })
        .unwrap_err();
    assert_eq!(e, FsError::DiskFull("/var/lib/xen/big".into()));
    assert!(e.to_string().contains("No space left on device"));
    assert_eq!(fatfs_read(&mut disks, "var/lib/xen/big"), None);
    // The clusters came back: a file nearly the volume's size fits now.
    s.write(&mut disks, "/var/lib/xen/fits", &vec![7u8; 3 << 20])
        .unwrap();
    assert_eq!(
        fatfs_read(&mut disks, "var/lib/xen/fits").unwrap().len(),
        3 << 20
    );
}

#[test]
fn a_failing_producer_leaves_no_file() {
    let (mut disks, s, _) = mounted(34, true);
    let e = s
        .write_with(&mut disks, "/var/lib/xen/half", &mut |w| {
            w.write(&[1; 10_000])?;
            Err(FsError::Other(
                "/var/lib/xen/half".into(),
                "source went away".into(),
            ))
        })
        .unwrap_err();
    assert!(e.to_string().contains("source went away"));
    assert_eq!(s.list(&mut disks, "/var/lib/xen").unwrap(), []);
}

#[test]
fn streaming_tens_of_mib_is_linear_and_in_large_requests() {
    let (mut disks, s, stats) = mounted(40, true);
    let (w0, b0) = (stats.writes.get(), stats.written.get());
    let total = 24usize << 20;
    let piece = |i: usize| -> Vec<u8> { (0..65536).map(|j| (i * 7 + j / 512) as u8).collect() };
    let n = s
        .write_with(&mut disks, "/var/lib/xen/image", &mut |w| {
            for i in 0..total / 65536 {
                w.write(&piece(i))?;
            }
            Ok(())
        })
        .unwrap();
    assert_eq!(n, total as u64);
    let (writes, written) = (stats.writes.get() - w0, stats.written.get() - b0);
    // The data once, plus its FAT (4 bytes a 512-byte cluster, twice) and a little more.
    assert!(
        written <= total as u64 + total as u64 / 50 + (1 << 20),
        "{written} bytes written for {total}"
    );
    // In runs, not a sector at a time.
    assert!(writes < (total / 4096) as u64, "{writes} requests");
    let back = fatfs_read(&mut disks, "var/lib/xen/image").unwrap();
    assert_eq!(back.len(), total);
    assert!(back
        .chunks(65536)
        .enumerate()
        .all(|(i, c)| c == piece(i).as_slice()));
    // Read back here, streamed.
    let mut seen = 0usize;
    let mut same = true;
    s.read_with(&mut disks, "/var/lib/xen/image", &mut |c| {
        same &= back[seen..seen + c.len()] == *c;
        seen += c.len();
        Ok(())
    })
    .unwrap();
    assert!(same && seen == total);
}

#[test]
fn device_failures_and_read_only_devices_are_errors() {
    let (mut disks, s, stats) = mounted(34, true);
    stats.fail_writes.set(true);
    assert_eq!(
        s.write(&mut disks, "/etc/xen/x", b"1"),
        Err(FsError::Device(BlockError::Io))
    );
    stats.fail_writes.set(false);
    let (mut ro, _) = disks_of(volume(34, true), true);
    // Mounting needs /var/lib/xen made: refused on a read-only device.
    assert_eq!(
        Storage::mount(&mut ro, "vda", None).unwrap_err(),
        FsError::ReadOnly
    );
    // With the mount points there, it mounts, reads, and refuses writes.
    let (mut ro, _) = disks_of(bytes(&mut disks), true);
    let s = Storage::mount(&mut ro, "vda", None).unwrap();
    assert!(s.list(&mut ro, "/etc/xen").is_ok());
    assert_eq!(s.write(&mut ro, "/etc/xen/y", b"1"), Err(FsError::ReadOnly));
}

#[test]
fn a_volume_that_is_not_fat_is_refused() {
    let (mut disks, _) = disks_of(vec![0u8; 1 << 20], false);
    let e = Storage::mount(&mut disks, "vda", None).unwrap_err();
    assert!(matches!(e, FsError::Format(_)), "{e}");
    assert_eq!(
        Storage::mount(&mut disks, "vdz", None).unwrap_err(),
        FsError::NoDevice("vdz".into())
    );
}

#[test]
fn the_cache_writes_runs_in_order_and_reads_its_own_writes() {
    use embedded_sdmmc::{Block, BlockDevice as _, BlockIdx};
    let mut disk = MemDisk::new(1024);
    {
        let b = blocks::Blocks::new(&mut disk).unwrap();
        let mut mbr = [Block::new()];
        b.read(&mut mbr, BlockIdx(0)).unwrap();
        assert_eq!(&mbr[0].contents[510..], &[0x55, 0xAA]);
        assert_eq!(mbr[0].contents[446 + 8], 1, "the volume starts at block 1");
        assert!(b.write(&mbr, BlockIdx(0)).is_err(), "the MBR is not ours");
        let mut blk = Block::new();
        blk.contents.fill(9);
        b.write(core::slice::from_ref(&blk), BlockIdx(11)).unwrap();
        let mut back = [Block::new()];
        b.read(&mut back, BlockIdx(11)).unwrap();
        assert_eq!(back[0].contents, [9; 512]);
        assert!(b.read(&mut back, BlockIdx(1025)).is_err(), "past the end");
        assert_eq!(b.write_back(), Ok(true));
    }
    let mut s = [0u8; 512];
    disk.read(10, &mut s).unwrap();
    assert_eq!(s, [9; 512], "block 11 is the partition's sector 10");
}

/// FAT32's free clusters counted in the first FAT, and FSInfo's count.
fn fat32_free(disk: &[u8]) -> (u32, u32) {
    let u16_at = |at: usize| u32::from(u16::from_le_bytes([disk[at], disk[at + 1]]));
    let u32_at = |at: usize| u32::from_le_bytes(disk[at..at + 4].try_into().unwrap());
    let (spc, reserved, fats) = (u32::from(disk[13]), u16_at(14), u32::from(disk[16]));
    let (total, fat_sectors, fsinfo) = (u32_at(32), u32_at(36), u16_at(48));
    let clusters = (total - reserved - fats * fat_sectors) / spc;
    let fat = reserved as usize * 512;
    let free = (2..clusters + 2)
        .filter(|c| u32_at(fat + *c as usize * 4) & 0x0FFF_FFFF == 0)
        .count() as u32;
    (free, u32_at(fsinfo as usize * 512 + 488))
}

#[test]
fn replacing_and_removing_give_every_cluster_back_and_fsinfo_agrees() {
    // fatfs leaves FSInfo's count unknown; mkfs.fat writes it: as mkfs.fat does.
    let mut vol = volume(34, true);
    let (start, info) = fat32_free(&vol);
    assert_eq!(info, u32::MAX);
    let fsinfo = u16::from_le_bytes([vol[48], vol[49]]) as usize * 512;
    vol[fsinfo + 488..fsinfo + 492].copy_from_slice(&start.to_le_bytes());
    let (mut disks, _) = disks_of(vol, false);
    let s = Storage::mount(&mut disks, "vda", None).unwrap();
    let start = start - 3; // /var, /var/lib, /var/lib/xen
    assert_eq!(fat32_free(&bytes(&mut disks)), (start, start));
    for round in 0..4u8 {
        s.write(&mut disks, "/var/lib/xen/img", &vec![round; 3 << 20])
            .unwrap();
        let (free, info) = fat32_free(&bytes(&mut disks));
        assert_eq!(free, info, "round {round}: FSInfo's count");
        assert_eq!(
            free,
            start - 6144,
            "round {round}: the file's 6144 clusters"
        );
    }
    s.write(&mut disks, "/var/lib/xen/other", b"x").unwrap();
    s.remove(&mut disks, "/var/lib/xen/img").unwrap();
    s.remove(&mut disks, "/var/lib/xen/other").unwrap();
    let (free, info) = fat32_free(&bytes(&mut disks));
    assert_eq!((free, info), (start, start), "every cluster back");
}

#[test]
fn a_small_volume_rewritten_many_times_does_not_fill_up() {
    let (mut disks, s, _) = mounted(4, false);
    for round in 0..10u8 {
        s.write(&mut disks, "/var/lib/xen/img", &vec![round; 1536 << 10])
            .unwrap_or_else(|e| panic!("round {round}: {e}"));
    }
    assert_eq!(
        fatfs_read(&mut disks, "var/lib/xen/img").unwrap(),
        vec![9u8; 1536 << 10]
    );
}
