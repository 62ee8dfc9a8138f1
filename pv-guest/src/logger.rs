//! A `log` backend on the console (the toolstack logs through `log`).
//!
//! The level comes from the kernel command line, `loglevel=<error|warn|info|debug|trace>`
//! (default `warn`).

use crate::cmdline;
use crate::println;
use log::{LevelFilter, Log, Metadata, Record};

struct ConsoleLogger;

impl Log for ConsoleLogger {
    fn enabled(&self, metadata: &Metadata) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &Record) {
        if self.enabled(record.metadata()) {
            println!(
                "[{}] {}: {}",
                record.level(),
                record.target(),
                record.args()
            );
        }
    }

    fn flush(&self) {}
}

static LOGGER: ConsoleLogger = ConsoleLogger;

/// Installs the logger with the level the command line asks for.
pub fn init(cmd: &str) {
    let level = cmdline::param(cmd, "loglevel")
        .and_then(|l| l.parse::<LevelFilter>().ok())
        .unwrap_or(LevelFilter::Warn);
    if log::set_logger(&LOGGER).is_ok() {
        log::set_max_level(level);
    }
}
