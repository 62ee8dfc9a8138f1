//! The native image's machine layout as pure arithmetic (host-tested): page-table entries of
//! the identity map and the scratch area, GDT/TSS descriptors, IDT gates, and the STAR MSR.

/// Page size.
pub const PAGE: u64 = 4096;
/// PTE bits.
pub const P: u64 = 1 << 0;
/// Writable.
pub const RW: u64 = 1 << 1;
/// User accessible.
pub const US: u64 = 1 << 2;
/// Accessed.
pub const A: u64 = 1 << 5;
/// Dirty.
pub const D: u64 = 1 << 6;

/// Bytes identity-mapped with 4 KiB pages from address 0 (the image, its .bss, the stack and
/// every buffer the workloads use live here). Page 0 stays unmapped.
pub const IDENTITY_BYTES: u64 = 64 << 20;
/// L1 tables the identity map needs.
pub const IDENTITY_L1S: usize = (IDENTITY_BYTES / (512 * PAGE)) as usize;
/// The L2 slot (of the one L2 covering the low 1 GiB) holding the scratch L1: VA 512 MiB.
pub const SCRATCH_L2_INDEX: usize = 256;
/// Start of the scratch area (the workloads' page-table churn maps and unmaps here).
pub const SCRATCH_VA: u64 = (SCRATCH_L2_INDEX as u64) << 21;
// The scratch area must not overlap the identity map.
const _: () = assert!(SCRATCH_VA >= IDENTITY_BYTES);
/// Where the user tasks' code and stacks live: L4 slot 1 (512 GiB), so a task's L4 shares
/// slot 0 (the kernel, supervisor-only) and owns slot 1.
pub const USER_VA: u64 = 1 << 39;

/// Flags of a kernel data page (no user bit: ring 3 cannot touch it).
pub const KERNEL_RW: u64 = P | RW | A | D;
/// Flags of an upper-level table entry leading to kernel-only memory.
pub const KERNEL_TABLE: u64 = P | RW | A;
/// Flags of an upper-level table entry leading to user memory.
pub const USER_TABLE: u64 = P | RW | US | A;

/// Entry `i` of identity L1 table `t`: the page at `(t * 512 + i) * 4 KiB`, kernel RW;
/// 0 for page 0 (null pointers fault).
pub const fn identity_pte(t: usize, i: usize) -> u64 {
    let pa = ((t * 512 + i) as u64) * PAGE;
    if pa == 0 {
        0
    } else {
        pa | KERNEL_RW
    }
}

/// A table entry pointing at the table (or page) at physical `pa` with `flags`.
pub const fn entry(pa: u64, flags: u64) -> u64 {
    (pa & 0x000F_FFFF_FFFF_F000) | flags
}

/// Index of `va` in its level-`level` table (1..=4).
pub const fn index(va: u64, level: u32) -> usize {
    ((va >> (12 + 9 * (level - 1))) & 511) as usize
}

/// GDT selectors: the layout `syscall`/`sysret` require (STAR below).
pub const KERNEL_CS: u16 = 0x08;
/// Kernel data/stack.
pub const KERNEL_DS: u16 = 0x10;
/// User data/stack (RPL 3).
pub const USER_DS: u16 = 0x18 | 3;
/// User 64-bit code (RPL 3).
pub const USER_CS: u16 = 0x20 | 3;
/// The TSS (two slots).
pub const TSS_SEL: u16 = 0x28;

/// The GDT without its TSS descriptor: null, kernel code, kernel data, user data, user code.
pub const GDT_SEGMENTS: [u64; 5] = [
    0,
    0x00AF_9A00_0000_FFFF,
    0x00CF_9200_0000_FFFF,
    0x00CF_F200_0000_FFFF,
    0x00AF_FA00_0000_FFFF,
];

/// The 16-byte descriptor of an available 64-bit TSS at `base` of `limit + 1` bytes.
pub const fn tss_descriptor(base: u64, limit: u32) -> [u64; 2] {
    let low = (limit as u64 & 0xFFFF)
        | ((base & 0xFF_FFFF) << 16)
        | (0x89 << 40)
        | (((limit as u64 >> 16) & 0xF) << 48)
        | (((base >> 24) & 0xFF) << 56);
    [low, base >> 32]
}

/// A 64-bit interrupt gate to `handler` in the kernel code segment, DPL 0, no IST.
pub const fn idt_gate(handler: u64) -> [u64; 2] {
    let low = (handler & 0xFFFF)
        | ((KERNEL_CS as u64) << 16)
        | (0x8E << 40)
        | (((handler >> 16) & 0xFFFF) << 48);
    [low, handler >> 32]
}

/// IA32_STAR: `syscall` loads CS = KERNEL_CS, SS = KERNEL_CS + 8; `sysretq` loads
/// CS = base + 16, SS = base + 8 with base = KERNEL_DS (so USER_CS and USER_DS).
pub const fn star() -> u64 {
    let base = (USER_CS & !3) as u64 - 16;
    assert!(
        base + 8 == (USER_DS & !3) as u64,
        "sysret needs user data just below user code"
    );
    (base << 48) | ((KERNEL_CS as u64) << 32)
}

/// Cycles per iteration in tenths as a BENCH sample: `12.3`.
pub fn sample(tenths: u64, out: &mut impl core::fmt::Write) -> core::fmt::Result {
    write!(out, "{}.{}", tenths / 10, tenths % 10)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_map_covers_the_region_except_page_zero() {
        assert_eq!(IDENTITY_L1S, 32);
        assert_eq!(identity_pte(0, 0), 0);
        assert_eq!(identity_pte(0, 1), 0x1000 | KERNEL_RW);
        assert_eq!(identity_pte(1, 0), 0x20_0000 | KERNEL_RW);
        assert_eq!(
            identity_pte(IDENTITY_L1S - 1, 511) & !0xFFF,
            IDENTITY_BYTES - PAGE
        );
        assert_eq!(
            identity_pte(3, 7) & US,
            0,
            "kernel pages are not user pages"
        );
    }

    #[test]
    fn scratch_and_user_areas_sit_outside_the_identity_map() {
        assert_eq!(index(SCRATCH_VA, 2), SCRATCH_L2_INDEX);
        assert_eq!(index(SCRATCH_VA, 3), 0);
        assert_eq!(index(USER_VA, 4), 1);
        assert_eq!(index(USER_VA + PAGE, 1), 1);
        assert_eq!(entry(0x1234_5000, USER_TABLE), 0x1234_5000 | USER_TABLE);
        assert_eq!(entry(0x1234_5FFF, P), 0x1234_5000 | P);
    }

    #[test]
    fn descriptors() {
        // 64-bit code segments have L set and D clear; the user ones have DPL 3.
        for (sel, dpl) in [(KERNEL_CS, 0), (USER_CS, 3)] {
            let d = GDT_SEGMENTS[usize::from(sel >> 3)];
            assert_eq!((d >> 53) & 1, 1);
            assert_eq!((d >> 54) & 1, 0);
            assert_eq!((d >> 45) & 3, dpl);
        }
        assert_eq!((GDT_SEGMENTS[usize::from(USER_DS >> 3)] >> 45) & 3, 3);
        let [lo, hi] = tss_descriptor(0xFFFF_8000_1234_5678, 103);
        assert_eq!(lo & 0xFFFF, 103);
        assert_eq!((lo >> 16) & 0xFF_FFFF, 0x34_5678);
        assert_eq!((lo >> 56) & 0xFF, 0x12);
        assert_eq!((lo >> 40) & 0xFF, 0x89);
        assert_eq!(hi, 0xFFFF_8000);
        let [lo, hi] = idt_gate(0x1122_3344_5566_7788);
        assert_eq!(lo & 0xFFFF, 0x7788);
        assert_eq!((lo >> 48) & 0xFFFF, 0x5566);
        assert_eq!((lo >> 16) & 0xFFFF, u64::from(KERNEL_CS));
        assert_eq!((lo >> 40) & 0xFF, 0x8E);
        assert_eq!(hi, 0x1122_3344);
    }

    #[test]
    fn star_selects_the_gdt_layout() {
        let s = star();
        assert_eq!((s >> 32) & 0xFFFF, u64::from(KERNEL_CS));
        let base = (s >> 48) & 0xFFFF;
        assert_eq!(base + 16, u64::from(USER_CS & !3));
        assert_eq!(base + 8, u64::from(USER_DS & !3));
    }

    #[test]
    fn samples_have_one_decimal() {
        let mut s = String::new();
        sample(1234, &mut s).unwrap();
        assert_eq!(s, "123.4");
    }
}
