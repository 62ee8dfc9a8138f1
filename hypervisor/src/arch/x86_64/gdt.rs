//! The GDT (64 KiB, 8192 entries, Xen's reserved area from selector 0xe000) and the TSS with
//! RSP0 = the fixed guest frame's `es` field and IST stacks for NMI, #DF and #MC.

use core::arch::asm;
use core::mem::size_of;

/// Hypervisor 64-bit code.
pub const HV_CS: u16 = 0xe008;
/// Hypervisor data/stack.
pub const HV_DS: u16 = 0xe010;
/// Flat ring-3 32-bit code.
pub const FLAT_RING3_CS32: u16 = 0xe023;
/// Flat ring-3 data/stack.
pub const FLAT_RING3_DS: u16 = 0xe02b;
/// Flat ring-3 64-bit code.
pub const FLAT_RING3_CS64: u16 = 0xe033;
/// The TSS.
pub const TSS_SEL: u16 = 0xe040;

/// IST slots (1-based, as in the IDT gate).
pub const IST_NMI: u8 = 1;
/// IST for #DF.
pub const IST_DF: u8 = 2;
/// IST for #MC.
pub const IST_MC: u8 = 3;

const ENTRIES: usize = 8192;
const IST_STACK: usize = 16 * 1024;

#[repr(C, align(4096))]
struct Gdt([u64; ENTRIES]);

#[repr(C, packed(4))]
struct Tss {
    _r0: u32,
    rsp: [u64; 3],
    _r1: u64,
    ist: [u64; 7],
    _r2: u64,
    _r3: u16,
    iomap_base: u16,
}

#[repr(C, align(16))]
struct IstStacks([[u8; IST_STACK]; 3]);

static mut GDT: Gdt = Gdt([0; ENTRIES]);
static mut TSS: Tss = Tss {
    _r0: 0,
    rsp: [0; 3],
    _r1: 0,
    ist: [0; 7],
    _r2: 0,
    _r3: 0,
    iomap_base: 0,
};
static mut IST: IstStacks = IstStacks([[0; IST_STACK]; 3]);

#[repr(C, packed)]
struct Pointer {
    limit: u16,
    base: u64,
}

/// The GDT's linear address (8192 entries; guests' own entries go below 0xe000).
pub fn gdt_base() -> u64 {
    (&raw const GDT) as u64
}

/// Builds and loads the GDT and TSS; `rsp0` must be 16-aligned.
pub fn init(rsp0: u64) {
    assert_eq!(rsp0 % 16, 0);
    // SAFETY: boot-time, single CPU, nothing else touches the GDT/TSS/IST statics yet.
    unsafe {
        let gdt_ptr = &raw mut GDT;
        let gdt = &mut (*gdt_ptr).0;
        gdt[(HV_CS >> 3) as usize] = 0x00AF_9A00_0000_FFFF;
        gdt[(HV_DS >> 3) as usize] = 0x00CF_9200_0000_FFFF;
        gdt[(FLAT_RING3_CS32 >> 3) as usize] = 0x00CF_FA00_0000_FFFF;
        gdt[(FLAT_RING3_DS >> 3) as usize] = 0x00CF_F200_0000_FFFF;
        gdt[(FLAT_RING3_CS64 >> 3) as usize] = 0x00AF_FA00_0000_FFFF;
        let tss_ptr = &raw mut TSS;
        let tss = &mut *tss_ptr;
        tss.rsp[0] = rsp0;
        tss.iomap_base = size_of::<Tss>() as u16;
        let ist = &raw mut IST;
        for (i, slot) in [IST_NMI, IST_DF, IST_MC].into_iter().enumerate() {
            tss.ist[slot as usize - 1] = (&raw mut (*ist).0[i]) as u64 + IST_STACK as u64;
        }
        let base = (&raw const TSS) as u64;
        let limit = size_of::<Tss>() as u64 - 1;
        let t = (TSS_SEL >> 3) as usize;
        gdt[t] = (limit & 0xFFFF)
            | ((base & 0xFF_FFFF) << 16)
            | (0x89 << 40)
            | (((limit >> 16) & 0xF) << 48)
            | (((base >> 24) & 0xFF) << 56);
        gdt[t + 1] = base >> 32;
        let ptr = Pointer {
            limit: (ENTRIES * 8 - 1) as u16,
            base: gdt_base(),
        };
        asm!(
            "lgdt [{ptr}]",
            "push {cs}",
            "lea {tmp}, [rip + 2f]",
            "push {tmp}",
            "retfq",
            "2:",
            "mov ss, {ds:x}",
            "mov ds, {ds:x}",
            "mov es, {ds:x}",
            "ltr {tss:x}",
            ptr = in(reg) &ptr,
            cs = in(reg) u64::from(HV_CS),
            ds = in(reg) u32::from(HV_DS),
            tss = in(reg) TSS_SEL,
            tmp = out(reg) _,
        );
    }
}
