//! Rust side of the entry paths: routes guest exceptions, interrupts and syscalls to
//! `crate::dispatch` (or the boot self-test), handles interrupts taken in the hypervisor's
//! idle loop, and makes every other ring-0 exception fatal (register dump, exit 0x12).

use super::{cpu, entry::enter_guest, exit::qemu_exit, lapic, selftest};
use crate::arch::CpuUserRegs;
use crate::console::emergency_write;
use core::sync::atomic::{AtomicBool, Ordering};

const RFLAGS_TF: u64 = 1 << 8;

/// From ring 3, vectors 0–255 except NMI/#DF/#MC. `regs` is the fixed frame.
pub extern "C" fn hv_trap_from_guest(regs: &mut CpuUserRegs) -> ! {
    let v = regs.entry_vector;
    if v < 32 {
        if selftest::active() {
            selftest::on_exception(regs);
        } else {
            crate::dispatch::guest_exception(regs);
        }
    } else {
        crate::dispatch::before_eoi(v as u8);
        lapic::acknowledge(v as u8);
        if v == u32::from(super::smp::FLUSH_VECTOR) {
            // A shootdown while a guest ran here: flush and return to it.
            super::smp::flush_requested();
            enter_guest()
        }
        if selftest::active() {
            selftest::on_interrupt(regs);
        } else {
            crate::dispatch::guest_interrupt(regs);
        }
    }
    enter_guest()
}

/// `syscall` from ring 3. `regs` is the fixed frame.
pub extern "C" fn hv_syscall_from_guest(regs: &mut CpuUserRegs) -> ! {
    if selftest::active() {
        selftest::on_syscall(regs);
    } else {
        crate::dispatch::syscall(regs);
    }
    enter_guest()
}

/// `syscall` from ring 3 in compat mode (CSTAR). `regs` is the fixed frame.
pub extern "C" fn hv_syscall32_from_guest(regs: &mut CpuUserRegs) -> ! {
    crate::dispatch::syscall32(regs);
    enter_guest()
}

/// Set by the ring-0 #DB handler when a guest's `sysenter` ran with TF set.
static SYSENTER_TF: AtomicBool = AtomicBool::new(false);

/// `sysenter` from ring 3. `regs` is the fixed frame (rip 0, rsp 0, cs 3).
pub extern "C" fn hv_sysenter_from_guest(regs: &mut CpuUserRegs) -> ! {
    if SYSENTER_TF.swap(false, Ordering::Relaxed) {
        regs.rflags |= RFLAGS_TF;
    }
    crate::dispatch::sysenter(regs);
    enter_guest()
}

/// Taken in ring 0 (or any NMI/#DF/#MC): interrupts go to the idle handler, exceptions are fatal.
pub extern "C" fn hv_trap_from_hypervisor(regs: &mut CpuUserRegs) {
    let v = regs.entry_vector;
    if v >= 32 {
        crate::dispatch::before_eoi(v as u8);
        lapic::acknowledge(v as u8);
        if v == u32::from(super::smp::PING_VECTOR) {
            super::smp::pinged();
            return;
        }
        if v == u32::from(super::smp::FLUSH_VECTOR) {
            super::smp::flush_requested();
            return;
        }
        crate::dispatch::idle_interrupt(v as u8);
        return;
    }
    if v == 1 && super::entry::sysenter_step(regs.rip) {
        // A guest's TF survived its sysenter: step no further and hand TF to the guest.
        regs.rflags &= !RFLAGS_TF;
        SYSENTER_TF.store(true, Ordering::Relaxed);
        return;
    }
    if v == 2 {
        emergency_write(format_args!(
            "(XEN) NMI received at {:#x}, ignored\n",
            regs.rip
        ));
        return;
    }
    fatal(regs)
}

fn fatal(r: &CpuUserRegs) -> ! {
    let w = emergency_write;
    w(format_args!(
        "\n(XEN) FATAL TRAP: vector {} ({}), error code {:#x}, in {}\n",
        r.entry_vector,
        name(r.entry_vector),
        r.error_code,
        if r.cs & 3 == 3 {
            "guest (on an IST stack)"
        } else {
            "hypervisor"
        }
    ));
    w(format_args!(
        "(XEN) rip {:#018x} cs {:#x} rflags {:#x} rsp {:#018x} ss {:#x}\n",
        r.rip, r.cs, r.rflags, r.rsp, r.ss
    ));
    w(format_args!(
        "(XEN) rax {:#018x} rbx {:#018x} rcx {:#018x} rdx {:#018x}\n",
        r.rax, r.rbx, r.rcx, r.rdx
    ));
    w(format_args!(
        "(XEN) rsi {:#018x} rdi {:#018x} rbp {:#018x} r8  {:#018x}\n",
        r.rsi, r.rdi, r.rbp, r.r8
    ));
    w(format_args!(
        "(XEN) r9  {:#018x} r10 {:#018x} r11 {:#018x} r12 {:#018x}\n",
        r.r9, r.r10, r.r11, r.r12
    ));
    w(format_args!(
        "(XEN) r13 {:#018x} r14 {:#018x} r15 {:#018x}\n",
        r.r13, r.r14, r.r15
    ));
    w(format_args!(
        "(XEN) cr2 {:#018x} cr3 {:#018x}\n",
        cpu::read_cr2(),
        cpu::read_cr3()
    ));
    w(format_args!("(XEN) PANIC: fatal trap in the hypervisor\n"));
    qemu_exit(0x12)
}

fn name(v: u32) -> &'static str {
    match v {
        0 => "#DE",
        1 => "#DB",
        3 => "#BP",
        6 => "#UD",
        8 => "#DF",
        12 => "#SS",
        13 => "#GP",
        14 => "#PF",
        18 => "#MC",
        _ => "exception",
    }
}
