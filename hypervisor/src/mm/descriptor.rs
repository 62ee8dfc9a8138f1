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

/// The mode a ring-3 code segment runs in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CodeMode {
    /// 64-bit (L set): any canonical rip.
    Long,
    /// 32-bit compatibility mode: rip within 4 GiB.
    Compat,
}

const DPL3: u64 = 3 << DPL_SHIFT;
/// Writable for data segments, readable for code.
const RW: u64 = 1 << 41;
/// 64-bit code.
const LONG: u64 = 1 << 53;

/// The mode of `d` when `iretq` may load it into CS for ring 3 (present, non-conforming code
/// of DPL 3), else `None`.
pub fn user_code_mode(d: u64) -> Option<CodeMode> {
    let code = d & (P | S | CODE | CONFORMING | DPL3) == P | S | CODE | DPL3;
    code.then_some(if d & LONG != 0 {
        CodeMode::Long
    } else {
        CodeMode::Compat
    })
}

/// Whether `iretq` may load `d` into SS for ring 3: present writable data of DPL 3.
pub fn user_stack_ok(d: u64) -> bool {
    d & (P | S | CODE | RW | DPL3) == P | S | RW | DPL3
}

/// The mode `iretq` to ring 3 with selectors `cs` and `ss` would run in, or `None` if it would
/// fault. The hypervisor's flat ring-3 selectors are always usable; any other must have RPL 3
/// and name a usable descriptor, which `desc` looks up in the live GDT or LDT (`None` beyond
/// them, for the null selector and for the hypervisor's other reserved entries).
pub fn user_selectors(cs: u16, ss: u16, desc: impl Fn(u16) -> Option<u64>) -> Option<CodeMode> {
    use guest_abi::arch::{FLAT_RING3_CS32, FLAT_RING3_CS64, FLAT_RING3_SS64};
    if cs & 3 != 3 || ss & 3 != 3 {
        return None;
    }
    let mode = match cs {
        FLAT_RING3_CS64 => CodeMode::Long,
        FLAT_RING3_CS32 => CodeMode::Compat,
        _ => desc(cs).and_then(user_code_mode)?,
    };
    (ss == FLAT_RING3_SS64 || desc(ss).is_some_and(user_stack_ok)).then_some(mode)
}

/// Whether `iretq` to ring 3 at `cs:rip` with stack segment `ss` completes without faulting
/// ([`user_selectors`], and a canonical rip in 64-bit code or one within 4 GiB in 32-bit).
pub fn user_return_ok(cs: u16, ss: u16, rip: u64, desc: impl Fn(u16) -> Option<u64>) -> bool {
    match user_selectors(cs, ss, desc) {
        Some(CodeMode::Long) => crate::mm::guest_walk::canonical(rip),
        Some(CodeMode::Compat) => rip <= u64::from(u32::MAX),
        None => false,
    }
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

    /// Linux's GDT as a 64-bit PV kernel has it (after demotion): 0x10 kernel code, 0x18
    /// kernel data, 0x23 32-bit user code, 0x2b user data, 0x33 64-bit user code.
    fn linux_gdt(sel: u16) -> Option<u64> {
        match sel >> 3 {
            2 => Some(0x00AF_FB00_0000_FFFF),
            3 => Some(0x00CF_F300_0000_FFFF),
            4 => Some(0x00CF_FB00_0000_FFFF),
            5 => Some(0x00CF_F300_0000_FFFF),
            6 => Some(0x00AF_FB00_0000_FFFF),
            // Not present, execute-only, a 16-bit data segment that is read-only.
            7 => Some(0x00AF_FB00_0000_FFFF & !P),
            8 => Some(0x00AF_F800_0000_FFFF),
            9 => Some(0x0000_F100_0000_FFFF),
            _ => None,
        }
    }

    #[test]
    fn returns_to_linuxs_own_user_segments_and_the_flat_ones() {
        use guest_abi::arch::{FLAT_RING3_CS32, FLAT_RING3_CS64, FLAT_RING3_SS64};
        let high = 0x7FFF_FFFF_F000;
        assert!(user_return_ok(0x33, 0x2b, high, linux_gdt));
        assert!(user_return_ok(0x23, 0x2b, 0xFFFF_F000, linux_gdt));
        assert!(
            !user_return_ok(0x23, 0x2b, 0x1_0000_0000, linux_gdt),
            "32-bit rip"
        );
        assert!(
            !user_return_ok(0x33, 0x2b, 1 << 47, linux_gdt),
            "non-canonical"
        );
        assert!(user_return_ok(
            FLAT_RING3_CS64,
            FLAT_RING3_SS64,
            high,
            linux_gdt
        ));
        assert!(user_return_ok(FLAT_RING3_CS32, 0x2b, 0x1000, linux_gdt));
        assert!(user_return_ok(0x33, FLAT_RING3_SS64, high, linux_gdt));
        assert_eq!(user_selectors(0x13, 0x1b, linux_gdt), Some(CodeMode::Long));
    }

    #[test]
    fn refuses_selectors_iretq_would_fault_on() {
        use guest_abi::arch::FLAT_RING3_CS64;
        for (what, cs, ss) in [
            ("RPL 0 code", 0x30, 0x2b),
            ("RPL 0 stack", 0x33, 0x28),
            ("data as code", 0x2b, 0x2b),
            ("code as stack", 0x33, 0x33),
            ("not-present code", 0x3b, 0x2b),
            ("execute-only code is fine but not as a stack", 0x43, 0x43),
            ("read-only stack", 0x33, 0x4b),
            ("beyond the table", 0x53, 0x2b),
            ("null stack", 0x33, 0x3),
            ("the hypervisor's code", 0xe008 | 3, 0x2b),
        ] {
            assert!(!user_return_ok(cs, ss, 0x1000, linux_gdt), "{what}");
        }
        // Execute-only code is fine for CS.
        assert!(user_return_ok(0x43, 0x2b, 0x1000, linux_gdt));
        // Code of DPL 0 (never installed; the hypervisor's own) and conforming code.
        let ring0 = |_| Some(0x00AF_9B00_0000_FFFF);
        let conforming = |_| Some(0x00AF_FF00_0000_FFFF);
        assert!(!user_return_ok(0x33, 0x2b, 0x1000, ring0));
        assert!(!user_return_ok(
            0x33,
            FLAT_RING3_CS64 - 8,
            0x1000,
            conforming
        ));
        assert_eq!(user_code_mode(0x00AF_FF00_0000_FFFF), None);
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
