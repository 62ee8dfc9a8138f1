//! The `linux_boot` row: Debian's Linux as a domU from `xl create /etc/xen/linux.cfg -c`
//! typed at dom0's prompt to its busybox shell's `linux# ` on the console, in wall-clock
//! milliseconds (TCG; one figure per boot, `runs` boots of Linux on one machine, each
//! destroyed before the next). The machine is the Linux e2e tests' (1 GiB, dom0_mem=512M: the
//! builder decompresses the kernel in dom0's heap).

use super::console::{linux_machine_args, Machine, DOM0_PROMPT, LINUX_PROMPT};
use super::parse::Row;
use crate::qemu::Images;
use std::path::Path;
use std::time::{Duration, Instant};

/// Longest wait for one step (a Linux boot is ~10 s here).
const STEP: Duration = Duration::from_secs(240);

/// Whether dom0's initrd carries Debian's kernel (`cargo xtask build --guests`).
pub fn available(initrd: &Path) -> bool {
    std::fs::read(initrd).is_ok_and(|b| b.windows(13).any(|w| w == b"boot/vmlinuz\0"))
}

/// Boots the system and times `runs` Linux boots; the row, and the transcript for `log`.
pub fn measure(images: &Images, runs: usize, log: &Path) -> Row {
    let mut m = match Machine::start(&linux_machine_args(images)) {
        Ok(m) => m,
        Err(e) => return Row::Unavailable(e),
    };
    let r = boots(&mut m, runs);
    m.finish(log);
    match r {
        Ok(values) => Row::Samples {
            unit: "ms".into(),
            values,
        },
        Err(e) => Row::Unavailable(format!("{e} (transcript in {})", log.display())),
    }
}

fn boots(m: &mut Machine, runs: usize) -> Result<Vec<f64>, String> {
    let mut at = m.wait(0, DOM0_PROMPT, STEP)?;
    let mut ms = Vec::new();
    for _ in 0..runs {
        m.send("xl create /etc/xen/linux.cfg -c\n")?;
        let start = Instant::now();
        at = m.wait(at, LINUX_PROMPT, STEP).map_err(|e| {
            let err = m.text[at..]
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
        m.send("\x1d")?;
        at = m.wait(at, DOM0_PROMPT, STEP)?;
        m.run(&mut at, "xl destroy linux", DOM0_PROMPT, STEP)?;
    }
    m.send("poweroff\n")?;
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
