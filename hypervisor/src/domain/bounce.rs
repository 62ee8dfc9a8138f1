//! Bounce frames: how the hypervisor enters a guest kernel's handler (exception, event
//! upcall, syscall or failsafe callback), and the guest's kernel/user mode switch.
//!
//! The frame sits on the guest kernel stack laid out as Xen's: RCX, R11, [error code or the
//! failsafe segment selectors], RIP, CS with the saved upcall mask in bits 32–39, RFLAGS,
//! RSP, SS.

use crate::arch;
use crate::arch::desc as descriptor;
use crate::domain::selectors as descriptors;
use crate::domain::{state::State, vcpu_info};
use crate::mm::guest_copy;
use guest_abi::arch::{CpuUserRegs, FLAT_KERNEL_CS64, FLAT_KERNEL_SS64};

const RFLAGS_IF: u64 = 1 << 9;
/// Flags cleared when entering a guest handler: TF, NT, RF, AC.
const RFLAGS_HANDLER_CLEAR: u64 = (1 << 8) | (1 << 14) | (1 << 16) | (1 << 18);
/// Switch the current vCPU between guest kernel and user mode: page tables and GS base.
pub fn toggle_guest_mode(st: &mut State) {
    let v = st.cur_vcpu();
    if v.in_kernel {
        v.gs_base_kernel = arch::cpu::gs_base();
        arch::cpu::set_gs_base(v.gs_base_user);
    } else {
        v.gs_base_user = arch::cpu::gs_base();
        arch::cpu::set_gs_base(v.gs_base_kernel);
    }
    v.in_kernel = !v.in_kernel;
    let l4 = v.active_l4();
    st.sync_mode();
    arch::cpu::write_cr3(l4.addr());
}

/// Deliver to guest handler `handler`: write the bounce frame on the guest kernel stack
/// (entering kernel mode first if the guest was in user mode) and point `regs` at it.
pub fn bounce(
    st: &mut State,
    regs: &mut CpuUserRegs,
    handler: u64,
    error: Option<u64>,
    mask_events: bool,
) -> Result<(), &'static str> {
    match error {
        Some(e) => bounce_with(st, regs, handler, &[e], mask_events),
        None => bounce_with(st, regs, handler, &[], mask_events),
    }
}

/// Whether `iretq` can return the current vCPU to this context: usable ring-3 selectors (the
/// flat ones or the guest's own, as Linux's 0x33/0x2b) and a rip the code segment can hold.
pub fn return_frame_ok(st: &State, cs: u16, ss: u16, rip: u64) -> bool {
    descriptor::user_return_ok(cs, ss, rip, |sel| descriptors::descriptor(st, sel))
}

/// The guest is to return to a context the CPU cannot enter. As when Xen's own exit to the
/// guest faults: usable selectors with a non-canonical rip fault in guest context, so the
/// guest kernel gets a #GP (error code 0, the bad rip in its frame) through its trap table;
/// unusable selectors (or no #GP handler) go to its failsafe callback; with neither the
/// caller crashes the domain.
pub fn bad_return(st: &mut State, regs: &mut CpuUserRegs) -> Result<(), &'static str> {
    let selectors_ok =
        descriptor::user_selectors(regs.cs, regs.ss, |sel| descriptors::descriptor(st, sel))
            .is_some();
    let gp = st.cur_vcpu().trap_table[13];
    if selectors_ok && gp.address != 0 {
        return bounce(st, regs, gp.address, Some(0), gp.flags & 4 != 0);
    }
    failsafe(st, regs)
}

/// The guest asked to return to a context the CPU cannot enter (bad selectors or rip):
/// deliver its failsafe callback, with the frame `rcx, r11, ds, es, fs, gs, rip, cs, rflags,
/// rsp, ss` describing that context, or crash it if it registered none.
pub fn failsafe(st: &mut State, regs: &mut CpuUserRegs) -> Result<(), &'static str> {
    let cb = st.cur_vcpu().callbacks;
    if cb.failsafe == 0 {
        return Err("bad iret context (selectors or rip) and no failsafe callback");
    }
    // As Xen: the data selectors the guest has loaded (the CPU keeps them; the entry frame
    // of a 64-bit guest does not hold them).
    let segs = arch::cpu::data_selectors().map(u64::from);
    bounce_with(st, regs, cb.failsafe, &segs, cb.failsafe_masks_events)
}

/// Write a bounce frame with `middle` (error code, or failsafe segment selectors) between
/// R11 and RIP.
fn bounce_with(
    st: &mut State,
    regs: &mut CpuUserRegs,
    handler: u64,
    middle: &[u64],
    mask_events: bool,
) -> Result<(), &'static str> {
    let saved_mask = vcpu_info::upcall_masked(&st.cur_vcpu_info());
    let was_kernel = st.cur_vcpu().in_kernel;
    if !was_kernel {
        toggle_guest_mode(st);
    }
    let sp = if was_kernel {
        regs.rsp
    } else {
        st.cur_vcpu().kernel_sp
    } & !0xF;
    // The guest kernel sees RPL 0 for frames from its own mode, 3 from user mode.
    let cs = (if was_kernel {
        u64::from(regs.cs) & !3
    } else {
        u64::from(regs.cs)
    }) | (u64::from(saved_mask) << 32);
    let rflags = (regs.rflags & !RFLAGS_IF) | if saved_mask { 0 } else { RFLAGS_IF };
    let mut frame = [0u64; 11];
    let mut n = 0;
    let mut push = |v: u64| {
        frame[n] = v;
        n += 1;
    };
    push(regs.rcx);
    push(regs.r11);
    for &m in middle {
        push(m);
    }
    push(regs.rip);
    push(cs);
    push(rflags);
    push(regs.rsp);
    push(u64::from(regs.ss));
    let new_sp = sp.wrapping_sub(8 * n as u64);
    let mut bytes = [0u8; 88];
    for (chunk, w) in bytes.chunks_exact_mut(8).zip(&frame[..n]) {
        chunk.copy_from_slice(&w.to_le_bytes());
    }
    guest_copy::copy_to_guest(&st.mem, new_sp, &bytes[..8 * n])
        .map_err(|_| "cannot write the bounce frame to the guest kernel stack")?;
    regs.rip = handler;
    regs.rsp = new_sp;
    regs.cs = FLAT_KERNEL_CS64;
    regs.ss = FLAT_KERNEL_SS64;
    regs.rflags &= !RFLAGS_HANDLER_CLEAR;
    if mask_events {
        vcpu_info::set_upcall_mask(&st.cur_vcpu_info(), true);
    }
    Ok(())
}

/// The CPU now runs the current vCPU instead of `prev`: switch the lazily kept FPU state and
/// the descriptor tables.
pub fn vcpu_switched(st: &mut State, prev: crate::domain::VcpuId) {
    crate::domain::fpu::switched(st, prev);
    let desc = st.cur_vcpu().desc;
    arch::gdt::load_guest_tables(&desc);
}
