//! Decompression of a bzImage's payload: the format is told by its magic (as Linux's own
//! `lib/decompress.c` does) and decoded by a pure-Rust `no_std` crate:
//!
//! | format | magic            | crate                                        |
//! |--------|------------------|----------------------------------------------|
//! | gzip   | `1f 8b`          | `miniz_oxide` (raw deflate; header, CRC32 and size checked here, CRC by `crc32fast`) |
//! | bzip2  | `BZh`            | `libbz2-rs-sys` (libbzip2 ported to Rust; its C-style interface is called from one small module, [`bzip2`]) |
//! | lzma   | `5d 00 00`       | `lzma-rust2` (the `.lzma` format)            |
//! | xz     | `fd 37 7a 58 5a 00` | `xz4rust` (xz-embedded, the decoder Linux itself boots with, ported to safe Rust; BCJ x86 included) |
//! | lz4    | `02 21 4c 18`    | `lz4_flex` blocks, in the legacy frame Linux uses (a size before each block) |
//! | zstd   | `28 b5 2f fd`    | `ruzstd`                                     |
//! | lzo    | `89 4c 5a 4f`    | none: refused as unsupported                 |
//!
//! Memory ([`Limits`]): the output grows in a buffer whose every allocation is fallible
//! (`try_reserve`), sized once from the payload's size trailer (Linux appends the
//! uncompressed size to every payload; only a claim, checked against the limits), never
//! beyond `max_output`. A decoder's own large buffer (xz's or lzma's dictionary, zstd's
//! window) is counted against `max_memory` together with the output *before*
//! it is allocated: xz's dictionary is allocated here, fallibly; lzma-rust2 gets the rest as
//! its memory limit and allocates fallibly itself; zstd's
//! window, which ruzstd allocates infallibly, is read from the frame header and counted
//! before the frame is decoded. So a payload asking for more than the limits is refused
//! naming them, and what was allocated is freed.
//!
//! No path here panics on a hostile payload: every length is checked, and the decoders
//! report bad data as errors (the tests feed them truncated and corrupted payloads).

mod bzip2;
mod gzip;
mod lz4;
mod lzma;
mod output;
mod xz;
mod zstd;

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use output::Output;

/// The largest decompressed kernel accepted by default: 256 MiB.
pub const MAX_OUTPUT: usize = 256 << 20;
/// The most memory a decompression may hold by default: the largest kernel and a decoder
/// window as large (the largest dictionary `xz -9`/`lzma -9` use is 64 MiB).
pub const MAX_MEMORY: usize = 2 * MAX_OUTPUT;

/// A compression format of Linux's bzImage payloads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    Gzip,
    Bzip2,
    Lzma,
    Xz,
    Lzo,
    Lz4,
    Zstd,
}

impl Compression {
    /// The format whose magic `data` starts with.
    pub fn detect(data: &[u8]) -> Option<Self> {
        const MAGICS: [(&[u8], Compression); 7] = [
            (&[0x1F, 0x8B], Compression::Gzip),
            (b"BZh", Compression::Bzip2),
            (&[0x5D, 0x00, 0x00], Compression::Lzma),
            (&[0xFD, b'7', b'z', b'X', b'Z', 0x00], Compression::Xz),
            (&[0x89, b'L', b'Z', b'O'], Compression::Lzo),
            (&[0x02, 0x21, 0x4C, 0x18], Compression::Lz4),
            (&[0x28, 0xB5, 0x2F, 0xFD], Compression::Zstd),
        ];
        MAGICS
            .iter()
            .find(|(magic, _)| data.starts_with(magic))
            .map(|&(_, c)| c)
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Gzip => "gzip",
            Self::Bzip2 => "bzip2",
            Self::Lzma => "lzma",
            Self::Xz => "xz",
            Self::Lzo => "lzo",
            Self::Lz4 => "lz4",
            Self::Zstd => "zstd",
        }
    }
}

impl fmt::Display for Compression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How much a decompression may produce and hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The most bytes the output may have.
    pub max_output: usize,
    /// The most heap it may hold at once: the output's buffer and the decoder's window,
    /// dictionary or block buffer.
    pub max_memory: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_output: MAX_OUTPUT,
            max_memory: MAX_MEMORY,
        }
    }
}

/// Why a payload could not be decompressed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecompressError {
    /// No known magic: the first bytes (as many as there are, up to 4).
    Unknown { magic: [u8; 4], len: usize },
    /// A format known but not decoded here.
    Unsupported(Compression),
    /// The data is not valid (the decoder's words).
    Corrupt { format: Compression, why: String },
    /// The data ends inside the stream.
    Truncated { format: Compression },
    /// The output would be larger than `limit` bytes (`size`: what the payload says it
    /// decompresses to, when that is what exceeds the limit).
    TooLarge {
        format: Compression,
        size: Option<u64>,
        limit: usize,
    },
    /// The output (`output` bytes of buffer) and the decoder's `what` (`decoder` bytes)
    /// together would hold more than `limit` bytes.
    OverMemory {
        format: Compression,
        output: u64,
        what: &'static str,
        decoder: u64,
        limit: usize,
    },
    /// Allocating `bytes` failed (the heap has less free than the limits allowed).
    NoMemory { format: Compression, bytes: u64 },
}

/// A size for messages: whole MiB when at least 1 MiB (rounded up), else bytes.
pub(crate) struct Size(pub u64);

impl fmt::Display for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 >= 1 << 20 {
            write!(f, "{} MiB", self.0.div_ceil(1 << 20))
        } else {
            write!(f, "{} bytes", self.0)
        }
    }
}

impl fmt::Display for DecompressError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unknown { magic, len } => {
                f.write_str("unknown compression (payload begins")?;
                for b in &magic[..*len] {
                    write!(f, " {b:02x}")?;
                }
                f.write_str(")")
            }
            Self::Unsupported(c) => write!(f, "unsupported compression: {c}"),
            Self::Corrupt { format, why } => write!(f, "corrupt {format} data: {why}"),
            Self::Truncated { format } => {
                write!(
                    f,
                    "truncated {format} data: the payload ends inside the stream"
                )
            }
            Self::TooLarge {
                format,
                size: Some(size),
                limit,
            } => write!(
                f,
                "the {format} payload's size trailer says it decompresses to {}, more than the \
                 limit of {}",
                Size(*size),
                Size(*limit as u64)
            ),
            Self::TooLarge {
                format,
                size: None,
                limit,
            } => write!(
                f,
                "the {format} payload decompresses to more than the limit of {}",
                Size(*limit as u64)
            ),
            Self::OverMemory {
                format,
                output,
                decoder: 0,
                limit,
                ..
            } => write!(
                f,
                "decompressing the {format} payload needs {} for the kernel, more than the {} \
                 allowed",
                Size(*output),
                Size(*limit as u64)
            ),
            Self::OverMemory {
                format,
                output,
                what,
                decoder,
                limit,
            } => write!(
                f,
                "decompressing the {format} payload needs {} ({} for the kernel, {} for {what}), \
                 more than the {} allowed",
                Size(output + decoder),
                Size(*output),
                Size(*decoder),
                Size(*limit as u64)
            ),
            Self::NoMemory { format, bytes } => write!(
                f,
                "out of memory decompressing the {format} payload: cannot allocate {}",
                Size(*bytes)
            ),
        }
    }
}

impl DecompressError {
    /// Whether the refusal is about memory (the limits or the heap), not the data.
    pub fn is_memory(&self) -> bool {
        matches!(
            self,
            Self::TooLarge { .. } | Self::OverMemory { .. } | Self::NoMemory { .. }
        )
    }
}

/// Decompresses `data` within `limits`: its format and the output. `size_hint` is the size
/// the payload claims to decompress to (Linux's size trailer), used to size the output once.
pub fn decompress(
    data: &[u8],
    size_hint: Option<u32>,
    limits: Limits,
) -> Result<(Compression, Vec<u8>), DecompressError> {
    let Some(format) = Compression::detect(data) else {
        let len = data.len().min(4);
        let mut magic = [0; 4];
        magic[..len].copy_from_slice(&data[..len]);
        return Err(DecompressError::Unknown { magic, len });
    };
    type Decoder = fn(&[u8], &mut Output) -> Result<(), DecompressError>;
    let decode: Decoder = match format {
        Compression::Gzip => gzip::decode,
        Compression::Lzma => lzma::decode,
        Compression::Xz => xz::decode,
        Compression::Lz4 => lz4::decode,
        Compression::Zstd => zstd::decode,
        Compression::Bzip2 => bzip2::decode,
        Compression::Lzo => return Err(DecompressError::Unsupported(format)),
    };
    let mut out = Output::new(format, limits, size_hint)?;
    decode(data, &mut out)?;
    Ok((format, out.finish()))
}

#[cfg(test)]
mod tests;
