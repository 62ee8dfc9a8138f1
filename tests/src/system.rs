//! `System`: one QEMU running the whole stack, driven over its serial console.

use crate::launch::{self, PcBoot};
use crate::qmp::{self, Qmp};
use crate::transcript::{complete_lines_since, tail, Transcript};
use crate::xl::{self, XlInfo, XlRow};
use std::fmt;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The dom0 shell prompt (no newline after it).
pub const PROMPT: &str = "dom0# ";
/// From QEMU start to the first `dom0# ` (TCG is slow).
pub const BOOT_TIMEOUT: Duration = Duration::from_secs(120);
/// One shell command, or one awaited console line.
pub const CMD_TIMEOUT: Duration = Duration::from_secs(60);
/// QEMU is killed when a test's system has run this long.
pub const HARD_TIMEOUT: Duration = Duration::from_secs(300);
/// Lines of transcript quoted in a failure.
pub const TAIL_LINES: usize = 60;

/// QEMU exit statuses of docs/design.md (isa-debug-exit: `(value << 1) | 1`).
pub const EXIT_POWEROFF: i32 = 33;
pub const EXIT_DOM0_CRASH: i32 = 35;
pub const EXIT_PANIC: i32 = 37;
pub const EXIT_REBOOT: i32 = 39;

/// What a QEMU exit status means, per the design's table.
pub fn describe_exit(code: Option<i32>) -> String {
    match code {
        Some(EXIT_POWEROFF) => "33: dom0 powered off".into(),
        Some(EXIT_DOM0_CRASH) => "35: dom0 crashed".into(),
        Some(EXIT_PANIC) => "37: hypervisor panic".into(),
        Some(EXIT_REBOOT) => "39: dom0 rebooted".into(),
        Some(0) => "0: triple fault or reset (never success)".into(),
        Some(c) => format!("{c}: unexpected"),
        None => "killed by a signal".into(),
    }
}

/// How to boot.
#[derive(Clone, Debug)]
pub struct BootOptions {
    /// Names the transcript file `target/e2e-logs/<name>.log`.
    pub name: String,
    /// Extra words for the hypervisor command line (QEMU `-append`).
    pub hv_cmdline: Option<String>,
    /// Kill QEMU after this long, whatever the test is doing.
    pub hard_timeout: Duration,
    /// The machine's memory (QEMU `-m`, e.g. "8G"), replacing the default.
    pub memory: Option<String>,
    /// Boot a PC from the ISO instead of the default microvm with the images loaded directly.
    pub pc: Option<PcBoot>,
    /// Give QEMU a QMP socket, for [`System::read_phys`] and [`System::vga_text`].
    pub qmp: bool,
    /// Run the emulated CPU on instruction-count time (`-icount shift=0`: one instruction a
    /// nanosecond), so durations the hypervisor measures are the emulated machine's own,
    /// whatever the host's load.
    pub icount: bool,
}

impl BootOptions {
    pub fn new(name: &str) -> Self {
        Self {
            name: name.to_string(),
            hv_cmdline: None,
            hard_timeout: HARD_TIMEOUT,
            memory: None,
            icount: false,
            pc: None,
            qmp: false,
        }
    }

    /// A PC booting `cargo xtask iso`'s ISO from its CD drive ([`launch::pc_command`]): GRUB,
    /// then the hypervisor with the ISO's own command line (so [`BootOptions::cmdline`]
    /// does not apply).
    pub fn pc(name: &str, pc: PcBoot) -> Self {
        Self {
            pc: Some(pc),
            ..Self::new(name)
        }
    }

    /// On instruction-count time (see [`BootOptions::icount`]).
    pub fn icount(mut self) -> Self {
        self.icount = true;
        self
    }

    /// With a QMP socket to read the machine's memory ([`System::vga_text`]).
    pub fn with_qmp(mut self) -> Self {
        self.qmp = true;
        self
    }

    /// Boot a machine with `size` of RAM (QEMU's `-m` syntax: "2G", "8192M"). QEMU reserves
    /// no host memory for it up front, so machines larger than this host boot too (the
    /// hypervisor must not touch every frame).
    pub fn memory(mut self, size: &str) -> Self {
        self.memory = Some(size.to_string());
        self
    }

    pub fn cmdline(mut self, extra: &str) -> Self {
        self.hv_cmdline = Some(extra.to_string());
        self
    }

    pub fn hard_timeout(mut self, d: Duration) -> Self {
        self.hard_timeout = d;
        self
    }
}

/// A failed expectation: the message, the end of the transcript, and where the whole one is.
pub struct Failure {
    pub msg: String,
    pub tail: String,
    pub log: PathBuf,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}\n----- last {TAIL_LINES} lines of the console (whole transcript: {}) -----\n{}\n-----",
            self.msg,
            self.log.display(),
            self.tail
        )
    }
}

impl fmt::Debug for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::error::Error for Failure {}

/// `result.or_fail()`: unwrap, or panic with the failure's full message.
pub trait OrFail<T> {
    fn or_fail(self) -> T;
}

impl<T> OrFail<T> for Result<T, Failure> {
    #[track_caller]
    fn or_fail(self) -> T {
        match self {
            Ok(v) => v,
            Err(f) => panic!("{f}"),
        }
    }
}

/// Remove the shell's echo of `cmd` (the first line equal to it) from a command's output.
pub fn strip_echo(out: &str, cmd: &str) -> String {
    let cmd = cmd.trim();
    let mut lines: Vec<&str> = out.split_inclusive('\n').collect();
    if let Some(i) = lines.iter().position(|l| l.trim_end() == cmd) {
        lines.remove(i);
    } else if let Some(rest) = out.strip_prefix(cmd) {
        return rest.strip_prefix('\n').unwrap_or(rest).to_string();
    }
    lines.concat()
}

/// A console line with any leading `dom0# ` prompts removed: output that arrives while the
/// shell waits for input lands right after the prompt.
pub fn strip_prompts(mut line: &str) -> &str {
    while let Some(rest) = line.strip_prefix(PROMPT) {
        line = rest;
    }
    line
}

/// A running system.
pub struct System {
    name: String,
    command: String,
    out: Arc<Transcript>,
    err: Arc<Transcript>,
    child: Arc<Mutex<Child>>,
    stdin: Option<ChildStdin>,
    /// Byte offset in the transcript up to which `expect` has consumed.
    cursor: usize,
    started: Instant,
    stop_watchdog: Arc<AtomicBool>,
    status: Option<ExitStatus>,
    /// A failure with the transcript tail was produced (Drop need not print it again).
    reported: std::cell::Cell<bool>,
    /// QEMU's QMP socket, if it has one ([`BootOptions::with_qmp`]).
    qmp_path: Option<PathBuf>,
    qmp: Option<Qmp>,
}

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
        if opts.icount {
            args.extend(["-icount".to_string(), "shift=0".to_string()]);
        }
        let qmp_path = opts.qmp.then(|| qmp::temp_path("qmp.sock"));
        if let Some(p) = &qmp_path {
            args.push("-qmp".into());
            args.push(format!("unix:{},server=on,wait=off", p.display()));
        }
        let mut sys = Self::spawn(&opts.name, &prog, &args, opts.hard_timeout);
        sys.qmp_path = qmp_path;
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
        };
        let _ = std::fs::remove_file(sys.log_path());
        sys
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The whole console transcript so far.
    pub fn transcript(&self) -> String {
        self.out.text()
    }

    /// The current end of the transcript, to search from later with [`System::wait_line`].
    pub fn mark(&self) -> usize {
        self.out.lock().text.len()
    }

    /// The transcript from `mark` on.
    pub fn since(&self, mark: usize) -> String {
        let t = self.out.lock();
        t.text.get(mark..).unwrap_or("").to_string()
    }

    /// Where the transcript is saved.
    pub fn log_path(&self) -> PathBuf {
        let safe: String = self
            .name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '-'
                }
            })
            .collect();
        launch::logs_dir().join(format!("{safe}.log"))
    }

    /// Write the full transcript (and QEMU's stderr) to `target/e2e-logs/<name>.log`.
    pub fn save_log(&self) {
        let path = self.log_path();
        let _ = std::fs::create_dir_all(path.parent().unwrap_or(&path));
        let mut s = format!("# {}\n# {}\n", self.name, self.command);
        s.push_str(&self.transcript());
        let err = self.err.text();
        if !err.trim().is_empty() {
            s.push_str("\n----- QEMU stderr -----\n");
            s.push_str(&err);
        }
        let _ = std::fs::write(&path, s);
    }

    /// A failure carrying the end of the transcript; saves the log.
    pub fn failure(&self, msg: impl fmt::Display) -> Failure {
        self.reported.set(true);
        self.save_log();
        let mut tail_text = tail(&self.transcript(), TAIL_LINES);
        let err = self.err.text();
        if !err.trim().is_empty() {
            tail_text.push_str("\n----- QEMU stderr -----\n");
            tail_text.push_str(&tail(&err, 10));
        }
        Failure {
            msg: format!(
                "[{}] {msg}\n(after {:.1} s; QEMU: {})",
                self.name,
                self.started.elapsed().as_secs_f64(),
                self.command
            ),
            tail: tail_text,
            log: self.log_path(),
        }
    }

    /// Panic with `msg` and the end of the transcript.
    #[track_caller]
    pub fn fail(&mut self, msg: impl fmt::Display) -> ! {
        let f = self.failure(msg);
        panic!("{f}")
    }

    /// Assert `cond`, else fail with `msg` and the transcript.
    #[track_caller]
    pub fn check(&mut self, cond: bool, msg: impl fmt::Display) {
        if !cond {
            self.fail(msg)
        }
    }

    /// Collect the exit status if QEMU has exited (waiting up to `grace` for it).
    fn reap(&mut self, grace: Duration) -> Option<ExitStatus> {
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

    /// The failure for "the console ended while waiting for `what`".
    fn ended(&mut self, what: &str) -> Failure {
        let st = self.reap(Duration::from_secs(5));
        self.failure(format!(
            "QEMU exited ({}) while waiting for {what}",
            describe_exit(st.and_then(|s| s.code()))
        ))
    }

    /// Wait for `pat` after the cursor; return the text between the cursor and the match and
    /// move the cursor past it.
    pub fn expect(&mut self, pat: &str, timeout: Duration) -> Result<String, Failure> {
        let timeout = launch::scaled(timeout);
        let deadline = Instant::now() + timeout;
        let from = self.cursor;
        let r = self.out.wait_until(deadline, |text, eof| {
            let hay = text.get(from..).unwrap_or("");
            match hay.find(pat) {
                Some(i) => Some(Ok((hay[..i].to_string(), from + i + pat.len()))),
                None if eof => Some(Err(())),
                None => None,
            }
        });
        match r {
            Some(Ok((before, end))) => {
                self.cursor = end;
                Ok(before)
            }
            Some(Err(())) => Err(self.ended(&format!("{pat:?}"))),
            None => Err(self.failure(format!("timed out after {timeout:?} waiting for {pat:?}"))),
        }
    }

    /// Wait for the next `dom0# ` prompt.
    pub fn expect_prompt(&mut self) -> Result<String, Failure> {
        self.expect(PROMPT, CMD_TIMEOUT)
    }

    /// Wait for a complete console line containing `pat`, anywhere after byte `since` of the
    /// transcript (see [`System::mark`]); the cursor does not move. Returns the line, leading
    /// prompts stripped.
    pub fn wait_line(
        &mut self,
        since: usize,
        pat: &str,
        timeout: Duration,
    ) -> Result<String, Failure> {
        self.wait_line_where(since, pat, timeout, |l| l.contains(pat))
    }

    /// Like [`System::wait_line`] with any predicate; `what` describes it for the failure.
    pub fn wait_line_where(
        &mut self,
        since: usize,
        what: &str,
        timeout: Duration,
        mut pred: impl FnMut(&str) -> bool,
    ) -> Result<String, Failure> {
        let timeout = launch::scaled(timeout);
        let deadline = Instant::now() + timeout;
        let r = self.out.wait_until(deadline, |text, eof| {
            match complete_lines_since(text, since)
                .map(|(_, l)| strip_prompts(l))
                .find(|l| pred(l))
            {
                Some(l) => Some(Ok(l.to_string())),
                None if eof => Some(Err(())),
                None => None,
            }
        });
        match r {
            Some(Ok(l)) => Ok(l),
            Some(Err(())) => Err(self.ended(&format!("a line with {what:?}"))),
            None => Err(self.failure(format!(
                "timed out after {timeout:?} waiting for a line with {what:?}"
            ))),
        }
    }

    /// The complete lines after byte `since` that contain `pat` (no waiting).
    pub fn lines_since(&self, since: usize, pat: &str) -> Vec<String> {
        let t = self.out.lock();
        complete_lines_since(&t.text, since)
            .map(|(_, l)| strip_prompts(l))
            .filter(|l| l.contains(pat))
            .map(str::to_string)
            .collect()
    }

    /// Type `s` on the serial console.
    pub fn send(&mut self, s: &str) -> Result<(), Failure> {
        let r = match self.stdin.as_mut() {
            Some(w) => w.write_all(s.as_bytes()).and_then(|_| w.flush()),
            None => Err(std::io::Error::other("stdin closed")),
        };
        r.map_err(|e| self.failure(format!("cannot type {s:?} into QEMU: {e}")))
    }

    /// Type a command line and wait for the next prompt; the output without the echo.
    pub fn try_run(&mut self, cmd: &str, timeout: Duration) -> Result<String, Failure> {
        self.send(&format!("{cmd}\n"))?;
        let out = self.expect(PROMPT, timeout).map_err(|f| Failure {
            msg: format!("{} (after typing {cmd:?})", f.msg),
            ..f
        })?;
        Ok(strip_echo(&out, cmd))
    }

    /// Run a dom0 shell command; panics with the transcript if no prompt comes back.
    #[track_caller]
    pub fn run(&mut self, cmd: &str) -> String {
        match self.try_run(cmd, CMD_TIMEOUT) {
            Ok(s) => s,
            Err(f) => {
                panic!("{f}")
            }
        }
    }

    /// `xl list`, parsed. Fails on output that is not a valid listing.
    #[track_caller]
    pub fn xl_list(&mut self) -> Vec<XlRow> {
        let out = self.run("xl list");
        match xl::parse_xl_list(&out) {
            Ok(rows) => rows,
            Err(e) => self.fail(format!("`xl list` output not understood: {e}\n{out}")),
        }
    }

    /// `xl info`, parsed; fails unless it has numeric `total_memory` and `free_memory`.
    #[track_caller]
    pub fn xl_info(&mut self) -> XlInfo {
        let out = self.run("xl info");
        let info = xl::parse_xl_info(&out);
        if info.total_memory().is_none() || info.free_memory().is_none() {
            self.fail(format!(
                "`xl info` has no numeric `total_memory : N` and `free_memory : N` lines:\n{out}"
            ));
        }
        info
    }

    /// The hypervisor's performance counters (`xenperf`): name and total.
    #[track_caller]
    pub fn xenperf(&mut self) -> Vec<(String, u64)> {
        let out = self.run("xenperf");
        let counters: Vec<(String, u64)> = out
            .lines()
            .filter_map(|l| {
                let (name, v) = l.split_once(" T=")?;
                Some((name.trim().to_string(), v.trim().parse().ok()?))
            })
            .collect();
        if counters.is_empty() {
            self.fail(format!("`xenperf` printed no counters:\n{out}"));
        }
        counters
    }

    /// One counter of [`System::xenperf`].
    #[track_caller]
    pub fn xenperf_counter(&mut self, name: &str) -> u64 {
        let counters = self.xenperf();
        match counters.iter().find(|(n, _)| n == name) {
            Some((_, v)) => *v,
            None => self.fail(format!("`xenperf` has no counter {name}: {counters:?}")),
        }
    }

    /// `free_memory` from `xl info`, in MiB.
    #[track_caller]
    pub fn free_memory(&mut self) -> u64 {
        self.xl_info().free_memory().unwrap_or_default()
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

    /// `len` bytes of the machine's physical memory from `addr`, read through QMP (the
    /// system must have been booted [`BootOptions::with_qmp`]).
    pub fn read_phys(&mut self, addr: u64, len: u64) -> Result<Vec<u8>, Failure> {
        let Some(path) = self.qmp_path.clone() else {
            return Err(self.failure("read_phys: booted without a QMP socket (with_qmp)"));
        };
        if self.qmp.is_none() {
            match Qmp::connect(&path, launch::scaled(Duration::from_secs(10))) {
                Ok(q) => self.qmp = Some(q),
                Err(e) => return Err(self.failure(e)),
            }
        }
        let r = self.qmp.as_mut().map(|q| q.read_phys(addr, len));
        match r {
            Some(Ok(data)) => Ok(data),
            Some(Err(e)) => Err(self.failure(e)),
            None => Err(self.failure("QMP not connected")),
        }
    }

    /// What a PC's screen shows in VGA text mode (80x25 at 0xB8000), a line each; also
    /// saved next to the transcript as `<test>.screen.txt`.
    pub fn vga_text(&mut self) -> Result<String, Failure> {
        let cells = (qmp::VGA_COLUMNS * qmp::VGA_LINES * 2) as u64;
        let data = self.read_phys(qmp::VGA_TEXT, cells)?;
        let text = qmp::screen_text(&data, qmp::VGA_COLUMNS);
        let path = self.log_path().with_extension("screen.txt");
        let _ = std::fs::create_dir_all(launch::logs_dir());
        let _ = std::fs::write(&path, &text);
        Ok(text)
    }

    /// Type `poweroff` at the prompt and return QEMU's exit status (33 is a clean poweroff).
    #[track_caller]
    pub fn poweroff(&mut self) -> i32 {
        let r = self
            .send("poweroff\n")
            .and_then(|_| self.wait_exit(CMD_TIMEOUT));
        match r {
            Ok(Some(code)) => code,
            Ok(None) => self.fail("QEMU was killed by a signal after `poweroff`"),
            Err(f) => {
                panic!("{f}")
            }
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

/// The current test's name from its function path (for log file names).
#[macro_export]
macro_rules! test_name {
    () => {{
        fn f() {}
        let n = std::any::type_name_of_val(&f);
        let n = n.strip_suffix("::f").unwrap_or(n);
        n.replace("::", "-")
    }};
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fake machine: prints a boot log and a prompt, echoes lines, answers a few commands.
    const FAKE: &str = r#"
printf '(XEN) fake hypervisor\r\n(XEN) building dom0\r\n'
printf 'dom0# '
while IFS= read -r line; do
  printf '%s\r\n' "$line"
  case "$line" in
    "xl list") printf 'Name ID Mem VCPUs State Time(s)\nDomain-0 0 64 1 r----- 1.0\n' ;;
    "xl info") printf 'total_memory : 511\nfree_memory : 400\n' ;;
    "xl create") printf 'dom0# '; sleep 0.2; printf '(d1) Hello from pv-guest domU, cmdline "greet"\n'; continue ;;
    poweroff) exit 33 ;;
    crash) exit 0 ;;
    hang) exec sleep 100 ;;
  esac
  printf 'dom0# '
done
"#;

    fn fake(name: &str, hard: Duration) -> System {
        let args = vec!["-c".to_string(), FAKE.to_string()];
        let mut s = System::spawn(name, "sh", &args, hard);
        s.expect(PROMPT, Duration::from_secs(10)).or_fail();
        s
    }

    #[test]
    fn echo_stripping() {
        assert_eq!(strip_echo("xl list\nA\nB\n", "xl list"), "A\nB\n");
        assert_eq!(strip_echo("noise\nxl list\nA\n", "xl list"), "noise\nA\n");
        assert_eq!(strip_echo("A\n", "xl list"), "A\n");
        assert_eq!(strip_echo("xl list", "xl list"), "");
        assert_eq!(strip_prompts("dom0# dom0# (d1) x"), "(d1) x");
        assert_eq!(strip_prompts("(d1) dom0# x"), "(d1) dom0# x");
    }

    #[test]
    fn drives_a_fake_machine() {
        let mut s = fake("harness-selftest-drive", HARD_TIMEOUT);
        assert!(s.transcript().starts_with("(XEN) fake hypervisor\n"));
        let rows = s.xl_list();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].name, "Domain-0");
        assert_eq!(s.free_memory(), 400);
        let m = s.mark();
        s.run("xl create");
        let l = s
            .wait_line(m, "Hello from pv-guest domU", Duration::from_secs(5))
            .or_fail();
        assert_eq!(l, "(d1) Hello from pv-guest domU, cmdline \"greet\"");
        assert_eq!(s.poweroff(), 33);
        let log = s.log_path();
        drop(s);
        let saved = std::fs::read_to_string(&log).unwrap();
        assert!(saved.contains("cmdline \"greet\"\npoweroff\n"), "{saved}");
    }

    #[test]
    fn reports_early_exit() {
        let mut s = fake("harness-selftest-exit", HARD_TIMEOUT);
        s.send("crash\n").or_fail();
        let f = s.expect("never", Duration::from_secs(10)).unwrap_err();
        assert!(f.msg.contains("QEMU exited (0: triple fault"), "{f}");
        assert!(f.tail.contains("crash"), "{f}");
        assert!(f.to_string().contains("whole transcript"), "{f}");
    }

    #[test]
    fn times_out() {
        let mut s = fake("harness-selftest-timeout", HARD_TIMEOUT);
        let t = Instant::now();
        let f = s.try_run("hang", Duration::from_millis(300)).unwrap_err();
        assert!(t.elapsed() < Duration::from_secs(5));
        assert!(f.msg.contains("timed out"), "{f}");
        assert!(f.msg.contains("after typing \"hang\""), "{f}");
    }

    #[test]
    fn hard_timeout_kills() {
        let mut s = fake("harness-selftest-hard", Duration::from_secs(2));
        // (If the machine is already gone under heavy load, typing fails: fine.)
        let _ = s.send("hang\n");
        let t = Instant::now();
        let f = s.expect("never", Duration::from_secs(30)).unwrap_err();
        assert!(t.elapsed() < Duration::from_secs(10), "{f}");
        assert!(f.msg.contains("killed by a signal"), "{f}");
        assert!(f.tail.contains("hard timeout"), "{f}");
    }

    #[test]
    fn names_tests() {
        assert_eq!(test_name!(), "tests-system-tests-names_tests");
    }
}
