//! Owning the QEMU process: starting it (with a watchdog that kills it at the hard timeout),
//! collecting its exit status, and killing it when the [`System`] is dropped.

use super::disk_copy::{use_copy, DiskCopy};
use super::{BootOptions, Failure, OrFail, System, BOOT_TIMEOUT, PROMPT, TAIL_LINES};
use crate::launch;
use crate::qmp;
use crate::transcript::{tail, Transcript};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

impl System {
    /// Boot the built images (`target/images`) in QEMU. Panics if they are not built or QEMU
    /// cannot start.
    pub fn boot(opts: BootOptions) -> System {
        let command = match &opts.pc {
            None => launch::qemu_command(opts.hv_cmdline.as_deref()),
            Some(_) if opts.hv_cmdline.is_some() => {
                Err("a PC boot takes the hypervisor command line of the ISO's grub.cfg".into())
            }
            Some(pc) => launch::pc_command(pc),
        };
        let (prog, mut args) = match command {
            Ok(c) => c,
            Err(e) => panic!("[{}] {e}", opts.name),
        };
        if let Some(m) = &opts.memory {
            launch::set_memory(&mut args, m);
        }
        if opts.checked {
            if let Some(i) = args.iter().position(|a| a == "-kernel") {
                let hv =
                    std::path::Path::new(&args[i + 1]).with_file_name("hypervisor-checked.elf");
                if !hv.exists() {
                    panic!(
                        "[{}] {} is missing: run `cargo xtask build`",
                        opts.name,
                        hv.display()
                    );
                }
                args[i + 1] = hv.display().to_string();
            }
        }
        if let Some(n) = opts.cpus {
            launch::set_option(&mut args, "-smp", &n.to_string());
        }
        if opts.icount {
            args.extend(["-icount".to_string(), "shift=0".to_string()]);
        }
        let disk = opts.own_disk.then(|| {
            let image = crate::disk::image();
            let from = opts.disk_from.as_deref().unwrap_or(&image);
            let copy =
                DiskCopy::new(&opts.name, from).unwrap_or_else(|e| panic!("[{}] {e}", opts.name));
            if let Err(e) = use_copy(&mut args, &image, copy.path()) {
                panic!("[{}] {e}", opts.name);
            }
            copy
        });
        let qmp_path = opts.qmp.then(|| qmp::temp_path("qmp.sock"));
        if let Some(p) = &qmp_path {
            args.push("-qmp".into());
            args.push(format!("unix:{},server=on,wait=off", p.display()));
        }
        let forwarded = match launch::add_forwards(&mut args, &opts.forwards) {
            Ok(f) => f,
            Err(e) => panic!("[{}] {e}", opts.name),
        };
        let mut sys = Self::spawn(&opts.name, &prog, &args, opts.hard_timeout);
        sys.forwarded = forwarded;
        sys.qmp_path = qmp_path;
        sys.disk = disk;
        sys
    }

    /// Boot and wait for the first dom0 prompt.
    pub fn boot_to_prompt(opts: BootOptions) -> System {
        let mut sys = Self::boot(opts);
        sys.expect(PROMPT, BOOT_TIMEOUT).or_fail();
        sys
    }

    /// Start any program as the "machine" (the harness's own tests use a shell script).
    pub fn spawn(name: &str, prog: &str, args: &[String], hard_timeout: Duration) -> System {
        let command = std::iter::once(prog.to_string())
            .chain(args.iter().map(|a| {
                if a.contains(' ') || a.is_empty() {
                    format!("'{a}'")
                } else {
                    a.clone()
                }
            }))
            .collect::<Vec<_>>()
            .join(" ");
        let mut child = match Command::new(prog)
            .args(args)
            .current_dir(launch::workspace_root())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
        {
            Ok(c) => c,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
                "[{name}] {prog} not found: install it (`apt-get install -y qemu-system-x86`) \
                 or run `cargo xtask test`, which does"
            ),
            Err(e) => panic!("[{name}] cannot start {command}: {e}"),
        };
        let out = Transcript::new();
        let err = Transcript::new();
        out.spawn_reader(child.stdout.take().expect("piped stdout"));
        err.spawn_reader(child.stderr.take().expect("piped stderr"));
        let stdin = child.stdin.take();
        let child = Arc::new(Mutex::new(child));
        let stop_watchdog = Arc::new(AtomicBool::new(false));
        let hard_timeout = launch::scaled(hard_timeout);
        {
            let (child, stop, out) = (child.clone(), stop_watchdog.clone(), out.clone());
            let deadline = Instant::now() + hard_timeout;
            std::thread::spawn(move || {
                while Instant::now() < deadline {
                    if stop.load(Ordering::Relaxed) {
                        return;
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
                let mut c = child.lock().unwrap_or_else(|e| e.into_inner());
                if let Ok(None) = c.try_wait() {
                    let _ = c.kill();
                    out.push(&format!(
                        "\n[harness: hard timeout of {hard_timeout:?} reached, QEMU killed]\n"
                    ));
                }
            });
        }
        let sys = System {
            name: name.to_string(),
            command,
            out,
            err,
            child,
            stdin,
            cursor: 0,
            started: Instant::now(),
            stop_watchdog,
            status: None,
            reported: std::cell::Cell::new(false),
            qmp_path: None,
            qmp: None,
            disk: None,
            forwarded: Vec::new(),
        };
        let _ = std::fs::remove_file(sys.log_path());
        sys
    }

    /// Collect the exit status if QEMU has exited (waiting up to `grace` for it).
    pub(super) fn reap(&mut self, grace: Duration) -> Option<ExitStatus> {
        if self.status.is_some() {
            return self.status;
        }
        let end = Instant::now() + grace;
        loop {
            let st = self
                .child
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .try_wait()
                .ok()
                .flatten();
            if st.is_some() || Instant::now() >= end {
                self.status = st;
                return st;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Wait for QEMU to exit by itself; its exit code (`None` if killed by a signal).
    pub fn wait_exit(&mut self, timeout: Duration) -> Result<Option<i32>, Failure> {
        let timeout = launch::scaled(timeout);
        let deadline = Instant::now() + timeout;
        let eof = self.out.wait_until(deadline, |_, eof| eof.then_some(()));
        let st = self.reap(if eof.is_some() {
            Duration::from_secs(10)
        } else {
            Duration::ZERO
        });
        match st {
            Some(st) => Ok(st.code()),
            None => Err(self.failure(format!("QEMU did not exit within {timeout:?}"))),
        }
    }
}

impl Drop for System {
    fn drop(&mut self) {
        self.stop_watchdog.store(true, Ordering::Relaxed);
        {
            let mut c = self.child.lock().unwrap_or_else(|e| e.into_inner());
            if let Ok(None) = c.try_wait() {
                let _ = c.kill();
            }
            let _ = c.wait();
        }
        self.stdin = None;
        self.qmp = None;
        if let Some(p) = &self.qmp_path {
            let _ = std::fs::remove_file(p);
        }
        self.save_log();
        if std::thread::panicking() && !self.reported.get() {
            eprintln!(
                "----- [{}] last {TAIL_LINES} lines of the console (whole transcript: {}) -----\n{}\n-----",
                self.name,
                self.log_path().display(),
                tail(&self.transcript(), TAIL_LINES)
            );
        }
    }
}
