//! The hypervisor console: a COM1 16550 UART and a `log` logger printing `(XEN) ` lines.
//!
//! `loglvl=` on the hypervisor command line sets the level: `none`, `error`, `warning`,
//! `info` (default), `debug` or `all`.

use core::fmt::{self, Write};
use spin::Mutex;

/// COM1's I/O base.
const COM1: u16 = 0x3f8;

/// The UART, held while a line is written so lines do not interleave.
static UART: Mutex<Uart> = Mutex::new(Uart { base: COM1 });

struct Uart {
    base: u16,
}

#[cfg(target_os = "none")]
fn outb(port: u16, v: u8) {
    // SAFETY: the COM1 UART's registers; writing them has no memory effects.
    unsafe { x86_64::instructions::port::Port::new(port).write(v) }
}
#[cfg(target_os = "none")]
fn inb(port: u16) -> u8 {
    // SAFETY: as `outb`: reading UART registers has no memory effects.
    unsafe { x86_64::instructions::port::Port::new(port).read() }
}
#[cfg(not(target_os = "none"))]
fn outb(_port: u16, v: u8) {
    use std::io::Write as _;
    let _ = std::io::stdout().write_all(&[v]);
}
#[cfg(not(target_os = "none"))]
fn inb(_port: u16) -> u8 {
    0x20 // transmitter empty, no data
}

impl Uart {
    fn init(&mut self) {
        let b = self.base;
        outb(b + 1, 0x00); // no UART interrupts
        outb(b + 3, 0x80); // DLAB
        outb(b, 0x01); // 115200 baud
        outb(b + 1, 0x00);
        outb(b + 3, 0x03); // 8N1
        outb(b + 2, 0xC7); // FIFOs on, cleared
        outb(b + 4, 0x03); // DTR, RTS
    }
    fn putc(&mut self, c: u8) {
        let mut spins = 0u32;
        while inb(self.base + 5) & 0x20 == 0 && spins < 1_000_000 {
            spins += 1;
            core::hint::spin_loop();
        }
        outb(self.base, c);
    }
    fn write(&mut self, bytes: &[u8]) {
        for &c in bytes {
            if c == b'\n' {
                self.putc(b'\r');
            }
            self.putc(c);
        }
    }
    fn read_byte(&mut self) -> Option<u8> {
        (inb(self.base + 5) & 1 != 0).then(|| inb(self.base))
    }
}

impl Write for Uart {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.write(s.as_bytes());
        Ok(())
    }
}

/// Initialises COM1 (115200 8N1, no UART interrupts).
pub fn init() {
    UART.lock().init();
}

/// Writes raw bytes (guest console output), `\n` becoming `\r\n`.
pub fn write_bytes(bytes: &[u8]) {
    UART.lock().write(bytes);
}

/// Reads one received byte, if any (non-blocking).
pub fn read_byte() -> Option<u8> {
    UART.lock().read_byte()
}

/// Formats straight to the UART, bypassing its lock: for the panic and fault paths only,
/// where the lock may be held by the code that failed.
pub fn emergency_write(args: fmt::Arguments) {
    let _ = Uart { base: COM1 }.write_fmt(args);
}

/// Writes `(XEN) ` + the formatted text, prefixing every line.
pub fn xen_print(args: fmt::Arguments) {
    let mut uart = UART.lock();
    let mut w = LinePrefixer {
        uart: &mut uart,
        at_line_start: true,
    };
    let _ = w.write_fmt(args);
    if !w.at_line_start {
        w.uart.write(b"\n");
    }
}

struct LinePrefixer<'a> {
    uart: &'a mut Uart,
    at_line_start: bool,
}

impl Write for LinePrefixer<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for line in s.split_inclusive('\n') {
            if self.at_line_start {
                self.uart.write(b"(XEN) ");
            }
            self.uart.write(line.as_bytes());
            self.at_line_start = line.ends_with('\n');
        }
        Ok(())
    }
}

struct Logger;

static LOGGER: Logger = Logger;

impl log::Log for Logger {
    fn enabled(&self, m: &log::Metadata) -> bool {
        m.level() <= log::max_level()
    }
    fn log(&self, r: &log::Record) {
        if self.enabled(r.metadata()) {
            match r.level() {
                log::Level::Error => xen_print(format_args!("ERROR: {}", r.args())),
                log::Level::Warn => xen_print(format_args!("WARNING: {}", r.args())),
                _ => xen_print(*r.args()),
            }
        }
    }
    fn flush(&self) {}
}

/// Parses a `loglvl=` value.
pub fn parse_level(v: &str) -> Option<log::LevelFilter> {
    Some(match v {
        "none" => log::LevelFilter::Off,
        "error" | "err" => log::LevelFilter::Error,
        "warning" | "warn" => log::LevelFilter::Warn,
        "info" => log::LevelFilter::Info,
        "debug" => log::LevelFilter::Debug,
        "all" | "trace" => log::LevelFilter::Trace,
        _ => return None,
    })
}

/// Installs the logger with the level from the `loglvl=` option of `cmdline`.
pub fn init_logger(cmdline: &str) {
    let level = cmdline
        .split_ascii_whitespace()
        .find_map(|w| w.strip_prefix("loglvl="))
        .and_then(parse_level)
        .unwrap_or(log::LevelFilter::Info);
    let _ = log::set_logger(&LOGGER);
    log::set_max_level(level);
}

/// `println`-like: one or more `(XEN) ` lines, regardless of the log level.
#[macro_export]
macro_rules! xen_println {
    ($($arg:tt)*) => { $crate::console::xen_print(format_args!($($arg)*)) };
}

#[cfg(test)]
mod tests {
    use super::parse_level;

    #[test]
    fn levels() {
        assert_eq!(parse_level("all"), Some(log::LevelFilter::Trace));
        assert_eq!(parse_level("warning"), Some(log::LevelFilter::Warn));
        assert_eq!(parse_level("bogus"), None);
    }
}
