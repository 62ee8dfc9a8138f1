//! The PV kernel as dom0's initrd carries it for guests: its ELF without the sections after
//! its segments (debug information, 12 of pv-guest's 14 MB), which no loader reads — the
//! domain builder takes the program headers and the Xen notes of the `PT_NOTE` segment. The
//! copy ends with the last segment's bytes and has no section header table.

/// `elf` (ELF64, little-endian) cut after its last segment's file bytes, its section header
/// table dropped (`e_shoff`, `e_shnum`, `e_shstrndx` zeroed). Refuses anything that is not
/// such an ELF or whose program headers lie outside the file.
pub fn strip_sections(elf: &[u8]) -> Result<Vec<u8>, String> {
    let u16_at = |at: usize| -> Result<u16, String> {
        elf.get(at..at + 2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]))
            .ok_or_else(|| format!("ELF header cut short at byte {at}"))
    };
    let u64_at = |at: usize| -> Result<u64, String> {
        elf.get(at..at + 8)
            .map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")))
            .ok_or_else(|| format!("ELF cut short at byte {at}"))
    };
    if elf.len() < 64 || &elf[..4] != b"\x7fELF" || elf[4] != 2 || elf[5] != 1 {
        return Err("not a little-endian ELF64 file".into());
    }
    let phoff = u64_at(0x20)? as usize;
    let (phentsize, phnum) = (usize::from(u16_at(0x36)?), usize::from(u16_at(0x38)?));
    if phentsize < 56 || phnum == 0 {
        return Err(format!("{phnum} program headers of {phentsize} bytes"));
    }
    let table_end = phnum
        .checked_mul(phentsize)
        .and_then(|n| n.checked_add(phoff))
        .filter(|&e| e <= elf.len())
        .ok_or("the program header table lies outside the file")?;
    let mut end = table_end;
    for i in 0..phnum {
        let at = phoff + i * phentsize;
        let (offset, filesz) = (u64_at(at + 8)?, u64_at(at + 32)?);
        let seg_end = offset
            .checked_add(filesz)
            .filter(|&e| e <= elf.len() as u64)
            .ok_or_else(|| format!("segment {i} lies outside the file"))?;
        end = end.max(seg_end as usize);
    }
    let mut out = elf[..end].to_vec();
    out[0x28..0x30].fill(0); // e_shoff
    out[0x3c..0x40].fill(0); // e_shnum, e_shstrndx
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An ELF64 with one loadable segment (bytes 0x78..0x80) and trailing "debug" bytes.
    fn sample() -> Vec<u8> {
        let mut e = vec![0u8; 0x200];
        e[..4].copy_from_slice(b"\x7fELF");
        e[4] = 2;
        e[5] = 1;
        e[0x20..0x28].copy_from_slice(&64u64.to_le_bytes());
        e[0x28..0x30].copy_from_slice(&0x100u64.to_le_bytes());
        e[0x36..0x38].copy_from_slice(&56u16.to_le_bytes());
        e[0x38..0x3a].copy_from_slice(&1u16.to_le_bytes());
        e[0x3c..0x3e].copy_from_slice(&3u16.to_le_bytes());
        e[0x3e..0x40].copy_from_slice(&2u16.to_le_bytes());
        e[64..68].copy_from_slice(&1u32.to_le_bytes());
        e[64 + 8..64 + 16].copy_from_slice(&0x78u64.to_le_bytes());
        e[64 + 32..64 + 40].copy_from_slice(&8u64.to_le_bytes());
        e[0x78..0x80].copy_from_slice(b"SEGMENT!");
        e
    }

    #[test]
    fn keeps_the_segments_and_drops_the_sections() {
        let out = strip_sections(&sample()).unwrap();
        assert_eq!(out.len(), 0x80);
        assert_eq!(&out[0x78..], b"SEGMENT!");
        assert!(out[0x28..0x30].iter().all(|&b| b == 0));
        assert!(out[0x3c..0x40].iter().all(|&b| b == 0));
    }

    #[test]
    fn refuses_what_is_not_such_an_elf() {
        assert!(strip_sections(b"not an elf").is_err());
        let mut e = sample();
        e[64 + 32..64 + 40].copy_from_slice(&0x1000u64.to_le_bytes());
        assert!(strip_sections(&e).unwrap_err().contains("segment 0"));
        let mut e = sample();
        e[0x38..0x3a].copy_from_slice(&100u16.to_le_bytes());
        assert!(strip_sections(&e).is_err());
    }

    /// The built kernel, stripped, still parses as a Xen PV kernel with the same entry.
    #[test]
    fn the_built_pv_guest_stays_a_pv_kernel() {
        let path = crate::qemu::images_dir().join("pv-guest.elf");
        let Ok(elf) = std::fs::read(&path) else {
            return; // not built yet: the synthetic cases above still run
        };
        let out = strip_sections(&elf).unwrap();
        assert!(out.len() < elf.len());
        let a = dom0_tools::elf::ElfImage::parse(&elf).expect("the built kernel parses");
        let b = dom0_tools::elf::ElfImage::parse(&out).expect("the stripped kernel parses");
        assert_eq!(format!("{:?}", a.notes), format!("{:?}", b.notes));
        assert_eq!((a.virt_kstart, a.virt_kend), (b.virt_kstart, b.virt_kend));
    }
}
