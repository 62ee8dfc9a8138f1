//! Hypercall entry: a table indexed by Xen's hypercall numbers, one module per family.

mod callbacks;
mod console;
mod debugreg;
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
mod physdev;
mod sched_op;
mod sysctl;
mod timer;
mod vcpu_op;
mod version;
mod vm_assist;

#[cfg(test)]
mod tests;

use crate::domain::state::{self, State};
use guest_abi::arch::CpuUserRegs;
use guest_abi::errno::Errno;
use guest_abi::hypercall::nr;
use guest_abi::hypercall_args::{HypercallArgs, RawArgs};

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

/// A table entry: the global state, the caller's registers, and the five raw argument
/// registers, which the entry decodes into the handler's typed view
/// (`guest_abi::hypercall_args`) before calling it.
pub type Handler = fn(&mut State, &mut CpuUserRegs, RawArgs) -> HcResult;

/// The table entry for `handler`: decodes the raw registers into the view it takes (a value
/// too wide for its declared type fails with EINVAL, before the handler runs).
macro_rules! typed {
    ($handler:path) => {{
        fn entry(st: &mut State, regs: &mut CpuUserRegs, raw: RawArgs) -> HcResult {
            $handler(st, regs, HypercallArgs::decode(raw)?)
        }
        entry as Handler
    }};
}

const fn table() -> [Option<Handler>; nr::NR_HYPERCALLS] {
    let mut t: [Option<Handler>; nr::NR_HYPERCALLS] = [None; nr::NR_HYPERCALLS];
    t[nr::CONSOLE_IO] = Some(typed!(console::console_io));
    t[nr::XEN_VERSION] = Some(typed!(version::xen_version));
    t[nr::SCHED_OP] = Some(typed!(sched_op::sched_op));
    t[nr::EVENT_CHANNEL_OP] = Some(typed!(event_channel::event_channel_op));
    t[nr::SET_TIMER_OP] = Some(typed!(timer::set_timer_op));
    t[nr::VCPU_OP] = Some(typed!(vcpu_op::vcpu_op));
    t[nr::DOMCTL] = Some(typed!(domctl::domctl));
    t[nr::SYSCTL] = Some(typed!(sysctl::sysctl));
    t[nr::SET_TRAP_TABLE] = Some(typed!(callbacks::set_trap_table));
    t[nr::SET_CALLBACKS] = Some(typed!(callbacks::set_callbacks));
    t[nr::CALLBACK_OP] = Some(typed!(callbacks::callback_op));
    t[nr::STACK_SWITCH] = Some(typed!(callbacks::stack_switch));
    t[nr::SET_SEGMENT_BASE] = Some(typed!(callbacks::set_segment_base));
    t[nr::IRET] = Some(typed!(iret::iret));
    t[nr::GRANT_TABLE_OP] = Some(typed!(grant_table::grant_table_op));
    t[nr::MEMORY_OP] = Some(typed!(memory_op::memory_op));
    t[nr::MMU_UPDATE] = Some(typed!(mmu::mmu_update));
    t[nr::MMUEXT_OP] = Some(typed!(mmu::mmuext_op));
    t[nr::UPDATE_VA_MAPPING] = Some(typed!(mmu::update_va_mapping));
    t[nr::UPDATE_VA_MAPPING_OTHERDOMAIN] = Some(typed!(mmu::update_va_mapping_otherdomain));
    t[nr::MULTICALL] = Some(typed!(multicall::multicall));
    t[nr::SET_GDT] = Some(typed!(descriptors::set_gdt));
    t[nr::UPDATE_DESCRIPTOR] = Some(typed!(descriptors::update_descriptor));
    t[nr::FPU_TASKSWITCH] = Some(typed!(fpu::fpu_taskswitch));
    t[nr::VM_ASSIST] = Some(typed!(vm_assist::vm_assist));
    t[nr::PHYSDEV_OP] = Some(typed!(physdev::physdev_op));
    t[nr::SET_DEBUGREG] = Some(typed!(debugreg::set_debugreg));
    t[nr::GET_DEBUGREG] = Some(typed!(debugreg::get_debugreg));
    t
}

static TABLE: [Option<Handler>; nr::NR_HYPERCALLS] = table();

/// A hypercall served without the global state: `None` when this call needs it after all
/// (its locked [`Handler`] runs instead). Such a handler touches nothing the lock guards:
/// only the caller's registers and the caller's own lock-free per-vCPU state (reached
/// through this CPU's current-vCPU slot, `domain::state::with_current_oneshot`). It may run
/// while another CPU stops the caller's domain: its effect is that of a call made just
/// before the stop, which takes effect when the vCPU next enters the hypervisor.
pub type Lockless = fn(&CpuUserRegs, RawArgs) -> Option<HcResult>;

const fn lockless_table() -> [Option<Lockless>; nr::NR_HYPERCALLS] {
    let mut t: [Option<Lockless>; nr::NR_HYPERCALLS] = [None; nr::NR_HYPERCALLS];
    t[nr::XEN_VERSION] = Some(version::xen_version_lockless);
    t[nr::SET_TIMER_OP] = Some(timer::set_timer_op_lockless);
    t
}

static LOCKLESS: [Option<Lockless>; nr::NR_HYPERCALLS] = lockless_table();

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
    let quick = usize::try_from(num)
        .ok()
        .and_then(|n| LOCKLESS.get(n).copied().flatten())
        .and_then(|f| f(regs, args));
    let outcome = quick.unwrap_or_else(|| {
        state::with(|st| match handler {
            // A vCPU whose domain was paused, shut down or is dying (by another CPU) while it
            // ran makes no call: it leaves the CPU and re-issues the call if it runs again.
            _ if !st.caller_may_run() => Ok(Outcome::Continue),
            Some(h) => h(st, regs, args),
            None => Err(Errno::ENOSYS),
        })
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
