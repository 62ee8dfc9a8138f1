//! dom0's own storage: a FAT volume on the partition of dom0's disk labelled [`LABEL`]
//! (`xen-dom0`), seen at `/etc/xen` (configs that outlive a reboot) and `/var/lib/xen`
//! (state: saved domains later). The host reads the same partition with Debian's mtools and
//! checks it with dosfstools' `fsck.fat`.
//!
//! The filesystem is embedded-sdmmc's (no_std, FAT16/FAT32), over the block device through
//! [`blocks`] (a made-up MBR in front of the partition, a write-back cache written in sorted
//! runs, read-ahead). Every operation is a session of its own: the volume is opened, the
//! work done, every cached block written and the device flushed before it returns, so a
//! write that returned `Ok` is on the disk (virtio's flush) and nothing is cached between
//! commands.
//!
//! Names: dom0 creates files with FAT short names only ([`path::NAME_RULE`]: embedded-sdmmc
//! writes no long names); it reads and lists long names the host wrote, case-insensitively.
//! Short names are shown in lower case. A long-named file is not removed by dom0 (its
//! long-name entries would be left behind): the error says so.

mod blocks;
mod clock;
mod fat;
pub mod path;
#[cfg(test)]
mod tests;

pub use clock::FAT_EPOCH;
pub use path::{on_storage, MOUNT_POINTS};

use crate::block::{BlockDevice, BlockError, Disks};
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use blocks::{Blocks, DevError};
use clock::Clock;
use core::fmt;
use core::ops::ControlFlow;
use embedded_sdmmc::{DirEntry, LfnBuffer, Mode, RawVolume, ShortFileName, VolumeIdx};

/// The GPT partition name (label) of dom0's storage.
pub const LABEL: &str = "xen-dom0";
/// The largest file FAT holds.
pub const MAX_FILE: u64 = u32::MAX as u64;

type Vm<'d> = embedded_sdmmc::VolumeManager<Blocks<'d>, Clock, 4, 2, 1>;
type Dir<'v, 'd> = embedded_sdmmc::Directory<'v, Blocks<'d>, Clock, 4, 2, 1>;
type SdError = embedded_sdmmc::Error<DevError>;

/// Why an operation on dom0's storage failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FsError {
    /// No storage was found at boot.
    NotMounted,
    /// The storage's block device is gone.
    NoDevice(String),
    /// The path is not under a mount point.
    NotOnStorage(String),
    /// The path is malformed: the path and why.
    BadPath(String, String),
    /// A name dom0 cannot create (not a FAT short name).
    NameTooLong(String),
    NotFound(String),
    IsADirectory(String),
    NotADirectory(String),
    /// The volume has no room left for the file.
    DiskFull(String),
    /// The file would pass FAT's 4 GiB - 1.
    TooLarge(String),
    /// The device refuses writes.
    ReadOnly,
    /// The device failed.
    Device(BlockError),
    /// The volume is not a FAT filesystem embedded-sdmmc reads.
    Format(String),
    /// A file with a long name (written by another system), which dom0 does not remove.
    LongName(String),
    /// Anything else the filesystem reported: the path and what.
    Other(String, String),
}

impl fmt::Display for FsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use path::NAME_RULE;
        let m = MOUNT_POINTS.join(" and ");
        match self {
            FsError::NotMounted => write!(f, "dom0 has no storage (no partition labelled {LABEL})"),
            FsError::NoDevice(d) => write!(f, "the storage's device {d} is gone"),
            FsError::NotOnStorage(p) => write!(f, "{p}: not on dom0's storage (only {m} are)"),
            FsError::BadPath(p, why) => write!(f, "{p}: bad path: {why}"),
            FsError::NameTooLong(p) => {
                write!(
                    f,
                    "{p}: name too long: dom0 creates FAT short names ({NAME_RULE})"
                )
            }
            FsError::NotFound(p) => write!(f, "{p}: No such file or directory"),
            FsError::IsADirectory(p) => write!(f, "{p}: Is a directory"),
            FsError::NotADirectory(p) => write!(f, "{p}: Not a directory"),
            FsError::DiskFull(p) => write!(f, "{p}: No space left on device"),
            FsError::TooLarge(p) => write!(f, "{p}: File too large (FAT holds at most 4 GiB - 1)"),
            FsError::ReadOnly => f.write_str("the storage's device is read-only"),
            FsError::Device(e) => write!(f, "the storage's device failed: {e}"),
            FsError::Format(why) => write!(f, "not a FAT filesystem dom0 reads: {why}"),
            FsError::LongName(p) => write!(
                f,
                "{p}: has a long name (written by another system): dom0 removes only short names"
            ),
            FsError::Other(p, what) => write!(f, "{p}: {what}"),
        }
    }
}

/// The filesystem's error for `path` as ours.
fn err(path: &str, e: SdError) -> FsError {
    use embedded_sdmmc::{Error as E, FilenameError as N};
    let p = || path.to_string();
    match e {
        E::DeviceError(DevError(BlockError::ReadOnly)) | E::ReadOnly => FsError::ReadOnly,
        E::DeviceError(DevError(e)) => FsError::Device(e),
        E::FormatError(why) => FsError::Format(why.to_string()),
        E::NotFound => FsError::NotFound(p()),
        E::OpenedDirAsFile => FsError::IsADirectory(p()),
        E::OpenedFileAsDir => FsError::NotADirectory(p()),
        E::DiskFull | E::NotEnoughSpace | E::AllocationError => FsError::DiskFull(p()),
        E::FilenameError(N::NameTooLong) => FsError::NameTooLong(p()),
        E::FilenameError(_) => FsError::BadPath(p(), "not a FAT name".to_string()),
        other => FsError::Other(p(), format!("{other}")),
    }
}

/// One entry of a directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Its long name if it has one, else its short name in lower case.
    pub name: String,
    pub size: u32,
    pub dir: bool,
}

/// A file being written by [`Storage::write_with`]: takes its bytes in pieces.
pub struct Writer<'w> {
    put: &'w mut dyn FnMut(&[u8]) -> Result<(), FsError>,
    written: u64,
}

impl Writer<'_> {
    /// Appends `data`.
    pub fn write(&mut self, data: &[u8]) -> Result<(), FsError> {
        (self.put)(data)?;
        self.written += data.len() as u64;
        Ok(())
    }

    /// Bytes written so far.
    pub fn written(&self) -> u64 {
        self.written
    }
}

/// dom0's storage: which device it is on and where the time comes from.
#[derive(Debug, Clone)]
pub struct Storage {
    device: String,
    /// Seconds since the epoch, if known (file times; else [`FAT_EPOCH`]).
    clock: fn() -> Option<u64>,
}

/// No clock: files get FAT's first moment.
fn no_clock() -> Option<u64> {
    None
}

/// A block device as the GPT reader reads it.
struct GptDisk<'a>(&'a mut dyn BlockDevice);

impl crate::gpt::BlockRead for GptDisk<'_> {
    type Error = BlockError;
    fn sector_count(&self) -> u64 {
        self.0.sectors()
    }
    fn read_sector(&mut self, lba: u64, buf: &mut [u8; 512]) -> Result<(), BlockError> {
        self.0.read(lba, buf)
    }
}

/// The device name of the first partition labelled [`LABEL`] on any disk of `disks`.
pub fn find_partition(disks: &mut Disks) -> Option<String> {
    let whole: Vec<String> = disks
        .list_all()
        .into_iter()
        .filter(|(_, _, part, _)| !part)
        .map(|(n, ..)| n)
        .collect();
    for name in whole {
        let Some(mut dev) = disks.open(&name) else {
            continue;
        };
        let Ok(gpt) = crate::gpt::read(&mut GptDisk(&mut dev)) else {
            continue;
        };
        if let Some(p) = gpt.partitions.iter().find(|p| p.name == LABEL) {
            return Some(crate::gpt::partition_device_name(&name, p.index));
        }
    }
    None
}

impl Storage {
    /// Mounts the FAT volume on `device` (e.g. `vda4`): checks that it reads, and makes the
    /// mount points' directories if they are missing. `clock` gives file times.
    pub fn mount(
        disks: &mut Disks,
        device: &str,
        clock: Option<fn() -> Option<u64>>,
    ) -> Result<Storage, FsError> {
        let s = Storage {
            device: device.to_string(),
            clock: clock.unwrap_or(no_clock),
        };
        // Made only if missing: a mount that finds them writes nothing.
        let present = s.session(disks, false, |vm, vol, _| {
            for m in MOUNT_POINTS {
                match open_dir(vm, vol, &path::components(m)?, m, false) {
                    Ok(_) => {}
                    Err(FsError::NotFound(_)) => return Ok(false),
                    Err(e) => return Err(e),
                }
            }
            Ok(true)
        })?;
        if !present {
            s.session(disks, true, |vm, vol, _| {
                for m in MOUNT_POINTS {
                    open_dir(vm, vol, &path::components(m)?, m, true)?;
                }
                Ok(())
            })?;
        }
        Ok(s)
    }

    /// Finds the partition labelled [`LABEL`] and mounts it; `None` if there is none.
    pub fn find_and_mount(
        disks: &mut Disks,
        clock: Option<fn() -> Option<u64>>,
    ) -> Option<Result<Storage, (String, FsError)>> {
        let dev = find_partition(disks)?;
        Some(Storage::mount(disks, &dev, clock).map_err(|e| (dev, e)))
    }

    /// Its block device's name.
    pub fn device(&self) -> &str {
        &self.device
    }

    /// Runs `f` on the opened volume, then writes back and flushes whatever it wrote (also
    /// when `f` failed, so the volume stays consistent). A session that may `mutate` closes
    /// the volume at the end (FAT32's free-cluster count and hint are written then); one
    /// that only reads writes nothing.
    fn session<R>(
        &self,
        disks: &mut Disks,
        mutate: bool,
        f: impl FnOnce(&Vm<'_>, RawVolume, &mut Vec<u32>) -> Result<R, FsError>,
    ) -> Result<R, FsError> {
        let mut dev = disks
            .open(&self.device)
            .ok_or_else(|| FsError::NoDevice(self.device.clone()))?;
        let blocks = Blocks::new(&mut dev).map_err(FsError::Device)?;
        let now = (self.clock)().unwrap_or(FAT_EPOCH);
        let vm: Vm<'_> = embedded_sdmmc::VolumeManager::new_with_limits(blocks, Clock(now), 5000);
        // The first clusters of the chains deleted files leave, freed once the crate is done.
        let mut chains = Vec::new();
        let r = match vm.open_raw_volume(VolumeIdx(0)) {
            Ok(vol) => {
                let r = f(&vm, vol, &mut chains);
                if mutate {
                    let closed = vm.close_volume(vol).map_err(|e| err(&self.device, e));
                    r.and_then(|r| closed.map(|()| r))
                } else {
                    r
                }
            }
            Err(e) => Err(err(&self.device, e)),
        };
        let (blocks, _) = vm.free();
        let mut r = r;
        for c in chains {
            if let Err(e) = fat::free_chain(&blocks, c) {
                r = r.and(Err(e));
            }
        }
        let wrote = blocks.write_back().map_err(FsError::Device);
        let wrote = match (r.as_ref(), wrote) {
            (_, Ok(w)) => w,
            (Err(_), Err(_)) => return r,
            (Ok(_), Err(e)) => return Err(e),
        };
        if wrote {
            let flushed = blocks.flush().map_err(FsError::Device);
            if r.is_ok() {
                flushed?;
            }
        }
        r
    }

    /// The entries of directory `path` (sorted by name), or the file `path` itself.
    pub fn list(&self, disks: &mut Disks, path: &str) -> Result<Vec<Entry>, FsError> {
        let comps = path::components(path)?;
        self.session(disks, false, |vm, vol, _| {
            if let Some((last, parent)) = comps.split_last() {
                let dir = open_dir(vm, vol, parent, path, false)?;
                let (e, long) =
                    find(&dir, last, path)?.ok_or_else(|| FsError::NotFound(path.to_string()))?;
                if !e.attributes.is_directory() {
                    return Ok(alloc::vec![entry(&e, long)]);
                }
            }
            let dir = open_dir(vm, vol, &comps, path, false)?;
            let mut out = Vec::new();
            let mut buf = [0u8; 768];
            let mut lfn = LfnBuffer::new(&mut buf);
            dir.iterate_dir_lfn(&mut lfn, |e, long| {
                if !e.attributes.is_volume() && !is_dot(&e.name) {
                    out.push(entry(e, long.map(String::from)));
                }
                ControlFlow::Continue(())
            })
            .map_err(|e| err(path, e))?;
            out.sort_by(|a, b| a.name.cmp(&b.name));
            Ok(out)
        })
    }

    /// What `path` is: its entry (name as stored, size, whether a directory).
    pub fn stat(&self, disks: &mut Disks, path: &str) -> Result<Entry, FsError> {
        let comps = path::components(path)?;
        let (last, parent) = comps
            .split_last()
            .ok_or_else(|| FsError::BadPath(path.to_string(), "no name".to_string()))?;
        self.session(disks, false, |vm, vol, _| {
            let dir = open_dir(vm, vol, parent, path, false)?;
            let (e, long) =
                find(&dir, last, path)?.ok_or_else(|| FsError::NotFound(path.to_string()))?;
            Ok(entry(&e, long))
        })
    }

    /// The whole of file `path`, refused if it is larger than `max` bytes.
    pub fn read(&self, disks: &mut Disks, path: &str, max: usize) -> Result<Vec<u8>, FsError> {
        let mut data = Vec::new();
        self.read_with(disks, path, &mut |chunk| {
            if data.len() + chunk.len() > max {
                return Err(FsError::TooLarge(path.to_string()));
            }
            data.extend_from_slice(chunk);
            Ok(())
        })?;
        Ok(data)
    }

    /// File `path` given to `sink` in pieces, in order; its length.
    pub fn read_with(
        &self,
        disks: &mut Disks,
        path: &str,
        sink: &mut dyn FnMut(&[u8]) -> Result<(), FsError>,
    ) -> Result<u64, FsError> {
        let comps = path::components(path)?;
        let (last, parent) = comps
            .split_last()
            .ok_or_else(|| FsError::IsADirectory(path.to_string()))?;
        self.session(disks, false, |vm, vol, _| {
            let dir = open_dir(vm, vol, parent, path, false)?;
            let (e, _) =
                find(&dir, last, path)?.ok_or_else(|| FsError::NotFound(path.to_string()))?;
            if e.attributes.is_directory() {
                return Err(FsError::IsADirectory(path.to_string()));
            }
            let file = dir
                .open_file_in_dir(e.name, Mode::ReadOnly)
                .map_err(|x| err(path, x))?;
            let mut buf = alloc::vec![0u8; 32 * 1024];
            let mut total = 0u64;
            while !file.is_eof() {
                let n = file.read(&mut buf).map_err(|x| err(path, x))?;
                if n == 0 {
                    break;
                }
                sink(&buf[..n])?;
                total += n as u64;
            }
            file.close().map_err(|x| err(path, x))?;
            Ok(total)
        })
    }

    /// Writes `data` as file `path` (created, or replaced).
    pub fn write(&self, disks: &mut Disks, path: &str, data: &[u8]) -> Result<(), FsError> {
        self.write_with(disks, path, &mut |w| w.write(data))
            .map(|_| ())
    }

    /// Creates (or replaces) file `path` with what `fill` writes into it, in pieces; its
    /// length. Every piece goes through the write-back cache to the device as it comes
    /// (memory use does not grow with the file); the file is on the disk, flushed, when
    /// this returns `Ok`. If writing fails (a full disk, `fill`'s own error) the partial
    /// file is removed and the error returned.
    pub fn write_with(
        &self,
        disks: &mut Disks,
        path: &str,
        fill: &mut dyn FnMut(&mut Writer<'_>) -> Result<(), FsError>,
    ) -> Result<u64, FsError> {
        let comps = path::components(path)?;
        let (last, parent) = comps
            .split_last()
            .ok_or_else(|| FsError::IsADirectory(path.to_string()))?;
        if path::MOUNT_POINTS
            .iter()
            .any(|m| path.trim_end_matches('/') == *m)
        {
            return Err(FsError::IsADirectory(path.to_string()));
        }
        self.session(disks, true, |vm, vol, chains| {
            let dir = open_dir(vm, vol, parent, path, false)?;
            if !path::short_name_ok(last) {
                return Err(match find(&dir, last, path)? {
                    Some(_) => FsError::LongName(path.to_string()),
                    None => FsError::NameTooLong(path.to_string()),
                });
            }
            let name = ShortFileName::create_from_str(last)
                .map_err(|_| FsError::NameTooLong(path.to_string()))?;
            // An old file of that name goes first, clusters and all (the crate's truncation
            // keeps a cluster of a now empty file); the new one is made afresh.
            match find(&dir, last, path)? {
                Some((e, _)) if e.attributes.is_directory() => {
                    return Err(FsError::IsADirectory(path.to_string()))
                }
                Some((e, long)) => {
                    if long.is_some() {
                        return Err(FsError::LongName(path.to_string()));
                    }
                    delete(vm, &dir, &e, path, chains)?;
                }
                None => {}
            }
            let file = dir
                .open_file_in_dir(name, Mode::ReadWriteCreate)
                .map_err(|x| err(path, x))?;
            let mut size = 0u64;
            let mut put = |data: &[u8]| -> Result<(), FsError> {
                if size + data.len() as u64 > MAX_FILE {
                    return Err(FsError::TooLarge(path.to_string()));
                }
                file.write(data).map_err(|x| err(path, x))?;
                size += data.len() as u64;
                Ok(())
            };
            let mut w = Writer {
                put: &mut put,
                written: 0,
            };
            let filled = fill(&mut w);
            let written = w.written;
            let closed = file.close().map_err(|x| err(path, x));
            match filled.and(closed) {
                Ok(()) => Ok(written),
                Err(e) => {
                    // The partial file goes, clusters and all.
                    if let Ok(Some((entry, _))) = find(&dir, last, path) {
                        let _ = delete(vm, &dir, &entry, path, chains);
                    }
                    Err(e)
                }
            }
        })
    }

    /// Removes file `path` (not a directory).
    pub fn remove(&self, disks: &mut Disks, path: &str) -> Result<(), FsError> {
        let comps = path::components(path)?;
        let (last, parent) = comps
            .split_last()
            .ok_or_else(|| FsError::IsADirectory(path.to_string()))?;
        self.session(disks, true, |vm, vol, chains| {
            let dir = open_dir(vm, vol, parent, path, false)?;
            let (e, long) =
                find(&dir, last, path)?.ok_or_else(|| FsError::NotFound(path.to_string()))?;
            if e.attributes.is_directory() {
                return Err(FsError::IsADirectory(path.to_string()));
            }
            if long.is_some() {
                return Err(FsError::LongName(path.to_string()));
            }
            delete(vm, &dir, &e, path, chains)
        })
    }
}

/// Deletes file entry `e` of `dir`; its first cluster joins `chains` (freed at the end of
/// the session: the crate frees none).
fn delete(
    vm: &Vm<'_>,
    dir: &Dir<'_, '_>,
    e: &DirEntry,
    path: &str,
    chains: &mut Vec<u32>,
) -> Result<(), FsError> {
    // The first cluster from the entry on disk: the high half at byte 20 (FAT32's), the
    // low half at byte 26.
    let first = vm.device(|d| {
        use embedded_sdmmc::BlockDevice as _;
        let mut b = [embedded_sdmmc::Block::new()];
        d.read(&mut b, e.entry_block)
            .map_err(|x| FsError::Device(x.0))?;
        let at = e.entry_offset as usize;
        let raw = b[0]
            .contents
            .get(at..at + 32)
            .ok_or(FsError::Format("a directory entry past its block".into()))?;
        let hi = u32::from(u16::from_le_bytes([raw[20], raw[21]]));
        let lo = u32::from(u16::from_le_bytes([raw[26], raw[27]]));
        Ok::<u32, FsError>(hi << 16 | lo)
    })?;
    dir.delete_entry_in_dir(e.name).map_err(|x| err(path, x))?;
    if first != 0 {
        chains.push(first);
    }
    Ok(())
}

/// Whether `n` is `.` or `..`.
fn is_dot(n: &ShortFileName) -> bool {
    *n == ShortFileName::this_dir() || *n == ShortFileName::parent_dir()
}

/// A short name as text, lower case (`A.CFG`: `a.cfg`).
fn short(n: &ShortFileName) -> String {
    let base: String = n.base_name().iter().map(|&b| b as char).collect();
    let ext: String = n.extension().iter().map(|&b| b as char).collect();
    let s = if ext.is_empty() {
        base
    } else {
        format!("{base}.{ext}")
    };
    s.to_ascii_lowercase()
}

fn entry(e: &DirEntry, long: Option<String>) -> Entry {
    Entry {
        name: long.unwrap_or_else(|| short(&e.name)),
        size: e.size,
        dir: e.attributes.is_directory(),
    }
}

/// The entry named `name` (its long or short name, any case) in `dir`, with its long name.
fn find(
    dir: &Dir<'_, '_>,
    name: &str,
    path: &str,
) -> Result<Option<(DirEntry, Option<String>)>, FsError> {
    let mut found = None;
    let mut buf = [0u8; 768];
    let mut lfn = LfnBuffer::new(&mut buf);
    dir.iterate_dir_lfn(&mut lfn, |e, long| {
        if e.attributes.is_volume() || is_dot(&e.name) {
            return ControlFlow::Continue(());
        }
        let hit = long.is_some_and(|l| l.eq_ignore_ascii_case(name))
            || short(&e.name).eq_ignore_ascii_case(name);
        if hit {
            found = Some((e.clone(), long.map(String::from)));
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    })
    .map_err(|e| err(path, e))?;
    Ok(found)
}

/// The directory `comps` (from the root), made where missing if `create`.
fn open_dir<'v, 'd>(
    vm: &'v Vm<'d>,
    vol: RawVolume,
    comps: &[String],
    path: &str,
    create: bool,
) -> Result<Dir<'v, 'd>, FsError> {
    let mut dir = vm
        .open_root_dir(vol)
        .map_err(|e| err(path, e))?
        .to_directory(vm);
    for c in comps {
        let e = match find(&dir, c, path)? {
            Some((e, _)) => e,
            None if create => {
                if !path::short_name_ok(c) {
                    return Err(FsError::NameTooLong(path.to_string()));
                }
                dir.make_dir_in_dir(c.as_str()).map_err(|e| err(path, e))?;
                find(&dir, c, path)?
                    .ok_or_else(|| FsError::NotFound(path.to_string()))?
                    .0
            }
            None => return Err(FsError::NotFound(path.to_string())),
        };
        if !e.attributes.is_directory() {
            return Err(FsError::NotADirectory(path.to_string()));
        }
        dir.change_dir(e.name).map_err(|e| err(path, e))?;
    }
    Ok(dir)
}
