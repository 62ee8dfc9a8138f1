use super::testimg::*;
use super::*;
use alloc::string::ToString;
use alloc::vec::Vec;
use guest_abi::elfnote::*;

#[test]
fn parses_a_pv_kernel() {
    let bytes = TestElf::pv().bytes();
    let img = ElfImage::parse(&bytes).unwrap();
    assert_eq!(img.notes.guest_os, Some("pv-guest"));
    assert_eq!(img.notes.xen_version, Some("xen-3.0"));
    assert_eq!(img.notes.loader, Some("generic"));
    assert_eq!(img.notes.virt_base, BASE);
    assert_eq!(img.notes.paddr_offset, BASE);
    assert_eq!(img.entry(), BASE + 0x20, "the ENTRY note beats e_entry");
    assert_eq!(img.notes.hypercall_page, Some(BASE + 0x1000));
    assert_eq!(img.notes.required_features, 1 << 5);
    assert_eq!(img.notes.supported_features, 1 << 5);
    assert_eq!(img.notes.features, Some("!mmu_pt_update_preserve_ad|foo"));
    assert_eq!((img.virt_kstart, img.virt_kend), (BASE, BASE + 0x6000));
    let segs: Vec<_> = img.segments().collect();
    assert_eq!(segs.len(), 2);
    assert_eq!(segs[1].load_va, BASE + 0x3000);
    assert_eq!(segs[1].data.len(), 0x800);
    assert_eq!(segs[1].memsz, 0x3000);
}

#[test]
fn entry_defaults_to_e_entry_and_notes_from_sections() {
    let mut t = TestElf::pv().without_note(XEN_ELFNOTE_ENTRY);
    t.notes_in_section = true;
    let bytes = t.bytes();
    let img = ElfImage::parse(&bytes).unwrap();
    assert_eq!(img.entry(), BASE + 0x10);
    assert_eq!(img.notes.guest_os, Some("pv-guest"));
}

#[test]
fn paddr_offset_and_virt_base_defaults() {
    // paddr = VA - BASE (Linux style) with PADDR_OFFSET 0.
    let mut t = TestElf::pv().with_note(XEN_ELFNOTE_PADDR_OFFSET, 0u64.to_le_bytes().to_vec());
    for s in &mut t.segs {
        s.paddr -= BASE;
    }
    let bytes = t.bytes();
    let img = ElfImage::parse(&bytes).unwrap();
    assert_eq!(img.virt_kstart, BASE);
    assert_eq!(img.segments().nth(1).unwrap().load_va, BASE + 0x3000);
    // Absent PADDR_OFFSET means 0, as Xen with ELF notes.
    let t = TestElf {
        ..TestElf::pv().without_note(XEN_ELFNOTE_PADDR_OFFSET)
    };
    let mut t = t;
    for s in &mut t.segs {
        s.paddr -= BASE;
    }
    let bytes = t.bytes();
    assert_eq!(ElfImage::parse(&bytes).unwrap().virt_kstart, BASE);
    // Neither VIRT_BASE nor PADDR_OFFSET: load VA = p_paddr, virt_base 0.
    let t = TestElf::pv()
        .without_note(XEN_ELFNOTE_PADDR_OFFSET)
        .without_note(XEN_ELFNOTE_VIRT_BASE);
    let bytes = t.bytes();
    let img = ElfImage::parse(&bytes).unwrap();
    assert_eq!((img.notes.virt_base, img.virt_kstart), (0, BASE));
    // A 4-byte numeric note is fine too.
    let t = TestElf::pv().with_note(
        XEN_ELFNOTE_ENTRY,
        ((BASE + 0x30) as u32).to_le_bytes().to_vec(),
    );
    // (truncated to 32 bits it lies outside the kernel)
    assert_eq!(
        ElfImage::parse(&t.bytes()).unwrap_err().to_string(),
        "bad PV kernel layout: entry point outside the kernel"
    );
}

fn err(t: TestElf) -> String {
    ElfImage::parse(&t.bytes()).unwrap_err().to_string()
}

#[test]
fn rejections() {
    assert_eq!(
        ElfImage::parse(b"#!/bin/sh\n").unwrap_err().to_string(),
        "not an ELF file"
    );
    assert_eq!(ElfImage::parse(b"").unwrap_err(), ElfError::NotElf);
    assert_eq!(
        err(TestElf {
            machine: 3,
            ..TestElf::pv()
        }),
        "not an x86_64 image (ELF machine 3)"
    );
    let mut b = TestElf::pv().bytes();
    b[4] = 1;
    assert!(ElfImage::parse(&b)
        .unwrap_err()
        .to_string()
        .contains("not an x86_64 image"));
    let mut b = TestElf::pv().bytes();
    b[5] = 2;
    assert_eq!(ElfImage::parse(&b).unwrap_err(), ElfError::NotLittleEndian);
    assert_eq!(
        err(TestElf {
            e_type: 3,
            ..TestElf::pv()
        }),
        "not an executable ELF image (ELF type 3)"
    );
    let mut t = TestElf::pv();
    t.notes.clear();
    assert_eq!(err(t), "no Xen ELF notes: not a PV kernel");
    assert_eq!(
        err(TestElf::pv().without_note(XEN_ELFNOTE_XEN_VERSION)),
        "unsupported PV kernel: XEN_VERSION note missing or not \"xen-3.0\""
    );
    assert!(err(TestElf::pv().without_note(XEN_ELFNOTE_LOADER)).contains("LOADER"));
    // Linux kernels need no LOADER note.
    let t = TestElf::pv()
        .without_note(XEN_ELFNOTE_LOADER)
        .with_note(XEN_ELFNOTE_GUEST_OS, str_note("linux"));
    assert!(ElfImage::parse(&t.bytes()).is_ok());
    assert_eq!(
        err(TestElf::pv().with_note(XEN_ELFNOTE_FEATURES, str_note("!frobnicate"))),
        "unsupported PV kernel: FEATURES requires an unknown feature"
    );
    assert_eq!(
        err(TestElf::pv()
            .with_note(
                XEN_ELFNOTE_VIRT_BASE,
                (BASE + 0x1000).to_le_bytes().to_vec()
            )
            .with_note(
                XEN_ELFNOTE_PADDR_OFFSET,
                (BASE + 0x1000).to_le_bytes().to_vec()
            )),
        "bad PV kernel layout: VIRT_BASE lies above the kernel start"
    );
    assert_eq!(
        err(TestElf::pv().with_note(
            XEN_ELFNOTE_HYPERCALL_PAGE,
            (BASE + 0x10000).to_le_bytes().to_vec()
        )),
        "bad PV kernel layout: hypercall page outside the kernel"
    );
    assert_eq!(
        err(TestElf::pv().with_note(
            XEN_ELFNOTE_HYPERCALL_PAGE,
            (BASE + 0x1008).to_le_bytes().to_vec()
        )),
        "bad PV kernel layout: hypercall page is not page-aligned"
    );
    assert_eq!(
        err(TestElf::pv().with_note(XEN_ELFNOTE_ENTRY, vec![1, 2, 3])),
        "malformed Xen ELF note (type 1)"
    );
    let mut t = TestElf::pv();
    t.segs[0].memsz = 0x10;
    assert_eq!(err(t), "bad ELF header: segment p_filesz exceeds p_memsz");
    let mut t = TestElf::pv();
    t.segs.clear();
    assert_eq!(err(t), "ELF image has no loadable segments");
    let mut t = TestElf::pv();
    t.segs[1].memsz = u64::MAX;
    assert_eq!(
        err(t),
        "bad PV kernel layout: segment wraps around the address space"
    );
}

#[test]
fn out_of_bounds_offsets_are_errors() {
    let good = TestElf::pv().bytes();
    // Segment offset past the end.
    let mut b = good.clone();
    put64(&mut b, 64 + 8, good.len() as u64);
    assert_eq!(
        ElfImage::parse(&b).unwrap_err(),
        ElfError::OutOfBounds("segment")
    );
    // Offset + size overflowing.
    let mut b = good.clone();
    put64(&mut b, 64 + 8, u64::MAX - 4);
    assert_eq!(
        ElfImage::parse(&b).unwrap_err(),
        ElfError::OutOfBounds("segment")
    );
    // Program header table beyond the file.
    let mut b = good.clone();
    put64(&mut b, 32, u64::MAX - 10);
    assert_eq!(
        ElfImage::parse(&b).unwrap_err(),
        ElfError::OutOfBounds("program header table")
    );
    // Every truncation fails cleanly.
    for len in 0..good.len() {
        assert!(ElfImage::parse(&good[..len]).is_err(), "len {len}");
    }
}

#[test]
fn corruption_never_panics() {
    let good = TestElf::pv().bytes();
    let mut section = TestElf::pv();
    section.notes_in_section = true;
    let good2 = section.bytes();
    for base in [good, good2] {
        for i in 0..base.len().min(1200) {
            for v in [0u8, 0x7f, 0xff, 0x40] {
                let mut b = base.clone();
                b[i] = v;
                if let Ok(img) = ElfImage::parse(&b) {
                    for s in img.segments() {
                        assert!(s.data.len() as u64 <= s.memsz);
                    }
                }
            }
        }
    }
}
