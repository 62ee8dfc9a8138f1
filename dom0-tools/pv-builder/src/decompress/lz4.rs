//! lz4 in the legacy frame Linux's build writes (`lz4 -l`): the magic `02 21 4c 18`, then
//! blocks, each a 4-byte little-endian compressed size and that many bytes of one LZ4 block
//! that decompresses to at most 8 MiB; another magic may start a further stream. The blocks
//! are decoded by `lz4_flex`; the framing is read here.
//!
//! The frame has no end marker: it ends where the data does. Linux's build appends the
//! uncompressed size, which here is 4 bytes with nothing behind them: taken as that size
//! and checked against the output.

use super::output::Output;
use super::DecompressError;
use lz4_flex::block::{decompress_into, DecompressError as Lz4Error};

const MAGIC: u32 = 0x184C_2102;
/// The most a legacy block decompresses to.
const BLOCK_MAX: usize = 8 << 20;
/// The most a block of `BLOCK_MAX` bytes compresses to (LZ4's bound: n + n/255 + 16).
const COMPRESSED_MAX: usize = BLOCK_MAX + BLOCK_MAX / 255 + 16;

fn u32_at(data: &[u8], at: usize) -> Option<u32> {
    let b = data.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

pub(super) fn decode(data: &[u8], out: &mut Output) -> Result<(), DecompressError> {
    let mut pos = 4;
    while pos < data.len() {
        let size = u32_at(data, pos).ok_or_else(|| out.truncated())?;
        pos += 4;
        if size == MAGIC {
            continue;
        }
        if pos == data.len() {
            // Linux's size trailer, or the data ends after a block's size.
            if size as usize != out.len() {
                return Err(out.truncated());
            }
            break;
        }
        let size = size as usize;
        if size > COMPRESSED_MAX {
            return Err(out.corrupt(format_args!(
                "a block of {size} bytes: legacy blocks have at most {COMPRESSED_MAX}"
            )));
        }
        let block = data.get(pos..pos + size).ok_or_else(|| out.truncated())?;
        pos += size;
        // What the buffer has spare fits the block when the payload's size was right;
        // otherwise it grows to take a whole block.
        let space = out.space(BLOCK_MAX)?;
        let fitted = space.len() < BLOCK_MAX;
        let n = match decompress_into(block, space) {
            Ok(n) => n,
            Err(Lz4Error::OutputTooSmall { .. }) if fitted => {
                let space = out.space_exact(BLOCK_MAX)?;
                let whole = space.len() == BLOCK_MAX;
                match decompress_into(block, space) {
                    Ok(n) => n,
                    Err(Lz4Error::OutputTooSmall { .. }) if !whole => return Err(out.too_large()),
                    Err(e) => return Err(out.corrupt(e)),
                }
            }
            Err(e) => return Err(out.corrupt(e)),
        };
        out.commit(n);
    }
    Ok(())
}
