//! Segment descriptor tables: `set_gdt`, `update_descriptor` and `MMUEXT_SET_LDT`.
//!
//! Descriptor frames are typed seg_desc in the frame table, which validates every descriptor
//! in them (`mm::descriptor`) and keeps them from being mapped writable while in use. The
//! live vCPU's frames are mapped into the hypervisor's GDT below the reserved area and into
//! its LDT window (`arch::gdt`).

use super::{HcResult, Outcome};
use crate::arch::desc::{
    GuestDescTables, GUEST_GDT_ENTRIES, GUEST_GDT_PAGES, LDT_ENTRIES, LDT_PAGES,
};
use crate::arch::gdt;
use crate::domain::state::State;
use crate::mm::descriptor::guest_descriptor;
use crate::mm::guest_copy;
use crate::mm::guest_walk::{guest_va_ok, translate};
use crate::mm::page_types::{PageType, TableMem};
use guest_abi::arch::CpuUserRegs;
use guest_abi::errno::Errno;
use guest_abi::hypercall_args::*;
use guest_abi::types::{Mfn, PAGE_SIZE};

/// Type `frames` seg_desc for the current domain, all or none (Xen answers EINVAL).
fn take_frames(st: &mut State, frames: &[Mfn]) -> Result<(), Errno> {
    let cur = st.current.dom;
    let (mut ft, mem) = st.frame_table();
    for (i, &mfn) in frames.iter().enumerate() {
        if ft.get_type(mem, mfn, PageType::SegDesc, cur).is_err() {
            for &undo in &frames[..i] {
                ft.put_type(mem, undo);
            }
            return Err(Errno::EINVAL);
        }
    }
    Ok(())
}

fn put_frames(st: &mut State, frames: &[Mfn]) {
    let (mut ft, mem) = st.frame_table();
    for &mfn in frames {
        ft.put_type(mem, mfn);
    }
}

/// Release every descriptor frame a vCPU holds (domain teardown, context reset).
pub fn release_all(st: &mut State, t: &GuestDescTables) {
    put_frames(st, &t.gdt[..t.gdt_nr]);
    put_frames(st, &t.ldt[..t.ldt_nr]);
}

/// set_gdt(frame_list, entries): at most 14 frames (entries below the reserved 0xe000).
pub fn set_gdt(st: &mut State, _regs: &mut CpuUserRegs, a: SetGdtArgs) -> HcResult {
    let (list, entries) = (a.frames, u64::from(a.entries));
    if entries > GUEST_GDT_ENTRIES {
        return Err(Errno::EINVAL);
    }
    let nr = entries.div_ceil(512) as usize;
    let mut frames = [Mfn(0); GUEST_GDT_PAGES];
    for (i, f) in frames.iter_mut().enumerate().take(nr) {
        *f = guest_copy::read(&st.mem, list.wrapping_add(8 * i as u64))?;
    }
    take_frames(st, &frames[..nr])?;
    let v = st.cur_vcpu();
    let old = v.desc;
    v.desc.gdt = frames;
    v.desc.gdt_nr = nr;
    v.desc.gdt_ents = entries;
    let now = v.desc;
    put_frames(st, &old.gdt[..old.gdt_nr]);
    gdt::load_guest_tables(&now);
    Ok(Outcome::Done(0))
}

/// update_descriptor(maddr, desc): write one validated descriptor into a frame of the caller
/// that is a descriptor page or could be mapped writable (never a page table).
pub fn update_descriptor(
    st: &mut State,
    _regs: &mut CpuUserRegs,
    a: UpdateDescriptorArgs,
) -> HcResult {
    let maddr = a.maddr;
    if maddr & 7 != 0 {
        return Err(Errno::EINVAL);
    }
    // What is written is the checked descriptor (a ring-0 segment demoted to ring 3).
    let desc = guest_descriptor(a.desc).ok_or(Errno::EINVAL)?;
    let cur = st.current.dom;
    let mfn = Mfn::containing(maddr);
    let (mut ft, mem) = st.frame_table();
    let info = *ft.get(mfn).ok_or(Errno::EINVAL)?;
    if info.owner != cur {
        return Err(Errno::EINVAL);
    }
    if !(info.ptype == PageType::SegDesc && info.type_count > 0) {
        // Not in use as a descriptor page: it must be a page that may be written.
        ft.get_type(mem, mfn, PageType::Writable, cur)
            .map_err(|_| Errno::EINVAL)?;
        ft.put_type(mem, mfn);
    }
    mem.write(mfn, ((maddr & 0xFFF) >> 3) as usize, desc);
    Ok(Outcome::Done(0))
}

/// MMUEXT_SET_LDT: `ents` descriptors at guest virtual address `va` (page-aligned) in the
/// current page tables; the frames behind it become descriptor pages. No entries: no LDT.
pub fn set_ldt(st: &mut State, va: u64, ents: u64) -> Result<(), Errno> {
    // Without entries the address is not used (Xen takes it as 0).
    let va = if ents == 0 { 0 } else { va };
    if va & 0xFFF != 0 || ents > LDT_ENTRIES || (ents != 0 && !guest_va_ok(va)) {
        return Err(Errno::EINVAL);
    }
    let nr = (ents * 8).div_ceil(PAGE_SIZE as u64) as usize;
    let root = Mfn::containing(crate::arch::cpu::read_cr3());
    let mut frames = [Mfn(0); LDT_PAGES];
    for (i, f) in frames.iter_mut().enumerate().take(nr) {
        let page = va
            .checked_add((PAGE_SIZE * i) as u64)
            .ok_or(Errno::EINVAL)?;
        *f = Mfn::containing(translate(&st.mem, root, page, false).map_err(|_| Errno::EINVAL)?);
    }
    take_frames(st, &frames[..nr])?;
    let v = st.cur_vcpu();
    let old = v.desc;
    v.desc.ldt = frames;
    v.desc.ldt_nr = nr;
    v.desc.ldt_ents = ents;
    v.desc.ldt_base = if ents == 0 { 0 } else { va };
    let now = v.desc;
    put_frames(st, &old.ldt[..old.ldt_nr]);
    gdt::load_guest_tables(&now);
    Ok(())
}
