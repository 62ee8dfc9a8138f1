//! The hypervisor console: a COM1 16550 UART and a `log` logger printing `(XEN) ` lines.
//!
//! `loglvl=` on the hypervisor command line sets the level: `none`, `error`, `warning`,
//! `info` (default), `debug` or `all`.
//!
//! `console=` lists where the `(XEN)` log goes, as in Xen: `com1` (the default), `vga` (the
//! VGA text screen, [`vga`]), both (`console=com1,vga`) or `none`. Guest console output
//! (dom0's shell) and input stay on COM1 whatever it says; a panic is written to both.
//!
//! Every `(XEN) ` line is also kept in a log ring ([`LogRing`], the last [`RING_SIZE`] bytes)
//! that dom0 reads with `sysctl readconsole` (`xl dmesg`).
//!
//! Output to COM1 is buffered, as Xen's serial driver does: writes go into a transmit ring
//! ([`TxRing`]) and the UART is fed from it a bounded number of bytes at a time (on the way
//! back to a guest, and in the idle loop), so no console write — however long, whoever
//! makes it — keeps the CPU at the UART's speed with interrupts off. Guest output that finds
//! the ring full is dropped (and counted); the hypervisor's own lines make room by feeding
//! the UART first, so they are never lost. The panic and exit paths flush the ring.

pub mod hold;
pub mod vga;

use crate::sync::{Lock, Rank};
use core::fmt::{self, Write};
use core::sync::atomic::{AtomicBool, Ordering};
use guest_abi::types::DomId;
use vga::TextScreen;

/// COM1's I/O base.
const COM1: u16 = 0x3f8;

/// The UART, held while a line is written so lines do not interleave.
static UART: Lock<Uart> = Lock::new(
    Rank::Uart,
    "console UART",
    Uart {
        base: COM1,
        tx: TxRing::new(),
        held: hold::Held::new(),
    },
);

struct Uart {
    base: u16,
    tx: TxRing,
    /// Lines waiting for dom0 to end its line ([`hold`]).
    held: hold::Held,
}

/// Bytes of console output waiting for the UART.
pub const TX_SIZE: usize = 64 * 1024;

/// The transmit ring: bytes queued for the UART, oldest first.
pub struct TxRing {
    buf: [u8; TX_SIZE],
    head: usize,
    len: usize,
    /// Guest bytes dropped because the ring was full.
    pub dropped: u64,
}

impl TxRing {
    pub const fn new() -> Self {
        TxRing {
            buf: [0; TX_SIZE],
            head: 0,
            len: 0,
            dropped: 0,
        }
    }

    /// Bytes waiting.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Room left.
    pub fn room(&self) -> usize {
        TX_SIZE - self.len
    }

    /// Queues one byte; false if full.
    pub fn push(&mut self, b: u8) -> bool {
        if self.len == TX_SIZE {
            return false;
        }
        self.buf[(self.head + self.len) % TX_SIZE] = b;
        self.len += 1;
        true
    }

    /// Takes the oldest byte.
    pub fn pop(&mut self) -> Option<u8> {
        if self.len == 0 {
            return None;
        }
        let b = self.buf[self.head];
        self.head = (self.head + 1) % TX_SIZE;
        self.len -= 1;
        Some(b)
    }
}

impl Default for TxRing {
    fn default() -> Self {
        Self::new()
    }
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
    /// Writes one byte to the UART, waiting (boundedly) for its transmitter.
    fn putc(&mut self, c: u8) {
        putc_raw(self.base, c);
    }
    /// Feeds the UART up to `max` queued bytes, as long as its transmitter takes them without
    /// waiting. Returns how many went out.
    fn drain(&mut self, max: usize) -> usize {
        let mut n = 0;
        while n < max && !self.tx.is_empty() && inb(self.base + 5) & 0x20 != 0 {
            if let Some(b) = self.tx.pop() {
                outb(self.base, b);
            }
            n += 1;
        }
        n
    }
    /// Feeds the UART everything queued, waiting for it as needed.
    fn flush(&mut self) {
        while let Some(b) = self.tx.pop() {
            self.putc(b);
        }
    }
    /// Queues bytes (`\n` becoming `\r\n`). `guest` output (a whole prefixed line) that does
    /// not fit is dropped whole and counted, so no torn line reaches the console; the
    /// hypervisor's own makes room by feeding the UART.
    fn write_queued(&mut self, bytes: &[u8], guest: bool) {
        if guest && self.tx.room() < queued_len(bytes) {
            self.tx.dropped += bytes.len() as u64;
            return;
        }
        for &c in bytes {
            let need = if c == b'\n' { 2 } else { 1 };
            if self.tx.room() < need {
                while self.tx.room() < need {
                    if let Some(b) = self.tx.pop() {
                        self.putc(b);
                    }
                }
            }
            if c == b'\n' {
                self.tx.push(b'\r');
            }
            self.tx.push(c);
        }
    }

    /// Queues a line (or lines) not from dom0: held while dom0's line is open, else written
    /// after what was held.
    fn write_foreign(&mut self, bytes: &[u8], guest: bool) {
        if self.held.foreign(bytes, context_now()) {
            return;
        }
        self.release_held();
        self.write_queued(bytes, guest);
    }

    /// Queues dom0's output, then the lines held for the end of its line if it ended.
    fn write_dom0(&mut self, bytes: &[u8]) {
        self.write_queued(bytes, false);
        self.held.dom0_wrote(bytes);
        if self.held.due(context_now()) {
            self.release_held();
        }
    }

    /// Writes the held lines (never dropped: they were accepted).
    fn release_held(&mut self) {
        let mut tmp = [0u8; hold::HOLD_BYTES];
        let n = match self.held.take() {
            hold::Emit::Nothing => return,
            hold::Emit::Release(b) => {
                tmp[..b.len()].copy_from_slice(b);
                b.len()
            }
        };
        self.write_queued(&tmp[..n], false);
    }

    fn read_byte(&mut self) -> Option<u8> {
        (inb(self.base + 5) & 1 != 0).then(|| inb(self.base))
    }
}

/// The bytes `bytes` take in the transmit ring (`\n` becomes `\r\n`).
fn queued_len(bytes: &[u8]) -> usize {
    bytes.len() + bytes.iter().filter(|&&b| b == b'\n').count()
}

/// Writes one byte to the UART at `base`, waiting (boundedly) for its transmitter.
fn putc_raw(base: u16, c: u8) {
    let mut spins = 0u32;
    while inb(base + 5) & 0x20 == 0 && spins < 1_000_000 {
        spins += 1;
        core::hint::spin_loop();
    }
    outb(base, c);
}

/// The UART written directly, unbuffered (the panic path, after a flush).
struct RawUart(u16);

impl Write for RawUart {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for &c in s.as_bytes() {
            if c == b'\n' {
                putc_raw(self.0, b'\r');
            }
            putc_raw(self.0, c);
        }
        Ok(())
    }
}

/// Initialises COM1 (115200 8N1, no UART interrupts).
pub fn init() {
    UART.lock().init();
}

/// Whether the `(XEN)` log goes to COM1 (`console=` lists `com1`; the default).
static LOG_TO_COM1: AtomicBool = AtomicBool::new(true);

/// The VGA text screen, when `console=` lists `vga` and the adapter is in text mode.
static VGA: Lock<Option<TextScreen>> = Lock::new(Rank::Vga, "console VGA", None);

// SAFETY: the screen's memory is reached only through the VGA lock (or, on the panic path,
// by the CPU that took it with the lock free), never from two places at once.
unsafe impl Send for TextScreen {}

/// The devices a `console=` value names.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Devices {
    /// COM1.
    pub com1: bool,
    /// The VGA text screen.
    pub vga: bool,
}

/// Parses `console=`'s value: comma-separated `com1`, `vga`, `none` (Xen also knows `com2`,
/// `dbgp`, ...). Returns the devices and the first name not understood, if any.
pub fn parse_console(v: &str) -> (Devices, Option<&str>) {
    let mut d = Devices::default();
    let mut unknown = None;
    for name in v.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        match name {
            "com1" => d.com1 = true,
            "vga" => d.vga = true,
            "none" => {}
            other => {
                unknown.get_or_insert(other);
            }
        }
    }
    (d, unknown)
}

/// The value of `key=` on a command line (the first one).
fn option<'a>(cmdline: &'a str, key: &str) -> Option<&'a str> {
    cmdline
        .split_ascii_whitespace()
        .find_map(|w| w.strip_prefix(key)?.strip_prefix('='))
}

/// Why the VGA console stays off although `console=` asks for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VgaUnavailable {
    /// The loader left a graphics framebuffer (Multiboot framebuffer type 0 or 1).
    GraphicsFramebuffer,
    /// The adapter is not in colour text mode at 0xB8000, or there is none (a UEFI boot, a
    /// microvm).
    NoTextMode,
}

/// Where the text screen is and how big, from what the loader reported (`fb`) and what the
/// adapter says (`text_mode`): the loader's EGA text mode, else the standard 80x25 at
/// 0xB8000 (as Xen assumes on a legacy boot). Returns (address, columns, lines, pitch in
/// cells).
pub fn vga_geometry(
    fb: Option<crate::boot_info::Framebuffer>,
    text_mode: bool,
) -> Result<(u64, usize, usize, usize), VgaUnavailable> {
    match fb {
        Some(fb) if !fb.is_text() => Err(VgaUnavailable::GraphicsFramebuffer),
        _ if !text_mode => Err(VgaUnavailable::NoTextMode),
        Some(fb) if fb.width > 0 && fb.height > 0 && fb.width <= 256 && fb.height <= 128 => {
            let (w, h) = (fb.width as usize, fb.height as usize);
            let pitch = (fb.pitch as usize / 2).max(w);
            Ok((fb.addr, w, h, pitch))
        }
        _ => Ok((vga::TEXT_MEMORY, vga::COLUMNS, vga::LINES, vga::COLUMNS)),
    }
}

/// What [`configure`] chose, for [`Setup::log`].
#[derive(Debug)]
pub struct Setup<'a> {
    /// `console=`'s value, if given.
    console: Option<&'a str>,
    /// `vga=`'s value, if given.
    vga_mode: Option<&'a str>,
    devices: Devices,
    unknown: Option<&'a str>,
    /// The text screen (address, columns, lines), or why there is none.
    vga: Result<(u64, usize, usize), VgaUnavailable>,
}

impl Setup<'_> {
    /// Says what was chosen, once the banner is out: only when `console=` or `vga=` is
    /// given, so a default boot logs as it always has.
    pub fn log(&self) {
        let Some(value) = self.console else {
            if let Some(v) = self.vga_mode {
                crate::xen_println!("vga={v}: ignored without console=vga");
            }
            return;
        };
        let mut names = heapless::String::<16>::new();
        for (on, name) in [(self.devices.com1, "com1"), (self.vga.is_ok(), "vga")] {
            if on {
                let _ = names.push_str(if names.is_empty() { "" } else { "," });
                let _ = names.push_str(name);
            }
        }
        let names = if names.is_empty() { "none" } else { &names };
        match self.vga {
            Ok((pa, w, h)) => {
                crate::xen_println!("console: {names} (vga: {w}x{h} text at {pa:#x})")
            }
            Err(_) => crate::xen_println!("console: {names}"),
        }
        if let Some(u) = self.unknown {
            crate::xen_println!("console={value}: unknown device `{u}` ignored");
        }
        match (self.devices.vga, self.vga) {
            (true, Err(VgaUnavailable::GraphicsFramebuffer)) => crate::xen_println!(
                "console: vga off: the loader set a graphics mode, there is no text screen"
            ),
            (true, Err(VgaUnavailable::NoTextMode)) => crate::xen_println!(
                "console: vga off: no VGA in colour text mode (a UEFI boot or a microvm has none)"
            ),
            _ => {}
        }
        match self.vga_mode {
            None | Some("text-80x25" | "keep" | "current") => {}
            Some(v) => crate::xen_println!(
                "vga={v}: not supported, the text mode the loader left is used (vga=keep)"
            ),
        }
    }
}

/// Sets the consoles up from the command line's `console=` (and `vga=`) and the loader's
/// framebuffer report, before the first `(XEN)` line: the VGA screen is cleared and the log
/// written there from then on. [`Setup::log`] then reports it.
#[cfg(target_os = "none")]
pub fn configure(cmdline: &str, fb: Option<crate::boot_info::Framebuffer>) -> Setup<'_> {
    let console = option(cmdline, "console");
    let (devices, unknown) = match console {
        Some(v) => parse_console(v),
        None => (
            Devices {
                com1: true,
                vga: false,
            },
            None,
        ),
    };
    LOG_TO_COM1.store(devices.com1, Ordering::Relaxed);
    let vga = if devices.vga {
        vga_geometry(fb, vga::text_mode()).map(|(pa, w, h, pitch)| {
            let base = crate::phys::directmap::phys_to_virt(pa) as *mut u16;
            // SAFETY: text memory (the loader's report or the VGA's fixed 0xB8000, which the
            // adapter just said it decodes) lies below 4 GiB, which the boot tables
            // direct-map, and from here on only this screen writes it.
            let mut screen = unsafe { TextScreen::new(base, w, h, pitch) };
            screen.clear();
            *VGA.lock() = Some(screen);
            (pa, w, h)
        })
    } else {
        Err(VgaUnavailable::NoTextMode)
    };
    Setup {
        console,
        vga_mode: option(cmdline, "vga"),
        devices,
        unknown,
        vga,
    }
}

/// Moves the VGA text screen to an uncached mapping of its memory (`map`: physical address
/// and length to a virtual address), once the hypervisor's own page tables are up.
pub fn remap_vga(map: impl FnOnce(u64, u64) -> Option<*mut u8>) {
    let mut vga = VGA.lock();
    let Some(screen) = vga.as_mut() else {
        return;
    };
    let pa = crate::phys::directmap::virt_to_phys(screen.base_address() as u64);
    if let Some(va) = pa.and_then(|pa| map(pa, screen.bytes() as u64)) {
        // SAFETY: `map` mapped the same text memory, all of the screen's cells.
        unsafe { screen.rebase(va as *mut u16) };
    }
}

/// Writes to the VGA screen if it is on and its lock is free (and moves the cursor).
fn vga_write(screen: &mut Option<TextScreen>, bytes: &[u8]) {
    if let Some(s) = screen.as_mut() {
        s.write(bytes);
        #[cfg(target_os = "none")]
        {
            let ((row, col), (w, _)) = (s.cursor(), s.size());
            vga::move_cursor(row * w + col);
        }
    }
}

/// Set (under the UART's lock) whenever output is queued or held; cleared by [`drain`] once
/// nothing is: every return to a guest drains, and most find nothing to do without taking
/// the lock or reading the clock.
static QUEUED: AtomicBool = AtomicBool::new(false);

/// Queues a domU's console output for COM1, `\n` becoming `\r\n` (dropped if the transmit
/// ring is full).
pub fn write_bytes(bytes: &[u8]) {
    let mut uart = UART.lock();
    uart.write_foreign(bytes, true);
    QUEUED.store(true, Ordering::Release);
}

/// Queues dom0's console output (its shell, and the domUs' consoles it serves): never
/// dropped; a full ring is fed to the UART first.
pub fn write_bytes_dom0(bytes: &[u8]) {
    let mut uart = UART.lock();
    uart.write_dom0(bytes);
    QUEUED.store(true, Ordering::Release);
}

/// Feeds the UART up to `max` queued bytes (those it takes without waiting); true if output
/// is still waiting.
pub fn drain(max: usize) -> bool {
    if !QUEUED.load(Ordering::Acquire) {
        return false;
    }
    let mut uart = UART.lock();
    if uart.held.due(context_now()) {
        uart.release_held();
    }
    uart.drain(max);
    let waiting = !uart.tx.is_empty();
    if !waiting && uart.held.is_empty() {
        QUEUED.store(false, Ordering::Release);
    }
    waiting
}

/// Whether console output is waiting for the UART.
pub fn pending() -> bool {
    !UART.lock().tx.is_empty()
}

/// Forgets dom0's open line and releases what was held for it (a fresh machine in the host
/// tests).
pub fn reset_hold() {
    let mut uart = UART.lock();
    uart.release_held();
    uart.held = hold::Held::new();
}

/// Writes everything queued to the UART (before the machine stops), held lines first.
pub fn flush() {
    let mut uart = UART.lock();
    uart.release_held();
    uart.flush();
}

/// The vector COM1's receive interrupt arrives on (routed by the I/O APIC).
pub const RX_VECTOR: u8 = 0x40;
/// Whether input arrives by interrupt ([`enable_rx_interrupt`]); else it is polled.
static RX_IRQ: AtomicBool = AtomicBool::new(false);
/// A receive interrupt came and dom0 has not been told yet.
static RX_PENDING: AtomicBool = AtomicBool::new(false);
/// Receive interrupts taken.
static RX_IRQS: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(0);

/// Has COM1 interrupt on received data (trigger level 1 byte; OUT2 opens the IRQ line on a
/// PC): called once the I/O APIC routes its IRQ to [`RX_VECTOR`].
pub fn enable_rx_interrupt() {
    let b = COM1;
    outb(b + 2, 0x07); // FIFOs on, cleared, interrupt at every byte
    outb(b + 4, 0x0B); // DTR, RTS, OUT2
    outb(b + 1, 0x01); // received-data interrupt
    RX_IRQ.store(true, Ordering::Relaxed);
}

/// Whether input arrives by interrupt.
pub fn rx_by_interrupt() -> bool {
    RX_IRQ.load(Ordering::Relaxed)
}

/// The receive interrupt fired (any context): dom0 is to be told at the next scheduling pass.
pub fn rx_interrupt() {
    RX_IRQS.fetch_add(1, Ordering::Relaxed);
    RX_PENDING.store(true, Ordering::Relaxed);
}

/// Receive interrupts taken so far.
pub fn rx_irqs() -> u64 {
    RX_IRQS.load(Ordering::Relaxed)
}

/// Whether dom0 should hear of input now: a receive interrupt came (taking it), or, when
/// input is polled, the UART holds a byte.
pub fn input_to_announce() -> bool {
    announce(rx_by_interrupt())
}

fn announce(by_interrupt: bool) -> bool {
    if by_interrupt {
        RX_PENDING.swap(false, Ordering::Relaxed)
    } else {
        input_ready()
    }
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
/// where the lock may be held by the code that failed. Also to the VGA screen, if it is on
/// and its lock is free.
pub fn emergency_write(args: fmt::Arguments) {
    if let Some(mut uart) = UART.try_lock() {
        uart.flush();
    }
    let _ = RawUart(COM1).write_fmt(args);
    if let Some(mut vga) = VGA.try_lock() {
        let _ = VgaWriter(&mut vga).write_fmt(args);
    }
}

struct VgaWriter<'a>(&'a mut Option<TextScreen>);

impl Write for VgaWriter<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        vga_write(self.0, s.as_bytes());
        Ok(())
    }
}

/// Writes `(XEN) ` + the formatted text, prefixing every line, to the consoles `console=`
/// chose; keeps it in the log ring.
pub fn xen_print(args: fmt::Arguments) {
    let mut uart = UART.lock();
    QUEUED.store(true, Ordering::Release);
    let mut ring = LOG_RING.lock();
    let mut vga = VGA.lock();
    let mut w = LinePrefixer {
        uart: LOG_TO_COM1.load(Ordering::Relaxed).then_some(&mut *uart),
        ring: &mut ring,
        vga: &mut vga,
        at_line_start: true,
    };
    let _ = w.write_fmt(args);
    if !w.at_line_start {
        w.put(b"\n");
    }
}

struct LinePrefixer<'a> {
    uart: Option<&'a mut Uart>,
    ring: &'a mut LogRing,
    vga: &'a mut Option<TextScreen>,
    at_line_start: bool,
}

impl LinePrefixer<'_> {
    fn put(&mut self, bytes: &[u8]) {
        if let Some(uart) = self.uart.as_mut() {
            uart.write_foreign(bytes, false);
        }
        self.ring.push(bytes);
        vga_write(self.vga, bytes);
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
pub static LOG_RING: Lock<LogRing> = Lock::new(Rank::LogRing, "console log ring", LogRing::new());

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

/// Warnings and errors logged at once, and a second after that.
const WARN_BURST: u64 = 200;
/// See [`WARN_BURST`].
const WARN_RATE: u64 = 20;

/// Buckets of the rate limit of warnings and errors (see `Logger::log`).
const WARN_BUCKETS_N: usize = 64;

/// The rate limit of warnings and errors, per domain (see `Logger::log`).
static WARN_BUCKETS: Lock<[crate::ratelimit::Bucket; WARN_BUCKETS_N]> = Lock::new(
    Rank::WarnBuckets,
    "console warning limits",
    [crate::ratelimit::Bucket::new(WARN_BURST, 0); WARN_BUCKETS_N],
);

/// Where the log reads the system time (ns) and the domain a warning is charged to. Set at
/// start-up by code that knows them (`start`), so the console, below everything else, calls
/// nothing above it. Unset: time 0, domain 0.
static CONTEXT: spin::Once<fn() -> (u64, DomId)> = spin::Once::new();

/// System time in ns from the context (0 before it is set).
fn context_now() -> u64 {
    CONTEXT.get().map_or(0, |f| f().0)
}

/// Tell the log how to read the time and the current domain (once).
pub fn set_context(f: fn() -> (u64, DomId)) {
    CONTEXT.call_once(|| f);
}

struct Logger;

static LOGGER: Logger = Logger;

impl log::Log for Logger {
    fn enabled(&self, m: &log::Metadata) -> bool {
        m.level() <= log::max_level()
    }
    fn log(&self, r: &log::Record) {
        if self.enabled(r.metadata()) {
            // Warnings and errors are what guests can provoke (a refused request, a limit
            // reached): rate-limited, as Xen's guest-triggered messages are, with the number
            // left out said at most once a second.
            if r.level() <= log::Level::Warn {
                let (now, dom) = CONTEXT.get().map_or((0, DomId::DOM0), |f| f());
                // Charged to the domain running (whose request it is), one bucket per id
                // modulo the table's size.
                let mut buckets = WARN_BUCKETS.lock();
                let b = &mut buckets[usize::from(dom.0) % WARN_BUCKETS_N];
                let ok = b.take_all(now, 1, WARN_RATE, WARN_BURST);
                let dropped = b.report_due(now, 1_000_000_000);
                drop(buckets);
                if let Some(n) = dropped {
                    xen_print(format_args!(
                        "WARNING: {n} warnings suppressed while domain {dom} ran (over {WARN_RATE}/s)"
                    ));
                }
                if !ok {
                    return;
                }
            }
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
mod rx_tests {
    use super::*;

    #[test]
    fn by_interrupt_dom0_hears_of_input_once_per_interrupt_and_never_by_polling() {
        // The host UART model never holds input: polling finds none.
        assert!(!announce(false));
        let before = rx_irqs();
        rx_interrupt();
        rx_interrupt();
        assert_eq!(rx_irqs(), before + 2);
        assert!(announce(true));
        assert!(!announce(true), "told once");
        crate::dispatch::idle_interrupt(RX_VECTOR);
        assert!(announce(true), "an interrupt in the idle loop counts too");
        crate::dispatch::idle_interrupt(RX_VECTOR + 1);
        assert!(!announce(true), "another vector is not console input");
    }
}

#[cfg(test)]
mod tests {
    use super::RING_SIZE;
    use super::{parse_console, parse_level, vga_geometry, Devices, LogRing, VgaUnavailable};

    #[test]
    fn a_line_takes_a_byte_more_for_its_carriage_return() {
        assert_eq!(super::queued_len(b"(d1) FLOOD\n"), 12);
        assert_eq!(super::queued_len(b"a\nb\n"), 6);
        assert_eq!(super::queued_len(b""), 0);
    }
    use crate::boot_info::Framebuffer;

    #[test]
    fn console_option() {
        let both = Devices {
            com1: true,
            vga: true,
        };
        assert_eq!(parse_console("com1,vga"), (both, None));
        assert_eq!(parse_console("vga, com1"), (both, None));
        let vga = Devices {
            com1: false,
            vga: true,
        };
        assert_eq!(parse_console("vga"), (vga, None));
        assert_eq!(parse_console("none"), (Devices::default(), None));
        assert_eq!(parse_console("com2,vga").1, Some("com2"));
        assert_eq!(super::option("a=1 console=vga b", "console"), Some("vga"));
        assert_eq!(super::option("consoles=x", "console"), None);
    }

    #[test]
    fn vga_geometry_from_loader_and_adapter() {
        let text = Framebuffer {
            addr: 0xb8000,
            pitch: 160,
            width: 80,
            height: 25,
            bpp: 16,
            kind: Framebuffer::EGA_TEXT,
        };
        assert_eq!(vga_geometry(Some(text), true), Ok((0xb8000, 80, 25, 80)));
        let tall = Framebuffer { height: 50, ..text };
        assert_eq!(vga_geometry(Some(tall), true), Ok((0xb8000, 80, 50, 80)));
        // No report (QEMU's loader, GRUB under UEFI): the adapter decides.
        assert_eq!(vga_geometry(None, true), Ok((0xb8000, 80, 25, 80)));
        assert_eq!(vga_geometry(None, false), Err(VgaUnavailable::NoTextMode));
        let gfx = Framebuffer {
            addr: 0x8000_0000,
            pitch: 4096,
            width: 1024,
            height: 768,
            bpp: 32,
            kind: 1,
        };
        assert_eq!(
            vga_geometry(Some(gfx), true),
            Err(VgaUnavailable::GraphicsFramebuffer)
        );
    }
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
