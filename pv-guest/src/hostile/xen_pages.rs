//! Attacks on the hypervisor's pages shared with the guest (its shared_info, its grant-table
//! frames). The hypervisor writes them on the guest's behalf (time, event bits, cr2, grant
//! busy bits): were the guest able to make one a page table or descriptor page, each such
//! write would become a guest-chosen PTE or descriptor, and were it able to free or grant
//! one, the hypervisor would write into someone else's page. Each attack is set up so that
//! it would succeed if the check it targets were missing: the page is unmapped and holds only
//! entries that validate (zeroes, and the upcall mask, which is not a present bit).

use super::Tally;
use crate::events;
use crate::grant;
use crate::mm::{Space, PTE_KERNEL_RO};
use crate::pagetable::PTE_KERNEL_RW;
use alloc::format;
use guest_abi::errno::Errno;
use guest_abi::grant_table::*;
use guest_abi::guest;
use guest_abi::hypercall::nr;
use guest_abi::memory::{XenMemoryReservation, XENMEM_DECREASE_RESERVATION};
use guest_abi::mmu::*;
use guest_abi::multicall::MulticallEntry;
use guest_abi::types::{DomId, GrantRef};

/// What each attack does to the page: a pin at each level, a reference from an L2, a GDT,
/// giving it back.
#[derive(Clone, Copy)]
enum Misuse {
    Pin(u8),
    HookIntoL2,
    Gdt,
    GiveBack,
}

/// In this order: an L4's validation writes the hypervisor's slots into the page, which
/// then no longer validates at other levels, and a page given back is gone.
const MISUSES: [(Misuse, &str); 7] = [
    (Misuse::HookIntoL2, "hook {} into an L2 as an L1 table"),
    (Misuse::Gdt, "load {} as a GDT frame"),
    (Misuse::Pin(1), "pin {} as an L1 table"),
    (Misuse::Pin(2), "pin {} as an L2 table"),
    (Misuse::Pin(3), "pin {} as an L3 table"),
    (Misuse::Pin(4), "pin {} as an L4 table"),
    (Misuse::GiveBack, "give {} back (decrease_reservation)"),
];

fn pin_cmd(level: u8) -> u32 {
    match level {
        1 => MMUEXT_PIN_L1_TABLE,
        2 => MMUEXT_PIN_L2_TABLE,
        3 => MMUEXT_PIN_L3_TABLE,
        _ => MMUEXT_PIN_L4_TABLE,
    }
}

fn entry(op: usize, args: &[u64]) -> MulticallEntry {
    let mut e = MulticallEntry {
        op: op as u64,
        ..Default::default()
    };
    e.args[..args.len()].copy_from_slice(args);
    e
}

/// Arguments the misuse's hypercall points at; they must outlive the multicall.
struct Args {
    ext: MmuextOp,
    upd: MmuUpdate,
    gdt: [u64; 1],
    extents: [u64; 1],
    res: XenMemoryReservation,
}

impl Args {
    fn new(mfn: u64, l2_slot: u64) -> Args {
        Args {
            ext: MmuextOp::new(MMUEXT_PIN_L1_TABLE, mfn, 0),
            upd: MmuUpdate {
                ptr: l2_slot,
                val: (mfn << 12) | PTE_KERNEL_RO,
            },
            gdt: [mfn],
            extents: [mfn],
            res: XenMemoryReservation {
                nr_extents: 1,
                domid: DomId::SELF,
                ..Default::default()
            },
        }
    }

    /// The multicall entry doing `m` on the page.
    fn call(&mut self, m: Misuse) -> MulticallEntry {
        match m {
            Misuse::Pin(level) => {
                self.ext = MmuextOp::new(pin_cmd(level), self.gdt[0], 0);
                entry(
                    nr::MMUEXT_OP,
                    &[&raw const self.ext as u64, 1, 0, DomId::SELF.0 as u64],
                )
            }
            Misuse::HookIntoL2 => entry(
                nr::MMU_UPDATE,
                &[&raw const self.upd as u64, 1, 0, DomId::SELF.0 as u64],
            ),
            Misuse::Gdt => entry(nr::SET_GDT, &[self.gdt.as_ptr() as u64, 512]),
            Misuse::GiveBack => {
                self.res.extent_start = self.extents.as_mut_ptr() as u64;
                entry(
                    nr::MEMORY_OP,
                    &[
                        u64::from(XENMEM_DECREASE_RESERVATION),
                        &raw mut self.res as u64,
                    ],
                )
            }
        }
    }
}

/// Undo misuse `m` of page `mfn` had it gone through (hypercall return value `ret`), so that
/// the page can be used again.
fn undo(sp: &Space, m: Misuse, ret: u64, mfn: u64, l2_slot: u64) {
    if Errno::from_ret(ret as i64).is_err() {
        return;
    }
    let _ = match m {
        Misuse::Pin(_) => sp.ext(MMUEXT_UNPIN_TABLE, mfn, 0),
        Misuse::HookIntoL2 => sp.update(l2_slot, 0),
        Misuse::Gdt => crate::mm::demo::set_gdt(&[], 0),
        Misuse::GiveBack => Ok(()),
    };
}

/// The verdict of misuse `m` given the hypercall's return value.
fn judge(t: &Tally, name: &str, m: Misuse, ret: u64) {
    let r = Errno::from_ret(ret as i64);
    match m {
        Misuse::GiveBack => t.contained(
            name,
            match r {
                Ok(0) => Ok("0 of 1 released"),
                _ => Err("released"),
            },
        ),
        _ => t.refused(name, r.map(|_| 0)),
    }
}

/// An empty L2 slot of ours (for the L2 hook), at a 2 MiB region beyond the initial one.
fn free_l2_slot(sp: &Space) -> u64 {
    let va = sp.region_end.next_multiple_of(2 << 20) + (8 << 20);
    sp.entry_maddr(va, 2).unwrap_or(0)
}

/// Every misuse of our shared_info page, each in one multicall with unmapping it first (the
/// hypervisor writes shared_info at any time, so an attacker would do both at once).
fn shared_info(sp: &Space, t: &Tally) {
    let Some(si) = events::shared_info() else {
        t.contained("shared_info attacks", Err("shared_info not mapped"));
        return;
    };
    let va = si as *const _ as u64;
    let mfn = sp.shared_info >> 12;
    let trap_va = sp.spare(0);
    let slot = free_l2_slot(sp);
    for (m, what) in MISUSES {
        let name = what.replace("{}", "shared_info");
        events::mask_upcalls();
        let mut saved = [0u8; 4096];
        // SAFETY: our own mapping of shared_info: 4096 readable and writable bytes. Upcalls
        // are masked, and the mask byte (vcpu_info[0] byte 1) stays set while it is zeroed.
        unsafe {
            core::ptr::copy_nonoverlapping(va as *const u8, saved.as_mut_ptr(), 4096);
            core::ptr::write_bytes(va as *mut u8, 0, 4096);
            (va as *mut u8).add(1).write_volatile(1);
        }
        let mut args = Args::new(mfn, slot);
        // Both our mappings of it go: the event layer's and the trap handler's (for cr2).
        let unmap = |at: u64| entry(nr::UPDATE_VA_MAPPING, &[at, 0, UvmfFlags::INVLPG.bits()]);
        let mut calls = [unmap(va), unmap(trap_va), args.call(m)];
        // SAFETY: unmaps our shared_info (nothing reads it meanwhile: upcalls are masked)
        // and misuses it; both are undone below whatever the verdict.
        let r = unsafe { guest::multicall(&mut calls) };
        let ret = if r.is_ok() {
            calls[2].result
        } else {
            (-22i64) as u64
        };
        undo(sp, m, ret, mfn, slot);
        let back = sp
            .map(va, mfn, PTE_KERNEL_RW)
            .and_then(|()| sp.map(trap_va, mfn, PTE_KERNEL_RW));
        if back.is_err() {
            t.contained(&name, Err("cannot map shared_info back"));
            return;
        }
        // SAFETY: mapped again, writable; the saved contents go back (mask byte last).
        unsafe {
            core::ptr::copy_nonoverlapping(saved.as_ptr().add(2), (va as *mut u8).add(2), 4094);
            (va as *mut u8).write_volatile(saved[0]);
        }
        events::unmask_upcalls();
        judge(t, &name, m, ret);
    }
}

/// Every misuse of one of our grant-table frames, which we leave unmapped (all zeroes).
fn grant_frame(sp: &Space, t: &Tally, mfn: u64) {
    let slot = free_l2_slot(sp);
    for (m, what) in MISUSES {
        let name = what.replace("{}", "a grant-table frame");
        let mut args = Args::new(mfn, slot);
        let mut calls = [args.call(m)];
        // SAFETY: the misuse is refused, or undone by `judge`.
        let r = unsafe { guest::multicall(&mut calls) };
        let ret = if r.is_ok() {
            calls[0].result
        } else {
            (-22i64) as u64
        };
        undo(sp, m, ret, mfn, slot);
        judge(t, &name, m, ret);
    }
}

fn gnt(r: Result<(), GntStatus>) -> Result<&'static str, &'static str> {
    match r {
        Err(s) if s == GntStatus::BAD_PAGE => Ok("GNTST_bad_page"),
        Err(_) => Err("refused for another reason"),
        Ok(()) => Err("allowed"),
    }
}

/// Passing the pages on: granting them (to ourselves, domain `me`, so one domain suffices)
/// and grant copies into them.
fn grants(sp: &Space, t: &Tally, table_va: u64, me: DomId, other: u64) {
    let si = sp.shared_info >> 12;
    for (i, (what, mfn)) in [("our shared_info", si), ("a grant-table frame", other)]
        .into_iter()
        .enumerate()
    {
        super::grants::entry(table_va, i as u32, me, mfn, GtfFlags::PERMIT_ACCESS);
        let va = sp.spare(30 + i as u64);
        let _ = sp.map(va, 0, 0);
        let r = grant::map(DomId::SELF, GrantRef(i as u32), va, true);
        if let Ok(h) = r {
            let _ = grant::unmap(h, va);
        }
        t.contained(
            &format!("grant {what} to ourselves and map it"),
            gnt(r.map(|_| ())),
        );
        let src = sp.alloc_frame().unwrap_or(0);
        let r = super::grants::copy_into(mfn, src);
        t.contained(&format!("grant copy into {what}"), gnt(r));
    }
}

/// Where our grant table's first frame is mapped (after [`all`]).
pub fn table_va(sp: &Space) -> Option<u64> {
    Some(sp.spare(29))
}

/// The class; `me` is our own domain id (from the command line's `me=`), for self-grants.
pub fn all(sp: &Space, t: &Tally, me: Option<u16>) {
    t.class("hypervisor-owned frames");
    shared_info(sp, t);
    // Two grant-table frames: the first mapped (to write entries), the second never mapped.
    let mut frames = [0u64; 2];
    let mut op = GnttabSetupTable {
        dom: DomId::SELF,
        nr_frames: 2,
        frame_list: frames.as_mut_ptr() as u64,
        ..Default::default()
    };
    if grant::setup_table(&mut op).is_err() {
        t.contained("grant-table frames", Err("no grant table"));
        return;
    }
    let table_va = table_va(sp).unwrap_or(0);
    if grant::map_own(table_va, Some(frames[0])).is_err() {
        t.contained("grant-table frames", Err("cannot map our grant table"));
        return;
    }
    match me {
        Some(me) => grants(sp, t, table_va, DomId(me), frames[1]),
        None => t.contained("grant attacks", Err("need me=<own domid>")),
    }
    grant_frame(sp, t, frames[1]);
}
