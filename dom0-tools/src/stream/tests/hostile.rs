//! Images cut short and corrupted: each refused with the record, its offset and the rule.

use super::*;

fn refuse(image: &[u8]) -> StreamError {
    match read_all(image, LIMITS) {
        Ok(_) => panic!("a bad image was accepted"),
        Err(e) => e,
    }
}

#[test]
fn an_image_cut_at_any_offset_is_refused_as_truncated() {
    let (image, o) = tiny_image();
    for cut in 0..image.len() {
        let e = refuse(&image[..cut]);
        assert!(
            matches!(e.rule, Rule::Truncated { .. }),
            "cut at {cut}: {e}"
        );
        assert!(e.offset <= cut as u64, "cut at {cut}: {e}");
    }
    // Cut inside PAGE_DATA: the record and its offset are named.
    let e = refuse(&image[..o.pages + 100]);
    assert_eq!(e.place, Place::Record(Layer::Libxc, REC_PAGE_DATA));
    assert_eq!(e.offset, o.pages as u64);
    let text = alloc::format!("{e}");
    assert!(
        text.contains("PAGE_DATA") && text.contains("truncated"),
        "{text}"
    );
}

#[test]
fn octets_after_the_end_are_refused() {
    let (image, o) = tiny_image();
    let mut long = image.clone();
    long.push(0);
    let e = refuse(&long);
    assert_eq!((e.place, e.rule), (Place::AfterEnd, Rule::TrailingData));
    // A second libxc END reads as libxl's END: libxl's real END is then left over.
    let twice = splice(&image, o.libxc_end, 0, &record(REC_END, &[]));
    assert_eq!(refuse(&twice).rule, Rule::TrailingData);
    // Without libxc's END, the image ends inside libxl's layer.
    let missing = splice(&image, o.libxc_end, 8, &[]);
    assert!(matches!(refuse(&missing).rule, Rule::Truncated { .. }));
}

#[test]
fn corrupt_headers_are_refused() {
    let (image, o) = tiny_image();
    let ihdr = o.pv_info - 16 - 24;
    let libxl = ihdr - 8 - 16;
    let cases: &[(usize, &[u8], Rule)] = &[
        (0, b"Y", Rule::BadMagic("xl save-file magic")),
        (32, &[1, 2, 3, 4], Rule::BigEndian),
        (36, &[0x82], Rule::UnknownMandatoryFlags(0x80)),
        (36, &[0], Rule::Version(1)),
        (
            44,
            &[0],
            Rule::ConfigLength {
                optional: 0,
                config: 0,
            },
        ),
        (libxl, b"X", Rule::BadMagic("libxl stream ident")),
        (libxl + 11, &[3], Rule::Version(3)),
        (libxl + 15, &[1], Rule::BigEndian),
        (
            ihdr + 3,
            &[0],
            Rule::BadMagic("image header marker (a legacy image?)"),
        ),
        (ihdr + 8, b"Y", Rule::BadMagic("image header id")),
        (ihdr + 15, &[4], Rule::Version(4)),
        (ihdr + 17, &[1], Rule::BigEndian),
        (ihdr + 24, &[2], Rule::DomainType(2)),
        (ihdr + 28, &[13], Rule::PageShift(13)),
    ];
    for (at, bytes, rule) in cases {
        let bad = splice(&image, *at, bytes.len(), bytes);
        let Err(e) = read_all(&bad, LIMITS) else {
            panic!("octets at {at}: accepted")
        };
        assert_eq!(&e.rule, rule, "octets at {at}");
    }
}

#[test]
fn corrupt_records_are_refused_naming_record_offset_and_rule() {
    let (image, o) = tiny_image();
    let le = |v: u32| v.to_le_bytes();
    let page_len = 8 + 4 * 8 + 3 * 4096;
    // (where, new octets, expected record type, expected offset, rule check)
    type Check = fn(&Rule) -> bool;
    let cases: Vec<(usize, Vec<u8>, u32, usize, Check)> = vec![
        // An unknown mandatory type.
        (o.tsc, le(0x77).to_vec(), 0x77, o.tsc, |r| {
            *r == Rule::UnknownType
        }),
        // An HVM record in a PV stream.
        (
            o.tsc,
            le(REC_HVM_CONTEXT).to_vec(),
            REC_HVM_CONTEXT,
            o.tsc,
            |r| *r == Rule::Unsupported,
        ),
        // PAGE_DATA one entry longer than its count says.
        (
            o.pages + 4,
            le(page_len + 8).to_vec(),
            REC_PAGE_DATA,
            o.pages,
            |r| matches!(r, Rule::Length { .. }),
        ),
        // PAGE_DATA counting 5 pfns in a record that has 4: the first page's octets are
        // taken for the 5th entry, an L1 at a pfn far beyond the p2m.
        (o.pages + 8, le(5).to_vec(), REC_PAGE_DATA, o.pages, |r| {
            matches!(r, Rule::PfnBeyond { index: 4, .. })
        }),
        // ... or a count the whole length cannot hold.
        (
            o.pages + 8,
            le(page_len).to_vec(),
            REC_PAGE_DATA,
            o.pages,
            |r| matches!(r, Rule::Length { .. }),
        ),
        // PAGE_DATA with no pfns.
        (o.pages + 8, le(0).to_vec(), REC_PAGE_DATA, o.pages, |r| {
            *r == Rule::ZeroCount
        }),
        // A reserved page type (5).
        (o.pages + 16 + 7, vec![0x50], REC_PAGE_DATA, o.pages, |r| {
            *r == Rule::PageType {
                index: 0,
                nibble: 5,
            }
        }),
        // A pfn beyond the p2m (pfn 4 of a 4-pfn p2m).
        (o.pages + 16 + 8, vec![4], REC_PAGE_DATA, o.pages, |r| {
            *r == Rule::PfnBeyond {
                index: 1,
                pfn: 4,
                limit: 4,
            }
        }),
        // A p2m frame beyond the p2m.
        (o.p2m + 16, vec![9], REC_X86_PV_P2M_FRAMES, o.p2m, |r| {
            matches!(r, Rule::PfnBeyond { pfn: 9, .. })
        }),
        // A p2m bigger than the domain may have (8 pfns).
        (
            o.p2m + 12,
            le(8).to_vec(),
            REC_X86_PV_P2M_FRAMES,
            o.p2m,
            |r| matches!(r, Rule::P2mRange { .. }),
        ),
        // A 32-bit guest, 3 levels.
        (o.pv_info + 8, vec![4], REC_X86_PV_INFO, o.pv_info, |r| {
            *r == Rule::GuestWidth(4)
        }),
        (o.pv_info + 9, vec![3], REC_X86_PV_INFO, o.pv_info, |r| {
            *r == Rule::PtLevels(3)
        }),
        // A fixed-size record of the wrong size.
        (o.tsc + 4, le(16).to_vec(), REC_X86_TSC_INFO, o.tsc, |r| {
            matches!(r, Rule::Length { .. })
        }),
        // A length beyond the reader's limit: refused before reading (or allocating) it.
        (
            o.shared + 4,
            le(0x7fff_fff8).to_vec(),
            REC_SHARED_INFO,
            o.shared,
            |r| matches!(r, Rule::TooLong { .. }),
        ),
        // Non-zero padding after EXTENDED's 12 octets.
        (
            o.extended + 8 + 8 + 12 + 2,
            vec![1],
            REC_X86_PV_VCPU_EXTENDED,
            o.extended,
            |r| matches!(r, Rule::Padding(_)),
        ),
        // A vCPU beyond the domain's 2.
        (
            o.basic + 8,
            le(2).to_vec(),
            REC_X86_PV_VCPU_BASIC,
            o.basic,
            |r| *r == Rule::VcpuBeyond { vcpu: 2, max: 2 },
        ),
        // The same vCPU's BASIC twice (EXTENDED relabelled as BASIC).
        (
            o.extended,
            le(REC_X86_PV_VCPU_BASIC).to_vec(),
            REC_X86_PV_VCPU_BASIC,
            o.extended,
            |r| *r == Rule::Duplicate,
        ),
    ];
    // The message a user sees (docs/design.md quotes it).
    let bad = splice(&image, o.pages + 16 + 8, 1, &[4]);
    assert_eq!(
        alloc::format!("{}", refuse(&bad)),
        "libxc PAGE_DATA record (type 0x1) at offset 0xbd: entry 1 names pfn 0x4, \
         beyond the domain's 0x4 pfns"
    );
    for (at, bytes, rtype, offset, check) in cases {
        let bad = splice(&image, at, bytes.len(), &bytes);
        let e = refuse(&bad);
        assert_eq!(
            e.place,
            Place::Record(Layer::Libxc, rtype),
            "octets at {at}: {e}"
        );
        assert_eq!(e.offset, offset as u64, "octets at {at}: {e}");
        assert!(check(&e.rule), "octets at {at}: {e}");
    }
}

#[test]
fn records_out_of_order_or_missing_are_refused() {
    let (image, o) = tiny_image();
    let rec = |from: usize, to: usize| image[from..to].to_vec();
    let pv_info = rec(o.pv_info, o.static_end);
    let p2m = rec(o.p2m, o.pages);
    let pages = rec(o.pages, o.tsc);
    let shared = rec(o.shared, o.basic);
    let basic = rec(o.basic, o.extended);
    let extended = rec(o.extended, o.libxc_end);
    let order = |r: &Rule| matches!(r, Rule::Order(_));
    type Check = fn(&Rule) -> bool;
    // (image, record refused, its offset, rule check)
    let cases: Vec<(Vec<u8>, u32, usize, Check)> = vec![
        // PAGE_DATA before X86_PV_P2M_FRAMES.
        (
            splice(&image, o.p2m, 0, &pages),
            REC_PAGE_DATA,
            o.p2m,
            order,
        ),
        // X86_PV_P2M_FRAMES before STATIC_DATA_END.
        (
            splice(&image, o.static_end, 0, &p2m),
            REC_X86_PV_P2M_FRAMES,
            o.static_end,
            order,
        ),
        // X86_PV_INFO again after the static data.
        (
            splice(&image, o.p2m, 0, &pv_info),
            REC_X86_PV_INFO,
            o.p2m,
            order,
        ),
        // PAGE_DATA after the vCPUs.
        (
            splice(&image, o.libxc_end, 0, &pages),
            REC_PAGE_DATA,
            o.libxc_end,
            order,
        ),
        // SHARED_INFO twice.
        (
            splice(&image, o.basic, 0, &shared),
            REC_SHARED_INFO,
            o.basic,
            |r| *r == Rule::Duplicate,
        ),
        // EXTENDED before the vCPU's BASIC.
        (
            splice(&image, o.basic, 0, &extended),
            REC_X86_PV_VCPU_EXTENDED,
            o.basic,
            order,
        ),
        // END without SHARED_INFO, without vCPU 0.
        (
            splice(&image, o.shared, shared.len(), &[]),
            REC_END,
            o.libxc_end - shared.len(),
            |r| *r == Rule::Missing("SHARED_INFO"),
        ),
        (
            splice(&image, o.basic, basic.len() + extended.len(), &[]),
            REC_END,
            o.basic,
            |r| *r == Rule::Missing("X86_PV_VCPU_BASIC for vCPU 0"),
        ),
    ];
    for (i, (bad, rtype, offset, check)) in cases.into_iter().enumerate() {
        let e = refuse(&bad);
        assert_eq!(e.place, Place::Record(Layer::Libxc, rtype), "case {i}: {e}");
        assert_eq!(e.offset, offset as u64, "case {i}: {e}");
        assert!(check(&e.rule), "case {i}: {e}");
    }
    // libxl's layer: a second LIBXC_CONTEXT, an emulator record.
    let twice = splice(
        &image,
        o.libxl_end,
        0,
        &record(LIBXL_REC_LIBXC_CONTEXT, &[]),
    );
    let e = refuse(&twice);
    assert_eq!(
        (e.place, e.rule),
        (Place::Record(Layer::Libxl, 1), Rule::Duplicate)
    );
    let emu = splice(
        &image,
        o.libxl_end,
        0,
        &record(LIBXL_REC_EMULATOR_CONTEXT, &[0; 8]),
    );
    assert_eq!(refuse(&emu).rule, Rule::Unsupported);
}

#[test]
fn the_writer_refuses_what_the_reader_would() {
    let info = ImageInfo {
        config: CONFIG,
        json: false,
        xen_major: 4,
        xen_minor: 17,
    };
    let mut w = StreamWriter::new(Vec::new(), LIMITS, &info).unwrap();
    let e = w.p2m_frames(0, 3, &[2]).unwrap_err();
    assert!(matches!(e.rule, Rule::Order(_)), "{e}");
    w.pv_info(8, 4).unwrap();
    w.static_data_end().unwrap();
    assert!(matches!(
        w.p2m_frames(0, 3, &[2, 3]).unwrap_err().rule,
        Rule::Length { .. }
    ));
    w.p2m_frames(0, 3, &[2]).unwrap();
    let e = w
        .page_data(&[pfn_entry(7, PageType::NoTab)], &[0; PAGE_SIZE])
        .unwrap_err();
    assert!(matches!(e.rule, Rule::PfnBeyond { pfn: 7, .. }), "{e}");
    let e = w
        .page_data(&[pfn_entry(1, PageType::NoTab)], &[])
        .unwrap_err();
    assert!(matches!(e.rule, Rule::Length { .. }), "{e}");
    let e = w.vcpu(REC_X86_PV_VCPU_BASIC, 0, &[0; 100]).unwrap_err();
    assert!(matches!(e.rule, Rule::Length { .. }), "{e}");
    let e = w.finish().unwrap_err();
    assert_eq!(e.place, Place::Record(Layer::Libxc, REC_END));
    assert!(matches!(e.rule, Rule::Missing(_)), "{e}");
}

#[test]
fn a_refused_image_is_not_read_on() {
    let (image, o) = tiny_image();
    let bad = splice(&image, o.tsc, 4, &0x77u32.to_le_bytes());
    let mut r = StreamReader::new(&bad[..], LIMITS);
    let first = loop {
        match r.next_item() {
            Ok(_) => continue,
            Err(e) => break e,
        }
    };
    assert_eq!(first.rule, Rule::UnknownType);
    for _ in 0..3 {
        let again = r.next_item().unwrap_err();
        assert_eq!((again.place, again.offset), (first.place, first.offset));
        assert_eq!(again.rule, Rule::Refused);
    }
    assert_eq!(
        r.finish().unwrap_err().rule,
        Rule::Missing("libxl's END record")
    );
}
