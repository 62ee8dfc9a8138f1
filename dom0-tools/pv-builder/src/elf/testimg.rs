//! Synthetic ELF images for tests.

use alloc::vec;
use alloc::vec::Vec;
use guest_abi::elfnote::*;

pub const BASE: u64 = 0xFFFF_FFFF_8000_0000;

pub struct TestSeg {
    pub paddr: u64,
    pub vaddr: u64,
    pub data: Vec<u8>,
    pub memsz: u64,
}

pub struct TestElf {
    pub machine: u16,
    pub e_type: u16,
    pub e_entry: u64,
    pub segs: Vec<TestSeg>,
    /// (type, descriptor)
    pub notes: Vec<(u32, Vec<u8>)>,
    /// Put the notes in an SHT_NOTE section instead of a PT_NOTE segment.
    pub notes_in_section: bool,
}

pub fn str_note(s: &str) -> Vec<u8> {
    let mut v = s.as_bytes().to_vec();
    v.push(0);
    v
}

impl TestElf {
    /// A PV kernel at BASE: text (12 KiB, hypercall page at +4 KiB, pattern bytes), data
    /// (2 KiB of file, 12 KiB in memory), entry at +0x10.
    pub fn pv() -> Self {
        let text: Vec<u8> = (0..0x3000u32).map(|i| (i % 251) as u8 + 1).collect();
        let data: Vec<u8> = (0..0x800u32).map(|i| (i % 13) as u8 + 7).collect();
        Self {
            machine: 62,
            e_type: 2,
            e_entry: BASE + 0x10,
            segs: vec![
                TestSeg {
                    paddr: BASE,
                    vaddr: BASE,
                    data: text,
                    memsz: 0x3000,
                },
                TestSeg {
                    paddr: BASE + 0x3000,
                    vaddr: BASE + 0x3000,
                    data,
                    memsz: 0x3000,
                },
            ],
            notes: vec![
                (XEN_ELFNOTE_GUEST_OS, str_note("pv-guest")),
                (XEN_ELFNOTE_XEN_VERSION, str_note("xen-3.0")),
                (XEN_ELFNOTE_LOADER, str_note("generic")),
                (XEN_ELFNOTE_VIRT_BASE, BASE.to_le_bytes().to_vec()),
                (XEN_ELFNOTE_PADDR_OFFSET, BASE.to_le_bytes().to_vec()),
                (XEN_ELFNOTE_ENTRY, (BASE + 0x20).to_le_bytes().to_vec()),
                (
                    XEN_ELFNOTE_HYPERCALL_PAGE,
                    (BASE + 0x1000).to_le_bytes().to_vec(),
                ),
                (
                    XEN_ELFNOTE_FEATURES,
                    str_note("!mmu_pt_update_preserve_ad|foo"),
                ),
            ],
            notes_in_section: false,
        }
    }

    pub fn without_note(mut self, ty: u32) -> Self {
        self.notes.retain(|n| n.0 != ty);
        self
    }

    pub fn with_note(mut self, ty: u32, desc: Vec<u8>) -> Self {
        self.notes.retain(|n| n.0 != ty);
        self.notes.push((ty, desc));
        self
    }

    fn note_area(&self) -> Vec<u8> {
        let mut v = Vec::new();
        // A non-Xen note first, which must be skipped.
        push_note(&mut v, b"GNU\0", 3, &[1, 2, 3, 4]);
        for (ty, desc) in &self.notes {
            push_note(&mut v, b"Xen\0", *ty, desc);
        }
        v
    }

    pub fn bytes(&self) -> Vec<u8> {
        let notes = self.note_area();
        let nph = self.segs.len() + usize::from(!self.notes_in_section);
        let mut out = vec![0u8; 64 + 56 * nph];
        let notes_off = out.len();
        out.extend_from_slice(&notes);
        let mut seg_offs = Vec::new();
        for s in &self.segs {
            while !out.len().is_multiple_of(16) {
                out.push(0);
            }
            seg_offs.push(out.len());
            out.extend_from_slice(&s.data);
        }
        // File header.
        out[..4].copy_from_slice(b"\x7fELF");
        out[4] = 2;
        out[5] = 1;
        out[6] = 1;
        put16(&mut out, 16, self.e_type);
        put16(&mut out, 18, self.machine);
        put32(&mut out, 20, 1);
        put64(&mut out, 24, self.e_entry);
        put64(&mut out, 32, 64);
        put16(&mut out, 52, 64);
        put16(&mut out, 54, 56);
        put16(&mut out, 56, nph as u16);
        let mut ph = 64;
        for (s, off) in self.segs.iter().zip(&seg_offs) {
            put32(&mut out, ph, 1);
            put32(&mut out, ph + 4, 5);
            put64(&mut out, ph + 8, *off as u64);
            put64(&mut out, ph + 16, s.vaddr);
            put64(&mut out, ph + 24, s.paddr);
            put64(&mut out, ph + 32, s.data.len() as u64);
            put64(&mut out, ph + 40, s.memsz);
            ph += 56;
        }
        if self.notes_in_section {
            // Section table: a null section and the note section.
            while !out.len().is_multiple_of(8) {
                out.push(0);
            }
            let shoff = out.len();
            out.extend_from_slice(&[0u8; 128]);
            put32(&mut out, shoff + 64 + 4, 7);
            put64(&mut out, shoff + 64 + 24, notes_off as u64);
            put64(&mut out, shoff + 64 + 32, notes.len() as u64);
            put64(&mut out, 40, shoff as u64);
            put16(&mut out, 58, 64);
            put16(&mut out, 60, 2);
        } else {
            put32(&mut out, ph, 4);
            put64(&mut out, ph + 8, notes_off as u64);
            put64(&mut out, ph + 32, notes.len() as u64);
        }
        out
    }
}

fn push_note(v: &mut Vec<u8>, name: &[u8], ty: u32, desc: &[u8]) {
    v.extend_from_slice(&(name.len() as u32).to_le_bytes());
    v.extend_from_slice(&(desc.len() as u32).to_le_bytes());
    v.extend_from_slice(&ty.to_le_bytes());
    v.extend_from_slice(name);
    while !v.len().is_multiple_of(4) {
        v.push(0);
    }
    v.extend_from_slice(desc);
    while !v.len().is_multiple_of(4) {
        v.push(0);
    }
}

pub fn put16(b: &mut [u8], off: usize, v: u16) {
    b[off..off + 2].copy_from_slice(&v.to_le_bytes());
}
pub fn put32(b: &mut [u8], off: usize, v: u32) {
    b[off..off + 4].copy_from_slice(&v.to_le_bytes());
}
pub fn put64(b: &mut [u8], off: usize, v: u64) {
    b[off..off + 8].copy_from_slice(&v.to_le_bytes());
}
