//! The PV MMU hypercalls: `mmu_update`, `mmuext_op`, `update_va_mapping`.
//!
//! Every change to a page table goes through the frame table's validation; the TLB is
//! flushed after each batch that changed entries, so no stale translation outlives a type
//! change.

use super::{HcResult, Outcome};
use crate::arch::preempt::{self, Slice};
use crate::domain::state::State;
use crate::lifecycle;
use crate::mm::guest_copy;
use crate::mm::guest_walk::{guest_va_ok, l1_slot};
use crate::mm::page_types::{PageType, TableMem};
use crate::mm::pte;
use guest_abi::arch::CpuUserRegs;
use guest_abi::errno::Errno;
use guest_abi::hypercall_args::*;
use guest_abi::mmu::*;
use guest_abi::types::{DomId, Mfn, Pfn, PAGE_SIZE};

/// Requests handled before the call is continued.
const BATCH: u32 = 512;
/// Bytes of requests read from the guest at once.
const CHUNK_BYTES: usize = 768;
/// Set in the count of a continued call; the done count so far is then read from `pdone`.
const PREEMPTED: u32 = 1 << 31;

use crate::mm::machine::flush_tlb_local;

/// Flush one guest address from the TLB (ignored for addresses a guest cannot name).
fn invlpg(va: u64) {
    if guest_va_ok(va) {
        crate::arch::paging::invlpg(va);
    }
}

/// The vCPUs of the caller whose TLBs a flush is for.
#[derive(Clone, Copy)]
enum FlushVcpus {
    /// The caller's own (`_LOCAL`, `UVMF_LOCAL`).
    Local,
    /// Every vCPU of the caller's domain (`_ALL`, `UVMF_ALL`).
    All,
    /// Those of the vCPU bitmap (`unsigned long` words) at this guest address (`_MULTI`).
    Mask(u64),
}

/// What a flush drops.
#[derive(Clone, Copy)]
enum TlbFlush {
    /// Every translation.
    All,
    /// One linear address's.
    Page(u64),
}

/// Flush `what` from the TLBs of the caller's vCPUs `who`; `Err(())` if a vCPU mask cannot be
/// read (each caller answers with Xen's errno). The one place a flush for other vCPUs is
/// decided: a local flush here (switching vCPUs reloads CR3, so it covers the named vCPUs
/// this CPU holds) and a shootdown to the other CPUs holding a vCPU of the caller's domain
/// (`State::cpus_with`).
fn flush_vcpus(st: &State, who: FlushVcpus, what: TlbFlush) -> Result<(), ()> {
    let named = match who {
        FlushVcpus::Local | FlushVcpus::All => true,
        FlushVcpus::Mask(ptr) => {
            let n = st.domains.get(&st.current.dom).map_or(1, |d| d.max_vcpus());
            let mut any = false;
            for w in 0..u64::from(n.div_ceil(64)) {
                let word: u64 =
                    guest_copy::read(&st.mem, ptr.wrapping_add(8 * w)).map_err(|_| ())?;
                let bits = (u64::from(n) - 64 * w).min(64);
                let valid = if bits == 64 {
                    u64::MAX
                } else {
                    (1 << bits) - 1
                };
                any |= word & valid != 0;
            }
            any
        }
    };
    if named {
        match what {
            TlbFlush::All => flush_tlb_local(),
            TlbFlush::Page(va) => invlpg(va),
        }
        // The domain's vCPUs on other CPUs (a superset of those named: flushing more is
        // harmless, less would leave them stale); none while one CPU runs vCPUs.
        let others = if crate::cpus::several_run_vcpus() {
            st.cpus_with(st.current.dom) & !(1 << st.me)
        } else {
            0
        };
        if others != 0 {
            let f = match what {
                TlbFlush::All => crate::arch::shootdown::Flush::All,
                TlbFlush::Page(va) => crate::arch::shootdown::Flush::Page(va),
            };
            crate::arch::shootdown_cpus(others, f);
        }
    }
    Ok(())
}

/// Goes on with `dom`'s tables left part-way through their release (within the armed slice);
/// false if some are still part-way.
fn drain_pending(st: &mut State, dom: DomId) -> bool {
    let (mut ft, mem) = st.frame_table();
    let mut done = true;
    for mfn in preempt::take_pending(dom) {
        // Stopped again: it is noted pending again.
        done &= ft.devalidate(mem, mfn).is_ok();
    }
    done
}

/// Shared driver of the two batched calls: runs `one` on each request, continuing long batches.
/// Whose frames a PV MMU operation may map: the caller's, another domain's (privileged
/// callers only), or DOMID_IO, I/O memory (privileged callers only; `phys::iomem`).
fn pg_owner(st: &mut State, dom: DomId) -> Result<DomId, Errno> {
    if dom == DomId::IO {
        st.require_privileged()?;
        return Ok(DomId::IO);
    }
    st.lookup(dom)
}

fn batched<T: zerocopy::FromBytes + zerocopy::IntoBytes + zerocopy::KnownLayout>(
    st: &mut State,
    regs: &mut CpuUserRegs,
    a: BatchArgs,
    mut one: impl FnMut(&mut State, DomId, &T) -> Result<(), Errno>,
) -> HcResult {
    let (list, raw_count, pdone) = (a.list, a.count, a.done);
    let pg_owner = pg_owner(st, a.foreign_dom)?;
    let mut done: u32 = 0;
    if raw_count & PREEMPTED != 0 && pdone != 0 {
        done = guest_copy::read(&st.mem, pdone)?;
    }
    let count = raw_count & !PREEMPTED;
    let size = core::mem::size_of::<T>() as u64;
    let mut result = Ok(());
    let mut i = 0;
    let limit = count.min(BATCH);
    // Requests are read a chunk at a time (one page walk per page, not per request); a chunk
    // that cannot be read whole is read request by request, so the requests before a bad one
    // are still done, as Xen does.
    let mut buf = [0u8; CHUNK_BYTES];
    let per_chunk = (CHUNK_BYTES as u64 / size).max(1) as u32;
    let slice = Slice::start();
    // Long page-table (de)validations stop with the slice and are continued (ERESTART).
    preempt::arm(slice);
    let cur = st.current.dom;
    // Tables left part-way through their release by an earlier request go first.
    let mut restart = !drain_pending(st, cur);
    'chunks: while i < limit && !restart {
        let n = (limit - i).min(per_chunk);
        let bytes = &mut buf[..(u64::from(n) * size) as usize];
        let whole = guest_copy::copy_from_guest(&st.mem, list + u64::from(i) * size, bytes).is_ok();
        for k in 0..n as usize {
            let req: T = if whole {
                match T::read_from_bytes(&bytes[k * size as usize..(k + 1) * size as usize]) {
                    Ok(r) => r,
                    Err(_) => unreachable!("the chunk holds whole requests"),
                }
            } else {
                match guest_copy::read(&st.mem, list + u64::from(i) * size) {
                    Ok(r) => r,
                    Err(e) => {
                        result = Err(e);
                        break 'chunks;
                    }
                }
            };
            match one(st, pg_owner, &req) {
                Ok(()) => {}
                // Preempted part-way: this request runs again (and goes on) when continued.
                Err(Errno::ERESTART) => {
                    restart = true;
                    break 'chunks;
                }
                Err(e) => {
                    result = Err(e);
                    break 'chunks;
                }
            }
            i += 1;
            if slice.expired() || preempt::has_pending(cur) {
                restart = true;
                break 'chunks;
            }
        }
    }
    // No flush here: as in Xen the guest flushes what it needs, and the frame table flushes
    // before any frame that may still be cached changes type or is freed.
    lifecycle::reap_dying(st);
    // Disarmed before anything can fail: work outside a batched call cannot be continued.
    preempt::disarm();
    done += i;
    if pdone != 0 {
        guest_copy::write(&st.mem, pdone, &done)?;
    }
    result?;
    if i < count || restart {
        regs.rdi = list + u64::from(i) * size;
        regs.rsi = u64::from((count - i) | PREEMPTED);
        return Ok(Outcome::Continue);
    }
    Ok(Outcome::Done(0))
}

/// mmu_update(reqs, count, pdone, foreigndom).
pub fn mmu_update(st: &mut State, regs: &mut CpuUserRegs, a: BatchArgs) -> HcResult {
    batched(st, regs, a, |st, pg_owner, r: &MmuUpdate| {
        let cur = st.current.dom;
        let addr = r.ptr & !MMU_UPDATE_CMD_MASK;
        match r.ptr & MMU_UPDATE_CMD_MASK {
            MMU_NORMAL_PT_UPDATE | MMU_PT_UPDATE_PRESERVE_AD => {
                if addr & 7 != 0 {
                    return Err(Errno::EINVAL);
                }
                let (table, idx) = (Mfn::containing(addr), ((addr & 0xFFF) >> 3) as usize);
                let (mut ft, mem) = st.frame_table();
                let mut val = r.val;
                if !ft.is_table(table) {
                    // Not a page table (yet): plain data, as Xen writes it.
                    return ft.write_untyped(mem, table, idx, val, cur);
                }
                if r.ptr & MMU_UPDATE_CMD_MASK == MMU_PT_UPDATE_PRESERVE_AD {
                    let old = mem.read(table, idx);
                    val = (val & !(pte::A | pte::D)) | (old & (pte::A | pte::D));
                }
                ft.mod_entry(mem, table, idx, val, cur, pg_owner)
            }
            MMU_MACHPHYS_UPDATE => {
                let mfn = Mfn::containing(r.ptr);
                if st.frame_table().0.owner(mfn) != pg_owner {
                    return Err(Errno::EPERM);
                }
                crate::arch::paging::m2p_set(mfn, Pfn(r.val));
                Ok(())
            }
            _ => Err(Errno::ENOSYS),
        }
    })
}

/// mmuext_op(ops, count, pdone, foreigndom).
pub fn mmuext_op(st: &mut State, regs: &mut CpuUserRegs, a: BatchArgs) -> HcResult {
    batched(st, regs, a, |st, pg_owner, op: &MmuextOp| {
        let cur = st.current.dom;
        // What acts on the caller's own vCPU (base pointers, LDT, flushes) cannot name
        // another domain (EPERM, as Xen).
        let own = || {
            if pg_owner == cur {
                Ok(())
            } else {
                Err(Errno::EPERM)
            }
        };
        match op.cmd {
            MMUEXT_PIN_L1_TABLE..=MMUEXT_PIN_L4_TABLE => {
                let level = (op.cmd - MMUEXT_PIN_L1_TABLE + 1) as u8;
                let (mut ft, mem) = st.frame_table();
                ft.pin(mem, Mfn(op.arg1), level, pg_owner)
            }
            MMUEXT_UNPIN_TABLE => {
                let (mut ft, mem) = st.frame_table();
                ft.unpin(mem, Mfn(op.arg1), pg_owner)
            }
            MMUEXT_NEW_BASEPTR | MMUEXT_NEW_USER_BASEPTR => {
                own()?;
                let user = op.cmd == MMUEXT_NEW_USER_BASEPTR;
                crate::domain::vcpu_context::new_baseptr(st, user, Mfn(op.arg1))
            }
            MMUEXT_TLB_FLUSH_LOCAL | MMUEXT_TLB_FLUSH_MULTI | MMUEXT_TLB_FLUSH_ALL => {
                own()?;
                // As Xen: a vCPU mask that cannot be read is EINVAL.
                flush_vcpus(st, mmuext_vcpus(op), TlbFlush::All).map_err(|_| Errno::EINVAL)
            }
            MMUEXT_INVLPG_LOCAL | MMUEXT_INVLPG_MULTI | MMUEXT_INVLPG_ALL => {
                own()?;
                flush_vcpus(st, mmuext_vcpus(op), TlbFlush::Page(op.arg1))
                    .map_err(|_| Errno::EINVAL)
            }
            // As Xen: only a domain with I/O privilege (dom0 here) may; others EACCES.
            MMUEXT_FLUSH_CACHE | MMUEXT_FLUSH_CACHE_GLOBAL => {
                own()?;
                st.require_privileged().map_err(|_| Errno::EACCES)
            }
            MMUEXT_SET_LDT => {
                own()?;
                super::descriptors::set_ldt(st, op.arg1, op.arg2)
            }
            MMUEXT_CLEAR_PAGE | MMUEXT_COPY_PAGE => {
                let (ft, _) = st.frame_table();
                let dst = ft.writable(Mfn(op.arg1), cur).ok_or(Errno::EINVAL)?;
                if op.cmd == MMUEXT_COPY_PAGE {
                    let src = ft.readable(Mfn(op.arg2), cur).ok_or(Errno::EINVAL)?;
                    let mut page = [0u8; PAGE_SIZE];
                    st.mem.read_frame(&src, 0, &mut page)?;
                    st.mem.write_frame(&dst, 0, &page)
                } else {
                    st.mem.zero_frame(&dst)
                }
            }
            _ => Err(Errno::ENOSYS),
        }
    })
}

/// The vCPUs an `mmuext_op` flush names: its own, all, or the mask at `arg2` (`_MULTI`).
fn mmuext_vcpus(op: &MmuextOp) -> FlushVcpus {
    match op.cmd {
        MMUEXT_TLB_FLUSH_MULTI | MMUEXT_INVLPG_MULTI => FlushVcpus::Mask(op.arg2),
        MMUEXT_TLB_FLUSH_ALL | MMUEXT_INVLPG_ALL => FlushVcpus::All,
        _ => FlushVcpus::Local,
    }
}

fn update_va(st: &mut State, va: u64, val: u64, flags: u64, pg_owner: DomId) -> HcResult {
    let cur = st.current.dom;
    let l4 = st.cur_vcpu().active_l4();
    let (l1, idx) = l1_slot(&st.mem, l4, va).ok_or(Errno::EINVAL)?;
    let (mut ft, mem) = st.frame_table();
    // Only an L1 entry: through a linear (same-level) entry the walk ends at a higher table.
    if ft.get(l1).map(|p| p.ptype) != Some(PageType::L1) {
        return Err(Errno::EINVAL);
    }
    ft.mod_entry(mem, l1, idx, val, cur, pg_owner)?;
    // As Xen: above the flush type, UVMF_LOCAL (0), UVMF_ALL, or the address of a vCPU
    // mask (UVMF_MULTI); a mask that cannot be read is EFAULT (the entry stays written).
    let who = match flags & !UvmfFlags::FLUSHTYPE_MASK {
        0 => FlushVcpus::Local,
        f if f == UvmfFlags::ALL.bits() => FlushVcpus::All,
        ptr => FlushVcpus::Mask(ptr),
    };
    let what = match UvmfFlags::from_bits_truncate(flags & UvmfFlags::FLUSHTYPE_MASK) {
        f if f.contains(UvmfFlags::TLB_FLUSH) => Some(TlbFlush::All),
        f if f.contains(UvmfFlags::INVLPG) => Some(TlbFlush::Page(va)),
        _ => None,
    };
    if let Some(what) = what {
        flush_vcpus(st, who, what).map_err(|_| Errno::EFAULT)?;
    }
    lifecycle::reap_dying(st);
    Ok(Outcome::Done(0))
}

/// update_va_mapping(va, val, flags): the frame's owner is the caller (`a.domid` is
/// DOMID_SELF).
pub fn update_va_mapping(st: &mut State, _regs: &mut CpuUserRegs, a: UpdateVaArgs) -> HcResult {
    let pg_owner = pg_owner(st, a.domid)?;
    update_va(st, a.va, a.val, a.flags, pg_owner)
}

/// update_va_mapping_otherdomain(va, val, flags, domid).
pub fn update_va_mapping_otherdomain(
    st: &mut State,
    regs: &mut CpuUserRegs,
    UpdateVaOtherArgs(a): UpdateVaOtherArgs,
) -> HcResult {
    update_va_mapping(st, regs, a)
}
