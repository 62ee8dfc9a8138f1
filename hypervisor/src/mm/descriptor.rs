//! Segment descriptors a PV guest may place in its GDT or LDT (pure logic, host-tested).
//!
//! The guest kernel runs in ring 3, so every usable descriptor must be a ring-3 one. As Xen
//! does for a 64-bit PV guest, a present code or data segment with a lower DPL is not refused
//! but raised to DPL 3 (Linux's boot GDT holds ring-0 kernel segments and expects `set_gdt`
//! to take it). Conforming code is refused (it would run at the caller's privilege, which is
//! never what a guest needs; Xen fixes its DPL instead, and no PV kernel uses it), and system
//! descriptors (TSS, LDT, call/interrupt/trap gates) are refused, except type 0, which is
//! harmless (it is the upper half of a 16-byte system descriptor and faults when loaded).
//! Not-present descriptors always fault when loaded, so any content is accepted unchanged.

/// Present.
const P: u64 = 1 << 47;
/// Code/data (vs. system).
const S: u64 = 1 << 44;
/// Executable (code) for S = 1.
const CODE: u64 = 1 << 43;
/// Conforming, for code segments.
const CONFORMING: u64 = 1 << 42;
const DPL_SHIFT: u32 = 45;
const TYPE_SHIFT: u32 = 40;

/// The descriptor installed when a guest asks for `d` (its DPL raised to 3 where it was
/// lower), or `None` when a guest may not install it at all.
pub fn guest_descriptor(d: u64) -> Option<u64> {
    if d & P == 0 {
        return Some(d);
    }
    if d & S != 0 {
        let conforming_code = d & CODE != 0 && d & CONFORMING != 0;
        return (!conforming_code).then_some(d | (3 << DPL_SHIFT));
    }
    ((d >> TYPE_SHIFT) & 0xF == 0).then_some(d)
}

/// The base of the segment descriptor `d` when a data segment register may be loaded with it
/// (a present data segment or readable code segment), else `None` (loading it would fault).
/// Every descriptor a guest installs is DPL 3 ([`guest_descriptor`]), so any RPL may load it.
pub fn data_segment_base(d: u64) -> Option<u64> {
    const READABLE: u64 = 1 << 41;
    let loadable = d & P != 0 && d & S != 0 && (d & CODE == 0 || d & READABLE != 0);
    loadable.then_some(((d >> 16) & 0xFF_FFFF) | (((d >> 56) & 0xFF) << 24))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Flat 64-bit ring-3 code, as the hypervisor's own FLAT_RING3_CS64.
    const USER_CODE64: u64 = 0x00AF_FA00_0000_FFFF;
    /// Flat ring-3 data.
    const USER_DATA: u64 = 0x00CF_F200_0000_FFFF;
    /// Ring-0 64-bit code (the hypervisor's CS).
    const KERNEL_CODE64: u64 = 0x00AF_9A00_0000_FFFF;
    /// Ring-0 data.
    const KERNEL_DATA: u64 = 0x00CF_9200_0000_FFFF;

    #[test]
    fn ring3_code_and_data_are_accepted_unchanged() {
        assert_eq!(guest_descriptor(USER_CODE64), Some(USER_CODE64));
        assert_eq!(guest_descriptor(USER_DATA), Some(USER_DATA));
        assert_eq!(guest_descriptor(0), Some(0));
    }

    #[test]
    fn privileged_segments_are_demoted_to_ring_3() {
        assert_eq!(guest_descriptor(KERNEL_CODE64), Some(0x00AF_FA00_0000_FFFF));
        assert_eq!(guest_descriptor(KERNEL_DATA), Some(USER_DATA));
        // DPL 1 and 2 too.
        assert_eq!(
            guest_descriptor((USER_DATA & !(3 << 45)) | (1 << 45)),
            Some(USER_DATA)
        );
        assert_eq!(
            guest_descriptor((USER_DATA & !(3 << 45)) | (2 << 45)),
            Some(USER_DATA)
        );
    }

    #[test]
    fn data_segment_base_reads_loadable_segments_only() {
        assert_eq!(data_segment_base(USER_DATA), Some(0));
        assert_eq!(data_segment_base(USER_CODE64), Some(0), "readable code");
        // Base 0x12345678 split over bits 16..40 and 56..64.
        let based = USER_DATA | (0x34_5678 << 16) | (0x12 << 56);
        assert_eq!(data_segment_base(based), Some(0x1234_5678));
        assert_eq!(
            data_segment_base(USER_CODE64 & !(1 << 41)),
            None,
            "execute-only"
        );
        assert_eq!(data_segment_base(USER_DATA & !P), None, "not present");
        assert_eq!(data_segment_base(0), None);
        // A system descriptor (an LDT, type 2).
        assert_eq!(
            data_segment_base((USER_DATA & !S & !(0xF << 40)) | (2 << 40)),
            None
        );
    }

    #[test]
    fn conforming_code_is_refused() {
        assert_eq!(guest_descriptor(USER_CODE64 | CONFORMING), None);
        assert_eq!(guest_descriptor(KERNEL_CODE64 | CONFORMING), None);
        // The same bit on a data segment is "expand-down": harmless.
        assert_eq!(
            guest_descriptor(USER_DATA | CONFORMING),
            Some(USER_DATA | CONFORMING)
        );
    }

    #[test]
    fn system_descriptors_are_refused_except_type_0() {
        for dpl in 0..4u64 {
            let present = P | (dpl << 45);
            for ty in 1..16u64 {
                // LDT (2), TSS (9/11), call gate (12), interrupt/trap gates (14/15)...
                assert_eq!(guest_descriptor(present | (ty << 40)), None, "type {ty}");
            }
            assert_eq!(guest_descriptor(present), Some(present));
        }
    }

    #[test]
    fn not_present_descriptors_are_harmless_and_unchanged() {
        assert_eq!(
            guest_descriptor(KERNEL_CODE64 & !P),
            Some(KERNEL_CODE64 & !P)
        );
        assert_eq!(
            guest_descriptor((0xC << 40) | (3 << 45)),
            Some((0xC << 40) | (3 << 45))
        );
    }
}
