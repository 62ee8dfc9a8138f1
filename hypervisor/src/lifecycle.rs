//! Creating, shutting down, crashing and destroying domains.

use crate::domain::state::State;
use crate::domain::Domain;
use alloc::boxed::Box;
use guest_abi::errno::Errno;
use guest_abi::sched::ShutdownReason;
use guest_abi::types::DomId;

/// isa-debug-exit values when dom0 stops (see docs/design.md).
const EXIT_POWEROFF: u32 = 0x10;
const EXIT_DOM0_CRASH: u32 = 0x11;
const EXIT_REBOOT: u32 = 0x13;

/// Create a paused domain with id `want` (`None`: the next id after the last one handed
/// out that nothing still names, as Xen hands ids out increasing).
pub fn create(st: &mut State, want: Option<DomId>, privileged: bool) -> Result<DomId, Errno> {
    let id = match want {
        Some(id) if id <= DomId::MAX_DOMAIN => {
            if st.domains.contains_key(&id) {
                return Err(Errno::EEXIST);
            }
            id
        }
        Some(_) => return Err(Errno::EINVAL),
        None => crate::domid::next_id(st.last_domid, DomId::MAX_DOMAIN, |id| st.id_referenced(id))
            .ok_or(Errno::ENOSPC)?,
    };
    // The new domain's boxes and its place in the map must not reach the allocator's
    // failure path: refused with ENOMEM before anything is allocated.
    crate::heap::try_reserve(core::mem::size_of::<Domain>() + 16 * 1024)?;
    let mfn = crate::phys::frames::alloc().ok_or(Errno::ENOMEM)?;
    let shared = match st.frame_table().0.assign_xen(mfn, id) {
        Ok(page) => page,
        Err(_) => {
            log::error!("frame {mfn:#x} from the allocator is already owned");
            return Err(Errno::ENOMEM);
        }
    };
    crate::mm::machine::xen_zero(&shared);
    // Every vCPU starts with event delivery masked (each evtchn_upcall_mask = 1).
    for slot in 0..guest_abi::shared_info::XEN_LEGACY_MAX_VCPUS {
        crate::domain::vcpu_info::set_upcall_mask(
            &crate::mm::machine::VcpuInfoAt::shared_slot(&shared, slot),
            true,
        );
    }
    crate::time::init_shared_info(&shared);
    let mut d = Box::new(Domain::new(id, privileged, shared));
    st.instances += 1;
    d.instance = st.instances;
    if id != DomId::DOM0 {
        st.last_domid = id;
    }
    st.domains.insert(id, d);
    Ok(id)
}

/// Record that `id` shut down for `reason`. dom0 shutting down stops the machine.
pub fn shutdown(st: &mut State, id: DomId, reason: ShutdownReason) {
    // As Xen: a code set earlier with SCHEDOP_shutdown_code is the one reported.
    let reason = st.dom(id).and_then(|d| d.shutdown_code).unwrap_or(reason);
    if id == DomId::DOM0 {
        let code = match reason {
            ShutdownReason::Poweroff => EXIT_POWEROFF,
            ShutdownReason::Reboot => EXIT_REBOOT,
            _ => EXIT_DOM0_CRASH,
        };
        log::info!(
            "Domain 0 shut down ({}): stopping the machine",
            reason.name()
        );
        if reason == ShutdownReason::Reboot {
            crate::arch::exit::qemu_exit_or_reset(code);
        }
        crate::arch::exit::qemu_exit(code);
    }
    if let Some(d) = st.dom(id) {
        if d.shutdown.is_none() {
            d.shutdown = Some(reason);
            // Its vCPUs on other CPUs stop at once.
            st.stopped();
            log::info!("domain {id} shut down ({})", reason.name());
            crate::evtchn::send_virq(st, DomId::DOM0, guest_abi::event_channel::VIRQ_DOM_EXC);
        }
    }
}

/// Resume domain `id` where it suspended itself (`XEN_DOMCTL_resumedomain`): its shutdown
/// is forgotten (and the code latched with `SCHEDOP_shutdown_code`), so its vCPUs run on
/// from where they stopped, with the memory and state they had. As Xen: only a domain
/// that has shut down with reason suspend is resumed (else `EINVAL`); a missing or dying
/// one is `ESRCH`. What its `SCHEDOP_shutdown` returns is up to the toolstack (it sets the
/// saved rax: 1 for a cancelled suspend, as libxc's).
pub fn resume(st: &mut State, id: DomId) -> Result<(), Errno> {
    let d = match st.dom(id) {
        Some(d) if !d.dying => d,
        _ => return Err(Errno::ESRCH),
    };
    if d.shutdown != Some(ShutdownReason::Suspend) {
        return Err(Errno::EINVAL);
    }
    d.shutdown = None;
    d.shutdown_code = None;
    log::info!("domain {id} resumed");
    st.kick = true;
    Ok(())
}

/// Crash domain `id`, reporting why. A crash of dom0 stops the machine.
pub fn crash(st: &mut State, id: DomId, why: core::fmt::Arguments) {
    crate::xen_println!("domain {id} crashed: {why}");
    if id == DomId::DOM0 {
        crate::arch::exit::qemu_exit(EXIT_DOM0_CRASH);
    }
    st.stopped();
    if let Some(d) = st.dom(id) {
        d.shutdown = Some(ShutdownReason::Crash);
        crate::evtchn::send_virq(st, DomId::DOM0, guest_abi::event_channel::VIRQ_DOM_EXC);
    }
}

/// Destroy domain `id`: free every frame nobody else maps, a bounded chunk per call
/// (`EAGAIN` while more remains: the toolstack calls again, as Xen's does); the domain
/// disappears once its last frame is gone.
pub fn destroy(st: &mut State, id: DomId) -> Result<(), Errno> {
    if id == DomId::DOM0 {
        return Err(Errno::EINVAL);
    }
    let d = st.dom(id).ok_or(Errno::ESRCH)?;
    if !d.dying {
        d.dying = true;
        d.teardown = Some(crate::mm::page_types::Cursor::Untype(d.pages.first()));
        // A virtual NMI it never took goes with it.
        let mut held = alloc::vec::Vec::new();
        for v in d.vcpus.iter_mut() {
            v.nmi.take();
            // The hypervisor writes nothing more into its frames: a registered vcpu_info
            // goes back to its shared_info slot and its frame is let go before the teardown
            // frees it.
            held.extend(v.registered_info.take());
        }
        for r in held {
            let (mut ft, mem) = st.frame_table();
            ft.drop_held(mem, r.page, id);
        }
        // Its tables part-way through a release are reset by the teardown itself.
        crate::arch::preempt::take_pending(id);
        // Its ports close now; peers see their side of a channel go unbound.
        crate::evtchn::close_all(st, id);
        // And the machine's interrupt lines it drove are masked and unmapped.
        crate::irq::release_domain(id);
        crate::grant::ops::release_all(st, id);
        // Any dying granter that waited only for references it held.
        reap_dying(st);
        st.stopped();
    }
    // Nothing is given back while another CPU still holds one of its vCPUs (it runs on
    // the domain's tables until its reschedule IPI lands): the toolstack calls again.
    if st.cpus_with(id) & !(1 << st.me) != 0 {
        st.stopped();
        return Err(Errno::EAGAIN);
    }
    if st.dom(id).is_some_and(|d| d.teardown.is_some()) && !reap(st, id) {
        return Err(Errno::EAGAIN);
    }
    Ok(())
}

/// One bounded step of giving back what dying domain `id` can give back; the domain goes,
/// with the hypervisor pages it shared (shared_info, grant-table frames), when nothing is
/// left. False while its teardown needs more steps.
pub fn reap(st: &mut State, id: DomId) -> bool {
    let left = match crate::domain::memory::relinquish_step(st, id) {
        None => return false,
        Some(left) => left,
    };
    if left != 0 {
        return true;
    }
    // Its hypervisor pages lose the types and references its own tables gave them; they go
    // with the domain unless another domain still maps one.
    let xen_pages: alloc::vec::Vec<guest_abi::types::Mfn> = match st.dom(id) {
        Some(d) => core::iter::once(d.shared_info.mfn())
            .chain(d.grant.frames.iter().map(|p| p.mfn()))
            .collect(),
        None => return true,
    };
    let (mut ft, _) = st.frame_table();
    for &mfn in &xen_pages {
        ft.reset_dying(mfn);
    }
    if xen_pages
        .iter()
        .any(|&m| ft.get(m).is_some_and(|p| p.foreign_refs != 0))
    {
        return true;
    }
    let Some(d) = st.domains.remove(&id) else {
        return true;
    };
    let d = *d;
    let pages = core::iter::once(d.shared_info).chain(d.grant.frames);
    for page in pages {
        crate::domain::memory::free_xen_page(st, page);
    }
    log::info!("domain {id} destroyed");
    true
}

/// Reap every dying domain (after an unmapping may have dropped the last reference).
pub fn reap_dying(st: &mut State) {
    let dying: alloc::vec::Vec<DomId> = st
        .domains
        .values()
        .filter(|d| d.dying)
        .map(|d| d.id)
        .collect();
    for id in dying {
        // A domain mid-teardown is advanced by its destroy calls, not here.
        if st.dom(id).is_some_and(|d| d.teardown.is_none()) {
            reap(st, id);
        }
    }
}
