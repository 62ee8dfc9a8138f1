//! A vCPU's guest descriptor tables as the hypervisor tracks them: the machine frames of its
//! GDT (below Xen's reserved entries) and LDT. Loading them is the backend's (`gdt`).

use guest_abi::types::Mfn;

/// Guest GDT pages: the first 14 pages (entries below 0xe000), as in Xen.
pub const GUEST_GDT_PAGES: usize = 14;
/// Guest GDT entries at most (`FIRST_RESERVED_GDT_ENTRY`).
pub const GUEST_GDT_ENTRIES: u64 = (GUEST_GDT_PAGES * 512) as u64;
/// LDT entries at most.
pub const LDT_ENTRIES: u64 = 8192;
/// LDT pages at most.
pub const LDT_PAGES: usize = 16;

/// A vCPU's descriptor tables: the machine frames of its GDT (typed seg_desc) and LDT.
#[derive(Clone, Copy, Default)]
pub struct GuestDescTables {
    /// GDT frames, `gdt_nr` of them used.
    pub gdt: [Mfn; GUEST_GDT_PAGES],
    /// Used GDT frames.
    pub gdt_nr: usize,
    /// GDT entries the guest declared.
    pub gdt_ents: u64,
    /// LDT frames, `ldt_nr` of them used.
    pub ldt: [Mfn; LDT_PAGES],
    /// Used LDT frames.
    pub ldt_nr: usize,
    /// LDT entries (0 = no LDT).
    pub ldt_ents: u64,
    /// The LDT's guest virtual address.
    pub ldt_base: u64,
}

/// Present.
const P: u64 = 1 << 47;
/// Code/data (vs. system).
const S: u64 = 1 << 44;
/// Executable (code) for S = 1.
const CODE: u64 = 1 << 43;
/// Conforming, for code segments.
const CONFORMING: u64 = 1 << 42;
const DPL_SHIFT: u32 = 45;

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
        Some(CodeMode::Long) => ((rip as i64) << 16 >> 16) as u64 == rip,
        Some(CodeMode::Compat) => rip <= u64::from(u32::MAX),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
