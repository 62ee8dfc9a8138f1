//! Filling in the TCP or UDP checksum of a frame whose front end left it blank
//! (`NETTXF_CSUM_BLANK`: Linux's netfront hands over `CHECKSUM_PARTIAL` packets that way, and
//! the machine's NIC offloads nothing). The checksum is computed from scratch over the IPv4 or
//! IPv6 pseudo-header and the whole segment (whatever the front end left in the field, e.g.
//! Linux's partial pseudo-header sum, is ignored). IPv4 and IPv6 (with hop-by-hop, routing and
//! destination-options headers before the transport header), optionally behind one 802.1Q
//! tag. A frame that is none of these, an IP fragment, or one whose lengths do not fit the
//! frame cannot be filled: netback drops it, as Xen's netback drops a packet whose checksum it
//! cannot set up.

/// Why a blank checksum could not be filled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CsumError {
    /// Not IPv4 or IPv6.
    NotIp,
    /// Not TCP or UDP.
    NotTcpUdp,
    /// A fragment of a datagram: its checksum covers other fragments.
    Fragment,
    /// A header or length that does not fit the frame.
    Malformed,
}

const TCP: u8 = 6;
const UDP: u8 = 17;

/// The ones'-complement sum of `data` (big-endian 16-bit words, an odd last byte padded)
/// added to `acc`, unfolded.
pub fn sum(data: &[u8], mut acc: u64) -> u64 {
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        acc += u64::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [last] = chunks.remainder() {
        acc += u64::from(*last) << 8;
    }
    acc
}

/// Folds a sum to 16 bits.
pub fn fold(mut acc: u64) -> u16 {
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc as u16
}

/// Fills in the checksum of the TCP or UDP segment `frame` carries.
pub fn fill(frame: &mut [u8]) -> Result<(), CsumError> {
    let ethertype = |at: usize, f: &[u8]| -> Option<u16> {
        f.get(at..at + 2).map(|b| u16::from_be_bytes([b[0], b[1]]))
    };
    let (mut l3, mut et) = (14, ethertype(12, frame).ok_or(CsumError::Malformed)?);
    if et == 0x8100 {
        l3 = 18;
        et = ethertype(16, frame).ok_or(CsumError::Malformed)?;
    }
    let (proto, l4, l4_len, pseudo) = match et {
        0x0800 => ipv4(frame, l3)?,
        0x86dd => ipv6(frame, l3)?,
        _ => return Err(CsumError::NotIp),
    };
    let field = match proto {
        TCP if l4_len >= 20 => 16,
        UDP if l4_len >= 8 => 6,
        TCP | UDP => return Err(CsumError::Malformed),
        _ => return Err(CsumError::NotTcpUdp),
    };
    let seg = frame.get_mut(l4..l4 + l4_len).ok_or(CsumError::Malformed)?;
    seg[field] = 0;
    seg[field + 1] = 0;
    let mut c = !fold(sum(seg, pseudo));
    if proto == UDP && c == 0 {
        c = 0xffff;
    }
    seg[field..field + 2].copy_from_slice(&c.to_be_bytes());
    Ok(())
}

/// (protocol, transport offset, transport length, pseudo-header sum) of an IPv4 packet.
fn ipv4(f: &[u8], l3: usize) -> Result<(u8, usize, usize, u64), CsumError> {
    let h = f.get(l3..l3 + 20).ok_or(CsumError::Malformed)?;
    if h[0] >> 4 != 4 {
        return Err(CsumError::Malformed);
    }
    let ihl = usize::from(h[0] & 0xf) * 4;
    let total = usize::from(u16::from_be_bytes([h[2], h[3]]));
    if ihl < 20 || total < ihl || l3 + total > f.len() {
        return Err(CsumError::Malformed);
    }
    let frag = u16::from_be_bytes([h[6], h[7]]);
    if frag & 0x3fff != 0 {
        return Err(CsumError::Fragment);
    }
    let proto = h[9];
    let len = total - ihl;
    let pseudo = sum(&h[12..20], u64::from(proto) + len as u64);
    Ok((proto, l3 + ihl, len, pseudo))
}

/// The same for IPv6, past the extension headers a transport header may follow.
fn ipv6(f: &[u8], l3: usize) -> Result<(u8, usize, usize, u64), CsumError> {
    let h = f.get(l3..l3 + 40).ok_or(CsumError::Malformed)?;
    if h[0] >> 4 != 6 {
        return Err(CsumError::Malformed);
    }
    let payload = usize::from(u16::from_be_bytes([h[4], h[5]]));
    let end = l3 + 40 + payload;
    if end > f.len() {
        return Err(CsumError::Malformed);
    }
    let mut next = h[6];
    let mut at = l3 + 40;
    // Each extension header moves on at least 8 bytes; a few are all a packet may have.
    for _ in 0..8 {
        match next {
            0 | 43 | 60 => {
                let e = f.get(at..at + 2).ok_or(CsumError::Malformed)?;
                next = e[0];
                at += (usize::from(e[1]) + 1) * 8;
                if at > end {
                    return Err(CsumError::Malformed);
                }
            }
            44 => return Err(CsumError::Fragment),
            _ => break,
        }
    }
    let len = end - at;
    let pseudo = sum(&h[8..40], len as u64 + u64::from(next));
    Ok((next, at, len, pseudo))
}
