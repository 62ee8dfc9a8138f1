//! The save/migration image as a checked format layer: a writer and a reader of xl's
//! save-file header (carrying the domain's configuration), libxl's stream and the libxc
//! domain stream inside it (layouts in `guest_abi::save_stream`), over a byte sink or
//! source, so an image goes to a file or a TCP connection one record at a time without
//! ever being held whole in memory.
//!
//! - [`write::StreamWriter`] emits the headers and records; it checks what it is asked to
//!   write with the same rules the reader applies, so it cannot produce an image the reader
//!   refuses.
//! - [`read::StreamReader`] yields one [`read::Item`] per record after validating it: the
//!   type is known, the length fits the type and the reader's limit, the padding is zero,
//!   the header fields are supported, the records come in the order the specification
//!   requires (no duplicates, END last and not missing), PAGE_DATA's pfn count matches its
//!   length and every pfn is inside the domain's p2m. Errors are [`error::StreamError`]s
//!   naming the record, its offset and the rule.
//! - [`canon`] rewrites page-table pages between machine and pseudo-physical frame numbers
//!   (save) and back (restore, refusing frames the domain does not own).

pub mod canon;
pub mod error;
pub mod read;
pub mod validate;
pub mod write;

#[cfg(test)]
mod tests;

use alloc::string::String;

pub use error::{Layer, Place, Rule, StreamError};
pub use read::{Item, StreamReader};
pub use validate::{Limits, PAGES_PER_RECORD};
pub use write::{ImageInfo, StreamWriter};

/// Size of a guest page in the image.
pub const PAGE_SIZE: usize = 4096;

/// Where an image is written: a file, a socket, a buffer.
pub trait ByteSink {
    /// Writes all of `buf` (or fails, saying why).
    fn write_all(&mut self, buf: &[u8]) -> Result<(), String>;
}

/// Why a [`ByteSource`] could not fill a buffer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SourceError {
    /// The source ended after `got` octets of the buffer.
    Eof {
        /// Octets read before the end.
        got: usize,
    },
    /// The source failed.
    Io(String),
}

/// Where an image is read from.
pub trait ByteSource {
    /// Fills all of `buf`, or says how far it got before the source ended.
    fn read_exact(&mut self, buf: &mut [u8]) -> Result<(), SourceError>;
}

impl ByteSink for alloc::vec::Vec<u8> {
    fn write_all(&mut self, buf: &[u8]) -> Result<(), String> {
        self.extend_from_slice(buf);
        Ok(())
    }
}

impl ByteSource for &[u8] {
    fn read_exact(&mut self, buf: &mut [u8]) -> Result<(), SourceError> {
        let n = buf.len().min(self.len());
        buf[..n].copy_from_slice(&self[..n]);
        *self = &self[n..];
        if n < buf.len() {
            return Err(SourceError::Eof { got: n });
        }
        Ok(())
    }
}

/// A [`std::io::Write`] (a file, a `TcpStream`) as a [`ByteSink`].
#[cfg(feature = "std")]
pub struct IoSink<W>(pub W);

#[cfg(feature = "std")]
impl<W: std::io::Write> ByteSink for IoSink<W> {
    fn write_all(&mut self, buf: &[u8]) -> Result<(), String> {
        self.0.write_all(buf).map_err(|e| e.to_string())
    }
}

/// A [`std::io::Read`] (a file, a `TcpStream`) as a [`ByteSource`].
#[cfg(feature = "std")]
pub struct IoSource<R>(pub R);

#[cfg(feature = "std")]
impl<R: std::io::Read> ByteSource for IoSource<R> {
    fn read_exact(&mut self, buf: &mut [u8]) -> Result<(), SourceError> {
        let mut got = 0;
        while got < buf.len() {
            match self.0.read(&mut buf[got..]) {
                Ok(0) => return Err(SourceError::Eof { got }),
                Ok(n) => got += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(SourceError::Io(e.to_string())),
            }
        }
        Ok(())
    }
}
