//! Exceptions raised by guests.
//!
//! A guest's exception goes back to the guest's own handler when it registered one (the
//! bounce-frame path lands with the trap-table work); otherwise the domain is crashed and
//! reported while every other domain runs on.

use crate::domain::{lifecycle, state};
use guest_abi::arch::CpuUserRegs;

/// Mnemonic of an exception vector.
pub fn vector_name(v: u32) -> &'static str {
    const NAMES: [&str; 21] = [
        "divide error (#DE)",
        "debug (#DB)",
        "NMI",
        "breakpoint (#BP)",
        "overflow (#OF)",
        "bound range (#BR)",
        "invalid opcode (#UD)",
        "device not available (#NM)",
        "double fault (#DF)",
        "coprocessor segment overrun",
        "invalid TSS (#TS)",
        "segment not present (#NP)",
        "stack fault (#SS)",
        "general protection fault (#GP)",
        "page fault (#PF)",
        "reserved",
        "x87 error (#MF)",
        "alignment check (#AC)",
        "machine check (#MC)",
        "SIMD error (#XM)",
        "virtualization (#VE)",
    ];
    NAMES.get(v as usize).copied().unwrap_or("exception")
}

/// An exception (vector 0–31) from a guest.
pub fn guest_exception(regs: &mut CpuUserRegs) {
    let vector = regs.entry_vector & 0xFF;
    let mut detail = [0u8; 160];
    let n = {
        let mut w = crate::util::ByteWriter::new(&mut detail);
        let _ = core::fmt::write(
            &mut w,
            format_args!(
                "{} at rip {:#x}, error code {:#x}, no handler registered",
                vector_name(vector),
                regs.rip,
                regs.error_code
            ),
        );
        if vector == 14 {
            let _ = core::fmt::write(
                &mut w,
                format_args!(", cr2 {:#x}", crate::arch::x86_64::cpu::read_cr2()),
            );
        }
        w.len()
    };
    let why = core::str::from_utf8(&detail[..n]).unwrap_or("exception");
    crash_current(regs, why);
}

/// Crash the running domain with a reason and switch to another.
pub fn crash_current(regs: &mut CpuUserRegs, why: &str) {
    state::with(|st| {
        let id = st.current;
        lifecycle::crash(st, id, format_args!("{why}"));
    });
    crate::sched::schedule(regs);
}
