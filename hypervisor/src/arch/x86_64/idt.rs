//! The IDT: 256 interrupt gates to the generated stubs (`build.rs`), DPL 0 except `int3` and
//! `into` (DPL 3, as Xen), IST stacks for NMI, #DF and #MC.

use super::gdt::{HV_CS, IST_DF, IST_MC, IST_NMI};
use core::arch::asm;

#[repr(C, align(16))]
struct Idt([[u64; 2]; 256]);

core::arch::global_asm!(
    include_str!(concat!(env!("OUT_DIR"), "/idt_stubs.s")),
    options(att_syntax)
);

static mut IDT: Idt = Idt([[0; 2]; 256]);

extern "C" {
    static hv_idt_stub_table: [u64; 256];
}

#[repr(C, packed)]
struct Pointer {
    limit: u16,
    base: u64,
}

fn gate(handler: u64, dpl: u64, ist: u8) -> [u64; 2] {
    let lo = (handler & 0xFFFF)
        | (u64::from(HV_CS) << 16)
        | (u64::from(ist) << 32)
        | ((0x8E | (dpl << 5)) << 40)
        | (((handler >> 16) & 0xFFFF) << 48);
    [lo, handler >> 32]
}

/// Builds and loads the IDT.
pub fn init() {
    // SAFETY: boot-time, single CPU; the stub table is immutable data from build.rs.
    unsafe {
        let (idt_ptr, stubs_ptr) = (&raw mut IDT, &raw const hv_idt_stub_table);
        let idt = &mut (*idt_ptr).0;
        let stubs = &*stubs_ptr;
        for (v, e) in idt.iter_mut().enumerate() {
            let dpl = if v == 3 || v == 4 { 3 } else { 0 };
            let ist = match v {
                2 => IST_NMI,
                8 => IST_DF,
                18 => IST_MC,
                _ => 0,
            };
            *e = gate(stubs[v], dpl, ist);
        }
        let ptr = Pointer {
            limit: (256 * 16 - 1) as u16,
            base: (&raw const IDT) as u64,
        };
        asm!("lidt [{}]", in(reg) &ptr, options(nostack));
    }
}

/// Loads the (shared, already built) IDT on an application processor.
pub fn load() {
    let ptr = Pointer {
        limit: (256 * 16 - 1) as u16,
        base: (&raw const IDT) as u64,
    };
    // SAFETY: `init` built the IDT on the boot processor before any other CPU started; it
    // is never changed afterwards.
    unsafe { asm!("lidt [{}]", in(reg) &ptr, options(nostack)) };
}
