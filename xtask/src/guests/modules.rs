//! The kernel modules the Linux guests' initramfs carries and loads at boot.
//!
//! Debian's kernel builds the Xen front ends and ext4 as modules (`CONFIG_XEN_BLKDEV_FRONTEND=m`,
//! `CONFIG_XEN_NETDEV_FRONTEND=m`, `CONFIG_EXT4_FS=m`), uncompressed
//! (`CONFIG_MODULE_COMPRESS_NONE`) under `lib/modules/<release>/kernel/`, signed by Debian (the
//! kernel checks them against its built-in key; unsigned ones would only taint it). The
//! package has no `modules.dep` (its postinst runs depmod), so the dependencies come from each
//! module's own `.modinfo` section: `depends=` (hard, followed here) and `softdep=pre:` (which
//! the kernel asks modprobe for by alias at run time, e.g. ext4's `crypto-crc32c`; each must be
//! provided, by name or `alias=`, by a module listed in [`LOAD`] before the one wanting it).
//!
//! The initramfs gets the resolved modules at their paths, a `modules.dep` in depmod's format
//! (busybox modprobe reads it) and `/etc/modules`, the names `/init` modprobes in order.

use dom0_tools::initrd::Member;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The modules `/init` loads, in order (relative to `lib/modules/<release>/`): the block and
/// network front ends, the crc32c ext4 and jbd2 want first (their `softdep`), and ext4 (which
/// also mounts ext2 and ext3: `CONFIG_EXT4_USE_FOR_EXT2`). Their dependencies join them.
pub const LOAD: [&str; 4] = [
    "kernel/drivers/block/xen-blkfront.ko",
    "kernel/drivers/net/xen-netfront.ko",
    "kernel/crypto/crc32c_generic.ko",
    "kernel/fs/ext4/ext4.ko",
];

/// What a module's `.modinfo` says about loading it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ModInfo {
    /// `depends=`: module names (underscores) it links against.
    pub depends: Vec<String>,
    /// `softdep=pre: ...`: names or aliases to load before it.
    pub softdep_pre: Vec<String>,
    /// `alias=` values.
    pub aliases: Vec<String>,
    /// `vermagic=`: starts with the kernel release it was built for.
    pub vermagic: String,
}

/// One module: its path under `lib/modules/<release>/`, its name and contents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Module {
    pub path: String,
    pub name: String,
    pub info: ModInfo,
    pub data: Vec<u8>,
}

/// The modules of [`LOAD`] and their dependencies, dependencies first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinuxModules {
    /// The kernel release (`uname -r`): `6.1.0-57-amd64`.
    pub release: String,
    pub modules: Vec<Module>,
    /// The paths in the initramfs of the modules' directories (parents first), of the modules
    /// (as [`Self::modules`]) and of `modules.dep`.
    dirs: Vec<String>,
    files: Vec<String>,
    dep_path: String,
    /// `modules.dep` as depmod writes it: each module, then every module it needs, the one to
    /// load first last.
    dep: String,
    /// `/etc/modules`: the names `/init` modprobes, one a line, in order.
    etc_modules: String,
}

/// A module's name from its file name: `xen-blkfront.ko` is `xen_blkfront` (as the kernel and
/// modprobe name it).
pub fn module_name(path: &str) -> Option<String> {
    let file = path.rsplit('/').next()?;
    Some(file.strip_suffix(".ko")?.replace('-', "_"))
}

fn u16_at(d: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(d.get(at..at + 2)?.try_into().ok()?))
}
fn u32_at(d: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(d.get(at..at + 4)?.try_into().ok()?))
}
fn u64_at(d: &[u8], at: usize) -> Option<usize> {
    usize::try_from(u64::from_le_bytes(d.get(at..at + 8)?.try_into().ok()?)).ok()
}

/// The bytes of the section `name` of a 64-bit little-endian ELF file (a module is a
/// relocatable ELF object).
pub fn elf_section<'a>(elf: &'a [u8], name: &str) -> Result<&'a [u8], String> {
    if elf.get(..6) != Some(&[0x7F, b'E', b'L', b'F', 2, 1][..]) {
        return Err("not a 64-bit little-endian ELF file".into());
    }
    let bad = || "its section headers are out of bounds".to_string();
    let shoff = u64_at(elf, 0x28).ok_or_else(bad)?;
    let shentsize = usize::from(u16_at(elf, 0x3A).ok_or_else(bad)?);
    let shnum = usize::from(u16_at(elf, 0x3C).ok_or_else(bad)?);
    let shstrndx = usize::from(u16_at(elf, 0x3E).ok_or_else(bad)?);
    if shentsize < 64 {
        return Err(format!("section header size {shentsize}"));
    }
    let header = |i: usize| -> Option<(usize, usize, usize)> {
        let at = shoff.checked_add(i.checked_mul(shentsize)?)?;
        let name = u32_at(elf, at)? as usize;
        Some((name, u64_at(elf, at + 24)?, u64_at(elf, at + 32)?))
    };
    let bytes = |off: usize, size: usize| elf.get(off..off.checked_add(size)?);
    let (_, stroff, strsize) = header(shstrndx).ok_or_else(bad)?;
    let strtab = bytes(stroff, strsize).ok_or_else(bad)?;
    for i in 0..shnum {
        let (n, off, size) = header(i).ok_or_else(bad)?;
        let sname = strtab.get(n..).and_then(|s| s.split(|&b| b == 0).next());
        if sname == Some(name.as_bytes()) {
            return bytes(off, size).ok_or_else(bad);
        }
    }
    Err(format!("no {name} section"))
}

/// The `.modinfo` of a module file.
pub fn modinfo(ko: &[u8]) -> Result<ModInfo, String> {
    let section = elf_section(ko, ".modinfo")?;
    let mut info = ModInfo::default();
    for entry in section.split(|&b| b == 0) {
        let entry = String::from_utf8_lossy(entry);
        let Some((key, value)) = entry.split_once('=') else {
            continue;
        };
        match key {
            "depends" => info.depends.extend(
                value
                    .split(',')
                    .filter(|d| !d.is_empty())
                    .map(|d| d.replace('-', "_")),
            ),
            "softdep" => {
                let mut pre = false;
                for word in value.split_whitespace() {
                    match word {
                        "pre:" => pre = true,
                        "post:" => pre = false,
                        w if pre => info.softdep_pre.push(w.to_string()),
                        _ => {}
                    }
                }
            }
            "alias" => info.aliases.push(value.to_string()),
            "vermagic" => info.vermagic = value.to_string(),
            _ => {}
        }
    }
    Ok(info)
}

/// Module names to paths.
type ByName = BTreeMap<String, String>;

/// Every `.ko` under `dir` by module name, as paths relative to `dir`; compressed modules
/// (`.ko.xz`, `.ko.zst`, `.ko.gz`) by name too, to say why they cannot be used.
fn scan(dir: &Path) -> Result<(ByName, ByName), String> {
    let (mut plain, mut compressed) = (BTreeMap::new(), BTreeMap::new());
    let mut todo = vec![dir.join("kernel")];
    while let Some(d) = todo.pop() {
        let list = std::fs::read_dir(&d).map_err(|e| format!("{}: {e}", d.display()))?;
        for entry in list.flatten() {
            let path = entry.path();
            if path.is_dir() {
                todo.push(path);
                continue;
            }
            let rel = path
                .strip_prefix(dir)
                .expect("under dir")
                .to_string_lossy()
                .into_owned();
            if let Some(name) = module_name(&rel) {
                plain.insert(name, rel);
            } else if let Some(stem) = [".xz", ".zst", ".gz"]
                .iter()
                .find_map(|z| rel.strip_suffix(z))
                .and_then(module_name)
            {
                compressed.insert(stem, rel);
            }
        }
    }
    Ok((plain, compressed))
}

impl LinuxModules {
    /// [`LOAD`] and what they depend on, read from `dir` (`lib/modules/<release>` of the
    /// unpacked kernel package, whose name is the release).
    pub fn resolve(dir: &Path) -> Result<LinuxModules, String> {
        let release = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .ok_or_else(|| format!("{}: no kernel release in the name", dir.display()))?;
        let (plain, compressed) = scan(dir)?;
        let compressed_why = |what: &str, file: &str| {
            format!(
                "{what}: Debian's kernel ships it compressed ({}/{file}); the initramfs \
                 carries uncompressed modules only (CONFIG_MODULE_COMPRESS_NONE, as 6.1's)",
                dir.display()
            )
        };
        // Depth-first from each module of LOAD: dependencies before dependents.
        let mut order: Vec<Module> = Vec::new();
        let mut stack: Vec<(String, bool)> = LOAD
            .iter()
            .rev()
            .map(|p| (module_name(p).expect("a .ko"), false))
            .collect();
        let mut visiting: Vec<String> = Vec::new();
        while let Some((name, deps_done)) = stack.pop() {
            if order.iter().any(|m| m.name == name) {
                continue;
            }
            let Some(rel) = plain.get(&name) else {
                return Err(match compressed.get(&name) {
                    Some(file) => compressed_why(&name, file),
                    None => format!("module {name}: no {name}.ko under {}", dir.display()),
                });
            };
            let path = dir.join(rel);
            let data = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            let info = modinfo(&data).map_err(|e| format!("{}: {e}", path.display()))?;
            if deps_done {
                visiting.retain(|v| v != &name);
                order.push(Module {
                    path: rel.clone(),
                    name,
                    info,
                    data,
                });
                continue;
            }
            if visiting.contains(&name) {
                return Err(format!(
                    "module {name}: a dependency cycle through {visiting:?}"
                ));
            }
            if !info.vermagic.starts_with(&format!("{release} ")) {
                return Err(format!(
                    "{}: built for {:?}, not {release}",
                    path.display(),
                    info.vermagic
                ));
            }
            visiting.push(name.clone());
            stack.push((name, true));
            for dep in info.depends.iter().rev() {
                stack.push((dep.clone(), false));
            }
        }
        // A soft dependency must be met by a module loaded before: /init loads in order.
        for (i, m) in order.iter().enumerate() {
            for want in &m.info.softdep_pre {
                let met = order[..i]
                    .iter()
                    .any(|o| o.name == want.replace('-', "_") || o.info.aliases.contains(want));
                if !met {
                    return Err(format!(
                        "module {} wants {want} loaded before it (softdep) and no module \
                         before it in the initramfs provides it: add it to guests::modules::LOAD",
                        m.name
                    ));
                }
            }
        }
        Ok(Self::new(release, order))
    }

    fn new(release: String, modules: Vec<Module>) -> LinuxModules {
        let dir = format!("lib/modules/{release}");
        let mut dirs = vec!["lib".to_string(), "lib/modules".to_string(), dir.clone()];
        for m in &modules {
            let mut at = dir.clone();
            for part in m
                .path
                .split('/')
                .collect::<Vec<_>>()
                .split_last()
                .expect("a path")
                .1
            {
                at = format!("{at}/{part}");
                if !dirs.contains(&at) {
                    dirs.push(at.clone());
                }
            }
        }
        let dep = modules
            .iter()
            .map(|m| {
                let deps: Vec<&str> = Self::closure(&modules, m)
                    .iter()
                    .rev()
                    .map(|d| d.path.as_str())
                    .collect();
                format!(
                    "{}:{}\n",
                    m.path,
                    deps.iter().map(|d| format!(" {d}")).collect::<String>()
                )
            })
            .collect();
        let etc_modules = LOAD
            .iter()
            .map(|p| format!("{}\n", module_name(p).expect("a .ko")))
            .collect();
        LinuxModules {
            files: modules
                .iter()
                .map(|m| format!("{dir}/{}", m.path))
                .collect(),
            dep_path: format!("{dir}/modules.dep"),
            release,
            modules,
            dirs,
            dep,
            etc_modules,
        }
    }

    /// Every module `m` needs (transitively), in load order.
    fn closure<'m>(modules: &'m [Module], m: &Module) -> Vec<&'m Module> {
        let mut need: Vec<&str> = m.info.depends.iter().map(String::as_str).collect();
        let mut i = 0;
        while i < need.len() {
            if let Some(d) = modules.iter().find(|o| o.name == need[i]) {
                for dd in &d.info.depends {
                    if !need.contains(&dd.as_str()) {
                        need.push(dd);
                    }
                }
            }
            i += 1;
        }
        modules
            .iter()
            .filter(|o| need.contains(&o.name.as_str()))
            .collect()
    }

    /// The paths (relative to `lib/modules/<release>/`) of the modules.
    pub fn paths(&self) -> impl Iterator<Item = &str> {
        self.modules.iter().map(|m| m.path.as_str())
    }

    /// The initramfs's members: the directories, the modules, `modules.dep`, `/etc/modules`.
    pub fn members(&self) -> Vec<Member<'_>> {
        let mut out: Vec<Member<'_>> = self
            .dirs
            .iter()
            .map(|d| Member::Dir {
                path: d,
                mode: 0o755,
            })
            .collect();
        out.extend(
            self.modules
                .iter()
                .zip(&self.files)
                .map(|(m, path)| Member::File {
                    path,
                    mode: 0o644,
                    data: &m.data,
                }),
        );
        out.push(Member::File {
            path: &self.dep_path,
            mode: 0o644,
            data: self.dep.as_bytes(),
        });
        out.push(Member::File {
            path: "etc/modules",
            mode: 0o644,
            data: self.etc_modules.as_bytes(),
        });
        out
    }
}

/// Keeps in `modules_root` (`lib/modules/` of an unpacked kernel package) only what the
/// initramfs carries: for each release, [`LinuxModules::resolve`]'s modules. The rest (some
/// 300 MB) goes.
pub fn prune(modules_root: &Path) -> Result<(), String> {
    let err = |p: &Path, e: std::io::Error| format!("{}: {e}", p.display());
    let list = std::fs::read_dir(modules_root).map_err(|e| err(modules_root, e))?;
    for entry in list.flatten() {
        let dir: PathBuf = entry.path();
        if !dir.is_dir() {
            continue;
        }
        let mods = LinuxModules::resolve(&dir)?;
        let keep = modules_root.join(format!("{}.keep", mods.release));
        for rel in mods.paths() {
            let to = keep.join(rel);
            std::fs::create_dir_all(to.parent().expect("a parent")).map_err(|e| err(&to, e))?;
            std::fs::rename(dir.join(rel), &to).map_err(|e| err(&to, e))?;
        }
        std::fs::remove_dir_all(&dir).map_err(|e| err(&dir, e))?;
        std::fs::rename(&keep, &dir).map_err(|e| err(&dir, e))?;
    }
    Ok(())
}

#[cfg(test)]
pub mod tests {
    use super::*;

    /// A relocatable ELF64 object with a `.modinfo` section of `entries` (and a section
    /// before it, so that finding it takes the names).
    pub fn fake_ko(entries: &[&str]) -> Vec<u8> {
        let modinfo: Vec<u8> = entries
            .iter()
            .flat_map(|e| [e.as_bytes(), b"\0"].concat())
            .collect();
        let text = b"\x90\x90\x90\x90".to_vec();
        let shstrtab = b"\0.text\0.modinfo\0.shstrtab\0".to_vec();
        let mut elf = vec![0u8; 64];
        elf[..7].copy_from_slice(&[0x7F, b'E', b'L', b'F', 2, 1, 1]);
        elf[16..18].copy_from_slice(&1u16.to_le_bytes()); // ET_REL
        elf[18..20].copy_from_slice(&62u16.to_le_bytes()); // EM_X86_64
        let mut sections = vec![(0u32, 0usize, 0usize)];
        for (name, data) in [(1u32, &text), (7, &modinfo), (16, &shstrtab)] {
            sections.push((name, elf.len(), data.len()));
            elf.extend_from_slice(data);
        }
        let shoff = elf.len();
        for (name, off, size) in &sections {
            let mut h = [0u8; 64];
            h[..4].copy_from_slice(&name.to_le_bytes());
            h[24..32].copy_from_slice(&(*off as u64).to_le_bytes());
            h[32..40].copy_from_slice(&(*size as u64).to_le_bytes());
            elf.extend_from_slice(&h);
        }
        elf[0x28..0x30].copy_from_slice(&(shoff as u64).to_le_bytes());
        elf[0x3A..0x3C].copy_from_slice(&64u16.to_le_bytes());
        elf[0x3C..0x3E].copy_from_slice(&(sections.len() as u16).to_le_bytes());
        elf[0x3E..0x40].copy_from_slice(&3u16.to_le_bytes());
        elf
    }

    const RELEASE: &str = "6.1.0-57-amd64";

    /// Debian 6.1's modules as far as loading them goes, plus one the initramfs does not
    /// want: `(path, modinfo)`.
    fn debian_like() -> Vec<(&'static str, Vec<String>)> {
        let vermagic = format!("vermagic={RELEASE} SMP preempt mod_unload modversions ");
        let with = |more: &[&str]| {
            let mut v: Vec<String> = more.iter().map(|s| s.to_string()).collect();
            v.push(vermagic.clone());
            v
        };
        vec![
            (
                "kernel/drivers/block/xen-blkfront.ko",
                with(&["depends=", "alias=xen:vbd"]),
            ),
            ("kernel/drivers/net/xen-netfront.ko", with(&["depends="])),
            (
                "kernel/crypto/crc32c_generic.ko",
                with(&["alias=crypto-crc32c", "alias=crc32c", "depends="]),
            ),
            (
                "kernel/fs/ext4/ext4.ko",
                with(&["softdep=pre: crypto-crc32c", "depends=jbd2,mbcache,crc16"]),
            ),
            (
                "kernel/fs/jbd2/jbd2.ko",
                with(&["softdep=pre: crypto-crc32c", "depends="]),
            ),
            ("kernel/fs/mbcache.ko", with(&["depends="])),
            ("kernel/lib/crc16.ko", with(&["depends="])),
            (
                "kernel/sound/xen/snd_xen_front.ko",
                with(&["depends=xen-front-pgdir-shbuf"]),
            ),
        ]
    }

    /// `lib/modules/<RELEASE>` of `tree` under a fresh scratch directory.
    fn scratch_tree(name: &str, tree: &[(&str, Vec<String>)]) -> (PathBuf, PathBuf) {
        let root = crate::qemu::workspace_root()
            .join("target/xtask-test")
            .join(format!("{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let dir = root.join("lib/modules").join(RELEASE);
        for (path, info) in tree {
            let file = dir.join(path);
            std::fs::create_dir_all(file.parent().unwrap()).unwrap();
            let info: Vec<&str> = info.iter().map(String::as_str).collect();
            std::fs::write(&file, fake_ko(&info)).unwrap();
        }
        std::fs::write(dir.join("modules.order"), b"").unwrap();
        (root, dir)
    }

    /// The modules of [`debian_like`], resolved (for the initramfs's tests).
    pub fn fake_modules() -> LinuxModules {
        let (root, dir) = scratch_tree("fake-modules", &debian_like());
        let m = LinuxModules::resolve(&dir).expect("resolves");
        std::fs::remove_dir_all(root).unwrap();
        m
    }

    #[test]
    fn modinfo_of_an_elf_object() {
        let ko = fake_ko(&[
            "alias=crypto-crc32c",
            "softdep=pre: crypto-crc32c a-b post: later",
            "depends=jbd2,crc-16",
            "vermagic=6.1.0-57-amd64 SMP",
            "license=GPL",
            "no equals sign",
        ]);
        let info = modinfo(&ko).unwrap();
        assert_eq!(info.depends, ["jbd2", "crc_16"]);
        assert_eq!(info.softdep_pre, ["crypto-crc32c", "a-b"]);
        assert_eq!(info.aliases, ["crypto-crc32c"]);
        assert_eq!(info.vermagic, "6.1.0-57-amd64 SMP");
        assert_eq!(
            modinfo(&fake_ko(&["depends="])).unwrap().depends,
            Vec::<String>::new()
        );
        assert_eq!(elf_section(&ko, ".text").unwrap(), b"\x90\x90\x90\x90");
        assert!(elf_section(&ko, ".data").unwrap_err().contains("no .data"));
        assert!(modinfo(b"\x28\xb5\x2f\xfd zstd")
            .unwrap_err()
            .contains("not a 64-bit"));
        let mut cut = ko.clone();
        cut.truncate(ko.len() - 40);
        assert!(modinfo(&cut).unwrap_err().contains("out of bounds"));
        let mut far = ko.clone();
        far[0x28..0x30].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(modinfo(&far).is_err());
        assert_eq!(
            module_name("kernel/drivers/block/xen-blkfront.ko").unwrap(),
            "xen_blkfront"
        );
        assert_eq!(module_name("kernel/fs/ext4/ext4.ko.xz"), None);
    }

    #[test]
    fn the_modules_their_dependencies_first_and_nothing_else() {
        let m = fake_modules();
        assert_eq!(m.release, RELEASE);
        let names: Vec<&str> = m.modules.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "xen_blkfront",
                "xen_netfront",
                "crc32c_generic",
                "jbd2",
                "mbcache",
                "crc16",
                "ext4"
            ]
        );
        assert_eq!(
            m.dep,
            "kernel/drivers/block/xen-blkfront.ko:\n\
             kernel/drivers/net/xen-netfront.ko:\n\
             kernel/crypto/crc32c_generic.ko:\n\
             kernel/fs/jbd2/jbd2.ko:\n\
             kernel/fs/mbcache.ko:\n\
             kernel/lib/crc16.ko:\n\
             kernel/fs/ext4/ext4.ko: kernel/lib/crc16.ko kernel/fs/mbcache.ko kernel/fs/jbd2/jbd2.ko\n"
        );
        assert_eq!(
            m.etc_modules,
            "xen_blkfront\nxen_netfront\ncrc32c_generic\next4\n"
        );
        // Directories before what they hold (etc/ is the busybox tree's); each path once.
        let members = m.members();
        let paths: Vec<&str> = members
            .iter()
            .map(|x| match *x {
                Member::Dir { path, .. } | Member::File { path, .. } => path,
                _ => panic!("only directories and files"),
            })
            .collect();
        for (i, p) in paths.iter().enumerate() {
            assert!(!paths[i + 1..].contains(p), "{p} twice");
            match p.rsplit_once('/') {
                Some(("etc", _)) | None => {}
                Some((parent, _)) => assert!(paths[..i].contains(&parent), "{p} before {parent}"),
            }
        }
        assert!(paths.contains(&"lib/modules/6.1.0-57-amd64/kernel/fs/ext4/ext4.ko"));
        assert!(paths.contains(&"lib/modules/6.1.0-57-amd64/modules.dep"));
        assert!(paths.contains(&"etc/modules"));
    }

    #[test]
    fn what_cannot_be_loaded_is_refused_naming_why() {
        type Tree = Vec<(&'static str, Vec<String>)>;
        /// A name, a change to the tree, what the error must say.
        type Case = (&'static str, fn(&mut Tree), &'static str);
        let cases: [Case; 5] = [
            (
                "missing",
                |t| t.retain(|(p, _)| !p.ends_with("mbcache.ko")),
                "module mbcache: no mbcache.ko",
            ),
            (
                "compressed",
                |t| {
                    t.iter_mut().for_each(|(p, _)| {
                        if p.ends_with("jbd2.ko") {
                            *p = "kernel/fs/jbd2/jbd2.ko.xz";
                        }
                    })
                },
                "compressed",
            ),
            (
                "vermagic",
                |t| t[1].1 = vec!["vermagic=6.1.0-58-amd64 SMP".into()],
                "built for \"6.1.0-58-amd64 SMP\", not 6.1.0-57-amd64",
            ),
            (
                "softdep",
                |t| t[2].1.retain(|i| !i.starts_with("alias=")),
                "module jbd2 wants crypto-crc32c loaded before it",
            ),
            (
                "cycle",
                |t| t[5].1.push("depends=ext4".into()),
                "dependency cycle",
            ),
        ];
        for (name, change, want) in cases {
            let mut tree = debian_like();
            change(&mut tree);
            let (root, dir) = scratch_tree(&format!("modules-{name}"), &tree);
            let e = LinuxModules::resolve(&dir).unwrap_err();
            assert!(e.contains(want), "{name}: {e}");
            std::fs::remove_dir_all(root).unwrap();
        }
    }

    #[test]
    fn prune_keeps_only_the_initramfs_modules() {
        let (root, dir) = scratch_tree("modules-prune", &debian_like());
        prune(&root.join("lib/modules")).unwrap();
        let mut left = Vec::new();
        let mut todo = vec![dir.clone()];
        while let Some(d) = todo.pop() {
            for e in std::fs::read_dir(&d).unwrap().flatten() {
                if e.path().is_dir() {
                    todo.push(e.path());
                } else {
                    left.push(
                        e.path()
                            .strip_prefix(&dir)
                            .unwrap()
                            .to_string_lossy()
                            .into_owned(),
                    );
                }
            }
        }
        left.sort();
        assert_eq!(
            left,
            [
                "kernel/crypto/crc32c_generic.ko",
                "kernel/drivers/block/xen-blkfront.ko",
                "kernel/drivers/net/xen-netfront.ko",
                "kernel/fs/ext4/ext4.ko",
                "kernel/fs/jbd2/jbd2.ko",
                "kernel/fs/mbcache.ko",
                "kernel/lib/crc16.ko",
            ]
        );
        assert_eq!(LinuxModules::resolve(&dir).unwrap(), fake_modules());
        let only: Vec<_> = std::fs::read_dir(root.join("lib/modules"))
            .unwrap()
            .collect();
        assert_eq!(only.len(), 1, "no .keep directory left");
        std::fs::remove_dir_all(root).unwrap();
    }

    /// Debian's real kernel package (fetched on first use): its modules resolve to these,
    /// each signed and built for the kernel's release.
    #[test]
    fn debians_kernel_modules() {
        let guests = crate::guests::Cache::new()
            .ensure(false)
            .expect("Debian's guests");
        let m = LinuxModules::resolve(&guests.modules).unwrap();
        let mut names: Vec<&str> = m.modules.iter().map(|m| m.name.as_str()).collect();
        names.sort();
        assert_eq!(
            names,
            [
                "crc16",
                "crc32c_generic",
                "ext4",
                "jbd2",
                "mbcache",
                "xen_blkfront",
                "xen_netfront"
            ]
        );
        for module in &m.modules {
            assert!(
                module.data.ends_with(b"~Module signature appended~\n"),
                "{} is signed",
                module.name
            );
        }
        let ext4 = m.modules.iter().position(|x| x.name == "ext4").unwrap();
        let jbd2 = m.modules.iter().position(|x| x.name == "jbd2").unwrap();
        let crc = m
            .modules
            .iter()
            .position(|x| x.name == "crc32c_generic")
            .unwrap();
        assert!(crc < jbd2 && jbd2 < ext4, "{names:?}");
    }
}
