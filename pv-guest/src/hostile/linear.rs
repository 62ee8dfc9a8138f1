//! Linear (recursive) page tables: a read-only entry pointing at a table of its own level.
//! Xen allows one step of that at L2 and L3; chains of them let a guest make the hypervisor
//! recurse once per link when the chain is torn down (a few thousand links overflow its
//! stack), loops make tables that can never be freed, and at L4 a linear walk reaches the
//! hypervisor's own slots and the frames of its tables. Each attack builds the structure
//! from fresh, pinned, empty tables and tears it down afterwards.

use super::Tally;
use crate::mm::{Space, PTE_KERNEL_RO};
use crate::pagetable::PTE_KERNEL_RW;
use alloc::format;
use guest_abi::errno::Errno;
use guest_abi::mmu::*;

fn pin_cmd(level: u8) -> u32 {
    match level {
        2 => MMUEXT_PIN_L2_TABLE,
        3 => MMUEXT_PIN_L3_TABLE,
        _ => MMUEXT_PIN_L4_TABLE,
    }
}

/// `n` fresh empty tables of `level`, pinned.
fn tables(sp: &Space, level: u8, n: usize) -> Option<[u64; 3]> {
    let mut out = [0u64; 3];
    for t in out.iter_mut().take(n) {
        let f = sp.alloc_frame()?;
        sp.ext(MMUEXT_CLEAR_PAGE, f, 0).ok()?;
        sp.ext(pin_cmd(level), f, 0).ok()?;
        *t = f;
    }
    Some(out)
}

/// Entry `idx` of table `t` := `val`.
fn set(sp: &Space, t: u64, idx: u64, val: u64) -> Result<u64, Errno> {
    sp.update((t << 12) + idx * 8, val).map(|()| 0)
}

fn ro(mfn: u64) -> u64 {
    (mfn << 12) | PTE_KERNEL_RO
}

/// Clear what the attacks may have left and unpin the tables.
fn teardown(sp: &Space, ts: &[u64]) {
    for &t in ts {
        for idx in 0..4 {
            let _ = set(sp, t, idx, 0);
        }
    }
    for &t in ts {
        let _ = sp.ext(MMUEXT_UNPIN_TABLE, t, 0);
    }
}

pub fn all(sp: &Space, t: &Tally) {
    t.class("linear page tables");
    for level in [2u8, 3] {
        let Some(ts) = tables(sp, level, 3) else {
            t.contained("linear page tables", Err("no frames for the tables"));
            return;
        };
        let [a, b, c] = ts;
        // One linear step is allowed (as Xen): it is the base of the attacks below.
        let first = set(sp, a, 0, ro(b));
        t.refused(
            &format!("writable linear entry at L{level}"),
            set(sp, c, 1, (b << 12) | PTE_KERNEL_RW),
        );
        t.refused(
            &format!("linear chain of three L{level} tables"),
            first.and_then(|_| set(sp, b, 0, ro(c))),
        );
        t.refused(
            &format!("linear loop between two L{level} tables"),
            set(sp, b, 1, ro(a)),
        );
        t.refused(
            &format!("linear entry into an L{level} that holds linear entries"),
            set(sp, c, 0, ro(a)),
        );
        teardown(sp, &ts);
    }
    let Some(ts) = tables(sp, 4, 2) else {
        t.contained("linear page tables", Err("no frames for the L4 tables"));
        return;
    };
    let [a, b, _] = ts;
    t.refused("linear entry between two L4 tables", set(sp, a, 0, ro(b)));
    t.refused(
        "L4 mapping itself (reaches the hypervisor's table frames)",
        set(sp, a, 1, ro(a)),
    );
    teardown(sp, &ts[..2]);
}
