//! xz, with `xz4rust` (xz-embedded ported to safe Rust: the decoder Linux's own boot code
//! uses for these payloads, with its x86 BCJ filter).
//!
//! The dictionary is ours, allocated fallibly and counted against the memory limit: a
//! decoder is first run with none, stops at the first block header saying how large a
//! dictionary it needs, and runs again with one that size. (Every block may ask for a
//! larger one; each time the decoding starts over, a few times at most.)

use super::output::{Output, CHUNK};
use super::DecompressError;
use alloc::vec::Vec;
use xz4rust::{XzDecoder, XzError, XzNextBlockResult};

/// How often a larger dictionary is tried before the stream is called corrupt.
const MAX_RESTARTS: usize = 4;

/// Why one run stopped early.
enum Stop {
    /// The stream needs a dictionary of this many bytes.
    Dictionary(u64),
    Failed(DecompressError),
}

impl From<DecompressError> for Stop {
    fn from(e: DecompressError) -> Self {
        Self::Failed(e)
    }
}

pub(super) fn decode(data: &[u8], out: &mut Output) -> Result<(), DecompressError> {
    let mut dict: Vec<u8> = Vec::new();
    for _ in 0..=MAX_RESTARTS {
        match run(data, &mut dict, out) {
            Ok(()) => return Ok(()),
            Err(Stop::Failed(e)) => return Err(e),
            Err(Stop::Dictionary(size)) if size > dict.len() as u64 => {
                out.restart();
                out.decoder_freed(dict.len() as u64);
                dict = Vec::new();
                out.decoder_memory("the xz dictionary", size)?;
                // Within the memory limit, so within usize.
                let size = size as usize;
                dict.try_reserve_exact(size)
                    .map_err(|_| DecompressError::NoMemory {
                        format: out.format(),
                        bytes: size as u64,
                    })?;
                dict.resize(size, 0);
            }
            Err(Stop::Dictionary(_)) => break,
        }
    }
    Err(out.corrupt("the dictionary size keeps changing"))
}

/// Decodes `data` with `dict` as the dictionary.
fn run(data: &[u8], dict: &mut [u8], out: &mut Output) -> Result<(), Stop> {
    let mut decoder = XzDecoder::with_fixed_size_dict(dict);
    let mut pos = 0;
    loop {
        let space = out.space(CHUNK)?;
        match decoder.decode(&data[pos..], space) {
            Ok(XzNextBlockResult::EndOfStream(_, produced)) => {
                // What follows the stream (Linux's size trailer) is not ours.
                out.commit(produced);
                return Ok(());
            }
            Ok(XzNextBlockResult::NeedMoreData(consumed, produced)) => {
                out.commit(produced);
                pos += consumed.min(data.len() - pos);
                if consumed == 0 && produced == 0 {
                    return Err(if pos == data.len() {
                        out.truncated()
                    } else {
                        out.corrupt("the decoder makes no progress")
                    }
                    .into());
                }
            }
            Err(XzError::DictionaryTooLarge(size)) => return Err(Stop::Dictionary(size)),
            Err(XzError::NeedsLargerInputBuffer) => return Err(out.truncated().into()),
            Err(e) => return Err(corrupt(out, e).into()),
        }
    }
}

/// The error for data the decoder refused, in words for the common cases.
fn corrupt(out: &Output, e: XzError) -> DecompressError {
    match e {
        XzError::CorruptedData
        | XzError::CorruptedDataInLzma
        | XzError::DictionaryOverflow
        | XzError::LzmaPropertiesInvalid
        | XzError::LzmaPropertiesMissing
        | XzError::LzmaDictionaryResetExcepted => {
            out.corrupt(format_args!("invalid LZMA2 data ({e})"))
        }
        XzError::ContentCrc32Mismatch(actual, recorded) => out.corrupt(format_args!(
            "CRC32 {actual:08x} of the data is not the {recorded:08x} recorded"
        )),
        XzError::StreamHeaderMagicNumberMismatch | XzError::FooterMagicNumberMismatch => {
            out.corrupt(format_args!("not an xz stream ({e})"))
        }
        e => out.corrupt(e),
    }
}
