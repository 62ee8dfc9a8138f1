use super::*;

#[test]
fn the_tiny_image_reads_back_as_written() {
    let (image, _) = tiny_image();
    let items = read_all(&image, LIMITS).unwrap();
    let (entries, pages) = tiny_pages();
    let mut data = pages.chunks(PAGE_SIZE);
    let expected_pages = entries
        .iter()
        .map(|&e| {
            let (pfn, n) = split_pfn_entry(e);
            let t = PageType::from_nibble(n).unwrap();
            (
                pfn,
                t,
                if t.has_data() {
                    data.next().map(|d| d.to_vec())
                } else {
                    None
                },
            )
        })
        .collect();
    let want = vec![
        Owned::Config(false, CONFIG.to_vec()),
        Owned::Begin(3, 4, 17),
        Owned::PvInfo(8, 4),
        Owned::StaticEnd,
        Owned::P2m(0, 3, vec![2]),
        Owned::Pages(expected_pages),
        Owned::Tsc(tiny_tsc()),
        Owned::Shared(vec![0x5a; PAGE_SIZE]),
        Owned::Vcpu(REC_X86_PV_VCPU_BASIC, 0, tiny_context()),
        Owned::Vcpu(REC_X86_PV_VCPU_EXTENDED, 0, EXTENDED.to_vec()),
        Owned::LibxcEnd,
        Owned::End,
    ];
    assert_eq!(items, want);
}

#[test]
fn policies_msrs_and_optional_records_round_trip() {
    let info = ImageInfo {
        config: b"{}",
        json: true,
        xen_major: 4,
        xen_minor: 17,
    };
    let limits = Limits::new(2048, 2);
    let mut w = StreamWriter::new(Vec::new(), limits, &info).unwrap();
    w.pv_info(8, 4).unwrap();
    let leaf = CpuidLeaf {
        leaf: 7.into(),
        subleaf: 0.into(),
        a: 1.into(),
        b: 2.into(),
        c: 3.into(),
        d: 4.into(),
    };
    w.cpuid_policy(&[leaf, leaf]).unwrap();
    let msr = MsrEntry {
        idx: 0xc000_0080.into(),
        flags: 0.into(),
        val: 0x501.into(),
    };
    w.msr_policy(&[msr]).unwrap();
    w.static_data_end().unwrap();
    w.p2m_frames(0, 1023, &[0, 1]).unwrap();
    w.page_data(&[pfn_entry(1000, PageType::XAlloc)], &[])
        .unwrap();
    w.shared_info(&[0; PAGE_SIZE]).unwrap();
    w.vcpu(REC_X86_PV_VCPU_BASIC, 1, &[0; 5168]).unwrap();
    w.vcpu(REC_X86_PV_VCPU_BASIC, 0, &[0; 5168]).unwrap();
    w.vcpu(REC_X86_PV_VCPU_MSRS, 1, msr.as_bytes()).unwrap();
    w.vcpu(REC_X86_PV_VCPU_XSAVE, 1, &[]).unwrap();
    let image = w.finish().unwrap();
    let items = read_all(&image, limits).unwrap();
    assert_eq!(items[0], Owned::Config(true, b"{}".to_vec()));
    assert_eq!(items[3], Owned::Cpuid(2));
    assert_eq!(items[4], Owned::Msr(1));
    assert_eq!(items[6], Owned::P2m(0, 1023, vec![0, 1]));
    assert_eq!(items[7], Owned::Pages(vec![(1000, PageType::XAlloc, None)]));
    assert_eq!(
        items[11],
        Owned::Vcpu(REC_X86_PV_VCPU_MSRS, 1, msr.as_bytes().to_vec())
    );

    // An optional record of either layer is skipped, a mandatory unknown one is not.
    let (tiny, o) = tiny_image();
    let opt = record(0x8000_0042, b"ignore me");
    let with = splice(&tiny, o.tsc, 0, &opt);
    let items = read_all(&with, LIMITS).unwrap();
    assert!(items.contains(&Owned::Skipped(Layer::Libxc, 0x8000_0042)));
    let with = splice(&tiny, o.libxl_end, 0, &opt);
    let items = read_all(&with, LIMITS).unwrap();
    assert!(items.contains(&Owned::Skipped(Layer::Libxl, 0x8000_0042)));
}

#[test]
fn a_version_2_stream_implies_static_data_end() {
    let (image, o) = tiny_image();
    let mut v2 = splice(&image, o.static_end, 8, &[]);
    let ihdr = o.pv_info - 16 - 24;
    v2[ihdr + 12..ihdr + 16].copy_from_slice(&2u32.to_be_bytes());
    let items = read_all(&v2, LIMITS).unwrap();
    assert_eq!(items[1], Owned::Begin(2, 4, 17));
    assert!(!items.contains(&Owned::StaticEnd));
    assert_eq!(items[3], Owned::P2m(0, 3, vec![2]));
    // ... but STATIC_DATA_END is not a version 2 record.
    let mut bad = image.clone();
    bad[ihdr + 12..ihdr + 16].copy_from_slice(&2u32.to_be_bytes());
    let e = read_all(&bad, LIMITS).unwrap_err();
    assert_eq!(e.place, Place::Record(Layer::Libxc, REC_STATIC_DATA_END));
    assert!(matches!(e.rule, Rule::Order(_)), "{e}");
}

#[cfg(feature = "std")]
#[test]
fn an_image_goes_through_a_file() {
    use std::io::{BufReader, BufWriter};
    let path = std::env::temp_dir().join(alloc::format!("stream-test-{}.img", std::process::id()));
    let file = std::fs::File::create(&path).unwrap();
    let info = ImageInfo {
        config: CONFIG,
        json: false,
        xen_major: 4,
        xen_minor: 17,
    };
    let mut w = StreamWriter::new(IoSink(BufWriter::new(file)), LIMITS, &info).unwrap();
    w.pv_info(8, 4).unwrap();
    w.static_data_end().unwrap();
    w.p2m_frames(0, 3, &[2]).unwrap();
    let (entries, pages) = tiny_pages();
    w.page_data(&entries, &pages).unwrap();
    w.shared_info(&[1; PAGE_SIZE]).unwrap();
    w.vcpu(REC_X86_PV_VCPU_BASIC, 0, &tiny_context()).unwrap();
    let IoSink(buf) = w.finish().unwrap();
    drop(buf.into_inner().unwrap());
    let file = std::fs::File::open(&path).unwrap();
    let mut r = StreamReader::new(IoSource(BufReader::new(file)), LIMITS);
    let mut pages_seen = 0;
    loop {
        match r.next_item().unwrap() {
            Item::PageData(b) => pages_seen += b.len(),
            Item::End => break,
            _ => {}
        }
    }
    r.finish().unwrap();
    std::fs::remove_file(&path).unwrap();
    assert_eq!(pages_seen, 4);
}

#[test]
fn limits_follow_the_configuration_read_first() {
    let (image, o) = tiny_image();
    // Generous limits for the header; the configuration then allows 2 pfns only.
    let mut r = StreamReader::new(&image[..], Limits::new(1 << 20, 8));
    assert!(matches!(r.next_item().unwrap(), Item::Config { .. }));
    r.set_limits(Limits::new(2, 1)).unwrap();
    assert!(matches!(r.next_item().unwrap(), Item::LibxcBegin { .. }));
    assert!(
        r.set_limits(LIMITS).is_err(),
        "too late once the domain's stream began"
    );
    let e = loop {
        if let Err(e) = r.next_item() {
            break e;
        }
    };
    assert_eq!(e.place, Place::Record(Layer::Libxc, REC_X86_PV_P2M_FRAMES));
    assert_eq!(
        (e.offset, e.rule),
        (o.p2m as u64, Rule::P2mRange { start: 0, end: 3 })
    );
}

#[test]
fn a_failing_sink_stops_the_writer_naming_the_record() {
    /// Accepts `left` octets, then fails.
    struct Short {
        left: usize,
    }
    impl ByteSink for Short {
        fn write_all(&mut self, buf: &[u8]) -> Result<(), alloc::string::String> {
            if buf.len() > self.left {
                return Err("disk full".into());
            }
            self.left -= buf.len();
            Ok(())
        }
    }
    let (_, o) = tiny_image();
    let info = ImageInfo {
        config: CONFIG,
        json: false,
        xen_major: 4,
        xen_minor: 17,
    };
    let mut w = StreamWriter::new(
        Short {
            left: o.pages + 100,
        },
        LIMITS,
        &info,
    )
    .unwrap();
    w.pv_info(8, 4).unwrap();
    w.static_data_end().unwrap();
    w.p2m_frames(0, 3, &[2]).unwrap();
    let (entries, pages) = tiny_pages();
    let e = w.page_data(&entries, &pages).unwrap_err();
    assert_eq!(e.place, Place::Record(Layer::Libxc, REC_PAGE_DATA));
    assert_eq!(
        (e.offset, e.rule.clone()),
        (o.pages as u64, Rule::Sink("disk full".into()))
    );
    assert!(alloc::format!("{e}").contains("writing the image failed: disk full"));
    // The header is too long for a 10-octet sink.
    let e = StreamWriter::new(Short { left: 10 }, LIMITS, &info)
        .err()
        .unwrap();
    assert_eq!(
        (e.place, e.offset),
        (Place::Header("xl save-file header"), 0)
    );
}
