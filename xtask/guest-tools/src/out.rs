//! Formatted output to a file descriptor: [`Out`] buffers a line's worth and writes it with
//! one `write` (so a line from one program is not split among other output on a console),
//! and [`println!`](crate::println)/[`eprintln!`](crate::eprintln) format into it.

use core::fmt;

/// A buffered writer on a file descriptor.
pub struct Out {
    fd: usize,
    buf: [u8; 512],
    len: usize,
}

impl Out {
    pub const fn new(fd: usize) -> Out {
        Out {
            fd,
            buf: [0; 512],
            len: 0,
        }
    }

    /// Writes what is buffered (retrying short writes; errors are dropped: there is nowhere
    /// to report them).
    pub fn flush(&mut self) {
        let mut at = 0;
        while at < self.len {
            match crate::sys::write(self.fd, &self.buf[at..self.len]) {
                Ok(0) | Err(_) => break,
                Ok(n) => at += n,
            }
        }
        self.len = 0;
    }
}

impl fmt::Write for Out {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for chunk in s.as_bytes().chunks(self.buf.len()) {
            if self.len + chunk.len() > self.buf.len() {
                self.flush();
            }
            self.buf[self.len..self.len + chunk.len()].copy_from_slice(chunk);
            self.len += chunk.len();
        }
        Ok(())
    }
}

/// Formats to `fd` and writes it at once.
pub fn print_to(fd: usize, args: fmt::Arguments<'_>) {
    let mut w = Out::new(fd);
    let _ = fmt::Write::write_fmt(&mut w, args);
    w.flush();
}

/// `println!` on standard output.
#[macro_export]
macro_rules! println {
    ($($arg:tt)*) => {
        $crate::out::print_to(1, format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// `eprintln!` on standard error.
#[macro_export]
macro_rules! eprintln {
    ($($arg:tt)*) => {
        $crate::out::print_to(2, format_args!("{}\n", format_args!($($arg)*)))
    };
}
