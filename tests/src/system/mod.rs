//! `System`: one QEMU running the whole stack, driven over its serial console.
//!
//! The type and the constants every part shares live here; the parts, by concern: `options`
//! (how to boot), `process` (owning the QEMU process), `console` (the serial console: typing
//! and waiting for output), `shell` (dom0 shell commands), `memory` (the machine's memory over
//! QMP), `log` (the saved transcript), `failure` (failures quoting the transcript) and `exit`
//! (what QEMU's exit status means).

mod console;
mod disk_copy;
mod exit;
mod failure;
mod log;
mod memory;
mod options;
mod process;
mod shell;

pub use console::strip_prompts;
pub use disk_copy::DiskCopy;
pub use exit::{describe_exit, EXIT_DOM0_CRASH, EXIT_PANIC, EXIT_POWEROFF, EXIT_REBOOT};
pub use failure::{Failure, OrFail};
pub use options::BootOptions;
pub use shell::strip_echo;

use crate::qmp::Qmp;
use crate::transcript::Transcript;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ExitStatus};
use std::sync::atomic::AtomicBool;
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
    /// The machine's own disk ([`BootOptions::own_disk`]); dropped after QEMU is gone.
    disk: Option<DiskCopy>,
    /// ((machine address, machine port), host port) of each forward
    /// ([`BootOptions::forward`]).
    forwarded: Vec<crate::launch::Forward>,
}

impl System {
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The host port (on 127.0.0.1) that reaches TCP `port` of the machine's first DHCP
    /// address ([`BootOptions::forward`]). Panics if the test asked for no such forward.
    pub fn host_port(&self, port: u16) -> u16 {
        self.host_port_to("", port)
    }

    /// The host port (on 127.0.0.1) that reaches TCP `port` of the machine's `addr`.
    pub fn host_port_to(&self, addr: &str, port: u16) -> u16 {
        self.forwarded
            .iter()
            .find(|((a, p), _)| a == addr && *p == port)
            .map(|(_, h)| *h)
            .unwrap_or_else(|| panic!("[{}] no forward to {addr}:{port} was asked for", self.name))
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

// After `test_name!` so the tests see it; in this module so their paths (and the test name
// `names_tests` checks) are unchanged.
#[cfg(test)]
mod tests;
