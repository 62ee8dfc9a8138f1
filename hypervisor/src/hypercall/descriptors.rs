//! Segment descriptor tables: `set_gdt`, `update_descriptor` and `MMUEXT_SET_LDT`.
//!
//! Descriptor frames are typed seg_desc in the frame table, which validates every descriptor
//! in them (`mm::descriptor`) and keeps them from being mapped writable while in use. The
//! live vCPU's frames are mapped into the hypervisor's GDT below the reserved area and into
//! its LDT window (`arch::gdt`).

use super::{HcResult, Outcome};
use crate::arch::desc::GUEST_GDT_PAGES;
use crate::domain::state::State;
use crate::mm::descriptor::guest_descriptor;
use crate::mm::guest_copy;
use crate::mm::page_types::{PageType, TableMem};
use guest_abi::arch::CpuUserRegs;
use guest_abi::errno::Errno;
use guest_abi::hypercall_args::*;
use guest_abi::types::Mfn;

pub(crate) use crate::domain::desc_tables::*;

/// set_gdt(frame_list, entries): at most 14 frames (entries below the reserved 0xe000).
pub fn set_gdt(st: &mut State, _regs: &mut CpuUserRegs, a: SetGdtArgs) -> HcResult {
    let (list, entries) = (a.frames, u64::from(a.entries));
    let nr = gdt_frames_for(entries)?;
    let mut frames = [Mfn(0); GUEST_GDT_PAGES];
    for (i, f) in frames.iter_mut().enumerate().take(nr) {
        *f = guest_copy::read(&st.mem, list.wrapping_add(8 * i as u64))?;
    }
    let cur = st.current;
    let g = take_gdt(st, cur.dom, &frames, entries)?;
    install(st, cur, Some(g), None);
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
    let root = Mfn::containing(crate::arch::cpu::read_cr3());
    let cur = st.current;
    let l = take_ldt(st, cur.dom, root, va, ents)?;
    install(st, cur, None, Some(l));
    Ok(())
}
