//! Xen's disk specification: one item of xl.cfg's `disk = [...]`, or the words of
//! `xl block-attach <domain> <disk-spec>...`, parsed by the rules of Xen's
//! xl-disk-configuration(5), with virtual device names per Xen's vbd-interface.txt.
//!
//! A spec is comma-separated parameters; whitespace before each is ignored:
//!
//! - **Positional**: `[<target>,[<format>,[<vdev>,[<access>]]]]`. A parameter without `=` that
//!   is not a flag fills the first of target, format, vdev, access not yet given (by position
//!   or by name). An empty one takes its default. `/dev/vg/guest,,hda`.
//! - **By name**: `target=`, `format=`, `vdev=`, `access=`, `devtype=`, `backend=`,
//!   `backendtype=`, `script=`, `specification=`, `grant_usage=` and the COLO parameters
//!   `colo-host=`, `colo-port=`, `colo-export=`, `active-disk=`, `hidden-disk=`. `target=` takes
//!   the whole rest of the string, commas included, so it comes last.
//! - **Flags**: `cdrom` (= `devtype=cdrom`), `discard`/`no-discard`, `direct-io-safe`,
//!   `trusted`/`untrusted`, `colo`.
//! - **Deprecated forms** (xend's): `[<prefix>:]...<target>,<vdev>[:<devtype>],<access>`. A
//!   prefix on the target means there is no positional format. `raw:`, `qcow:`, `qcow2:`,
//!   `vhd:` give the format. `iscsi:`, `nbd:`, `enbd:`, `drbd:` give `script=block-<name>`.
//!   `phy:` and `file:` give back end `phy`. `tap:`, `tap2:`, `tapdisk:`, `aio:` give `tap`,
//!   and `ioemu:` gives `qdisk`. Xen strips these back-end prefixes and chooses a back end
//!   itself. Here they name the back end, so they are not dropped without a word: `tap:` and
//!   `ioemu:` are refused. `,hdc:cdrom,r` is xend's empty cdrom drive.
//!
//! Each parameter may be given once. Unknown parameters, values outside Xen's lists, and an
//! unknown `word:` prefix are errors. So is everything Xen documents but this dom0 cannot do.
//! Only format `raw` is supported. The only back end is `phy` (dom0's blkback, serving dom0's
//! block devices) in dom0 (`backend=0` or `Domain-0`). There are no block scripts, no COLO
//! and no `specification=virtio`. A cdrom drive needs its image (no empty drive).
//! Each refusal is a [`DiskSpecError`] that says what is not supported.
//!
//! A spec is at most [`MAX_DISK_SPEC_BYTES`]. Parsing is one pass over it.
//!
//! ```
//! use dom0_tools::config::disk::DiskSpec;
//! let d = DiskSpec::parse("phy:/dev/vda2,xvda,w").unwrap();
//! assert_eq!((d.target.as_str(), d.vdev.as_str()), ("/dev/vda2", "xvda"));
//! assert_eq!((d.devid, d.read_only), (51712, false));
//! ```

use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;

/// The longest disk spec accepted, in bytes (for `xl block-attach`, its words and the spaces
/// between them). A real one is a path and a few words. Linux's PATH_MAX is 4096 too.
pub const MAX_DISK_SPEC_BYTES: usize = 4096;

/// The largest disk number of Xen's extended xvd encoding: `(1 << 20) - 1`.
pub const MAX_XVD_DISK: u32 = (1 << 20) - 1;

/// The largest partition number of Xen's extended xvd encoding.
pub const MAX_XVD_PARTITION: u32 = 255;

/// A back end implementation, as `backendtype=` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendType {
    /// The kernel's blkback serving a block device. It is dom0's only back end here.
    Phy,
    /// blktap's tapback.
    Tap,
    /// QEMU's Xen PV disk back end.
    Qdisk,
    /// A standalone (virtio) back end.
    Standalone,
}

impl BackendType {
    /// The name `backendtype=` uses.
    pub fn name(self) -> &'static str {
        match self {
            Self::Phy => "phy",
            Self::Tap => "tap",
            Self::Qdisk => "qdisk",
            Self::Standalone => "standalone",
        }
    }

    fn from_name(s: &str) -> Option<Self> {
        Some(match s {
            "phy" => Self::Phy,
            "tap" => Self::Tap,
            "qdisk" => Self::Qdisk,
            "standalone" => Self::Standalone,
            _ => return None,
        })
    }
}

/// An image format, as `format=` names it (xl's list; `empty` is a cdrom drive without an
/// image).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiskFormat {
    /// Sectors as they are. It is the only format supported here.
    Raw,
    Qcow,
    Qcow2,
    Vhd,
    Qed,
    Empty,
}

impl DiskFormat {
    /// The name `format=` uses.
    pub fn name(self) -> &'static str {
        match self {
            Self::Raw => "raw",
            Self::Qcow => "qcow",
            Self::Qcow2 => "qcow2",
            Self::Vhd => "vhd",
            Self::Qed => "qed",
            Self::Empty => "empty",
        }
    }

    fn from_name(s: &str) -> Option<Self> {
        Some(match s {
            "raw" => Self::Raw,
            "qcow" => Self::Qcow,
            "qcow2" => Self::Qcow2,
            "vhd" => Self::Vhd,
            "qed" => Self::Qed,
            "empty" => Self::Empty,
            _ => return None,
        })
    }
}

/// One parsed and supported disk: what the toolstack writes to xenstore and the back end
/// serves. The back end domain is always dom0.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiskSpec {
    /// The dom0 device to serve. Xen prepends `/dev/` to a target that does not start with
    /// `/`, and so does this field (`vg/root` becomes `/dev/vg/root`).
    pub target: String,
    /// Always [`BackendType::Phy`]; no other back end is accepted.
    pub backend_type: BackendType,
    /// Always [`DiskFormat::Raw`]; no other format is accepted.
    pub format: DiskFormat,
    /// The virtual device as written (`xvda`, `hdc`, `d0p1`, `51712`, ...).
    pub vdev: String,
    /// Xen's virtual-device number for `vdev` (the vbd's device id in xenstore), see
    /// [`vdev_number`].
    pub devid: u32,
    /// `access=r`/`ro`, or a cdrom whose access is not given.
    pub read_only: bool,
    /// `devtype=cdrom` (the `cdrom` flag or a `:cdrom` vdev suffix): a removable cdrom drive.
    pub cdrom: bool,
    /// Whether the back end advertises discard. With `discard`/`no-discard` not given, this
    /// is libxl's default: on for a writable disk and off for a read-only one.
    pub discard: bool,
    /// `direct-io-safe`: the back end may use O_DIRECT.
    pub direct_io_safe: bool,
    /// `trusted` (the default) or `untrusted`: advice to the front end about the back end.
    pub trusted: bool,
}

/// A rejected disk spec: `disk spec "<spec>": <reason>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiskSpecError {
    /// The spec as given. For `xl block-attach` it is the words joined by spaces. An over-long
    /// spec is shortened and ends in `...`.
    pub spec: String,
    pub reason: String,
}

impl fmt::Display for DiskSpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "disk spec {:?}: {}", self.spec, self.reason)
    }
}

fn spec_err(spec: &str, reason: String) -> DiskSpecError {
    DiskSpecError {
        spec: spec.to_string(),
        reason,
    }
}

impl DiskSpec {
    /// Parses one spec, an item of xl.cfg's `disk = [...]`.
    pub fn parse(spec: &str) -> Result<DiskSpec, DiskSpecError> {
        Self::parse_words(&[spec])
    }

    /// Parses `xl block-attach`'s disk spec words, in order, as one spec. Each word is
    /// comma-separated parameters, and a `target=` takes the rest of its own word only (xl
    /// parses `vdev=xvdb access=r target=/dev/vda2` as three words).
    pub fn parse_words(words: &[&str]) -> Result<DiskSpec, DiskSpecError> {
        let len = words.iter().fold(words.len().saturating_sub(1), |n, w| {
            n.saturating_add(w.len())
        });
        if len > MAX_DISK_SPEC_BYTES {
            let first = words.first().copied().unwrap_or_default();
            let mut cut = first.len().min(40);
            while !first.is_char_boundary(cut) {
                cut -= 1;
            }
            return Err(spec_err(
                &format!("{}...", &first[..cut]),
                format!("{len} bytes, more than the {MAX_DISK_SPEC_BYTES} a disk spec may have"),
            ));
        }
        let shown = words.join(" ");
        let mut p = Parser::default();
        for word in words {
            p.word(word).map_err(|r| spec_err(&shown, r))?;
        }
        p.finish().map_err(|r| spec_err(&shown, r))
    }
}

/// Parses each of one domain's specs (xl.cfg's `disk` list) and refuses two disks with the
/// same virtual device: the same name (`xvda given twice`) or two names for one number
/// (`xvda` and `d0p0`). The disks come back in the list's order.
pub fn parse_disk_list<S: AsRef<str>>(specs: &[S]) -> Result<Vec<DiskSpec>, DiskSpecError> {
    let mut disks: Vec<DiskSpec> = Vec::with_capacity(specs.len());
    let mut by_devid = BTreeMap::new();
    for spec in specs {
        let spec = spec.as_ref();
        let disk = DiskSpec::parse(spec)?;
        if let Some(&i) = by_devid.get(&disk.devid) {
            return Err(spec_err(spec, clash(&disks[i], &disk)));
        }
        by_devid.insert(disk.devid, disks.len());
        disks.push(disk);
    }
    Ok(disks)
}

/// For `xl block-attach`: refuses `new` (parsed from `spec`) when a disk already `attached` to
/// the domain has its virtual device number.
pub fn check_vdev_free(
    attached: &[DiskSpec],
    new: &DiskSpec,
    spec: &str,
) -> Result<(), DiskSpecError> {
    match attached.iter().find(|d| d.devid == new.devid) {
        Some(old) => Err(spec_err(spec, clash(old, new))),
        None => Ok(()),
    }
}

fn clash(old: &DiskSpec, new: &DiskSpec) -> String {
    if old.vdev == new.vdev {
        format!("{} given twice", new.vdev)
    } else {
        format!(
            "vdev {:?} is the same device as {:?} (number {}), given before",
            new.vdev, old.vdev, new.devid
        )
    }
}

/// Xen's virtual-device number for a vdev name (vbd-interface.txt), or the reason it is not
/// one (a sentence naming the vdev):
///
/// - `xvd<letters>[<partition>]` (disks `a`..`z`, `aa`, ... numbered 0, 1, ..., like Linux)
///   and `d<disk>[p<partition>]`: `202 << 8 | disk << 4 | partition` for disks and partitions
///   up to 15 (`xvda` = 51712, `xvdb` = 51728, `xvda1` = 51713). Otherwise the extended
///   `1 << 28 | disk << 8 | partition`, for disks up to [`MAX_XVD_DISK`] and partitions up to
///   [`MAX_XVD_PARTITION`] (`xvdq`, `xvdaa`, `xvda16`).
/// - `sd<a..p>[<0..15>]`: `8 << 8 | disk << 4 | partition`.
/// - `hd<a..d>[<0..63>]`: `3 << 8 | disk << 6 | partition` for `hda`, `hdb`. For `hdc`,
///   `hdd` it is `22 << 8 | (disk - 2) << 6 | partition`.
/// - A number (decimal, `0x` hex, or octal with a leading `0`) is the number itself. It must
///   be below `2 << 28`, because Xen reserves the values from there for future use.
///
/// Partition 0 is the whole disk (`xvda0` = `xvda`, `d0p0` = `d0`).
pub fn vdev_number(vdev: &str) -> Result<u32, String> {
    const XVD_MAJOR: u64 = 202;
    const SD_MAJOR: u64 = 8;
    const HD01_MAJOR: u64 = 3;
    const HD23_MAJOR: u64 = 22;
    const RESERVED: u64 = 2 << 28;
    let not_a_vdev = || {
        format!(
            "vdev {vdev:?} is not a Xen virtual device \
             (xvd<letters>[N], hd<a-d>[N], sd<a-p>[N], d<N>[p<N>] or a number)"
        )
    };
    let number_part = |digits: &str| decimal(digits).ok_or_else(not_a_vdev);

    if vdev.starts_with(|c: char| c.is_ascii_digit()) {
        let n = number(vdev).ok_or_else(not_a_vdev)?;
        if n >= RESERVED {
            return Err(format!(
                "vdev {vdev:?}: numbers from {RESERVED:#x} (2 << 28) on are reserved by Xen"
            ));
        }
        return Ok(n as u32);
    }
    let (kind, disk, part) = if let Some(rest) = vdev.strip_prefix("xvd") {
        let (letters, digits) = split_letters(rest);
        let disk = disk_index(letters).ok_or_else(not_a_vdev)?;
        ("xvd", disk, number_part(digits)?)
    } else if let Some(rest) = vdev.strip_prefix("sd").or_else(|| vdev.strip_prefix("hd")) {
        let (letters, digits) = split_letters(rest);
        let disk = disk_index(letters).ok_or_else(not_a_vdev)?;
        (&vdev[..2], disk, number_part(digits)?)
    } else if let Some(rest) = vdev.strip_prefix('d') {
        let (disk, part) = rest.split_once('p').unwrap_or((rest, "0"));
        if disk.is_empty() || part.is_empty() {
            return Err(not_a_vdev());
        }
        ("xvd", number_part(disk)?, number_part(part)?)
    } else {
        return Err(not_a_vdev());
    };
    // `disk` and `part` are at most a little over their limits (see `decimal`, `disk_index`),
    // so the shifts below cannot overflow once the limits are checked.
    match kind {
        "xvd" if disk < 16 && part < 16 => Ok(((XVD_MAJOR << 8) | (disk << 4) | part) as u32),
        "xvd" if disk > u64::from(MAX_XVD_DISK) => Err(format!(
            "vdev {vdev:?}: disk number {} is more than Xen's largest, {MAX_XVD_DISK}",
            shown_count(disk)
        )),
        "xvd" if part > u64::from(MAX_XVD_PARTITION) => Err(format!(
            "vdev {vdev:?}: partition {} is more than Xen's largest, {MAX_XVD_PARTITION}",
            shown_count(part)
        )),
        "xvd" => Ok(((1 << 28) | (disk << 8) | part) as u32),
        "sd" if disk > 15 => Err(format!(
            "vdev {vdev:?}: Xen's SCSI disks are sda to sdp (use xvd names for more disks)"
        )),
        "sd" if part > 15 => Err(format!(
            "vdev {vdev:?}: Xen's SCSI partitions go up to 15 (use xvd names for more)"
        )),
        "sd" => Ok(((SD_MAJOR << 8) | (disk << 4) | part) as u32),
        _ if disk > 3 => Err(format!(
            "vdev {vdev:?}: Xen's IDE disks are hda to hdd (use xvd names for more disks)"
        )),
        _ if part > 63 => Err(format!(
            "vdev {vdev:?}: Xen's IDE partitions go up to 63 (use xvd names for more)"
        )),
        _ if disk < 2 => Ok(((HD01_MAJOR << 8) | (disk << 6) | part) as u32),
        _ => Ok(((HD23_MAJOR << 8) | ((disk - 2) << 6) | part) as u32),
    }
}

/// Saturation bound of [`decimal`] and [`disk_index`]: above every limit they are checked
/// against, and small enough that `<< 8` cannot overflow.
const TOO_BIG: u64 = 1 << 32;

fn shown_count(n: u64) -> String {
    if n >= TOO_BIG {
        "beyond 2^32".to_string()
    } else {
        n.to_string()
    }
}

/// `s` as ASCII lowercase letters then the rest.
fn split_letters(s: &str) -> (&str, &str) {
    let n = s.bytes().take_while(u8::is_ascii_lowercase).count();
    s.split_at(n)
}

/// A disk number from its letters, as Linux names disks: `a`..`z` are 0..25, `aa` is 26, `az`
/// 51, `ba` 52. Saturates at [`TOO_BIG`]; `None` for no letters.
fn disk_index(letters: &str) -> Option<u64> {
    letters.bytes().fold(None, |acc: Option<u64>, c| {
        let digit = u64::from(c - b'a');
        Some(match acc {
            None => digit,
            Some(a) => ((a + 1) * 26 + digit).min(TOO_BIG),
        })
    })
}

/// A decimal number (digits only; "" is 0, the whole disk). Saturates at [`TOO_BIG`].
fn decimal(s: &str) -> Option<u64> {
    if !s.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    Some(
        s.bytes()
            .fold(0u64, |n, c| (n * 10 + u64::from(c - b'0')).min(TOO_BIG)),
    )
}

/// A number as C's `strtoul(s, _, 0)` reads one, all of `s`: `0x` hex, `0` octal, or decimal.
/// Saturates at `u64::MAX`.
fn number(s: &str) -> Option<u64> {
    let (digits, radix) = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => (hex, 16),
        None if s.len() > 1 && s.starts_with('0') => (&s[1..], 8),
        None => (s, 10),
    };
    if digits.is_empty() {
        return None;
    }
    digits.chars().try_fold(0u64, |n, c| {
        let d = c.to_digit(radix)?;
        Some(
            n.saturating_mul(u64::from(radix))
                .saturating_add(u64::from(d)),
        )
    })
}

/// The parameters, for "given twice" and the positional order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Param {
    Target,
    Format,
    Vdev,
    Access,
    Devtype,
    Backend,
    BackendType,
    Script,
    Specification,
    GrantUsage,
    Discard,
    DirectIoSafe,
    Trusted,
    Colo,
    ColoHost,
    ColoPort,
    ColoExport,
    ActiveDisk,
    HiddenDisk,
}

impl Param {
    fn name(self) -> &'static str {
        match self {
            Self::Target => "target",
            Self::Format => "format",
            Self::Vdev => "vdev",
            Self::Access => "access",
            Self::Devtype => "devtype",
            Self::Backend => "backend",
            Self::BackendType => "backendtype",
            Self::Script => "script",
            Self::Specification => "specification",
            Self::GrantUsage => "grant_usage",
            Self::Discard => "discard/no-discard",
            Self::DirectIoSafe => "direct-io-safe",
            Self::Trusted => "trusted/untrusted",
            Self::Colo => "colo",
            Self::ColoHost => "colo-host",
            Self::ColoPort => "colo-port",
            Self::ColoExport => "colo-export",
            Self::ActiveDisk => "active-disk",
            Self::HiddenDisk => "hidden-disk",
        }
    }

    /// The parameter a `key=` names (`target=` is handled before).
    fn keyword(key: &str) -> Option<Self> {
        Some(match key {
            "format" => Self::Format,
            "vdev" => Self::Vdev,
            "access" => Self::Access,
            "devtype" => Self::Devtype,
            "backend" => Self::Backend,
            "backendtype" => Self::BackendType,
            "script" => Self::Script,
            "specification" => Self::Specification,
            "grant_usage" => Self::GrantUsage,
            "colo-host" => Self::ColoHost,
            "colo-port" => Self::ColoPort,
            "colo-export" => Self::ColoExport,
            "active-disk" => Self::ActiveDisk,
            "hidden-disk" => Self::HiddenDisk,
            _ => return None,
        })
    }

    fn bit(self) -> u32 {
        1 << self as u32
    }
}

/// The flags: a bare word, ended by a comma, whitespace or the end. A flag is never a
/// positional parameter (Xen's `/root/image.iso,,hdc,cdrom` is a cdrom, not access "cdrom").
const FLAGS: [&str; 7] = [
    "cdrom",
    "direct-io-safe",
    "discard",
    "no-discard",
    "trusted",
    "untrusted",
    "colo",
];

/// The deprecated `name:` prefixes and what each gives.
enum Prefix {
    Format(DiskFormat),
    Script(&'static str),
    Backend(BackendType),
}

fn prefix(word: &str) -> Option<Prefix> {
    Some(match word {
        "raw" => Prefix::Format(DiskFormat::Raw),
        "qcow" => Prefix::Format(DiskFormat::Qcow),
        "qcow2" => Prefix::Format(DiskFormat::Qcow2),
        "vhd" => Prefix::Format(DiskFormat::Vhd),
        "iscsi" => Prefix::Script("block-iscsi"),
        "nbd" => Prefix::Script("block-nbd"),
        "enbd" => Prefix::Script("block-enbd"),
        "drbd" => Prefix::Script("block-drbd"),
        "phy" | "file" => Prefix::Backend(BackendType::Phy),
        "tap" | "tap2" | "tapdisk" | "aio" => Prefix::Backend(BackendType::Tap),
        "ioemu" => Prefix::Backend(BackendType::Qdisk),
        _ => return None,
    })
}

fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r')
}

/// What has been parsed so far. `None` means not given or given empty: the default applies.
#[derive(Default)]
struct Parser<'a> {
    /// The [`Param::bit`]s of the parameters given.
    given: u32,
    /// Whether `target` was given by name (a positional empty one may be given again by name).
    target_by_name: bool,
    target: Option<&'a str>,
    /// A deprecated prefix was given: there is no positional format.
    had_prefix: bool,
    format: Option<DiskFormat>,
    vdev: Option<(&'a str, u32)>,
    read_only: Option<bool>,
    cdrom: Option<bool>,
    backend: Option<&'a str>,
    backend_type: Option<BackendType>,
    /// The back end a deprecated prefix names, and the prefix.
    prefix_backend: Option<(BackendType, &'a str)>,
    script: Option<&'a str>,
    virtio: bool,
    grant_usage: Option<bool>,
    discard: Option<bool>,
    direct_io_safe: bool,
    trusted: Option<bool>,
    /// The first COLO parameter given.
    colo: Option<Param>,
}

impl<'a> Parser<'a> {
    fn given(&self, p: Param) -> bool {
        self.given & p.bit() != 0
    }

    fn mark(&mut self, p: Param) -> Result<(), String> {
        if self.given(p) {
            return Err(format!("{} given twice", p.name()));
        }
        self.given |= p.bit();
        Ok(())
    }

    /// One comma-separated string of parameters.
    fn word(&mut self, mut rest: &'a str) -> Result<(), String> {
        loop {
            rest = rest.trim_start_matches(is_space);
            if rest.is_empty() {
                return Ok(());
            }
            if let Some(target) = rest.strip_prefix("target=") {
                return self.target_by_name(target);
            }
            if let Some(flag) = FLAGS.iter().find(|f| {
                rest.strip_prefix(*f).is_some_and(|after| {
                    after.is_empty() || after.starts_with([',', ' ', '\t', '\n', '\r'])
                })
            }) {
                rest = rest[flag.len()..].trim_start_matches(is_space);
                rest = rest.strip_prefix(',').unwrap_or(rest);
                self.flag(flag)?;
                continue;
            }
            let (item, after) = rest.split_once(',').unwrap_or((rest, ""));
            rest = after;
            match item.split_once('=') {
                Some((key, value)) => self.keyword(key, value)?,
                None => self.positional(item)?,
            }
        }
    }

    fn flag(&mut self, flag: &str) -> Result<(), String> {
        match flag {
            "cdrom" => {
                self.mark(Param::Devtype)?;
                self.cdrom = Some(true);
            }
            "direct-io-safe" => {
                self.mark(Param::DirectIoSafe)?;
                self.direct_io_safe = true;
            }
            "discard" | "no-discard" => {
                self.mark(Param::Discard)?;
                self.discard = Some(flag == "discard");
            }
            "trusted" | "untrusted" => {
                self.mark(Param::Trusted)?;
                self.trusted = Some(flag == "trusted");
            }
            _ => {
                // "colo", the last of FLAGS.
                self.mark(Param::Colo)?;
                self.colo.get_or_insert(Param::Colo);
            }
        }
        Ok(())
    }

    fn target_by_name(&mut self, target: &'a str) -> Result<(), String> {
        // Xen allows `target=` after an empty positional target.
        if self.target_by_name || self.target.is_some() {
            return Err("target given twice".to_string());
        }
        self.given |= Param::Target.bit();
        self.target_by_name = true;
        self.target = Some(target).filter(|t| !t.is_empty());
        Ok(())
    }

    fn keyword(&mut self, key: &str, value: &'a str) -> Result<(), String> {
        let Some(param) = Param::keyword(key) else {
            if FLAGS.contains(&key) {
                return Err(format!("{key:?} is a flag and takes no \"=\" value"));
            }
            return Err(format!("unknown parameter {key:?}"));
        };
        self.mark(param)?;
        if value.is_empty() {
            return Ok(()); // the default
        }
        match param {
            Param::Format => self.format = Some(format_value(value)?),
            Param::Vdev => self.vdev = Some((value, vdev_number(value)?)),
            Param::Access => self.read_only = Some(access_value(value)?),
            Param::Devtype => self.cdrom = Some(devtype_value(value)?),
            Param::Backend => self.backend = Some(value),
            Param::BackendType => {
                self.backend_type = Some(BackendType::from_name(value).ok_or_else(|| {
                    format!("backendtype {value:?} is not phy, qdisk, standalone or tap")
                })?)
            }
            Param::Script => self.script = Some(value),
            Param::Specification => {
                self.virtio = match value {
                    "xen" => false,
                    "virtio" => true,
                    _ => return Err(format!("specification {value:?} is not xen or virtio")),
                }
            }
            Param::GrantUsage => {
                self.grant_usage = Some(match value {
                    "1" => true,
                    "0" => false,
                    _ => return Err(format!("grant_usage {value:?} is not 1 or 0")),
                })
            }
            _ => {
                self.colo.get_or_insert(param);
            }
        }
        Ok(())
    }

    /// The next of target, format, vdev, access not given yet.
    fn positional(&mut self, item: &'a str) -> Result<(), String> {
        if !self.given(Param::Target) {
            self.mark(Param::Target)?;
            let target = self.strip_prefixes(item)?;
            self.target = Some(target).filter(|t| !t.is_empty());
        } else if !self.given(Param::Format) && !self.had_prefix {
            // xend's empty cdrom: `,hdc:cdrom,r` (format is `empty`).
            if self.target.is_none() && !self.target_by_name && item.contains(':') {
                self.mark(Param::Format)?;
                self.format = Some(DiskFormat::Empty);
                return self.vdev_and_devtype(item);
            }
            self.mark(Param::Format)?;
            if !item.is_empty() {
                self.format = Some(format_value(item).map_err(|e| {
                    if vdev_number(item).is_ok() {
                        format!(
                            "{e} (positional parameters are target,format,vdev,access: \
                             \",,{item}\" leaves format empty)"
                        )
                    } else {
                        e
                    }
                })?);
            }
        } else if !self.given(Param::Vdev) {
            self.vdev_and_devtype(item)?;
        } else if !self.given(Param::Access) {
            self.mark(Param::Access)?;
            if !item.is_empty() {
                self.read_only = Some(access_value(item)?);
            }
        } else {
            return Err(format!(
                "{item:?}: too many positional parameters (target,format,vdev,access)"
            ));
        }
        Ok(())
    }

    /// A positional vdev, with xend's optional `:<devtype>`.
    fn vdev_and_devtype(&mut self, item: &'a str) -> Result<(), String> {
        self.mark(Param::Vdev)?;
        let vdev = match item.split_once(':') {
            Some((vdev, devtype)) => {
                self.mark(Param::Devtype)?;
                self.cdrom = Some(devtype_value(devtype)?);
                vdev
            }
            None => item,
        };
        if !vdev.is_empty() {
            self.vdev = Some((vdev, vdev_number(vdev)?));
        }
        Ok(())
    }

    /// Strips xend's `name:` prefixes from a positional target, recording what they give.
    fn strip_prefixes(&mut self, mut target: &'a str) -> Result<&'a str, String> {
        while let Some((word, rest)) = target.split_once(':') {
            let is_word = word.starts_with(|c: char| c.is_ascii_lowercase())
                && word
                    .bytes()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
            if !is_word {
                break;
            }
            let Some(p) = prefix(word) else {
                return Err(format!(
                    "unknown deprecated prefix \"{word}:\" (a target containing ':' is \
                     given as target=<target>, last)"
                ));
            };
            self.had_prefix = true;
            match p {
                Prefix::Format(f) => {
                    self.mark(Param::Format)?;
                    self.format = Some(f);
                }
                Prefix::Script(s) => {
                    self.mark(Param::Script)?;
                    self.script = Some(s);
                }
                Prefix::Backend(b) => match self.prefix_backend {
                    Some((other, first)) if other != b => {
                        return Err(format!(
                            "prefixes \"{first}:\" and \"{word}:\" name different back ends \
                             ({} and {})",
                            other.name(),
                            b.name()
                        ));
                    }
                    Some(_) => {}
                    None => self.prefix_backend = Some((b, word)),
                },
            }
            target = rest;
        }
        Ok(target)
    }

    /// Defaults, then refuses what is missing or what this dom0 cannot do.
    fn finish(self) -> Result<DiskSpec, String> {
        let Some((vdev, devid)) = self.vdev else {
            return Err("no vdev: the guest's device name (e.g. xvda) is mandatory".to_string());
        };
        let cdrom = self.cdrom.unwrap_or(false);
        let read_only = self.read_only.unwrap_or(cdrom);
        let Some(target) = self.target else {
            return Err(if cdrom {
                "no target: an empty cdrom drive is not supported here".to_string()
            } else {
                "no target: the dom0 device to serve is mandatory".to_string()
            });
        };
        let format = self.format.unwrap_or(DiskFormat::Raw);
        if format != DiskFormat::Raw {
            return Err(format!(
                "format {:?} is not supported: only raw is",
                format.name()
            ));
        }
        let backend_type = match (self.backend_type, self.prefix_backend) {
            (Some(b), Some((p, word))) if b != p => {
                return Err(format!(
                    "backendtype={} and the \"{word}:\" prefix ({}) disagree",
                    b.name(),
                    p.name()
                ));
            }
            (_, Some((p, word))) if p != BackendType::Phy => {
                return Err(format!(
                    "the \"{word}:\" prefix names back end {}, which is not supported: only \
                     phy (dom0's blkback) is",
                    p.name()
                ));
            }
            (Some(b), _) if b != BackendType::Phy => {
                return Err(format!(
                    "backendtype {:?} is not supported: only phy (dom0's blkback) is",
                    b.name()
                ));
            }
            _ => BackendType::Phy,
        };
        if let Some(backend) = self.backend {
            if backend != "0" && backend != "Domain-0" {
                return Err(format!(
                    "backend {backend:?} is not supported: only dom0 (0 or Domain-0) serves disks"
                ));
            }
        }
        if let Some(script) = self.script {
            return Err(format!(
                "script {script:?} is not supported: dom0 runs no block scripts, the target \
                 must be a dom0 block device"
            ));
        }
        if self.virtio {
            return Err(
                "specification \"virtio\" is not supported: only xen (blkfront/blkback) is"
                    .to_string(),
            );
        }
        if self.grant_usage.is_some() {
            return Err("grant_usage applies to specification=virtio only".to_string());
        }
        if let Some(colo) = self.colo {
            return Err(format!("{} given: COLO is not supported", colo.name()));
        }
        if target.contains(|c: char| c.is_ascii_control()) {
            return Err(format!("target {target:?} contains a control character"));
        }
        let target = if target.starts_with('/') {
            target.to_string()
        } else {
            format!("/dev/{target}")
        };
        Ok(DiskSpec {
            target,
            backend_type,
            format,
            vdev: vdev.to_string(),
            devid,
            read_only,
            cdrom,
            discard: self.discard.unwrap_or(!read_only),
            direct_io_safe: self.direct_io_safe,
            trusted: self.trusted.unwrap_or(true),
        })
    }
}

fn format_value(value: &str) -> Result<DiskFormat, String> {
    DiskFormat::from_name(value)
        .ok_or_else(|| format!("format {value:?} is not raw, qcow, qcow2, vhd, qed or empty"))
}

/// Whether `access=value` is read-only.
fn access_value(value: &str) -> Result<bool, String> {
    match value {
        "r" | "ro" => Ok(true),
        "w" | "rw" => Ok(false),
        _ => Err(format!("access {value:?} is not r, ro, w or rw")),
    }
}

/// Whether `devtype=value` is a cdrom.
fn devtype_value(value: &str) -> Result<bool, String> {
    match value {
        "cdrom" => Ok(true),
        "disk" => Ok(false),
        _ => Err(format!("devtype {value:?} is not cdrom or disk")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    fn ok(spec: &str) -> DiskSpec {
        DiskSpec::parse(spec).unwrap_or_else(|e| panic!("{e}"))
    }

    fn err(spec: &str) -> String {
        match DiskSpec::parse(spec) {
            Ok(d) => panic!("{spec:?} parsed: {d:?}"),
            Err(e) => e.to_string(),
        }
    }

    fn words_err(words: &[&str]) -> String {
        DiskSpec::parse_words(words).unwrap_err().to_string()
    }

    fn disk(target: &str, vdev: &str, devid: u32, read_only: bool, cdrom: bool) -> DiskSpec {
        DiskSpec {
            target: target.to_string(),
            backend_type: BackendType::Phy,
            format: DiskFormat::Raw,
            vdev: vdev.to_string(),
            devid,
            read_only,
            cdrom,
            discard: !read_only,
            direct_io_safe: false,
            trusted: true,
        }
    }

    /// xl-disk-configuration(5)'s first set of equivalent specs.
    #[test]
    fn doc_example_disk() {
        let want = disk("/dev/vg/guest-volume", "hda", 768, false, false);
        for spec in [
            "/dev/vg/guest-volume,,hda",
            "/dev/vg/guest-volume,raw,hda,rw",
            "format=raw, vdev=hda, access=rw, target=/dev/vg/guest-volume",
            "raw:/dev/vg/guest-volume,hda,w",
        ] {
            assert_eq!(ok(spec), want, "{spec}");
        }
        let words = [
            "format=raw",
            "vdev=hda",
            "access=rw",
            "target=/dev/vg/guest-volume",
        ];
        assert_eq!(DiskSpec::parse_words(&words).unwrap(), want);
    }

    /// xl-disk-configuration(5)'s second set: a cdrom, read-only by default.
    #[test]
    fn doc_example_cdrom() {
        let want = disk("/root/image.iso", "hdc", 5632, true, true);
        for spec in [
            "/root/image.iso,,hdc,cdrom",
            "/root/image.iso,,hdc,,cdrom",
            "/root/image.iso,raw,hdc,devtype=cdrom",
            "format=raw, vdev=hdc, access=ro, devtype=cdrom, target=/root/image.iso",
            "raw:/root/image.iso,hdc:cdrom,ro",
        ] {
            assert_eq!(ok(spec), want, "{spec}");
        }
        let words = [
            "format=raw",
            "vdev=hdc",
            "access=ro",
            "devtype=cdrom",
            "target=/root/image.iso",
        ];
        assert_eq!(DiskSpec::parse_words(&words).unwrap(), want);
        // Access given explicitly wins over the cdrom default.
        assert!(!ok("/root/image.iso,,hdc,w,cdrom").read_only);
    }

    /// xl.cfg's `disk = [ '/dev/vg/guest-volume,,hda', '/root/image.iso,,hdc,cdrom' ]`.
    #[test]
    fn doc_example_list() {
        let disks = parse_disk_list(&["/dev/vg/guest-volume,,hda", "/root/image.iso,,hdc,cdrom"]);
        assert_eq!(
            disks.unwrap(),
            vec![
                disk("/dev/vg/guest-volume", "hda", 768, false, false),
                disk("/root/image.iso", "hdc", 5632, true, true),
            ]
        );
    }

    #[test]
    fn deprecated_prefixes_and_backend_type() {
        let want = disk("/dev/vda2", "xvda", 51712, false, false);
        for spec in [
            "phy:/dev/vda2,xvda,w",
            "file:/dev/vda2,xvda,w",
            "phy:/dev/vda2,xvda,w,backendtype=phy",
            "/dev/vda2,,xvda",
            "backendtype=phy,vdev=xvda,access=w,target=/dev/vda2",
            "vdev=xvda,access=rw,format=raw,devtype=disk,backendtype=phy,backend=0,target=/dev/vda2",
            "backend=Domain-0,/dev/vda2,,xvda",
            "backend=,backendtype=,devtype=,/dev/vda2,,xvda",
            // Named empty ones are given: the positional parameters skip them.
            "format=,access=,/dev/vda2,xvda",
        ] {
            assert_eq!(ok(spec), want, "{spec}");
        }
        // A prefix means no positional format: "raw" here is the vdev.
        assert!(err("phy:/dev/vda2,raw,xvda").contains("vdev \"raw\" is not a Xen virtual"));
        assert_eq!(
            err("tap:aio:/img,xvda,w"),
            "disk spec \"tap:aio:/img,xvda,w\": the \"tap:\" prefix names back end tap, which \
             is not supported: only phy (dom0's blkback) is"
        );
        assert!(err("ioemu:/img,xvda,w").contains("back end qdisk, which is not supported"));
        assert!(err("phy:tap:/img,xvda,w").contains("name different back ends (phy and tap)"));
        assert!(err("tap:/img,xvda,w,backendtype=phy").contains("disagree"));
        assert!(err("foo:/img,xvda,w").contains("unknown deprecated prefix \"foo:\""));
        assert!(err("/img,,xvda,backendtype=qdisk")
            .contains("backendtype \"qdisk\" is not supported: only phy"));
        assert!(err("/img,,xvda,backendtype=standalone").contains("not supported"));
        assert!(err("/img,,xvda,backendtype=tap").contains("not supported"));
        assert!(err("/img,,xvda,backendtype=loop")
            .contains("backendtype \"loop\" is not phy, qdisk, standalone or tap"));
        // A colon after the first character that is not a word's is part of the target.
        let t = ok("iscsi-like/iqn.2001-05.com.example:disk0,,xvda");
        assert_eq!(t.target, "/dev/iscsi-like/iqn.2001-05.com.example:disk0");
        // target= takes commas and colons.
        assert_eq!(ok("vdev=xvda,target=/a:b,c d ").target, "/a:b,c d ");
    }

    /// Xen's check-xl-disk-parse cases, with what this dom0 refuses.
    #[test]
    fn xl_parse_cases() {
        assert_eq!(
            err("foo"),
            "disk spec \"foo\": no vdev: the guest's device name (e.g. xvda) is mandatory"
        );
        for spec in [
            "devtype=cdrom,,,hdc",
            ",,hdc:cdrom,r",
            ",hdc:cdrom,r",
            "vdev=hdc,access=r,devtype=cdrom,target=",
            ",empty,hdc:cdrom,r",
            "vdev=hdc,access=r,devtype=cdrom,format=empty",
            "vdev=hdc,access=r,devtype=cdrom",
        ] {
            assert!(
                err(spec).ends_with("no target: an empty cdrom drive is not supported here"),
                "{spec}"
            );
        }
        assert!(err("vdev=xvda").ends_with("no target: the dom0 device to serve is mandatory"));
        let iqn = "iqn.2001-05.com.equallogic:0-8a0906-23fe93404-c82797962054a96d-examplehost";
        for spec in [
            format!("iscsi:{iqn},xvda,w"),
            format!("vdev=xvda,access=w,script=block-iscsi,target={iqn}"),
        ] {
            assert!(
                err(&spec).contains("script \"block-iscsi\" is not supported"),
                "{spec}"
            );
        }
        assert!(err("drbd:app01,hda,w").contains("script \"block-drbd\" is not supported"));
        assert!(err("nbd:x,hda,w").contains("\"block-nbd\""));
        assert!(err("enbd:x,hda,w").contains("\"block-enbd\""));

        let d = DiskSpec::parse_words(&[" discard", "vdev=hda", "target=/some/disk/image.raw"]);
        let d = d.unwrap();
        assert!(d.discard && !d.read_only && !d.cdrom);
        let words = [
            " cdrom",
            "no-discard",
            "vdev=hda",
            "target=/some/disk/image.iso",
        ];
        let d = DiskSpec::parse_words(&words).unwrap();
        assert!(d.cdrom && d.read_only && !d.discard);
        // Flags separated by whitespace in one string, as xl's lexer allows.
        assert_eq!(
            ok("cdrom no-discard vdev=hda,target=/some/disk/image.iso"),
            d
        );
        let d = DiskSpec::parse_words(&[" trusted", "vdev=hda", "target=/x"]).unwrap();
        assert!(d.trusted);
        let d = DiskSpec::parse_words(&[" untrusted", "vdev=hda", "target=/x"]).unwrap();
        assert!(!d.trusted);
        // A word's target= ends with its word.
        let d = DiskSpec::parse_words(&["target=/a,b", ",xvdb", "r"]).unwrap();
        assert_eq!(
            (d.target.as_str(), d.devid, d.read_only),
            ("/a,b", 51728, true)
        );
    }

    #[test]
    fn flags_and_defaults() {
        let d = ok("/dev/vda2,,xvda,r,discard,direct-io-safe,untrusted");
        assert!(d.read_only && d.discard && d.direct_io_safe && !d.trusted);
        let d = ok("/dev/vda2,,xvda,no-discard");
        assert!(!d.read_only && !d.discard && !d.direct_io_safe && d.trusted);
        // Relative targets get /dev/, as Xen's.
        assert_eq!(ok("vg/root,,xvda").target, "/dev/vg/root");
        assert_eq!(ok("vda2,,xvda").target, "/dev/vda2");
        // Whitespace before parameters is ignored.
        assert_eq!(
            ok(" format=raw,\tvdev=xvda,\n target=/dev/vda2").target,
            "/dev/vda2"
        );
        // specification=xen is the default.
        assert_eq!(ok("/dev/vda2,,xvda,specification=xen").devid, 51712);
        // A positional empty target may be given again by name.
        assert_eq!(ok(",,xvda,target=/dev/vda3").target, "/dev/vda3");
    }

    #[test]
    fn vdev_numbers() {
        let cases: &[(&str, u32)] = &[
            ("xvda", 51712),
            ("xvdb", 51728),
            ("xvdc", 51744),
            ("xvdp", 51712 + 15 * 16),
            ("xvda1", 51713),
            ("xvda15", 51727),
            ("xvda0", 51712),
            ("xvdb3", 51731),
            // Disks or partitions from 16 on: the extended form.
            ("xvda16", (1 << 28) | 16),
            ("xvdq", (1 << 28) | (16 << 8)),
            ("xvdz", (1 << 28) | (25 << 8)),
            ("xvdaa", (1 << 28) | (26 << 8)),
            ("xvdaz", (1 << 28) | (51 << 8)),
            ("xvdba", (1 << 28) | (52 << 8)),
            ("xvdzz", (1 << 28) | (701 << 8)),
            ("xvdaaa", (1 << 28) | (702 << 8)),
            ("xvdq1", (1 << 28) | (16 << 8) | 1),
            ("xvdb255", (1 << 28) | (1 << 8) | 255),
            ("xvdtq37", (1 << 28) | (536 << 8) | 37),
            ("d536p37", (1 << 28) | (536 << 8) | 37),
            ("d0", 51712),
            ("d0p0", 51712),
            ("d1p2", 51730),
            ("d15p15", 51712 + 255),
            ("d16", (1 << 28) | (16 << 8)),
            ("d1048575p255", (2 << 28) - 1),
            ("sda", 2048),
            ("sdb", 2064),
            ("sdb3", 2067),
            ("sdp15", 2048 + 255),
            ("hda", 768),
            ("hda1", 769),
            ("hda63", 831),
            ("hdb", 832),
            ("hdc", 5632),
            ("hdc2", 5634),
            ("hdd", 5696),
            ("hdd63", 5759),
            ("51712", 51712),
            ("0xca00", 51712),
            ("0XCA00", 51712),
            ("0145000", 51712),
            ("0", 0),
            ("536870911", (2 << 28) - 1),
        ];
        for &(name, number) in cases {
            assert_eq!(vdev_number(name), Ok(number), "{name}");
            assert_eq!(ok(&format!("/dev/vda2,,{name}")).devid, number, "{name}");
        }
        // Each xvd disk letter from a to z, in the short form to p and extended beyond.
        for (i, c) in ('a'..='z').enumerate() {
            let i = i as u32;
            let want = if i < 16 {
                (202 << 8) | (i << 4)
            } else {
                (1 << 28) | (i << 8)
            };
            assert_eq!(vdev_number(&format!("xvd{c}")), Ok(want), "xvd{c}");
        }
    }

    #[test]
    fn bad_vdevs() {
        for name in [
            "vda",
            "xvd",
            "xvdA",
            "xvda-1",
            "xvda1x",
            "xv",
            "sd",
            "hd",
            "d",
            "dp1",
            "d0p",
            "dx",
            "d-1",
            "d0p1p2",
            "08",
            "0x",
            "0xg",
            "12a",
            "",
            " xvda",
            "xvda ",
            "xvd\u{e9}",
        ] {
            let e = vdev_number(name).unwrap_err();
            assert!(e.contains("is not a Xen virtual device"), "{name}: {e}");
        }
        let refused: &[(&str, &str)] = &[
            ("sdq", "SCSI disks are sda to sdp"),
            ("sdaa", "SCSI disks are sda to sdp"),
            ("sda16", "SCSI partitions go up to 15"),
            ("hde", "IDE disks are hda to hdd"),
            ("hdaa", "IDE disks are hda to hdd"),
            ("hda64", "IDE partitions go up to 63"),
            ("xvda256", "partition 256 is more than Xen's largest, 255"),
            ("d0p256", "partition 256 is more than Xen's largest, 255"),
            (
                "d1048576",
                "disk number 1048576 is more than Xen's largest, 1048575",
            ),
            ("xvdbgqcw", "disk number 1048576 is more than"),
            ("xvdzzzzzzzzzzzzzzz", "disk number beyond 2^32 is more than"),
            ("d99999999999999999999999", "disk number beyond 2^32"),
            ("xvda99999999999999999999", "partition beyond 2^32"),
            ("0x20000000", "are reserved by Xen"),
            ("99999999999999999999999", "are reserved by Xen"),
        ];
        for &(name, why) in refused {
            let e = vdev_number(name).unwrap_err();
            assert!(e.contains(why), "{name}: {e}");
        }
        // xvdbgqcv is disk 1048575, the largest.
        assert_eq!(vdev_number("xvdbgqcv"), Ok((1 << 28) | (1048575 << 8)));
        assert_eq!(
            err("/dev/vda2,,vda"),
            "disk spec \"/dev/vda2,,vda\": vdev \"vda\" is not a Xen virtual device \
             (xvd<letters>[N], hd<a-d>[N], sd<a-p>[N], d<N>[p<N>] or a number)"
        );
        assert!(err("vdev=sdq,target=/x").contains("SCSI disks are sda to sdp"));
        assert!(err("/x,,xvda:floppy").contains("devtype \"floppy\" is not cdrom or disk"));
    }

    #[test]
    fn bad_values() {
        assert_eq!(
            err("phy:/dev/vda2,xvda,x"),
            "disk spec \"phy:/dev/vda2,xvda,x\": access \"x\" is not r, ro, w or rw"
        );
        assert!(err("access=RW,/x,,xvda").contains("access \"RW\" is not r, ro, w or rw"));
        assert!(err("/x,,xvda,devtype=floppy").contains("devtype \"floppy\" is not cdrom or disk"));
        assert!(err("/x,vmdk,xvda")
            .contains("format \"vmdk\" is not raw, qcow, qcow2, vhd, qed or empty"));
        // A vdev where the format goes: say how to leave format empty.
        assert!(err("/dev/vda2,xvda,w").contains("\",,xvda\" leaves format empty"));
        for spec in [
            "/x,qcow2,xvda",
            "format=qcow2,vdev=xvda,target=/x",
            "qcow2:/x,xvda,w",
            "tap:qcow:/x,xvda,w",
            "vhd:/x,xvda,w",
            "/x,qed,xvda",
            "/x,empty,xvda",
        ] {
            let e = err(spec);
            assert!(e.contains("is not supported: only raw is"), "{spec}: {e}");
        }
        assert!(err("/x,,xvda,backend=1").contains("backend \"1\" is not supported: only dom0"));
        assert!(err("/x,,xvda,backend=driver-dom").contains("only dom0 (0 or Domain-0)"));
        assert!(err("/x,,xvda,specification=virtio").contains("\"virtio\" is not supported"));
        assert!(err("/x,,xvda,specification=scsi").contains("is not xen or virtio"));
        assert!(err("/x,,xvda,grant_usage=1").contains("grant_usage applies to"));
        assert!(err("/x,,xvda,grant_usage=yes").contains("grant_usage \"yes\" is not 1 or 0"));
        assert!(err("/x,,xvda,colo").contains("colo given: COLO is not supported"));
        for key in [
            "colo-host",
            "colo-port",
            "colo-export",
            "active-disk",
            "hidden-disk",
        ] {
            let e = err(&format!("/x,,xvda,{key}=v"));
            assert!(
                e.contains(&format!("{key} given: COLO is not supported")),
                "{e}"
            );
        }
        assert!(err("/x\u{7},,xvda").contains("contains a control character"));
    }

    #[test]
    fn bad_syntax() {
        assert!(err("/x,,xvda,mode=w").contains("unknown parameter \"mode\""));
        assert!(err("/x,,xvda,vdev =xvdb").contains("unknown parameter \"vdev \""));
        assert!(err("/x,,xvda,discard=1").contains("\"discard\" is a flag and takes no"));
        assert!(err("/x,,xvda,w,r").contains("\"r\": too many positional parameters"));
        assert!(err("vdev=xvda,vdev=xvdb,target=/x").ends_with("vdev given twice"));
        assert!(err("/x,,xvda,vdev=xvdb").ends_with("vdev given twice"));
        assert!(err("/x,raw,xvda,format=raw").ends_with("format given twice"));
        assert!(err("raw:/x,xvda,format=raw").ends_with("format given twice"));
        assert!(err("/x,,xvda,r,access=r").ends_with("access given twice"));
        assert!(err("/x,,xvda,discard,no-discard").ends_with("discard/no-discard given twice"));
        assert!(err("/x,,xvda,trusted,untrusted").ends_with("trusted/untrusted given twice"));
        assert!(err("/x,,xvda,cdrom,devtype=cdrom").ends_with("devtype given twice"));
        assert!(err(",,hdc:cdrom,cdrom,target=/x").ends_with("devtype given twice"));
        assert!(err("/x,,xvda,script=a,script=b").ends_with("script given twice"));
        assert!(err("drbd:x,xvda,w,script=block-drbd").ends_with("script given twice"));
        assert!(err("/x,,xvda,target=/y").ends_with("target given twice"));
        assert!(words_err(&["target=/x", "target=/y", "xvda"]).ends_with("target given twice"));
        assert!(words_err(&["target=", "target=/y", "xvda"]).ends_with("target given twice"));
        // target= first takes everything: the rest is not parsed as parameters.
        assert!(err("target=/dev/vda2,vdev=xvda,access=rw").contains("no vdev"));
        // An error in block-attach's words shows the words.
        assert_eq!(
            words_err(&["vdev=xvda", "access=x", "target=/x"]),
            "disk spec \"vdev=xvda access=x target=/x\": access \"x\" is not r, ro, w or rw"
        );
    }

    #[test]
    fn length_bound() {
        let vdev = ",,xvda";
        let fits = format!(
            "/{}{vdev}",
            "a".repeat(MAX_DISK_SPEC_BYTES - 1 - vdev.len())
        );
        assert_eq!(fits.len(), MAX_DISK_SPEC_BYTES);
        assert_eq!(ok(&fits).target.len(), MAX_DISK_SPEC_BYTES - vdev.len());
        let long = format!("/a{fits}");
        let e = DiskSpec::parse(&long).unwrap_err();
        assert_eq!(e.spec, format!("/a/{}...", "a".repeat(37)));
        assert_eq!(
            e.reason,
            "4098 bytes, more than the 4096 a disk spec may have"
        );
        // block-attach's words count with the spaces between them.
        let a = "a".repeat(2048);
        let e = words_err(&["vdev=xvda", &format!("target=/{a}"), &a]);
        assert!(e.contains("4115 bytes, more than the 4096"), "{e}");
        // A multi-byte character at the cut is not split.
        let wide = format!("/{}", "\u{e9}".repeat(MAX_DISK_SPEC_BYTES));
        let e = DiskSpec::parse(&wide).unwrap_err();
        assert_eq!(e.spec, format!("/{}...", "\u{e9}".repeat(19)));
    }

    #[test]
    fn lists_refuse_one_vdev_twice() {
        let e = parse_disk_list(&["/dev/vda2,,xvda", "/dev/vda3,,xvdb", "/dev/vda4,,xvda"]);
        assert_eq!(
            e.unwrap_err().to_string(),
            "disk spec \"/dev/vda4,,xvda\": xvda given twice"
        );
        let e = parse_disk_list(&["/dev/vda2,,xvda", "/dev/vda3,,d0p0"]).unwrap_err();
        assert_eq!(
            e.reason,
            "vdev \"d0p0\" is the same device as \"xvda\" (number 51712), given before"
        );
        let e = parse_disk_list(&["/dev/vda2,,xvdb", "/dev/vda3,,51728"]).unwrap_err();
        assert!(e.reason.contains("same device as \"xvdb\""));
        // A bad item is reported with its own spec.
        let e = parse_disk_list(&["/dev/vda2,,xvda", "/dev/vda3,,vdb"]).unwrap_err();
        assert_eq!(e.spec, "/dev/vda3,,vdb");
        // Different devices pass, in order; hda and xvda are different numbers.
        let specs = vec![
            String::from("/dev/vda2,,xvda"),
            String::from("/dev/vda3,,hda"),
            String::from("/dev/vda4,,xvda1"),
        ];
        let disks = parse_disk_list(&specs).unwrap();
        let ids: Vec<u32> = disks.iter().map(|d| d.devid).collect();
        assert_eq!(ids, [51712, 768, 51713]);
        assert_eq!(parse_disk_list::<&str>(&[]).unwrap(), []);

        let new = ok("/dev/vda5,,d0");
        let e = check_vdev_free(&disks, &new, "/dev/vda5,,d0").unwrap_err();
        assert!(e.to_string().contains("same device as \"xvda\""), "{e}");
        let new = ok("/dev/vda5,,xvda1");
        assert!(check_vdev_free(&disks, &new, "x").unwrap_err().reason == "xvda1 given twice");
        assert!(check_vdev_free(&disks, &ok("/dev/vda5,,xvdb"), "x").is_ok());
    }

    #[test]
    fn names() {
        for b in [
            BackendType::Phy,
            BackendType::Tap,
            BackendType::Qdisk,
            BackendType::Standalone,
        ] {
            assert_eq!(BackendType::from_name(b.name()), Some(b));
        }
        for f in [
            DiskFormat::Raw,
            DiskFormat::Qcow,
            DiskFormat::Qcow2,
            DiskFormat::Vhd,
            DiskFormat::Qed,
            DiskFormat::Empty,
        ] {
            assert_eq!(DiskFormat::from_name(f.name()), Some(f));
        }
        assert_eq!(BackendType::from_name("file"), None);
        assert_eq!(DiskFormat::from_name("RAW"), None);
    }
}
