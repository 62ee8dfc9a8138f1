//! The kernel's Xen ELF notes (owner "Xen"; note numbers from `guest_abi::elfnote`).

use super::raw::{u32_at, u64_at};
use super::ElfError;
use guest_abi::elfnote::*;

/// Feature names of the `FEATURES` note, by XENFEAT bit number (Xen's `features.h`).
pub const FEATURE_NAMES: &[&str] = &[
    "writable_page_tables",
    "writable_descriptor_tables",
    "auto_translated_physmap",
    "supervisor_mode_kernel",
    "pae_pgdir_above_4gb",
    "mmu_pt_update_preserve_ad",
    "highmem_assist",
    "gnttab_map_avail_bits",
    "hvm_callback_vector",
    "hvm_safe_pvclock",
    "hvm_pirqs",
    "dom0",
];

/// What a kernel's Xen notes say. Absent notes keep the defaults (see [`crate::elf`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct XenNotes<'a> {
    pub info: Option<&'a str>,
    pub guest_os: Option<&'a str>,
    pub guest_version: Option<&'a str>,
    pub xen_version: Option<&'a str>,
    pub loader: Option<&'a str>,
    pub pae_mode: Option<&'a str>,
    /// The `FEATURES` string as written.
    pub features: Option<&'a str>,
    /// `VIRT_BASE`, 0 if absent.
    pub virt_base: u64,
    /// `PADDR_OFFSET`, 0 if absent.
    pub paddr_offset: u64,
    /// `ENTRY`; after [`ElfImage::parse`](super::ElfImage::parse) always set (`e_entry` if
    /// the note is absent).
    pub entry: Option<u64>,
    /// `HYPERCALL_PAGE`: VA of the page the builder fills with hypercall stubs.
    pub hypercall_page: Option<u64>,
    pub hv_start_low: Option<u64>,
    pub init_p2m: Option<u64>,
    pub mod_start_pfn: bool,
    pub suspend_cancel: bool,
    pub bsd_symtab: bool,
    /// XENFEAT bits the kernel supports (`FEATURES` names and the `SUPPORTED_FEATURES` map).
    pub supported_features: u32,
    /// XENFEAT bits the kernel requires (`!name` in `FEATURES`).
    pub required_features: u32,
}

impl<'a> XenNotes<'a> {
    /// Reads the notes in one note area; true if it held at least one "Xen" note.
    pub(super) fn scan(&mut self, mut area: &'a [u8]) -> Result<bool, ElfError> {
        let mut found = false;
        let oob = ElfError::OutOfBounds("note");
        while area.len() >= 12 {
            let namesz = u32_at(area, 0).ok_or(oob)? as usize;
            let descsz = u32_at(area, 4).ok_or(oob)? as usize;
            let ty = u32_at(area, 8).ok_or(oob)?;
            let name_end = 12usize.checked_add(namesz).ok_or(oob)?;
            let desc_start = align4(name_end).ok_or(oob)?;
            let desc_end = desc_start.checked_add(descsz).ok_or(oob)?;
            let name = area.get(12..name_end).ok_or(oob)?;
            let desc = area.get(desc_start..desc_end).ok_or(oob)?;
            let name = name.strip_suffix(b"\0").unwrap_or(name);
            if name == XEN_ELFNOTE_NAME {
                found = true;
                self.apply(ty, desc)?;
            }
            let next = align4(desc_end).ok_or(oob)?;
            area = area.get(next..).unwrap_or(&[]);
        }
        Ok(found)
    }

    fn apply(&mut self, ty: u32, desc: &'a [u8]) -> Result<(), ElfError> {
        let bad = ElfError::BadNote { note: ty };
        let string = || -> Result<&'a str, ElfError> {
            let s = desc.split(|&b| b == 0).next().unwrap_or(&[]);
            core::str::from_utf8(s).map_err(|_| bad)
        };
        let number = || -> Result<u64, ElfError> {
            match desc.len() {
                1 => Ok(u64::from(desc[0])),
                2 => Ok(u64::from(u16::from_le_bytes([desc[0], desc[1]]))),
                4 => u32_at(desc, 0).map(u64::from).ok_or(bad),
                8 => u64_at(desc, 0).ok_or(bad),
                _ => Err(bad),
            }
        };
        match ty {
            XEN_ELFNOTE_INFO => self.info = Some(string()?),
            XEN_ELFNOTE_ENTRY => self.entry = Some(number()?),
            XEN_ELFNOTE_HYPERCALL_PAGE => self.hypercall_page = Some(number()?),
            XEN_ELFNOTE_VIRT_BASE => self.virt_base = number()?,
            XEN_ELFNOTE_PADDR_OFFSET => self.paddr_offset = number()?,
            XEN_ELFNOTE_XEN_VERSION => self.xen_version = Some(string()?),
            XEN_ELFNOTE_GUEST_OS => self.guest_os = Some(string()?),
            XEN_ELFNOTE_GUEST_VERSION => self.guest_version = Some(string()?),
            XEN_ELFNOTE_LOADER => self.loader = Some(string()?),
            XEN_ELFNOTE_PAE_MODE => self.pae_mode = Some(string()?),
            XEN_ELFNOTE_FEATURES => {
                let s = string()?;
                self.features = Some(s);
                self.parse_features(s)?;
            }
            XEN_ELFNOTE_BSD_SYMTAB => self.bsd_symtab = true,
            XEN_ELFNOTE_HV_START_LOW => self.hv_start_low = Some(number()?),
            XEN_ELFNOTE_SUSPEND_CANCEL => self.suspend_cancel = number()? != 0,
            XEN_ELFNOTE_INIT_P2M => self.init_p2m = Some(number()?),
            XEN_ELFNOTE_MOD_START_PFN => self.mod_start_pfn = number()? != 0,
            XEN_ELFNOTE_SUPPORTED_FEATURES => {
                self.supported_features |= u32_at(desc, 0).ok_or(bad)?;
            }
            // L1_MFN_VALID, PHYS32_ENTRY (PVH), PHYS32_RELOC and unknown notes: ignored, as
            // Xen ignores notes it does not use.
            _ => {}
        }
        Ok(())
    }

    fn parse_features(&mut self, s: &str) -> Result<(), ElfError> {
        for f in s.split('|').filter(|f| !f.is_empty()) {
            let (required, name) = match f.strip_prefix('!') {
                Some(n) => (true, n),
                None => (false, f),
            };
            match FEATURE_NAMES.iter().position(|&n| n == name) {
                Some(bit) => {
                    self.supported_features |= 1 << bit;
                    if required {
                        self.required_features |= 1 << bit;
                    }
                }
                None if required => {
                    return Err(ElfError::Unsupported(
                        "FEATURES requires an unknown feature",
                    ))
                }
                None => {}
            }
        }
        Ok(())
    }

    /// Xen's checks that this is a kernel for the generic 3.0 PV loader.
    pub(super) fn check(&self) -> Result<(), ElfError> {
        if !self
            .xen_version
            .is_some_and(|v| v.starts_with(XEN_VERSION_STRING))
        {
            return Err(ElfError::Unsupported(
                "XEN_VERSION note missing or not \"xen-3.0\"",
            ));
        }
        let generic = self.loader.is_some_and(|l| l.starts_with(LOADER_GENERIC));
        let linux = self.guest_os.is_some_and(|o| o.starts_with("linux"));
        if !generic && !linux {
            return Err(ElfError::Unsupported(
                "LOADER note is not \"generic\" (and GUEST_OS is not linux)",
            ));
        }
        Ok(())
    }
}

fn align4(x: usize) -> Option<usize> {
    x.checked_add(3).map(|v| v & !3)
}
