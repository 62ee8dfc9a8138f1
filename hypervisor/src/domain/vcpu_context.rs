//! A vCPU's context as a whole (`XEN_DOMCTL_setvcpucontext`, the domain builder's initial
//! state): registers, page tables, callbacks and trap table.

use super::state::State;
use super::VcpuId;
use guest_abi::arch::{VcpuGuestContext, VgcfFlags};
use guest_abi::errno::Errno;
use guest_abi::types::{DomId, Mfn};

/// `EINVAL` unless every address the context loads is usable, as Xen checks: the registers
/// and segment bases canonical (a non-canonical base would fault the hypervisor's own MSR
/// write when the vCPU is switched in), the callbacks and trap handlers guest addresses
/// outside the hypervisor hole, as `set_callbacks` and `set_trap_table` require.
fn check_addresses(c: &VcpuGuestContext) -> Result<(), Errno> {
    use crate::mm::guest_walk::{canonical, guest_va_ok};
    let u = &c.user_regs;
    let regs = [
        u.rip,
        u.rsp,
        c.kernel_sp,
        c.fs_base,
        c.gs_base_kernel,
        c.gs_base_user,
    ];
    let entries = [
        c.event_callback_eip,
        c.failsafe_callback_eip,
        c.syscall_callback_eip,
    ]
    .into_iter()
    .chain(c.trap_ctxt.iter().map(|t| t.address));
    let ok =
        regs.into_iter().all(canonical) && entries.into_iter().all(|a| a == 0 || guest_va_ok(a));
    if ok {
        Ok(())
    } else {
        Err(Errno::EINVAL)
    }
}

fn live(st: &mut State, dom: DomId) -> Result<&mut super::Domain, Errno> {
    match st.dom(dom) {
        Some(d) if !d.dying => Ok(d),
        _ => Err(Errno::ESRCH),
    }
}

/// MXCSR bits a context may set (DAZ left out: not every CPU has it); the rest are
/// reserved and would make FXRSTOR fault.
const MXCSR_MASK: u32 = 0xFFBF;

/// The debug registers a context asks for, each checked as `set_debugreg` checks it; any
/// refusal is `EINVAL`, as Xen's `arch_set_info_guest`. DR4 and DR5 are not kept.
fn debugregs(c: &VcpuGuestContext) -> Result<[u64; 8], Errno> {
    let mut dr = super::debugreg::RESET;
    for r in [0, 1, 2, 3, 6, 7] {
        dr[r] = super::debugreg::checked(r as u32, c.debugreg[r]).map_err(|_| Errno::EINVAL)?;
    }
    Ok(dr)
}

/// The FPU context a vCPU starts with: the guest's FXSAVE image if `VGCF_i387_valid`
/// (MXCSR's reserved bits cleared, so it always loads), else the reset state; a fresh
/// context (new token), so no CPU's live registers are taken for it.
fn fpu_state(c: &VcpuGuestContext) -> crate::arch::fpu::FpuState {
    let mut f = crate::arch::fpu::FpuState::new();
    if c.vgcf_flags().contains(VgcfFlags::I387_VALID) {
        f.area.0.copy_from_slice(&c.fpu_ctxt);
        let mut mxcsr = [0u8; 4];
        mxcsr.copy_from_slice(&f.area.0[24..28]);
        let mxcsr = u32::from_le_bytes(mxcsr) & MXCSR_MASK;
        f.area.0[24..28].copy_from_slice(&mxcsr.to_le_bytes());
    }
    // CR0.TS as the guest set it (`fpu_taskswitch`).
    f.guest_ts = c.ctrlreg[0] & X86_CR0_TS != 0;
    f
}

const X86_CR0_TS: u64 = 1 << 3;

/// The domain's `vm_assist` types a context brings, as Xen's `arch_set_info_guest`: only
/// vCPU 0's context names them (other vCPUs' `vm_assist` is ignored), `EINVAL` if it names a
/// type a 64-bit PV guest may not turn on (as the `vm_assist` hypercall), and they are taken
/// only from its first context (`first`: the vCPU was not initialised). Writable page tables
/// stay among them: they are always in force for a 64-bit PV guest here.
fn vm_assist_of(vcpu: u32, first: bool, c: &VcpuGuestContext) -> Result<Option<u64>, Errno> {
    use guest_abi::mmu::VM_ASSIST_VALID;
    if vcpu != 0 {
        return Ok(None);
    }
    if c.vm_assist & !VM_ASSIST_VALID != 0 {
        return Err(Errno::EINVAL);
    }
    Ok(first.then_some(c.vm_assist | super::DEFAULT_VM_ASSIST))
}

/// Load vCPU `v`'s state from a `vcpu_guest_context` (the domain builder's initial state,
/// `XEN_DOMCTL_setvcpucontext`, `VCPUOP_initialise`), as Xen's `arch_set_info_guest` for a
/// 64-bit PV vCPU: registers (selectors at ring 3, IOPL and TF dropped, IF set), kernel
/// and user page tables (`ctrlreg[3]`, `ctrlreg[1]`: a type reference each, validated as L4s
/// of the domain), GDT (`gdt_frames`/`gdt_ents`) and LDT (`ldt_base`/`ldt_ents`, mapped by
/// the new kernel page table) typed seg_desc as `set_gdt` and `MMUEXT_SET_LDT` do, kernel
/// stack, segment bases, callbacks with `VGCF_failsafe_disables_events` and
/// `VGCF_syscall_disables_events`, trap table, debug registers, FPU state; vCPU 0's first
/// context also sets the domain's `vm_assist` types ([`vm_assist_of`]). All or nothing:
/// `EINVAL` for bad addresses, debug registers, descriptor frames or vCPU 0's assist types,
/// the page-table errors for a bad L4. The vCPU is initialised and, if `online`, up.
/// `ESRCH` for a dying domain, `ENOENT` for a vCPU it lacks.
pub fn set_vcpu_context(
    st: &mut State,
    v: VcpuId,
    c: &VcpuGuestContext,
    online: bool,
) -> Result<(), Errno> {
    use crate::domain::desc_tables as descriptors;
    use crate::mm::page_types::PageType;
    let dom = v.dom;
    let first = !live(st, dom)?
        .vcpu(v.vcpu)
        .ok_or(Errno::ENOENT)?
        .initialised;
    let assist = vm_assist_of(v.vcpu, first, c)?;
    check_addresses(c)?;
    let dr = debugregs(c)?;
    descriptors::gdt_frames_for(c.gdt_ents)?;
    let l4 = Mfn::containing(c.ctrlreg[3]);
    let user_l4 = Mfn::containing(c.ctrlreg[1]);
    let put_l4s = |st: &mut State| {
        let (mut ft, mem) = st.frame_table();
        ft.put_type(mem, l4);
        if user_l4 != Mfn(0) {
            ft.put_type(mem, user_l4);
        }
    };
    {
        let (mut ft, mem) = st.frame_table();
        ft.get_type(mem, l4, PageType::L4, dom)?;
        if user_l4 != Mfn(0) {
            if let Err(e) = ft.get_type(mem, user_l4, PageType::L4, dom) {
                ft.put_type(mem, l4);
                return Err(e);
            }
        }
    }
    let frames = c.gdt_frames.map(Mfn);
    let gdt = match descriptors::take_gdt(st, dom, &frames, c.gdt_ents) {
        Ok(g) => g,
        Err(e) => {
            put_l4s(st);
            return Err(e);
        }
    };
    let ldt = match descriptors::take_ldt(st, dom, l4, c.ldt_base, c.ldt_ents) {
        Ok(l) => l,
        Err(e) => {
            descriptors::release_gdt(st, gdt);
            put_l4s(st);
            return Err(e);
        }
    };
    descriptors::install(st, v, Some(gdt), Some(ldt));
    let flags = c.vgcf_flags();
    let vc = live(st, dom)?.vcpu_mut(v.vcpu).ok_or(Errno::ENOENT)?;
    let old = (vc.kernel_l4, vc.user_l4);
    let u = &c.user_regs;
    let mut regs = *u;
    regs.cs |= 3;
    regs.ss |= 3;
    regs.rflags = (regs.rflags & 0xCD5) | 0x202;
    regs.entry_vector = 0;
    vc.regs = regs;
    vc.in_kernel = flags.contains(VgcfFlags::IN_KERNEL);
    vc.kernel_l4 = l4;
    vc.user_l4 = user_l4;
    vc.kernel_ss = c.kernel_ss | 3;
    vc.kernel_sp = c.kernel_sp;
    vc.fs_base = c.fs_base;
    vc.gs_base_kernel = c.gs_base_kernel;
    vc.gs_base_user = c.gs_base_user;
    vc.callbacks.event = c.event_callback_eip;
    vc.callbacks.failsafe = c.failsafe_callback_eip;
    vc.callbacks.syscall = c.syscall_callback_eip;
    vc.callbacks.failsafe_masks_events = flags.contains(VgcfFlags::FAILSAFE_DISABLES_EVENTS);
    vc.callbacks.syscall_masks_events = flags.contains(VgcfFlags::SYSCALL_DISABLES_EVENTS);
    for (slot, t) in vc.trap_table.iter_mut().zip(c.trap_ctxt.iter()) {
        *slot = *t;
    }
    vc.debugreg = dr;
    vc.fpu = fpu_state(c);
    vc.initialised = true;
    if online {
        vc.online = true;
    }
    if let Some(a) = assist {
        live(st, dom)?.vm_assist = a;
    }
    if st.current == v {
        crate::arch::fpu_regs::set_ts();
        st.sync_mode();
    }
    let (mut ft, mem) = st.frame_table();
    for m in [old.0, old.1] {
        if m != Mfn(0) {
            ft.put_type(mem, m);
        }
    }
    Ok(())
}

/// vCPU `v`'s context as a `vcpu_guest_context` (`XEN_DOMCTL_getvcpucontext`), the
/// inverse of [`set_vcpu_context`] as Xen's `arch_get_info_guest` for a 64-bit PV vCPU:
/// its saved registers, `VGCF_*` flags (FPU image valid, kernel mode, the callbacks' event
/// masking, online), FXSAVE image (its registers saved first if they are still live on this
/// CPU), trap table, LDT, GDT frames and entries, kernel stack, `ctrlreg[3]`/`ctrlreg[1]`
/// the kernel and user L4s as CR3 values (`xen_pfn_to_cr3`: the frame shifted by 12),
/// `ctrlreg[0]` with TS as the guest set it, debug registers (DR4/DR5 zero), callbacks,
/// the domain's `vm_assist` and the segment bases. The vCPU must not be running: the
/// caller checks that. `ESRCH` for a dying or missing domain, `EINVAL` for a vCPU it
/// lacks, `ENODATA` for one never initialised (as Xen).
pub fn get_vcpu_context(st: &mut State, v: VcpuId) -> Result<VcpuGuestContext, Errno> {
    use zerocopy::FromZeros;
    let d = live(st, v.dom)?;
    let vm_assist = d.vm_assist;
    let vc = d.vcpu_mut(v.vcpu).ok_or(Errno::EINVAL)?;
    if !vc.initialised {
        return Err(Errno::ENODATA);
    }
    super::fpu::sync_area(&mut vc.fpu);
    let mut c = VcpuGuestContext::new_zeroed();
    c.fpu_ctxt.copy_from_slice(&vc.fpu.area.0);
    let mut flags = VgcfFlags::I387_VALID;
    for (on, f) in [
        (vc.in_kernel, VgcfFlags::IN_KERNEL),
        (
            vc.callbacks.failsafe_masks_events,
            VgcfFlags::FAILSAFE_DISABLES_EVENTS,
        ),
        (
            vc.callbacks.syscall_masks_events,
            VgcfFlags::SYSCALL_DISABLES_EVENTS,
        ),
        (vc.online, VgcfFlags::ONLINE),
    ] {
        if on {
            flags |= f;
        }
    }
    c.flags = flags.bits();
    c.user_regs = vc.regs;
    for (slot, t) in c.trap_ctxt.iter_mut().zip(vc.trap_table.iter()) {
        *slot = *t;
    }
    let desc = &vc.desc;
    c.ldt_base = desc.ldt_base;
    c.ldt_ents = desc.ldt_ents;
    for (slot, m) in c.gdt_frames.iter_mut().zip(&desc.gdt[..desc.gdt_nr]) {
        *slot = m.0;
    }
    c.gdt_ents = desc.gdt_ents;
    c.kernel_ss = vc.kernel_ss;
    c.kernel_sp = vc.kernel_sp;
    if vc.fpu.guest_ts {
        c.ctrlreg[0] = X86_CR0_TS;
    }
    c.ctrlreg[3] = vc.kernel_l4.addr();
    if vc.user_l4 != Mfn(0) {
        c.ctrlreg[1] = vc.user_l4.addr();
    }
    c.debugreg = vc.debugreg;
    c.debugreg[4] = 0;
    c.debugreg[5] = 0;
    c.event_callback_eip = vc.callbacks.event;
    c.failsafe_callback_eip = vc.callbacks.failsafe;
    c.syscall_callback_eip = vc.callbacks.syscall;
    c.vm_assist = vm_assist;
    c.fs_base = vc.fs_base;
    c.gs_base_kernel = vc.gs_base_kernel;
    c.gs_base_user = vc.gs_base_user;
    Ok(c)
}

/// Load a new kernel (or, `user`, user) page table for the current vCPU, as
/// `MMUEXT_NEW_BASEPTR`/`MMUEXT_NEW_USER_BASEPTR` and a guest kernel's `mov %cr3` do: the new
/// L4 is typed (validated) first, the old one's type reference dropped, CR3 reloaded.
pub fn new_baseptr(st: &mut State, user: bool, new: Mfn) -> Result<(), Errno> {
    use crate::mm::page_types::PageType;
    let cur = st.current.dom;
    {
        let (mut ft, mem) = st.frame_table();
        if !(user && new == Mfn(0)) {
            ft.get_type(mem, new, PageType::L4, cur)?;
        }
    }
    let v = st.cur_vcpu();
    let old = if user {
        core::mem::replace(&mut v.user_l4, new)
    } else {
        core::mem::replace(&mut v.kernel_l4, new)
    };
    let active = v.active_l4();
    let (mut ft, mem) = st.frame_table();
    if old != Mfn(0) {
        ft.put_type(mem, old);
    }
    crate::arch::cpu::write_cr3(active.addr());
    Ok(())
}
