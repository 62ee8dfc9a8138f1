//! The machine's disk, `target/images/disk.img`: a sparse raw image with a GPT, made on the
//! host by `cargo xtask build`.
//!
//! | # | name | LBAs | contents |
//! | --- | --- | --- | --- |
//! | 1 | `pvtest` | 8 MiB from 1 MiB | zeros: our PV front end's pattern tests |
//! | 2 | `linux-root` | 96 MiB from 9 MiB | ext4: the Linux guests' root ([`linux_root_tree`]) |
//! | 3 | `boot` | 22 MiB from 105 MiB | ext4: PV-GRUB's boot disk ([`boot_tree`]) |
//! | 4 | `xen-dom0` | 384 MiB from 128 MiB | FAT32: dom0's own storage ([`DOM0_DIRS`]) |
//!
//! The first three are typed Linux filesystem data, the fourth Microsoft basic data (FAT);
//! the disk is 513 MiB. The GPT (protective MBR,
//! primary and backup headers and arrays of 128 entries) is written by the `gpt` crate.
//! Each ext4 filesystem is made in a file of the partition's size by Debian's
//! `mkfs.ext4 -d` from the tree laid out in a scratch directory ([`crate::e2fsprogs`]), fixed
//! up with `debugfs -w` (ownership root, device nodes, which `-d` cannot take from a tree
//! made without root), checked with `e2fsck -fn`, then copied into the image at the
//! partition's offset, non-zero blocks only, so the image stays sparse. dom0's storage is
//! made by Debian's `mkfs.fat` ([`crate::dosfstools`]) with the directories of
//! [`DOM0_DIRS`] made by mtools' `mmd`, checked with `fsck.fat -n`, and copied the same way.
//!
//! `disk.img.stamp` beside the image describes every input (this layout, the e2fsprogs
//! packages, each file of the tree with its size and CRC32); while it matches, nothing is
//! rebuilt. A rebuild works in `disk.build.<pid>/` beside the image (its own, should two
//! builds run at once) and renames the new image over the old one: a machine that has the
//! old image open keeps reading the old one.

use crate::e2fsprogs::E2fsprogs;
use crate::qemu::Images;
use dom0_tools::initrd::Member;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// The sector size of the image.
pub const SECTOR: u64 = 512;
/// The image's size.
pub const DISK_BYTES: u64 = 513 << 20;
const MIB: u64 = 1 << 20;

/// Bump when the way the image is made changes without its inputs changing.
const FORMAT: u32 = 2;

/// What a partition holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Contents {
    /// Nothing: zeros.
    Zeros,
    /// The ext4 filesystem of [`linux_root_tree`].
    LinuxRoot,
    /// The ext4 filesystem of [`boot_tree`]: PV-GRUB's `/boot/grub/grub.cfg`, the kernel and
    /// initrd it boots.
    Boot,
    /// dom0's own storage: FAT32 with [`DOM0_DIRS`] (dom0-tools' `fs`).
    Dom0Storage,
}

/// One partition of [`LAYOUT`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Part {
    /// Its slot in the GPT, from 1 (Linux's `vdaN`).
    pub index: u32,
    pub name: &'static str,
    /// Where it starts and how long it is, in bytes (MiB-aligned).
    pub offset: u64,
    pub bytes: u64,
    /// Its unique GUID (fixed, so that a rebuild makes the same table).
    pub guid: u128,
    pub contents: Contents,
}

impl Part {
    pub fn first_lba(&self) -> u64 {
        self.offset / SECTOR
    }
    pub fn last_lba(&self) -> u64 {
        (self.offset + self.bytes) / SECTOR - 1
    }
}

/// The disk's GUID.
pub const DISK_GUID: u128 = 0x7194_8384_f6d5_4e11_88b8_aa9c_bec4_af08;
/// The ext4 filesystem's UUID (`mkfs.ext4 -U`).
pub const ROOT_FS_UUID: &str = "1f1712e6-fa27-4d58-9fdd-13e56e4d49d7";
/// The ext4 filesystem's label.
pub const ROOT_FS_LABEL: &str = "linux-root";
/// The boot filesystem's UUID and label.
pub const BOOT_FS_UUID: &str = "5b0f6a1c-3c1e-4a8e-9d55-2f6c0b7e9a31";
pub const BOOT_FS_LABEL: &str = "boot";

/// The partitions, in slot order.
pub const LAYOUT: [Part; 4] = [
    Part {
        index: 1,
        name: "pvtest",
        offset: MIB,
        bytes: 8 * MIB,
        guid: 0xd691_2235_bd14_4f2e_abd0_4d84_c7c2_7a18,
        contents: Contents::Zeros,
    },
    Part {
        index: 2,
        name: "linux-root",
        offset: 9 * MIB,
        bytes: 96 * MIB,
        guid: 0x9321_527d_5abf_4036_9798_0c7b_0d7b_db1f,
        contents: Contents::LinuxRoot,
    },
    Part {
        index: 3,
        name: "boot",
        offset: 105 * MIB,
        bytes: 22 * MIB,
        guid: 0x0293_0b94_70cb_43a8_9fec_5d9f_a0cb_539a,
        contents: Contents::Boot,
    },
    Part {
        index: 4,
        name: "xen-dom0",
        offset: 128 * MIB,
        bytes: 384 * MIB,
        guid: 0x6c1f_0e0a_57a4_4a8e_b1f6_0d0a_3e9b_7c21,
        contents: Contents::Dom0Storage,
    },
];

/// The directories made on dom0's storage (its mount points, `dom0_tools::fs::MOUNT_POINTS`).
pub const DOM0_DIRS: [&str; 5] = ["/etc", "/etc/xen", "/var", "/var/lib", "/var/lib/xen"];
/// dom0's storage's volume label and serial number (`mkfs.fat -n`, `-i`).
pub const DOM0_FS_LABEL: &str = "XEN-DOM0";
pub const DOM0_FS_ID: &str = "58454e30";

/// The Linux guests' root tree: the busybox tree of their initramfs
/// ([`crate::guests::busybox_root`]) and busybox's `applets` linked where `busybox --install
/// -s` would put them ([`crate::guests::applet_links`]): the initramfs's `/init` makes those
/// links at boot, which a root mounted read-only (`root=/dev/xvda ro`) could not, and
/// without `/sbin/init` and `/sbin/poweroff` the disk could neither start nor shut down.
/// Later inputs (the kernel under `/boot`, its modules under `/lib/modules`) join it here;
/// the stamp follows whatever the list holds.
pub fn linux_root_tree<'a>(busybox: &'a [u8], applets: &'a [String]) -> Vec<Member<'a>> {
    let mut tree = crate::guests::busybox_root(busybox);
    tree.extend(crate::guests::applet_links(applets));
    tree
}

/// PV-GRUB's menu on the boot disk (`/boot/grub/grub.cfg`): boots `/boot/vmlinuz` with
/// `/boot/initrd.img` after a short timeout.
pub const GRUB_CFG: &str = include_str!("../../dom0-tools/examples/debian/pvgrub-disk/grub.cfg");

/// The boot disk's tree (partition 3, `boot`), a Debian-style `/boot` that PV-GRUB finds by
/// itself (Debian's grub-x86_64-xen.bin's built-in config searches every disk for
/// `/boot/grub/grub.cfg`): `/boot/vmlinuz` (Debian's kernel, the Linux guest's),
/// `/boot/initrd.img` (the Linux guest's initramfs) and `/boot/grub/grub.cfg` ([`GRUB_CFG`]).
pub fn boot_tree<'a>(vmlinuz: &'a [u8], initrd: &'a [u8]) -> Vec<Member<'a>> {
    let dir = |path, mode| Member::Dir { path, mode };
    let file = |path, mode, data| Member::File { path, mode, data };
    vec![
        dir("boot", 0o755),
        dir("boot/grub", 0o755),
        file("boot/vmlinuz", 0o644, vmlinuz),
        file("boot/initrd.img", 0o644, initrd),
        file("boot/grub/grub.cfg", 0o644, GRUB_CFG.as_bytes()),
    ]
}

/// What [`ensure`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The image matched its stamp: nothing done.
    UpToDate,
    /// The image was (re)built.
    Built,
}

/// The machine's disk in `images`, (re)built if its inputs changed. Fetches Debian's
/// guests and e2fsprogs first if they are not cached.
pub fn ensure(images: &Images) -> Result<Outcome, String> {
    let guests = crate::guests::Cache::new().ensure(false)?;
    let e2fs = E2fsprogs::ensure()?;
    let busybox =
        std::fs::read(&guests.busybox).map_err(|e| format!("{}: {e}", guests.busybox.display()))?;
    let vmlinuz =
        std::fs::read(&guests.vmlinuz).map_err(|e| format!("{}: {e}", guests.vmlinuz.display()))?;
    let initrd = crate::guests::linux_initramfs(&guests)?;
    let applets = crate::guests::busybox_applets(&guests.busybox)?;
    ensure_image(
        &images.disk,
        &linux_root_tree(&busybox, &applets),
        &boot_tree(&vmlinuz, &initrd),
        &e2fs,
    )
}

/// The image at `path` with `tree` as the Linux root and `boot` as the boot disk, (re)built
/// unless its stamp says it already is.
pub fn ensure_image(
    path: &Path,
    tree: &[Member],
    boot: &[Member],
    e2fs: &E2fsprogs,
) -> Result<Outcome, String> {
    let fat = crate::dosfstools::FatTools::ensure()?;
    let stamp_path = stamp_path(path);
    let stamp = stamp_text(tree, boot, e2fs, &fat);
    let current = std::fs::metadata(path).is_ok_and(|m| m.len() == DISK_BYTES)
        && std::fs::read_to_string(&stamp_path).is_ok_and(|s| s == stamp);
    if current {
        return Ok(Outcome::UpToDate);
    }
    let started = Instant::now();
    let _ = std::fs::remove_file(&stamp_path);
    // Per process: two builds at once (tests of several developers) must not share them.
    let work = path.with_extension(format!("build.{}", std::process::id()));
    remove_abandoned_work(path);
    let result = build(path, &work, tree, boot, e2fs, &fat);
    let _ = std::fs::remove_dir_all(&work);
    result?;
    std::fs::write(&stamp_path, stamp).map_err(|e| format!("{}: {e}", stamp_path.display()))?;
    eprintln!(
        "xtask: disk image {} built in {:.1} s",
        path.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(Outcome::Built)
}

/// Removes `disk.build.<pid>/` directories beside `image` whose process is gone (killed
/// mid-build).
fn remove_abandoned_work(image: &Path) {
    let (Some(dir), Some(stem)) = (image.parent(), image.file_stem()) else {
        return;
    };
    let prefix = format!("{}.build.", stem.to_string_lossy());
    let Ok(list) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in list.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = name.strip_prefix(&prefix) else {
            continue;
        };
        let gone = pid.parse::<u32>().is_ok_and(|pid| {
            pid != std::process::id() && !Path::new("/proc").join(pid.to_string()).exists()
        });
        if gone {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// `disk.img.stamp` beside `disk.img`.
pub fn stamp_path(image: &Path) -> PathBuf {
    let mut name = image.file_name().unwrap_or_default().to_os_string();
    name.push(".stamp");
    image.with_file_name(name)
}

/// The description of every input of the image, one line each.
fn stamp_text(
    tree: &[Member],
    boot: &[Member],
    e2fs: &E2fsprogs,
    fat: &crate::dosfstools::FatTools,
) -> String {
    let mut s = format!("disk image format {FORMAT}, {DISK_BYTES} bytes\n");
    s += &format!("disk guid {DISK_GUID:032x}\n");
    for p in &LAYOUT {
        s += &format!(
            "partition {} {} lba {}..={} guid {:032x} {:?}\n",
            p.index,
            p.name,
            p.first_lba(),
            p.last_lba(),
            p.guid,
            p.contents
        );
    }
    s += &format!(
        "mkfs.ext4 {}\n",
        mkfs_args(ROOT_FS_LABEL, ROOT_FS_UUID).join(" ")
    );
    s += &format!(
        "mkfs.ext4 {}\n",
        mkfs_args(BOOT_FS_LABEL, BOOT_FS_UUID).join(" ")
    );
    for d in &e2fs.debs {
        s += &format!("deb {} {}\n", d.file, d.size);
    }
    s += &format!("mkfs.fat {}\n", mkfs_fat_args().join(" "));
    s += &format!("dom0 dirs {}\n", DOM0_DIRS.join(" "));
    for d in &fat.debs {
        s += &format!("deb {} {}\n", d.file, d.size);
    }
    s += &tree_stamp(tree);
    s += "boot disk\n";
    s += &tree_stamp(boot);
    s
}

/// One line a member of `tree`: its kind, path, mode and (files) size and CRC32.
fn tree_stamp(tree: &[Member]) -> String {
    let mut s = String::new();
    for m in tree {
        s += &match *m {
            Member::File { path, mode, data } => format!(
                "file {path} {mode:o} {} bytes crc32 {:08x}\n",
                data.len(),
                crc32fast::hash(data)
            ),
            Member::Dir { path, mode } => format!("dir {path} {mode:o}\n"),
            Member::Symlink { path, target } => format!("symlink {path} -> {target}\n"),
            Member::CharDevice {
                path,
                mode,
                major,
                minor,
            } => format!("chardev {path} {mode:o} {major}:{minor}\n"),
        };
    }
    s
}

/// `mkfs.ext4`'s options (then the tree and the file): quiet, no questions, the usual
/// ext4 of mke2fs.conf's `[defaults]` (4 KiB blocks, 256-byte inodes) rather than the
/// `small` type its size would pick, a fixed label and UUID, the root directory root's.
fn mkfs_args(label: &str, uuid: &str) -> Vec<String> {
    [
        "-q",
        "-F",
        "-T",
        "default",
        "-b",
        "4096",
        "-L",
        label,
        "-U",
        uuid,
        "-E",
        "root_owner=0:0",
    ]
    .map(String::from)
    .into()
}

/// `mkfs.fat`'s options (then the file): FAT32, 512-byte sectors, 4 KiB clusters (98000 of
/// them: FAT32 needs at least 65525), a fixed label and serial, no timestamps from the clock
/// (`--invariant`: the same image each build).
fn mkfs_fat_args() -> Vec<String> {
    [
        "-F",
        "32",
        "-S",
        "512",
        "-s",
        "8",
        "-n",
        DOM0_FS_LABEL,
        "-i",
        DOM0_FS_ID,
        "--invariant",
    ]
    .map(String::from)
    .into()
}

/// dom0's storage in the file `fs` of `bytes` bytes: formatted, its directories made,
/// checked.
fn make_dom0_storage(
    fs: &Path,
    bytes: u64,
    fat: &crate::dosfstools::FatTools,
) -> Result<(), String> {
    let file = File::create(fs).map_err(|e| format!("{}: {e}", fs.display()))?;
    file.set_len(bytes)
        .map_err(|e| format!("{}: {e}", fs.display()))?;
    drop(file);
    let mut mkfs = fat.command("mkfs.fat")?;
    mkfs.args(mkfs_fat_args()).arg(fs);
    run(&mut mkfs, "mkfs.fat")?;
    let mut mmd = fat.command("mmd")?;
    mmd.arg("-i").arg(fs);
    mmd.args(DOM0_DIRS.iter().map(|d| format!("::{d}")));
    run(&mut mmd, "mmd (dom0's directories)")?;
    let mut fsck = fat.command("fsck.fat")?;
    fsck.arg("-n").arg(fs);
    run(&mut fsck, "fsck.fat -n (of the new filesystem)").map(|_| ())
}

/// The partition of [`LAYOUT`] holding `contents`.
fn part_of(contents: Contents) -> &'static Part {
    LAYOUT
        .iter()
        .find(|p| p.contents == contents)
        .expect("the layout has each filesystem")
}

/// Builds the image at `path`, working in `work`.
fn build(
    path: &Path,
    work: &Path,
    tree: &[Member],
    boot: &[Member],
    e2fs: &E2fsprogs,
    fat: &crate::dosfstools::FatTools,
) -> Result<(), String> {
    if work.exists() {
        std::fs::remove_dir_all(work).map_err(|e| format!("{}: {e}", work.display()))?;
    }
    let mut filesystems = Vec::new();
    for (name, contents, tree, label, uuid) in [
        (
            "linux-root",
            Contents::LinuxRoot,
            tree,
            ROOT_FS_LABEL,
            ROOT_FS_UUID,
        ),
        ("boot", Contents::Boot, boot, BOOT_FS_LABEL, BOOT_FS_UUID),
    ] {
        let tree_dir = work.join(format!("{name}.tree"));
        std::fs::create_dir_all(&tree_dir).map_err(|e| format!("{}: {e}", tree_dir.display()))?;
        let part = part_of(contents);
        let fs = work.join(format!("{name}.ext4"));
        make_ext4(
            &fs,
            part.bytes,
            &tree_dir,
            tree,
            &mkfs_args(label, uuid),
            e2fs,
        )?;
        filesystems.push((fs, part.offset));
    }
    let part = part_of(Contents::Dom0Storage);
    let fs = work.join("xen-dom0.fat");
    make_dom0_storage(&fs, part.bytes, fat)?;
    filesystems.push((fs, part.offset));
    let tmp = work.join("disk.img");
    write_image(&tmp, &filesystems)?;
    std::fs::rename(&tmp, path)
        .map_err(|e| format!("renaming {} to {}: {e}", tmp.display(), path.display()))
}

/// The ext4 filesystem of `tree` in the file `fs` of `bytes` bytes (`tree_dir` is scratch).
fn make_ext4(
    fs: &Path,
    bytes: u64,
    tree_dir: &Path,
    tree: &[Member],
    args: &[String],
    e2fs: &E2fsprogs,
) -> Result<(), String> {
    let fixups = lay_out(tree_dir, tree)?;
    let file = File::create(fs).map_err(|e| format!("{}: {e}", fs.display()))?;
    file.set_len(bytes)
        .map_err(|e| format!("{}: {e}", fs.display()))?;
    drop(file);
    let mut mkfs = e2fs.command("mkfs.ext4")?;
    mkfs.args(args).arg("-d").arg(tree_dir).arg(fs);
    run(&mut mkfs, "mkfs.ext4")?;
    let script = fs.with_extension("debugfs");
    std::fs::write(&script, fixups.join("\n") + "\n")
        .map_err(|e| format!("{}: {e}", script.display()))?;
    let mut debugfs = e2fs.command("debugfs")?;
    debugfs.arg("-w").arg("-f").arg(&script).arg(fs);
    let out = run(&mut debugfs, "debugfs -w")?;
    // debugfs exits 0 when a request fails: its standard error says so.
    let stderr = String::from_utf8_lossy(&out.stderr);
    let errors: Vec<&str> = stderr
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with("debugfs "))
        .collect();
    if !errors.is_empty() {
        return Err(format!(
            "debugfs -w -f {}: {}",
            script.display(),
            errors.join("; ")
        ));
    }
    let mut fsck = e2fs.command("e2fsck")?;
    fsck.arg("-fn").arg(fs);
    run(&mut fsck, "e2fsck -fn (of the new filesystem)").map(|_| ())
}

/// Runs `cmd`; an error names `what`, the exit status and the output.
fn run(cmd: &mut Command, what: &str) -> Result<std::process::Output, String> {
    let out = cmd.output().map_err(|e| format!("{what}: {e}"))?;
    if out.status.success() {
        return Ok(out);
    }
    Err(format!(
        "{what} failed ({}): {}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout).trim(),
        String::from_utf8_lossy(&out.stderr).trim()
    ))
}

/// Writes `tree` under `dir` (files, directories, symlinks, with their modes) and returns
/// the `debugfs -w` requests that finish it inside the filesystem: every entry owned by
/// root (`mkfs.ext4 -d` copies the owner, which is not root when xtask is not) and the
/// device nodes (which only root could create in `dir`).
pub fn lay_out(dir: &Path, tree: &[Member]) -> Result<Vec<String>, String> {
    let err = |p: &Path, e: std::io::Error| format!("{}: {e}", p.display());
    let mut requests = Vec::new();
    let mut dir_modes = Vec::new();
    for m in tree {
        let rel = member_path(m);
        let path = dir.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| err(parent, e))?;
        }
        match *m {
            Member::Dir { mode, .. } => {
                std::fs::create_dir_all(&path).map_err(|e| err(&path, e))?;
                dir_modes.push((path.clone(), mode));
            }
            Member::File { mode, data, .. } => {
                std::fs::write(&path, data).map_err(|e| err(&path, e))?;
                set_mode(&path, mode)?;
            }
            Member::Symlink { target, .. } => {
                std::os::unix::fs::symlink(target, &path).map_err(|e| err(&path, e))?;
            }
            Member::CharDevice {
                mode, major, minor, ..
            } => {
                let (parent, name) = match rel.rsplit_once('/') {
                    Some((p, n)) => (format!("/{p}"), n),
                    None => ("/".to_string(), rel),
                };
                requests.push(format!("cd {parent}"));
                requests.push(format!("mknod {name} c {major} {minor}"));
                requests.push(format!("sif /{rel} mode 0{:o}", 0o020000 | mode));
            }
        }
        requests.push(format!("sif /{rel} uid 0"));
        requests.push(format!("sif /{rel} gid 0"));
    }
    // Directory modes last, deepest first: a read-only directory is filled before.
    for (path, mode) in dir_modes.iter().rev() {
        set_mode(path, *mode)?;
    }
    Ok(requests)
}

fn member_path<'a>(m: &Member<'a>) -> &'a str {
    match *m {
        Member::File { path, .. }
        | Member::Dir { path, .. }
        | Member::Symlink { path, .. }
        | Member::CharDevice { path, .. } => path.trim_start_matches('/'),
    }
}

fn set_mode(path: &Path, mode: u32) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(|e| format!("{}: {e}", path.display()))
}

/// The image: [`DISK_BYTES`] sparse, protective MBR and GPT of [`LAYOUT`], each filesystem
/// of `filesystems` (a file and its byte offset in the image) in place.
fn write_image(path: &Path, filesystems: &[(PathBuf, u64)]) -> Result<(), String> {
    let err = |e: std::io::Error| format!("{}: {e}", path.display());
    // Read and write: the gpt crate reads the device back.
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
        .map_err(err)?;
    file.set_len(DISK_BYTES).map_err(err)?;
    let sectors = DISK_BYTES / SECTOR;
    let mbr = gpt::mbr::ProtectiveMBR::with_lb_size(u32::try_from(sectors - 1).unwrap_or(u32::MAX));
    mbr.overwrite_lba0(&mut file)
        .map_err(|e| format!("{}: protective MBR: {e}", path.display()))?;
    let gpt_err = |e: gpt::GptError| format!("{}: GPT: {e}", path.display());
    let mut disk = gpt::GptConfig::new()
        .writable(true)
        .logical_block_size(gpt::disk::LogicalBlockSize::Lb512)
        .create_from_device(file, Some(uuid::Uuid::from_u128(DISK_GUID)))
        .map_err(gpt_err)?;
    let parts = LAYOUT
        .iter()
        .map(|p| {
            let entry = gpt::partition::Partition {
                part_type_guid: match p.contents {
                    Contents::Dom0Storage => gpt::partition_types::BASIC,
                    _ => gpt::partition_types::LINUX_FS,
                },
                part_guid: uuid::Uuid::from_u128(p.guid),
                first_lba: p.first_lba(),
                last_lba: p.last_lba(),
                flags: 0,
                name: p.name.to_string(),
            };
            (p.index, entry)
        })
        .collect();
    disk.update_partitions(parts).map_err(gpt_err)?;
    let file = disk.write().map_err(gpt_err)?;
    for (fs, offset) in filesystems {
        copy_sparse(fs, &file, *offset)?;
    }
    file.sync_all().map_err(err)
}

/// The block size of [`copy_sparse`]: ext4's.
const BLOCK: usize = 4096;

/// Copies the file `from` into `to` at `offset`, writing only blocks that are not all
/// zeros (`to` holds zeros there already: a hole stays a hole). Returns the bytes written.
pub fn copy_sparse(from: &Path, to: &File, offset: u64) -> Result<u64, String> {
    let src = File::open(from).map_err(|e| format!("{}: {e}", from.display()))?;
    let len = src
        .metadata()
        .map_err(|e| format!("{}: {e}", from.display()))?
        .len();
    let mut buf = vec![0u8; 256 * BLOCK];
    let (mut at, mut written) = (0u64, 0u64);
    while at < len {
        let n = buf.len().min((len - at) as usize);
        src.read_exact_at(&mut buf[..n], at)
            .map_err(|e| format!("{}: {e}", from.display()))?;
        for (i, block) in buf[..n].chunks(BLOCK).enumerate() {
            if block.iter().any(|&b| b != 0) {
                let pos = offset + at + (i * BLOCK) as u64;
                to.write_all_at(block, pos)
                    .map_err(|e| format!("writing the disk image at byte {pos}: {e}"))?;
                written += block.len() as u64;
            }
        }
        at += n as u64;
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;
    use dom0_tools::gpt::{self, BlockRead, Guid};
    use std::os::unix::fs::MetadataExt;

    fn scratch(name: &str) -> PathBuf {
        let dir = crate::qemu::workspace_root()
            .join("target/xtask-test")
            .join(format!("{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn the_layout_fits_the_disk_aligned_and_apart() {
        let sectors = DISK_BYTES / SECTOR;
        // The GPT's own: MBR, header and 128 entries of 128 bytes at each end.
        let (first_usable, last_usable) = (34, sectors - 34);
        for (i, p) in LAYOUT.iter().enumerate() {
            assert_eq!(p.index as usize, i + 1, "slots in order from 1");
            assert_eq!(p.offset % MIB, 0, "{} starts on a MiB", p.name);
            assert_eq!(p.bytes % MIB, 0, "{} is whole MiBs", p.name);
            assert!(p.first_lba() >= first_usable && p.last_lba() <= last_usable);
            assert!(p.name.encode_utf16().count() <= 36);
            if let Some(next) = LAYOUT.get(i + 1) {
                assert!(
                    p.last_lba() < next.first_lba(),
                    "{} before {}",
                    p.name,
                    next.name
                );
            }
        }
        assert_eq!(
            LAYOUT
                .iter()
                .filter(|p| p.contents == Contents::LinuxRoot)
                .count(),
            1
        );
        assert_eq!(LAYOUT[1].name, "linux-root");
        assert_eq!(
            LAYOUT
                .iter()
                .filter(|p| p.contents == Contents::Boot)
                .count(),
            1
        );
        assert_eq!(
            (LAYOUT[1].first_lba(), LAYOUT[1].last_lba()),
            (18432, 215039)
        );
    }

    #[test]
    fn sparse_copy_writes_only_non_zero_blocks() {
        let dir = scratch("disk-sparse");
        let src = dir.join("src");
        let mut data = vec![0u8; 40 * BLOCK + 100];
        data[5] = 1; // block 0
        data[BLOCK * 7 + BLOCK - 1] = 2; // the last byte of block 7
        data[40 * BLOCK + 99] = 3; // the short tail
        std::fs::write(&src, &data).unwrap();
        let dst = dir.join("dst");
        let f = File::create(&dst).unwrap();
        f.set_len(1 << 20).unwrap();
        let written = copy_sparse(&src, &f, 8192).unwrap();
        assert_eq!(written, 2 * BLOCK as u64 + 100);
        let out = std::fs::read(&dst).unwrap();
        assert_eq!(out.len(), 1 << 20);
        assert!(out[..8192].iter().all(|&b| b == 0));
        assert!(out[8192..8192 + data.len()] == data[..], "the copy");
        assert!(out[8192 + data.len()..].iter().all(|&b| b == 0));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_tree_on_disk_and_its_debugfs_requests() {
        let dir = scratch("disk-tree");
        let tree = [
            Member::Dir {
                path: "proc",
                mode: 0o555,
            },
            Member::File {
                path: "usr/bin/tool",
                mode: 0o750,
                data: b"x",
            },
            Member::Symlink {
                path: "bin/sh",
                target: "busybox",
            },
            Member::CharDevice {
                path: "dev/console",
                mode: 0o600,
                major: 5,
                minor: 1,
            },
        ];
        let requests = lay_out(&dir, &tree).unwrap();
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &str| {
            std::fs::symlink_metadata(dir.join(p))
                .unwrap()
                .permissions()
                .mode()
        };
        assert_eq!(mode("proc") & 0o7777, 0o555);
        assert_eq!(mode("usr/bin/tool") & 0o7777, 0o750);
        assert_eq!(std::fs::read(dir.join("usr/bin/tool")).unwrap(), b"x");
        assert_eq!(
            std::fs::read_link(dir.join("bin/sh")).unwrap(),
            Path::new("busybox")
        );
        assert!(
            !dir.join("dev/console").exists(),
            "device nodes are made by debugfs"
        );
        assert_eq!(
            requests,
            [
                "sif /proc uid 0",
                "sif /proc gid 0",
                "sif /usr/bin/tool uid 0",
                "sif /usr/bin/tool gid 0",
                "sif /bin/sh uid 0",
                "sif /bin/sh gid 0",
                "cd /dev",
                "mknod console c 5 1",
                "sif /dev/console mode 020600",
                "sif /dev/console uid 0",
                "sif /dev/console gid 0",
            ]
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn abandoned_build_directories_are_removed() {
        let dir = scratch("disk-abandoned");
        let image = dir.join("disk.img");
        let own = format!("disk.build.{}", std::process::id());
        for name in [
            "disk.build.4294967295",
            "disk.build.1",
            &own,
            "disk.build.x",
            "other.build.4294967295",
        ] {
            std::fs::create_dir_all(dir.join(name).join("tree")).unwrap();
        }
        remove_abandoned_work(&image);
        let mut left: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        let mut want = vec![
            "disk.build.1",
            own.as_str(),
            "disk.build.x",
            "other.build.4294967295",
        ];
        want.sort();
        assert_eq!(left, want, "only the dead process's directory goes");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A disk image whose primary GPT header reads as zeros.
    struct NoPrimary(File, u64);

    impl BlockRead for NoPrimary {
        type Error = std::io::Error;
        fn sector_count(&self) -> u64 {
            self.1
        }
        fn read_sector(&mut self, lba: u64, buf: &mut [u8; 512]) -> std::io::Result<()> {
            self.0.read_exact_at(buf, lba * SECTOR)?;
            if lba == 1 {
                buf.fill(0);
            }
            Ok(())
        }
    }

    /// The real image from the real inputs (Debian's busybox and e2fsprogs, fetched on first
    /// use), built in a scratch directory and read back with dom0's GPT reader and the e2e
    /// tests' e2fsprogs helpers.
    #[test]
    fn the_disk_image_holds_a_gpt_and_the_linux_root_filesystem() {
        let dir = scratch("disk-image");
        let image = dir.join("disk.img");
        let guests = crate::guests::Cache::new()
            .ensure(false)
            .expect("Debian's guests");
        let e2fs = E2fsprogs::ensure().expect("Debian's e2fsprogs");
        let busybox = std::fs::read(&guests.busybox).unwrap();
        let vmlinuz = std::fs::read(&guests.vmlinuz).unwrap();
        let initrd = crate::guests::linux_initramfs(&guests).expect("the initramfs");
        let applets = crate::guests::busybox_applets(&guests.busybox).unwrap();
        let tree = linux_root_tree(&busybox, &applets);
        let boot = boot_tree(&vmlinuz, &initrd);
        let started = Instant::now();
        assert_eq!(
            ensure_image(&image, &tree, &boot, &e2fs),
            Ok(Outcome::Built)
        );
        let first = started.elapsed();
        let started = Instant::now();
        assert_eq!(
            ensure_image(&image, &tree, &boot, &e2fs),
            Ok(Outcome::UpToDate)
        );
        eprintln!(
            "disk image: built in {:.2} s, up to date in {:.3} s",
            first.as_secs_f64(),
            started.elapsed().as_secs_f64()
        );
        let meta = std::fs::metadata(&image).unwrap();
        assert_eq!(meta.len(), DISK_BYTES);
        // Sparse: the files' data and at most 6 MiB of the filesystems' own (dom0's FAT32:
        // two FATs of 384 KiB), nothing else.
        let data: u64 = tree
            .iter()
            .chain(&boot)
            .map(|m| match m {
                Member::File { data, .. } => data.len() as u64,
                _ => 0,
            })
            .sum();
        assert!(
            meta.blocks() * 512 <= data + 6 * MIB && meta.blocks() * 512 < DISK_BYTES / 4,
            "sparse: {} bytes allocated for {data} bytes of files",
            meta.blocks() * 512
        );
        let left: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(left.len(), 2, "the image and its stamp only: {left:?}");

        // The table as dom0 reads it, from the primary header and from the backup.
        let gpt = ::tests::disk::read_gpt(&image).expect("a valid GPT");
        assert_eq!(gpt.source, gpt::Source::Primary);
        assert_eq!(
            gpt.disk_guid.to_string(),
            uuid::Uuid::from_u128(DISK_GUID).to_string().to_uppercase()
        );
        assert_eq!(gpt.partitions.len(), LAYOUT.len());
        for (p, want) in gpt.partitions.iter().zip(&LAYOUT) {
            assert_eq!(
                (p.index, p.name.as_str(), p.first_lba, p.last_lba),
                (want.index, want.name, want.first_lba(), want.last_lba())
            );
            let basic_data = Guid::from_fields(
                0xEBD0_A0A2,
                0xB9E5,
                0x4433,
                [0x87, 0xC0, 0x68, 0xB6, 0xB7, 0x26, 0x99, 0xC7],
            );
            let kind = match want.contents {
                Contents::Dom0Storage => basic_data,
                _ => Guid::LINUX_FS_DATA,
            };
            assert_eq!(p.type_guid, kind, "{}", p.name);
            assert_eq!(
                p.unique_guid.to_string(),
                uuid::Uuid::from_u128(want.guid).to_string().to_uppercase()
            );
        }
        let mut no_primary = NoPrimary(File::open(&image).unwrap(), DISK_BYTES / SECTOR);
        let backup = gpt::read(&mut no_primary).expect("the backup GPT");
        assert_eq!(
            backup.source,
            gpt::Source::Backup {
                primary: gpt::Invalid::BadSignature
            }
        );
        assert_eq!(backup.partitions, gpt.partitions);

        // Partition 2: ext4 (the superblock at 1024: magic 0xEF53 at 56, label at 120).
        let file = File::open(&image).unwrap();
        let p2 = gpt.partition(2).unwrap();
        let mut sb = [0u8; 1024];
        file.read_exact_at(&mut sb, p2.byte_offset() + 1024)
            .unwrap();
        assert_eq!(u16::from_le_bytes([sb[56], sb[57]]), 0xEF53, "ext4 magic");
        assert_eq!(&sb[120..120 + ROOT_FS_LABEL.len() + 1], b"linux-root\0");
        // Partition 3: ext4 too, labelled boot.
        let p3 = gpt.partition(3).unwrap();
        file.read_exact_at(&mut sb, p3.byte_offset() + 1024)
            .unwrap();
        assert_eq!(u16::from_le_bytes([sb[56], sb[57]]), 0xEF53, "ext4 magic");
        assert_eq!(&sb[120..120 + BOOT_FS_LABEL.len() + 1], b"boot\0");
        // Partition 1 holds zeros.
        let p1 = gpt.partition(1).unwrap();
        let mut data = vec![0u8; (p1.sectors() * SECTOR) as usize];
        file.read_exact_at(&mut data, p1.byte_offset()).unwrap();
        assert!(data.iter().all(|&b| b == 0), "partition 1 is zeros");
        // Partition 4: dom0's storage, FAT32 with its directories, clean by fsck.fat; the
        // e2e tests' helpers find the same tools.
        let fat = ::tests::fat::FatTools::at(&crate::dosfstools::cache_dir().join("root"));
        let vol = ::tests::fat::Fat::in_image(&image).unwrap();
        assert_eq!(vol.offset, 128 * MIB);
        let report = fat.fsck(&vol).expect("clean");
        assert!(report.contains(" files, "), "{report}");
        assert_eq!(fat.ls(&vol, "/").unwrap(), ["etc", "var"]);
        assert_eq!(fat.ls(&vol, "/var/lib").unwrap(), ["xen"]);
        assert!(fat.ls(&vol, "/etc/xen").unwrap().is_empty());

        // The e2e tests' helpers find the same e2fsprogs and read the filesystem back.
        let tools = ::tests::disk::E2fsprogs::at(&crate::e2fsprogs::cache_dir().join("root"));
        let root = ::tests::disk::ext4_partition(&image, ::tests::disk::LINUX_ROOT).unwrap();
        assert_eq!(root.offset, 9 * MIB);
        let report = tools.e2fsck(&root).expect("clean");
        assert!(report.contains("linux-root: "), "{report}");
        assert!(
            tools.cat(&root, "/bin/busybox").unwrap() == busybox,
            "busybox"
        );
        let init = tools.cat(&root, "/init").unwrap();
        assert!(init.starts_with(b"#!/bin/busybox sh\n"));
        let console =
            String::from_utf8(tools.debugfs(&root, "stat /dev/console").unwrap()).unwrap();
        assert!(
            console.contains("Type: character special    Mode:  0600"),
            "{console}"
        );
        assert!(console.contains("User:     0   Group:     0"), "{console}");
        assert!(
            console.contains("Device major/minor number: 05:01"),
            "{console}"
        );
        let ls = String::from_utf8(tools.debugfs(&root, "ls -l /bin").unwrap()).unwrap();
        assert!(ls.contains(" sh") && ls.contains(" busybox"), "{ls}");
        // busybox's applets are linked on the disk (a read-only root cannot link them).
        let init = String::from_utf8(tools.debugfs(&root, "stat /sbin/init").unwrap()).unwrap();
        assert!(init.contains("Fast link dest: \"/bin/busybox\""), "{init}");
        // The boot disk: the kernel, the initrd and GRUB's menu, clean.
        let bootfs = ::tests::disk::ext4_partition(&image, ::tests::disk::BOOT).unwrap();
        assert_eq!(bootfs.offset, 105 * MIB);
        let report = tools.e2fsck(&bootfs).expect("clean");
        assert!(report.contains("boot: "), "{report}");
        assert!(
            tools.cat(&bootfs, "/boot/vmlinuz").unwrap() == vmlinuz,
            "vmlinuz"
        );
        assert!(
            tools.cat(&bootfs, "/boot/initrd.img").unwrap() == initrd,
            "initrd"
        );
        let cfg = tools.cat(&bootfs, "/boot/grub/grub.cfg").unwrap();
        assert_eq!(cfg, GRUB_CFG.as_bytes());
        for line in [
            "set default=0",
            "set timeout=1",
            "linux /boot/vmlinuz console=hvc0 booted_by=pvgrub-disk",
            "initrd /boot/initrd.img",
        ] {
            assert!(
                GRUB_CFG.lines().any(|l| l.trim() == line),
                "grub.cfg lacks {line:?}"
            );
        }
        let stat =
            String::from_utf8(tools.debugfs(&bootfs, "stat /boot/vmlinuz").unwrap()).unwrap();
        assert!(stat.contains("User:     0   Group:     0"), "{stat}");
        let missing = tools.cat(&root, "/no/such/file").unwrap_err();
        assert!(missing.contains("File not found"), "{missing}");

        // A changed input rebuilds; a damaged or missing stamp too.
        let mut other = tree.clone();
        other.push(Member::File {
            path: "etc/hostname",
            mode: 0o644,
            data: b"linux\n",
        });
        assert_eq!(
            ensure_image(&image, &other, &boot, &e2fs),
            Ok(Outcome::Built)
        );
        assert_eq!(tools.cat(&root, "/etc/hostname").unwrap(), b"linux\n");
        // So does a changed boot disk (another kernel).
        let other_kernel = b"another kernel".repeat(100);
        let other_boot = boot_tree(&other_kernel, &initrd);
        assert_eq!(
            ensure_image(&image, &other, &other_boot, &e2fs),
            Ok(Outcome::Built)
        );
        assert!(tools.cat(&bootfs, "/boot/vmlinuz").unwrap() == other_kernel);
        assert_eq!(
            ensure_image(&image, &other, &boot, &e2fs),
            Ok(Outcome::Built)
        );
        std::fs::write(stamp_path(&image), "junk").unwrap();
        assert_eq!(
            ensure_image(&image, &other, &boot, &e2fs),
            Ok(Outcome::Built)
        );
        std::fs::remove_file(stamp_path(&image)).unwrap();
        assert_eq!(
            ensure_image(&image, &other, &boot, &e2fs),
            Ok(Outcome::Built)
        );
        assert_eq!(
            ensure_image(&image, &other, &boot, &e2fs),
            Ok(Outcome::UpToDate)
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
