//! Synthetic bzImages for tests: a minimal setup header and a payload compressed as Linux's
//! build compresses it (the compressed stream, then the uncompressed size as 4 bytes
//! little-endian; gzip's own trailer ends with that field), with the decompressors' crates.

use crate::decompress::Compression;
use alloc::vec;
use alloc::vec::Vec;

/// A bzImage: boot sector, setup sectors, then the protected-mode code with the payload
/// at `payload_offset` in it.
pub struct TestBzImage {
    /// As in the header (0 means 4 sectors).
    pub setup_sects: u8,
    pub version: u16,
    /// From the start of the protected-mode code.
    pub payload_offset: u32,
    pub payload: Vec<u8>,
    /// What the header says the payload's length is (default: its length).
    pub payload_length: Option<u32>,
}

impl TestBzImage {
    /// Protocol 2.15 (Linux 6.1's), one setup sector, the payload 0x80 bytes into the
    /// protected-mode code.
    pub fn new(payload: Vec<u8>) -> Self {
        Self {
            setup_sects: 1,
            version: 0x020F,
            payload_offset: 0x80,
            payload,
            payload_length: None,
        }
    }

    /// Where the payload starts in the file.
    pub fn payload_start(&self) -> usize {
        let sects = if self.setup_sects == 0 {
            4
        } else {
            usize::from(self.setup_sects)
        };
        (sects + 1) * 512 + self.payload_offset as usize
    }

    pub fn bytes(&self) -> Vec<u8> {
        let start = self.payload_start();
        // Some code after the payload too, as in a real image.
        let mut v = vec![0x90u8; start + self.payload.len() + 0x40];
        v[..start.min(0x400)].fill(0);
        v[0x1F1] = self.setup_sects;
        v[0x1FE..0x200].copy_from_slice(&[0x55, 0xAA]);
        v[0x202..0x206].copy_from_slice(b"HdrS");
        v[0x206..0x208].copy_from_slice(&self.version.to_le_bytes());
        v[0x248..0x24C].copy_from_slice(&self.payload_offset.to_le_bytes());
        let length = self.payload_length.unwrap_or(self.payload.len() as u32);
        v[0x24C..0x250].copy_from_slice(&length.to_le_bytes());
        v[start..start + self.payload.len()].copy_from_slice(&self.payload);
        v
    }
}

/// `data` compressed as Linux's build does (see the module's docs). Panics for lzo (no
/// compressor here).
pub fn compress(format: Compression, data: &[u8]) -> Vec<u8> {
    compress_as(format, data, false)
}

/// As [`compress`], with the smallest block or dictionary each format has (less memory to
/// decompress).
pub fn compress_small(format: Compression, data: &[u8]) -> Vec<u8> {
    compress_as(format, data, true)
}

fn compress_as(format: Compression, data: &[u8], small: bool) -> Vec<u8> {
    let mut out = match format {
        Compression::Gzip => return gzip(data),
        Compression::Bzip2 => bzip2(data, if small { 1 } else { 9 }),
        Compression::Lzma => lzma(data, if small { 0 } else { 1 }),
        Compression::Xz => xz(data, if small { 0 } else { 1 }),
        Compression::Lz4 => lz4(data),
        Compression::Zstd => {
            ruzstd::encoding::compress_to_vec(data, ruzstd::encoding::CompressionLevel::Fastest)
        }
        Compression::Lzo => panic!("no lzo compressor"),
    };
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out
}

/// A bzImage whose payload is `elf` compressed with `format`.
pub fn bzimage(format: Compression, elf: &[u8]) -> Vec<u8> {
    TestBzImage::new(compress(format, elf)).bytes()
}

/// The formats decompressed here.
pub const FORMATS: [Compression; 6] = [
    Compression::Gzip,
    Compression::Bzip2,
    Compression::Lzma,
    Compression::Xz,
    Compression::Lz4,
    Compression::Zstd,
];

/// As `bzip2 -<level>`, with libbzip2's own compressor (the decoder's crate).
fn bzip2(data: &[u8], level: i32) -> Vec<u8> {
    use core::ffi::c_uint;
    let mut src = data.to_vec();
    let mut out = vec![0u8; data.len() + data.len() / 100 + 1024];
    let mut len = out.len() as c_uint;
    // SAFETY: `out` is writable for `len` bytes and `src` (a copy, only read) readable for its
    // length; `len` is a live local.
    let r = unsafe {
        libbz2_rs_sys::BZ2_bzBuffToBuffCompress(
            out.as_mut_ptr().cast(),
            &mut len,
            src.as_mut_ptr().cast(),
            src.len() as c_uint,
            level,
            0,
            0,
        )
    };
    assert_eq!(r, libbz2_rs_sys::BZ_OK, "bzip2 compression failed");
    out.truncate(len as usize);
    out
}

/// As `gzip -n -9`: no name, no time; then CRC32 and size.
fn gzip(data: &[u8]) -> Vec<u8> {
    let mut out = vec![0x1F, 0x8B, 8, 0, 0, 0, 0, 0, 2, 3];
    out.extend_from_slice(&miniz_oxide::deflate::compress_to_vec(data, 9));
    out.extend_from_slice(&crc32fast::hash(data).to_le_bytes());
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out
}

/// As `lzma` on a pipe: the .lzma header with the size unknown, an end marker.
fn lzma(data: &[u8], preset: u32) -> Vec<u8> {
    use lzma_rust2::{LzmaOptions, LzmaWriter, Write};
    let mut w = LzmaWriter::new_use_header(Vec::new(), &LzmaOptions::with_preset(preset), None)
        .expect("lzma writer");
    w.write_all(data).expect("lzma compression");
    w.finish().expect("lzma compression")
}

/// As Linux's `xz_wrap.sh` for x86: the x86 BCJ filter, then LZMA2; CRC32 as the check.
fn xz(data: &[u8], preset: u32) -> Vec<u8> {
    use lzma_rust2::{CheckType, FilterType, Write, XzOptions, XzWriter};
    let mut options = XzOptions::with_preset(preset);
    options.set_check_sum_type(CheckType::Crc32);
    options.prepend_pre_filter(FilterType::BcjX86, 0);
    let mut w = XzWriter::new(Vec::new(), options).expect("xz writer");
    w.write_all(data).expect("xz compression");
    w.finish().expect("xz compression")
}

/// As `lz4 -l`: the legacy frame, blocks of 8 MiB.
fn lz4(data: &[u8]) -> Vec<u8> {
    let mut out = 0x184C_2102u32.to_le_bytes().to_vec();
    for block in data.chunks(8 << 20) {
        let c = lz4_flex::block::compress(block);
        out.extend_from_slice(&(c.len() as u32).to_le_bytes());
        out.extend_from_slice(&c);
    }
    out
}
