//! domU self-tests of the PV MMU and CPU (`test=mm`, `test=fpu fpu=<seed>`, `test=pinhold`),
//! each printing one verdict line per check, `ok` or what went wrong.

use super::{peek, poke, Space, PTE_KERNEL_RO, PTE_TABLE};
use crate::pagetable::PTE_KERNEL_RW;
use crate::println;
use crate::traps::{self, catch};
use core::sync::atomic::Ordering;
use guest_abi::errno::Errno;
use guest_abi::guest;
use guest_abi::hypercall::nr;
use guest_abi::mmu::*;
use guest_abi::multicall::MulticallEntry;
use guest_abi::start_info::StartInfo;

/// Flat ring-3 data and 64-bit code descriptors; a ring-0 code descriptor.
pub const USER_DATA: u64 = 0x00CF_F200_0000_FFFF;
pub const USER_CODE: u64 = 0x00AF_FA00_0000_FFFF;
pub const RING0_CODE: u64 = 0x00AF_9A00_0000_FFFF;

/// Runs the test the command line names; false if it names none of ours.
pub fn run(cmd: &str, si: &StartInfo) -> bool {
    let test = cmd
        .split_ascii_whitespace()
        .find_map(|w| w.strip_prefix("test="));
    let sp = Space::new(si);
    match test {
        Some("mm") => mm(&sp),
        Some("fpu") => fpu(&sp, cmd),
        Some("pinhold") => pinhold(&sp),
        _ => return false,
    }
    true
}

/// Map shared_info at scratch page 0 and install the trap table (CR2 from vcpu_info[0]).
pub fn install_traps(sp: &Space) {
    let va = sp.spare(0);
    match sp.map(va, sp.shared_info >> 12, PTE_KERNEL_RW) {
        Ok(()) => traps::install(va),
        Err(e) => {
            println!("pv-guest: cannot map shared_info: {e:?}");
            traps::install(0)
        }
    }
}

/// `update_descriptor`, for test descriptors only.
pub fn upd_desc(maddr: u64, d: u64) -> Result<(), Errno> {
    // SAFETY: the tests' GDT/LDT hold only test descriptors; this kernel runs on the
    // hypervisor's flat selectors, which no guest descriptor table can change.
    unsafe { guest::update_descriptor(maddr, d) }
}

/// `set_gdt`, for test descriptor tables only.
pub fn set_gdt(frames: &[u64], entries: u64) -> Result<(), Errno> {
    // SAFETY: as `upd_desc`.
    unsafe { guest::set_gdt(frames, entries) }
}

fn verdict(ok: bool) -> &'static str {
    if ok {
        "ok"
    } else {
        "FAILED"
    }
}

fn res(r: Result<(), Errno>) -> alloc::string::String {
    match r {
        Ok(()) => "0".into(),
        Err(e) => e.name().into(),
    }
}

/// `lar` of `sel`: the access-rights bytes if the selector is usable.
pub fn lar(sel: u16) -> Option<u64> {
    let (ar, ok): (u64, u8);
    // SAFETY: `lar` only reads the descriptor table and sets ZF.
    unsafe {
        core::arch::asm!("lar {ar}, {sel:r}", "setz {ok}", ar = out(reg) ar,
            sel = in(reg) u64::from(sel), ok = out(reg_byte) ok, options(nostack))
    };
    (ok != 0).then_some(ar)
}

fn mm(sp: &Space) {
    install_traps(sp);
    let (a, b, c) = (sp.spare(1), sp.spare(2), sp.spare(3));
    let (Some(f1), Some(f2), Some(f3)) = (sp.alloc_frame(), sp.alloc_frame(), sp.alloc_frame())
    else {
        println!("test=mm: no free frames");
        return;
    };
    const P1: u64 = 0x1111_2222_3333_4444;
    const P2: u64 = 0x5555_6666_7777_8888;

    let ok = sp.map(a, f1, PTE_KERNEL_RW).is_ok() && {
        poke(a, P1);
        peek(a) == P1
    };
    println!(
        "test=mm: update_va_mapping map, write, read back: {}",
        verdict(ok)
    );

    let ok = sp
        .entry_maddr(b, 1)
        .and_then(|pte| sp.update(pte, (f2 << 12) | PTE_KERNEL_RW))
        .is_ok()
        && {
            poke(b, P2);
            peek(b) == P2 && sp.mfn_of(b) == Ok(f2)
        };
    println!("test=mm: mmu_update map, write, read back: {}", verdict(ok));

    let ok = sp.map(c, f1, PTE_KERNEL_RO).is_ok() && peek(c) == P1;
    println!(
        "test=mm: second read-only mapping reads the same data: {}",
        verdict(ok)
    );

    // A kernel-mode fault: the error code's user bit (2) is clear, as on native hardware.
    let ok = sp.map(a, 0, 0).is_ok()
        && matches!(catch(|| { peek(a); }), Some(f) if f.vector == 14 && f.cr2 == a && f.error & 4 == 0);
    println!(
        "test=mm: unmapped page faults (#PF, cr2 = its address, supervisor access): {}",
        verdict(ok)
    );

    let ok = sp.map(a, f1, PTE_KERNEL_RW).is_ok() && peek(a) == P1 && peek(c) == P1;
    println!(
        "test=mm: remapped page still holds its data: {}",
        verdict(ok)
    );

    let r = sp.map(c, sp.l4_mfn(), PTE_KERNEL_RW);
    println!("test=mm: mapping our L4 writable: {}", res(r));

    new_l1(sp, f3);
    descriptors(sp);
    multicall(sp, a);
    for va in [a, b, c] {
        let _ = sp.map(va, 0, 0);
    }
}

/// A fresh L1, pinned and hooked into the L2 for an unmapped 2 MiB area past the region.
fn new_l1(sp: &Space, data: u64) {
    let x = sp.region_end.next_multiple_of(2 << 20) + (2 << 20);
    let Some(l1) = sp.alloc_frame() else { return };
    let l2e = sp.entry_maddr(x, 2);
    let empty = l2e.and_then(|m| sp.read_entry(m)) == Ok(0);
    let ok = empty
        && sp.ext(MMUEXT_CLEAR_PAGE, l1, 0).is_ok()
        && sp.ext(MMUEXT_PIN_L1_TABLE, l1, 0).is_ok()
        && l2e
            .and_then(|m| sp.update(m, (l1 << 12) | PTE_TABLE))
            .is_ok()
        && sp.map(x, data, PTE_KERNEL_RW).is_ok()
        && {
            poke(x + 8, 0xABCD);
            peek(x + 8) == 0xABCD
        };
    // While hooked in, the L1 is a page table: no writable mapping, no unpin-and-free.
    let busy = sp.map(sp.spare(4), l1, PTE_KERNEL_RW) == Err(Errno::EBUSY);
    let torn = sp.map(x, 0, 0).is_ok()
        && l2e.and_then(|m| sp.update(m, 0)).is_ok()
        && sp.ext(MMUEXT_UNPIN_TABLE, l1, 0).is_ok();
    println!(
        "test=mm: new L1 pinned, hooked into L2, page mapped through it, torn down: {}",
        verdict(ok && busy && torn)
    );
}

fn descriptors(sp: &Space) {
    let (Some(g), Some(l)) = (sp.alloc_frame(), sp.alloc_frame()) else {
        return;
    };
    let view = sp.spare(5);
    let ok = sp.ext(MMUEXT_CLEAR_PAGE, g, 0).is_ok()
        && upd_desc((g << 12) + 8, USER_DATA).is_ok()
        && set_gdt(&[g], 512).is_ok()
        && lar(0x0b).is_some_and(|ar| ar & 0xFF00 == 0xF200)
        && {
            // Loading the selector makes the CPU set the accessed bit in our frame.
            // SAFETY: ES is unused in 64-bit mode; it is reset to null right after.
            unsafe {
                core::arch::asm!("mov es, {0:x}", "mov es, {1:x}", in(reg) 0x0bu16, in(reg) 0u16)
            };
            sp.map(view, g, PTE_KERNEL_RO).is_ok() && peek(view + 8) & (1 << 40) != 0
        };
    println!(
        "test=mm: set_gdt: our descriptor is live (lar, accessed bit): {}",
        verdict(ok)
    );
    // Ring-0 code is installed as ring-3 code (as Xen does); conforming code is refused.
    let r0 = upd_desc((g << 12) + 16, RING0_CODE);
    let r0_ring3 = lar(0x13).is_some_and(|ar| ar & 0xFF00 == 0xFA00);
    let rc = upd_desc((g << 12) + 16, USER_CODE | 1 << 42);
    let r3 = upd_desc((g << 12) + 16, USER_CODE);
    let ok = r0.is_ok()
        && r0_ring3
        && rc == Err(Errno::EINVAL)
        && r3.is_ok()
        && lar(0x13).is_some_and(|ar| ar & 0xFF00 == 0xFA00);
    println!(
        "test=mm: update_descriptor: ring-0 code {} (as ring 3: {r0_ring3}), conforming {}, ring-3 code {}: {}",
        res(r0),
        res(rc),
        res(r3),
        verdict(ok)
    );
    let r = sp.map(sp.spare(4), g, PTE_KERNEL_RW);
    println!("test=mm: mapping a GDT frame writable: {}", res(r));

    let ldt_va = sp.spare(6);
    let ok = sp.ext(MMUEXT_CLEAR_PAGE, l, 0).is_ok()
        && upd_desc(l << 12, USER_DATA).is_ok()
        && sp.map(ldt_va, l, PTE_KERNEL_RO).is_ok()
        && sp.ext(MMUEXT_SET_LDT, ldt_va, 1).is_ok()
        && lar(0x07).is_some_and(|ar| ar & 0xFF00 == 0xF200)
        && lar(0x0f).is_none();
    println!(
        "test=mm: set_ldt: our LDT descriptor is live (lar): {}",
        verdict(ok)
    );
    let ok = sp.ext(MMUEXT_SET_LDT, 0, 0).is_ok()
        && lar(0x07).is_none()
        && set_gdt(&[], 0).is_ok()
        && lar(0x0b).is_none()
        && sp.map(sp.spare(4), g, PTE_KERNEL_RW).is_ok();
    println!(
        "test=mm: LDT and GDT dropped, frames writable again: {}",
        verdict(ok)
    );
    for va in [view, ldt_va, sp.spare(4)] {
        let _ = sp.map(va, 0, 0);
    }
}

fn multicall(sp: &Space, a: u64) {
    let f = sp.mfn_of(a).unwrap_or(0);
    let mut calls = [
        MulticallEntry {
            op: nr::XEN_VERSION as u64,
            ..Default::default()
        },
        MulticallEntry {
            op: nr::UPDATE_VA_MAPPING as u64,
            args: [sp.spare(7), (f << 12) | PTE_KERNEL_RO, 2, 0, 0, 0],
            ..Default::default()
        },
        MulticallEntry {
            op: nr::MULTICALL as u64,
            ..Default::default()
        },
        MulticallEntry {
            op: 60,
            ..Default::default()
        },
    ];
    // SAFETY: the entries map a scratch page read-only and query; nested/unknown calls fail.
    let r = unsafe { guest::multicall(&mut calls) };
    let res: [i64; 4] = core::array::from_fn(|i| calls[i].result as i64);
    let ok = r.is_ok()
        && res[0] > 0
        && res[1] == 0
        && peek(sp.spare(7)) == peek(a)
        && res[2] == -(Errno::EINVAL.0 as i64)
        && res[3] == -(Errno::ENOSYS.0 as i64);
    println!(
        "test=mm: multicall (version, update_va_mapping, nested multicall, unknown): results written back {}: {}",
        if ok { "0, EINVAL, ENOSYS" } else { "wrong" },
        verdict(ok)
    );
    let _ = sp.map(sp.spare(7), 0, 0);
}

fn fnstcw() -> u16 {
    let mut cw: u16 = 0;
    // SAFETY: stores the x87 control word into a local.
    unsafe { core::arch::asm!("fnstcw [{}]", in(reg) &mut cw, options(nostack)) };
    cw
}

fn fpu(sp: &Space, cmd: &str) {
    install_traps(sp);
    let seed: u16 = cmd
        .split_ascii_whitespace()
        .find_map(|w| w.strip_prefix("fpu=")?.parse().ok())
        .unwrap_or(1);
    // Rounding control (bits 10-11) and precision (8-9) from the seed: distinct per guest.
    let cw: u16 = 0x007F | ((seed & 0xF) << 8);
    // SAFETY: loads a valid control word (all exceptions masked).
    unsafe { core::arch::asm!("fldcw [{}]", in(reg) &cw, options(nostack)) };
    let mut kept = true;
    for _ in 0..300 {
        let _ = guest::sched_yield();
        kept &= fnstcw() == cw;
    }
    println!(
        "test=fpu: x87 control word kept across 300 yields: {}",
        verdict(kept)
    );
    let before = traps::NM_COUNT.load(Ordering::SeqCst);
    let set = guest::fpu_taskswitch(true).is_ok();
    let v = fnstcw();
    let once = traps::NM_COUNT.load(Ordering::SeqCst) - before;
    let v2 = fnstcw();
    let again = traps::NM_COUNT.load(Ordering::SeqCst) - before;
    println!(
        "test=fpu: after fpu_taskswitch(1) the next FPU use raised #NM {once} time(s), then {}: {}",
        again - once,
        verdict(set && once == 1 && again == 1 && v == cw && v2 == cw)
    );
}

/// Pin many tables and set a GDT and an LDT, then stay alive: destroying the domain must
/// give every frame back.
fn pinhold(sp: &Space) {
    install_traps(sp);
    let mut pinned = 0;
    for _ in 0..512 {
        let Some(f) = sp.alloc_frame() else { break };
        if sp.ext(MMUEXT_CLEAR_PAGE, f, 0).is_ok() && sp.ext(MMUEXT_PIN_L1_TABLE, f, 0).is_ok() {
            pinned += 1;
        }
    }
    let (Some(g), Some(l)) = (sp.alloc_frame(), sp.alloc_frame()) else {
        return;
    };
    let ldt_va = sp.spare(6);
    let ok = sp.ext(MMUEXT_CLEAR_PAGE, g, 0).is_ok()
        && sp.ext(MMUEXT_CLEAR_PAGE, l, 0).is_ok()
        && set_gdt(&[g], 512).is_ok()
        && sp.map(ldt_va, l, PTE_KERNEL_RO).is_ok()
        && sp.ext(MMUEXT_SET_LDT, ldt_va, 512).is_ok();
    println!(
        "test=pinhold: pinned {pinned} L1 tables, GDT and LDT set: {}",
        verdict(ok)
    );
}
