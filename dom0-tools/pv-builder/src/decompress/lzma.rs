//! lzma (the `.lzma` format Linux's build writes: a 13-byte header, then the LZMA data,
//! ending with an end marker as its size is unknown), with `lzma-rust2`'s `LzmaStream`.
//!
//! The stream's dictionary and probability tables are bounded by the memory left after the
//! output (its memory limit, checked against the header before anything is allocated);
//! it allocates them fallibly itself.

use super::output::{Output, CHUNK};
use super::DecompressError;
use lzma_rust2::{Action, Error, LzmaStream, Status};

const WHAT: &str = "the lzma dictionary";

pub(super) fn decode(data: &[u8], out: &mut Output) -> Result<(), DecompressError> {
    let limit_kib = u32::try_from(out.memory_left() / 1024).unwrap_or(u32::MAX - 1);
    let mut stream = LzmaStream::new_mem_limit(limit_kib, None);
    let mut counted = false;
    let mut pos = 0;
    loop {
        let space = out.space(CHUNK)?;
        let result = stream.process(&data[pos..], space, Action::Finish);
        let needs = || u64::from(stream.memory_usage().unwrap_or(0)) * 1024;
        let r = match result {
            Ok(r) => r,
            Err(Error::OutOfMemory(_)) if stream.memory_usage() > Some(limit_kib) => {
                return Err(out.over_memory(WHAT, needs()))
            }
            Err(Error::OutOfMemory(_)) => {
                return Err(DecompressError::NoMemory {
                    format: out.format(),
                    bytes: needs(),
                })
            }
            Err(Error::Eof) => return Err(out.truncated()),
            Err(
                Error::InvalidData(why)
                | Error::InvalidInput(why)
                | Error::Other(why)
                | Error::Unsupported(why)
                | Error::WriteZero(why),
            ) => return Err(out.corrupt(why)),
            Err(Error::Interrupted) => return Err(out.corrupt("interrupted")),
        };
        out.commit(r.bytes_produced);
        pos += r.bytes_consumed.min(data.len() - pos);
        if !counted {
            if let Some(kib) = stream.memory_usage() {
                // Within the limit the stream was given, so within what is left.
                out.decoder_memory(WHAT, u64::from(kib) * 1024)?;
                counted = true;
            }
        }
        if r.status == Status::StreamEnd {
            // What follows the stream (Linux's size trailer) is not ours.
            return Ok(());
        }
        if r.bytes_consumed == 0 && r.bytes_produced == 0 {
            return Err(if pos == data.len() {
                out.truncated()
            } else {
                out.corrupt("the decoder makes no progress")
            });
        }
    }
}
