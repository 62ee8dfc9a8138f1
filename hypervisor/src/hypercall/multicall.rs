//! `multicall`: a batch of hypercalls, each run through the hypercall table with its result
//! written back into its entry.
//!
//! A batch is worked through a bounded number of entries at a time and then continued (the
//! guest re-executes the call on the rest), so a huge count cannot hold the CPU. A nested
//! multicall is refused with EINVAL. An `iret` entry is done as Xen does it: it returns the
//! guest to the context on its stack (read at the guest's rsp, as for a plain `iret`) and
//! ends the batch there; the entries after it do not run.
//! An entry that itself asks to be continued or to give up the CPU (a long `mmu_update`,
//! `SCHEDOP_block`) makes the batch continue from that entry, with the arguments the
//! handler updated written back into it.

use super::{HcResult, Outcome};
use crate::arch::preempt::Slice;
use crate::domain::state::State;
use crate::mm::guest_copy;
use guest_abi::arch::CpuUserRegs;
use guest_abi::errno::Errno;
use guest_abi::hypercall::nr;
use guest_abi::hypercall_args::*;
use guest_abi::multicall::MulticallEntry;

/// Entries handled before the call is continued.
const BATCH: u64 = 32;
const ENTRY: u64 = core::mem::size_of::<MulticallEntry>() as u64;

/// Point the caller's arguments at what is left of the batch.
fn rest(regs: &mut CpuUserRegs, list: u64, i: u64, count: u64) {
    regs.rdi = list.wrapping_add(i * ENTRY);
    regs.rsi = count - i;
}

/// multicall(entries, count).
pub fn multicall(st: &mut State, regs: &mut CpuUserRegs, a: MulticallArgs) -> HcResult {
    let (list, count) = (a.list, u64::from(a.count));
    let slice = Slice::start();
    for i in 0..count {
        if i == BATCH || (i > 0 && slice.expired()) {
            rest(regs, list, i, count);
            return Ok(Outcome::Continue);
        }
        let va = list.wrapping_add(i * ENTRY);
        let mut e: MulticallEntry = guest_copy::read(&st.mem, va)?;
        let args = [e.args[0], e.args[1], e.args[2], e.args[3], e.args[4]];
        let mut sub = *regs;
        (sub.rax, sub.rdi, sub.rsi, sub.rdx, sub.r10, sub.r8) =
            (e.op, args[0], args[1], args[2], args[3], args[4]);
        if e.op == nr::IRET as u64 {
            // The caller's own frame is what `iret` rewrites.
            let r = super::iret::iret(st, regs, NoArgs);
            let result = match &r {
                Ok(_) => 0,
                Err(err) => err.to_ret() as u64,
            };
            let _ = guest_copy::write(&st.mem, va + 8, &result);
            return r;
        }
        let outcome = match usize::try_from(e.op) {
            Ok(nr::MULTICALL) => Err(Errno::EINVAL),
            Ok(op) => match super::lookup(op) {
                Some(h) => h(st, &mut sub, args),
                None => Err(Errno::ENOSYS),
            },
            Err(_) => Err(Errno::ENOSYS),
        };
        let (result, yield_cpu) = match outcome {
            Ok(Outcome::Done(v)) => (v, false),
            Ok(Outcome::Regs) => (sub.rax, false),
            Ok(Outcome::Reschedule(v)) => (v, true),
            Ok(Outcome::Deschedule) => (0, true),
            Ok(Outcome::Continue) => {
                // Re-run this entry later with the arguments its handler advanced.
                e.args[..5].copy_from_slice(&[sub.rdi, sub.rsi, sub.rdx, sub.r10, sub.r8]);
                guest_copy::write(&st.mem, va, &e)?;
                rest(regs, list, i, count);
                return Ok(Outcome::Continue);
            }
            Err(err) => (err.to_ret() as u64, false),
        };
        guest_copy::write(&st.mem, va + 8, &result)?;
        if yield_cpu || !st.cur().runnable() {
            if i + 1 == count {
                regs.rax = 0;
                return Ok(Outcome::Deschedule);
            }
            rest(regs, list, i + 1, count);
            return Ok(Outcome::Continue);
        }
    }
    Ok(Outcome::Done(0))
}
