//! The GDT (64 KiB, 8192 entries, Xen's reserved area from selector 0xe000) and the TSS with
//! RSP0 = the fixed guest frame's `es` field and IST stacks for NMI, #DF and #MC.

use crate::cpus::MAX_CPUS;
use core::arch::asm;
use core::mem::size_of;
use guest_abi::types::Mfn;

/// Hypervisor 64-bit code.
pub const HV_CS: u16 = 0xe008;
/// Hypervisor data/stack.
pub const HV_DS: u16 = 0xe010;
/// The flat ring-3 selectors guests use, as Xen's public ABI fixes them (guest-abi).
pub use guest_abi::arch::{FLAT_RING3_CS32, FLAT_RING3_CS64, FLAT_RING3_DS32 as FLAT_RING3_DS};
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

/// CPU `cpu`'s GDT (8192 entries; guests' own entries go below 0xe000).
fn gdt_of(cpu: usize) -> *mut Gdt {
    assert!(cpu < MAX_CPUS);
    if cpu == 0 {
        &raw mut GDT
    } else {
        // SAFETY: only the address of slot cpu - 1 is computed.
        unsafe { (&raw mut AP_GDT).cast::<Gdt>().add(cpu - 1) }
    }
}

/// This CPU's GDT's linear address.
pub fn gdt_base() -> u64 {
    gdt_of(super::stacks::this_cpu()) as u64
}

/// The application processors' GDTs, TSSs and IST stacks (CPU n uses slot n - 1).
static mut AP_GDT: [Gdt; MAX_CPUS - 1] = [const { Gdt([0; ENTRIES]) }; MAX_CPUS - 1];
static mut AP_TSS: [Tss; MAX_CPUS - 1] = [const {
    Tss {
        _r0: 0,
        rsp: [0; 3],
        _r1: 0,
        ist: [0; 7],
        _r2: 0,
        _r3: 0,
        iomap_base: 0,
    }
}; MAX_CPUS - 1];
static mut AP_IST: [IstStacks; MAX_CPUS - 1] =
    [const { IstStacks([[0; IST_STACK]; 3]) }; MAX_CPUS - 1];

/// Builds and loads the boot processor's GDT and TSS; `rsp0` must be 16-aligned.
pub fn init(rsp0: u64) {
    // SAFETY: boot-time, single CPU, nothing else touches the GDT/TSS/IST statics yet.
    unsafe { build(&raw mut GDT, &raw mut TSS, &raw mut IST, rsp0) }
}

/// Builds and loads application processor `cpu`'s own GDT and TSS (1 <= cpu < MAX_CPUS).
pub fn init_ap(cpu: usize, rsp0: u64) {
    assert!((1..MAX_CPUS).contains(&cpu));
    // SAFETY: slot cpu - 1 belongs to that processor alone, which calls this once while
    // starting (the boot processor waits for it).
    unsafe {
        build(
            (&raw mut AP_GDT).cast::<Gdt>().add(cpu - 1),
            (&raw mut AP_TSS).cast::<Tss>().add(cpu - 1),
            (&raw mut AP_IST).cast::<IstStacks>().add(cpu - 1),
            rsp0,
        )
    }
}

/// Fills `gdt` with the hypervisor's and the flat ring-3 descriptors and a TSS descriptor
/// for `tss` (RSP0 = `rsp0`, IST stacks in `ist`), then loads them on this CPU.
///
/// # Safety
/// The three belong to the calling CPU and nothing else accesses them meanwhile.
unsafe fn build(gdt_ptr: *mut Gdt, tss_ptr: *mut Tss, ist: *mut IstStacks, rsp0: u64) {
    assert_eq!(rsp0 % 16, 0);
    // SAFETY: per the contract.
    unsafe {
        let gdt = &mut (*gdt_ptr).0;
        gdt[(HV_CS >> 3) as usize] = 0x00AF_9A00_0000_FFFF;
        gdt[(HV_DS >> 3) as usize] = 0x00CF_9200_0000_FFFF;
        gdt[(FLAT_RING3_CS32 >> 3) as usize] = 0x00CF_FA00_0000_FFFF;
        gdt[(FLAT_RING3_DS >> 3) as usize] = 0x00CF_F200_0000_FFFF;
        gdt[(FLAT_RING3_CS64 >> 3) as usize] = 0x00AF_FA00_0000_FFFF;
        let tss = &mut *tss_ptr;
        tss.rsp[0] = rsp0;
        tss.iomap_base = size_of::<Tss>() as u16;
        for (i, slot) in [IST_NMI, IST_DF, IST_MC].into_iter().enumerate() {
            tss.ist[slot as usize - 1] = (&raw mut (*ist).0[i]) as u64 + IST_STACK as u64;
        }
        let base = tss_ptr as u64;
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
            base: gdt_ptr as u64,
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

use crate::arch::desc::{
    GuestDescTables, GUEST_GDT_ENTRIES, GUEST_GDT_PAGES, LDT_ENTRIES, LDT_PAGES,
};
/// The LDT descriptor (16 bytes, after the TSS's 16) in the reserved area.
pub const LDT_SEL: u16 = 0xe050;

/// The linear area a CPU's live LDT frames are mapped into (never accessed as data).
#[repr(C, align(4096))]
struct LdtArea([u64; LDT_ENTRIES as usize]);
static mut LDT_AREA: [LdtArea; MAX_CPUS] = [const { LdtArea([0; LDT_ENTRIES as usize]) }; MAX_CPUS];

fn ldt_area_of(cpu: usize) -> *mut LdtArea {
    assert!(cpu < MAX_CPUS);
    // SAFETY: only the address of slot `cpu` is computed.
    unsafe { (&raw mut LDT_AREA).cast::<LdtArea>().add(cpu) }
}

/// Entries of the LDT loaded on each CPU (0: none).
static LDT_LOADED_ENTS: [core::sync::atomic::AtomicU64; MAX_CPUS] =
    [const { core::sync::atomic::AtomicU64::new(0) }; MAX_CPUS];

/// The descriptor the non-null selector `sel` names in this CPU's live tables, as the CPU
/// would read it: the guest's GDT pages below the reserved area, or the loaded LDT within
/// its limit. `None` for the reserved area (the hypervisor's own entries), null, or past the
/// LDT.
pub fn live_descriptor(sel: u16) -> Option<u64> {
    let me = super::stacks::this_cpu();
    let idx = usize::from(sel >> 3);
    if sel & 4 != 0 {
        let ents = LDT_LOADED_ENTS[me].load(core::sync::atomic::Ordering::Relaxed);
        if idx as u64 >= ents {
            return None;
        }
        // SAFETY: idx is within the loaded LDT, whose pages are mapped in this CPU's LDT
        // area (guest frames or the zeroed backing); only this CPU loads its tables.
        return Some(unsafe { (&raw const (*ldt_area_of(me)).0[idx]).read_volatile() });
    }
    if idx == 0 || idx as u64 >= GUEST_GDT_ENTRIES {
        return None;
    }
    // SAFETY: below the reserved area this CPU's GDT pages map the vCPU's descriptor frames
    // or the zeroed backing; only this CPU loads its tables.
    Some(unsafe { (&raw const (*gdt_of(me)).0[idx]).read_volatile() })
}

/// Per CPU: what each remappable page currently maps (0 = its own backing page).
static mut LOADED: [[Mfn; GUEST_GDT_PAGES + LDT_PAGES]; MAX_CPUS] =
    [[Mfn(0); GUEST_GDT_PAGES + LDT_PAGES]; MAX_CPUS];

/// Map machine frame `mfn` (0 = the page's own zeroed backing) at page `va` of this CPU's
/// tables, supervisor RW. The CPU writes descriptors' accessed bits, so the mapping is
/// writable; the guest cannot reach it (supervisor-only, in the hole) and cannot write the
/// frames itself (typed seg_desc).
fn remap(slot: usize, va: u64, mfn: Mfn) {
    let me = super::stacks::this_cpu();
    // SAFETY: row `me` of LOADED belongs to this CPU, which runs here with interrupts off.
    let loaded = unsafe {
        &mut (*(&raw mut LOADED)
            .cast::<[Mfn; GUEST_GDT_PAGES + LDT_PAGES]>()
            .add(me))
    };
    if loaded[slot] == mfn {
        return;
    }
    let pa = if mfn == Mfn(0) {
        crate::phys::image_virt_to_phys(va)
    } else {
        mfn.addr()
    };
    let flags = super::paging::RW | super::paging::nx();
    if super::paging::map_4k(super::paging::idle_l4_mfn(), va, pa, flags).is_err() {
        panic!("remapping descriptor-table page {va:#x} failed");
    }
    super::paging::invlpg(va);
    loaded[slot] = mfn;
}

/// Make `t` this CPU's live descriptor tables: its GDT frames below 0xe000 and its LDT.
pub fn load_guest_tables(t: &GuestDescTables) {
    let me = super::stacks::this_cpu();
    let gdt = gdt_of(me) as u64;
    for i in 0..GUEST_GDT_PAGES {
        let mfn = if i < t.gdt_nr { t.gdt[i] } else { Mfn(0) };
        remap(i, gdt + (i as u64) * 4096, mfn);
    }
    LDT_LOADED_ENTS[me].store(t.ldt_ents, core::sync::atomic::Ordering::Relaxed);
    if t.ldt_ents == 0 {
        // SAFETY: a null LDT selector just disables the LDT.
        unsafe { asm!("lldt {0:x}", in(reg) 0u16, options(nostack)) };
        return;
    }
    let ldt = ldt_area_of(me) as u64;
    for i in 0..LDT_PAGES {
        let mfn = if i < t.ldt_nr { t.ldt[i] } else { Mfn(0) };
        remap(GUEST_GDT_PAGES + i, ldt + (i as u64) * 4096, mfn);
    }
    let limit = t.ldt_ents * 8 - 1;
    let lo = (limit & 0xFFFF)
        | ((ldt & 0xFF_FFFF) << 16)
        | (0x82 << 40)
        | (((limit >> 16) & 0xF) << 48)
        | (((ldt >> 24) & 0xFF) << 56);
    let idx = (LDT_SEL >> 3) as usize;
    // SAFETY: the reserved area (page 14) is this CPU's GDT's own backing page, never
    // remapped; the LDT descriptor slots belong to this function alone, on this CPU.
    unsafe {
        let gdt = &mut (*gdt_of(me)).0;
        gdt[idx] = lo;
        gdt[idx + 1] = ldt >> 32;
        asm!("lldt {0:x}", in(reg) LDT_SEL, options(nostack));
    }
}
