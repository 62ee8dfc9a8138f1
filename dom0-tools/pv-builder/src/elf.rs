//! An alloc-free ELF64 loader front end for x86_64 PV kernels (shared with the hypervisor).
//!
//! [`ElfImage::parse`] validates the file header (class, endianness, version, type EXEC,
//! machine x86_64), every program header and the bounds of every loadable segment, then reads
//! the kernel's Xen notes (see [`notes`]) and computes the load layout as Xen's libelf does:
//!
//! * notes are taken from the `PT_NOTE` segments; only if those hold no "Xen" note are the
//!   `SHT_NOTE` sections searched. No Xen notes at all means "not a PV kernel" (the legacy
//!   `__xen_guest` section is not supported);
//! * `VIRT_BASE` absent → virt_base 0; `PADDR_OFFSET` absent → 0 (with ELF notes, Xen's
//!   default is 0; only the legacy `__xen_guest` form defaulted it to virt_base). So a kernel
//!   without either note is loaded at VA = `p_paddr`;
//! * load VA of a segment = `p_paddr + (virt_base - paddr_offset)` (wrapping, as Xen);
//! * kernel VA range `[virt_kstart, virt_kend)` = the PT_LOAD segments' `[min paddr,
//!   max paddr+memsz)` moved by that offset; `ENTRY` defaults to `e_entry`;
//! * rejected like Xen: virt_base above the kernel start, entry outside the kernel, hypercall
//!   page outside the kernel (we also want it page-aligned), `XEN_VERSION` not "xen-3.0",
//!   neither `LOADER` "generic" nor `GUEST_OS` "linux…", an unknown required (`!`) feature.

pub mod notes;
mod raw;

use core::fmt;
pub use notes::{XenNotes, FEATURE_NAMES};
use raw::{Ehdr, Phdr, Shdr};

const PT_LOAD: u32 = 1;
const PT_NOTE: u32 = 4;
const SHT_NOTE: u32 = 7;
const ET_EXEC: u16 = 2;
const EM_X86_64: u16 = 62;

/// Why an image was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ElfError {
    /// No `\x7fELF` magic.
    NotElf,
    /// ELFCLASS32 or unknown class.
    Not64Bit,
    /// Big-endian or unknown data encoding.
    NotLittleEndian,
    /// `EI_VERSION`/`e_version` is not 1.
    BadVersion,
    /// `e_machine` is not EM_X86_64.
    NotX86_64 { machine: u16 },
    /// `e_type` is not ET_EXEC.
    NotExecutable { e_type: u16 },
    /// A header field is malformed (which field).
    BadHeader(&'static str),
    /// A header, segment or section lies (partly) outside the file (which one).
    OutOfBounds(&'static str),
    /// No PT_LOAD segment with contents.
    NoLoadSegments,
    /// No "Xen" ELF note anywhere.
    NoXenNotes,
    /// A Xen note has a malformed descriptor (note type).
    BadNote { note: u32 },
    /// The kernel is not for this loader (why).
    Unsupported(&'static str),
    /// The kernel's addresses are inconsistent (why).
    BadLayout(&'static str),
}

impl fmt::Display for ElfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::NotElf => f.write_str("not an ELF file"),
            Self::Not64Bit => f.write_str("not a 64-bit ELF file: not an x86_64 image"),
            Self::NotLittleEndian => f.write_str("not a little-endian ELF file"),
            Self::BadVersion => f.write_str("unknown ELF version"),
            Self::NotX86_64 { machine } => {
                write!(f, "not an x86_64 image (ELF machine {machine})")
            }
            Self::NotExecutable { e_type } => {
                write!(f, "not an executable ELF image (ELF type {e_type})")
            }
            Self::BadHeader(what) => write!(f, "bad ELF header: {what}"),
            Self::OutOfBounds(what) => write!(f, "ELF {what} lies outside the file"),
            Self::NoLoadSegments => f.write_str("ELF image has no loadable segments"),
            Self::NoXenNotes => f.write_str("no Xen ELF notes: not a PV kernel"),
            Self::BadNote { note } => write!(f, "malformed Xen ELF note (type {note})"),
            Self::Unsupported(why) => write!(f, "unsupported PV kernel: {why}"),
            Self::BadLayout(why) => write!(f, "bad PV kernel layout: {why}"),
        }
    }
}

/// One PT_LOAD segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment<'a> {
    /// Where the segment goes: `p_paddr + (virt_base - paddr_offset)`.
    pub load_va: u64,
    pub p_vaddr: u64,
    pub p_paddr: u64,
    /// The file bytes (`p_filesz` of them); the rest up to `memsz` is zeroed (bss).
    pub data: &'a [u8],
    pub memsz: u64,
    /// `PF_X` 1, `PF_W` 2, `PF_R` 4.
    pub flags: u32,
}

/// A validated x86_64 PV kernel image, borrowed from memory.
#[derive(Debug, Clone, Copy)]
pub struct ElfImage<'a> {
    data: &'a [u8],
    phoff: usize,
    phnum: usize,
    /// The kernel's Xen notes, defaults resolved.
    pub notes: XenNotes<'a>,
    /// Start of the kernel in the guest's virtual address space.
    pub virt_kstart: u64,
    /// End (exclusive) of the kernel in the guest's virtual address space.
    pub virt_kend: u64,
}

impl<'a> ElfImage<'a> {
    /// Parses and validates `data` as an x86_64 PV kernel.
    pub fn parse(data: &'a [u8]) -> Result<Self, ElfError> {
        let eh = Ehdr::parse(data)?;
        if eh.e_type != ET_EXEC {
            return Err(ElfError::NotExecutable { e_type: eh.e_type });
        }
        // Program headers.
        let phnum = usize::from(eh.e_phnum);
        if phnum == 0 {
            return Err(ElfError::NoLoadSegments);
        }
        if eh.e_phentsize != 56 {
            return Err(ElfError::BadHeader("e_phentsize is not 56"));
        }
        let phoff = table_bounds(data, eh.e_phoff, phnum, 56, "program header table")?;
        let mut pstart = u64::MAX;
        let mut pend = 0u64;
        let mut note_segments_found = false;
        let mut notes = XenNotes::default();
        for i in 0..phnum {
            let ph = Phdr::parse(data, phoff + i * 56)?;
            match ph.p_type {
                PT_LOAD => {
                    if ph.p_filesz > ph.p_memsz {
                        return Err(ElfError::BadHeader("segment p_filesz exceeds p_memsz"));
                    }
                    file_range(data, ph.p_offset, ph.p_filesz, "segment")?;
                    let end = ph
                        .p_paddr
                        .checked_add(ph.p_memsz)
                        .ok_or(ElfError::BadLayout(
                            "segment wraps around the address space",
                        ))?;
                    if ph.p_memsz == 0 {
                        continue;
                    }
                    pstart = pstart.min(ph.p_paddr);
                    pend = pend.max(end);
                }
                PT_NOTE => {
                    let range = file_range(data, ph.p_offset, ph.p_filesz, "note segment")?;
                    if notes.scan(&data[range])? {
                        note_segments_found = true;
                    }
                }
                _ => {}
            }
        }
        if pstart >= pend {
            return Err(ElfError::NoLoadSegments);
        }
        if !note_segments_found && !scan_note_sections(data, &eh, &mut notes)? {
            return Err(ElfError::NoXenNotes);
        }
        notes.check()?;
        let virt_offset = notes.virt_base.wrapping_sub(notes.paddr_offset);
        let virt_kstart = pstart.wrapping_add(virt_offset);
        let virt_kend = pend.wrapping_add(virt_offset);
        if notes.entry.is_none() {
            notes.entry = Some(eh.e_entry);
        }
        let img = Self {
            data,
            phoff,
            phnum,
            notes,
            virt_kstart,
            virt_kend,
        };
        img.check_layout()?;
        Ok(img)
    }

    fn check_layout(&self) -> Result<(), ElfError> {
        let (ks, ke) = (self.virt_kstart, self.virt_kend);
        if ks >= ke {
            return Err(ElfError::BadLayout("kernel wraps around the address space"));
        }
        if self.notes.virt_base > ks {
            return Err(ElfError::BadLayout("VIRT_BASE lies above the kernel start"));
        }
        if !self.notes.virt_base.is_multiple_of(4096) {
            return Err(ElfError::BadLayout("VIRT_BASE is not page-aligned"));
        }
        let entry = self.entry();
        if entry < ks || entry >= ke {
            return Err(ElfError::BadLayout("entry point outside the kernel"));
        }
        if let Some(hp) = self.notes.hypercall_page {
            if hp < ks || hp >= ke {
                return Err(ElfError::BadLayout("hypercall page outside the kernel"));
            }
            if !hp.is_multiple_of(4096) {
                return Err(ElfError::BadLayout("hypercall page is not page-aligned"));
            }
        }
        Ok(())
    }

    /// The entry point (the `ENTRY` note, else `e_entry`).
    pub fn entry(&self) -> u64 {
        self.notes.entry.unwrap_or(0)
    }

    /// `virt_base - paddr_offset`, added (wrapping) to `p_paddr` to get a load VA.
    pub fn virt_offset(&self) -> u64 {
        self.notes.virt_base.wrapping_sub(self.notes.paddr_offset)
    }

    /// The raw file.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.data
    }

    /// The non-empty PT_LOAD segments, in file order.
    pub fn segments(&self) -> impl Iterator<Item = Segment<'a>> + '_ {
        (0..self.phnum).filter_map(move |i| {
            // Validated by `parse`; a failure here cannot happen and just skips the entry.
            let ph = Phdr::parse(self.data, self.phoff + i * 56).ok()?;
            if ph.p_type != PT_LOAD || ph.p_memsz == 0 {
                return None;
            }
            let range = file_range(self.data, ph.p_offset, ph.p_filesz, "segment").ok()?;
            Some(Segment {
                load_va: ph.p_paddr.wrapping_add(self.virt_offset()),
                p_vaddr: ph.p_vaddr,
                p_paddr: ph.p_paddr,
                data: &self.data[range],
                memsz: ph.p_memsz,
                flags: ph.p_flags,
            })
        })
    }
}

/// Bounds of a table of `n` entries of `size` bytes at `off`; returns `off` as usize.
fn table_bounds(
    data: &[u8],
    off: u64,
    n: usize,
    size: usize,
    what: &'static str,
) -> Result<usize, ElfError> {
    let len = (n as u64) * (size as u64);
    file_range(data, off, len, what).map(|r| r.start)
}

/// `off..off+len` as a range of `data`, if it fits.
fn file_range(
    data: &[u8],
    off: u64,
    len: u64,
    what: &'static str,
) -> Result<core::ops::Range<usize>, ElfError> {
    let end = off.checked_add(len).ok_or(ElfError::OutOfBounds(what))?;
    if end > data.len() as u64 {
        return Err(ElfError::OutOfBounds(what));
    }
    Ok(off as usize..end as usize)
}

/// Scans the SHT_NOTE sections; true if a Xen note was found.
fn scan_note_sections<'a>(
    data: &'a [u8],
    eh: &Ehdr,
    notes: &mut XenNotes<'a>,
) -> Result<bool, ElfError> {
    let shnum = usize::from(eh.e_shnum);
    if shnum == 0 || eh.e_shoff == 0 {
        return Ok(false);
    }
    if eh.e_shentsize != 64 {
        return Err(ElfError::BadHeader("e_shentsize is not 64"));
    }
    let shoff = table_bounds(data, eh.e_shoff, shnum, 64, "section header table")?;
    let mut found = false;
    for i in 0..shnum {
        let sh = Shdr::parse(data, shoff + i * 64)?;
        if sh.sh_type == SHT_NOTE {
            let range = file_range(data, sh.sh_offset, sh.sh_size, "note section")?;
            found |= notes.scan(&data[range])?;
        }
    }
    Ok(found)
}

#[cfg(any(test, feature = "test-images"))]
pub mod testimg;
#[cfg(test)]
mod tests;
