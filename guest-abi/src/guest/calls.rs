//! Typed hypercall wrappers.

use super::raw::*;
use crate::arch::{IretContext, TrapInfo};
use crate::callback::{CallbackRegister, CALLBACKOP_REGISTER};
use crate::console::{CONSOLEIO_READ, CONSOLEIO_WRITE};
use crate::domctl::XenDomctl;
use crate::errno::Errno;
use crate::event_channel::EvtchnOp;
use crate::hypercall::nr;
use crate::memory::XenMemoryReservation;
use crate::mmu::{MmuUpdate, MmuextOp, UvmfFlags};
use crate::multicall::MulticallEntry;
use crate::sched::{
    SchedPoll, SchedRemoteShutdown, SchedShutdown, ShutdownReason, SCHEDOP_BLOCK, SCHEDOP_POLL,
    SCHEDOP_REMOTE_SHUTDOWN, SCHEDOP_SHUTDOWN, SCHEDOP_YIELD, SHUTDOWN_SUSPEND,
};
use crate::sysctl::XenSysctl;
use crate::types::{DomId, EvtchnPort};
use crate::vcpu::{
    VcpuRegisterVcpuInfo, VcpuRunstateInfo, VcpuSetPeriodicTimer, VcpuSetSingleshotTimer,
    VCPUOP_GET_RUNSTATE_INFO, VCPUOP_REGISTER_VCPU_INFO, VCPUOP_SET_PERIODIC_TIMER,
    VCPUOP_SET_SINGLESHOT_TIMER,
};
use crate::version::{XenFeatureInfo, XENVER_GET_FEATURES, XENVER_VERSION};
use zerocopy::{FromBytes, IntoBytes};

fn ret(r: i64) -> Result<u64, Errno> {
    Errno::from_ret(r)
}

fn ptr<T>(v: &T) -> u64 {
    v as *const T as u64
}

fn ptr_mut<T>(v: &mut T) -> u64 {
    v as *mut T as u64
}

/// Writes `buf` to the hypervisor console.
pub fn console_write(buf: &[u8]) -> Result<(), Errno> {
    // SAFETY: the hypervisor only reads `buf.len()` bytes from `buf`.
    let r = unsafe {
        hypercall3(
            nr::CONSOLE_IO,
            CONSOLEIO_WRITE as u64,
            buf.len() as u64,
            buf.as_ptr() as u64,
        )
    };
    ret(r).map(|_| ())
}

/// Reads pending console input into `buf`; returns the bytes read.
pub fn console_read(buf: &mut [u8]) -> Result<usize, Errno> {
    // SAFETY: the hypervisor writes at most `buf.len()` bytes into `buf`.
    let r = unsafe {
        hypercall3(
            nr::CONSOLE_IO,
            CONSOLEIO_READ as u64,
            buf.len() as u64,
            buf.as_mut_ptr() as u64,
        )
    };
    ret(r).map(|n| n as usize)
}

/// `xen_version` for the argument-less commands (`XENVER_VERSION`,
/// `XENVER_PAGESIZE`); returns the result.
pub fn xen_version(cmd: u32) -> Result<u64, Errno> {
    // SAFETY: a null argument; the argument-less commands do not use it and
    // the others fail with EFAULT rather than writing anywhere.
    ret(unsafe { hypercall2(nr::XEN_VERSION, cmd as u64, 0) })
}

/// `xen_version` for a command that fills a buffer of type `T`
/// (`XenExtraversion`, `XenCompileInfo`, ...).
///
/// # Safety
/// `T` must be at least as large as what `cmd` writes.
pub unsafe fn xen_version_into<T: FromBytes + IntoBytes>(
    cmd: u32,
    out: &mut T,
) -> Result<u64, Errno> {
    // SAFETY: the caller guarantees `out` is large enough for `cmd`.
    ret(unsafe { hypercall2(nr::XEN_VERSION, cmd as u64, ptr_mut(out)) })
}

/// The hypervisor version as `(major, minor)`.
pub fn xen_version_number() -> Result<(u16, u16), Errno> {
    let v = xen_version(XENVER_VERSION)?;
    Ok(((v >> 16) as u16, v as u16))
}

/// Feature submap `idx` (`XENFEAT_*` bits).
pub fn xen_features(idx: u32) -> Result<u32, Errno> {
    let mut fi = XenFeatureInfo {
        submap_idx: idx,
        submap: 0,
    };
    // SAFETY: `XenFeatureInfo` is the argument of XENVER_GET_FEATURES.
    unsafe { xen_version_into(XENVER_GET_FEATURES, &mut fi)? };
    Ok(fi.submap)
}

/// Yields the CPU.
pub fn sched_yield() -> Result<(), Errno> {
    // SAFETY: SCHEDOP_yield takes no argument.
    ret(unsafe { hypercall2(nr::SCHED_OP, SCHEDOP_YIELD as u64, 0) }).map(|_| ())
}

/// Blocks until an event is pending (and unmasks event upcalls).
pub fn sched_block() -> Result<(), Errno> {
    // SAFETY: SCHEDOP_block takes no argument.
    ret(unsafe { hypercall2(nr::SCHED_OP, SCHEDOP_BLOCK as u64, 0) }).map(|_| ())
}

/// Shuts the calling domain down. Returns only on failure (or after a
/// cancelled suspend).
pub fn sched_shutdown(reason: ShutdownReason) -> Result<(), Errno> {
    let arg = SchedShutdown {
        reason: reason.as_u32(),
    };
    // SAFETY: the hypervisor reads a `sched_shutdown` from `arg`.
    ret(unsafe { hypercall2(nr::SCHED_OP, SCHEDOP_SHUTDOWN as u64, ptr(&arg)) }).map(|_| ())
}

/// Suspends the calling domain (`SCHEDOP_shutdown(SHUTDOWN_suspend)`): returns once it
/// runs again, with what the call returned: 1 if the suspend was cancelled (the domain
/// carries on in place, e.g. after a snapshot), 0 if it was restored from its saved image.
/// As Xen's PV ABI asks (`public/sched.h`), the third argument (rdx) is the MFN of our
/// start_info page, which a saving toolstack reads to find the guest's rings.
pub fn sched_suspend(start_info_mfn: u64) -> Result<u64, Errno> {
    let arg = SchedShutdown {
        reason: SHUTDOWN_SUSPEND,
    };
    // SAFETY: the hypervisor reads a `sched_shutdown` from `arg`; rdx is a plain number.
    ret(unsafe {
        hypercall3(
            nr::SCHED_OP,
            SCHEDOP_SHUTDOWN as u64,
            ptr(&arg),
            start_info_mfn,
        )
    })
}

/// Shuts another domain down (privileged).
pub fn sched_remote_shutdown(dom: DomId, reason: ShutdownReason) -> Result<(), Errno> {
    let arg = SchedRemoteShutdown {
        domain_id: dom,
        _pad: 0,
        reason: reason.as_u32(),
    };
    // SAFETY: the hypervisor reads a `sched_remote_shutdown` from `arg`.
    ret(unsafe { hypercall2(nr::SCHED_OP, SCHEDOP_REMOTE_SHUTDOWN as u64, ptr(&arg)) }).map(|_| ())
}

/// Blocks until one of `ports` is pending or system time reaches
/// `timeout_abs_ns` (0 = no timeout).
pub fn sched_poll(ports: &[EvtchnPort], timeout_abs_ns: u64) -> Result<(), Errno> {
    let arg = SchedPoll {
        ports: ports.as_ptr() as u64,
        nr_ports: ports.len() as u32,
        _pad: 0,
        timeout: timeout_abs_ns,
    };
    // SAFETY: the hypervisor reads `nr_ports` ports from the slice.
    ret(unsafe { hypercall2(nr::SCHED_OP, SCHEDOP_POLL as u64, ptr(&arg)) }).map(|_| ())
}

/// Arms the one-shot timer at absolute system time `abs_ns` (0 cancels).
pub fn set_timer_op(abs_ns: u64) -> Result<(), Errno> {
    // SAFETY: no memory is passed.
    ret(unsafe { hypercall1(nr::SET_TIMER_OP, abs_ns) }).map(|_| ())
}

/// Performs a domctl; the hypervisor updates `op` in place.
///
/// # Safety
/// Any guest pointer inside the payload (e.g. `DomctlVcpuContext::ctxt`,
/// `DomctlShadowOp::dirty_bitmap`) must be valid for the access the command
/// makes.
pub unsafe fn domctl(op: &mut XenDomctl) -> Result<u64, Errno> {
    // SAFETY: `op` is a valid `xen_domctl`; the caller vouches for the
    // pointers inside it.
    ret(unsafe { hypercall1(nr::DOMCTL, ptr_mut(op)) })
}

/// Performs a sysctl; the hypervisor updates `op` in place.
///
/// # Safety
/// Any guest pointer inside the payload (`SysctlReadconsole::buffer`,
/// `SysctlGetdomaininfolist::buffer`) must be valid for the access made.
pub unsafe fn sysctl(op: &mut XenSysctl) -> Result<u64, Errno> {
    // SAFETY: `op` is a valid `xen_sysctl`; the caller vouches for the
    // pointers inside it.
    ret(unsafe { hypercall1(nr::SYSCTL, ptr_mut(op)) })
}

/// A reservation `memory_op` (`XENMEM_increase_reservation`,
/// `decrease_reservation`, `populate_physmap`); returns extents done.
///
/// # Safety
/// `res.extent_start` must point to `res.nr_extents` writable `u64`s, and
/// the operation must not remove frames the guest still uses.
pub unsafe fn memory_op(cmd: u32, res: &mut XenMemoryReservation) -> Result<u64, Errno> {
    // SAFETY: the caller vouches for the extent array and the effect.
    ret(unsafe { hypercall2(nr::MEMORY_OP, cmd as u64, ptr_mut(res)) })
}

/// `memory_op` with an arbitrary argument (or none, for e.g.
/// `XENMEM_maximum_ram_page`).
///
/// # Safety
/// `arg` must be what `cmd` expects.
pub unsafe fn memory_op_raw(cmd: u32, arg: *mut u8) -> Result<u64, Errno> {
    // SAFETY: the caller vouches for `arg`.
    ret(unsafe { hypercall2(nr::MEMORY_OP, cmd as u64, arg as u64) })
}

/// Applies page-table updates; returns how many were done (also on error,
/// the failing one is not counted).
///
/// # Safety
/// The updates change the guest's own (or, with `foreigndom`, another
/// domain's) mappings: nothing Rust relies on may be unmapped or aliased.
pub unsafe fn mmu_update(reqs: &[MmuUpdate], foreigndom: DomId) -> Result<usize, (usize, Errno)> {
    let mut done: u32 = 0;
    // SAFETY: the hypervisor reads `reqs` and writes `done`; the caller
    // vouches for the effect of the updates.
    let r = unsafe {
        hypercall4(
            nr::MMU_UPDATE,
            reqs.as_ptr() as u64,
            reqs.len() as u64,
            ptr_mut(&mut done),
            foreigndom.0 as u64,
        )
    };
    match ret(r) {
        Ok(_) => Ok(done as usize),
        Err(e) => Err((done as usize, e)),
    }
}

/// Performs extended MMU operations; returns how many were done.
///
/// # Safety
/// As [`mmu_update`]; pin/unpin and base-pointer changes must keep every
/// mapping Rust uses intact, and any vCPU-mask pointer in `arg2` must be valid.
pub unsafe fn mmuext_op(ops: &[MmuextOp], foreigndom: DomId) -> Result<usize, (usize, Errno)> {
    let mut done: u32 = 0;
    // SAFETY: the hypervisor reads `ops` and writes `done`; the caller
    // vouches for the effect.
    let r = unsafe {
        hypercall4(
            nr::MMUEXT_OP,
            ops.as_ptr() as u64,
            ops.len() as u64,
            ptr_mut(&mut done),
            foreigndom.0 as u64,
        )
    };
    match ret(r) {
        Ok(_) => Ok(done as usize),
        Err(e) => Err((done as usize, e)),
    }
}

/// Sets the PTE mapping `va` in the current address space.
///
/// # Safety
/// As [`mmu_update`].
pub unsafe fn update_va_mapping(va: u64, pte: u64, flags: UvmfFlags) -> Result<(), Errno> {
    // SAFETY: the caller vouches for the effect of the new mapping.
    ret(unsafe { hypercall3(nr::UPDATE_VA_MAPPING, va, pte, flags.bits()) }).map(|_| ())
}

/// Installs the virtual IDT. `table` must end with an entry whose `address`
/// is 0 (checked).
///
/// # Safety
/// Every handler address must be a valid entry point for its vector.
pub unsafe fn set_trap_table(table: &[TrapInfo]) -> Result<(), Errno> {
    if table.last().is_none_or(|t| t.address != 0) {
        return Err(Errno::EINVAL);
    }
    // SAFETY: the table is terminated; the caller vouches for the handlers.
    ret(unsafe { hypercall1(nr::SET_TRAP_TABLE, table.as_ptr() as u64) }).map(|_| ())
}

/// Registers a callback (`callback_op(CALLBACKOP_register)`).
///
/// # Safety
/// `cb.address` must be a valid entry point for the callback type.
pub unsafe fn callback_register(cb: &CallbackRegister) -> Result<(), Errno> {
    // SAFETY: the caller vouches for the entry point.
    ret(unsafe { hypercall2(nr::CALLBACK_OP, CALLBACKOP_REGISTER as u64, ptr(cb)) }).map(|_| ())
}

/// Legacy `set_callbacks(event, failsafe, syscall)`.
///
/// # Safety
/// As [`callback_register`].
pub unsafe fn set_callbacks(event: u64, failsafe: u64, syscall: u64) -> Result<(), Errno> {
    // SAFETY: the caller vouches for the entry points.
    ret(unsafe { hypercall3(nr::SET_CALLBACKS, event, failsafe, syscall) }).map(|_| ())
}

/// Sets the kernel stack used on entry from guest user mode.
///
/// # Safety
/// `sp` must be the top of a valid, mapped kernel stack.
pub unsafe fn stack_switch(ss: u16, sp: u64) -> Result<(), Errno> {
    // SAFETY: the caller vouches for the stack.
    ret(unsafe { hypercall2(nr::STACK_SWITCH, ss as u64, sp) }).map(|_| ())
}

/// Sets a segment base (`SEGBASE_*`).
///
/// # Safety
/// Code relying on the current FS/GS base (e.g. per-CPU data) must agree.
pub unsafe fn set_segment_base(which: u32, base: u64) -> Result<(), Errno> {
    // SAFETY: the caller vouches for the new base.
    ret(unsafe { hypercall2(nr::SET_SEGMENT_BASE, which as u64, base) }).map(|_| ())
}

/// Installs the GDT: `frames` (at most 14, read-only everywhere, descriptors valid for
/// ring 3) holding `entries` descriptors.
///
/// # Safety
/// Segment selectors in use must stay valid in the new table.
pub unsafe fn set_gdt(frames: &[u64], entries: u64) -> Result<(), Errno> {
    // SAFETY: the hypervisor reads the frame list; the caller vouches for the selectors.
    ret(unsafe { hypercall2(nr::SET_GDT, frames.as_ptr() as u64, entries) }).map(|_| ())
}

/// Writes descriptor `desc` at machine address `maddr` (in a descriptor page or a page that
/// is no page table).
///
/// # Safety
/// As [`set_gdt`] for selectors referring to the changed descriptor.
pub unsafe fn update_descriptor(maddr: u64, desc: u64) -> Result<(), Errno> {
    // SAFETY: the caller vouches for the selectors; the hypervisor checks the rest.
    ret(unsafe { hypercall2(nr::UPDATE_DESCRIPTOR, maddr, desc) }).map(|_| ())
}

/// Sets (`true`) or clears CR0.TS.
pub fn fpu_taskswitch(set: bool) -> Result<(), Errno> {
    // SAFETY: no memory is passed; TS only makes the next FPU use trap.
    ret(unsafe { hypercall1(nr::FPU_TASKSWITCH, set as u64) }).map(|_| ())
}

/// Returns from a bounce frame through the `iret` hypercall: pushes
/// `ctx.flags, rip, cs, rflags, rsp, ss` and jumps to slot 23.
///
/// # Safety
/// The frame must describe a valid guest context to resume; everything on
/// the current stack is abandoned.
pub unsafe fn iret(ctx: &IretContext) -> ! {
    #[cfg(target_os = "none")]
    // SAFETY: builds the frame slot 23 expects below the current stack
    // pointer and jumps there; the hypercall never returns. The caller
    // vouches for the context.
    unsafe {
        core::arch::asm!(
            "push {ss}",
            "push {rsp}",
            "push {rflags}",
            "push {cs}",
            "push {rip}",
            "push {flags}",
            "jmp hypercall_page + {slot}",
            ss = in(reg) ctx.ss,
            rsp = in(reg) ctx.rsp,
            rflags = in(reg) ctx.rflags,
            cs = in(reg) ctx.cs,
            rip = in(reg) ctx.rip,
            flags = in(reg) ctx.flags,
            slot = const nr::IRET * crate::hypercall::HYPERCALL_PAGE_SLOT_SIZE,
            options(noreturn)
        );
    }
    #[cfg(not(target_os = "none"))]
    {
        let _ = ctx;
        panic!("iret hypercall is only available on the bare-metal target")
    }
}

/// Performs a typed event-channel operation (the command comes from the
/// argument type, see [`EvtchnOp`]).
pub fn event_channel_op<T: EvtchnOp>(arg: &mut T) -> Result<u64, Errno> {
    // SAFETY: `T` is exactly the structure `T::CMD` reads and writes, and it
    // contains no pointers.
    ret(unsafe { hypercall2(nr::EVENT_CHANNEL_OP, T::CMD as u64, ptr_mut(arg)) })
}

/// Performs a typed physical-device operation (the command comes from the
/// argument type, see [`PhysdevOp`](crate::physdev::PhysdevOp)).
pub fn physdev_op<T: crate::physdev::PhysdevOp>(arg: &mut T) -> Result<u64, Errno> {
    // SAFETY: `T` is exactly the structure `T::CMD` reads and writes, and it
    // contains no pointers.
    ret(unsafe { hypercall2(nr::PHYSDEV_OP, T::CMD as u64, ptr_mut(arg)) })
}

/// Signals event channel `port`.
pub fn evtchn_send(port: EvtchnPort) -> Result<(), Errno> {
    event_channel_op(&mut crate::event_channel::EvtchnSend { port }).map(|_| ())
}

/// Performs `count = ops.len()` grant-table operations of type `cmd`.
///
/// # Safety
/// `T` must be the structure `cmd` uses; mapping operations change the
/// guest's address space at `host_addr`, and `setup_table` writes through
/// `frame_list`.
pub unsafe fn grant_table_op<T: FromBytes + IntoBytes>(
    cmd: u32,
    ops: &mut [T],
) -> Result<u64, Errno> {
    // SAFETY: the caller vouches for `cmd`, `T` and the effects.
    ret(unsafe {
        hypercall3(
            nr::GRANT_TABLE_OP,
            cmd as u64,
            ops.as_mut_ptr() as u64,
            ops.len() as u64,
        )
    })
}

/// A `vcpu_op` without an argument (`VCPUOP_up`, `down`, `is_up`,
/// `stop_periodic_timer`, `stop_singleshot_timer`).
pub fn vcpu_op(cmd: u32, vcpu: u32) -> Result<u64, Errno> {
    // SAFETY: a null argument; commands that need one fail with EFAULT.
    ret(unsafe { hypercall3(nr::VCPU_OP, cmd as u64, vcpu as u64, 0) })
}

/// `vcpu_op` with an arbitrary argument (e.g. `VCPUOP_initialise`).
///
/// # Safety
/// `arg` must be what `cmd` expects; `VCPUOP_initialise` starts code at the
/// context's rip.
pub unsafe fn vcpu_op_raw(cmd: u32, vcpu: u32, arg: *mut u8) -> Result<u64, Errno> {
    // SAFETY: the caller vouches for `arg`.
    ret(unsafe { hypercall3(nr::VCPU_OP, cmd as u64, vcpu as u64, arg as u64) })
}

/// Reads a vCPU's runstate.
pub fn vcpu_runstate(vcpu: u32) -> Result<VcpuRunstateInfo, Errno> {
    let mut info = VcpuRunstateInfo::default();
    // SAFETY: the command writes one `vcpu_runstate_info`.
    unsafe {
        vcpu_op_raw(
            VCPUOP_GET_RUNSTATE_INFO,
            vcpu,
            ptr_mut(&mut info) as *mut u8,
        )?
    };
    Ok(info)
}

/// Starts the periodic timer of `vcpu`.
pub fn vcpu_set_periodic_timer(vcpu: u32, period_ns: u64) -> Result<(), Errno> {
    let mut arg = VcpuSetPeriodicTimer { period_ns };
    // SAFETY: the command reads one `vcpu_set_periodic_timer`.
    unsafe {
        vcpu_op_raw(
            VCPUOP_SET_PERIODIC_TIMER,
            vcpu,
            ptr_mut(&mut arg) as *mut u8,
        )
    }
    .map(|_| ())
}

/// Arms the one-shot timer of `vcpu`.
pub fn vcpu_set_singleshot_timer(vcpu: u32, timeout_abs_ns: u64, flags: u32) -> Result<(), Errno> {
    let mut arg = VcpuSetSingleshotTimer {
        timeout_abs_ns,
        flags,
        _pad: 0,
    };
    // SAFETY: the command reads one `vcpu_set_singleshot_timer`.
    unsafe {
        vcpu_op_raw(
            VCPUOP_SET_SINGLESHOT_TIMER,
            vcpu,
            ptr_mut(&mut arg) as *mut u8,
        )
    }
    .map(|_| ())
}

/// Moves `vcpu`'s `vcpu_info` to `offset` within frame `mfn`.
///
/// # Safety
/// The frame must stay owned and mapped for as long as the vCPU lives.
pub unsafe fn vcpu_register_vcpu_info(vcpu: u32, mfn: u64, offset: u32) -> Result<(), Errno> {
    let mut arg = VcpuRegisterVcpuInfo {
        mfn,
        offset,
        rsvd: 0,
    };
    // SAFETY: the command reads the structure; the caller vouches for the frame.
    unsafe {
        vcpu_op_raw(
            VCPUOP_REGISTER_VCPU_INFO,
            vcpu,
            ptr_mut(&mut arg) as *mut u8,
        )
    }
    .map(|_| ())
}

/// Executes a batch; each entry's `result` is filled in.
///
/// # Safety
/// Each entry must be a valid call under that hypercall's own contract.
pub unsafe fn multicall(calls: &mut [MulticallEntry]) -> Result<(), Errno> {
    // SAFETY: the caller vouches for every entry.
    ret(unsafe { hypercall2(nr::MULTICALL, calls.as_mut_ptr() as u64, calls.len() as u64) })
        .map(|_| ())
}
