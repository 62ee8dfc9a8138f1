//! Fetching and decoding the guest instruction at rip, through the checked guest-memory
//! layer: unmapped bytes, the hypervisor hole and non-canonical addresses become a fault
//! for the guest, never a hypervisor one.

use super::Emulation;
use crate::domain::state::State;
use crate::mm::guest_copy;
use crate::mm::guest_walk::canonical;
use iced_x86::{Decoder, DecoderError, DecoderOptions, Instruction};

/// The longest x86 instruction.
pub const MAX_INSN: usize = 15;
/// #PF error code of an instruction fetch from a page not present.
const PFEC_INSN_FETCH: u64 = 1 << 4;

/// A #PF for the guest at `va` on an instruction fetch.
fn fetch_fault(va: u64) -> Emulation {
    Emulation::Inject {
        vector: 14,
        error: Some(PFEC_INSN_FETCH),
        cr2: Some(va),
    }
}

/// Up to [`MAX_INSN`] bytes at `rip`: the bytes read and, if fewer than that could be read,
/// the address of the first unreadable one.
pub fn fetch(st: &State, rip: u64) -> Result<([u8; MAX_INSN], usize, Option<u64>), Emulation> {
    if !canonical(rip) {
        return Err(Emulation::GP0);
    }
    let mut buf = [0u8; MAX_INSN];
    // Page by page: an instruction may end just before an unmapped page.
    let first = ((0x1000 - (rip & 0xFFF)) as usize).min(MAX_INSN);
    if guest_copy::copy_from_guest(&st.mem, rip, &mut buf[..first]).is_err() {
        return Err(fetch_fault(rip));
    }
    if first == MAX_INSN {
        return Ok((buf, first, None));
    }
    let next = rip.wrapping_add(first as u64);
    if !canonical(next) || guest_copy::copy_from_guest(&st.mem, next, &mut buf[first..]).is_err() {
        return Ok((buf, first, Some(next)));
    }
    Ok((buf, MAX_INSN, None))
}

/// Decode the 64-bit instruction at `rip`. An invalid or over-long encoding is not emulated
/// (the original fault is delivered); one running into an unreadable page is a #PF there.
pub fn decode(st: &State, rip: u64) -> Result<Instruction, Emulation> {
    let (buf, n, fault) = fetch(st, rip)?;
    let mut d = Decoder::with_ip(64, &buf[..n], rip, DecoderOptions::NONE);
    let insn = d.decode();
    match d.last_error() {
        DecoderError::None => Ok(insn),
        DecoderError::NoMoreBytes => match fault {
            Some(va) => Err(fetch_fault(va)),
            // 15 bytes and still incomplete: longer than the CPU allows.
            None => Err(Emulation::NotEmulated),
        },
        _ => Err(Emulation::NotEmulated),
    }
}
