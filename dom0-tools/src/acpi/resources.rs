//! Resource templates (the buffers of `_CRS`), ACPI 6.5 section 6.4: a list of small
//! descriptors (tag byte `0ttttlll`: type, length) and large ones (tag `1ttttttt`, then a
//! 16-bit length), closed by the End Tag (small type 0xF, one checksum byte). Of those,
//! device discovery needs Memory32Fixed (large 0x86: information byte with bit 0 =
//! writable, base, length) and the Extended Interrupt descriptor (large 0x89: flags with
//! bit 0 = consumer, bit 1 = edge-triggered (else level), bit 2 = active-low (else high), bit
//! 3 = shared; a count and that many 32-bit interrupt numbers, GSIs on x86); every other
//! descriptor is stepped over by its length.

use super::devices::{Polarity, Trigger};
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

/// A descriptor of a resource template.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Resource {
    Memory32Fixed {
        writable: bool,
        base: u32,
        len: u32,
    },
    Interrupt {
        consumer: bool,
        trigger: Trigger,
        polarity: Polarity,
        shared: bool,
        gsis: Vec<u32>,
    },
    /// Any other descriptor: its tag byte (a small descriptor's type in bits 6-3).
    Other {
        tag: u8,
    },
}

/// The descriptors of the template `buf` (up to its End Tag), or what is wrong with it.
pub fn parse(buf: &[u8]) -> Result<Vec<Resource>, String> {
    let mut out = Vec::new();
    let mut at = 0usize;
    loop {
        let Some(&tag) = buf.get(at) else {
            return Err(format!("no end tag (the template ends at byte {at})"));
        };
        let (body_at, len) = if tag & 0x80 == 0 {
            (at + 1, usize::from(tag & 7))
        } else {
            let len = buf
                .get(at + 1..at + 3)
                .map(|l| usize::from(u16::from_le_bytes([l[0], l[1]])))
                .ok_or_else(|| format!("descriptor {tag:#04x} at byte {at} is cut short"))?;
            (at + 3, len)
        };
        let body = buf.get(body_at..body_at + len).ok_or_else(|| {
            format!(
                "descriptor {tag:#04x} at byte {at} says {len} bytes, past the template's {}",
                buf.len()
            )
        })?;
        let small_type = (tag >> 3) & 0xF;
        match tag {
            t if t & 0x80 == 0 && small_type == 0xF => {
                if len != 1 {
                    return Err(format!("the end tag at byte {at} has length {len}, not 1"));
                }
                return Ok(out);
            }
            0x86 => out.push(memory32_fixed(body, at)?),
            0x89 => out.push(interrupt(body, at)?),
            _ => out.push(Resource::Other { tag }),
        }
        at = body_at + len;
    }
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn memory32_fixed(body: &[u8], at: usize) -> Result<Resource, String> {
    if body.len() != 9 {
        return Err(format!(
            "Memory32Fixed at byte {at} has length {}, not 9",
            body.len()
        ));
    }
    Ok(Resource::Memory32Fixed {
        writable: body[0] & 1 != 0,
        base: u32_at(body, 1),
        len: u32_at(body, 5),
    })
}

fn interrupt(body: &[u8], at: usize) -> Result<Resource, String> {
    let (flags, count) = match body {
        [f, c, ..] => (*f, usize::from(*c)),
        _ => return Err(format!("Extended Interrupt at byte {at} is cut short")),
    };
    if count == 0 || 2 + 4 * count > body.len() {
        return Err(format!(
            "Extended Interrupt at byte {at} lists {count} interrupts in {} bytes",
            body.len()
        ));
    }
    Ok(Resource::Interrupt {
        consumer: flags & 1 != 0,
        trigger: if flags & 2 != 0 {
            Trigger::Edge
        } else {
            Trigger::Level
        },
        polarity: if flags & 4 != 0 {
            Polarity::Low
        } else {
            Polarity::High
        },
        shared: flags & 8 != 0,
        gsis: (0..count).map(|i| u32_at(body, 2 + 4 * i)).collect(),
    })
}
