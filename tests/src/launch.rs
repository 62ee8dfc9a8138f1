//! Where the images are and how QEMU is started (docs/design.md, "Images and boot").

use std::path::{Path, PathBuf};

/// The message every e2e test fails with when the images are not built.
pub const NOT_BUILT: &str = "run `cargo xtask build` first (or use `cargo xtask test`)";

/// The workspace root (parent of this crate).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// `target/` of the workspace (where `cargo xtask build` puts `images/`, whatever
/// `CARGO_TARGET_DIR` says).
pub fn target_dir() -> PathBuf {
    workspace_root().join("target")
}

/// The images directory: `$E2E_IMAGES`, else `target/images`.
pub fn images_dir() -> PathBuf {
    match std::env::var_os("E2E_IMAGES") {
        Some(d) => PathBuf::from(d),
        None => target_dir().join("images"),
    }
}

/// Where transcripts go: `target/e2e-logs/`.
pub fn logs_dir() -> PathBuf {
    target_dir().join("e2e-logs")
}

/// An example config from `dom0-tools/examples/` (the one packed into dom0's /etc/xen/).
pub fn example_config(name: &str) -> Option<String> {
    std::fs::read_to_string(workspace_root().join("dom0-tools/examples").join(name)).ok()
}

/// Split a line into words like a shell would for the simple cases: whitespace separates,
/// single and double quotes group, backslash escapes the next character (outside single quotes).
pub fn shell_words(line: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => cur.push(c),
                        None => return Err(format!("unterminated ' in {line:?}")),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c) => cur.push(c),
                            None => return Err(format!("trailing \\ in {line:?}")),
                        },
                        Some(c) => cur.push(c),
                        None => return Err(format!("unterminated \" in {line:?}")),
                    }
                }
            }
            '\\' => {
                in_word = true;
                match chars.next() {
                    Some(c) => cur.push(c),
                    None => return Err(format!("trailing \\ in {line:?}")),
                }
            }
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    Ok(words)
}

/// Parse `qemu-args.txt`: one argument per line, verbatim (an empty line is an empty argument,
/// as after an empty `-append`), as `cargo xtask build` writes it; a file of a single line is
/// split into shell words instead. `#` comment lines and a leading `qemu-system-*` program name
/// are dropped. Returns `(program if given, args)`.
pub fn parse_args_file(text: &str) -> Result<(Option<String>, Vec<String>), String> {
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .collect();
    let mut words = match lines.as_slice() {
        [] => Vec::new(),
        [one] => shell_words(one)?,
        many => many.iter().map(|l| l.to_string()).collect(),
    };
    let prog = match words.first() {
        Some(w)
            if Path::new(w)
                .file_name()
                .is_some_and(|f| f.to_string_lossy().starts_with("qemu-system")) =>
        {
            Some(words.remove(0))
        }
        _ => None,
    };
    Ok((prog, words))
}

/// Add words to the hypervisor command line: extend an existing `-append`, else add one.
pub fn append_cmdline(args: &mut Vec<String>, extra: &str) {
    let extra = extra.trim();
    if extra.is_empty() {
        return;
    }
    if let Some(i) = args.iter().position(|a| a == "-append") {
        if let Some(v) = args.get_mut(i + 1) {
            if v.trim().is_empty() {
                *v = extra.to_string();
            } else {
                v.push(' ');
                v.push_str(extra);
            }
            return;
        }
    }
    args.push("-append".into());
    args.push(extra.into());
}

/// Set QEMU option `opt` (e.g. `-m`) to `value`: replace its value where present, else add it.
pub fn set_option(args: &mut Vec<String>, opt: &str, value: &str) {
    match args.iter().position(|a| a == opt) {
        Some(i) if i + 1 < args.len() => args[i + 1] = value.to_string(),
        _ => {
            args.push(opt.to_string());
            args.push(value.to_string());
        }
    }
}

/// Give the machine `size` of RAM (`-m`) from a RAM backend that reserves no host memory up
/// front (`reserve=off`), so a 64 GiB machine boots on a smaller host as long as the guest
/// touches only what it uses.
pub fn set_memory(args: &mut Vec<String>, size: &str) {
    set_option(args, "-m", size);
    args.extend(
        [
            "-object",
            &format!("memory-backend-ram,id=ram0,size={size},reserve=off"),
            "-machine",
            "memory-backend=ram0",
        ]
        .map(String::from),
    );
}

/// The NIC's user network in xtask's arguments (`xtask/src/qemu.rs`, `NETDEV`).
const NETDEV: &str = "user,id=n0";

/// A forward ((machine address, machine port), host port).
pub type Forward = ((String, u16), u16);

/// Adds a host-loopback forward to the machine's user network for each (machine address,
/// "" for its first DHCP address; machine port), each on a free host port (bound and
/// released just before QEMU takes it). Returns (forward, host port) pairs.
pub fn add_forwards(
    args: &mut [String],
    forwards: &[(String, u16)],
) -> Result<Vec<Forward>, String> {
    if forwards.is_empty() {
        return Ok(Vec::new());
    }
    let netdev = args
        .iter_mut()
        .find(|a| a.as_str() == NETDEV || a.starts_with("user,id=n0,"))
        .ok_or("the machine has no user network (`-netdev user,id=n0`) to forward into")?;
    let mut out = Vec::new();
    for (addr, port) in forwards {
        let host = std::net::TcpListener::bind(("127.0.0.1", 0))
            .and_then(|l| l.local_addr())
            .map_err(|e| format!("no free port on the host's loopback: {e}"))?
            .port();
        netdev.push_str(&format!(",hostfwd=tcp:127.0.0.1:{host}-{addr}:{port}"));
        out.push(((addr.clone(), *port), host));
    }
    Ok(out)
}

/// Make the file names after `-kernel` and `-initrd` (comma-separated modules, each possibly
/// followed by its own command line) absolute: relative ones are looked up from the workspace
/// root, then from the images directory.
pub fn resolve_paths(args: &mut [String], root: &Path, images: &Path) {
    let resolve = |f: &str| -> String {
        let p = Path::new(f);
        if p.is_absolute() || f.is_empty() {
            return f.to_string();
        }
        if root.join(p).exists() || !images.join(p).exists() {
            root.join(p).to_string_lossy().into_owned()
        } else {
            images.join(p).to_string_lossy().into_owned()
        }
    };
    let mut i = 0;
    while i + 1 < args.len() {
        match args[i].as_str() {
            "-kernel" => args[i + 1] = resolve(&args[i + 1]),
            "-initrd" => {
                let mods: Vec<String> = args[i + 1]
                    .split(',')
                    .map(|m| match m.split_once(' ') {
                        Some((f, rest)) => format!("{} {rest}", resolve(f)),
                        None => resolve(m),
                    })
                    .collect();
                args[i + 1] = mods.join(",");
            }
            _ => {}
        }
        i += 1;
    }
}

/// The full QEMU command for a boot: `(program, args)`.
pub fn qemu_command(hv_cmdline: Option<&str>) -> Result<(String, Vec<String>), String> {
    let dir = images_dir();
    for f in ["hypervisor.elf", "pv-guest.elf", "dom0-initrd.cpio"] {
        if !dir.join(f).exists() {
            return Err(format!("{NOT_BUILT}: {} is missing", dir.join(f).display()));
        }
    }
    let file = dir.join("qemu-args.txt");
    let (prog, mut args) = match std::fs::read_to_string(&file) {
        Ok(text) => parse_args_file(&text).map_err(|e| format!("{}: {e}", file.display()))?,
        // `cargo xtask build` writes the QEMU arguments next to the images.
        Err(_) => return Err(format!("{NOT_BUILT}: {} is missing", file.display())),
    };
    resolve_paths(&mut args, &workspace_root(), &dir);
    if let Some(extra) = hv_cmdline {
        append_cmdline(&mut args, extra);
    }
    let prog = std::env::var("E2E_QEMU")
        .ok()
        .or(prog)
        .unwrap_or_else(|| "qemu-system-x86_64".into());
    Ok((prog, args))
}

/// The bootable ISO `cargo xtask iso` makes (`cargo xtask test` makes it before the tests).
pub fn iso_path() -> PathBuf {
    images_dir().join("hypervisor.iso")
}

/// UEFI firmware for QEMU: `$E2E_OVMF`, else Debian's `ovmf` package's.
pub fn ovmf_path() -> PathBuf {
    match std::env::var_os("E2E_OVMF") {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from("/usr/share/ovmf/OVMF.fd"),
    }
}

/// A PC that boots from a CD, as a person would boot the ISO.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PcBoot {
    /// QEMU's machine type: `pc` (i440FX) or `q35`.
    pub machine: String,
    /// Firmware for `-bios` (OVMF for UEFI), or None for the machine's own BIOS (SeaBIOS).
    pub firmware: Option<PathBuf>,
    /// The image in the CD drive (`-cdrom`).
    pub iso: PathBuf,
}

impl PcBoot {
    /// An i440FX PC with SeaBIOS booting the built ISO.
    pub fn bios() -> Self {
        PcBoot {
            machine: "pc".into(),
            firmware: None,
            iso: iso_path(),
        }
    }

    /// A Q35 PC with UEFI firmware (OVMF) booting the built ISO.
    pub fn uefi() -> Self {
        PcBoot {
            machine: "q35".into(),
            firmware: Some(ovmf_path()),
            iso: iso_path(),
        }
    }
}

/// The QEMU command booting a PC from `pc.iso`: `(program, args)`; as docs/design.md's
/// machine otherwise (1 GiB, serial on stdio, no reboot, isa-debug-exit), with the machine's
/// VGA (its screen not shown). Fails with what to run if the ISO is missing or older than
/// the images in it.
pub fn pc_command(pc: &PcBoot) -> Result<(String, Vec<String>), String> {
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let Some(iso_time) = modified(&pc.iso) else {
        return Err(format!(
            "{} is missing: run `cargo xtask iso` (`cargo xtask test` makes it, and reports \
             why it could not)",
            pc.iso.display()
        ));
    };
    let dir = images_dir();
    for f in ["hypervisor.elf", "pv-guest.elf", "dom0-initrd.cpio"] {
        if modified(&dir.join(f)).is_some_and(|t| t > iso_time) {
            return Err(format!(
                "{} is older than {}: run `cargo xtask iso`",
                pc.iso.display(),
                dir.join(f).display()
            ));
        }
    }
    let mut args: Vec<String> = vec!["-M".into(), pc.machine.clone(), "-m".into(), "1G".into()];
    if let Some(fw) = &pc.firmware {
        if !fw.exists() {
            return Err(format!(
                "no UEFI firmware at {}: install Debian's `ovmf` (`cargo xtask test` does) or \
                 set E2E_OVMF",
                fw.display()
            ));
        }
        args.extend(["-bios".into(), fw.display().to_string()]);
    }
    args.extend(["-cdrom".into(), pc.iso.display().to_string()]);
    args.extend(
        [
            "-display",
            "none",
            "-serial",
            "stdio",
            "-no-reboot",
            "-device",
            "isa-debug-exit,iobase=0xf4,iosize=4",
        ]
        .map(String::from),
    );
    let prog = std::env::var("E2E_QEMU").unwrap_or_else(|_| "qemu-system-x86_64".into());
    Ok((prog, args))
}

/// Multiply a timeout by `$E2E_TIMEOUT_SCALE` (for slow machines).
pub fn scaled(d: std::time::Duration) -> std::time::Duration {
    let k: f64 = std::env::var("E2E_TIMEOUT_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .filter(|k: &f64| *k > 0.0)
        .unwrap_or(1.0);
    d.mul_f64(k)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words() {
        assert_eq!(
            shell_words(r#"-M microvm  -initrd "a b,c" 'x y' z\ w"#).unwrap(),
            ["-M", "microvm", "-initrd", "a b,c", "x y", "z w"]
        );
        assert_eq!(shell_words("''").unwrap(), [""]);
        assert!(shell_words("\"abc").is_err());
    }

    #[test]
    fn args_file_forms() {
        let one_line = "qemu-system-x86_64 -M microvm -kernel target/images/hypervisor.elf\n";
        let (prog, args) = parse_args_file(one_line).unwrap();
        assert_eq!(prog.as_deref(), Some("qemu-system-x86_64"));
        assert_eq!(
            args,
            ["-M", "microvm", "-kernel", "target/images/hypervisor.elf"]
        );
        let per_line = "# generated\n-M\nmicrovm\n-append\ndom0_mem=64M loglvl=all\n";
        let (prog, args) = parse_args_file(per_line).unwrap();
        assert_eq!(prog, None);
        assert_eq!(
            args,
            ["-M", "microvm", "-append", "dom0_mem=64M loglvl=all"]
        );
        // What `cargo xtask build` writes: an empty -append value on its own line.
        let xtask = "-M\nmicrovm\n-kernel\n/i/hv.elf\n-append\n\n-initrd\n/i/a,/i/b\n";
        let (_, mut args) = parse_args_file(xtask).unwrap();
        let want = [
            "-M",
            "microvm",
            "-kernel",
            "/i/hv.elf",
            "-append",
            "",
            "-initrd",
            "/i/a,/i/b",
        ];
        assert_eq!(args, want);
        append_cmdline(&mut args, "selftest=ring3");
        assert_eq!(args[5], "selftest=ring3");
    }

    #[test]
    fn cmdline_append() {
        let mut a: Vec<String> = vec!["-append".into(), "dom0_mem=64M".into()];
        append_cmdline(&mut a, "selftest=ring3");
        assert_eq!(a, ["-append", "dom0_mem=64M selftest=ring3"]);
        let mut a: Vec<String> = vec!["-M".into(), "microvm".into()];
        append_cmdline(&mut a, "selftest=ring3");
        assert_eq!(a, ["-M", "microvm", "-append", "selftest=ring3"]);
        append_cmdline(&mut a, " ");
        assert_eq!(a.len(), 4);
    }

    #[test]
    fn option_set() {
        let mut a: Vec<String> = vec!["-M".into(), "microvm".into(), "-m".into(), "512M".into()];
        set_option(&mut a, "-m", "8G");
        assert_eq!(a, ["-M", "microvm", "-m", "8G"]);
        set_option(&mut a, "-smp", "2");
        assert_eq!(a, ["-M", "microvm", "-m", "8G", "-smp", "2"]);
    }

    #[test]
    fn pc_command_line() {
        let dir = std::env::temp_dir().join(format!("e2e-pc-cmd-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let iso = dir.join("x.iso");
        std::fs::write(&iso, b"").unwrap();
        let fw = dir.join("fw.fd");
        std::fs::write(&fw, b"").unwrap();
        let pc = PcBoot {
            machine: "pc".into(),
            firmware: None,
            iso: iso.clone(),
        };
        let (_, args) = pc_command(&pc).unwrap();
        let joined = args.join(" ");
        assert!(joined.starts_with("-M pc -m 1G -cdrom "), "{joined}");
        assert!(joined.ends_with(
            "-display none -serial stdio -no-reboot -device isa-debug-exit,iobase=0xf4,iosize=4"
        ));
        let uefi = PcBoot {
            machine: "q35".into(),
            firmware: Some(fw.clone()),
            iso: iso.clone(),
        };
        let (_, args) = pc_command(&uefi).unwrap();
        assert_eq!(
            args[..6],
            ["-M", "q35", "-m", "1G", "-bios", &fw.display().to_string()]
        );
        let missing = PcBoot {
            iso: dir.join("none.iso"),
            ..pc
        };
        assert!(pc_command(&missing)
            .unwrap_err()
            .contains("cargo xtask iso"));
        let no_fw = PcBoot {
            firmware: Some(dir.join("none.fd")),
            ..uefi
        };
        assert!(pc_command(&no_fw).unwrap_err().contains("ovmf"));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn paths_resolved() {
        let root = workspace_root();
        let mut a: Vec<String> = vec![
            "-kernel".into(),
            "tests/Cargo.toml".into(),
            "-initrd".into(),
            "/abs/a.elf arg=1,tests/src/lib.rs".into(),
        ];
        resolve_paths(&mut a, &root, Path::new("/nonexistent"));
        assert_eq!(a[1], root.join("tests/Cargo.toml").to_string_lossy());
        assert_eq!(
            a[3],
            format!(
                "/abs/a.elf arg=1,{}",
                root.join("tests/src/lib.rs").display()
            )
        );
        // Found only relative to the images dir.
        let mut a: Vec<String> = vec!["-kernel".into(), "lib.rs".into()];
        resolve_paths(&mut a, &root, &root.join("tests/src"));
        assert_eq!(a[1], root.join("tests/src/lib.rs").to_string_lossy());
    }
}
