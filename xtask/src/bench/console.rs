//! A QEMU machine driven through its serial console, as a user at dom0's prompt would: type
//! a line, wait for text, read what came back. Used by the rows that need dom0's shell
//! (`linux_boot`, the block rows); everything the console showed is kept for the log.

use crate::qemu::{self, Images};
use std::io::{Read, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::{Duration, Instant};

/// dom0's shell prompt.
pub const DOM0_PROMPT: &str = "dom0# ";
/// The Linux guests' busybox shell prompt (`crate::guests::PROMPT`).
pub const LINUX_PROMPT: &str = "linux# ";

/// The QEMU command line of the machine the Linux guests run on: the Linux e2e tests' (1 GiB,
/// `dom0_mem=512M`: the builder decompresses the kernel in dom0's heap).
pub fn linux_machine_args(images: &Images) -> Vec<String> {
    let mut args = qemu::qemu_args(images, "dom0_mem=512M");
    if let Some(i) = args.iter().position(|a| a == "-m") {
        args[i + 1] = "1G".into();
    }
    args
}

/// A running QEMU, its console so far and its stdin.
pub struct Machine {
    child: Child,
    stdin: Option<ChildStdin>,
    rx: Receiver<Vec<u8>>,
    /// Everything the console printed so far.
    pub text: String,
}

impl Machine {
    /// Starts QEMU with `args`, its serial console on stdin/stdout.
    pub fn start(args: &[String]) -> Result<Machine, String> {
        let mut child = Command::new(qemu::QEMU)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("starting {}: {e}", qemu::QEMU))?;
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
        let stdin = child.stdin.take();
        Ok(Machine {
            child,
            stdin,
            rx,
            text: String::new(),
        })
    }

    /// Waits up to `limit` for `pat` after byte `from` of the console; the offset just past it.
    pub fn wait(&mut self, from: usize, pat: &str, limit: Duration) -> Result<usize, String> {
        self.wait_any(from, &[pat], limit).map(|(_, end)| end)
    }

    /// Waits up to `limit` for the first of `pats` to appear after byte `from`: which one (its
    /// index) and the offset just past it.
    pub fn wait_any(
        &mut self,
        from: usize,
        pats: &[&str],
        limit: Duration,
    ) -> Result<(usize, usize), String> {
        let deadline = Instant::now() + limit;
        loop {
            let text = self.text.get(from..).unwrap_or("");
            let first = pats
                .iter()
                .enumerate()
                .filter_map(|(i, p)| text.find(p).map(|at| (at, i, p.len())))
                .min();
            if let Some((at, i, len)) = first {
                return Ok((i, from + at + len));
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(b) => self.text.push_str(&String::from_utf8_lossy(&b)),
                Err(_) => return Err(format!("none of {pats:?} on the console within {limit:?}")),
            }
        }
    }

    /// Types `s` on the console.
    pub fn send(&mut self, s: &str) -> Result<(), String> {
        let stdin = self.stdin.as_mut().ok_or("QEMU's stdin is closed")?;
        stdin
            .write_all(s.as_bytes())
            .and_then(|_| stdin.flush())
            .map_err(|e| format!("typing into QEMU: {e}"))
    }

    /// Types `cmd` and a newline at a shell whose prompt is `prompt` (the cursor at `*at`,
    /// after the last prompt) and waits up to `limit` for the next prompt: the text in between
    /// (the echoed command and its output). `*at` moves past the new prompt.
    pub fn run(
        &mut self,
        at: &mut usize,
        cmd: &str,
        prompt: &str,
        limit: Duration,
    ) -> Result<String, String> {
        self.send(&format!("{cmd}\n"))?;
        let end = self
            .wait(*at, prompt, limit)
            .map_err(|e| format!("`{cmd}` did not finish: {e}"))?;
        let out = self.text[*at..end - prompt.len()].to_string();
        *at = end;
        Ok(out)
    }

    /// Stops QEMU (if still running) and writes the console to `log`; the console.
    pub fn finish(mut self, log: &Path) -> String {
        self.stdin = None;
        let _ = self.child.kill();
        let _ = self.child.wait();
        while let Ok(b) = self.rx.try_recv() {
            self.text.push_str(&String::from_utf8_lossy(&b));
        }
        let _ = std::fs::write(log, &self.text);
        self.text
    }
}
