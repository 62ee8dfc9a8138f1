use super::*;
use crate::bzimage::testimg::{compress, compress_small, FORMATS};
use crate::elf::testimg::TestElf;
use alloc::string::ToString;
use alloc::vec;

/// Linux's payload for `data`: the stream and the size trailer, as the claim says.
fn payload(format: Compression, data: &[u8]) -> (Vec<u8>, Option<u32>) {
    let p = compress(format, data);
    let claim = u32::from_le_bytes(p[p.len() - 4..].try_into().unwrap());
    (p, Some(claim))
}

/// The stream alone (gzip's trailer is its own).
fn stream(format: Compression, data: &[u8]) -> Vec<u8> {
    let mut p = compress(format, data);
    if format != Compression::Gzip {
        p.truncate(p.len() - 4);
    }
    p
}

fn noise(n: usize) -> Vec<u8> {
    let mut x = 0x2545_F491_4F6C_DD1Du64;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 58) as u8
        })
        .collect()
}

const SMALL: Limits = Limits {
    max_output: 1 << 20,
    max_memory: 16 << 20,
};

#[test]
fn formats_are_told_by_their_magic() {
    for (bytes, want) in [
        (&[0x1F, 0x8B, 8][..], Some(Compression::Gzip)),
        (b"BZh9", Some(Compression::Bzip2)),
        (&[0x5D, 0, 0, 0x80], Some(Compression::Lzma)),
        (b"\xFD7zXZ\0\0\x01", Some(Compression::Xz)),
        (b"\x89LZO\0", Some(Compression::Lzo)),
        (&[0x02, 0x21, 0x4C, 0x18], Some(Compression::Lz4)),
        (&[0x28, 0xB5, 0x2F, 0xFD], Some(Compression::Zstd)),
        (&[0x04, 0x22, 0x4D, 0x18], None),
        (b"\xFD7zX", None),
        (b"", None),
    ] {
        assert_eq!(Compression::detect(bytes), want, "{bytes:02x?}");
    }
    assert_eq!(
        decompress(b"\x7fEL", None, Limits::default())
            .unwrap_err()
            .to_string(),
        "unknown compression (payload begins 7f 45 4c)"
    );
}

#[test]
fn every_format_decompresses_without_a_claimed_size() {
    // Several chunks, and the buffer grows from its first megabyte.
    let data = noise(3 << 19);
    for format in FORMATS {
        let (f, got) = decompress(&stream(format, &data), None, Limits::default())
            .unwrap_or_else(|e| panic!("{format}: {e}"));
        assert_eq!(f, format);
        assert!(got == data, "{format}");
    }
}

#[test]
fn a_stream_cut_short_is_truncated() {
    let data = TestElf::pv().bytes();
    for format in FORMATS {
        let s = stream(format, &data);
        // (lzma's last byte is not needed to decode it: its end marker ends it.)
        let last = if format == Compression::Lzma { 2 } else { 1 };
        for cut in [8, 12, s.len() / 2, s.len() - last] {
            let got = decompress(&s[..cut], None, Limits::default()).map(|_| ());
            assert_eq!(
                got,
                Err(DecompressError::Truncated { format }),
                "{format} cut at {cut} of {}",
                s.len()
            );
        }
    }
    assert_eq!(
        DecompressError::Truncated {
            format: Compression::Xz
        }
        .to_string(),
        "truncated xz data: the payload ends inside the stream"
    );
}

/// Truncated at every offset and corrupted at every offset: never a panic, and never the
/// wrong bytes where a format has a check.
#[test]
fn hostile_payloads_never_panic() {
    let data = TestElf::pv().bytes();
    for format in FORMATS {
        let p = compress_small(format, &data);
        let claim = Some(data.len() as u32);
        for cut in 0..p.len() {
            // With the claim the whole payload makes, and (less often) with none.
            let hints: &[Option<u32>] = if cut % 8 == 0 {
                &[claim, None]
            } else {
                &[claim]
            };
            for &hint in hints {
                match decompress(&p[..cut], hint, SMALL) {
                    Err(_) => {}
                    // The cut took only what follows the stream (the size trailer, or
                    // the last byte of an lzma stream, which its end marker makes moot);
                    // or a legacy lz4 frame, which ends where the data does, ends at a
                    // block's end with a prefix of the output.
                    Ok((_, got)) => assert!(
                        got == data || (format == Compression::Lz4 && data.starts_with(&got)),
                        "{format} cut at {cut} decompressed to wrong data"
                    ),
                }
            }
        }
        let mut bad = p.clone();
        for at in 0..p.len() {
            let flip = [0x01, 0x80, 0xFF][at % 3];
            bad[at] ^= flip;
            if let Ok((_, got)) = decompress(&bad, claim, SMALL) {
                // Only formats without a check on their data (lz4, lzma) may decompress
                // to wrong bytes; the others only where the flip is not in the data
                // (gzip's header, the size trailer, ...).
                assert!(
                    got == data || matches!(format, Compression::Lz4 | Compression::Lzma),
                    "{format}: byte {at} ^ {flip:#x} decompressed to wrong data"
                );
            }
            bad[at] ^= flip;
        }
    }
}

#[test]
fn the_output_limit() {
    let data = TestElf::pv().bytes();
    let limits = Limits {
        max_output: 8 << 10,
        max_memory: 64 << 20,
    };
    for format in FORMATS {
        // Its size trailer says too much: refused before decompressing.
        let (p, claim) = payload(format, &data);
        assert_eq!(
            decompress(&p, claim, limits),
            Err(DecompressError::TooLarge {
                format,
                size: Some(data.len() as u64),
                limit: 8 << 10
            }),
            "{format}"
        );
        // It says nothing, or too little: refused where the output reaches the limit
        // (zstd's decoder, counted from the size, stops there).
        for hint in [None, Some(100)] {
            let e = decompress(&p, hint, limits).unwrap_err();
            if format == Compression::Zstd && hint.is_some() {
                assert_eq!(
                    e.to_string(),
                    "corrupt zstd data: it decompresses to more than the 100 bytes its size \
                     trailer says"
                );
            } else {
                assert_eq!(
                    e,
                    DecompressError::TooLarge {
                        format,
                        size: None,
                        limit: 8 << 10
                    },
                    "{format} {hint:?}"
                );
            }
        }
    }
    assert_eq!(
        decompress(
            &payload(Compression::Xz, &data).0,
            Some(300 << 20),
            Limits::default()
        )
        .unwrap_err()
        .to_string(),
        "the xz payload's size trailer says it decompresses to 300 MiB, more than the limit of \
         256 MiB"
    );
    assert_eq!(
        decompress(&payload(Compression::Gzip, &data).0, None, limits)
            .unwrap_err()
            .to_string(),
        "the gzip payload decompresses to more than the limit of 8192 bytes"
    );
}

#[test]
fn the_memory_limit_counts_the_decoders_buffers() {
    let data = TestElf::pv().bytes();
    let n = data.len() as u64 + (64 << 10);
    for (format, what, limit) in [
        (Compression::Xz, "the xz dictionary", 1 << 20),
        (Compression::Lzma, "the lzma dictionary", 1 << 20),
        (Compression::Zstd, "the zstd window", 1 << 20),
        (Compression::Bzip2, "bzip2's block buffer", 1 << 20),
    ] {
        let (p, claim) = payload(format, &data);
        let limits = Limits {
            max_output: 1 << 20,
            max_memory: limit,
        };
        match decompress(&p, claim, limits) {
            Err(DecompressError::OverMemory {
                format: f,
                output,
                what: w,
                decoder,
                limit: l,
            }) => {
                assert_eq!((f, w, l), (format, what, limit), "{format}");
                assert_eq!(output, n, "{format}: the output's buffer");
                assert!(output + decoder > limit as u64, "{format}");
            }
            other => panic!("{format}: {other:?}"),
        }
    }
    // The kernel alone is more than the limit.
    let (p, claim) = payload(Compression::Xz, &data);
    let e = decompress(
        &p,
        claim,
        Limits {
            max_output: 1 << 20,
            max_memory: 4096,
        },
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        alloc::format!(
            "decompressing the xz payload needs {} bytes for the kernel, more than the 4096 \
             bytes allowed",
            data.len()
        )
    );
    let e = DecompressError::OverMemory {
        format: Compression::Xz,
        output: 66_000_000,
        what: "the xz dictionary",
        decoder: 32 << 20,
        limit: 64 << 20,
    };
    assert!(e.is_memory());
    assert_eq!(
        e.to_string(),
        "decompressing the xz payload needs 95 MiB (63 MiB for the kernel, 32 MiB for the xz \
         dictionary), more than the 64 MiB allowed"
    );
}

#[test]
fn gzip_headers_and_trailers() {
    let data = TestElf::pv().bytes();
    let deflated = miniz_oxide::deflate::compress_to_vec(&data, 6);
    let crc = crc32fast::hash(&data);
    // FEXTRA, FNAME, FCOMMENT and FHCRC all present.
    let mut g = vec![0x1F, 0x8B, 8, 0x1E, 0, 0, 0, 0, 0, 3];
    g.extend_from_slice(&[3, 0, b'a', b'b', b'c']);
    g.extend_from_slice(b"vmlinux\0a comment\0");
    g.extend_from_slice(&[0x12, 0x34]);
    g.extend_from_slice(&deflated);
    g.extend_from_slice(&crc.to_le_bytes());
    g.extend_from_slice(&(data.len() as u32).to_le_bytes());
    assert!(decompress(&g, None, Limits::default()).unwrap().1 == data);
    // A wrong CRC, a wrong size, another method, reserved flags.
    let n = g.len();
    let mut bad = g.clone();
    bad[n - 8] ^= 1;
    assert_eq!(
        decompress(&bad, None, Limits::default())
            .unwrap_err()
            .to_string(),
        alloc::format!(
            "corrupt gzip data: CRC32 {crc:08x} of the data is not the {:08x} recorded",
            crc ^ 1
        )
    );
    let mut bad = g.clone();
    bad[n - 4] ^= 1;
    assert_eq!(
        decompress(&bad, None, Limits::default())
            .unwrap_err()
            .to_string(),
        alloc::format!(
            "corrupt gzip data: {} bytes decompressed, the trailer records {} (modulo 2^32)",
            data.len(),
            data.len() ^ 1
        )
    );
    let mut bad = g.clone();
    bad[2] = 7;
    assert_eq!(
        decompress(&bad, None, Limits::default())
            .unwrap_err()
            .to_string(),
        "corrupt gzip data: compression method 7 is not deflate (8)"
    );
    bad[2] = 8;
    bad[3] |= 0x20;
    assert_eq!(
        decompress(&bad, None, Limits::default())
            .unwrap_err()
            .to_string(),
        "corrupt gzip data: reserved header flags are set"
    );
}

#[test]
fn lz4_legacy_frames() {
    let data = TestElf::pv().bytes();
    let (p, claim) = payload(Compression::Lz4, &data);
    // Two streams, one after the other (each with its magic).
    let s = stream(Compression::Lz4, &data);
    let mut two = s.clone();
    two.extend_from_slice(&s);
    let mut twice = data.clone();
    twice.extend_from_slice(&data);
    assert!(decompress(&two, None, Limits::default()).unwrap().1 == twice);
    // A size trailer that is not the output's size: the data ends after a block size.
    let mut bad = p.clone();
    let n = bad.len();
    bad[n - 1] ^= 0x01;
    assert_eq!(
        decompress(&bad, claim, Limits::default()),
        Err(DecompressError::Truncated {
            format: Compression::Lz4
        })
    );
    // A block larger than the legacy frame allows.
    let mut bad = p;
    bad[4..8].copy_from_slice(&(9u32 << 20).to_le_bytes());
    assert!(matches!(
        decompress(&bad, claim, Limits::default()),
        Err(DecompressError::Corrupt { .. })
    ));
}

#[test]
fn bzip2_block_sizes_and_trailers() {
    let data = noise(300_000);
    // Every block size decodes (level 1: 100 kB blocks, so three of them here).
    for level in [1, 9] {
        let mut p = if level == 1 {
            compress_small(Compression::Bzip2, &data)
        } else {
            compress(Compression::Bzip2, &data)
        };
        assert_eq!(&p[..4], [b'B', b'Z', b'h', b'0' + level]);
        let (f, got) = decompress(&p, None, Limits::default()).unwrap();
        assert_eq!((f, got.len()), (Compression::Bzip2, data.len()));
        assert!(got == data, "level {level}");
        // A size trailer that disagrees, and bytes that are no trailer.
        let n = p.len();
        p[n - 4..].copy_from_slice(&5u32.to_le_bytes());
        let e = decompress(&p, None, Limits::default()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "corrupt bzip2 data: its size trailer says 5 bytes, the stream holds 300000"
        );
        p.push(0);
        let e = decompress(&p, None, Limits::default()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "corrupt bzip2 data: 5 bytes after the end of the stream"
        );
    }
    // A block size that is not 1-9.
    let mut p = compress(Compression::Bzip2, &data);
    p[3] = b'0';
    let e = decompress(&p, None, Limits::default()).unwrap_err();
    assert_eq!(
        e.to_string(),
        "corrupt bzip2 data: the header's block size is not 1 to 9"
    );
    // A flipped bit inside a block fails its CRC (or its decoding), never passes.
    let mut p = compress(Compression::Bzip2, &data);
    p[200] ^= 0x10;
    let e = decompress(&p, None, Limits::default()).unwrap_err();
    assert!(e.to_string().starts_with("corrupt bzip2 data: "), "{e}");
}
