//! The ACPI tables in machine memory, read through [`Hypervisor::read_io_bytes`]: the RSDP
//! (searched where BIOS machines keep it), the XSDT (or the RSDT of ACPI 1.0), the FADT and
//! the definition blocks (DSDT, SSDTs). Every table's signature, length and checksum are
//! checked before it is used; a length is never trusted for more than [`MAX_TABLE_LEN`].
//!
//! Facts from the ACPI specification (5.2): the RSDP is on a 16-byte boundary in the first KiB
//! of the EBDA (whose segment the BIOS data area keeps at 0x40E) or in 0xE0000-0xFFFFF; its
//! first 20 bytes sum to 0, and from revision 2 on its `length` bytes too. Tables start with a
//! 36-byte header (signature, length, revision, checksum, ...) and all their bytes sum to 0.
//! The FADT (signature `FACP`) names the DSDT at offset 40 (32 bits) and, from ACPI 2.0 on,
//! at offset 140 (`X_DSDT`, 64 bits, preferred when set).

use super::AcpiError;
use crate::hv::Hypervisor;
use alloc::vec;
use alloc::vec::Vec;

/// The longest table read (real machines' DSDTs are a few hundred KiB at most).
pub const MAX_TABLE_LEN: u32 = 1 << 20;
/// The most entries an RSDT/XSDT may list (real machines list a few dozen).
pub const MAX_ROOT_ENTRIES: usize = 256;
/// Bytes of a table header.
pub const HEADER_LEN: usize = 36;

/// Where the BIOS data area keeps the EBDA's segment.
const EBDA_POINTER: u64 = 0x40E;
/// The BIOS read-only area searched for the RSDP.
const BIOS_AREA: (u64, usize) = (0xE_0000, 0x2_0000);
/// The RSDP's signature.
const RSDP_SIGNATURE: &[u8; 8] = b"RSD PTR ";

/// A validated RSDP.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rsdp {
    pub maddr: u64,
    pub revision: u8,
    /// The RSDT's address (0 when absent).
    pub rsdt: u32,
    /// The XSDT's address (revision 2 and later; 0 when absent).
    pub xsdt: u64,
}

/// A table read from memory, header included, its checksum verified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Table {
    pub maddr: u64,
    pub bytes: Vec<u8>,
}

impl Table {
    pub fn signature(&self) -> [u8; 4] {
        sig_of(&self.bytes)
    }
}

/// The definition blocks a machine describes its devices in, and where they came from.
#[derive(Clone, Debug)]
pub struct Tables {
    pub rsdp: Rsdp,
    pub dsdt: Table,
    pub ssdts: Vec<Table>,
}

/// A table signature as text (non-printable bytes as `?`).
pub fn sig_str(sig: [u8; 4]) -> alloc::string::String {
    sig.iter()
        .map(|&b| if b.is_ascii_graphic() { b as char } else { '?' })
        .collect()
}

fn sig_of(bytes: &[u8]) -> [u8; 4] {
    let mut s = [0u8; 4];
    s.copy_from_slice(&bytes[..4]);
    s
}

fn sum(bytes: &[u8]) -> u8 {
    bytes.iter().fold(0u8, |a, &b| a.wrapping_add(b))
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from(u32_at(b, at)) | (u64::from(u32_at(b, at + 4)) << 32)
}

fn read(hv: &mut dyn Hypervisor, maddr: u64, buf: &mut [u8], what: &str) -> Result<(), AcpiError> {
    hv.read_io_bytes(maddr, buf)
        .map_err(|errno| AcpiError::Read {
            what: what.into(),
            maddr,
            len: buf.len(),
            errno,
        })
}

/// Checks the RSDP candidate at `maddr` (whose first 20 bytes are `head`): `Err` says why it
/// is not one.
fn rsdp_at(hv: &mut dyn Hypervisor, maddr: u64, head: &[u8; 20]) -> Result<Rsdp, AcpiError> {
    let bad = |why: &str| AcpiError::BadRsdp {
        maddr,
        why: why.into(),
    };
    if sum(head) != 0 {
        return Err(bad("the checksum of its first 20 bytes is wrong"));
    }
    let revision = head[15];
    let rsdt = u32_at(head, 16);
    if revision < 2 {
        return Ok(Rsdp {
            maddr,
            revision,
            rsdt,
            xsdt: 0,
        });
    }
    let mut ext = [0u8; 36];
    read(hv, maddr, &mut ext, "the RSDP")?;
    let len = u32_at(&ext, 20);
    if len != 36 {
        // The structure of ACPI 2.0 to 6.5 is 36 bytes; a longer one would be a revision
        // this reader does not know.
        return Err(bad(&alloc::format!(
            "its length is {len}, not the 36 bytes of revision 2"
        )));
    }
    if sum(&ext) != 0 {
        return Err(bad("the extended checksum of its 36 bytes is wrong"));
    }
    Ok(Rsdp {
        maddr,
        revision,
        rsdt,
        xsdt: u64_at(&ext, 24),
    })
}

/// Searches `len` bytes at `start` for a valid RSDP; candidates that fail their checks are
/// remembered in `rejected` (the first one, to name in the error if none is found).
fn search(
    hv: &mut dyn Hypervisor,
    start: u64,
    len: usize,
    rejected: &mut Option<AcpiError>,
) -> Result<Option<Rsdp>, AcpiError> {
    const CHUNK: usize = 4096;
    let mut chunk = vec![0u8; CHUNK];
    let mut off = 0usize;
    while off < len {
        let n = CHUNK.min(len - off);
        let base = start + off as u64;
        read(hv, base, &mut chunk[..n], "the BIOS area")?;
        for at in (0..n.saturating_sub(7)).step_by(16) {
            if &chunk[at..at + 8] != RSDP_SIGNATURE {
                continue;
            }
            // A candidate that cannot be read whole (at the area's end) is no RSDP either.
            let mut head = [0u8; 20];
            let maddr = base + at as u64;
            let found =
                read(hv, maddr, &mut head, "the RSDP").and_then(|()| rsdp_at(hv, maddr, &head));
            match found {
                Ok(r) => return Ok(Some(r)),
                Err(e) => {
                    rejected.get_or_insert(e);
                }
            }
        }
        off += n;
    }
    Ok(None)
}

/// Finds the RSDP: in the first KiB of the EBDA, then in 0xE0000-0xFFFFF. The EBDA pointer
/// lives in the BIOS data area, in the first frame of RAM, which the hypervisor does not map
/// for dom0 (I/O memory only): where it refuses, the EBDA is not searched (QEMU's microvm has
/// no EBDA pointer; its firmware puts the RSDP in the BIOS area).
pub fn find_rsdp(hv: &mut dyn Hypervisor) -> Result<Rsdp, AcpiError> {
    let mut rejected = None;
    let mut seg = [0u8; 2];
    if hv.read_io_bytes(EBDA_POINTER, &mut seg).is_ok() {
        let ebda = u64::from(u16::from_le_bytes(seg)) << 4;
        if ebda != 0 {
            if let Some(r) = search(hv, ebda, 1024, &mut rejected)? {
                return Ok(r);
            }
        }
    }
    if let Some(r) = search(hv, BIOS_AREA.0, BIOS_AREA.1, &mut rejected)? {
        return Ok(r);
    }
    Err(rejected.unwrap_or(AcpiError::NoRsdp))
}

/// Reads the table at `maddr`, checking its signature (`want`, if given), its length (at
/// least the header, at most [`MAX_TABLE_LEN`]) and its checksum.
pub fn read_table(
    hv: &mut dyn Hypervisor,
    maddr: u64,
    want: Option<&[u8; 4]>,
) -> Result<Table, AcpiError> {
    let mut head = [0u8; HEADER_LEN];
    let what = want.map_or(alloc::string::String::from("a table"), |w| sig_str(*w));
    read(hv, maddr, &mut head, &what)?;
    let sig = sig_of(&head);
    if let Some(w) = want.filter(|&&w| w != sig) {
        return Err(AcpiError::Signature {
            want: *w,
            found: sig,
            maddr,
        });
    }
    let len = u32_at(&head, 4);
    if (len as usize) < HEADER_LEN || len > MAX_TABLE_LEN {
        return Err(AcpiError::Length {
            signature: sig,
            maddr,
            len,
        });
    }
    let mut bytes = vec![0u8; len as usize];
    read(hv, maddr, &mut bytes, &sig_str(sig))?;
    if bytes[..HEADER_LEN] != head {
        // Firmware tables do not change; a table that did is not to be trusted.
        return Err(AcpiError::Changed {
            signature: sig,
            maddr,
        });
    }
    let s = sum(&bytes);
    if s != 0 {
        return Err(AcpiError::Checksum {
            signature: sig,
            maddr,
            sum: s,
        });
    }
    Ok(Table { maddr, bytes })
}

/// The entries of a validated RSDT (4-byte addresses) or XSDT (8-byte).
pub fn root_entries(root: &Table) -> Result<Vec<u64>, AcpiError> {
    let width = if root.signature() == *b"XSDT" { 8 } else { 4 };
    let body = &root.bytes[HEADER_LEN..];
    let n = body.len() / width;
    if n > MAX_ROOT_ENTRIES {
        return Err(AcpiError::TooManyTables {
            signature: root.signature(),
            maddr: root.maddr,
            count: n,
        });
    }
    Ok(body
        .chunks_exact(width)
        .map(|c| {
            if width == 8 {
                u64_at(c, 0)
            } else {
                u64::from(u32_at(c, 0))
            }
        })
        .collect())
}

/// The DSDT's address in a validated FADT: `X_DSDT` when the FADT is long enough to have it
/// and it is set, else `DSDT`.
pub fn dsdt_address(fadt: &Table) -> Option<u64> {
    let b = &fadt.bytes;
    let x = if b.len() >= 148 { u64_at(b, 140) } else { 0 };
    let legacy = if b.len() >= 44 {
        u64::from(u32_at(b, 40))
    } else {
        0
    };
    [x, legacy].into_iter().find(|&a| a != 0)
}

/// Finds and reads the definition blocks. A bad DSDT (or root table, or FADT) is an error; a
/// bad SSDT is left out with a note in `notes`.
pub fn find(
    hv: &mut dyn Hypervisor,
    notes: &mut Vec<alloc::string::String>,
) -> Result<Tables, AcpiError> {
    let rsdp = find_rsdp(hv)?;
    let root = if rsdp.xsdt != 0 {
        read_table(hv, rsdp.xsdt, Some(b"XSDT"))?
    } else if rsdp.rsdt != 0 {
        read_table(hv, u64::from(rsdp.rsdt), Some(b"RSDT"))?
    } else {
        return Err(AcpiError::BadRsdp {
            maddr: rsdp.maddr,
            why: "it names neither an XSDT nor an RSDT".into(),
        });
    };
    let mut fadt = None;
    let mut ssdt_at = Vec::new();
    for maddr in root_entries(&root)? {
        if maddr == 0 {
            continue;
        }
        let mut head = [0u8; 4];
        read(hv, maddr, &mut head, "a table's signature")?;
        match &head {
            b"FACP" if fadt.is_none() => fadt = Some(read_table(hv, maddr, Some(b"FACP"))?),
            b"SSDT" => ssdt_at.push(maddr),
            _ => {}
        }
    }
    let fadt = fadt.ok_or(AcpiError::NoFadt {
        signature: root.signature(),
        maddr: root.maddr,
    })?;
    let dsdt_at = dsdt_address(&fadt).ok_or(AcpiError::NoDsdt { maddr: fadt.maddr })?;
    let dsdt = read_table(hv, dsdt_at, Some(b"DSDT"))?;
    let mut ssdts = Vec::new();
    for maddr in ssdt_at {
        match read_table(hv, maddr, Some(b"SSDT")) {
            Ok(t) => ssdts.push(t),
            Err(e) => notes.push(alloc::format!("{e}: left out")),
        }
    }
    Ok(Tables { rsdp, dsdt, ssdts })
}
