//! Hypercall entry: a table indexed by Xen's hypercall numbers, one module per family.

mod callbacks;
mod console;
pub mod descriptors;
mod domctl;
mod event_channel;
mod fpu;
mod grant_table;
mod iret;
mod memory_op;
mod mmu;
mod multicall;
mod perfc;
mod sched_op;
mod sysctl;
mod timer;
mod vcpu_op;
mod version;

use crate::domain::state::{self, State};
use guest_abi::arch::CpuUserRegs;
use guest_abi::errno::Errno;
use guest_abi::hypercall::nr;

/// What a handler asks the entry path to do after it ran.
pub enum Outcome {
    /// Return this value in rax.
    Done(u64),
    /// Return the value and let another vCPU run first.
    Reschedule(u64),
    /// The calling vCPU cannot continue (blocked, shut down, crashed): switch away.
    Deschedule,
    /// The handler rewrote the guest's registers (rax included): return to them.
    Regs,
    /// Re-execute the hypercall later with the argument registers the handler updated.
    Continue,
}

/// The result type of a hypercall handler.
pub type HcResult = Result<Outcome, Errno>;

/// A handler: the global state, the caller's registers, and the five arguments.
pub type Handler = fn(&mut State, &mut CpuUserRegs, [u64; 5]) -> HcResult;

const fn table() -> [Option<Handler>; nr::NR_HYPERCALLS] {
    let mut t: [Option<Handler>; nr::NR_HYPERCALLS] = [None; nr::NR_HYPERCALLS];
    t[nr::CONSOLE_IO] = Some(console::console_io);
    t[nr::XEN_VERSION] = Some(version::xen_version);
    t[nr::SCHED_OP] = Some(sched_op::sched_op);
    t[nr::EVENT_CHANNEL_OP] = Some(event_channel::event_channel_op);
    t[nr::SET_TIMER_OP] = Some(timer::set_timer_op);
    t[nr::VCPU_OP] = Some(vcpu_op::vcpu_op);
    t[nr::DOMCTL] = Some(domctl::domctl);
    t[nr::SYSCTL] = Some(sysctl::sysctl);
    t[nr::SET_TRAP_TABLE] = Some(callbacks::set_trap_table);
    t[nr::SET_CALLBACKS] = Some(callbacks::set_callbacks);
    t[nr::CALLBACK_OP] = Some(callbacks::callback_op);
    t[nr::STACK_SWITCH] = Some(callbacks::stack_switch);
    t[nr::SET_SEGMENT_BASE] = Some(callbacks::set_segment_base);
    t[nr::IRET] = Some(iret::iret);
    t[nr::GRANT_TABLE_OP] = Some(grant_table::grant_table_op);
    t[nr::MEMORY_OP] = Some(memory_op::memory_op);
    t[nr::MMU_UPDATE] = Some(mmu::mmu_update);
    t[nr::MMUEXT_OP] = Some(mmu::mmuext_op);
    t[nr::UPDATE_VA_MAPPING] = Some(mmu::update_va_mapping);
    t[nr::UPDATE_VA_MAPPING_OTHERDOMAIN] = Some(mmu::update_va_mapping_otherdomain);
    t[nr::MULTICALL] = Some(multicall::multicall);
    t[nr::SET_GDT] = Some(descriptors::set_gdt);
    t[nr::UPDATE_DESCRIPTOR] = Some(descriptors::update_descriptor);
    t[nr::FPU_TASKSWITCH] = Some(fpu::fpu_taskswitch);
    t
}

static TABLE: [Option<Handler>; nr::NR_HYPERCALLS] = table();

/// The handler of hypercall `num`, if there is one (for `multicall`).
fn lookup(num: usize) -> Option<Handler> {
    TABLE.get(num).copied().flatten()
}

/// A `syscall` from the guest: a hypercall from guest kernel mode.
pub fn syscall_entry(regs: &mut CpuUserRegs) {
    let num = regs.rax;
    let args = [regs.rdi, regs.rsi, regs.rdx, regs.r10, regs.r8];
    let handler = usize::try_from(num)
        .ok()
        .and_then(|n| TABLE.get(n).copied().flatten());
    // One critical section: the mode check and the handler.
    if !state::current_in_kernel() {
        // A system call of the guest's user task: the guest kernel's syscall callback.
        crate::traps::user_syscall(regs);
        return;
    }
    let outcome = state::with(|st| match handler {
        Some(h) => h(st, regs, args),
        None => Err(Errno::ENOSYS),
    });
    match outcome {
        Ok(Outcome::Done(v)) => regs.rax = v,
        Ok(Outcome::Reschedule(v)) => {
            regs.rax = v;
            crate::sched::schedule(regs);
        }
        Ok(Outcome::Deschedule) => crate::sched::schedule(regs),
        Ok(Outcome::Regs) => {}
        Ok(Outcome::Continue) => {
            // Run the `syscall` again: rax keeps the hypercall number.
            regs.rax = num;
            regs.rip = regs.rip.wrapping_sub(2);
            crate::sched::schedule(regs);
        }
        Err(e) => {
            regs.rax = e.to_ret() as u64;
            // A handler may have crashed the caller (e.g. an unreadable iret frame).
            if !state::with(|st| st.cur().runnable()) {
                crate::sched::schedule(regs);
            }
        }
    }
}
