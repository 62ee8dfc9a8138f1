//! `cargo xtask run [--hv-cmdline "..."] [--guests]`: build, then boot QEMU interactively
//! (`--guests`: with Debian's Linux guests in dom0's initrd, as `cargo xtask build --guests`).

use crate::qemu::{self, Images, Outcome};

/// Runs the command.
pub fn run(args: &[String]) -> Result<(), String> {
    let mut hv_cmdline = String::new();
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
            other => return Err(format!("run: unknown argument {other:?}")),
        }
    }
    crate::build::build_with(guests)?;
    qemu::ensure_qemu()?;
    let images = Images::in_dir(&qemu::images_dir());
    let mut cmd = qemu::qemu_command(&images, &hv_cmdline);
    eprintln!(
        "xtask: {} {}",
        qemu::QEMU,
        qemu::qemu_args(&images, &hv_cmdline).join(" ")
    );
    let status = cmd
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
