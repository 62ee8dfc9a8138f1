//! A vCPU's descriptor tables as frames it holds: taking GDT and LDT frames (typed seg_desc,
//! all or none), installing them on a vCPU (the live one's are loaded at once) and giving
//! them back. Shared by `set_gdt`/`MMUEXT_SET_LDT` (`hypercall::descriptors`) and a vCPU's
//! whole context (`domain::vcpu_context`).

use crate::arch::desc::{
    GuestDescTables, GUEST_GDT_ENTRIES, GUEST_GDT_PAGES, LDT_ENTRIES, LDT_PAGES,
};
use crate::arch::gdt;
use crate::domain::state::State;
use crate::domain::VcpuId;
use crate::mm::guest_walk::{guest_va_ok, translate};
use crate::mm::page_types::PageType;
use guest_abi::errno::Errno;
use guest_abi::types::{DomId, Mfn, PAGE_SIZE};

/// Type `frames` seg_desc for domain `dom`, all or none (Xen answers EINVAL).
pub(crate) fn take_frames(st: &mut State, dom: DomId, frames: &[Mfn]) -> Result<(), Errno> {
    let (mut ft, mem) = st.frame_table();
    for (i, &mfn) in frames.iter().enumerate() {
        if ft.get_type(mem, mfn, PageType::SegDesc, dom).is_err() {
            for &undo in &frames[..i] {
                ft.put_type(mem, undo);
            }
            return Err(Errno::EINVAL);
        }
    }
    Ok(())
}

pub(crate) fn put_frames(st: &mut State, frames: &[Mfn]) {
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

/// How many GDT frames `entries` descriptors take: `EINVAL` beyond the 14 frames below the
/// reserved area (0xe000), as Xen.
pub(crate) fn gdt_frames_for(entries: u64) -> Result<usize, Errno> {
    if entries > GUEST_GDT_ENTRIES {
        return Err(Errno::EINVAL);
    }
    Ok(entries.div_ceil(512) as usize)
}

/// A GDT whose frames are typed seg_desc (a reference each), not yet a vCPU's.
pub(crate) struct Gdt {
    frames: [Mfn; GUEST_GDT_PAGES],
    nr: usize,
    ents: u64,
}

/// An LDT whose frames are typed seg_desc (a reference each), not yet a vCPU's.
pub(crate) struct Ldt {
    frames: [Mfn; LDT_PAGES],
    nr: usize,
    ents: u64,
    base: u64,
}

/// The GDT of `entries` descriptors in `frames` (the first [`gdt_frames_for`] of them),
/// typed seg_desc for domain `dom`, all or none (`EINVAL`, as Xen's `pv_set_gdt`).
pub(crate) fn take_gdt(
    st: &mut State,
    dom: DomId,
    frames: &[Mfn],
    entries: u64,
) -> Result<Gdt, Errno> {
    let nr = gdt_frames_for(entries)?;
    let list = frames.get(..nr).ok_or(Errno::EINVAL)?;
    take_frames(st, dom, list)?;
    let mut g = Gdt {
        frames: [Mfn(0); GUEST_GDT_PAGES],
        nr,
        ents: entries,
    };
    g.frames[..nr].copy_from_slice(list);
    Ok(g)
}

/// The LDT of `ents` descriptors at `va` as page table `root` maps it: `va` page-aligned, a
/// guest address, at most 8192 entries, every frame behind it mapped and typed seg_desc for
/// domain `dom` (all or none), else `EINVAL`. No entries: no LDT (the address is not used,
/// as Xen takes it as 0).
pub(crate) fn take_ldt(
    st: &mut State,
    dom: DomId,
    root: Mfn,
    va: u64,
    ents: u64,
) -> Result<Ldt, Errno> {
    let va = if ents == 0 { 0 } else { va };
    if va & 0xFFF != 0 || ents > LDT_ENTRIES || (ents != 0 && !guest_va_ok(va)) {
        return Err(Errno::EINVAL);
    }
    let nr = (ents * 8).div_ceil(PAGE_SIZE as u64) as usize;
    let mut frames = [Mfn(0); LDT_PAGES];
    for (i, f) in frames.iter_mut().enumerate().take(nr) {
        let page = va
            .checked_add((PAGE_SIZE * i) as u64)
            .ok_or(Errno::EINVAL)?;
        *f = Mfn::containing(translate(&st.mem, root, page, false).map_err(|_| Errno::EINVAL)?);
    }
    take_frames(st, dom, &frames[..nr])?;
    Ok(Ldt {
        frames,
        nr,
        ents,
        base: va,
    })
}

/// Drop a taken GDT that is not to be installed.
pub(crate) fn release_gdt(st: &mut State, g: Gdt) {
    put_frames(st, &g.frames[..g.nr]);
}

/// Give vCPU `v` (which exists) the taken `gdt` and/or `ldt`, dropping the frames of the
/// tables they replace; loaded at once if `v` is the running vCPU. `set_gdt`,
/// `MMUEXT_SET_LDT` and a vCPU's whole context (`domain::vcpu_context`) all come here.
pub(crate) fn install(st: &mut State, v: VcpuId, gdt: Option<Gdt>, ldt: Option<Ldt>) {
    let Some(vc) = st.vcpu(v) else {
        debug_assert!(false, "install on a vCPU that does not exist");
        return;
    };
    let old = vc.desc;
    if let Some(g) = &gdt {
        vc.desc.gdt = g.frames;
        vc.desc.gdt_nr = g.nr;
        vc.desc.gdt_ents = g.ents;
    }
    if let Some(l) = &ldt {
        vc.desc.ldt = l.frames;
        vc.desc.ldt_nr = l.nr;
        vc.desc.ldt_ents = l.ents;
        vc.desc.ldt_base = l.base;
    }
    let now = vc.desc;
    if gdt.is_some() {
        put_frames(st, &old.gdt[..old.gdt_nr]);
    }
    if ldt.is_some() {
        put_frames(st, &old.ldt[..old.ldt_nr]);
    }
    if st.current == v {
        gdt::load_guest_tables(&now);
    }
}
