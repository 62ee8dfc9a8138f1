//! gzip (RFC 1952), with `miniz_oxide` for the deflate data; the member header and trailer
//! are read here and the trailer checked (CRC32 by `crc32fast`, size modulo 2^32).
//!
//! Header: ID1 ID2 (`1f 8b`), CM (8: deflate), FLG, MTIME (4), XFL, OS; then, as FLG says,
//! FEXTRA (a 2-byte length and that many bytes), FNAME and FCOMMENT (zero-terminated),
//! FHCRC (2 bytes). Trailer: CRC32 and ISIZE, both 4 bytes little-endian.

use super::output::{Output, CHUNK};
use super::DecompressError;
use miniz_oxide::inflate::stream::{inflate, InflateState};
use miniz_oxide::{DataFormat, MZError, MZFlush, MZStatus};

const FHCRC: u8 = 1 << 1;
const FEXTRA: u8 = 1 << 2;
const FNAME: u8 = 1 << 3;
const FCOMMENT: u8 = 1 << 4;
const FRESERVED: u8 = 0xE0;

/// The length of the member header at the start of `data`.
fn header_len(data: &[u8], out: &Output) -> Result<usize, DecompressError> {
    if data.len() < 10 {
        return Err(out.truncated());
    }
    if data[2] != 8 {
        return Err(out.corrupt(format_args!(
            "compression method {} is not deflate (8)",
            data[2]
        )));
    }
    let flags = data[3];
    if flags & FRESERVED != 0 {
        return Err(out.corrupt("reserved header flags are set"));
    }
    let mut at = 10usize;
    if flags & FEXTRA != 0 {
        let len = data.get(at..at + 2).ok_or_else(|| out.truncated())?;
        at += 2 + usize::from(u16::from_le_bytes([len[0], len[1]]));
    }
    for flag in [FNAME, FCOMMENT] {
        if flags & flag != 0 {
            let rest = data.get(at..).ok_or_else(|| out.truncated())?;
            let nul = rest
                .iter()
                .position(|&b| b == 0)
                .ok_or_else(|| out.truncated())?;
            at += nul + 1;
        }
    }
    if flags & FHCRC != 0 {
        at += 2;
    }
    if at > data.len() {
        return Err(out.truncated());
    }
    Ok(at)
}

pub(super) fn decode(data: &[u8], out: &mut Output) -> Result<(), DecompressError> {
    let mut pos = header_len(data, out)?;
    out.decoder_memory(
        "the deflate window",
        core::mem::size_of::<InflateState>() as u64,
    )?;
    let mut state = InflateState::new_boxed(DataFormat::Raw);
    loop {
        let space = out.space(CHUNK)?;
        let r = inflate(&mut state, &data[pos..], space, MZFlush::None);
        out.commit(r.bytes_written);
        pos += r.bytes_consumed.min(data.len() - pos);
        match r.status {
            Ok(MZStatus::StreamEnd) => break,
            Ok(_) if r.bytes_consumed > 0 || r.bytes_written > 0 => {}
            Ok(_) | Err(MZError::Buf) if pos == data.len() => return Err(out.truncated()),
            Ok(_) | Err(MZError::Buf) => return Err(out.corrupt("the decoder makes no progress")),
            Err(_) => return Err(out.corrupt("invalid deflate data")),
        }
    }
    let trailer = data.get(pos..pos + 8).ok_or_else(|| out.truncated())?;
    let crc = u32::from_le_bytes([trailer[0], trailer[1], trailer[2], trailer[3]]);
    let size = u32::from_le_bytes([trailer[4], trailer[5], trailer[6], trailer[7]]);
    let actual = crc32fast::hash(out.bytes());
    if actual != crc {
        return Err(out.corrupt(format_args!(
            "CRC32 {actual:08x} of the data is not the {crc:08x} recorded"
        )));
    }
    if size != out.len() as u32 {
        return Err(out.corrupt(format_args!(
            "{} bytes decompressed, the trailer records {size} (modulo 2^32)",
            out.len()
        )));
    }
    Ok(())
}
