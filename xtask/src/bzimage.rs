//! A Linux-style bzImage around a kernel ELF, its payload compressed with bzip2 (as a kernel
//! built with CONFIG_KERNEL_BZIP2): dom0's initrd carries pv-guest in this form
//! (`boot/pv-guest-bzip2`), so the builder's bzip2 path runs end to end in QEMU. The payload
//! ends with the uncompressed size, as Linux's build appends it.

use std::io::Write;

/// Setup sectors after the boot sector.
const SETUP_SECTS: u8 = 4;
/// Boot protocol 2.15 (payload fields since 2.08).
const PROTOCOL: u16 = 0x020F;

/// `elf` compressed with bzip2 (block size 900 kB, `bzip2 -9`) and its size trailer.
fn payload(elf: &[u8]) -> Result<Vec<u8>, String> {
    let mut enc = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::best());
    enc.write_all(elf)
        .and_then(|()| enc.finish())
        .map(|mut p| {
            p.extend_from_slice(&(elf.len() as u32).to_le_bytes());
            p
        })
        .map_err(|e| format!("bzip2: {e}"))
}

/// The bzImage: boot sector and setup header (boot flag, `HdrS`, protocol, setup sectors,
/// payload offset 0 and length), zeroed setup code, then the payload.
pub fn bzip2_bzimage(elf: &[u8]) -> Result<Vec<u8>, String> {
    let payload = payload(elf)?;
    let start = (usize::from(SETUP_SECTS) + 1) * 512;
    let mut v = vec![0u8; start];
    v[0x1F1] = SETUP_SECTS;
    v[0x1FE..0x200].copy_from_slice(&[0x55, 0xAA]);
    v[0x202..0x206].copy_from_slice(b"HdrS");
    v[0x206..0x208].copy_from_slice(&PROTOCOL.to_le_bytes());
    v[0x248..0x24C].copy_from_slice(&0u32.to_le_bytes());
    v[0x24C..0x250].copy_from_slice(&(payload.len() as u32).to_le_bytes());
    v.extend_from_slice(&payload);
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_builder_finds_the_elf_inside() {
        let elf = pv_builder::elf::testimg::TestElf::pv().bytes();
        let image = bzip2_bzimage(&elf).unwrap();
        assert_eq!(&image[0x202..0x206], b"HdrS");
        let start = 5 * 512;
        assert_eq!(&image[start..start + 3], b"BZh");
        let loaded = pv_builder::kernel::kernel_elf(&image).unwrap();
        assert_eq!(&loaded[..], &elf[..]);
    }
}
