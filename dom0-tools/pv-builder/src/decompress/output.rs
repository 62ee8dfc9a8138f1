//! The decompressed bytes: one buffer grown within [`Limits`], every allocation fallible,
//! and the memory a decoder holds counted against the same limit before it is allocated.

use super::{Compression, DecompressError, Limits};
use alloc::format;
use alloc::vec::Vec;
use core::fmt;

/// Room kept past the size a payload claims, so that a decoder's last call (which reads the
/// end of its stream and produces nothing) finds space without the buffer growing.
const SLACK: usize = 64 << 10;
/// The first buffer when the payload claims no size.
const INITIAL: usize = 1 << 20;
/// What a streaming decoder is handed at once (each chunk is zero-filled first).
pub(super) const CHUNK: usize = 1 << 20;

pub(super) struct Output {
    format: Compression,
    limits: Limits,
    /// Longer than `len` while a decoder fills what [`space`](Self::space) handed out.
    buf: Vec<u8>,
    /// Bytes produced.
    len: usize,
    /// Bytes the decoder holds (counted by [`decoder_memory`](Self::decoder_memory)).
    decoder: u64,
    /// What they are, for messages.
    decoder_what: &'static str,
    /// The size the payload claims, when it is within the limits.
    claim: Option<usize>,
    /// Whether output beyond the claim is refused (see [`hold_to_claim`](Self::hold_to_claim)).
    held: bool,
}

impl Output {
    /// An empty output, its buffer sized for `hint` bytes (the payload's claim) or, with
    /// no claim, for a first chunk.
    pub(super) fn new(
        format: Compression,
        limits: Limits,
        hint: Option<u32>,
    ) -> Result<Self, DecompressError> {
        let mut out = Self {
            format,
            limits,
            buf: Vec::new(),
            len: 0,
            decoder: 0,
            decoder_what: "the decoder",
            claim: None,
            held: false,
        };
        let (claim, first) = match hint.map(|h| h as usize).filter(|&h| h > 0) {
            Some(h) if h > limits.max_output => {
                return Err(DecompressError::TooLarge {
                    format,
                    size: Some(h as u64),
                    limit: limits.max_output,
                })
            }
            Some(h) => (h, h.saturating_add(SLACK)),
            None => (0, INITIAL.min(limits.max_output)),
        };
        // The claim must fit in memory; the slack only where there is room for it.
        out.grow_to(first.min(limits.max_memory).max(claim))?;
        out.claim = (claim > 0).then_some(claim);
        Ok(out)
    }

    pub(super) fn format(&self) -> Compression {
        self.format
    }

    /// The size the payload claims to decompress to (checked against the limits).
    pub(super) fn claim(&self) -> Option<usize> {
        self.claim
    }

    /// Refuses output beyond the claimed size from now on, as corrupt data: for a decoder
    /// whose memory was counted from the claim.
    pub(super) fn hold_to_claim(&mut self) {
        self.held = self.claim.is_some();
    }

    /// Bytes produced so far.
    pub(super) fn len(&self) -> usize {
        self.len
    }

    /// The bytes produced so far.
    pub(super) fn bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    /// Memory a decoder may still take (what [`decoder_memory`](Self::decoder_memory)
    /// accepts).
    pub(super) fn memory_left(&self) -> u64 {
        (self.limits.max_memory as u64)
            .saturating_sub(self.buf.capacity() as u64)
            .saturating_sub(self.decoder)
    }

    /// The error for a decoder asking `bytes` for `what` when they do not fit.
    pub(super) fn over_memory(&self, what: &'static str, bytes: u64) -> DecompressError {
        DecompressError::OverMemory {
            format: self.format,
            output: self.buf.capacity() as u64,
            what,
            decoder: self.decoder.saturating_add(bytes),
            limit: self.limits.max_memory,
        }
    }

    /// Counts `bytes` the decoder is about to hold for `what` (call before it allocates
    /// them); refused when they and the output's buffer would exceed the memory limit.
    pub(super) fn decoder_memory(
        &mut self,
        what: &'static str,
        bytes: u64,
    ) -> Result<(), DecompressError> {
        if bytes > self.memory_left() {
            return Err(self.over_memory(what, bytes));
        }
        self.decoder += bytes;
        self.decoder_what = what;
        Ok(())
    }

    /// Forgets everything produced (a decoder starts again from the beginning), keeping
    /// the buffer.
    pub(super) fn restart(&mut self) {
        self.buf.clear();
        self.len = 0;
    }

    /// Forgets `bytes` counted for the decoder (it freed them).
    pub(super) fn decoder_freed(&mut self, bytes: u64) {
        self.decoder = self.decoder.saturating_sub(bytes);
    }

    fn grow_to(&mut self, capacity: usize) -> Result<(), DecompressError> {
        if capacity <= self.buf.capacity() {
            return Ok(());
        }
        if capacity as u64 > (self.limits.max_memory as u64).saturating_sub(self.decoder) {
            return Err(DecompressError::OverMemory {
                format: self.format,
                output: capacity as u64,
                what: self.decoder_what,
                decoder: self.decoder,
                limit: self.limits.max_memory,
            });
        }
        // The buffer holds `buf.len()` bytes; reserve up to `capacity` exactly.
        self.buf
            .try_reserve_exact(capacity - self.buf.len())
            .map_err(|_| DecompressError::NoMemory {
                format: self.format,
                bytes: capacity as u64,
            })
    }

    /// Zero-filled room for at most `want` (> 0) more bytes at the end of the output, at
    /// least one byte: what the buffer has spare, or, when it has none, after growing it
    /// (to twice its size, within the limits).
    pub(super) fn space(&mut self, want: usize) -> Result<&mut [u8], DecompressError> {
        self.room(want, false)
    }

    /// Zero-filled room for exactly `want` more bytes (fewer only where the output limit
    /// ends), growing the buffer if it has less spare.
    pub(super) fn space_exact(&mut self, want: usize) -> Result<&mut [u8], DecompressError> {
        self.room(want, true)
    }

    fn room(&mut self, want: usize, exact: bool) -> Result<&mut [u8], DecompressError> {
        self.buf.truncate(self.len);
        let mut left = self.limits.max_output.saturating_sub(self.len);
        if let (true, Some(claim)) = (self.held, self.claim) {
            if self.len >= claim {
                return Err(self.corrupt(format_args!(
                    "it decompresses to more than the {claim} bytes its size trailer says"
                )));
            }
            left = left.min(claim - self.len);
        }
        if left == 0 {
            return Err(self.too_large());
        }
        let mut n = want.clamp(1, left);
        let spare = self.buf.capacity() - self.len;
        if n > spare {
            if spare > 0 && !exact {
                n = spare;
            } else {
                let most = (self.limits.max_memory as u64)
                    .saturating_sub(self.decoder)
                    .min(self.limits.max_output as u64 + SLACK as u64)
                    as usize;
                let need = self.len + n;
                let doubled = self.buf.capacity().saturating_mul(2).min(most);
                self.grow_to(doubled.max(need))?;
            }
        }
        // Within the capacity: no allocation.
        self.buf.resize(self.len + n, 0);
        Ok(&mut self.buf[self.len..])
    }

    /// Takes the first `n` bytes of what [`space`](Self::space) handed out as produced.
    pub(super) fn commit(&mut self, n: usize) {
        self.len = (self.len + n).min(self.buf.len());
        self.buf.truncate(self.len);
    }

    /// The error for data the decoder refused (`why` in its words).
    pub(super) fn corrupt(&self, why: impl fmt::Display) -> DecompressError {
        DecompressError::Corrupt {
            format: self.format,
            why: format!("{why}"),
        }
    }

    /// The error for a decoder whose allocation of `bytes` (0: unknown) failed.
    pub(super) fn no_memory(&self, bytes: u64) -> DecompressError {
        DecompressError::NoMemory {
            format: self.format,
            bytes,
        }
    }

    /// The error for output beyond the limit.
    pub(super) fn too_large(&self) -> DecompressError {
        DecompressError::TooLarge {
            format: self.format,
            size: None,
            limit: self.limits.max_output,
        }
    }

    /// The error for a stream that ends early.
    pub(super) fn truncated(&self) -> DecompressError {
        DecompressError::Truncated {
            format: self.format,
        }
    }

    /// The output.
    pub(super) fn finish(mut self) -> Vec<u8> {
        self.buf.truncate(self.len);
        self.buf
    }
}
