//! COM1 (port 0x3F8, 115200 8N1, polled) and the `print!`/`println!` macros.

use super::cpu::{inb, outb};
use core::fmt::{self, Write};

const COM1: u16 = 0x3F8;
/// Line status: transmit holding register empty.
const LSR_THRE: u8 = 1 << 5;

/// Programs the UART: no interrupts, divisor 1, 8N1, FIFOs on.
pub fn init() {
    outb(COM1 + 1, 0x00);
    outb(COM1 + 3, 0x80);
    outb(COM1, 0x01);
    outb(COM1 + 1, 0x00);
    outb(COM1 + 3, 0x03);
    outb(COM1 + 2, 0xC7);
    outb(COM1 + 4, 0x03);
}

fn put(b: u8) {
    while inb(COM1 + 5) & LSR_THRE == 0 {
        core::hint::spin_loop();
    }
    outb(COM1, b);
}

/// The serial console.
pub struct Serial;

impl Write for Serial {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for b in s.bytes() {
            if b == b'\n' {
                put(b'\r');
            }
            put(b);
        }
        Ok(())
    }
}

/// Formats `args` to COM1 (used by the macros).
pub fn print_fmt(args: fmt::Arguments) {
    let _ = Serial.write_fmt(args);
}

/// Prints to COM1.
#[macro_export]
macro_rules! print {
    ($($arg:tt)*) => { $crate::serial::print_fmt(format_args!($($arg)*)) };
}

/// Prints a line to COM1.
#[macro_export]
macro_rules! println {
    () => { $crate::print!("\n") };
    ($($arg:tt)*) => { $crate::serial::print_fmt(format_args!("{}\n", format_args!($($arg)*))) };
}
