//! `cargo xtask run [--hv-cmdline "..."] [--guests] [--memory SIZE]`: build, then boot QEMU
//! interactively (`--guests`: with Debian's Linux guests in dom0's initrd, as `cargo xtask
//! build --guests`; `--memory 1G`: the machine's memory instead of 512M).

use crate::qemu::{self, Images, Outcome};

const USAGE: &str = "usage: cargo xtask run [--hv-cmdline \"...\"] [--guests] [--memory SIZE]";

/// Runs the command.
pub fn run(args: &[String]) -> Result<(), String> {
    let mut hv_cmdline = String::new();
    let mut memory: Option<String> = None;
    let mut guests = crate::build::LinuxGuests::Off;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if crate::build::parse_guests_flag(a, &mut guests) {
            continue;
        }
        match a.as_str() {
            "--hv-cmdline" => {
                hv_cmdline = it.next().ok_or("--hv-cmdline needs a value")?.clone();
            }
            s if s.starts_with("--hv-cmdline=") => hv_cmdline = s["--hv-cmdline=".len()..].into(),
            "--memory" => {
                memory = Some(it.next().ok_or("--memory needs a size (e.g. 1G)")?.clone())
            }
            other => return Err(format!("run: unknown argument {other:?}\n{USAGE}")),
        }
    }
    crate::build::build_with(guests)?;
    qemu::ensure_qemu()?;
    let images = Images::in_dir(&qemu::images_dir());
    let args = with_memory(qemu::qemu_args(&images, &hv_cmdline), memory.as_deref());
    eprintln!("xtask: {} {}", qemu::QEMU, args.join(" "));
    let status = std::process::Command::new(qemu::QEMU)
        .args(&args)
        .status()
        .map_err(|e| format!("starting {}: {e}", qemu::QEMU))?;
    let outcome = Outcome::from_status(status);
    eprintln!("xtask: {}", outcome.message());
    if outcome.is_success() {
        Ok(())
    } else {
        Err(outcome.message())
    }
}

/// QEMU's arguments with the machine's memory (`-m`) set to `size`, if given.
fn with_memory(mut args: Vec<String>, size: Option<&str>) -> Vec<String> {
    if let (Some(size), Some(i)) = (size, args.iter().position(|a| a == "-m")) {
        args[i + 1] = size.to_string();
    }
    args
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_replaces_the_default() {
        let args: Vec<String> = ["-M", "microvm", "-m", "512M", "-display", "none"]
            .map(String::from)
            .to_vec();
        let a = with_memory(args.clone(), Some("1G"));
        assert_eq!(a[2..4], ["-m", "1G"]);
        assert_eq!(with_memory(args.clone(), None), args);
    }
}
