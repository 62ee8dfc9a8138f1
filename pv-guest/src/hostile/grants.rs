//! Grant tables used hostilely: every operation with bad references, domains, handles and
//! addresses; maps over present entries and into page tables; copies into page tables and
//! descriptor pages; device-only mappings of page tables.

use super::Tally;
use crate::grant;
use crate::mm::{Space, PTE_KERNEL_RO};
use guest_abi::errno::Errno;
use guest_abi::grant_table::*;
use guest_abi::guest::{self, hypercall3};
use guest_abi::hypercall::nr;
use guest_abi::mmu::*;
use guest_abi::types::{DomId, GrantRef};

fn gnt(r: Result<u32, GntStatus>) -> Result<&'static str, &'static str> {
    match r {
        Ok(_) => Err("mapped"),
        Err(s) => Ok(s.name()),
    }
}

fn gnt0(r: Result<(), GntStatus>) -> Result<&'static str, &'static str> {
    gnt(r.map(|()| 0))
}

/// Our own entry `r` grants `domid` access to frame `mfn`.
pub(super) fn entry(table: u64, r: u32, domid: DomId, mfn: u64, flags: GtfFlags) {
    let e = (table as *mut GrantEntryV1).wrapping_add(r as usize);
    // SAFETY: entry `r` (< 512) of our own mapped grant-table frame; flags written last.
    unsafe {
        core::ptr::addr_of_mut!((*e).domid).write_volatile(domid);
        core::ptr::addr_of_mut!((*e).frame).write_volatile(mfn as u32);
        core::sync::atomic::fence(core::sync::atomic::Ordering::SeqCst);
        core::ptr::addr_of_mut!((*e).flags).write_volatile(flags.bits());
    }
}

fn map_with(dom: DomId, r: u32, host_addr: u64, flags: GntmapFlags) -> Result<u32, GntStatus> {
    let mut op = GnttabMapGrantRef {
        host_addr,
        flags: flags.bits(),
        ref_: GrantRef(r),
        dom,
        ..Default::default()
    };
    // SAFETY: every mapping here is refused (the attacks' point); a granted one would land
    // at a spare page or in a page table the hypervisor must refuse to touch.
    unsafe { guest::grant_table_op(GNTTABOP_MAP_GRANT_REF, core::slice::from_mut(&mut op)) }
        .map_err(|_| GntStatus::GENERAL_ERROR)?;
    if op.status == 0 {
        Ok(op.handle)
    } else {
        Err(GntStatus(op.status))
    }
}

/// An 8-byte grant copy from our frame `src` into our frame `mfn`.
pub(super) fn copy_into(mfn: u64, src: u64) -> Result<(), GntStatus> {
    grant::copy(
        GnttabCopyPtr {
            u: src,
            domid: DomId::SELF,
            offset: 0,
            ..Default::default()
        },
        GnttabCopyPtr {
            u: mfn,
            domid: DomId::SELF,
            offset: 0,
            ..Default::default()
        },
        8,
        0,
    )
}

/// `me`: our domain id; `table`: our grant table, mapped (from the hypervisor-frames class).
pub fn all(sp: &Space, t: &Tally, me: DomId, table: u64) {
    t.class("grants");
    let (Some(data), Some(data2)) = (sp.alloc_frame(), sp.alloc_frame()) else {
        return;
    };
    let va = sp.spare(31);
    let _ = sp.map(va, 0, 0);
    let rw = GtfFlags::PERMIT_ACCESS;
    entry(table, 20, me, data, rw);
    entry(table, 21, DomId(0), data, rw);
    entry(table, 22, me, data, GtfFlags::empty());
    let l1 = sp.entry_maddr(va, 1).map(|m| m >> 12).unwrap_or(0);
    entry(table, 23, me, l1, rw);
    entry(table, 24, me, l1, rw | GtfFlags::READONLY);
    let host = GntmapFlags::HOST_MAP;
    t.contained(
        "map a reference past the table",
        gnt(map_with(DomId::SELF, 100_000, va, host)),
    );
    t.contained(
        "map from a domain that does not exist",
        gnt(map_with(DomId::MAX_DOMAIN, 20, va, host)),
    );
    t.contained(
        "map an entry granted to dom0",
        gnt(map_with(DomId::SELF, 21, va, host)),
    );
    t.contained(
        "map an entry not granted at all",
        gnt(map_with(DomId::SELF, 22, va, host)),
    );
    t.contained(
        "map at an address in the hypervisor hole",
        gnt(map_with(DomId::SELF, 20, 0xFFFF_8000_0000_0000, host)),
    );
    t.contained(
        "map at a non-canonical address",
        gnt(map_with(DomId::SELF, 20, 0x0000_8000_0000_0000, host)),
    );
    let _ = sp.map(va, data2, PTE_KERNEL_RO);
    t.contained(
        "map over a present entry",
        gnt(map_with(DomId::SELF, 20, va, host)),
    );
    let _ = sp.map(va, 0, 0);
    t.contained(
        "map with a PTE address in a data page",
        gnt(map_with(
            DomId::SELF,
            20,
            data2 << 12,
            host | GntmapFlags::CONTAINS_PTE,
        )),
    );
    let l2 = sp.entry_maddr(va, 2).unwrap_or(0);
    t.contained(
        "map with a PTE address in our L2",
        gnt(map_with(
            DomId::SELF,
            20,
            l2,
            host | GntmapFlags::CONTAINS_PTE,
        )),
    );
    t.contained(
        "map our own L1 (granted to ourselves) writable",
        gnt(map_with(DomId::SELF, 23, va, host)),
    );
    t.contained(
        "map our own L1 writable for device access only",
        gnt(map_with(DomId::SELF, 23, 0, GntmapFlags::DEVICE_MAP)),
    );
    t.contained("unmap a handle never made", gnt0(grant::unmap(4000, va)));
    let h = map_with(DomId::SELF, 20, va, host);
    let twice = h.map(|h| (grant::unmap(h, va), grant::unmap(h, va)));
    t.contained(
        "unmap one mapping twice",
        match twice {
            Ok((Ok(()), Err(s))) => Ok(s.name()),
            _ => Err("unmapped twice"),
        },
    );
    t.contained("grant copy into our own L1", gnt0(copy_into(l1, data)));
    let gdt = sp.alloc_frame().unwrap_or(0);
    let _ = sp.ext(MMUEXT_CLEAR_PAGE, gdt, 0);
    let desc = crate::mm::demo::set_gdt(&[gdt], 512).is_ok();
    t.contained(
        "grant copy into our descriptor page",
        if desc {
            gnt0(copy_into(gdt, data))
        } else {
            Err("could not set up the GDT")
        },
    );
    let _ = crate::mm::demo::set_gdt(&[], 0);
    let foreign = super::attacks::foreign_frame(sp).unwrap_or(0);
    t.contained(
        "grant copy out of a dom0 frame without a grant",
        gnt0(grant::copy(
            GnttabCopyPtr {
                u: foreign,
                domid: DomId(0),
                ..Default::default()
            },
            GnttabCopyPtr {
                u: data,
                domid: DomId::SELF,
                ..Default::default()
            },
            8,
            0,
        )),
    );
    t.contained(
        "grant copy across the end of a page",
        gnt0(grant::copy(
            GnttabCopyPtr {
                u: data2,
                domid: DomId::SELF,
                offset: 4090,
                ..Default::default()
            },
            GnttabCopyPtr {
                u: data,
                domid: DomId::SELF,
                ..Default::default()
            },
            16,
            0,
        )),
    );
    let mut too_many = [0u64; 1];
    let mut st = GnttabSetupTable {
        dom: DomId::SELF,
        nr_frames: 1000,
        frame_list: too_many.as_mut_ptr() as u64,
        ..Default::default()
    };
    t.contained(
        "set up a table of 1000 frames",
        gnt0(grant::setup_table(&mut st).map_err(|_| GntStatus(st.status))),
    );
    let mut st = GnttabSetupTable {
        dom: DomId(0),
        nr_frames: 1,
        frame_list: too_many.as_mut_ptr() as u64,
        ..Default::default()
    };
    t.contained(
        "set up dom0's table",
        gnt0(grant::setup_table(&mut st).map_err(|_| GntStatus(st.status))),
    );
    let mut v = GnttabSetVersion { version: 2 };
    // SAFETY: only version 1 is offered; the call changes nothing.
    let r = unsafe { guest::grant_table_op(GNTTABOP_SET_VERSION, core::slice::from_mut(&mut v)) };
    t.refused("switch to grant table version 2", r);
    // SAFETY: refused before anything is read.
    t.refused(
        "transfer a page",
        Errno::from_ret(unsafe {
            hypercall3(nr::GRANT_TABLE_OP, u64::from(GNTTABOP_TRANSFER), 0x1000, 1)
        }),
    );
    // SAFETY: refused before anything is read.
    t.refused(
        "an unknown grant command",
        Errno::from_ret(unsafe { hypercall3(nr::GRANT_TABLE_OP, 99, 0x1000, 1) }),
    );
}
