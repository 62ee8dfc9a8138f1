//! The xenstore wire format: a 16-byte `xsd_sockmsg` header (type, req_id, tx_id, len) and
//! `len` payload bytes (at most 4096), most payloads being NUL-terminated strings.

use alloc::string::String;
use alloc::vec::Vec;
use guest_abi::errno::Errno;
use guest_abi::io::xenstore::{XsType, XsdSockmsg, XENSTORE_PAYLOAD_MAX};
use zerocopy::{FromBytes, IntoBytes};

/// Header size.
pub const HEADER: usize = 16;

/// A message (request, reply or watch event).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Msg {
    pub ty: u32,
    pub req_id: u32,
    pub tx_id: u32,
    pub payload: Vec<u8>,
}

/// What a byte stream holds so far.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Parse {
    /// A whole message and the bytes it used.
    Msg(Msg, usize),
    /// More bytes are needed.
    Incomplete,
    /// The header announces more than `XENSTORE_PAYLOAD_MAX` bytes: the stream is broken.
    TooLong(u32),
}

/// Parses the message at the start of `buf`.
pub fn parse(buf: &[u8]) -> Parse {
    let Ok((hdr, rest)) = XsdSockmsg::read_from_prefix(buf) else {
        return Parse::Incomplete;
    };
    if hdr.len as usize > XENSTORE_PAYLOAD_MAX {
        return Parse::TooLong(hdr.len);
    }
    let len = hdr.len as usize;
    if rest.len() < len {
        return Parse::Incomplete;
    }
    Parse::Msg(
        Msg {
            ty: hdr.type_,
            req_id: hdr.req_id,
            tx_id: hdr.tx_id,
            payload: rest[..len].to_vec(),
        },
        HEADER + len,
    )
}

impl Msg {
    pub fn new(ty: XsType, req_id: u32, tx_id: u32, payload: Vec<u8>) -> Msg {
        Msg {
            ty: ty as u32,
            req_id,
            tx_id,
            payload,
        }
    }

    /// Header and payload as one byte string.
    pub fn encode(&self) -> Vec<u8> {
        let hdr = XsdSockmsg {
            type_: self.ty,
            req_id: self.req_id,
            tx_id: self.tx_id,
            len: self.payload.len() as u32,
        };
        let mut v = Vec::with_capacity(HEADER + self.payload.len());
        v.extend_from_slice(hdr.as_bytes());
        v.extend_from_slice(&self.payload);
        v
    }

    /// Header and payload as one byte string, or `ENOMEM`.
    pub fn try_encode(&self) -> Result<Vec<u8>, Errno> {
        let hdr = XsdSockmsg {
            type_: self.ty,
            req_id: self.req_id,
            tx_id: self.tx_id,
            len: self.payload.len() as u32,
        };
        let mut v = Vec::new();
        v.try_reserve_exact(HEADER + self.payload.len())
            .map_err(|_| Errno::ENOMEM)?;
        v.extend_from_slice(hdr.as_bytes());
        v.extend_from_slice(&self.payload);
        Ok(v)
    }

    /// An `XS_ERROR` reply naming `e`.
    pub fn error(req_id: u32, tx_id: u32, e: Errno) -> Msg {
        Msg::new(XsType::Error, req_id, tx_id, nul_joined(&[e.name()]))
    }
}

/// `a\0b\0...` (each item NUL-terminated).
pub fn nul_joined<S: AsRef<str>>(items: &[S]) -> Vec<u8> {
    let mut v = Vec::new();
    for s in items {
        v.extend_from_slice(s.as_ref().as_bytes());
        v.push(0);
    }
    v
}

/// Splits a payload of NUL-terminated strings; the payload must end with a NUL and each
/// string be UTF-8 (`EINVAL` otherwise).
pub fn strings(payload: &[u8]) -> Result<Vec<&str>, Errno> {
    let body = payload.strip_suffix(&[0]).ok_or(Errno::EINVAL)?;
    body.split(|&b| b == 0)
        .map(|s| core::str::from_utf8(s).map_err(|_| Errno::EINVAL))
        .collect()
}

/// Exactly one NUL-terminated string.
pub fn one_string(payload: &[u8]) -> Result<&str, Errno> {
    match strings(payload)?.as_slice() {
        [s] => Ok(s),
        _ => Err(Errno::EINVAL),
    }
}

/// `path\0value` of `XS_WRITE` (the value is not terminated and may hold any bytes).
pub fn path_and_value(payload: &[u8]) -> Result<(&str, &[u8]), Errno> {
    let nul = payload.iter().position(|&b| b == 0).ok_or(Errno::EINVAL)?;
    let path = core::str::from_utf8(&payload[..nul]).map_err(|_| Errno::EINVAL)?;
    Ok((path, &payload[nul + 1..]))
}

/// Parses a decimal number field.
pub fn number<T: core::str::FromStr>(s: &str) -> Result<T, Errno> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Errno::EINVAL);
    }
    s.parse().map_err(|_| Errno::EINVAL)
}

/// An error name from an `XS_ERROR` payload.
pub fn error_name(payload: &[u8]) -> String {
    let s = payload.strip_suffix(&[0]).unwrap_or(payload);
    String::from_utf8_lossy(s).into_owned()
}
