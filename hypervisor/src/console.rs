//! The hypervisor console: a COM1 16550 UART and a `log` logger printing `(XEN) ` lines.
//!
//! `loglvl=` on the hypervisor command line sets the level: `none`, `error`, `warning`,
//! `info` (default), `debug` or `all`.
//!
//! Every `(XEN) ` line is also kept in a log ring ([`LogRing`], the last [`RING_SIZE`] bytes)
//! that dom0 reads with `sysctl readconsole` (`xl dmesg`).

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

/// Whether the UART holds a received byte (line-status data ready), without reading it.
pub fn input_ready() -> bool {
    inb(COM1 + 5) & 1 != 0
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

/// Writes `(XEN) ` + the formatted text, prefixing every line; keeps it in the log ring.
pub fn xen_print(args: fmt::Arguments) {
    let mut uart = UART.lock();
    let mut ring = LOG_RING.lock();
    let mut w = LinePrefixer {
        uart: &mut uart,
        ring: &mut ring,
        at_line_start: true,
    };
    let _ = w.write_fmt(args);
    if !w.at_line_start {
        w.put(b"\n");
    }
}

struct LinePrefixer<'a> {
    uart: &'a mut Uart,
    ring: &'a mut LogRing,
    at_line_start: bool,
}

impl LinePrefixer<'_> {
    fn put(&mut self, bytes: &[u8]) {
        self.uart.write(bytes);
        self.ring.push(bytes);
    }
}

impl Write for LinePrefixer<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for line in s.split_inclusive('\n') {
            if self.at_line_start {
                self.put(b"(XEN) ");
            }
            self.put(line.as_bytes());
            self.at_line_start = line.ends_with('\n');
        }
        Ok(())
    }
}

/// Bytes of hypervisor log kept for `xl dmesg`.
pub const RING_SIZE: usize = 16 * 1024;

/// The hypervisor's log ring.
pub static LOG_RING: Mutex<LogRing> = Mutex::new(LogRing::new());

/// The last [`RING_SIZE`] bytes of hypervisor log, indexed as Xen's console ring: `prod`
/// counts every byte ever written (wrapping at 2^32, as the readconsole index does), `cons`
/// is where a reader starts after a clear.
pub struct LogRing {
    buf: [u8; RING_SIZE],
    prod: u32,
    cons: u32,
}

impl LogRing {
    pub const fn new() -> Self {
        LogRing {
            buf: [0; RING_SIZE],
            prod: 0,
            cons: 0,
        }
    }

    /// Appends bytes, dropping the oldest when full.
    pub fn push(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.buf[self.prod as usize % RING_SIZE] = b;
            self.prod = self.prod.wrapping_add(1);
        }
        if self.prod.wrapping_sub(self.cons) as usize > RING_SIZE {
            self.cons = self.prod.wrapping_sub(RING_SIZE as u32);
        }
    }

    /// `XEN_SYSCTL_readconsole`: copies up to `out.len()` bytes starting at the oldest kept
    /// byte, or at `index` if `incremental` (clamped to what is still kept), into `out`.
    /// Returns `(bytes copied, index after the last one)`; `clear` then empties the ring.
    pub fn read(
        &mut self,
        out: &mut [u8],
        incremental: bool,
        index: u32,
        clear: bool,
    ) -> (usize, u32) {
        let avail = self.prod.wrapping_sub(self.cons);
        let start = if incremental && index.wrapping_sub(self.cons) <= avail {
            index
        } else {
            self.cons
        };
        let n = (self.prod.wrapping_sub(start) as usize).min(out.len());
        for (i, o) in out[..n].iter_mut().enumerate() {
            *o = self.buf[start.wrapping_add(i as u32) as usize % RING_SIZE];
        }
        if clear {
            self.cons = self.prod;
        }
        (n, start.wrapping_add(n as u32))
    }
}

impl Default for LogRing {
    fn default() -> Self {
        Self::new()
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
    use super::{parse_level, LogRing, RING_SIZE};
    use alloc::boxed::Box;

    #[test]
    fn ring_keeps_the_last_bytes_and_reads_incrementally() {
        let mut r = Box::new(LogRing::new());
        r.push(b"(XEN) one\n(XEN) two\n");
        let mut out = [0u8; 64];
        let (n, idx) = r.read(&mut out, false, 0, false);
        assert_eq!(&out[..n], b"(XEN) one\n(XEN) two\n");
        assert_eq!(idx, 20);
        r.push(b"(XEN) three\n");
        let (n, idx) = r.read(&mut out, true, idx, false);
        assert_eq!((&out[..n], idx), (&b"(XEN) three\n"[..], 32));
        // A small buffer gets the oldest part; continue from the returned index.
        let mut small = [0u8; 4];
        let (n, idx) = r.read(&mut small, false, 0, false);
        assert_eq!((&small[..n], idx), (&b"(XEN"[..], 4));
        // Overflow: only the last RING_SIZE bytes stay; a stale index starts at the oldest.
        let big = alloc::vec![b'x'; RING_SIZE + 100];
        r.push(&big);
        let mut all = alloc::vec![0u8; RING_SIZE * 2];
        let (n, _) = r.read(&mut all, true, 3, false);
        assert_eq!(n, RING_SIZE);
        assert!(all[..n].iter().all(|&b| b == b'x'));
        // Clear: nothing left until more is written.
        r.read(&mut all, false, 0, true);
        assert_eq!(r.read(&mut all, false, 0, false).0, 0);
        r.push(b"z");
        assert_eq!(r.read(&mut all, false, 0, false).0, 1);
    }

    #[test]
    fn levels() {
        assert_eq!(parse_level("all"), Some(log::LevelFilter::Trace));
        assert_eq!(parse_level("warning"), Some(log::LevelFilter::Warn));
        assert_eq!(parse_level("bogus"), None);
    }
}
