//! The `linux_boot` row: Debian's Linux as a domU from `xl create /etc/xen/linux.cfg -c`
//! typed at dom0's prompt to its busybox shell's `linux# ` on the console, in wall-clock
//! milliseconds (TCG; one figure per boot, `runs` boots of Linux on one machine, each
//! destroyed before the next). The machine is the Linux e2e tests' (1 GiB, dom0_mem=512M: the
//! builder decompresses the kernel in dom0's heap).

use super::parse::Row;
use crate::qemu::{self, Images};
use std::io::{Read, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::{Duration, Instant};

const DOM0_PROMPT: &str = "dom0# ";
const LINUX_PROMPT: &str = "linux# ";
/// Longest wait for one step (a Linux boot is ~10 s here).
const STEP: Duration = Duration::from_secs(240);

/// Whether dom0's initrd carries Debian's kernel (`cargo xtask build --guests`).
pub fn available(initrd: &Path) -> bool {
    std::fs::read(initrd).is_ok_and(|b| b.windows(13).any(|w| w == b"boot/vmlinuz\0"))
}

/// The console so far and the bytes still arriving from QEMU.
struct Console {
    text: String,
    rx: Receiver<Vec<u8>>,
}

impl Console {
    /// Wait for `pat` after byte `from`; the offset just past it.
    fn wait(&mut self, from: usize, pat: &str) -> Result<usize, String> {
        let deadline = Instant::now() + STEP;
        loop {
            if let Some(i) = self.text.get(from..).and_then(|t| t.find(pat)) {
                return Ok(from + i + pat.len());
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(b) => self.text.push_str(&String::from_utf8_lossy(&b)),
                Err(_) => return Err(format!("no {pat:?} on the console within {STEP:?}")),
            }
        }
    }
}

/// Boots the system and times `runs` Linux boots; the row, and the transcript for `log`.
pub fn measure(images: &Images, runs: usize, log: &Path) -> Row {
    let mut args = qemu::qemu_args(images, "dom0_mem=512M");
    if let Some(i) = args.iter().position(|a| a == "-m") {
        args[i + 1] = "1G".into();
    }
    let mut child = match Command::new(qemu::QEMU)
        .args(&args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
    {
        Ok(c) => c,
        Err(e) => return Row::Unavailable(format!("starting {}: {e}", qemu::QEMU)),
    };
    let (tx, rx) = channel();
    let mut stdout = child.stdout.take().expect("piped stdout");
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = stdout.read(&mut buf) {
            if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    let mut con = Console {
        text: String::new(),
        rx,
    };
    let r = boots(&mut child, &mut con, runs);
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::write(log, &con.text);
    match r {
        Ok(values) => Row::Samples {
            unit: "ms".into(),
            values,
        },
        Err(e) => Row::Unavailable(format!("{e} (transcript in {})", log.display())),
    }
}

fn boots(child: &mut Child, con: &mut Console, runs: usize) -> Result<Vec<f64>, String> {
    let mut stdin = child.stdin.take().ok_or("QEMU's stdin")?;
    let mut send = |s: &str| {
        stdin
            .write_all(s.as_bytes())
            .and_then(|_| stdin.flush())
            .map_err(|e| format!("typing into QEMU: {e}"))
    };
    let mut at = con.wait(0, DOM0_PROMPT)?;
    let mut ms = Vec::new();
    for _ in 0..runs {
        send("xl create /etc/xen/linux.cfg -c\n")?;
        let start = Instant::now();
        at = con.wait(at, LINUX_PROMPT).map_err(|e| {
            let err = con.text[at..]
                .lines()
                .find(|l| l.starts_with("xl: "))
                .map(|l| format!(": {l}"));
            format!(
                "Linux did not reach its shell: {e}{}",
                err.unwrap_or_default()
            )
        })?;
        ms.push(start.elapsed().as_secs_f64() * 1000.0);
        // Detach and destroy; dom0's prompt after each.
        send("\x1d")?;
        at = con.wait(at, DOM0_PROMPT)?;
        send("xl destroy linux\n")?;
        at = con.wait(at, DOM0_PROMPT)?;
    }
    send("poweroff\n")?;
    Ok(ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn available_only_with_the_kernel_in_the_initrd() {
        let dir = std::env::temp_dir().join(format!("xtask-linux-boot-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let with = dir.join("with.cpio");
        let without = dir.join("without.cpio");
        std::fs::write(&with, b"070701...boot/vmlinuz\0\0\0kernel").unwrap();
        std::fs::write(&without, b"070701...boot/vmlinuz-old\0etc/xen/linux.cfg\0").unwrap();
        assert!(available(&with));
        assert!(!available(&without));
        assert!(!available(&dir.join("missing.cpio")));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
