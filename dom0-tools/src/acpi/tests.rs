//! The tables of a real microvm (captured from QEMU, `testdata/`), and corrupted or hostile
//! variants of them.

use super::testmachine::build::*;
use super::testmachine::*;
use super::*;
use alloc::string::ToString;
use alloc::vec;

fn virtio_blk() -> VirtioMmio {
    VirtioMmio {
        base: 0xFEB0_2E00,
        size: 0x200,
        gsi: 47,
        trigger: Trigger::Level,
        polarity: Polarity::High,
        path: "\\_SB_.VR23".into(),
    }
}

fn error(m: &mut Machine) -> String {
    find_virtio_mmio(m)
        .expect_err("the tables should be refused")
        .to_string()
}

#[test]
fn microvms_tables_describe_its_virtio_disk() {
    let mut m = Machine::microvm();
    let d = find_virtio_mmio(&mut m).unwrap();
    assert_eq!(d.devices, [virtio_blk()]);
    assert_eq!(
        d.notes,
        Vec::<String>::new(),
        "every object of the DSDT understood"
    );
}

#[test]
fn the_rsdp_and_tables_are_where_microvm_keeps_them() {
    let mut m = Machine::microvm();
    // A signature without a valid structure before the real one (qboot's code has one).
    m.put(0xF_0000, b"RSD PTR \0\0\0\0\0\0\0\0\x01\x02\x03\x04");
    let mut notes = Vec::new();
    let t = tables::find(&mut m, &mut notes).unwrap();
    assert_eq!(
        t.rsdp,
        tables::Rsdp {
            maddr: 0xF_34D0,
            revision: 2,
            rsdt: 0,
            xsdt: 0xE_FFB2,
        }
    );
    assert_eq!((t.dsdt.maddr, t.dsdt.bytes.len()), (0xE_FCC0, 0x194));
    assert!(t.ssdts.is_empty() && notes.is_empty());
    // The EBDA pointer (in RAM) was refused, never read; nothing outside the two areas and
    // the tables was read.
    assert!(m
        .reads
        .iter()
        .all(|&(a, _)| (0xE_0000..0x10_0000).contains(&a)));
}

#[test]
fn the_widest_aligned_reads_cover_exactly_the_range() {
    let mut m = Machine::microvm();
    let mut xsdt = [0u8; 0x34];
    m.read_io_bytes(0xE_FFB2, &mut xsdt).unwrap();
    let t = MICROVM_TABLES;
    assert_eq!(xsdt[..], t[MICROVM_XSDT..MICROVM_XSDT + 0x34]);
    // 0xeffb2: 2 bytes, then 4, then 8s, and the tail 4 + 2.
    let widths: Vec<u8> = m.reads.iter().map(|&(_, w)| w).collect();
    assert_eq!(widths, [2, 4, 8, 8, 8, 8, 8, 4, 2]);
    let mut next = 0xE_FFB2;
    for &(a, w) in &m.reads {
        assert_eq!(a, next, "contiguous, no byte twice");
        next += u64::from(w);
    }
    assert_eq!(next, 0xE_FFB2 + 0x34, "no byte past the range");
    assert_eq!(
        m.read_io_bytes(u64::MAX - 1, &mut [0; 4]),
        Err(Errno::EINVAL)
    );
    assert_eq!(m.read_io_bytes(0x9_FBFE, &mut [0; 4]), Err(Errno::EPERM));
}

#[test]
fn a_missing_or_broken_rsdp_is_named() {
    let mut m = Machine::empty();
    assert_eq!(
        error(&mut m),
        "no RSDP (\"RSD PTR \") in the EBDA or in 0xe0000-0xfffff"
    );
    let mut m = Machine::microvm();
    let mut rsdp = MICROVM_RSDP.to_vec();
    rsdp[8] ^= 1;
    m.put(MICROVM_RSDP_AT, &rsdp);
    assert_eq!(
        error(&mut m),
        "the RSDP at 0xf34d0 is invalid: the checksum of its first 20 bytes is wrong"
    );
    // The extended checksum covers the XSDT's address.
    rsdp[8] ^= 1;
    rsdp[24] ^= 1;
    m.put(MICROVM_RSDP_AT, &rsdp);
    assert_eq!(
        error(&mut m),
        "the RSDP at 0xf34d0 is invalid: the extended checksum of its 36 bytes is wrong"
    );
    // One right at the end of the area, whose 36 bytes would reach into RAM, is not one.
    let mut m = Machine::empty();
    // (microvm's is of revision 2: its first 20 bytes are valid on their own.)
    m.put(0xF_FFE0, &MICROVM_RSDP[..20]);
    assert_eq!(
        error(&mut m),
        "cannot read the RSDP (36 bytes at 0xfffe0): not I/O memory dom0 may map (EPERM)"
    );
}

#[test]
fn an_acpi_1_rsdp_leads_through_the_rsdt() {
    let mut m = Machine::microvm();
    // An RSDT listing microvm's FADT, at an address in the zero-filled area.
    let fadt = (MICROVM_TABLES_AT + MICROVM_FADT as u64) as u32;
    let rsdt = table(b"RSDT", &fadt.to_le_bytes());
    m.put(0xE_1000, &rsdt);
    let mut rsdp = b"RSD PTR \0BOCHS \0".to_vec();
    rsdp.extend_from_slice(&0xE_1000u32.to_le_bytes());
    let s = rsdp.iter().fold(0u8, |a, &b| a.wrapping_add(b));
    rsdp[8] = s.wrapping_neg();
    m.put(0xE_2000, &rsdp);
    let mut notes = Vec::new();
    let t = tables::find(&mut m, &mut notes).unwrap();
    assert_eq!(
        (t.rsdp.maddr, t.rsdp.revision, t.rsdp.rsdt),
        (0xE_2000, 0, 0xE_1000)
    );
    assert_eq!(find_virtio_mmio(&mut m).unwrap().devices, [virtio_blk()]);
}

#[test]
fn bad_tables_are_refused_naming_which_and_why() {
    const D: usize = MICROVM_DSDT.start;
    for (corrupt, want) in [
        (
            (|t: &mut Vec<u8>| t[0x100] ^= 0x20) as fn(&mut Vec<u8>),
            "DSDT at 0xefcc0: bad checksum (its bytes sum to 0x20, not 0)",
        ),
        (
            |t| t[D + 4..D + 8].copy_from_slice(&20u32.to_le_bytes()),
            "DSDT at 0xefcc0: length 20 is outside 36..=1048576 bytes",
        ),
        (
            |t| t[D + 4..D + 8].copy_from_slice(&0x7000_0000u32.to_le_bytes()),
            "DSDT at 0xefcc0: length 1879048192 is outside 36..=1048576 bytes",
        ),
        (
            |t| t[D..D + 4].copy_from_slice(b"SSDT"),
            "the table at 0xefcc0 should be DSDT but its signature is \"SSDT\"",
        ),
        (
            |t| {
                let x = MICROVM_XSDT;
                t[x + 36..x + 44].copy_from_slice(&0x20_0000u64.to_le_bytes());
                fix_checksum(t, x);
            },
            "cannot read a table's signature (4 bytes at 0x200000): not I/O memory dom0 may map \
             (EPERM)",
        ),
        (
            |t| {
                let f = MICROVM_FADT;
                t[f + 40..f + 44].fill(0);
                t[f + 140..f + 148].fill(0);
                fix_checksum(t, f);
            },
            "the FADT at 0xefe54 names no DSDT",
        ),
        (
            |t| {
                let x = MICROVM_XSDT;
                t[x + 36..x + 44].fill(0);
                fix_checksum(t, x);
            },
            "XSDT at 0xeffb2 lists no FADT (FACP)",
        ),
    ] {
        let mut m = Machine::microvm_with(corrupt);
        assert_eq!(error(&mut m), want);
    }
}

#[test]
fn a_table_reaching_into_ram_is_not_read() {
    // A DSDT whose length reaches past the BIOS area into RAM at 1 MiB.
    let dsdt = table(b"DSDT", &[0xA3; 0x100]);
    let mut m = Machine::microvm_with_dsdt_at(0xF_FFC0, &dsdt, false);
    assert_eq!(
        error(&mut m),
        "cannot read DSDT (292 bytes at 0xfffc0): not I/O memory dom0 may map (EPERM)"
    );
}

#[test]
fn x_dsdt_is_preferred_to_the_32_bit_dsdt() {
    // X_DSDT at a DSDT with a second transport; DSDT still at microvm's.
    let aml = scope(b"_SB_", &virtio_device(b"VR22", 22, 0xFEB0_2C00, 46));
    let mut m = Machine::microvm_with_dsdt(&table(b"DSDT", &aml), false);
    let d = find_virtio_mmio(&mut m).unwrap();
    assert_eq!(d.devices.len(), 1);
    assert_eq!((d.devices[0].base, d.devices[0].gsi), (0xFEB0_2C00, 46));
    // Without X_DSDT, DSDT.
    let mut m = Machine::microvm_with(|t| {
        t[MICROVM_FADT + 140..MICROVM_FADT + 148].fill(0);
        fix_checksum(t, MICROVM_FADT);
    });
    assert_eq!(find_virtio_mmio(&mut m).unwrap().devices, [virtio_blk()]);
}

#[test]
fn ssdts_add_devices_and_a_bad_one_is_left_out_with_a_note() {
    let ssdt = table(
        b"SSDT",
        &scope(b"\\_SB_", &virtio_device(b"VR00", 0, 0xFEB0_0000, 24)),
    );
    let mut bad = ssdt.clone();
    bad[40] ^= 1;
    let mut xsdt = MICROVM_TABLES[MICROVM_XSDT + 36..MICROVM_XSDT + 0x34].to_vec();
    xsdt.extend_from_slice(&0xE_1000u64.to_le_bytes());
    xsdt.extend_from_slice(&0xE_2000u64.to_le_bytes());
    let mut xsdt = table(b"XSDT", &xsdt);
    xsdt[8] = 1;
    fix_checksum(&mut xsdt, 0);
    let mut m = Machine::microvm();
    m.put(0xE_1000, &ssdt);
    m.put(0xE_2000, &bad);
    m.put(0xE_3000, &xsdt);
    let mut rsdp = MICROVM_RSDP.to_vec();
    rsdp[24..32].copy_from_slice(&0xE_3000u64.to_le_bytes());
    rsdp[32] = 0;
    let s = rsdp.iter().fold(0u8, |a, &b| a.wrapping_add(b));
    rsdp[32] = s.wrapping_neg();
    m.put(MICROVM_RSDP_AT, &rsdp);
    let d = find_virtio_mmio(&mut m).unwrap();
    let bases: Vec<u64> = d.devices.iter().map(|d| d.base).collect();
    assert_eq!(bases, [0xFEB0_0000, 0xFEB0_2E00]);
    assert_eq!(
        d.notes,
        ["SSDT at 0xe2000: bad checksum (its bytes sum to 0xff, not 0): left out"]
    );
}

#[test]
fn a_truncated_dsdt_yields_nothing_and_says_where() {
    // microvm's DSDT with its length cut in the middle of VR23 (checksum made right):
    // \_SB_'s package now runs past the table's end.
    let mut dsdt = MICROVM_TABLES[MICROVM_DSDT].to_vec();
    dsdt.truncate(0x160);
    dsdt[4..8].copy_from_slice(&0x160u32.to_le_bytes());
    fix_checksum(&mut dsdt, 0);
    let mut m = Machine::microvm_with_dsdt(&dsdt, true);
    let d = find_virtio_mmio(&mut m).unwrap();
    assert_eq!(d.devices, []);
    assert_eq!(
        d.notes,
        [
            "DSDT+0x25 in \\: package length 0x15e runs past the end of the enclosing object at \
          0x160 (the rest of \\ is not read)"
        ]
    );
}

#[test]
fn nesting_past_the_limit_is_not_descended() {
    // A transport 40 scopes deep, and one at the top.
    let mut very_deep = virtio_device(b"VR09", 9, 0xFEB0_1200, 33);
    for _ in 0..2000 {
        very_deep = scope(b"DEEP", &very_deep);
    }
    let mut ns = aml::Namespace::default();
    aml::walk(&table(b"DSDT", &very_deep), "DSDT", &mut ns);
    assert_eq!((ns.devices.len(), ns.notes.len()), (0, 1));
    let mut deep = virtio_device(b"VR01", 1, 0xFEB0_0200, 25);
    for _ in 0..40 {
        deep = scope(b"DEEP", &deep);
    }
    let aml = cat(&[
        &deep,
        &scope(b"_SB_", &virtio_device(b"VR02", 2, 0xFEB0_0400, 26)),
    ]);
    let mut m = Machine::microvm_with_dsdt(&table(b"DSDT", &aml), true);
    let d = find_virtio_mmio(&mut m).unwrap();
    let bases: Vec<u64> = d.devices.iter().map(|d| d.base).collect();
    assert_eq!(bases, [0xFEB0_0400]);
    assert_eq!(d.notes.len(), 1, "{:?}", d.notes);
    let deep = |n| format!("\\{}", vec!["DEEP"; n].join("."));
    let want = format!(
        " in {}: {} is nested more than 32 levels deep: not read",
        deep(32),
        deep(33)
    );
    assert!(
        d.notes[0].starts_with("DSDT+0x") && d.notes[0].ends_with(&want),
        "{}",
        d.notes[0]
    );
}

#[test]
fn every_object_the_walk_steps_over_leaves_the_next_one_readable() {
    let objects: [&[u8]; 19] = [
        &[0x06, b'A', b'B', b'C', b'D', b'E', b'F', b'G', b'H'],
        &[0x15, b'E', b'X', b'T', b'N', 0x08, 0x00],
        &[0x5B, 0x01, b'M', b'U', b'T', b'X', 0x00],
        &[0x5B, 0x02, b'E', b'V', b'N', b'T'],
        &cat(&[
            &[0x5B, 0x80],
            b"OPR1",
            &[0x00],
            &dword(0xFEA0_0000),
            &[0x0A, 0x10],
        ]),
        &cat(&[
            &[0x5B, 0x88],
            b"DTR1",
            &string("SSDT"),
            &string(""),
            &string(""),
        ]),
        &pkg(&[0x5B, 0x81], &cat(&[b"OPR1", &[0x01], b"FLD1", &[0x20]])),
        &pkg(
            &[0x5B, 0x83],
            &cat(&[b"CPU0", &[0x00], &0u32.to_le_bytes(), &[0x06]]),
        ),
        &pkg(&[0x5B, 0x84], &cat(&[b"PRES", &[0x00, 0x00, 0x00]])),
        &pkg(&[0x5B, 0x85], b"TZ00"),
        &pkg(&[0x5B, 0x86], &cat(&[b"IDX1", b"DAT1", &[0x01]])),
        &pkg(
            &[0x5B, 0x87],
            &cat(&[b"BNK1", b"OPR1", &[0x0A, 0x01, 0x01]]),
        ),
        &pkg(&[0xA0], &[0x01, 0xA3]),
        &pkg(&[0xA1], &[0xA3]),
        &[0xA3],
        &name(
            b"_S5_",
            &pkg(&[0x12], &[0x04, 0x0A, 0x05, 0x00, 0x00, 0x00]),
        ),
        &name(b"REVN", &[0x5B, 0x30]),
        &name(b"QWRD", &[0x0E, 1, 2, 3, 4, 5, 6, 7, 8]),
        &method(b"MTHD", &[0xA4, 0x00]),
    ];
    let all = objects.concat();
    let aml = scope(
        b"_SB_",
        &cat(&[
            &all,
            &device(
                b"VR08",
                &cat(&[&all, &virtio_device(b"VR09", 9, 0xFEB0_1200, 33)]),
            ),
        ]),
    );
    let mut m = Machine::microvm_with_dsdt(&table(b"DSDT", &aml), true);
    let d = find_virtio_mmio(&mut m).unwrap();
    let found: Vec<(&str, u32)> = d.devices.iter().map(|d| (d.path.as_str(), d.gsi)).collect();
    assert_eq!(found, [("\\_SB_.VR08.VR09", 33)]);
    assert_eq!(d.notes.len(), 2, "{:?}", d.notes);
    for (n, scope) in d.notes.iter().zip(["\\_SB_:", "\\_SB_.VR08:"]) {
        assert!(
            n.contains(scope)
                && n.ends_with("an If is not evaluated: objects it would define are not seen"),
            "{n}"
        );
    }
}

#[test]
fn what_the_walk_does_not_understand_ends_its_scope_with_a_note() {
    // In \_SB_: a transport, an opcode the walk does not know (Store, at scope level), then
    // a transport it therefore does not see; in \_SB_.PCI0 after it: one it sees.
    let aml = cat(&[
        &scope(
            b"_SB_",
            &cat(&[
                &virtio_device(b"VR03", 3, 0xFEB0_0600, 27),
                &[0x70, 0x01, 0x60],
                &virtio_device(b"VR04", 4, 0xFEB0_0800, 28),
            ]),
        ),
        &scope(
            b"\\_SB_",
            &device(b"PCI0", &virtio_device(b"VR05", 5, 0xFEB0_0A00, 29)),
        ),
    ]);
    let mut m = Machine::microvm_with_dsdt(&table(b"DSDT", &aml), true);
    let d = find_virtio_mmio(&mut m).unwrap();
    let found: Vec<(&str, u32)> = d.devices.iter().map(|d| (d.path.as_str(), d.gsi)).collect();
    assert_eq!(found, [("\\_SB_.VR03", 27), ("\\_SB_.PCI0.VR05", 29)]);
    let dsdt = table(b"DSDT", &aml);
    let at = dsdt
        .windows(3)
        .position(|w| w == [0x70, 0x01, 0x60])
        .unwrap();
    assert_eq!(
        d.notes,
        [format!(
            "DSDT+{at:#x} in \\_SB_: opcode 0x70 is not understood here (the rest of \\_SB_ is \
             not read)"
        )]
    );
}

#[test]
fn unusable_transport_descriptions_are_left_out_with_a_note() {
    let dev =
        |seg: &[u8], crs: &[u8]| device(seg, &cat(&[&name(b"_HID", &string("LNRO0005")), crs]));
    let good = virtio_crs(0xFEB0_0000, 0x200, 1, 24);
    let two_windows = cat(&[&good[..12], &good]);
    let no_end = good[..good.len() - 2].to_vec();
    let edge_low = virtio_crs(0xFEB0_0200, 0x200, 0x07, 25);
    let aml = scope(
        b"_SB_",
        &cat(&[
            &dev(b"VR00", &name(b"_CRS", &buffer(&good))),
            &dev(b"VR01", &name(b"_CRS", &buffer(&edge_low))),
            &dev(b"VR02", &method(b"_CRS", &[0xA4, 0x00])),
            &dev(b"VR03", &name(b"_CRS", &buffer(&two_windows))),
            &dev(b"VR04", &name(b"_CRS", &buffer(&no_end))),
            &dev(b"VR05", b""),
            &dev(
                b"VR06",
                &cat(&[&name(b"_STA", &[0x00]), &name(b"_CRS", &buffer(&good))]),
            ),
            &dev(b"VR07", &name(b"_CRS", &[0x0A, 0x05])),
            // A serial port: not a transport.
            &device(b"COM1", &name(b"_HID", &dword(0x0105_D041))),
        ]),
    );
    let mut m = Machine::microvm_with_dsdt(&table(b"DSDT", &aml), true);
    let d = find_virtio_mmio(&mut m).unwrap();
    assert_eq!(
        d.devices,
        [
            VirtioMmio {
                base: 0xFEB0_0000,
                size: 0x200,
                gsi: 24,
                trigger: Trigger::Level,
                polarity: Polarity::High,
                path: "\\_SB_.VR00".into()
            },
            VirtioMmio {
                base: 0xFEB0_0200,
                size: 0x200,
                gsi: 25,
                trigger: Trigger::Edge,
                polarity: Polarity::Low,
                path: "\\_SB_.VR01".into()
            },
        ]
    );
    assert_eq!(
        d.notes,
        [
            "\\_SB_.VR02 (LNRO0005): its _CRS is a method (not evaluated): left out",
            "\\_SB_.VR03 (LNRO0005): _CRS has more than one register window: left out",
            "\\_SB_.VR04 (LNRO0005): _CRS: no end tag (the template ends at byte 21): left out",
            "\\_SB_.VR05 (LNRO0005): no _CRS: left out",
            "\\_SB_.VR07 (LNRO0005): its _CRS is not a buffer: left out",
        ]
    );
}

#[test]
fn microvms_dsdt_walks_to_its_devices_and_their_ids() {
    let dsdt = &MICROVM_TABLES[MICROVM_DSDT];
    let mut ns = aml::Namespace::default();
    aml::walk(dsdt, "DSDT", &mut ns);
    assert!(ns.notes.is_empty(), "{:?}", ns.notes);
    let devices: Vec<String> = ns.devices.iter().map(|p| p.to_string()).collect();
    assert_eq!(
        devices,
        [
            "\\_SB_.COM1",
            "\\_SB_.FWCF",
            "\\_SB_.GED_",
            "\\_SB_.PWRB",
            "\\_SB_.RTC_",
            "\\_SB_.VR23"
        ]
    );
    let hid = |p: &aml::Path| ns.object(p, b"_HID").and_then(devices::hid_text);
    let hids: Vec<String> = ns.devices.iter().filter_map(hid).collect();
    assert_eq!(
        hids,
        ["PNP0501", "QEMU0002", "ACPI0013", "PNP0C0C", "PNP0B00", "LNRO0005"]
    );
    let vr23 = aml::Path(vec![*b"_SB_", *b"VR23"]);
    assert_eq!(ns.object(&vr23, b"_UID"), Some(&aml::Value::Integer(0x17)));
    // Our builder writes the transport exactly as QEMU does.
    let built = virtio_device(b"VR23", 0x17, 0xFEB0_2E00, 47);
    assert!(dsdt.windows(built.len()).any(|w| w == built));
}

#[test]
fn no_prefix_or_corruption_of_the_dsdt_makes_the_walk_fail_or_grow() {
    let dsdt = &MICROVM_TABLES[MICROVM_DSDT];
    for len in 36..dsdt.len() {
        let mut ns = aml::Namespace::default();
        aml::walk(&dsdt[..len], "DSDT", &mut ns);
        assert!(ns.notes.len() <= 2, "{len}: {:?}", ns.notes);
    }
    // Every byte of the AML set to each of a few values.
    for at in 36..dsdt.len() {
        for v in [
            0x00, 0x01, 0x0C, 0x10, 0x11, 0x2F, 0x5B, 0x5C, 0x5E, 0x7F, 0x82, 0xC0, 0xFF,
        ] {
            let mut t = dsdt.to_vec();
            t[at] = v;
            let mut ns = aml::Namespace::default();
            aml::walk(&t, "DSDT", &mut ns);
            let kept: usize = ns
                .objects
                .values()
                .map(|v| match v {
                    aml::Value::Buffer(b) => b.len(),
                    aml::Value::String(s) => s.len(),
                    _ => 0,
                })
                .sum();
            assert!(
                kept <= t.len(),
                "{at}: {kept} bytes kept from {} bytes",
                t.len()
            );
            let _ = devices::virtio_mmio(&ns, &mut Vec::new());
        }
    }
}

#[test]
fn random_aml_and_templates_never_panic() {
    // Random bytes drawn mostly from the opcodes and prefixes the walk reads (xorshift, fixed
    // seed), around a real transport so that some of it parses deep.
    let alphabet = [
        0x00, 0x01, 0x08, 0x0A, 0x0B, 0x0C, 0x0D, 0x0E, 0x10, 0x11, 0x12, 0x14, 0x15, 0x2E, 0x2F,
        0x5B, 0x5C, 0x5E, 0x5F, 0x41, 0x80, 0x81, 0x82, 0x86, 0x89, 0xA0, 0xFF, 0x40, 0xC0,
    ];
    let mut x = 0x2545_F491_4F6C_DD1Du64;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let dev = virtio_device(b"VR07", 7, 0xFEB0_0E00, 31);
    for _ in 0..20_000 {
        let len = (next() % 96) as usize;
        let junk: Vec<u8> = (0..len)
            .map(|_| {
                let r = next();
                if r % 4 == 0 {
                    (r >> 8) as u8
                } else {
                    alphabet[(r >> 8) as usize % alphabet.len()]
                }
            })
            .collect();
        let aml = scope(b"_SB_", &cat(&[&junk, &dev, &junk]));
        let mut ns = aml::Namespace::default();
        aml::walk(&table(b"DSDT", &aml), "DSDT", &mut ns);
        let _ = devices::virtio_mmio(&ns, &mut Vec::new());
        let _ = resources::parse(&junk);
        let mut raw = ns; // the junk alone, as a whole table body
        aml::walk(&cat(&[&[0; 36], &junk]), "DSDT", &mut raw);
        assert!(raw.notes.len() <= aml::MAX_NOTES);
    }
}

#[test]
fn package_lengths_of_every_size_and_hostile_names() {
    // A transport behind a long PkgLength (a 3-byte one) inside a 4 KiB scope.
    let filler = cat(&[&[0x08], b"FILL", &buffer(&[0xA5; 3000])]);
    let aml = scope(
        b"_SB_",
        &cat(&[&filler, &virtio_device(b"VR06", 6, 0xFEB0_0C00, 30)]),
    );
    assert_eq!(aml[1] >> 6, 1, "a two-byte PkgLength");
    let big = cat(&[&[0x08], b"FILL", &buffer(&[0x5A; 0x1_2000])]);
    let aml = cat(&[&aml, &scope(b"_SB_", &big)]);
    let mut m = Machine::microvm_with_dsdt_at(0xC000_0000, &table(b"DSDT", &aml), true);
    let d = find_virtio_mmio(&mut m).unwrap();
    assert_eq!((d.devices.len(), d.notes.len()), (1, 0), "{:?}", d.notes);
    for (bytes, want) in [
        // A name climbing above the root.
        (
            scope(b"^^_SB_", &[]),
            "DSDT+0x26 in \\: a name climbs above the root from \\ (the rest of \\ is not read)",
        ),
        // A multi-segment name with 0 segments.
        (
            cat(&[&[0x10, 0x03, 0x2F, 0x00]]),
            "DSDT+0x26 in \\: a multi-segment name with no segments (the rest of \\ is not read)",
        ),
        // A name with a lower-case letter.
        (
            scope(b"_sb_", &[]),
            "DSDT+0x26 in \\: invalid name segment [5f, 73, 62, 5f] (the rest of \\ is not read)",
        ),
        // A string that is not ASCII.
        (
            name(b"_HID", b"\x0d\xc3\xa9\x00"),
            "DSDT+0x2a in \\: byte 0xc3 in a string (ASCII only) (the rest of \\ is not read)",
        ),
        // A PkgLength shorter than its own encoding.
        (
            vec![0x10, 0x40, 0x00],
            "DSDT+0x25 in \\: package length 0x0 is shorter than its own encoding (the rest of \
             \\ is not read)",
        ),
        // A name whose value is code.
        (
            name(b"_CRS", &[0x72, 0x01, 0x01, 0x00]),
            "DSDT+0x29 in \\: a named value of opcode 0x72 is not a constant (the rest of \\ is \
             not read)",
        ),
        // An object cut off by the end of the table.
        (
            vec![0x08, b'_'],
            "DSDT+0x26 in \\: an object runs past the end of its enclosing one at 0x26 (the \
             rest of \\ is not read)",
        ),
    ] {
        let mut ns = aml::Namespace::default();
        aml::walk(&table(b"DSDT", &bytes), "DSDT", &mut ns);
        assert_eq!(ns.notes, [want]);
    }
}

#[test]
fn notes_are_bounded() {
    // 100 scopes, each ending at an unknown opcode.
    let one = scope(b"ABCD", &[0x70]);
    let aml: Vec<u8> = (0..100).flat_map(|_| one.clone()).collect();
    let mut ns = aml::Namespace::default();
    aml::walk(&table(b"DSDT", &aml), "DSDT", &mut ns);
    assert_eq!(
        (ns.notes.len(), ns.notes_dropped),
        (aml::MAX_NOTES, 100 - aml::MAX_NOTES)
    );
    let d = from_tables(
        &tables::Table {
            maddr: 0,
            bytes: table(b"DSDT", &aml),
        },
        &[],
        Vec::new(),
    );
    assert_eq!(
        d.notes.last().unwrap(),
        "68 more notes about the AML left out"
    );
}

#[test]
fn resource_templates() {
    let crs = virtio_crs(0xFEB0_2E00, 0x200, 0x01, 47);
    assert_eq!(
        resources::parse(&crs),
        Ok(vec![
            resources::Resource::Memory32Fixed {
                writable: true,
                base: 0xFEB0_2E00,
                len: 0x200
            },
            resources::Resource::Interrupt {
                consumer: true,
                trigger: Trigger::Level,
                polarity: Polarity::High,
                shared: false,
                gsis: vec![47]
            },
        ])
    );
    // COM1's: IO (small 0x8) and IRQNoFlags (small 0x4) stepped over.
    let com1 = [0x47, 1, 0xF8, 3, 0xF8, 3, 0, 8, 0x22, 0x10, 0, 0x79, 0];
    assert_eq!(
        resources::parse(&com1),
        Ok(vec![
            resources::Resource::Other { tag: 0x47 },
            resources::Resource::Other { tag: 0x22 }
        ])
    );
    for (bytes, want) in [
        (
            &crs[..5],
            "descriptor 0x86 at byte 0 says 9 bytes, past the template's 5",
        ),
        (&crs[..1], "descriptor 0x86 at byte 0 is cut short"),
        (
            &[0x86, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x79, 0][..],
            "Memory32Fixed at byte 0 has length 8, not 9",
        ),
        (
            &[0x89, 6, 0, 1, 2, 0, 0, 0, 0, 0x79, 0][..],
            "Extended Interrupt at byte 0 lists 2 interrupts in 6 bytes",
        ),
        (
            &[0x89, 1, 0, 1][..],
            "Extended Interrupt at byte 0 is cut short",
        ),
        (
            &[0x7A, 0, 0][..],
            "the end tag at byte 0 has length 2, not 1",
        ),
        (&[][..], "no end tag (the template ends at byte 0)"),
    ] {
        assert_eq!(
            resources::parse(bytes),
            Err(want.to_string()),
            "{bytes:02x?}"
        );
    }
}

#[test]
fn eisa_ids() {
    assert_eq!(devices::eisa_id(0x0105_D041), "PNP0501");
    assert_eq!(devices::eisa_id(0x000B_D041), "PNP0B00");
    assert_eq!(devices::hid_text(&aml::Value::Integer(1 << 40)), None);
}
