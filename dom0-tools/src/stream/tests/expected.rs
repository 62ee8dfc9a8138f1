//! The tiny domain's image built octet by octet from the specifications' tables (not with
//! the crate's structures), compared with what the writer produces.

use super::*;

struct Bytes(Vec<u8>);

impl Bytes {
    fn be32(&mut self, v: u32) -> &mut Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    fn le16(&mut self, v: u16) -> &mut Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    fn le32(&mut self, v: u32) -> &mut Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    fn le64(&mut self, v: u64) -> &mut Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    fn raw(&mut self, b: &[u8]) -> &mut Self {
        self.0.extend_from_slice(b);
        self
    }
    fn zeros(&mut self, n: usize) -> &mut Self {
        self.0.resize(self.0.len() + n, 0);
        self
    }
}

#[test]
fn the_writer_matches_the_specifications_layout_octet_for_octet() {
    let mut b = Bytes(Vec::new());
    // xl: 32 octets of magic, byte-order marker, mandatory flags (STREAMv2), optional
    // flags, optional data length; then the configuration's length and text.
    b.raw(b"Xen saved domain, xl format\n \0 \r");
    b.le32(0x0102_0304)
        .le32(2)
        .le32(0)
        .le32(4 + CONFIG.len() as u32);
    b.le32(CONFIG.len() as u32).raw(CONFIG);
    // libxl: "LibxlFmt", version 2, options 0 (little-endian), all big-endian.
    b.raw(b"LibxlFmt").be32(2).be32(0);
    // libxl LIBXC_CONTEXT: type 1, length 0.
    b.le32(1).le32(0);
    // libxc image header: marker all ones, "XENF", version 3, options 0, reserved.
    b.raw(&[0xff; 8]).raw(b"XENF").be32(3).zeros(8);
    // Domain header: x86 PV, page shift 12, reserved, Xen 4.17.
    b.le32(1).le16(12).le16(0).le32(4).le32(17);
    // X86_PV_INFO: width 8, 4 levels.
    b.le32(2).le32(8).raw(&[8, 4]).zeros(6);
    // STATIC_DATA_END.
    b.le32(0x10).le32(0);
    // X86_PV_P2M_FRAMES: pfns 0..=3 live in one frame, pfn 2.
    b.le32(3).le32(16).le32(0).le32(3).le64(2);
    // PAGE_DATA: 4 pfns, 3 with data; types in bits 63-60.
    b.le32(1).le32(8 + 4 * 8 + 3 * 4096).le32(4).le32(0);
    b.le64(0)
        .le64(0xc000_0000_0000_0001)
        .le64(2)
        .le64(0xf000_0000_0000_0003);
    for fill in [0x10u8, 0x11, 0x12] {
        b.raw(&[fill; 4096]);
    }
    // X86_TSC_INFO: mode, kHz, nsec, incarnation, reserved.
    b.le32(8)
        .le32(24)
        .le32(0)
        .le32(2_000_000)
        .le64(123_456_789)
        .le32(1)
        .le32(0);
    // SHARED_INFO: one page.
    b.le32(7).le32(4096).raw(&[0x5a; 4096]);
    // X86_PV_VCPU_BASIC of vCPU 0: vcpu id, reserved, the 5168-octet context.
    b.le32(4)
        .le32(8 + 5168)
        .le32(0)
        .le32(0)
        .raw(&tiny_context());
    // X86_PV_VCPU_EXTENDED: 12 octets of context, padded with 4 zeros.
    b.le32(5)
        .le32(8 + 12)
        .le32(0)
        .le32(0)
        .raw(EXTENDED)
        .zeros(4);
    // libxc END, then libxl END.
    b.le32(0).le32(0);
    b.le32(0).le32(0);

    let (image, _) = tiny_image();
    assert_eq!(image.len(), b.0.len());
    if let Some(i) = image.iter().zip(&b.0).position(|(a, b)| a != b) {
        panic!("first difference at offset {i:#x}");
    }
}
