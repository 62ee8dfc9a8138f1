//! `grant_table_op(cmd, uops, count)`: batched grant operations; each operation's status is
//! written back into its structure, the call itself fails only for bad pointers or commands.

use super::{HcResult, Outcome};
use crate::arch::preempt::Slice;
use crate::domain::state::State;
use crate::grant::ops;
use crate::lifecycle;
use crate::mm::guest_copy;
use guest_abi::arch::CpuUserRegs;
use guest_abi::errno::Errno;
use guest_abi::grant_table::*;
use guest_abi::hypercall_args::*;
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// Operations handled before the call is continued.
const BATCH: u64 = 256;

fn each<T: FromBytes + IntoBytes + KnownLayout + Immutable>(
    st: &mut State,
    regs: &mut CpuUserRegs,
    uops: u64,
    count: u64,
    mut f: impl FnMut(&mut State, &mut T) -> Result<(), Errno>,
) -> HcResult {
    let size = core::mem::size_of::<T>() as u64;
    let slice = Slice::start();
    let mut n = 0;
    while n < count.min(BATCH) {
        let at = uops.wrapping_add(n * size);
        let mut op: T = guest_copy::read(&st.mem, at)?;
        f(st, &mut op)?;
        guest_copy::write(&st.mem, at, &op)?;
        n += 1;
        if slice.expired() {
            break;
        }
    }
    if n < count {
        regs.rsi = uops.wrapping_add(n * size);
        regs.rdx = count - n;
        return Ok(Outcome::Continue);
    }
    Ok(Outcome::Done(0))
}

/// grant_table_op(cmd, uops, count).
pub fn grant_table_op(st: &mut State, regs: &mut CpuUserRegs, a: GrantTableOpArgs) -> HcResult {
    let (cmd, uops, count) = (a.cmd, a.uops, u64::from(a.count));
    match cmd {
        GNTTABOP_MAP_GRANT_REF => each(st, regs, uops, count, |st, op: &mut GnttabMapGrantRef| {
            ops::map(st, op);
            Ok(())
        }),
        GNTTABOP_UNMAP_GRANT_REF => {
            let r = each(st, regs, uops, count, |st, op: &mut GnttabUnmapGrantRef| {
                ops::unmap(st, op);
                Ok(())
            });
            // A dying granter whose last mapping just went away can now be freed.
            lifecycle::reap_dying(st);
            r
        }
        GNTTABOP_SETUP_TABLE => each(st, regs, uops, count, ops::setup_table),
        GNTTABOP_COPY => each(st, regs, uops, count, |st, op: &mut GnttabCopy| {
            ops::copy(st, op);
            Ok(())
        }),
        GNTTABOP_QUERY_SIZE => each(st, regs, uops, count, |st, op: &mut GnttabQuerySize| {
            ops::query_size(st, op);
            Ok(())
        }),
        GNTTABOP_SET_VERSION => {
            let mut v: GnttabSetVersion = guest_copy::read(&st.mem, uops)?;
            // Version 1 is the only one offered; 0 asks for the current one.
            if v.version > 1 {
                return Err(Errno::ENOSYS);
            }
            v.version = 1;
            guest_copy::write(&st.mem, uops, &v)?;
            Ok(Outcome::Done(0))
        }
        GNTTABOP_GET_VERSION => {
            let mut v: GnttabGetVersion = guest_copy::read(&st.mem, uops)?;
            v.version = 1;
            guest_copy::write(&st.mem, uops, &v)?;
            Ok(Outcome::Done(0))
        }
        _ => Err(Errno::ENOSYS),
    }
}
