//! Console output through the `console_io` hypercall, `print!`/`println!`, and the panic
//! handler.

use core::fmt::{self, Write};
use guest_abi::guest;

/// Bytes gathered before one `console_io` write.
const BUF_SIZE: usize = 256;

/// A console writer that batches output into few hypercalls: it flushes when its buffer is
/// full, after each newline-terminated chunk, and when dropped.
pub struct Console {
    buf: [u8; BUF_SIZE],
    len: usize,
}

impl Console {
    /// An empty writer.
    pub const fn new() -> Console {
        Console {
            buf: [0; BUF_SIZE],
            len: 0,
        }
    }

    /// Writes out what is buffered.
    pub fn flush(&mut self) {
        if self.len > 0 {
            // A domU with a connected console ring writes there; otherwise console_io.
            // Nothing useful can be done if the console refuses output.
            if !crate::console_ring::write(&self.buf[..self.len]) {
                let _ = guest::console_write(&self.buf[..self.len]);
            }
            self.len = 0;
        }
    }
}

impl Default for Console {
    fn default() -> Self {
        Console::new()
    }
}

impl Write for Console {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for &b in s.as_bytes() {
            if self.len == BUF_SIZE {
                self.flush();
            }
            self.buf[self.len] = b;
            self.len += 1;
            if b == b'\n' {
                self.flush();
            }
        }
        Ok(())
    }
}

impl Drop for Console {
    fn drop(&mut self) {
        self.flush();
    }
}

/// Formats `args` to the console (used by the macros).
pub fn print_fmt(args: fmt::Arguments) {
    let mut c = Console::new();
    let _ = c.write_fmt(args);
}

/// Prints to the hypervisor console.
#[macro_export]
macro_rules! print {
    ($($arg:tt)*) => { $crate::console::print_fmt(format_args!($($arg)*)) };
}

/// Prints a line to the hypervisor console.
#[macro_export]
macro_rules! println {
    () => { $crate::print!("\n") };
    ($($arg:tt)*) => { $crate::console::print_fmt(format_args!("{}\n", format_args!($($arg)*))) };
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    println!("pv-guest panic: {}", info);
    crate::console_ring::drain();
    crate::shutdown(guest_abi::sched::ShutdownReason::Crash)
}
