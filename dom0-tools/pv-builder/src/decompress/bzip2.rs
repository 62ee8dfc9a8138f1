//! bzip2, with `libbz2-rs-sys` (the bzip2 library ported to Rust, `no_std` with Rust's
//! allocator): its low-level stream interface, which is the C library's, so the calls are
//! `unsafe` and each says why it is sound.
//!
//! Its memory is the stream state and, once the stream header names the block size
//! (`BZh1`..`BZh9`: 100 000 to 900 000 bytes), 4 bytes per byte of block; it allocates them
//! itself and reports a failed allocation as an error.

use super::output::{Output, CHUNK};
use super::DecompressError;
use alloc::boxed::Box;
use core::ffi::{c_char, c_int, c_uint};
use libbz2_rs_sys::{
    bz_stream, BZ2_bzDecompress, BZ2_bzDecompressEnd, BZ2_bzDecompressInit, BZ_DATA_ERROR,
    BZ_DATA_ERROR_MAGIC, BZ_MEM_ERROR, BZ_OK, BZ_STREAM_END,
};

const WHAT: &str = "the bzip2 block buffer";
/// The stream state besides the block buffer (about 64 KiB), rounded up.
const STATE: u64 = 128 << 10;

/// An initialised decompression stream, ended when dropped. Boxed: the library keeps a
/// pointer to it, so it must not move.
struct Stream(Box<bz_stream>);

impl Stream {
    fn new() -> Result<Self, c_int> {
        let mut strm = Box::new(bz_stream::zeroed());
        // SAFETY: `strm` is a valid, exclusively borrowed bz_stream whose allocator fields
        // are None (the library then uses Rust's global allocator); it stays at this
        // address (boxed) until `BZ2_bzDecompressEnd` in `drop`.
        let rc = unsafe { BZ2_bzDecompressInit(&mut *strm, 0, 0) };
        if rc == BZ_OK {
            Ok(Self(strm))
        } else {
            Err(rc)
        }
    }

    /// Decompresses from `input` into `output`; returns the library's code and the bytes
    /// consumed and produced.
    fn run(&mut self, input: &[u8], output: &mut [u8]) -> (c_int, usize, usize) {
        let avail_in = input.len().min(c_uint::MAX as usize);
        let avail_out = output.len().min(c_uint::MAX as usize);
        let strm = &mut *self.0;
        strm.next_in = input.as_ptr().cast::<c_char>();
        strm.avail_in = avail_in as c_uint;
        strm.next_out = output.as_mut_ptr().cast::<c_char>();
        strm.avail_out = avail_out as c_uint;
        // SAFETY: the stream was initialised by `BZ2_bzDecompressInit` and not moved;
        // `next_in` is readable for `avail_in` bytes (a prefix of `input`) and `next_out`
        // writable for `avail_out` bytes (a prefix of `output`), both borrowed for this
        // call, after which the library keeps no use of them.
        let rc = unsafe { BZ2_bzDecompress(strm) };
        let consumed = avail_in - strm.avail_in as usize;
        let produced = avail_out - strm.avail_out as usize;
        strm.next_in = core::ptr::null();
        strm.avail_in = 0;
        strm.next_out = core::ptr::null_mut();
        strm.avail_out = 0;
        (rc, consumed, produced)
    }
}

impl Drop for Stream {
    fn drop(&mut self) {
        // SAFETY: the stream was initialised by `BZ2_bzDecompressInit`, not moved, and is
        // ended exactly once, here.
        unsafe { BZ2_bzDecompressEnd(&mut *self.0) };
    }
}

pub(super) fn decode(data: &[u8], out: &mut Output) -> Result<(), DecompressError> {
    let level = match data.get(3) {
        Some(&b @ b'1'..=b'9') => u64::from(b - b'0'),
        Some(_) => return Err(out.corrupt("the block size is not 1 to 9")),
        None => return Err(out.truncated()),
    };
    out.decoder_memory(WHAT, level * 100_000 * 4 + STATE)?;
    let mut stream = Stream::new().map_err(|_| DecompressError::NoMemory {
        format: out.format(),
        bytes: STATE,
    })?;
    let mut pos = 0;
    loop {
        let space = out.space(CHUNK)?;
        let (rc, consumed, produced) = stream.run(&data[pos..], space);
        out.commit(produced);
        pos += consumed;
        match rc {
            // What follows the stream (Linux's size trailer) is not ours.
            BZ_STREAM_END => return Ok(()),
            BZ_OK if consumed > 0 || produced > 0 => {}
            BZ_OK if pos == data.len() => return Err(out.truncated()),
            BZ_OK => return Err(out.corrupt("the decoder makes no progress")),
            BZ_DATA_ERROR => return Err(out.corrupt("the data fails its checks")),
            BZ_DATA_ERROR_MAGIC => return Err(out.corrupt("no bzip2 stream header")),
            BZ_MEM_ERROR => {
                return Err(DecompressError::NoMemory {
                    format: out.format(),
                    bytes: level * 100_000 * 4,
                })
            }
            rc => return Err(out.corrupt(format_args!("library error {rc}"))),
        }
    }
}
