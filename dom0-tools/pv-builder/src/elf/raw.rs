//! ELF64 header layouts, read field by field with bounds checks (no casts of file bytes).

use super::{ElfError, EM_X86_64};

pub(super) fn u16_at(d: &[u8], off: usize) -> Option<u16> {
    Some(u16::from_le_bytes(d.get(off..off + 2)?.try_into().ok()?))
}
pub(super) fn u32_at(d: &[u8], off: usize) -> Option<u32> {
    Some(u32::from_le_bytes(d.get(off..off + 4)?.try_into().ok()?))
}
pub(super) fn u64_at(d: &[u8], off: usize) -> Option<u64> {
    Some(u64::from_le_bytes(d.get(off..off + 8)?.try_into().ok()?))
}

/// The fields of the ELF file header we use.
pub(super) struct Ehdr {
    pub e_type: u16,
    pub e_entry: u64,
    pub e_phoff: u64,
    pub e_shoff: u64,
    pub e_phentsize: u16,
    pub e_phnum: u16,
    pub e_shentsize: u16,
    pub e_shnum: u16,
}

impl Ehdr {
    pub fn parse(d: &[u8]) -> Result<Self, ElfError> {
        if d.get(..4) != Some(&b"\x7fELF"[..]) {
            return Err(ElfError::NotElf);
        }
        let ident = d.get(..16).ok_or(ElfError::OutOfBounds("file header"))?;
        if ident[4] != 2 {
            return Err(ElfError::Not64Bit);
        }
        if ident[5] != 1 {
            return Err(ElfError::NotLittleEndian);
        }
        if ident[6] != 1 {
            return Err(ElfError::BadVersion);
        }
        if d.len() < 64 {
            return Err(ElfError::OutOfBounds("file header"));
        }
        let oob = ElfError::OutOfBounds("file header");
        let machine = u16_at(d, 18).ok_or(oob)?;
        if machine != EM_X86_64 {
            return Err(ElfError::NotX86_64 { machine });
        }
        if u32_at(d, 20).ok_or(oob)? != 1 {
            return Err(ElfError::BadVersion);
        }
        if u16_at(d, 52).ok_or(oob)? < 64 {
            return Err(ElfError::BadHeader("e_ehsize is below 64"));
        }
        Ok(Self {
            e_type: u16_at(d, 16).ok_or(oob)?,
            e_entry: u64_at(d, 24).ok_or(oob)?,
            e_phoff: u64_at(d, 32).ok_or(oob)?,
            e_shoff: u64_at(d, 40).ok_or(oob)?,
            e_phentsize: u16_at(d, 54).ok_or(oob)?,
            e_phnum: u16_at(d, 56).ok_or(oob)?,
            e_shentsize: u16_at(d, 58).ok_or(oob)?,
            e_shnum: u16_at(d, 60).ok_or(oob)?,
        })
    }
}

/// A program header.
pub(super) struct Phdr {
    pub p_type: u32,
    pub p_flags: u32,
    pub p_offset: u64,
    pub p_vaddr: u64,
    pub p_paddr: u64,
    pub p_filesz: u64,
    pub p_memsz: u64,
}

impl Phdr {
    pub fn parse(d: &[u8], off: usize) -> Result<Self, ElfError> {
        let oob = ElfError::OutOfBounds("program header");
        Ok(Self {
            p_type: u32_at(d, off).ok_or(oob)?,
            p_flags: u32_at(d, off + 4).ok_or(oob)?,
            p_offset: u64_at(d, off + 8).ok_or(oob)?,
            p_vaddr: u64_at(d, off + 16).ok_or(oob)?,
            p_paddr: u64_at(d, off + 24).ok_or(oob)?,
            p_filesz: u64_at(d, off + 32).ok_or(oob)?,
            p_memsz: u64_at(d, off + 40).ok_or(oob)?,
        })
    }
}

/// A section header.
pub(super) struct Shdr {
    pub sh_type: u32,
    pub sh_offset: u64,
    pub sh_size: u64,
}

impl Shdr {
    pub fn parse(d: &[u8], off: usize) -> Result<Self, ElfError> {
        let oob = ElfError::OutOfBounds("section header");
        Ok(Self {
            sh_type: u32_at(d, off + 4).ok_or(oob)?,
            sh_offset: u64_at(d, off + 24).ok_or(oob)?,
            sh_size: u64_at(d, off + 32).ok_or(oob)?,
        })
    }
}
