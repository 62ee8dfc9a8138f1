//! Segment descriptors a PV guest may place in its GDT or LDT (pure logic, host-tested).
//!
//! The guest kernel runs in ring 3, so every usable descriptor must be a ring-3 one: a
//! present code or data segment needs DPL 3, conforming code is refused (it would run at the
//! caller's privilege, which is never what a guest needs), and system descriptors (TSS, LDT,
//! call/interrupt/trap gates) are refused, except type 0, which is harmless (it is the upper
//! half of a 16-byte system descriptor and faults when loaded). Not-present descriptors
//! always fault when loaded, so any content is accepted.

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

/// Whether a guest may install descriptor `d`.
pub fn guest_descriptor_ok(d: u64) -> bool {
    if d & P == 0 {
        return true;
    }
    if d & S != 0 {
        let dpl = (d >> DPL_SHIFT) & 3;
        let conforming_code = d & CODE != 0 && d & CONFORMING != 0;
        return dpl == 3 && !conforming_code;
    }
    (d >> TYPE_SHIFT) & 0xF == 0
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
    fn ring3_code_and_data_are_accepted() {
        assert!(guest_descriptor_ok(USER_CODE64));
        assert!(guest_descriptor_ok(USER_DATA));
        assert!(guest_descriptor_ok(0));
    }

    #[test]
    fn privileged_segments_are_refused() {
        assert!(!guest_descriptor_ok(KERNEL_CODE64));
        assert!(!guest_descriptor_ok(KERNEL_DATA));
        // DPL 1 and 2 too.
        assert!(!guest_descriptor_ok((USER_DATA & !(3 << 45)) | (1 << 45)));
        assert!(!guest_descriptor_ok((USER_DATA & !(3 << 45)) | (2 << 45)));
    }

    #[test]
    fn conforming_code_is_refused() {
        assert!(!guest_descriptor_ok(USER_CODE64 | CONFORMING));
        // The same bit on a data segment is "expand-down": harmless.
        assert!(guest_descriptor_ok(USER_DATA | CONFORMING));
    }

    #[test]
    fn system_descriptors_are_refused_except_type_0() {
        let present_dpl3 = P | (3 << 45);
        for ty in 1..16u64 {
            // LDT (2), TSS (9/11), call gate (12), interrupt/trap gates (14/15)...
            assert!(!guest_descriptor_ok(present_dpl3 | (ty << 40)), "type {ty}");
        }
        assert!(guest_descriptor_ok(present_dpl3));
    }

    #[test]
    fn not_present_descriptors_are_harmless() {
        assert!(guest_descriptor_ok(KERNEL_CODE64 & !P));
        assert!(guest_descriptor_ok((0xC << 40) | (3 << 45)));
    }
}
