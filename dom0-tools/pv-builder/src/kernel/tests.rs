use super::*;
use crate::bzimage::testimg::{bzimage, compress, TestBzImage, FORMATS};
use crate::elf::testimg::TestElf;
use crate::elf::ElfImage;
use alloc::string::ToString;
use alloc::vec::Vec;

/// What the builder uses of an image, to compare two.
fn summary(img: &ElfImage<'_>) -> String {
    let segs: Vec<_> = img.segments().collect();
    alloc::format!(
        "{:?} {:#x} {:#x} {:#x} {segs:?}",
        img.notes,
        img.virt_kstart,
        img.virt_kend,
        img.entry()
    )
}

fn err(bytes: &[u8]) -> KernelError {
    kernel_elf(bytes).expect_err("refused")
}

#[test]
fn a_plain_elf_passes_through_without_a_copy() {
    let elf = TestElf::pv().bytes();
    let got = kernel_elf(&elf).unwrap();
    assert!(matches!(got, Cow::Borrowed(b) if core::ptr::eq(b, elf.as_slice())));
}

#[test]
fn every_format_round_trips_to_the_same_image() {
    let elf = TestElf::pv().bytes();
    let want = summary(&ElfImage::parse(&elf).unwrap());
    for format in FORMATS {
        let bz = bzimage(format, &elf);
        let got = kernel_elf(&bz).unwrap_or_else(|e| panic!("{format}: {e}"));
        assert!(matches!(got, Cow::Owned(_)), "{format}");
        assert_eq!(&*got, elf.as_slice(), "{format}");
        assert_eq!(summary(&ElfImage::parse(&got).unwrap()), want, "{format}");
    }
}

/// The test kernel with `text` bytes of text.
fn big_elf(text: usize) -> Vec<u8> {
    let mut t = TestElf::pv();
    t.segs[0].data = noise(text);
    t.segs[0].memsz = text as u64;
    t.segs[1].paddr += text as u64;
    t.segs[1].vaddr += text as u64;
    t.bytes()
}

#[test]
fn large_kernels_round_trip_in_every_format() {
    // Many output chunks in every format; more than one 8 MiB block in lz4's.
    for format in FORMATS {
        let elf = big_elf(if format == Compression::Lz4 {
            9 << 20
        } else {
            2 << 20
        });
        let bz = bzimage(format, &elf);
        let got = kernel_elf(&bz).unwrap_or_else(|e| panic!("{format}: {e}"));
        assert!(got[..] == elf[..], "{format}");
    }
}

#[test]
fn setup_sects_zero_means_four() {
    let elf = TestElf::pv().bytes();
    let mut bz = TestBzImage::new(compress(Compression::Gzip, &elf));
    bz.setup_sects = 0;
    assert_eq!(bz.payload_start(), 5 * 512 + 0x80);
    let bytes = bz.bytes();
    let parsed = BzImage::parse(&bytes).unwrap();
    assert_eq!(parsed.setup_sects, 4);
    assert_eq!(parsed.payload_start, 5 * 512 + 0x80);
    assert_eq!(&*kernel_elf(&bytes).unwrap(), elf.as_slice());
}

#[test]
fn neither_elf_nor_bzimage() {
    assert_eq!(err(b"name = \"domu\"\n"), KernelError::NotKernel);
    assert_eq!(err(&[]), KernelError::NotKernel);
    assert_eq!(err(b"hello").to_string(), "not an ELF file nor a bzImage");
}

#[test]
fn bzimage_header_errors() {
    let payload = compress(Compression::Xz, &TestElf::pv().bytes());
    // Protocol 2.07: no payload fields.
    let mut bz = TestBzImage::new(payload.clone());
    bz.version = 0x0207;
    let e = err(&bz.bytes());
    assert_eq!(
        e,
        KernelError::BzImage(BzImageError::TooOld { version: 0x0207 })
    );
    assert_eq!(
        e.to_string(),
        "bzImage boot protocol 2.07 is too old: need 2.08 or later (payload_offset)"
    );
    // The file ends inside the header.
    let bytes = TestBzImage::new(payload.clone()).bytes();
    assert_eq!(
        err(&bytes[..0x240]).to_string(),
        "truncated bzImage: 576 bytes, the setup header needs 592"
    );
    // Payloads out of bounds: one byte too long, an offset past the end, offsets that
    // would overflow, an empty payload.
    let len = payload.len() as u32;
    for (offset, length) in [
        (0x80, len + 0x41),
        (0x10_0000, len),
        (u32::MAX, u32::MAX),
        (0x80, 0),
    ] {
        let mut bz = TestBzImage::new(payload.clone());
        bz.payload_offset = 0x80;
        let mut bytes = bz.bytes();
        bytes[0x248..0x24C].copy_from_slice(&offset.to_le_bytes());
        bytes[0x24C..0x250].copy_from_slice(&length.to_le_bytes());
        let e = err(&bytes);
        assert!(
            matches!(
                e,
                KernelError::BzImage(BzImageError::PayloadOutOfBounds { .. })
            ),
            "{offset:#x}+{length:#x}: {e:?}"
        );
    }
    let mut bz = TestBzImage::new(payload);
    bz.payload_length = Some(len + 0x41);
    let file = bz.bytes().len();
    assert_eq!(
        err(&bz.bytes()).to_string(),
        alloc::format!(
            "bzImage payload out of bounds: {} bytes at offset 1152 in a file of {file} bytes",
            len + 0x41
        )
    );
}

#[test]
fn unknown_and_unsupported_compression() {
    let e = err(&TestBzImage::new(b"\x12\x34\x56\x78 whatever".to_vec()).bytes());
    assert_eq!(
        e.to_string(),
        "bzImage: unknown compression (payload begins 12 34 56 78)"
    );
    let e = err(&TestBzImage::new(b"\x89LZO\0\r\n\x1a\n".to_vec()).bytes());
    assert_eq!(
        e,
        KernelError::Decompress(DecompressError::Unsupported(Compression::Lzo))
    );
    assert_eq!(e.to_string(), "bzImage: unsupported compression: lzo");
    // bzip2 is decoded: a block header followed by garbage is corrupt data, not a format
    // refused (the size trailer, 64 bytes, is within the limits).
    let mut fake = b"BZh91AY&SY rest of a bzip2 stream".to_vec();
    fake.extend_from_slice(&64u32.to_le_bytes());
    let e = err(&TestBzImage::new(fake).bytes());
    assert!(
        e.to_string().starts_with("bzImage: corrupt bzip2 data: "),
        "{e}"
    );
}

#[test]
fn a_payload_that_is_not_an_elf() {
    for format in FORMATS {
        let e = err(&bzimage(format, b"just some bytes, not a kernel"));
        assert_eq!(e, KernelError::PayloadNotElf { format });
        assert_eq!(
            e.to_string(),
            alloc::format!("bzImage: its {format} payload is not an ELF file")
        );
    }
}

#[test]
fn a_bzimage_of_a_kernel_without_xen_notes_is_refused_by_the_elf_loader() {
    let mut t = TestElf::pv();
    t.notes.clear();
    let bz = bzimage(Compression::Xz, &t.bytes());
    let elf = kernel_elf(&bz).unwrap();
    assert_eq!(
        ElfImage::parse(&elf).unwrap_err().to_string(),
        "no Xen ELF notes: not a PV kernel"
    );
}

/// `n` bytes that compress (6 bits of entropy each) without long repeats.
fn noise(n: usize) -> Vec<u8> {
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 58) as u8
        })
        .collect()
}

#[test]
fn a_bzimage_cut_anywhere_is_refused() {
    let bytes = bzimage(Compression::Xz, &TestElf::pv().bytes());
    let whole = kernel_elf(&bytes).unwrap().into_owned();
    let payload_end = TestBzImage::new(compress(Compression::Xz, &TestElf::pv().bytes()))
        .payload_start()
        + compress(Compression::Xz, &TestElf::pv().bytes()).len();
    for cut in 0..bytes.len() {
        match kernel_elf(&bytes[..cut]) {
            Ok(elf) => assert!(cut >= payload_end && elf[..] == whole[..], "cut at {cut}"),
            Err(e) => assert!(cut < payload_end, "cut at {cut}: {e}"),
        }
    }
}
