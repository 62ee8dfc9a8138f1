//! The attacks, in the order they are printed.

use super::Tally;
use crate::mm::demo::{lar, set_gdt, upd_desc, RING0_CODE};
use crate::mm::{peek, Space, PTE_KERNEL_RO};
use crate::pagetable::{PTE_KERNEL_RW, PTE_PSE};
use crate::traps::{self, catch, FAILSAFE};
use guest_abi::arch::{IretContext, FLAT_KERNEL_SS64, MACH2PHYS_VIRT_START};
use guest_abi::errno::Errno;
use guest_abi::guest::{self, hypercall2, hypercall3, hypercall4};
use guest_abi::hypercall::nr;
use guest_abi::memory::{
    XenMemoryReservation, XENMEM_DECREASE_RESERVATION, XENMEM_MAXIMUM_RAM_PAGE,
};
use guest_abi::mmu::*;
use guest_abi::types::DomId;

/// Inside the hypervisor hole (the M2P: readable by guests, but never a hypercall pointer).
const HOLE: u64 = MACH2PHYS_VIRT_START + 0x1000;
/// Not mapped in our address space.
const UNMAPPED: u64 = 0x1000;
/// Not canonical.
const NONCANON: u64 = 0x0000_8000_0000_0000;
/// The hypervisor's image (linked at 0xFFFF820000200000, physical 2 MiB).
const HV_IMAGE_VA: u64 = 0xFFFF_8200_0020_0000;
const HV_IMAGE_MFN: u64 = 0x200;

fn r(v: i64) -> Result<u64, Errno> {
    Errno::from_ret(v)
}

/// A frame the M2P says belongs to someone else (not in our p2m): dom0's. Domains get the
/// highest memory first and dom0 was built first, so the first such frame counting down from
/// the top of RAM is dom0's.
pub(super) fn foreign_frame(sp: &Space) -> Option<u64> {
    // SAFETY: XENMEM_maximum_ram_page takes no argument.
    let top =
        unsafe { guest::memory_op_raw(XENMEM_MAXIMUM_RAM_PAGE, core::ptr::null_mut()) }.ok()?;
    let ours = |m: u64, pfn: u64| pfn < sp.nr_pages() && sp.pfn_to_mfn(pfn) == m;
    // `top` is one past the highest RAM frame (Xen's max_page).
    (0x100..top).rev().take(1 << 20).find(|&m| {
        let pfn = peek(MACH2PHYS_VIRT_START + m * 8);
        pfn != 0 && pfn < 0x10_0000 && !ours(m, pfn)
    })
}

pub fn all(sp: &Space, t: &Tally) {
    t.class("PV MMU");
    memory(sp, t);
    t.class("hypercall pointers");
    pointers(t);
    t.class("per-operation cost");
    counts(sp, t);
    big_pin(sp, t);
    t.class("descriptors and callbacks");
    descriptors(sp, t);
    t.class("traps and iret");
    cpu(t);
}

fn ok_or(r: Result<(), Errno>) -> Result<u64, Errno> {
    r.map(|()| 0)
}

fn memory(sp: &Space, t: &Tally) {
    let va = sp.spare(10);
    let l4 = sp.l4_mfn();
    let l1 = sp.entry_maddr(va, 1).map(|m| m >> 12).unwrap_or(0);
    let l2 = sp.entry_maddr(va, 2).map(|m| m >> 12).unwrap_or(0);
    let foreign = foreign_frame(sp).unwrap_or(0);
    t.refused(
        "map a dom0 frame",
        ok_or(sp.map(va, foreign, PTE_KERNEL_RO)),
    );
    t.refused(
        "map a hypervisor frame",
        ok_or(sp.map(va, HV_IMAGE_MFN, PTE_KERNEL_RO)),
    );
    t.refused("map own L1 writable", ok_or(sp.map(va, l1, PTE_KERNEL_RW)));
    t.refused("map own L2 writable", ok_or(sp.map(va, l2, PTE_KERNEL_RW)));
    t.refused("map own L4 writable", ok_or(sp.map(va, l4, PTE_KERNEL_RW)));
    // vcpu_info may move only into an ordinary frame of ours, whole within it.
    let info = |mfn: u64, offset: u32| {
        let a = guest_abi::vcpu::VcpuRegisterVcpuInfo {
            mfn,
            offset,
            rsvd: 0,
        };
        let cmd = u64::from(guest_abi::vcpu::VCPUOP_REGISTER_VCPU_INFO);
        // SAFETY: refused (if not, the vcpu_info moved and the suite reports it).
        r(unsafe { hypercall3(nr::VCPU_OP, cmd, 0, (&raw const a) as u64) })
    };
    t.refused("register_vcpu_info on own L1", info(l1, 0));
    t.refused("register_vcpu_info on own L4", info(l4, 0));
    t.refused("register_vcpu_info on a dom0 frame", info(foreign, 0));
    t.refused(
        "register_vcpu_info on a hypervisor frame",
        info(HV_IMAGE_MFN, 0),
    );
    if let Some(own) = sp.alloc_frame() {
        t.refused("register_vcpu_info across a page end", info(own, 4090));
    }
    let area = guest_abi::vcpu::VcpuRegisterTimeMemoryArea { addr: HOLE };
    let cmd = u64::from(guest_abi::vcpu::VCPUOP_REGISTER_VCPU_TIME_MEMORY_AREA);
    t.refused(
        "register_vcpu_time_memory_area in the hypervisor hole",
        // SAFETY: refused; the argument is ours and only read.
        r(unsafe { hypercall3(nr::VCPU_OP, cmd, 0, (&raw const area) as u64) }),
    );
    t.refused(
        "write a hypervisor L4 slot",
        ok_or(sp.update((l4 << 12) + 256 * 8, 0)),
    );
    t.refused(
        "point a hypervisor L4 slot at own L3",
        ok_or(sp.update((l4 << 12) + 262 * 8, (l2 << 12) | PTE_KERNEL_RO)),
    );
    t.refused(
        "mmu_update on a dom0 frame",
        ok_or(sp.update(foreign << 12, 0)),
    );
    // A frame that is not a page table takes an mmu_update as plain data (as on Xen), so
    // the owner check is all that stands between a guest and the hypervisor's image.
    t.refused(
        "mmu_update into the hypervisor's image",
        ok_or(sp.update(HV_IMAGE_MFN << 12, 0)),
    );
    t.refused(
        "machphys_update of a dom0 frame",
        ok_or(sp.update((foreign << 12) | MMU_MACHPHYS_UPDATE, 0)),
    );
    // SAFETY: refused: only privileged domains may name another domain's frames.
    let fd = unsafe { guest::mmu_update(&[MmuUpdate::normal(l1 << 12, 0)], DomId(0)) };
    t.refused(
        "mmu_update with foreigndom dom0",
        fd.map(|n| n as u64).map_err(|(_, e)| e),
    );
    t.refused(
        "pin a dom0 frame",
        ok_or(sp.ext(MMUEXT_PIN_L1_TABLE, foreign, 0)),
    );
    t.refused(
        "new baseptr to a dom0 frame",
        ok_or(sp.ext(MMUEXT_NEW_BASEPTR, foreign, 0)),
    );
    t.refused(
        "clear a dom0 frame",
        ok_or(sp.ext(MMUEXT_CLEAR_PAGE, foreign, 0)),
    );
    let own = sp.alloc_frame().unwrap_or(0);
    t.refused(
        "copy a dom0 frame",
        ok_or(sp.ext(MMUEXT_COPY_PAGE, own, foreign)),
    );
    t.refused(
        "flush the machine's caches (wbinvd)",
        ok_or(sp.ext(MMUEXT_FLUSH_CACHE_GLOBAL, 0, 0)),
    );
    t.refused(
        "map the local APIC (MMIO)",
        ok_or(sp.map(va, 0xFEE00, PTE_KERNEL_RW)),
    );
    t.refused(
        "map a device's registers (virtio-mmio; dom0's I/O memory)",
        ok_or(sp.map(va, 0xFEB02, PTE_KERNEL_RW)),
    );
    let req = guest_abi::mmu::MmuUpdate::normal(0, 0xFEB02 << 12 | PTE_KERNEL_RW);
    // SAFETY: refused before any request is read (naming DOMID_IO is for dom0).
    t.refused(
        "mmu_update naming DOMID_IO",
        unsafe { guest::mmu_update(core::slice::from_ref(&req), DomId::IO) }
            .map(|_| 0)
            .map_err(|(_, e)| e),
    );
    t.refused(
        "map own page uncached (PCD)",
        ok_or(sp.map(va, own, PTE_KERNEL_RW | (1 << 4))),
    );
    let x2 = sp.region_end.next_multiple_of(2 << 20) + (4 << 20);
    t.refused(
        "superpage (PSE) at L2",
        ok_or(
            sp.entry_maddr(x2, 2)
                .and_then(|m| sp.update(m, (own << 12) | PTE_KERNEL_RW | PTE_PSE)),
        ),
    );
    let x3 = 0xFFFF_FFFF_4000_0000;
    t.refused(
        "superpage (PSE) at L3",
        ok_or(
            sp.entry_maddr(x3, 3)
                .and_then(|m| sp.update(m, (own << 12) | PTE_KERNEL_RW | PTE_PSE)),
        ),
    );
    t.refused(
        "update_va_mapping in the hypervisor hole",
        ok_or(sp.map(HOLE, own, PTE_KERNEL_RO)),
    );
    // A table that maps itself writable cannot be pinned.
    let selfmap = sp.alloc_frame().unwrap_or(0);
    let _ = sp.fill(selfmap, 11, |p| {
        p.fill(0);
        p[0] = (selfmap << 12) | PTE_KERNEL_RW;
    });
    t.refused(
        "pin an L1 that maps itself writable",
        ok_or(sp.ext(MMUEXT_PIN_L1_TABLE, selfmap, 0)),
    );
    // Unpinning the L4 we run on is allowed, but it stays a page table while in use.
    let unpinned = sp.ext(MMUEXT_UNPIN_TABLE, l4, 0).is_ok();
    let still = sp.map(va, l4, PTE_KERNEL_RW);
    t.contained(
        "unpin the L4 in use, then map it writable",
        match (unpinned, still) {
            (_, Err(Errno::EBUSY)) => Ok("still in use as a page table: EBUSY"),
            (_, r) => Err(if r.is_ok() {
                "mapped writable"
            } else {
                "unexpected error"
            }),
        },
    );
    if unpinned {
        let _ = sp.ext(MMUEXT_PIN_L4_TABLE, l4, 0);
    }
    t.refused(
        "unpin a table never pinned",
        ok_or(sp.ext(MMUEXT_UNPIN_TABLE, selfmap, 0)),
    );
    // Giving back a frame still in use must not free it.
    let pinned = sp.alloc_frame().unwrap_or(0);
    let _ = sp.ext(MMUEXT_CLEAR_PAGE, pinned, 0);
    let _ = sp.ext(MMUEXT_PIN_L1_TABLE, pinned, 0);
    t.contained("decrease_reservation of a pinned table", give_back(pinned));
    let _ = sp.map(va, own, PTE_KERNEL_RO);
    t.contained("decrease_reservation of a mapped frame", give_back(own));
    let _ = sp.map(va, 0, 0);
    t.contained(
        "write the M2P",
        match catch(|| crate::mm::poke(MACH2PHYS_VIRT_START, 0)) {
            // Error code: present page, write access.
            Some(f) if f.vector == 14 && f.error & 3 == 3 => Ok("#PF on a read-only page"),
            _ => Err("no fault"),
        },
    );
    t.contained(
        "read the hypervisor image",
        match catch(|| {
            peek(HV_IMAGE_VA);
        }) {
            Some(f) if f.vector == 14 => Ok("#PF"),
            _ => Err("no fault"),
        },
    );
}

fn give_back(mfn: u64) -> Result<&'static str, &'static str> {
    let mut list = [mfn];
    let mut res = XenMemoryReservation {
        extent_start: list.as_mut_ptr() as u64,
        nr_extents: 1,
        extent_order: 0,
        mem_flags: 0,
        domid: DomId::SELF,
        ..Default::default()
    };
    // SAFETY: the frame is in use, so the hypervisor must refuse to take it.
    match unsafe { guest::memory_op(XENMEM_DECREASE_RESERVATION, &mut res) } {
        Ok(0) => Ok("0 of 1 released"),
        _ => Err("released"),
    }
}

/// Every pointer-taking hypercall, with a pointer into the hole, to nowhere, non-canonical.
fn pointers(t: &Tally) {
    for (kind, p) in [
        ("hole", HOLE),
        ("unmapped", UNMAPPED),
        ("non-canonical", NONCANON),
    ] {
        let name = |hc: &str| alloc::format!("{hc} with a {kind} pointer");
        // SAFETY: the hypervisor must refuse each pointer before using it.
        unsafe {
            t.refused(
                &name("set_trap_table"),
                r(hypercall2(nr::SET_TRAP_TABLE, p, 0)),
            );
            t.refused(
                &name("mmu_update"),
                r(hypercall4(nr::MMU_UPDATE, p, 1, 0, DomId::SELF.0 as u64)),
            );
            t.refused(
                &name("mmuext_op"),
                r(hypercall4(nr::MMUEXT_OP, p, 1, 0, DomId::SELF.0 as u64)),
            );
            t.refused(&name("multicall"), r(hypercall2(nr::MULTICALL, p, 1)));
            t.refused(&name("set_gdt"), r(hypercall2(nr::SET_GDT, p, 512)));
            t.refused(
                &name("memory_op"),
                r(hypercall2(
                    nr::MEMORY_OP,
                    u64::from(XENMEM_DECREASE_RESERVATION),
                    p,
                )),
            );
            t.refused(&name("console_io"), r(hypercall3(nr::CONSOLE_IO, 0, 16, p)));
            t.refused(&name("callback_op"), r(hypercall2(nr::CALLBACK_OP, 0, p)));
            t.refused(&name("xen_version"), r(hypercall2(nr::XEN_VERSION, 1, p)));
            t.refused(&name("sched_op"), r(hypercall2(nr::SCHED_OP, 2, p)));
        }
    }
}

/// Huge counts: the hypervisor works through them in bounded batches and stops at the
/// first unreadable entry.
fn counts(sp: &Space, t: &Tally) {
    let (buf, after) = (sp.spare(21), sp.spare(20));
    let Some(f) = sp.alloc_frame() else { return };
    let _ = sp.map(after, 0, 0);
    let scratch_pte = sp.entry_maddr(sp.spare(12), 1).unwrap_or(0);
    let _ = sp.fill(f, 11, |p| {
        for pair in p.chunks_exact_mut(2) {
            // Rewrite a non-present entry with 0: harmless, valid.
            pair[0] = scratch_pte;
            pair[1] = 0;
        }
    });
    let _ = sp.map(buf, f, PTE_KERNEL_RW);
    let mut done: u32 = 0;
    // SAFETY: harmless requests, then the unmapped page.
    let rr = r(unsafe {
        hypercall4(
            nr::MMU_UPDATE,
            buf,
            0x7FFF_FFFF,
            &mut done as *mut u32 as u64,
            DomId::SELF.0 as u64,
        )
    });
    t.refused(&alloc::format!("mmu_update count 2^31-1 ({done} done)"), rr);
    let _ = sp.fill(f, 11, |p| {
        for op in p.chunks_exact_mut(3) {
            op[0] = u64::from(MMUEXT_TLB_FLUSH_LOCAL);
            op[1] = 0;
            op[2] = 0;
        }
    });
    done = 0;
    // SAFETY: TLB flushes, then the unmapped page.
    let rr = r(unsafe {
        hypercall4(
            nr::MMUEXT_OP,
            buf,
            0x7FFF_FFFF,
            &mut done as *mut u32 as u64,
            DomId::SELF.0 as u64,
        )
    });
    t.refused(&alloc::format!("mmuext_op count 2^31-1 ({done} done)"), rr);
    let _ = sp.fill(f, 11, |p| {
        for e in p.chunks_exact_mut(8) {
            e.fill(0);
            e[0] = nr::XEN_VERSION as u64;
        }
    });
    // SAFETY: version queries, then the unmapped page.
    let rr = r(unsafe { hypercall2(nr::MULTICALL, buf, 0xFFFF_FFFF) });
    let ran = (0..64).filter(|i| peek(buf + i * 64 + 8) != 0).count();
    t.refused(&alloc::format!("multicall count 2^32-1 ({ran} ran)"), rr);
    // A long batch of valid work: 64 multicall entries, each an mmuext_op of 170 TLB
    // flushes. It must all run, in slices (the hypervisor continues the call), never in one
    // stretch with interrupts off (the e2e test reads the longest stretch).
    let Some(g) = sp.alloc_frame() else { return };
    let ops = sp.spare(19);
    let _ = sp.fill(f, 11, |p| {
        for op in p.chunks_exact_mut(3) {
            op[0] = u64::from(MMUEXT_TLB_FLUSH_LOCAL);
            op[1] = 0;
            op[2] = 0;
        }
    });
    let _ = sp.map(ops, f, PTE_KERNEL_RO);
    let _ = sp.fill(g, 11, |p| {
        for e in p.chunks_exact_mut(8) {
            e.fill(0);
            e[0] = nr::MMUEXT_OP as u64;
            e[1] = u64::MAX;
            e[2] = ops;
            e[3] = 170;
            e[5] = DomId::SELF.0 as u64;
        }
    });
    let _ = sp.map(buf, g, PTE_KERNEL_RW);
    // SAFETY: valid TLB flushes only.
    let rr = r(unsafe { hypercall2(nr::MULTICALL, buf, 64) });
    let ok = (0..64).filter(|i| peek(buf + i * 64 + 8) == 0).count();
    t.contained(
        "multicall of 64 x 170 TLB flushes",
        match (rr, ok) {
            (Ok(_), 64) => Ok("all 10880 ran, in slices"),
            _ => Err("not all ran"),
        },
    );
    let _ = sp.map(buf, 0, 0);
    let _ = sp.map(ops, 0, 0);
}

fn descriptors(sp: &Space, t: &Tally) {
    let (Some(g), Some(l1)) = (sp.alloc_frame(), sp.entry_maddr(sp.spare(10), 1).ok()) else {
        return;
    };
    let _ = sp.fill(g, 11, |p| {
        p.fill(0);
        p[1] = RING0_CODE;
    });
    // A ring-0 segment is not refused (Linux's boot GDT has them) but installed at ring 3,
    // as Xen does: `lar` shows DPL 3, never a way into ring 0.
    let ring3 = |sel| lar(sel).is_some_and(|ar| ar & 0xE000 == 0xE000);
    t.contained(
        "set_gdt with a ring-0 code segment",
        match set_gdt(&[g], 512) {
            Ok(()) if ring3(0x0b) => Ok("installed with DPL 3"),
            Ok(()) => Err("installed with its DPL"),
            Err(_) => Err("refused"),
        },
    );
    t.contained(
        "update_descriptor with ring-0 code",
        match upd_desc((g << 12) + 16, RING0_CODE) {
            Ok(()) if ring3(0x13) => Ok("installed with DPL 3"),
            Ok(()) => Err("installed with its DPL"),
            Err(_) => Err("refused"),
        },
    );
    guest_selectors(t, g);
    // The frame goes back to being an ordinary page.
    let _ = set_gdt(&[], 0);
    t.refused("set_gdt with 15 frames", ok_or(set_gdt(&[g; 15], 15 * 512)));
    t.refused(
        "update_descriptor with a call gate",
        ok_or(upd_desc(
            (g << 12) + 16,
            (0xC << 40) | (3 << 45) | (1 << 47),
        )),
    );
    t.refused(
        "update_descriptor with conforming code",
        ok_or(upd_desc((g << 12) + 16, RING0_CODE | 1 << 42)),
    );
    t.refused(
        "update_descriptor into a page table",
        ok_or(upd_desc(l1 & !0xFFF, 0x00CF_F200_0000_FFFF)),
    );
    t.refused(
        "set_ldt on a misaligned address",
        ok_or(sp.ext(MMUEXT_SET_LDT, sp.spare(13) + 8, 1)),
    );
    t.refused(
        "set_ldt in the hypervisor hole",
        ok_or(sp.ext(MMUEXT_SET_LDT, HOLE & !0xFFF, 1)),
    );
    let bad = [
        guest_abi::arch::TrapInfo::new(13, 0, false, 0xe033, HOLE),
        guest_abi::arch::TrapInfo::default(),
    ];
    // SAFETY: refused (the handler is in the hole); our table stays as it was.
    t.refused(
        "set_trap_table with a hole handler",
        unsafe { guest::set_trap_table(&bad) }.map(|()| 0),
    );
    let cb = guest_abi::callback::CallbackRegister {
        type_: guest_abi::callback::CALLBACKTYPE_SYSCALL,
        address: HOLE,
        ..Default::default()
    };
    // SAFETY: refused (the entry is in the hole).
    t.refused(
        "register a callback in the hole",
        unsafe { guest::callback_register(&cb) }.map(|()| 0),
    );
    use guest_abi::callback::{CALLBACKTYPE_NMI, CALLBACKTYPE_SYSCALL32, CALLBACKTYPE_SYSENTER};
    for (what, type_, address) in [
        (
            "register a syscall32 callback in the hole",
            CALLBACKTYPE_SYSCALL32,
            HOLE,
        ),
        (
            "register an NMI callback in the hole",
            CALLBACKTYPE_NMI,
            HOLE,
        ),
        (
            "register a sysenter callback at a non-canonical address",
            CALLBACKTYPE_SYSENTER,
            0x0000_8000_0000_0000,
        ),
    ] {
        let cb = guest_abi::callback::CallbackRegister {
            type_,
            address,
            ..Default::default()
        };
        // SAFETY: refused (the entry is in the hole or not canonical).
        t.refused(what, unsafe { guest::callback_register(&cb) }.map(|()| 0));
    }
    // sysenter in kernel mode, no sysenter callback: #GP(0) (Xen), or #UD where the CPU has
    // no sysenter in 64-bit mode (AMD, QEMU's TCG): either is the kernel's own fault.
    // SAFETY: sysenter either faults into our handlers (caught) or never returns here.
    let f = catch(|| unsafe { core::arch::asm!("sysenter") });
    t.contained(
        "sysenter in guest kernel mode",
        match f {
            Some(f) if f.vector == 6 || (f.vector == 13 && f.error == 0) => {
                Ok("a fault delivered to the kernel")
            }
            _ => Err("no fault delivered"),
        },
    );
}

/// The guest's own GDT `g` (installed, 512 entries; entries 1 and 2 hold 64-bit code demoted
/// to DPL 3): returns to its segments go through the live descriptors, never to one the CPU
/// would fault on in ring 0, and `load_gs_index` never loads a selector that would fault.
fn guest_selectors(t: &Tally, g: u64) {
    let probe = pv_ring_probe as *const () as u64;
    let ss = u64::from(FLAT_KERNEL_SS64);
    let _ = upd_desc((g << 12) + 24, USER_DATA);
    let _ = upd_desc((g << 12) + 32, RING0_CODE & !(1 << 47));
    // RPL 0 selectors: an iret from the guest kernel to RPL 3 is a return to user mode (Xen).
    let f = iret_to(0x08, ss, probe);
    // SAFETY: written by the probe, read after it faulted.
    let cs = unsafe { PV_PROBE_CS };
    t.contained(
        "iret to our own GDT's code segment",
        match f {
            Some(f) if f.vector == 6 && f.rip > probe && cs == 0x0b => Ok("ran there, at ring 3"),
            _ => Err("did not run there"),
        },
    );
    for (name, cs, ss) in [
        ("iret with a data segment as CS", 0x18, ss),
        ("iret with a not-present CS", 0x20, ss),
        ("iret with a code segment as SS", 0x08, 0x10),
        ("iret with a CS beyond the GDT", 0x12c0, ss),
        ("iret with an LDT CS and no LDT", 0x0c, ss),
    ] {
        t.contained(
            name,
            match iret_to(cs, ss, probe) {
                Some(f) if f.vector == FAILSAFE => Ok("failsafe callback"),
                _ => Err("returned"),
            },
        );
    }
    for (name, sel) in [
        ("load_gs_index with the hypervisor's code selector", 0xe008),
        ("load_gs_index with the TSS selector", 0xe040),
        ("load_gs_index with a not-present segment", 0x23),
    ] {
        // SAFETY: only user mode's GS changes; this kernel does not use it.
        let r = unsafe { guest::set_segment_base(guest_abi::arch::SEGBASE_GS_USER_SEL, sel) };
        let gs: u16;
        // SAFETY: reading a segment register.
        unsafe { core::arch::asm!("mov {0:x}, gs", out(reg) gs) };
        t.contained(
            name,
            match (r, gs) {
                (Ok(()), 0) => Ok("the null selector loaded instead"),
                (Err(_), _) => Err("refused (Xen loads null)"),
                _ => Err("loaded"),
            },
        );
    }
}

/// Flat ring-3 data.
const USER_DATA: u64 = 0x00CF_F200_0000_FFFF;

static mut PROBE_STACK: [u64; 512] = [0; 512];
#[no_mangle]
static mut PV_PROBE_CS: u64 = 0;

core::arch::global_asm!(
    ".pushsection .text.pvprobe, \"ax\"",
    ".global pv_ring_probe",
    "pv_ring_probe:",
    "mov word ptr [rip + PV_PROBE_CS], cs",
    "ud2",
    ".popsection",
);

extern "C" {
    fn pv_ring_probe();
}

/// `iret` to `cs:rip` with stack segment `ss`; what became of it.
fn iret_to(cs: u64, ss: u64, rip: u64) -> Option<traps::Fault> {
    let top = (&raw const PROBE_STACK) as u64 + 4096;
    let ctx = IretContext {
        rip,
        cs,
        rflags: 0x200,
        rsp: top,
        ss,
        ..Default::default()
    };
    // SAFETY: returns to the probe (which ends in ud2) or is refused (failsafe); either way
    // the fault is caught and we resume here.
    catch(|| unsafe { guest::iret(&ctx) })
}

static mut IRET_BATCH: [guest_abi::multicall::MulticallEntry; 3] =
    [guest_abi::multicall::MulticallEntry {
        op: 0,
        result: 0,
        args: [0; 6],
    }; 3];

/// A multicall of `xen_version`, `iret` (to the probe) and `xen_version`, with the iret
/// context on our stack where the hypervisor reads it; what became of it.
fn iret_in_multicall(probe: u64) -> (Option<traps::Fault>, [u64; 3]) {
    const UNRUN: u64 = 0xDEAD;
    let batch = &raw mut IRET_BATCH;
    // SAFETY: our own static, used by nothing else.
    unsafe {
        for (e, op) in (*batch)
            .iter_mut()
            .zip([nr::XEN_VERSION, nr::IRET, nr::XEN_VERSION])
        {
            e.op = op as u64;
            e.result = UNRUN;
            e.args = [0; 6];
        }
    }
    let top = (&raw const PROBE_STACK) as u64 + 4096;
    let f = catch(|| {
        // SAFETY: the iret context (rax r11 rcx flags rip cs rflags rsp ss) goes on our stack
        // and the multicall is made right below it, as `iret` is: the batch
        // ends in the probe (ud2, caught); we resume here either way.
        unsafe {
            core::arch::asm!(
                "push {ss}",
                "push {rsp}",
                "push 0x200",
                "push {cs}",
                "push {rip}",
                "push 0",
                "push 0",
                "push 0",
                "push 0",
                // The multicall straight through `syscall` (the page's stub would push rcx
                // and r11 over the context's place).
                "mov eax, {multicall}",
                "syscall",
                "ud2",
                ss = in(reg) u64::from(FLAT_KERNEL_SS64),
                rsp = in(reg) top,
                cs = in(reg) 0xe030u64,
                rip = in(reg) probe,
                in("rdi") batch as u64,
                in("rsi") 3u64,
                multicall = const nr::MULTICALL,
                options(noreturn)
            );
        }
    });
    // SAFETY: written by the hypervisor, read after the batch ended.
    let results = unsafe { (*batch).map(|e| e.result) };
    (f, results)
}

fn cpu(t: &Tally) {
    let probe = pv_ring_probe as *const () as u64;
    let f = iret_to(0xe030, u64::from(FLAT_KERNEL_SS64), probe);
    // SAFETY: written by the probe, read after it faulted.
    let cs = unsafe { PV_PROBE_CS };
    t.contained(
        "iret to ring 0 (cs 0xe030)",
        match f {
            Some(f) if f.vector == 6 && f.rip > probe && cs & 3 == 3 => Ok("ran with RPL 3"),
            _ => Err("ran in ring 0?"),
        },
    );
    for (name, cs, ss, rip) in [
        (
            "iret with the hypervisor's code selector",
            0xe008,
            0xe02b,
            probe,
        ),
        (
            "iret with the hypervisor's stack selector",
            0xe030,
            0xe010,
            probe,
        ),
    ] {
        t.contained(
            name,
            match iret_to(cs, ss, rip) {
                Some(f) if f.vector == FAILSAFE => Ok("failsafe callback"),
                _ => Err("returned"),
            },
        );
    }
    // `iret` inside a multicall, as Xen: done, and the batch ends there.
    let (f, results) = iret_in_multicall(probe);
    t.contained(
        "iret inside a multicall",
        match (f, results) {
            (Some(f), [v, 0, 0xDEAD]) if f.vector == 6 && f.rip > probe && v != 0xDEAD => {
                Ok("returned to its context; the batch ended there")
            }
            _ => Err("the batch went on, or the iret was not done"),
        },
    );
    let iopl = guest_abi::physdev::PhysdevSetIopl { iopl: 4 };
    t.refused(
        "physdev set_iopl 4",
        // SAFETY: refused; the argument is ours and only read.
        r(unsafe {
            hypercall2(
                nr::PHYSDEV_OP,
                u64::from(guest_abi::physdev::PHYSDEVOP_SET_IOPL),
                (&raw const iopl) as u64,
            )
        }),
    );
    // Usable selectors, a rip the CPU cannot return to: a #GP in the guest kernel, as when
    // Xen's own return to the guest faults, with the bad rip in the frame.
    t.contained(
        "iret to a non-canonical rip",
        match iret_to(0xe030, 0xe02b, NONCANON) {
            Some(f) if f.vector == 13 && f.rip == NONCANON => Ok("#GP to our handler"),
            _ => Err("no #GP"),
        },
    );
    // Port I/O no port is granted for: the hypervisor emulates it as Xen does (reads all
    // ones, writes dropped), so the guest kernel never reaches a real port (the PC's 8042
    // status port would read otherwise).
    let mut eax = 0u32;
    let fault = catch(|| {
        // SAFETY: port I/O from ring 3 faults to the hypervisor, which emulates it; nothing
        // of ours is touched but eax.
        unsafe { core::arch::asm!("in al, 0x64", inout("eax") 0u32 => eax) }
    });
    t.contained(
        "in from port 0x64 in the guest kernel",
        match (fault, eax) {
            (None, 0xFF) => Ok("emulated: reads all ones, no port touched"),
            (Some(f), _) if f.vector == 13 => Err("#GP: port I/O not emulated"),
            _ => Err("read something other than all ones"),
        },
    );
    let privileged: [(&str, fn()); 6] = [
        ("cli", || {
            // SAFETY: privileged in ring 3: #GP (caught), touches nothing.
            unsafe { core::arch::asm!("cli") }
        }),
        ("hlt", || {
            // SAFETY: privileged in ring 3: #GP (caught), touches nothing.
            unsafe { core::arch::asm!("hlt") }
        }),
        ("mov to cr3", || {
            // SAFETY: privileged in ring 3: #GP (caught), touches nothing.
            unsafe { core::arch::asm!("mov cr3, {}", in(reg) 0u64) }
        }),
        ("wrmsr", || {
            // SAFETY: privileged in ring 3: #GP (caught), touches nothing.
            unsafe { core::arch::asm!("wrmsr", in("ecx") 0xC000_0080u32, in("eax") 0, in("edx") 0) }
        }),
        ("lgdt", || {
            // SAFETY: privileged in ring 3: #GP (caught), touches nothing.
            unsafe { core::arch::asm!("lgdt [{}]", in(reg) 0u64) }
        }),
        ("int 0x80 (no gate)", || {
            // SAFETY: privileged in ring 3: #GP (caught), touches nothing.
            unsafe { core::arch::asm!("int 0x80") }
        }),
    ];
    for (name, f) in privileged {
        let r = catch(f);
        t.contained(
            &alloc::format!("{name} in the guest kernel"),
            match r {
                Some(f) if f.vector == 13 => Ok("#GP to our handler"),
                _ => Err("executed"),
            },
        );
    }
}

/// A tree of `l1s` L1 tables, each full of read-only mappings of one data frame, under
/// L2s, an L3 and an L4 (all fresh): `(l4, frames used)`. Pinning and unpinning it validate
/// and release `l1s * 512` entries.
fn big_tree(sp: &Space, l1s: usize) -> Option<(u64, alloc::vec::Vec<u64>)> {
    let data = sp.alloc_frame()?;
    let mut all = alloc::vec::Vec::new();
    let mut l1 = alloc::vec::Vec::new();
    for _ in 0..l1s {
        let f = sp.alloc_frame()?;
        sp.fill(f, 11, |p| p.fill((data << 12) | PTE_KERNEL_RO))
            .ok()?;
        l1.push(f);
    }
    let mut l2 = alloc::vec::Vec::new();
    for chunk in l1.chunks(32) {
        let f = sp.alloc_frame()?;
        sp.fill(f, 11, |p| {
            p.fill(0);
            for (k, t) in chunk.iter().enumerate() {
                p[k] = (t << 12) | PTE_KERNEL_RO;
            }
        })
        .ok()?;
        l2.push(f);
    }
    let l3 = sp.alloc_frame()?;
    sp.fill(l3, 11, |p| {
        p.fill(0);
        for (k, t) in l2.iter().enumerate() {
            p[k] = (t << 12) | PTE_KERNEL_RO;
        }
    })
    .ok()?;
    let l4 = sp.alloc_frame()?;
    sp.fill(l4, 11, |p| {
        p.fill(0);
        p[0] = (l3 << 12) | PTE_KERNEL_RO;
    })
    .ok()?;
    all.extend(l1);
    all.extend(l2);
    all.extend([l3, l4, data]);
    Some((l4, all))
}

/// Pin and unpin a tree of 256 L1 tables (131072 entries): done, but never in one stretch.
pub(super) fn big_pin(sp: &Space, t: &Tally) {
    let Some((l4, frames)) = big_tree(sp, 256) else {
        t.contained("pin and unpin an L4 over 256 L1 tables", Err("no frames"));
        return;
    };
    let pinned = sp.ext(MMUEXT_PIN_L4_TABLE, l4, 0);
    let unpinned = sp.ext(MMUEXT_UNPIN_TABLE, l4, 0);
    // All released: every frame may be mapped writable again.
    let va = sp.spare(33);
    let writable = frames.iter().all(|&f| sp.map(va, f, PTE_KERNEL_RW).is_ok());
    let _ = sp.map(va, 0, 0);
    t.contained(
        "pin and unpin an L4 over 256 L1 tables",
        match (pinned, unpinned, writable) {
            (Ok(()), Ok(()), true) => Ok("done, in slices; every frame writable again"),
            _ => Err("failed"),
        },
    );
}
