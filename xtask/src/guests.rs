//! `cargo xtask guests [--refresh]`: the guests users run, from Debian's packages.
//!
//! - `linux-image-amd64`, resolved with `apt-cache depends` to the versioned
//!   `linux-image-<abi>-amd64` it depends on: `/boot/vmlinuz-<abi>-amd64`, a bzImage with Xen
//!   PV guest support built in (console, xenbus, balloon);
//! - `busybox-static`: `/bin/busybox`, from which [`initramfs`] builds the Linux domU's
//!   initramfs (`xtask/initramfs/`);
//! - `grub-xen-host`: PV-GRUB, `/usr/lib/grub-xen/grub-x86_64-xen.bin`.
//!
//! They are fetched with `apt-get download` into `target/debian/debs/` and unpacked with
//! `dpkg -x` into `target/debian/root/` (nothing is installed on the host). Of the kernel's
//! modules (`lib/modules/<release>/`) only those the initramfs carries stay ([`modules`]:
//! xen-blkfront, xen-netfront, ext4 and what they need); `/init` loads them at boot and, given
//! `root=/dev/xvda` on the kernel's command line, mounts that disk and switches to it.
//! `target/debian/stamp`, written last, names each `.deb` and its size: while it matches the
//! cache, nothing runs apt and nothing touches the network. `--refresh` asks apt again and
//! downloads only what changed (a newer kernel after `apt-get update`).

use crate::prereq;
use dom0_tools::initrd::Member;

pub mod modules;
pub use modules::LinuxModules;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Instant;

/// The kernel's metapackage; it depends on the versioned kernel package.
pub const KERNEL_METAPACKAGE: &str = "linux-image-amd64";
/// Debian's statically linked busybox.
pub const BUSYBOX_PACKAGE: &str = "busybox-static";
/// PV-GRUB for 64-bit Xen PV guests.
pub const PVGRUB_PACKAGE: &str = "grub-xen-host";

/// busybox in the unpacked tree (and in the initramfs).
const BUSYBOX_PATH: &str = "bin/busybox";
/// PV-GRUB's image in the unpacked tree.
const PVGRUB_PATH: &str = "usr/lib/grub-xen/grub-x86_64-xen.bin";

/// The start of the line the initramfs's `/init` prints once it has mounted /proc, /sys and
/// /dev: `busybox initramfs up: Linux <release>, console hvc0`.
pub const BANNER: &str = "busybox initramfs up";
/// The prompt of the shell on the domU's console (`/etc/profile`).
pub const PROMPT: &str = "linux# ";

const INIT: &str = include_str!("../initramfs/init");
const INITTAB: &str = include_str!("../initramfs/inittab");
const PROFILE: &str = include_str!("../initramfs/profile");
const UDHCPC_SCRIPT: &str = include_str!("../initramfs/udhcpc.script");
const HOTPLUG: &str = include_str!("../initramfs/hotplug");

/// Where the three guests lie once fetched and unpacked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Guests {
    /// Debian's kernel, `root/boot/vmlinuz-<abi>-amd64`.
    pub vmlinuz: PathBuf,
    /// `root/bin/busybox`.
    pub busybox: PathBuf,
    /// `root/usr/lib/grub-xen/grub-x86_64-xen.bin`.
    pub pvgrub: PathBuf,
    /// `root/lib/modules/<release>`: the modules the initramfs carries (the kernel's release).
    pub modules: PathBuf,
    /// The `.deb` files they came from, in `target/debian/debs/`.
    pub debs: Vec<CachedDeb>,
}

/// One downloaded package: its file name as apt-get names it and its size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedDeb {
    pub file: String,
    pub size: u64,
}

/// The cache's directories under `target/debian/` of one workspace.
#[derive(Debug, Clone)]
pub struct Cache {
    dir: PathBuf,
}

impl Cache {
    /// `target/debian/` of the workspace.
    pub fn new() -> Self {
        Self::at(&crate::qemu::workspace_root().join("target").join("debian"))
    }

    /// A cache in `dir` (tests use a temporary one).
    pub fn at(dir: &Path) -> Self {
        Self {
            dir: dir.to_path_buf(),
        }
    }

    fn debs(&self) -> PathBuf {
        self.dir.join("debs")
    }

    /// The unpacked packages: `root/` (what `dpkg -x` put there).
    pub fn root(&self) -> PathBuf {
        self.dir.join("root")
    }

    fn stamp(&self) -> PathBuf {
        self.dir.join("stamp")
    }

    /// The guests if the cache holds them all (no apt, no network): the stamp's `.deb` files
    /// present with their sizes and the unpacked files there.
    pub fn cached(&self) -> Option<Guests> {
        self.unpacked(self.cached_debs()?).ok()
    }

    /// The `.deb` files the stamp names, if each is there with its size (then `root/` holds
    /// them unpacked: the stamp is written last).
    pub fn cached_debs(&self) -> Option<Vec<CachedDeb>> {
        let text = std::fs::read_to_string(self.stamp()).ok()?;
        let debs = parse_stamp(&text)?;
        let present = debs
            .iter()
            .all(|d| std::fs::metadata(self.debs().join(&d.file)).is_ok_and(|m| m.len() == d.size));
        present.then_some(debs)
    }

    /// The guests' files in the unpacked tree.
    fn unpacked(&self, debs: Vec<CachedDeb>) -> Result<Guests, String> {
        let root = self.root();
        let boot = root.join("boot");
        let mut kernels: Vec<PathBuf> = std::fs::read_dir(&boot)
            .map_err(|e| format!("{}: {e}", boot.display()))?
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("vmlinuz-"))
            })
            .collect();
        kernels.sort();
        let vmlinuz = match kernels.as_slice() {
            [one] => one.clone(),
            [] => return Err(format!("no vmlinuz-* in {}", boot.display())),
            more => return Err(format!("{} kernels in {}", more.len(), boot.display())),
        };
        let release = vmlinuz
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_prefix("vmlinuz-"))
            .unwrap_or_default()
            .to_string();
        let guests = Guests {
            busybox: root.join(BUSYBOX_PATH),
            pvgrub: root.join(PVGRUB_PATH),
            modules: root.join("lib/modules").join(&release),
            vmlinuz,
            debs,
        };
        for (what, path) in [("busybox", &guests.busybox), ("PV-GRUB", &guests.pvgrub)] {
            if !path.is_file() {
                return Err(format!("{what}: {} missing", path.display()));
            }
        }
        for m in modules::LOAD {
            let path = guests.modules.join(m);
            if !path.is_file() {
                return Err(format!("the initramfs's module {} missing", path.display()));
            }
        }
        Ok(guests)
    }

    /// The guests, fetched and unpacked if the cache lacks them (or, with `refresh`, if apt
    /// now names other packages than the cached ones).
    pub fn ensure(&self, refresh: bool) -> Result<Guests, String> {
        if !refresh {
            if let Some(g) = self.cached() {
                return Ok(g);
            }
            // The packages are here but unpacked otherwise (a cache from before the initramfs
            // carried modules): unpack them again, no apt needed.
            if let Some(debs) = self.cached_debs() {
                eprintln!("xtask: guests: unpacking the cached packages again");
                self.unpack(&debs)?;
                return self.unpacked(debs);
            }
        }
        need_apt("the Linux guests")?;
        let started = Instant::now();
        let kernel = with_fresh_index(resolve_kernel)?;
        let packages = [kernel.as_str(), BUSYBOX_PACKAGE, PVGRUB_PACKAGE];
        let wanted = self.fetch("guests", &packages)?;
        let guests = match self.unpacked(wanted.clone()) {
            Ok(g) => g,
            Err(_) => {
                self.unpack(&wanted)?;
                self.unpacked(wanted)?
            }
        };
        eprintln!(
            "xtask: guests: {} ready in {:.1} s",
            self.dir.display(),
            started.elapsed().as_secs_f64()
        );
        Ok(guests)
    }

    /// apt's current `.deb` files of `packages`, downloaded (only those not already here
    /// with their sizes) and unpacked into `root/` (unless the stamp already names exactly
    /// them); older `.deb` files are removed. `what` names the cache in messages.
    pub fn fetch(&self, what: &str, packages: &[&str]) -> Result<Vec<CachedDeb>, String> {
        let wanted = with_fresh_index(|| print_uris(packages))?;
        let debs_dir = self.debs();
        std::fs::create_dir_all(&debs_dir).map_err(|e| format!("{}: {e}", debs_dir.display()))?;
        let missing: Vec<&str> = packages
            .iter()
            .zip(&wanted)
            .filter(|(_, d)| {
                !std::fs::metadata(debs_dir.join(&d.file)).is_ok_and(|m| m.len() == d.size)
            })
            .map(|(p, _)| *p)
            .collect();
        let same = self
            .cached_debs()
            .is_some_and(|d| d == wanted && missing.is_empty());
        if same {
            eprintln!("xtask: {what}: the cache holds apt's current packages");
            self.remove_stale_debs(&wanted);
            return Ok(wanted);
        }
        if !missing.is_empty() {
            let mb = wanted.iter().map(|d| d.size).sum::<u64>() as f64 / 1e6;
            eprintln!(
                "xtask: {what}: apt-get download {} (of {mb:.1} MB in all) into {}",
                missing.join(" "),
                debs_dir.display()
            );
            with_fresh_index(|| download(&debs_dir, &missing))?;
        }
        for d in &wanted {
            let path = debs_dir.join(&d.file);
            let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
            if size != d.size {
                return Err(format!(
                    "{}: {size} bytes after `apt-get download`, apt's index says {}",
                    path.display(),
                    d.size
                ));
            }
        }
        self.unpack(&wanted)?;
        self.remove_stale_debs(&wanted);
        Ok(wanted)
    }

    /// `dpkg -x` of every `.deb` into `root.new/`, its `lib/modules` pruned to what the
    /// initramfs carries ([`modules::prune`]), then renamed to `root/` and the stamp written:
    /// an interrupted run leaves the old cache or none, never half.
    fn unpack(&self, debs: &[CachedDeb]) -> Result<(), String> {
        let (root, new) = (self.root(), self.dir.join("root.new"));
        let _ = std::fs::remove_file(self.stamp());
        for dir in [&new, &root] {
            if dir.exists() {
                std::fs::remove_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
            }
        }
        for d in debs {
            let deb = self.debs().join(&d.file);
            let mut cmd = Command::new("dpkg");
            cmd.arg("-x").arg(&deb).arg(&new);
            run_captured(
                &mut cmd,
                &format!("dpkg -x {} {}", deb.display(), new.display()),
            )?;
        }
        let modules = new.join("lib").join("modules");
        if modules.exists() {
            modules::prune(&modules)?;
        }
        std::fs::rename(&new, &root).map_err(|e| format!("{}: {e}", root.display()))?;
        std::fs::write(self.stamp(), stamp_text(debs))
            .map_err(|e| format!("{}: {e}", self.stamp().display()))
    }

    /// Removes `.deb` files the stamp does not name (older versions), so the cache holds one
    /// kernel.
    fn remove_stale_debs(&self, keep: &[CachedDeb]) {
        let Ok(dir) = std::fs::read_dir(self.debs()) else {
            return;
        };
        for entry in dir.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.ends_with(".deb") && !keep.iter().any(|d| d.file == name) {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
}

/// Checks that apt and dpkg are there, which `what` needs (it comes from Debian's packages).
pub fn need_apt(what: &str) -> Result<(), String> {
    for tool in ["apt-get", "apt-cache", "dpkg"] {
        if !prereq::runs(tool) {
            return Err(format!(
                "{what} come from Debian's packages and need `{tool}` \
                 (a Debian host, as CI's): not found"
            ));
        }
    }
    Ok(())
}

/// `apt-get`/`apt-cache` with output in English (it is parsed) and, as root, the download
/// sandbox user set to root: apt-get would otherwise warn that `_apt` cannot write to
/// `target/` and download as root anyway.
pub fn apt(prog: &str) -> Command {
    let mut cmd = Command::new(prog);
    cmd.env("LC_ALL", "C")
        .env("LANGUAGE", "")
        .env("DEBIAN_FRONTEND", "noninteractive")
        .stdin(Stdio::null());
    if prereq::is_root() {
        cmd.args(["-o", "APT::Sandbox::User=root"]);
    }
    cmd
}

/// Runs `cmd`, capturing its output; an error names `shown` and apt's last words.
pub fn run_captured(cmd: &mut Command, shown: &str) -> Result<Output, String> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("`{shown}`: {e}"))?;
    if out.status.success() {
        return Ok(out);
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    let why: Vec<&str> = stderr
        .lines()
        .filter(|l| !l.trim().is_empty() && !is_sandbox_warning(l))
        .collect();
    let why = why[why.len().saturating_sub(3)..].join("; ");
    Err(format!("`{shown}` failed ({}): {why}", out.status))
}

/// apt-get's harmless warning when it downloads as root into a directory `_apt` cannot
/// write (only if `APT::Sandbox::User` were not set).
fn is_sandbox_warning(line: &str) -> bool {
    line.contains("unsandboxed as root")
}

/// Runs `step`; if it fails, runs `apt-get update` (as root; once per run) and tries again:
/// a missing package or a 404 usually means an old package index. Not as root, the error
/// says to run it.
pub fn with_fresh_index<T>(mut step: impl FnMut() -> Result<T, String>) -> Result<T, String> {
    match step() {
        Ok(v) => Ok(v),
        Err(e) if prereq::is_root() => {
            eprintln!("xtask: {e}\nxtask: updating the package index and retrying");
            prereq::apt_update_once();
            step().map_err(|e| {
                format!("{e} (also after `apt-get update`: is a Debian mirror reachable?)")
            })
        }
        Err(e) => Err(format!(
            "{e}\n(the package index may be old or missing: run `sudo apt-get update` and try again)"
        )),
    }
}

/// The versioned kernel package `linux-image-amd64` depends on, from `apt-cache depends`.
fn resolve_kernel() -> Result<String, String> {
    let shown = format!("apt-cache depends {KERNEL_METAPACKAGE}");
    let out = run_captured(
        apt("apt-cache").args(["depends", KERNEL_METAPACKAGE]),
        &shown,
    )?;
    let text = String::from_utf8_lossy(&out.stdout);
    kernel_package(&text, KERNEL_METAPACKAGE).ok_or_else(|| {
        format!("`{shown}` names no linux-image-*-amd64 package it depends on: {text:?}")
    })
}

/// From `apt-cache depends linux-image-amd64`'s output, the first `linux-image-*-amd64`
/// package of a `Depends:` line (alternatives `|Depends:` included, virtual `<...>` names
/// skipped), other than the metapackage itself.
pub fn kernel_package(apt_cache_depends: &str, meta: &str) -> Option<String> {
    apt_cache_depends.lines().find_map(|line| {
        let rest = line
            .trim()
            .trim_start_matches('|')
            .strip_prefix("Depends:")?;
        let name = rest.split_whitespace().next()?;
        let ok = name.starts_with("linux-image-") && name.ends_with("-amd64") && name != meta;
        ok.then(|| name.to_string())
    })
}

/// What `apt-get download` would fetch for `packages`: `apt-get download --print-uris`
/// (no download) gives each file's name and size, in the order asked.
fn print_uris(packages: &[&str]) -> Result<Vec<CachedDeb>, String> {
    let shown = format!("apt-get download --print-uris {}", packages.join(" "));
    let out = run_captured(
        apt("apt-get")
            .args(["download", "--print-uris"])
            .args(packages),
        &shown,
    )?;
    let debs = parse_print_uris(&String::from_utf8_lossy(&out.stdout));
    packages
        .iter()
        .map(|p| {
            debs.iter()
                .find(|d| d.file.starts_with(&format!("{p}_")))
                .cloned()
                .ok_or_else(|| format!("`{shown}` names no file for {p}"))
        })
        .collect()
}

/// `'URI' FILE SIZE HASH` lines of `apt-get download --print-uris`.
pub fn parse_print_uris(text: &str) -> Vec<CachedDeb> {
    text.lines()
        .filter_map(|line| {
            let mut w = line.split_whitespace();
            let _uri = w.next().filter(|u| u.starts_with('\''))?;
            let file = w
                .next()
                .filter(|f| f.ends_with(".deb") && !f.contains('/'))?;
            let size = w.next()?.parse().ok()?;
            Some(CachedDeb {
                file: file.to_string(),
                size,
            })
        })
        .collect()
}

/// `apt-get download` of `packages` in `dir`.
fn download(dir: &Path, packages: &[&str]) -> Result<(), String> {
    let shown = format!("apt-get download {}", packages.join(" "));
    run_captured(
        apt("apt-get")
            .current_dir(dir)
            .args(["download", "-q"])
            .args(packages),
        &shown,
    )
    .map(|_| ())
}

/// The stamp: one `FILE SIZE` line a `.deb`.
fn stamp_text(debs: &[CachedDeb]) -> String {
    debs.iter()
        .map(|d| format!("{} {}\n", d.file, d.size))
        .collect()
}

/// The stamp's `.deb` files; `None` if it is malformed or empty.
fn parse_stamp(text: &str) -> Option<Vec<CachedDeb>> {
    let debs: Option<Vec<CachedDeb>> = text
        .lines()
        .map(|l| {
            let (file, size) = l.split_once(' ')?;
            Some(CachedDeb {
                file: file.to_string(),
                size: size.trim().parse().ok()?,
            })
        })
        .collect();
    debs.filter(|d| !d.is_empty())
}

/// The Linux domU's initramfs (cpio newc, uncompressed): the [`busybox_root`] tree and the
/// kernel modules `/init` loads ([`LinuxModules::members`]).
pub fn initramfs_with_modules(busybox: &[u8], modules: &LinuxModules) -> Vec<u8> {
    let mut members = busybox_root(busybox);
    members.extend(modules.members());
    dom0_tools::initrd::write_members(&members)
}

/// The Linux domU's initramfs from the unpacked `guests`: their busybox and modules.
pub fn linux_initramfs(guests: &Guests) -> Result<Vec<u8>, String> {
    let busybox =
        std::fs::read(&guests.busybox).map_err(|e| format!("{}: {e}", guests.busybox.display()))?;
    let modules = LinuxModules::resolve(&guests.modules)?;
    Ok(initramfs_with_modules(&busybox, &modules))
}

/// The Linux domU's busybox root tree, the initramfs's and the disk's (`crate::disk`):
/// `/bin/busybox` (its applets linked by `/init` with `busybox --install -s`), `/bin/sh`,
/// `/init`, busybox init's `/etc/inittab`, `/etc/profile`, udhcpc's hook
/// `/usr/share/udhcpc/default.script`, the uevent helper `/sbin/hotplug` (onlines the CPUs
/// `xl vcpu-set` gives back), `/dev/console` (the kernel opens
/// it for init before devtmpfs is mounted) and the mount points.
pub fn busybox_root(busybox: &[u8]) -> Vec<Member<'_>> {
    let dir = |path, mode| Member::Dir { path, mode };
    let file = |path, mode, data| Member::File { path, mode, data };
    vec![
        dir("bin", 0o755),
        dir("sbin", 0o755),
        dir("usr/bin", 0o755),
        dir("usr/sbin", 0o755),
        dir("dev", 0o755),
        Member::CharDevice {
            path: "dev/console",
            mode: 0o600,
            major: 5,
            minor: 1,
        },
        dir("proc", 0o555),
        dir("sys", 0o555),
        dir("tmp", 0o1777),
        dir("root", 0o700),
        file(BUSYBOX_PATH, 0o755, busybox),
        file("bin/blkbench", 0o755, crate::bench::guest_tools::blkbench()),
        Member::Symlink {
            path: "bin/sh",
            target: "busybox",
        },
        file("etc/inittab", 0o644, INITTAB.as_bytes()),
        file("etc/profile", 0o644, PROFILE.as_bytes()),
        file(
            "usr/share/udhcpc/default.script",
            0o755,
            UDHCPC_SCRIPT.as_bytes(),
        ),
        file("sbin/hotplug", 0o755, HOTPLUG.as_bytes()),
        file("init", 0o755, INIT.as_bytes()),
    ]
}

/// busybox's applets by where `busybox --install` would link them (`bin/ls`, `sbin/init`,
/// `usr/bin/awk`, ...): `busybox --list-full` of the unpacked busybox, run on the host (a
/// static x86-64 Linux binary, as Debian's mkfs.ext4 that makes the disk runs here too).
pub fn busybox_applets(busybox: &Path) -> Result<Vec<String>, String> {
    let shown = format!("{} --list-full", busybox.display());
    let out = Command::new(busybox)
        .arg("--list-full")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("`{shown}`: {e}"))?;
    if !out.status.success() {
        return Err(format!("`{shown}` failed ({})", out.status));
    }
    let applets = parse_applets(&String::from_utf8_lossy(&out.stdout));
    if !applets.iter().any(|a| a == "sbin/init") {
        return Err(format!("`{shown}` names no sbin/init: {applets:?}"));
    }
    Ok(applets)
}

/// The lines of `busybox --list-full` that are relative paths without `..`.
fn parse_applets(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('/') && !l.split('/').any(|c| c == ".."))
        .map(str::to_string)
        .collect()
}

/// A symbolic link to `/bin/busybox` for each of `applets` ([`busybox_applets`]) that the
/// [`busybox_root`] tree does not already hold (`bin/sh`): what `/init`'s `busybox --install
/// -s` makes in the initramfs, made ahead for a disk, whose root may be mounted read-only.
pub fn applet_links(applets: &[String]) -> Vec<Member<'_>> {
    let taken: Vec<String> = busybox_root(b"")
        .iter()
        .map(|m| match *m {
            Member::File { path, .. }
            | Member::Dir { path, .. }
            | Member::Symlink { path, .. }
            | Member::CharDevice { path, .. } => path.to_string(),
        })
        .collect();
    applets
        .iter()
        .filter(|a| !taken.contains(a))
        .map(|a| Member::Symlink {
            path: a,
            target: "/bin/busybox",
        })
        .collect()
}

/// What dom0's initrd gains for `guests`, as `(path, contents)`: `/boot/vmlinuz`,
/// `/boot/initramfs-linux`, `/boot/grub-x86_64-xen.bin` and
/// `dom0-tools/examples/debian/*.cfg` as `/etc/xen/*.cfg`.
pub fn dom0_files(guests: &Guests) -> Result<Vec<(String, Vec<u8>)>, String> {
    let read = |p: &Path| std::fs::read(p).map_err(|e| format!("{}: {e}", p.display()));
    let busybox = read(&guests.busybox)?;
    let mut files = vec![
        ("boot/vmlinuz".to_string(), read(&guests.vmlinuz)?),
        ("boot/initramfs-linux".to_string(), linux_initramfs(guests)?),
        (
            "boot/grub-x86_64-xen.bin".to_string(),
            read(&guests.pvgrub)?,
        ),
    ];
    files.extend(bad_kernels(&read(&guests.vmlinuz)?, &busybox));
    files.extend(configs()?);
    Ok(files)
}

/// gzip of `data` (RFC 1952: header, deflate, CRC-32, size).
fn gzip(data: &[u8]) -> Vec<u8> {
    let mut out = vec![0x1F, 0x8B, 8, 0, 0, 0, 0, 0, 0, 3];
    out.extend(miniz_oxide::deflate::compress_to_vec(data, 6));
    out.extend(crc32fast::hash(data).to_le_bytes());
    out.extend((data.len() as u32).to_le_bytes());
    out
}

/// Kernels `xl create` must refuse, naming the cause (the e2e bad-kernel test, configs
/// `dom0-tools/examples/debian/bad-*.cfg`), made from the real ones:
/// - `boot/bad/vmlinuz-truncated`: the first MiB of Debian's bzImage (its payload runs past the end);
/// - `boot/bad/bzimage-no-xen`: Debian's setup header around a gzip payload holding an ELF
///   without Xen notes (busybox): a bzImage of a kernel built without Xen PV support;
/// - `boot/bad/vmlinux-32`: a 32-bit (ELF32, i386) kernel image header.
pub fn bad_kernels(vmlinuz: &[u8], busybox: &[u8]) -> Vec<(String, Vec<u8>)> {
    let truncated = vmlinuz[..(vmlinuz.len() / 2).min(1 << 20)].to_vec();
    // The setup sectors (0x1F1: their count; 0 means 4) then the new payload.
    let sects = match vmlinuz.get(0x1F1).copied().unwrap_or(0) {
        0 => 4,
        n => usize::from(n),
    };
    let setup_len = ((sects + 1) * 512).min(vmlinuz.len());
    let payload = gzip(busybox);
    let mut no_xen = vmlinuz[..setup_len].to_vec();
    if no_xen.len() >= 0x250 {
        no_xen[0x248..0x24C].copy_from_slice(&0u32.to_le_bytes());
        no_xen[0x24C..0x250].copy_from_slice(&(payload.len() as u32).to_le_bytes());
    }
    no_xen.extend(payload);
    // ELF32 header: class 1 (32-bit), little-endian, version 1, executable, EM_386.
    let mut elf32 = vec![0u8; 52];
    elf32[..7].copy_from_slice(&[0x7F, b'E', b'L', b'F', 1, 1, 1]);
    elf32[16..18].copy_from_slice(&2u16.to_le_bytes());
    elf32[18..20].copy_from_slice(&3u16.to_le_bytes());
    elf32[20..24].copy_from_slice(&1u32.to_le_bytes());
    elf32[40..42].copy_from_slice(&52u16.to_le_bytes());
    vec![
        ("boot/bad/vmlinuz-truncated".to_string(), truncated),
        ("boot/bad/bzimage-no-xen".to_string(), no_xen),
        ("boot/bad/vmlinux-32".to_string(), elf32),
    ]
}

/// `dom0-tools/examples/debian/*.cfg` as `(etc/xen/NAME.cfg, contents)`, sorted.
pub fn configs() -> Result<Vec<(String, Vec<u8>)>, String> {
    let dir = crate::qemu::workspace_root().join("dom0-tools/examples/debian");
    let mut cfgs = Vec::new();
    for entry in std::fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))? {
        let path = entry.map_err(|e| format!("{}: {e}", dir.display()))?.path();
        if path.extension().is_some_and(|e| e == "cfg") {
            let name = path.file_name().expect("a file").to_string_lossy();
            let data = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            cfgs.push((format!("etc/xen/{name}"), data));
        }
    }
    cfgs.sort();
    Ok(cfgs)
}

/// Sizes for the summary: `12.3 MB`.
fn mb(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}

fn size_of(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

/// `cargo xtask guests [--refresh]`.
pub fn run(args: &[String]) -> Result<(), String> {
    let mut refresh = false;
    for a in args {
        match a.as_str() {
            "--refresh" => refresh = true,
            _ => {
                return Err(format!(
                    "guests: unknown argument {a:?}\nusage: cargo xtask guests [--refresh]"
                ))
            }
        }
    }
    let started = Instant::now();
    let cache = Cache::new();
    let guests = cache.ensure(refresh)?;
    let images = crate::qemu::images_dir();
    std::fs::create_dir_all(&images).map_err(|e| format!("{}: {e}", images.display()))?;
    let initramfs_path = images.join(INITRAMFS_IMAGE);
    let cpio = linux_initramfs(&guests)?;
    std::fs::write(&initramfs_path, &cpio)
        .map_err(|e| format!("{}: {e}", initramfs_path.display()))?;
    for d in &guests.debs {
        println!("{:>9}  debs/{}", mb(d.size), d.file);
    }
    for (what, path) in [
        ("kernel", &guests.vmlinuz),
        ("PV-GRUB", &guests.pvgrub),
        ("busybox", &guests.busybox),
    ] {
        println!("{:>9}  {what}: {}", mb(size_of(path)), path.display());
    }
    println!(
        "{:>9}  initramfs: {} (the console shows `{BANNER}: ...`, then the prompt `{PROMPT}`)",
        mb(cpio.len() as u64),
        initramfs_path.display()
    );
    println!(
        "guests ready in {:.2} s; `cargo xtask build --guests` puts them into dom0's initrd",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// The initramfs's copy in `target/images/` (dom0's initrd carries it as
/// `/boot/initramfs-linux`).
pub const INITRAMFS_IMAGE: &str = "initramfs-linux.cpio";

#[cfg(test)]
mod tests {
    use super::*;
    use dom0_tools::initrd::Initrd;

    #[test]
    fn the_kernel_package_from_apt_cache_depends() {
        let bookworm = "linux-image-amd64\n  Depends: linux-image-6.1.0-57-amd64\n";
        assert_eq!(
            kernel_package(bookworm, KERNEL_METAPACKAGE).as_deref(),
            Some("linux-image-6.1.0-57-amd64")
        );
        // Several versions, alternatives, virtual packages, other relations and the
        // metapackage's own name are passed over; the first versioned kernel wins.
        let several = "linux-image-amd64\n  Breaks: linux-image-amd64\n  \
                       |Depends: <linux-image-virtual>\n  \
                       Depends: linux-image-amd64\n  Recommends: firmware-linux-free\n  \
                       |Depends: linux-image-6.12.48+deb13-amd64\n  \
                       Depends: linux-image-6.1.0-57-amd64\n";
        assert_eq!(
            kernel_package(several, KERNEL_METAPACKAGE).as_deref(),
            Some("linux-image-6.12.48+deb13-amd64")
        );
        let cloud = "linux-image-amd64\n  Depends: linux-image-6.1.0-57-cloud-amd64\n";
        assert!(kernel_package(cloud, KERNEL_METAPACKAGE).is_some());
        for none in [
            "",
            "linux-image-amd64\n",
            "linux-image-amd64\n  Suggests: linux-image-6.1.0-57-amd64\n",
            "linux-image-amd64\n  Depends: linux-headers-6.1.0-57-amd64\n",
            "linux-image-amd64\n  Depends: linux-image-6.1.0-57-arm64\n",
        ] {
            assert_eq!(kernel_package(none, KERNEL_METAPACKAGE), None, "{none:?}");
        }
    }

    #[test]
    fn print_uris_lines() {
        let text = "'http://deb.debian.org/debian/pool/main/b/busybox/busybox-static_1.35.0-4%2bdeb12u1%2bb1_amd64.deb' busybox-static_1%3a1.35.0-4+deb12u1+b1_amd64.deb 928188 SHA256:3d3f\n\
                    'http://x/grub-xen-host_2.06-13%2bdeb12u2_amd64.deb' grub-xen-host_2.06-13+deb12u2_amd64.deb 1182748 SHA256:e817\n\
                    W: some warning\n\
                    'http://x/y.deb' ../evil.deb 1 SHA256:0\n\
                    'http://x/z.deb' z.deb notanumber SHA256:0\n";
        assert_eq!(
            parse_print_uris(text),
            [
                CachedDeb {
                    file: "busybox-static_1%3a1.35.0-4+deb12u1+b1_amd64.deb".into(),
                    size: 928_188
                },
                CachedDeb {
                    file: "grub-xen-host_2.06-13+deb12u2_amd64.deb".into(),
                    size: 1_182_748
                }
            ]
        );
    }

    #[test]
    fn stamp_round_trip() {
        let debs = vec![
            CachedDeb {
                file: "a_1_amd64.deb".into(),
                size: 5,
            },
            CachedDeb {
                file: "b_1%3a2_amd64.deb".into(),
                size: 70_591_024,
            },
        ];
        assert_eq!(parse_stamp(&stamp_text(&debs)), Some(debs));
        assert_eq!(parse_stamp(""), None);
        assert_eq!(parse_stamp("a.deb x\n"), None);
        assert_eq!(parse_stamp("a.deb\n"), None);
    }

    /// A cache in a fresh directory under target/ (removed at the end).
    fn temp_cache(name: &str) -> (PathBuf, Cache) {
        let dir = crate::qemu::workspace_root()
            .join("target")
            .join("xtask-test")
            .join(name);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let cache = Cache::at(&dir);
        (dir, cache)
    }

    fn put(path: &Path, data: &[u8]) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, data).unwrap();
    }

    #[test]
    fn the_cache_is_used_only_when_complete() {
        let (dir, cache) = temp_cache("guests-cache");
        assert_eq!(cache.cached(), None, "empty");
        let debs = vec![
            CachedDeb {
                file: "linux-image-6.1.0-57-amd64_6.1.192-3_amd64.deb".into(),
                size: 3,
            },
            CachedDeb {
                file: "busybox-static_1%3a1.35.0_amd64.deb".into(),
                size: 2,
            },
        ];
        put(&dir.join("debs").join(&debs[0].file), b"abc");
        put(&dir.join("debs").join(&debs[1].file), b"ab");
        put(&dir.join("root/boot/vmlinuz-6.1.0-57-amd64"), b"bz");
        put(&dir.join("root").join(BUSYBOX_PATH), b"bb");
        put(&dir.join("root").join(PVGRUB_PATH), b"grub");
        let modules = dir.join("root/lib/modules/6.1.0-57-amd64");
        for m in modules::LOAD {
            put(&modules.join(m), b"ko");
        }
        assert_eq!(cache.cached(), None, "no stamp");
        std::fs::write(dir.join("stamp"), stamp_text(&debs)).unwrap();
        let g = cache.cached().expect("complete");
        assert_eq!(g.vmlinuz, dir.join("root/boot/vmlinuz-6.1.0-57-amd64"));
        assert_eq!(g.busybox, dir.join("root/bin/busybox"));
        assert_eq!(g.pvgrub, dir.join("root").join(PVGRUB_PATH));
        assert_eq!(g.modules, modules, "the modules of the kernel's release");
        assert_eq!(g.debs, debs);
        // Unpacked before the initramfs carried modules (they were all removed then).
        std::fs::remove_file(modules.join(modules::LOAD[0])).unwrap();
        assert_eq!(cache.cached(), None, "xen-blkfront missing");
        assert!(
            cache.cached_debs().is_some(),
            "the packages are still there"
        );
        put(&modules.join(modules::LOAD[0]), b"ko");

        put(&dir.join("debs").join(&debs[1].file), b"abc");
        assert_eq!(cache.cached(), None, "a .deb of another size");
        put(&dir.join("debs").join(&debs[1].file), b"ab");
        std::fs::remove_file(dir.join("root").join(PVGRUB_PATH)).unwrap();
        assert_eq!(cache.cached(), None, "PV-GRUB missing");
        put(&dir.join("root").join(PVGRUB_PATH), b"grub");
        put(&dir.join("root/boot/vmlinuz-6.1.0-58-amd64"), b"bz");
        assert_eq!(cache.cached(), None, "two kernels");
        std::fs::remove_file(dir.join("root/boot/vmlinuz-6.1.0-58-amd64")).unwrap();
        assert!(cache.cached().is_some());

        put(&dir.join("debs/old_1_amd64.deb"), b"x");
        cache.remove_stale_debs(&debs);
        assert!(!dir.join("debs/old_1_amd64.deb").exists());
        assert!(cache.cached().is_some(), "the named debs are kept");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_initramfs() {
        let busybox = b"\x7fELF static busybox";
        let mods = modules::tests::fake_modules();
        let cpio = initramfs_with_modules(busybox, &mods);
        let rd = Initrd::parse(&cpio).expect("a newc archive");
        let exec = |path: &str| {
            let e = rd
                .get_entry(path)
                .unwrap_or_else(|| panic!("{path} missing"));
            assert!(e.is_file(), "{path} is a regular file");
            assert_eq!(e.mode & 0o111, 0o111, "{path} is executable");
            e.data
        };
        assert_eq!(exec("/bin/busybox"), busybox);
        let init = std::str::from_utf8(exec("/init")).unwrap();
        assert!(init.starts_with("#!/bin/busybox sh\n"), "{init}");
        // Each mount only where it is not there yet: on the disk after switch_root they are
        // (moved there); busybox's links only where they are missing (a read-only disk).
        for line in [
            "[ -x /sbin/init ] || /bin/busybox --install -s",
            "[ -e /proc/self ] || mount -t proc proc /proc",
            "[ -d /sys/kernel ] || mount -t sysfs sysfs /sys",
            "[ -e /dev/null ] || mount -t devtmpfs devtmpfs /dev",
        ] {
            assert!(init.lines().any(|l| l == line), "/init lacks {line:?}");
        }
        assert_eq!(
            init.lines().last(),
            Some("exec /sbin/init"),
            "busybox init last"
        );
        let banner = init
            .lines()
            .find(|l| l.trim_start().starts_with("echo \"busybox initramfs up"))
            .expect("/init prints a banner");
        assert!(banner.contains(BANNER), "{banner}");
        // The order matters: the applets exist before they are used, the mounts before
        // the banner (which reads /sys), the modules before the root disk, init last.
        let at = |s: &str| init.find(s).unwrap_or_else(|| panic!("/init lacks {s:?}"));
        assert!(at("--install") < at("mount -t proc"));
        assert!(at("mount -t devtmpfs") < at(BANNER));
        assert!(at(BANNER) < at("\tload_modules\n"));
        assert!(at("\tload_modules\n") < at("\tswitch_to_root\n"));
        assert!(at("\tswitch_to_root\n") < at("exec /sbin/init"));
        // The root disk: from the command line, waited for (bounded), mounted, /dev, /sys and
        // /proc moved onto it (/proc last), then switch_root as PID 1 (exec).
        for part in [
            "root=*) root=${arg#root=}",
            "ro | rw) mode=$arg",
            "wait=30",
            "did not appear within $wait s",
            "mount -t \"$fstype\" -o \"$mode${flags:+,$flags}\" \"$dev\" /newroot",
            "for dir in dev sys proc; do",
            "mount -o move \"/$dir\" \"/newroot/$dir\"",
            "exec /bin/busybox switch_root /newroot \"$next\"",
            "busybox root up: ",
            "done </etc/modules",
        ] {
            assert!(init.contains(part), "/init lacks {part:?}");
        }

        let sh = rd.get_entry("/bin/sh").expect("/bin/sh");
        assert!(sh.is_symlink());
        assert_eq!(sh.data, b"busybox");
        let console = rd.get_entry("/dev/console").expect("/dev/console");
        assert!(console.is_char_device());
        assert_eq!(console.rdev, (5, 1));
        for dir in [
            "/proc",
            "/sys",
            "/dev",
            "/tmp",
            "/sbin",
            "/usr/bin",
            "/usr/sbin",
        ] {
            assert!(rd.get_entry(dir).is_some_and(|e| e.is_dir()), "{dir}");
        }
        let inittab = std::str::from_utf8(rd.get("/etc/inittab").unwrap()).unwrap();
        assert!(
            inittab
                .lines()
                .any(|l| l.starts_with("::respawn:") && l.contains("cttyhack")),
            "a shell on the console with a controlling tty: {inittab}"
        );
        assert!(
            inittab
                .lines()
                .any(|l| l.starts_with("::shutdown:") && l.contains("umount -a -r")),
            "the disks unmounted (the root remounted read-only) at shutdown: {inittab}"
        );
        // The modules, modules.dep and /etc/modules.
        let rel = format!("/lib/modules/{}", mods.release);
        for m in &mods.modules {
            let path = format!("{rel}/{}", m.path);
            assert_eq!(rd.get(&path), Some(&m.data[..]), "{path}");
        }
        let dep = std::str::from_utf8(rd.get(&format!("{rel}/modules.dep")).unwrap()).unwrap();
        assert!(
            dep.lines()
                .any(|l| l.starts_with("kernel/fs/ext4/ext4.ko: ")),
            "{dep}"
        );
        let etc_modules = std::str::from_utf8(rd.get("/etc/modules").unwrap()).unwrap();
        assert_eq!(
            etc_modules,
            "xen_blkfront\nxen_netfront\ncrc32c_generic\next4\n"
        );
        // The busybox tree alone (the disk's root) has none of them.
        let tree = busybox_root(busybox);
        assert!(!tree.iter().any(|m| matches!(m,
            Member::File { path, .. } if path.starts_with("lib/") || *path == "etc/modules")));
        let profile = std::str::from_utf8(rd.get("/etc/profile").unwrap()).unwrap();
        assert!(profile.contains(&format!("PS1='{PROMPT}'")), "{profile}");
        // The uevent helper: started by /init before busybox init, it onlines added CPUs.
        let hotplug = std::str::from_utf8(exec("/sbin/hotplug")).unwrap();
        assert!(hotplug.starts_with("#!/bin/busybox sh\n"), "{hotplug}");
        for part in [
            "add/cpu) ;;",
            "online=/sys$DEVPATH/online",
            "echo 1 >\"$online\"",
            "if [ $tries -ge 100 ]; then",
        ] {
            assert!(hotplug.contains(part), "/sbin/hotplug lacks {part:?}");
        }
        assert!(at("\tuevent /sbin/hotplug ") < at("\nstart_hotplug\n"));
        assert!(at("\nstart_hotplug\n") < at("exec /sbin/init"));
        // Parents come before their contents, and nothing appears twice.
        let names: Vec<&str> = rd.files().map(|e| e.name).collect();
        for (i, n) in names.iter().enumerate() {
            assert!(!names[i + 1..].contains(n), "{n} twice");
            if let Some((parent, _)) = n.rsplit_once('/') {
                assert!(names[..i].contains(&parent), "{n} before {parent}");
            }
        }
    }

    #[test]
    fn busybox_applets_and_their_links() {
        let listed = "usr/bin/[\nbin/sh\nsbin/init\n\nbin/ls\n/abs/x\nbin/../etc/passwd\n";
        let applets = parse_applets(listed);
        assert_eq!(applets, ["usr/bin/[", "bin/sh", "sbin/init", "bin/ls"]);
        let links = applet_links(&applets);
        let paths: Vec<(&str, &str)> = links
            .iter()
            .map(|m| match *m {
                Member::Symlink { path, target } => (path, target),
                _ => panic!("links only"),
            })
            .collect();
        assert_eq!(
            paths,
            [
                ("usr/bin/[", "/bin/busybox"),
                ("sbin/init", "/bin/busybox"),
                ("bin/ls", "/bin/busybox")
            ],
            "bin/sh is the tree's own"
        );
        // Debian's busybox, run on the host.
        let guests = Cache::new().ensure(false).expect("Debian's guests");
        let real = busybox_applets(&guests.busybox).unwrap();
        for want in [
            "sbin/init",
            "bin/mount",
            "sbin/switch_root",
            "bin/cttyhack",
            "sbin/poweroff",
        ] {
            assert!(real.iter().any(|a| a == want), "{want} in {real:?}");
        }
    }

    #[test]
    fn the_example_configs_parse() {
        let cfgs = configs().expect("dom0-tools/examples/debian");
        let names: Vec<&str> = cfgs.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "etc/xen/bad-32bit.cfg",
                "etc/xen/bad-no-xen.cfg",
                "etc/xen/bad-ramdisk.cfg",
                "etc/xen/bad-truncated.cfg",
                "etc/xen/linux-disk.cfg",
                "etc/xen/linux.cfg",
                "etc/xen/pvgrub-disk.cfg",
                "etc/xen/pvgrub.cfg",
            ]
        );
        let text = |name: &str| {
            let (_, d) = cfgs.iter().find(|(n, _)| n == name).expect(name);
            String::from_utf8(d.clone()).unwrap()
        };
        for (name, data) in &cfgs {
            dom0_tools::config::DomainConfig::parse_bytes(name, data)
                .unwrap_or_else(|e| panic!("{e}"));
        }
        let linux = text("etc/xen/linux.cfg");
        for line in [
            "kernel = \"/boot/vmlinuz\"",
            "ramdisk = \"/boot/initramfs-linux\"",
            "memory = 128",
            "extra = \"console=hvc0\"",
        ] {
            assert!(linux.lines().any(|l| l == line), "linux.cfg lacks {line}");
        }
        let disk = text("etc/xen/linux-disk.cfg");
        for line in [
            "name = \"linux-disk\"",
            "kernel = \"/boot/vmlinuz\"",
            "ramdisk = \"/boot/initramfs-linux\"",
            "disk = ['phy:/dev/vda2,xvda,w']",
            "extra = \"console=hvc0 root=/dev/xvda rw\"",
        ] {
            assert!(
                disk.lines().any(|l| l == line),
                "linux-disk.cfg lacks {line}"
            );
        }
        let pvgrub = text("etc/xen/pvgrub.cfg");
        assert!(pvgrub
            .lines()
            .any(|l| l == "kernel = \"/boot/grub-x86_64-xen.bin\""));
    }

    #[test]
    fn the_bad_kernels_are_bad_in_the_way_their_configs_say() {
        // A bzImage: 1 setup sector after the boot sector, protocol 2.15, 1.5 MiB payload.
        let mut vmlinuz = vec![0u8; 1024 + (3 << 19)];
        vmlinuz[0x1F1] = 1;
        vmlinuz[0x202..0x206].copy_from_slice(b"HdrS");
        vmlinuz[0x206..0x208].copy_from_slice(&0x020Fu16.to_le_bytes());
        vmlinuz[0x24C..0x250].copy_from_slice(&(3u32 << 19).to_le_bytes());
        let busybox = b"\x7fELF not a PV kernel".repeat(1000);
        let bad = bad_kernels(&vmlinuz, &busybox);
        let get = |n: &str| &bad.iter().find(|(name, _)| name == n).expect(n).1;
        // Cut short: its payload runs past the end.
        let trunc = get("boot/bad/vmlinuz-truncated");
        let cut = (vmlinuz.len() / 2).min(1 << 20);
        assert!(
            trunc.len() == cut && trunc[..] == vmlinuz[..cut],
            "a prefix"
        );
        // The same setup header around a gzip of busybox.
        let no_xen = get("boot/bad/bzimage-no-xen");
        assert!(no_xen[..0x248] == vmlinuz[..0x248], "the same setup header");
        let len = u32::from_le_bytes(no_xen[0x24C..0x250].try_into().unwrap()) as usize;
        assert_eq!(len, no_xen.len() - 1024);
        let gz = &no_xen[1024..];
        assert_eq!(gz[..3], [0x1F, 0x8B, 8]);
        let body = miniz_oxide::inflate::decompress_to_vec(&gz[10..gz.len() - 8]).unwrap();
        assert!(body == busybox, "busybox inside");
        assert_eq!(
            gz[gz.len() - 8..gz.len() - 4],
            crc32fast::hash(&busybox).to_le_bytes()
        );
        // 32-bit: the builder's ELF check refuses it as such.
        let e = dom0_tools::elf::ElfImage::parse(get("boot/bad/vmlinux-32")).err();
        assert_eq!(e, Some(dom0_tools::elf::ElfError::Not64Bit));
    }
}
