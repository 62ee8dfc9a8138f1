//! `memory_op`: populating and shrinking a domain's memory, and memory queries.

use super::{HcResult, Outcome};
use crate::arch::preempt::Slice;
use crate::domain::{memory, state::State};
use crate::mm::guest_copy;
use guest_abi::arch::{CpuUserRegs, MACH2PHYS_VIRT_START};
use guest_abi::errno::Errno;
use guest_abi::hypercall_args::*;
use guest_abi::memory::*;
use guest_abi::types::{DomId, Mfn, Pfn, INVALID_PFN};

/// Extents handled before the call is continued (lets other domains run).
const BATCH: u64 = 2048;

/// An extent's slot in the guest's list faulted at extent `i`: the extents before it are done
/// (earlier calls of a continued one included), and the guest must learn how many, as Xen
/// tells it; a fault on the very first is the bad pointer it is.
fn fault_at(i: u64, e: Errno) -> HcResult {
    if i > 0 {
        Ok(Outcome::Done(i))
    } else {
        Err(e)
    }
}

/// memory_op(cmd, arg).
pub fn memory_op(st: &mut State, regs: &mut CpuUserRegs, a: MemoryOpArgs) -> HcResult {
    let (op, start, arg) = (a.cmd, a.start_extent, a.arg);
    match op {
        XENMEM_POPULATE_PHYSMAP | XENMEM_INCREASE_RESERVATION | XENMEM_DECREASE_RESERVATION => {
            let r: XenMemoryReservation = guest_copy::read(&st.mem, arg)?;
            if r.extent_order != 0 {
                return Err(Errno::EINVAL);
            }
            let dom = st.lookup(r.domid)?;
            let end = r.nr_extents.min(start.saturating_add(BATCH));
            let slice = Slice::start();
            let mut i = start;
            while i < end {
                if i > start && slice.expired() {
                    break;
                }
                let slot = r.extent_start.wrapping_add(i * 8);
                let ok = match op {
                    XENMEM_DECREASE_RESERVATION => {
                        // A PV guest names its frames by MFN (no translation).
                        let mfn: Mfn = match guest_copy::read(&st.mem, slot) {
                            Ok(mfn) => mfn,
                            Err(e) => return fault_at(i, e),
                        };
                        memory::free_page(st, dom, mfn).is_ok()
                    }
                    _ => {
                        let pfn = if op == XENMEM_POPULATE_PHYSMAP {
                            match guest_copy::read::<Pfn>(&st.mem, slot) {
                                Ok(pfn) => pfn,
                                Err(e) => return fault_at(i, e),
                            }
                        } else {
                            INVALID_PFN
                        };
                        match memory::alloc_page(st, dom, pfn) {
                            Ok(mfn) => {
                                if r.extent_start != 0 {
                                    if let Err(e) = guest_copy::write(&st.mem, slot, &mfn) {
                                        let _ = memory::free_page(st, dom, mfn);
                                        return fault_at(i, e);
                                    }
                                }
                                true
                            }
                            Err(_) => false,
                        }
                    }
                };
                if !ok {
                    return Ok(Outcome::Done(i));
                }
                i += 1;
            }
            if i < r.nr_extents {
                regs.rdi = a.continue_at(i);
                return Ok(Outcome::Continue);
            }
            Ok(Outcome::Done(i))
        }
        XENMEM_CURRENT_RESERVATION | XENMEM_MAXIMUM_RESERVATION => {
            let dom: DomId = guest_copy::read(&st.mem, arg)?;
            let id = st.lookup(dom)?;
            let d = st.dom(id).ok_or(Errno::ESRCH)?;
            Ok(Outcome::Done(if op == XENMEM_CURRENT_RESERVATION {
                d.tot_pages
            } else {
                d.max_pages
            }))
        }
        // As Xen's `max_page`: one past the highest RAM frame.
        XENMEM_MAXIMUM_RAM_PAGE => Ok(Outcome::Done(st.mem.max_mfn)),
        XENMEM_MACHPHYS_MAPPING => {
            let m = XenMachphysMapping {
                v_start: MACH2PHYS_VIRT_START,
                v_end: MACH2PHYS_VIRT_START + st.mem.max_mfn * 8,
                max_mfn: st.mem.max_mfn.saturating_sub(1),
            };
            guest_copy::write(&st.mem, arg, &m)?;
            Ok(Outcome::Done(0))
        }
        _ => Err(Errno::ENOSYS),
    }
}
