//! dom0's block devices: the [`BlockDevice`] interface its disk drivers implement (pv-guest's
//! virtio-blk driver on the machine's disk; [`MemDisk`] in host tests), the registry of them
//! by Linux's names (`vda`, and `vda1`, `vda2`, ... for the partitions of its GPT), and
//! [`Partition`], a window onto part of a disk that refuses to reach outside it.

use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

/// Bytes per sector (the unit of every offset and length here).
pub const SECTOR: usize = 512;

/// Why a block request failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlockError {
    /// It reaches past the device's end.
    OutOfRange,
    /// A buffer that is not a whole number of sectors.
    Unaligned,
    /// A write to a read-only device.
    ReadOnly,
    /// The device reported an error.
    Io,
    /// The device does not do this (e.g. flush).
    Unsupported,
}

impl fmt::Display for BlockError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BlockError::OutOfRange => "beyond the end of the device",
            BlockError::Unaligned => "not a whole number of 512-byte sectors",
            BlockError::ReadOnly => "the device is read-only",
            BlockError::Io => "I/O error",
            BlockError::Unsupported => "not supported by the device",
        })
    }
}

/// One transfer of a batch ([`BlockDevice::transfer_many`]).
pub enum Io<'a> {
    /// Read sectors from `sector` on into `buf`.
    Read { sector: u64, buf: &'a mut [u8] },
    /// Write `buf` from `sector` on.
    Write { sector: u64, buf: &'a [u8] },
}

impl Io<'_> {
    /// (first sector, bytes, whether it writes).
    pub fn extent(&self) -> (u64, usize, bool) {
        match self {
            Io::Read { sector, buf } => (*sector, buf.len(), false),
            Io::Write { sector, buf } => (*sector, buf.len(), true),
        }
    }
}

/// A disk: whole 512-byte sectors read and written at sector offsets.
pub trait BlockDevice {
    /// Its size in sectors.
    fn sectors(&self) -> u64;
    /// Whether writes are refused.
    fn read_only(&self) -> bool;
    /// Reads `buf.len() / SECTOR` sectors from `sector` on.
    fn read(&mut self, sector: u64, buf: &mut [u8]) -> Result<(), BlockError>;
    /// Writes `buf.len() / SECTOR` sectors from `sector` on.
    fn write(&mut self, sector: u64, buf: &[u8]) -> Result<(), BlockError>;
    /// Makes every completed write durable.
    fn flush(&mut self) -> Result<(), BlockError>;

    /// Does every transfer of `ios`, in any order (a device may have several at once: the
    /// caller does not depend on their order, as blkif's front ends do not); each one's
    /// result, in `ios`' order.
    fn transfer_many(&mut self, ios: &mut [Io<'_>]) -> Vec<Result<(), BlockError>> {
        ios.iter_mut()
            .map(|io| match io {
                Io::Read { sector, buf } => self.read(*sector, buf),
                Io::Write { sector, buf } => self.write(*sector, buf),
            })
            .collect()
    }
}

/// Checks a request of `len` bytes at `sector` against a device of `sectors`.
pub fn check(sectors: u64, sector: u64, len: usize) -> Result<(), BlockError> {
    if !len.is_multiple_of(SECTOR) {
        return Err(BlockError::Unaligned);
    }
    let n = (len / SECTOR) as u64;
    match sector.checked_add(n) {
        Some(end) if end <= sectors => Ok(()),
        _ => Err(BlockError::OutOfRange),
    }
}

/// A disk in memory (host tests, and anything that wants a scratch device).
pub struct MemDisk {
    data: Vec<u8>,
    read_only: bool,
    /// Flushes so far.
    pub flushes: u64,
}

impl MemDisk {
    /// A zeroed disk of `sectors`.
    pub fn new(sectors: u64) -> MemDisk {
        MemDisk::from_bytes(alloc::vec![0; sectors as usize * SECTOR])
    }

    /// A disk holding `data` (rounded down to whole sectors).
    pub fn from_bytes(mut data: Vec<u8>) -> MemDisk {
        data.truncate(data.len() / SECTOR * SECTOR);
        MemDisk {
            data,
            read_only: false,
            flushes: 0,
        }
    }

    /// The same, refusing writes.
    pub fn into_read_only(mut self) -> MemDisk {
        self.read_only = true;
        self
    }

    /// Its bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.data
    }
}

impl BlockDevice for MemDisk {
    fn sectors(&self) -> u64 {
        (self.data.len() / SECTOR) as u64
    }
    fn read_only(&self) -> bool {
        self.read_only
    }
    fn read(&mut self, sector: u64, buf: &mut [u8]) -> Result<(), BlockError> {
        check(self.sectors(), sector, buf.len())?;
        let at = sector as usize * SECTOR;
        buf.copy_from_slice(&self.data[at..at + buf.len()]);
        Ok(())
    }
    fn write(&mut self, sector: u64, buf: &[u8]) -> Result<(), BlockError> {
        if self.read_only {
            return Err(BlockError::ReadOnly);
        }
        check(self.sectors(), sector, buf.len())?;
        let at = sector as usize * SECTOR;
        self.data[at..at + buf.len()].copy_from_slice(buf);
        Ok(())
    }
    fn flush(&mut self) -> Result<(), BlockError> {
        self.flushes += 1;
        Ok(())
    }
}

/// Part of a disk: sectors `first..first + sectors` of the disk it names (by its index in
/// [`Disks`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Partition {
    /// Index of the whole disk in [`Disks`].
    pub disk: usize,
    /// Its first sector on the disk.
    pub first: u64,
    /// Its length in sectors.
    pub sectors: u64,
}

/// What a device name stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Node {
    Disk(usize),
    Part(Partition),
}

/// dom0's block devices by name: whole disks and their partitions.
#[derive(Default)]
pub struct Disks {
    disks: Vec<Box<dyn BlockDevice>>,
    names: Vec<(String, Node)>,
}

impl Disks {
    /// No devices.
    pub fn new() -> Disks {
        Disks::default()
    }

    /// Adds disk `name` (e.g. `vda`) and, from its GPT if it has a valid one, its partitions
    /// (`vda1`, ...). The partitions found, or why the GPT was not read.
    pub fn add(
        &mut self,
        name: &str,
        mut disk: Box<dyn BlockDevice>,
    ) -> Result<usize, crate::gpt::GptError<BlockError>> {
        let index = self.disks.len();
        let gpt = crate::gpt::read(&mut Sectors(&mut *disk));
        self.disks.push(disk);
        self.names.push((String::from(name), Node::Disk(index)));
        let gpt = gpt?;
        let sectors = self.disks[index].sectors();
        let mut n = 0;
        for p in &gpt.partitions {
            // The GPT reader checked the bounds against the disk; a partition is never
            // longer than what is left of it.
            let part = Partition {
                disk: index,
                first: p.first_lba,
                sectors: p.sectors().min(sectors.saturating_sub(p.first_lba)),
            };
            let pname = crate::gpt::partition_device_name(name, p.index);
            self.names.push((pname, Node::Part(part)));
            n += 1;
        }
        Ok(n)
    }

    /// Every device: its name, size in sectors, whether it is a partition, whether it is
    /// read-only; disks before their partitions.
    pub fn list_all(&self) -> Vec<(String, u64, bool, bool)> {
        self.names
            .iter()
            .map(|(n, node)| match node {
                Node::Disk(i) => (
                    n.clone(),
                    self.disks[*i].sectors(),
                    false,
                    self.disks[*i].read_only(),
                ),
                Node::Part(p) => (n.clone(), p.sectors, true, self.disks[p.disk].read_only()),
            })
            .collect()
    }

    /// Where device `name` (with or without `/dev/`) lies: (disk index, first sector,
    /// sectors, read-only).
    pub fn extent(&self, name: &str) -> Option<(usize, u64, u64, bool)> {
        let name = name.strip_prefix("/dev/").unwrap_or(name);
        let node = self.names.iter().find(|(n, _)| n == name)?.1;
        Some(match node {
            Node::Disk(i) => (i, 0, self.disks[i].sectors(), self.disks[i].read_only()),
            Node::Part(p) => (p.disk, p.first, p.sectors, self.disks[p.disk].read_only()),
        })
    }

    /// The device `name` (with or without `/dev/`), as a [`Device`] to read and write.
    pub fn open(&mut self, name: &str) -> Option<Device<'_>> {
        let name = name.strip_prefix("/dev/").unwrap_or(name);
        let node = self.names.iter().find(|(n, _)| n == name)?.1;
        Some(match node {
            Node::Disk(i) => {
                let d = &mut *self.disks[i];
                let sectors = d.sectors();
                Device {
                    disk: d,
                    first: 0,
                    sectors,
                }
            }
            Node::Part(p) => Device {
                disk: &mut *self.disks[p.disk],
                first: p.first,
                sectors: p.sectors,
            },
        })
    }
}

/// An open device: a disk, or a window onto one.
pub struct Device<'a> {
    disk: &'a mut dyn BlockDevice,
    first: u64,
    sectors: u64,
}

impl BlockDevice for Device<'_> {
    fn sectors(&self) -> u64 {
        self.sectors
    }
    fn read_only(&self) -> bool {
        self.disk.read_only()
    }
    fn read(&mut self, sector: u64, buf: &mut [u8]) -> Result<(), BlockError> {
        check(self.sectors, sector, buf.len())?;
        self.disk.read(self.first + sector, buf)
    }
    fn write(&mut self, sector: u64, buf: &[u8]) -> Result<(), BlockError> {
        check(self.sectors, sector, buf.len())?;
        self.disk.write(self.first + sector, buf)
    }
    fn flush(&mut self) -> Result<(), BlockError> {
        self.disk.flush()
    }
    fn transfer_many(&mut self, ios: &mut [Io<'_>]) -> Vec<Result<(), BlockError>> {
        // Each checked against the window and moved onto the disk; only those inside go.
        let checks: Vec<Result<(), BlockError>> = ios
            .iter()
            .map(|io| {
                let (sector, len, write) = io.extent();
                if write && self.disk.read_only() {
                    return Err(BlockError::ReadOnly);
                }
                check(self.sectors, sector, len)
            })
            .collect();
        let first = self.first;
        let mut inside: Vec<Io<'_>> = ios
            .iter_mut()
            .zip(&checks)
            .filter(|(_, c)| c.is_ok())
            .map(|(io, _)| match io {
                Io::Read { sector, buf } => Io::Read {
                    sector: first + *sector,
                    buf: &mut buf[..],
                },
                Io::Write { sector, buf } => Io::Write {
                    sector: first + *sector,
                    buf: &buf[..],
                },
            })
            .collect();
        let mut done = self.disk.transfer_many(&mut inside).into_iter();
        checks
            .into_iter()
            .map(|c| c.and_then(|()| done.next().unwrap_or(Err(BlockError::Io))))
            .collect()
    }
}

/// A block device as the GPT reader reads it.
struct Sectors<'a>(&'a mut dyn BlockDevice);

impl crate::gpt::BlockRead for Sectors<'_> {
    type Error = BlockError;
    fn read_sector(&mut self, lba: u64, buf: &mut [u8; 512]) -> Result<(), BlockError> {
        self.0.read(lba, buf)
    }
    fn sector_count(&self) -> u64 {
        self.0.sectors()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_whole_sectors_inside_the_device() {
        assert_eq!(check(8, 0, 4096), Ok(()));
        assert_eq!(check(8, 7, 512), Ok(()));
        assert_eq!(check(8, 7, 1024), Err(BlockError::OutOfRange));
        assert_eq!(check(8, 8, 0), Ok(()));
        assert_eq!(check(8, 9, 0), Err(BlockError::OutOfRange));
        assert_eq!(check(8, u64::MAX, 512), Err(BlockError::OutOfRange));
        assert_eq!(check(8, 0, 100), Err(BlockError::Unaligned));
    }

    #[test]
    fn a_mem_disk_reads_back_what_was_written_and_a_read_only_one_refuses() {
        let mut d = MemDisk::new(4);
        d.write(1, &[7; 1024]).unwrap();
        let mut b = [0u8; 2048];
        d.read(0, &mut b).unwrap();
        assert!(b[..512].iter().all(|&x| x == 0));
        assert!(b[512..1536].iter().all(|&x| x == 7));
        assert_eq!(d.write(4, &[0; 512]), Err(BlockError::OutOfRange));
        let mut ro = MemDisk::new(1).into_read_only();
        assert_eq!(ro.write(0, &[1; 512]), Err(BlockError::ReadOnly));
        assert!(ro.read_only());
    }

    #[test]
    fn a_batch_through_a_window_stays_inside_it() {
        let mut disks = Disks::new();
        let mut disk = MemDisk::new(64);
        disk.write(10, &[9; 512]).unwrap();
        let _ = disks.add("vda", Box::new(disk));
        let part = Partition {
            disk: 0,
            first: 8,
            sectors: 8,
        };
        disks.names.push((String::from("vda9"), Node::Part(part)));
        let mut dev = disks.open("vda9").unwrap();
        let (mut a, mut b) = ([0u8; 512], [0u8; 1024]);
        let w = [5u8; 512];
        let mut ios = [
            Io::Read {
                sector: 2,
                buf: &mut a,
            },
            Io::Read {
                sector: 7,
                buf: &mut b,
            },
            Io::Write { sector: 0, buf: &w },
            Io::Write {
                sector: u64::MAX,
                buf: &w,
            },
        ];
        let r = dev.transfer_many(&mut ios);
        assert_eq!(
            r,
            [
                Ok(()),
                Err(BlockError::OutOfRange),
                Ok(()),
                Err(BlockError::OutOfRange)
            ]
        );
        assert!(a.iter().all(|&x| x == 9));
        let mut whole = [0u8; 512];
        disks.open("vda").unwrap().read(8, &mut whole).unwrap();
        assert!(whole.iter().all(|&x| x == 5));
        disks.open("vda").unwrap().read(16, &mut whole).unwrap();
        assert!(whole.iter().all(|&x| x == 0), "nothing past the window");
    }

    #[test]
    fn a_disk_without_a_gpt_is_listed_alone() {
        let mut disks = Disks::new();
        assert!(disks.add("vda", Box::new(MemDisk::new(64))).is_err());
        assert_eq!(disks.list_all(), [(String::from("vda"), 64, false, false)]);
        assert!(disks.open("/dev/vda").is_some());
        assert!(disks.open("vda1").is_none());
        assert!(disks.open("vdb").is_none());
    }
}
