//! A Linux x86 bzImage's setup header, as far as a PV loader needs it: where the compressed
//! kernel (the payload) lies. Xen's libxc loads a bzImage the same way: the payload is
//! decompressed and must be the ELF with the Xen notes.
//!
//! Facts from Linux's x86 boot protocol (Documentation/arch/x86/boot.rst): the setup header
//! lies in the first sector; `setup_sects` (u8 at 0x1F1) counts the 512-byte setup sectors
//! after the boot sector (0 means 4); the magic "HdrS" is at 0x202 and the protocol version
//! (u16, major.minor as 0xMMmm) at 0x206. From protocol 2.08 on, `payload_offset` (u32 at
//! 0x248) and `payload_length` (u32 at 0x24C) give the payload, the offset counted from the
//! start of the protected-mode code at `(setup_sects + 1) * 512`.
//!
//! Linux's build appends the uncompressed size (u32, little-endian) to every compressed
//! payload (gzip's own trailer ends with the same field), which [`BzImage::size_hint`] reads.

use core::fmt;

const SETUP_SECTS: usize = 0x1F1;
const HEADER: usize = 0x202;
const VERSION: usize = 0x206;
const PAYLOAD_OFFSET: usize = 0x248;
const PAYLOAD_LENGTH: usize = 0x24C;
/// The end of the setup header fields read here.
const HEADER_END: usize = PAYLOAD_LENGTH + 4;
const MAGIC: &[u8; 4] = b"HdrS";
/// The first protocol with `payload_offset`/`payload_length`: 2.08.
pub const MIN_VERSION: u16 = 0x0208;

/// Why a bzImage could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BzImageError {
    /// No "HdrS" at 0x202.
    NotBzImage,
    /// The file ends inside the setup header.
    Truncated { len: usize },
    /// Protocol older than 2.08: no payload fields.
    TooOld { version: u16 },
    /// The payload does not lie inside the file.
    PayloadOutOfBounds {
        start: u64,
        length: u32,
        file: usize,
    },
}

impl fmt::Display for BzImageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::NotBzImage => f.write_str("not a bzImage (no \"HdrS\" setup header)"),
            Self::Truncated { len } => write!(
                f,
                "truncated bzImage: {len} bytes, the setup header needs {HEADER_END}"
            ),
            Self::TooOld { version } => write!(
                f,
                "bzImage boot protocol {}.{:02} is too old: need 2.08 or later (payload_offset)",
                version >> 8,
                version & 0xFF
            ),
            Self::PayloadOutOfBounds {
                start,
                length,
                file,
            } => write!(
                f,
                "bzImage payload out of bounds: {length} bytes at offset {start} in a file of \
                 {file} bytes"
            ),
        }
    }
}

/// A bzImage's setup header, checked, and its payload.
#[derive(Debug, Clone, Copy)]
pub struct BzImage<'a> {
    /// Boot protocol version (0xMMmm).
    pub version: u16,
    /// Setup sectors after the boot sector (0 read as 4).
    pub setup_sects: u32,
    /// Where the payload starts in the file.
    pub payload_start: usize,
    /// The compressed kernel.
    pub payload: &'a [u8],
}

/// Whether `bytes` carry a bzImage setup header ("HdrS" at 0x202).
pub fn is_bzimage(bytes: &[u8]) -> bool {
    bytes.get(HEADER..HEADER + 4) == Some(MAGIC.as_slice())
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

impl<'a> BzImage<'a> {
    /// Reads the setup header of `bytes` and finds the payload.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, BzImageError> {
        if !is_bzimage(bytes) {
            return Err(BzImageError::NotBzImage);
        }
        if bytes.len() < VERSION + 2 {
            return Err(BzImageError::Truncated { len: bytes.len() });
        }
        let version = u16_at(bytes, VERSION);
        if version < MIN_VERSION {
            return Err(BzImageError::TooOld { version });
        }
        if bytes.len() < HEADER_END {
            return Err(BzImageError::Truncated { len: bytes.len() });
        }
        let setup_sects = match bytes[SETUP_SECTS] {
            0 => 4,
            n => u32::from(n),
        };
        let offset = u32_at(bytes, PAYLOAD_OFFSET);
        let length = u32_at(bytes, PAYLOAD_LENGTH);
        // At most 256 * 512 + 4 GiB: no overflow in u64.
        let start = (u64::from(setup_sects) + 1) * 512 + u64::from(offset);
        let end = start + u64::from(length);
        let out_of_bounds = BzImageError::PayloadOutOfBounds {
            start,
            length,
            file: bytes.len(),
        };
        if length == 0 || end > bytes.len() as u64 {
            return Err(out_of_bounds);
        }
        // Both fit in usize: end <= bytes.len().
        let (start, end) = (start as usize, end as usize);
        Ok(Self {
            version,
            setup_sects,
            payload_start: start,
            payload: &bytes[start..end],
        })
    }

    /// The uncompressed size Linux's build appends to the payload (its last 4 bytes), if
    /// the payload is long enough to have one. Only a hint: nothing checks it is there.
    pub fn size_hint(&self) -> Option<u32> {
        let n = self.payload.len();
        (n >= 4).then(|| u32_at(self.payload, n - 4))
    }
}

#[cfg(any(test, feature = "test-images"))]
pub mod testimg;
