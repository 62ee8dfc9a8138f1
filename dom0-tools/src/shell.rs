//! dom0's shell on the console: line editing (echo, backspace/DEL, Ctrl-U, Ctrl-C; CR, LF or
//! CRLF end a line) and the commands `xl ...`, `help`, `ls`, `cat`, `rm`, `write`, `cp`
//! (dom0's initrd and its storage, [`files`]), `echo`, `poweroff`, `reboot`.
//!
//! A command may keep the terminal after it returns (`xl top`): the shell then feeds it the
//! input and refreshes it from [`Shell::poll`] until it quits (`q` or Ctrl-C), and only then
//! prints the next prompt. [`Shell::poll`], called by dom0 while no input arrives, also runs
//! the toolstack's life-cycle checks and shows their notices when nobody is typing.

use crate::hv::Hypervisor;
use crate::xl::{Toolstack, TopView};
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write;

/// The prompt (no newline after it).
pub const PROMPT: &str = "dom0# ";
/// Longest command line; further characters are dropped.
pub const MAX_LINE: usize = 1024;

const HELP: &str = "Commands:
  xl <subcommand> [args]   the Xen toolstack (`xl help` for its subcommands)
  ls [dir]                 list files: dom0's initrd, and its storage under
                           /etc/xen and /var/lib/xen (kept on its disk across reboots)
  cat <file>...            print files (the storage's first, then the initrd's)
  rm <file>...             remove files from dom0's storage
  write <file> [text]      write the text and a newline as <file> on dom0's storage
                           (\\n in the text starts a new line)
  cp <src> <dst>           copy a file (from either) to dom0's storage
  echo [words]             print the words
  xenstore-ls [path]       XenStore: also xenstore-read, -write, -rm, -chmod, -list
  xenperf [-r]             the hypervisor's performance counters (-r: reset them)
  devmem ADDRESS [WIDTH]   read device memory (I/O memory only; WIDTH 8, 16, 32, 64 bits)
  lsdev                    the virtio-mmio devices the ACPI tables describe
  lsblk                    the block devices: disks and their GPT partitions
  hexdump -C [-s OFF] [-n LEN] DEV   a block device's bytes
  dd if=SRC of=DST [bs= count= skip= seek=]   copy between devices, /dev/zero, /dev/null
  blkbench randread DEV COUNT   4 KiB reads at fixed-seed offsets, timed (the bench's)
  ip addr                  dom0's interface xenbr0 (address, MAC) and the bridge's ports
  brctl show               the bridge xenbr0: its ports and the addresses it learnt
  ping [-c N] ADDRESS      send N echo requests (default 3), one a second
  help                     this text
  poweroff                 shut the machine down
  reboot                   restart the machine
";

/// What the caller should do after a byte or a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShellAction {
    Continue,
    PowerOff,
    Reboot,
}

/// The shell: a toolstack and the line being typed.
pub struct Shell<'a, H: Hypervisor> {
    ts: Toolstack<'a, H>,
    line: String,
    after_cr: bool,
    /// A running `xl top`, which has the terminal.
    top: Option<TopView>,
    /// Polls since the last life-cycle check (when the hypervisor does not tell the time).
    polls: u32,
    /// System time of the last life-cycle check.
    last_check_ns: u64,
    /// `xl console` (or `xl create -c`) had the terminal at the last poll.
    was_attached: bool,
}

/// Life-cycle checks happen this often (system time, when known)...
pub const LIFECYCLE_PERIOD_NS: u64 = 100_000_000;
/// ...else every this many [`Shell::poll`] calls.
pub const LIFECYCLE_EVERY: u32 = 1024;

impl<'a, H: Hypervisor> Shell<'a, H> {
    pub fn new(toolstack: Toolstack<'a, H>) -> Self {
        Self {
            ts: toolstack,
            line: String::new(),
            after_cr: false,
            top: None,
            polls: 0,
            last_check_ns: 0,
            was_attached: false,
        }
    }

    /// Whether a command holds the terminal (`xl top`).
    pub fn in_foreground(&self) -> bool {
        self.top.is_some()
    }

    /// Work to do while no input arrives: life-cycle checks (at once when the hypervisor
    /// raised VIRQ_DOM_EXC, else every [`LIFECYCLE_PERIOD_NS`]; their notices are printed
    /// only when the line is empty and no command holds the terminal), serving the back ends
    /// and refreshing `xl top`.
    pub fn poll(&mut self, out: &mut dyn Write) {
        self.polls += 1;
        let periodic = match self.ts.hypervisor().now_ns() {
            Some(now) if now.saturating_sub(self.last_check_ns) >= LIFECYCLE_PERIOD_NS => {
                self.last_check_ns = now;
                true
            }
            Some(_) => false,
            None => self.polls >= LIFECYCLE_EVERY,
        };
        if periodic || self.ts.dom_exc_pending() {
            self.polls = 0;
            self.ts.poll_lifecycle();
        }
        self.ts.service_backends(out, periodic);
        let attached = self.ts.console_attached().is_some();
        if self.was_attached && !attached {
            // The attached domain went away: the shell has the terminal again.
            let _ = out.write_char('\n');
            self.prompt(out);
        }
        self.was_attached = attached;
        if let Some(mut view) = self.top.take() {
            self.ts.top_refresh(&mut view, false, out);
            self.top = Some(view);
        } else if self.line.is_empty() && !attached {
            let notices = self.ts.take_notices();
            if !notices.is_empty() {
                let _ = out.write_char('\n');
                let _ = out.write_str(&notices);
            }
        }
    }

    /// Whether a back end has work left from the last [`poll`](Self::poll): the caller
    /// should poll again soon (after letting other domains run) instead of sleeping.
    pub fn busy(&mut self) -> bool {
        self.ts.vbds_busy() || self.ts.vifs_busy() || self.ts.network().is_some_and(|n| n.busy())
    }

    /// The latest time (hypervisor ns) the caller should poll again even if no event
    /// comes: a vif's rate credit refilling, the network stack's next timer.
    pub fn wake_at(&mut self, now_ns: u64) -> Option<u64> {
        let net = self.ts.network().and_then(|n| n.poll_at(now_ns));
        [self.ts.vifs_poll_at(), net].into_iter().flatten().min()
    }

    pub fn toolstack(&mut self) -> &mut Toolstack<'a, H> {
        &mut self.ts
    }

    /// Prints the prompt.
    pub fn prompt(&self, out: &mut dyn Write) {
        let _ = out.write_str(PROMPT);
    }

    /// Handles one input byte: echo and editing; at the end of a line, runs it and prints the
    /// next prompt (unless the machine is to power off or reboot).
    pub fn feed(&mut self, byte: u8, out: &mut dyn Write) -> ShellAction {
        if self.ts.console_attached().is_some() {
            // `xl console` has the terminal until Ctrl-].
            if !self.ts.console_input(byte, out) {
                self.was_attached = false;
                self.prompt(out);
            }
            return ShellAction::Continue;
        }
        if self.top.is_some() {
            // `xl top` has the terminal: q or Ctrl-C quits, anything else is ignored.
            if matches!(byte, b'q' | b'Q' | 0x03) {
                self.top = None;
                let _ = out.write_char('\n');
                self.prompt(out);
            }
            return ShellAction::Continue;
        }
        let after_cr = core::mem::replace(&mut self.after_cr, false);
        match byte {
            b'\n' if after_cr => ShellAction::Continue,
            b'\r' | b'\n' => {
                self.after_cr = byte == b'\r';
                let _ = out.write_char('\n');
                let line = core::mem::take(&mut self.line);
                let action = self.run_line(&line, out);
                // Domains waiting on xenstore or their console get served between commands
                // too, not only while the shell is idle.
                self.ts.service_backends(out, false);
                self.top = self.ts.take_top_view();
                if action == ShellAction::Continue
                    && self.top.is_none()
                    && self.ts.console_attached().is_none()
                {
                    self.prompt(out);
                }
                action
            }
            0x08 | 0x7f => {
                if self.line.pop().is_some() {
                    let _ = out.write_str("\x08 \x08");
                }
                ShellAction::Continue
            }
            0x15 => {
                for _ in 0..self.line.len() {
                    let _ = out.write_str("\x08 \x08");
                }
                self.line.clear();
                ShellAction::Continue
            }
            0x03 => {
                self.line.clear();
                let _ = out.write_str("^C\n");
                self.prompt(out);
                ShellAction::Continue
            }
            b'\t' | 0x20..=0x7e => {
                if self.line.len() < MAX_LINE {
                    let c = if byte == b'\t' { ' ' } else { byte as char };
                    self.line.push(c);
                    let _ = out.write_char(c);
                }
                ShellAction::Continue
            }
            _ => ShellAction::Continue,
        }
    }

    /// Runs one command line.
    pub fn run_line(&mut self, line: &str, out: &mut dyn Write) -> ShellAction {
        let words = match split_words(line) {
            Ok(w) => w,
            Err(e) => {
                let _ = writeln!(out, "sh: {e}");
                return ShellAction::Continue;
            }
        };
        let argv: Vec<&str> = words.iter().map(String::as_str).collect();
        let Some(&cmd) = argv.first() else {
            return ShellAction::Continue;
        };
        match cmd {
            "xl" => {
                self.ts.run(&argv, out);
            }
            "help" => {
                let _ = out.write_str(HELP);
            }
            "ls" => self.files().ls(&argv[1..], out),
            "cat" => self.files().cat(&argv[1..], out),
            "rm" => self.files().rm(&argv[1..], out),
            "write" => self.files().write(&argv[1..], out),
            "cp" => self.files().cp(&argv[1..], out),
            "echo" => {
                let _ = writeln!(out, "{}", argv[1..].join(" "));
            }
            c if c.starts_with("xenstore-") => {
                self.ts.xenstore_cmd(&argv, out);
            }
            "xenperf" => self.xenperf(&argv[1..], out),
            "devmem" => devmem::run(self.ts.hypervisor(), &argv[1..], out),
            "lsdev" => lsdev::run(self.ts.hypervisor(), &argv[1..], out),
            "lsblk" => blockdev::lsblk(self.ts.disks(), out),
            "hexdump" => blockdev::hexdump(self.ts.disks(), &argv[1..], out),
            "dd" => {
                let (hv, disks) = self.ts.hypervisor_and_disks();
                blockdev::dd(disks, &argv[1..], &mut || hv.now_ns(), out);
            }
            "blkbench" => blkbench::run(self.ts.hypervisor_and_disks(), &argv[1..], out),
            "ip" | "ifconfig" => net::ip(self.ts.network(), cmd, &argv[1..], out),
            "brctl" => {
                let now = self.ts.hypervisor().now_ns();
                net::brctl(self.ts.network(), now, &argv[1..], out);
            }
            "ping" => net::ping(&mut self.ts, &argv[1..], out),
            "poweroff" => return ShellAction::PowerOff,
            "reboot" => return ShellAction::Reboot,
            _ => {
                let _ = writeln!(out, "sh: {cmd}: command not found");
            }
        }
        ShellAction::Continue
    }

    /// `xenperf [-r]`: the hypervisor's counters, one per line (`name  T= value`, as Xen's
    /// xenperf), or with `-r` reset them.
    fn xenperf(&mut self, args: &[&str], out: &mut dyn Write) {
        let hv = self.ts.hypervisor();
        let r = match args {
            [] => hv.perf_counters().map(|cs| {
                for (name, vals) in cs {
                    let total: u64 = vals.iter().map(|&v| u64::from(v)).sum();
                    let _ = writeln!(out, "{name:<35} T={total:>10}");
                }
            }),
            ["-r"] => hv.perf_reset().map(|()| {
                let _ = writeln!(out, "xenperf: counters reset");
            }),
            _ => {
                let _ = writeln!(out, "usage: xenperf [-r]");
                return;
            }
        };
        if let Err(e) = r {
            let _ = writeln!(out, "xenperf: cannot read the hypervisor's counters: {e}");
        }
    }

    /// The initrd and dom0's storage, for the file commands.
    fn files(&mut self) -> files::Files<'_, 'a> {
        let initrd = *self.ts.initrd();
        let (storage, disks) = self.ts.storage_and_disks();
        files::Files {
            initrd,
            storage,
            disks,
        }
    }
}

/// Splits a command line into words; "double" or 'single' quotes group words.
fn split_words(line: &str) -> Result<Vec<String>, &'static str> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut quote = None;
    for c in line.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => cur.push(c),
            (None, '"' | '\'') => {
                quote = Some(c);
                in_word = true;
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    words.push(core::mem::take(&mut cur));
                    in_word = false;
                }
            }
            (None, c) => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    if quote.is_some() {
        return Err("unterminated quote");
    }
    if in_word {
        words.push(cur);
    }
    Ok(words)
}

pub mod blkbench;
mod blockdev;
mod devmem;
pub mod files;
#[cfg(test)]
mod files_tests;
pub mod lsdev;
pub mod net;
#[cfg(test)]
mod tests;
