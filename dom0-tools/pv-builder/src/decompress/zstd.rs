//! zstd, with `ruzstd`'s `FrameDecoder`, block by block, the decoded bytes handed over as
//! soon as the decoder need not keep them for its window.
//!
//! ruzstd's window buffer grows as it fills and cannot report a failed allocation, so it is
//! bounded before the frame is decoded: the frame header's window size is read first (a
//! decoder allowed no window says what the frame asks for), and the buffer is counted as
//! three times what it keeps (the window, or the whole output when that is smaller, and a
//! chunk): it doubles as it grows, and while it grows the old one still exists. When the
//! payload claims a size, output beyond it is refused, so the window keeps no more than it.

use super::output::{Output, CHUNK};
use super::DecompressError;
use ruzstd::decoding::errors::FrameDecoderError;
use ruzstd::decoding::{BlockDecodingStrategy, FrameDecoder};
use ruzstd::io::Read;

const WHAT: &str = "the zstd window";
/// Room for ruzstd's tables and a block or two beside the window.
const HEADROOM: u64 = 2 << 20;

/// Data ending inside the frame, or data the decoder refused.
fn failed(out: &Output, e: &FrameDecoderError, rest: &[u8]) -> DecompressError {
    if rest.is_empty() {
        out.truncated()
    } else {
        out.corrupt(e)
    }
}

/// The window the frame at the start of `data` declares.
fn window(data: &[u8], out: &Output) -> Result<u64, DecompressError> {
    let mut probe = FrameDecoder::new();
    probe.set_max_window_size(0);
    let mut src = data;
    match probe.init(&mut src) {
        Err(FrameDecoderError::WindowSizeTooBig { requested, .. }) => Ok(requested),
        Ok(()) => Ok(0),
        Err(e) => Err(failed(out, &e, src)),
    }
}

pub(super) fn decode(data: &[u8], out: &mut Output) -> Result<(), DecompressError> {
    let window = window(data, out)?;
    // With a claimed size, the output stops there, so the window keeps no more.
    out.hold_to_claim();
    let kept = match out.claim() {
        Some(claim) => window.min(claim as u64),
        None => window,
    };
    out.decoder_memory(WHAT, (kept + CHUNK as u64).saturating_mul(3) + HEADROOM)?;
    let mut decoder = FrameDecoder::new();
    decoder.set_max_window_size(window);
    let mut src = data;
    decoder.init(&mut src).map_err(|e| failed(out, &e, src))?;
    loop {
        if !decoder.is_finished() {
            decoder
                .decode_blocks(&mut src, BlockDecodingStrategy::UptoBytes(CHUNK))
                .map_err(|e| failed(out, &e, src))?;
        }
        while decoder.can_collect() > 0 {
            let space = out.space(decoder.can_collect())?;
            let n = decoder.read(space).map_err(|e| out.corrupt(e))?;
            out.commit(n);
            if n == 0 {
                return Err(out.corrupt("the decoder makes no progress"));
            }
        }
        if decoder.is_finished() {
            break;
        }
    }
    // What follows the frame (Linux's size trailer) is not ours.
    if let (Some(recorded), Some(actual)) = (
        decoder.get_checksum_from_data(),
        decoder.get_calculated_checksum(),
    ) {
        if recorded != actual {
            return Err(out.corrupt(format_args!(
                "content checksum {actual:08x} is not the {recorded:08x} recorded"
            )));
        }
    }
    Ok(())
}
