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

/// Load vCPU `v`'s state from a `vcpu_guest_context` (the domain builder's initial state,
/// `XEN_DOMCTL_setvcpucontext`, `VCPUOP_initialise`), taking a type reference on its page
/// tables, which must validate as L4s of the domain. The vCPU is initialised and, if
/// `online`, up. `ESRCH` for a dying domain, `ENOENT` for a vCPU it lacks.
pub fn set_vcpu_context(
    st: &mut State,
    v: VcpuId,
    c: &VcpuGuestContext,
    online: bool,
) -> Result<(), Errno> {
    let dom = v.dom;
    live(st, dom)?.vcpu(v.vcpu).ok_or(Errno::ENOENT)?;
    check_addresses(c)?;
    let l4 = Mfn::containing(c.ctrlreg[3]);
    let user_l4 = Mfn::containing(c.ctrlreg[1]);
    {
        let (mut ft, mem) = st.frame_table();
        ft.get_type(mem, l4, crate::mm::page_types::PageType::L4, dom)?;
        if user_l4 != Mfn(0) {
            if let Err(e) = ft.get_type(mem, user_l4, crate::mm::page_types::PageType::L4, dom) {
                ft.put_type(mem, l4);
                return Err(e);
            }
        }
    }
    let vc = live(st, dom)?.vcpu_mut(v.vcpu).ok_or(Errno::ENOENT)?;
    let old = (vc.kernel_l4, vc.user_l4);
    let u = &c.user_regs;
    let mut regs = *u;
    regs.cs |= 3;
    regs.ss |= 3;
    regs.rflags = (regs.rflags & 0xCD5) | 0x202;
    regs.entry_vector = 0;
    vc.regs = regs;
    vc.in_kernel = VgcfFlags::from_bits_retain(c.flags).contains(VgcfFlags::IN_KERNEL);
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
    for (slot, t) in vc.trap_table.iter_mut().zip(c.trap_ctxt.iter()) {
        *slot = *t;
    }
    vc.initialised = true;
    if online {
        vc.online = true;
    }
    if st.current == v {
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
