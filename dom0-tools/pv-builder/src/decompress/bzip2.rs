//! bzip2 (`BZh` and the block size, 1–9 × 100 kB), decoded by `libbz2-rs-sys`: the Trifecta
//! Tech Foundation's Rust port of libbzip2 (`no_std`; it allocates through the global
//! allocator and reports a failed allocation as `BZ_MEM_ERROR` instead of aborting; fuzzed
//! against the C original). No safe `no_std` bzip2 decoder exists, and this one keeps
//! libbzip2's C interface, so the three calls below are the builder's only `unsafe`: one
//! stream on this function's stack, its input always the rest of `data` and its output
//! always the room [`Output::space`] just handed out, with exactly their lengths; the stream
//! is ended on every path.
//!
//! The decoder's memory (its `tt` array, 4 bytes per byte of block, and its state) is counted
//! from the header's block size before the stream is set up. Linux's build appends the
//! uncompressed size after the stream: what follows the stream must be exactly that.

use super::output::{Output, CHUNK};
use super::DecompressError;
use core::ffi::{c_uint, c_void};
use core::ptr;
use libbz2_rs_sys::{
    bz_stream, BZ2_bzDecompress, BZ2_bzDecompressEnd, BZ2_bzDecompressInit, BZ_DATA_ERROR,
    BZ_DATA_ERROR_MAGIC, BZ_MEM_ERROR, BZ_OK, BZ_STREAM_END,
};

/// What libbzip2 holds while decoding blocks of `level` × 100 kB.
fn decoder_bytes(level: u8) -> u64 {
    u64::from(level) * 100_000 * 4 + (64 << 10)
}

fn new_stream() -> bz_stream {
    bz_stream {
        next_in: ptr::null(),
        avail_in: 0,
        total_in_lo32: 0,
        total_in_hi32: 0,
        next_out: ptr::null_mut(),
        avail_out: 0,
        total_out_lo32: 0,
        total_out_hi32: 0,
        state: ptr::null_mut::<c_void>(),
        bzalloc: None,
        bzfree: None,
        opaque: ptr::null_mut(),
    }
}

pub(super) fn decode(data: &[u8], out: &mut Output) -> Result<(), DecompressError> {
    let level = match data.get(3) {
        Some(d @ b'1'..=b'9') => d - b'0',
        Some(_) => return Err(out.corrupt("the header's block size is not 1 to 9")),
        None => return Err(out.truncated()),
    };
    let Ok(avail_in) = c_uint::try_from(data.len()) else {
        return Err(out.corrupt("a payload of 4 GiB or more"));
    };
    let memory = decoder_bytes(level);
    out.decoder_memory("bzip2's block buffer", memory)?;
    let mut strm = new_stream();
    // SAFETY: `strm` is a valid, exclusively borrowed stream; no custom allocator (the
    // crate's own, through the global allocator).
    let r = unsafe { BZ2_bzDecompressInit(&mut strm, 0, 0) };
    if r != BZ_OK {
        out.decoder_freed(memory);
        return Err(if r == BZ_MEM_ERROR {
            out.no_memory(memory)
        } else {
            out.corrupt(format_args!("libbzip2 refused to start (error {r})"))
        });
    }
    strm.next_in = data.as_ptr().cast();
    strm.avail_in = avail_in;
    let result = run(&mut strm, out);
    // SAFETY: `strm` was initialised above and is ended once; nothing uses it afterwards.
    unsafe { BZ2_bzDecompressEnd(&mut strm) };
    out.decoder_freed(memory);
    result?;
    // After the stream: Linux's size trailer, which must be the size produced.
    let rest = &data[data.len() - strm.avail_in as usize..];
    match *rest {
        [] => Ok(()),
        [a, b, c, d] if u32::from_le_bytes([a, b, c, d]) as usize == out.len() => Ok(()),
        [a, b, c, d] => Err(out.corrupt(format_args!(
            "its size trailer says {} bytes, the stream holds {}",
            u32::from_le_bytes([a, b, c, d]),
            out.len()
        ))),
        _ => Err(out.corrupt(format_args!(
            "{} bytes after the end of the stream",
            rest.len()
        ))),
    }
}

/// Feeds the initialised stream until its end, into `out`.
fn run(strm: &mut bz_stream, out: &mut Output) -> Result<(), DecompressError> {
    loop {
        let space = out.space(CHUNK)?;
        let room = space.len().min(c_uint::MAX as usize) as c_uint;
        strm.next_out = space.as_mut_ptr().cast();
        strm.avail_out = room;
        let before_in = strm.avail_in;
        // SAFETY: `strm` is initialised; `next_in` is readable for `avail_in` bytes (the
        // unread rest of `data`, which outlives the stream; the call only advances within
        // it); `next_out` is writable for `avail_out` bytes (`space`, borrowed until the call
        // returns and not touched meanwhile).
        let r = unsafe { BZ2_bzDecompress(strm) };
        let produced = (room - strm.avail_out) as usize;
        strm.next_out = ptr::null_mut();
        strm.avail_out = 0;
        out.commit(produced);
        match r {
            BZ_STREAM_END => return Ok(()),
            // Neither input taken nor output made: the stream wants bytes there are not.
            BZ_OK if produced == 0 && strm.avail_in == before_in => {
                return Err(if before_in == 0 {
                    out.truncated()
                } else {
                    out.corrupt("the decoder makes no progress")
                })
            }
            BZ_OK => {}
            BZ_DATA_ERROR => return Err(out.corrupt("a block's data or its CRC is wrong")),
            BZ_DATA_ERROR_MAGIC => return Err(out.corrupt("no bzip2 stream header")),
            BZ_MEM_ERROR => return Err(out.no_memory(0)),
            e => return Err(out.corrupt(format_args!("libbzip2 error {e}"))),
        }
    }
}
