//! dom0's hypercall rows: null hypercall, `sched_op` yield, `mmu_update` per entry (batched
//! and single), `update_va_mapping` with INVLPG, multicall per entry, local 4 KiB copy, grant copy and grant map+unmap (dom0 granting a page
//! to itself). A row whose hypercall the hypervisor lacks prints `unavailable` with the reason,
//! so it appears by itself once the mechanism lands.

use super::pv::{pages, Pv};
use super::workloads::{per_iter, Platform};
use super::{rdtsc, Sink, Why};
use guest_abi::errno::Errno;
use guest_abi::grant_table::*;
use guest_abi::guest;
use guest_abi::hypercall::nr;
use guest_abi::mmu::UvmfFlags;
use guest_abi::multicall::MulticallEntry;
use guest_abi::types::{DomId, GrantRef};

/// Entries per `mmu_update` / multicall batch.
pub const BATCH: usize = 32;
/// The grant reference dom0 grants its own page under (the first non-reserved one).
const GREF: u32 = GNTTAB_NR_RESERVED_ENTRIES;
/// Scratch slots used for the grant table frame and the grant mapping.
const GT_SLOT: usize = 510;
const MAP_SLOT: usize = 511;
/// Scratch slot of the `update_va_mapping` row.
const UVM_SLOT: usize = 509;

/// Runs every row `runs` times with `iters` operations per run.
pub fn run(pv: &mut Pv, out: &mut Sink, runs: usize, iters: u64) {
    out.row("hypercall_null", runs, || {
        let t0 = rdtsc();
        for _ in 0..iters {
            let _ = core::hint::black_box(guest::xen_version(0));
        }
        Ok(per_iter(rdtsc() - t0, iters))
    });
    // With nothing else runnable the scheduler runs a full pass and picks dom0 again.
    out.row("sched_yield", runs, || {
        let t0 = rdtsc();
        for _ in 0..iters {
            guest::sched_yield()?;
        }
        Ok(per_iter(rdtsc() - t0, iters))
    });
    let data = pages(BATCH * 4096);
    let frames: [u64; BATCH] =
        core::array::from_fn(|i| pv.mfn_of(data.as_ptr() as u64 + i as u64 * 4096));
    let map: [(u64, u64); BATCH] =
        core::array::from_fn(|i| (pv.scratch_pte(i), pv.pte_rw(frames[i])));
    let unmap: [(u64, u64); BATCH] = core::array::from_fn(|i| (pv.scratch_pte(i), 0));
    let rounds = iters.div_ceil(BATCH as u64 * 2).max(1);
    out.row("mmu_update_entry", runs, || {
        let t0 = rdtsc();
        for _ in 0..rounds {
            pv.mmu_batch(&map)?;
            pv.mmu_batch(&unmap)?;
        }
        Ok(per_iter(rdtsc() - t0, rounds * 2 * BATCH as u64))
    });
    let uvm_va = pv.scratch_va() + UVM_SLOT as u64 * 4096;
    let uvm_pte = pv.pte_rw(frames[2]);
    out.row("update_va_mapping_invlpg", runs, || {
        let t0 = rdtsc();
        for i in 0..iters {
            let pte = if i & 1 == 0 { uvm_pte } else { 0 };
            // SAFETY: maps one of our own data frames at (or unmaps) a scratch address
            // nothing else uses.
            unsafe { guest::update_va_mapping(uvm_va, pte, UvmfFlags::INVLPG) }?;
        }
        // SAFETY: as above: the scratch slot ends unmapped.
        unsafe { guest::update_va_mapping(uvm_va, 0, UvmfFlags::INVLPG) }?;
        Ok(per_iter(rdtsc() - t0, iters))
    });
    out.row("mmu_update_single", runs, || {
        let t0 = rdtsc();
        for i in 0..iters {
            let e = if i & 1 == 0 { map[0] } else { unmap[0] };
            pv.mmu_batch(&[e])?;
        }
        pv.mmu_batch(&unmap[..1])?;
        Ok(per_iter(rdtsc() - t0, iters))
    });
    out.row("multicall_entry", runs, || {
        let mut calls = [MulticallEntry::default(); BATCH];
        for c in calls.iter_mut() {
            c.op = nr::XEN_VERSION as u64;
        }
        let t0 = rdtsc();
        for _ in 0..rounds {
            // SAFETY: every entry is xen_version(XENVER_version, NULL): no memory is touched.
            unsafe { guest::multicall(&mut calls) }?;
        }
        if calls[0].result as i64 <= 0 {
            return Err(Why::Errno(Errno(calls[0].result.wrapping_neg() as i32)));
        }
        Ok(per_iter(rdtsc() - t0, rounds * BATCH as u64))
    });
    let (src, dst) = data.split_at_mut(4096);
    out.row("local_copy_4k", runs, || {
        let t0 = rdtsc();
        for i in 0..iters {
            src[0] = i as u8;
            dst[..4096].copy_from_slice(core::hint::black_box(&src[..4096]));
        }
        core::hint::black_box(&dst[..4096]);
        Ok(per_iter(rdtsc() - t0, iters))
    });
    let src_mfn = frames[0];
    let dst_mfn = frames[1];
    match self_grant(pv, src_mfn) {
        Ok(()) => {
            out.row("grant_copy_4k", runs, || {
                let mut op = GnttabCopy {
                    source: GnttabCopyPtr {
                        u: u64::from(GREF),
                        domid: DomId::SELF,
                        ..Default::default()
                    },
                    dest: GnttabCopyPtr {
                        u: dst_mfn,
                        domid: DomId::SELF,
                        ..Default::default()
                    },
                    len: 4096,
                    flags: GNTCOPY_SOURCE_GREF,
                    ..Default::default()
                };
                let t0 = rdtsc();
                for _ in 0..iters {
                    // SAFETY: a copy between two of our own data frames; no mapping changes.
                    unsafe {
                        guest::grant_table_op(GNTTABOP_COPY, core::slice::from_mut(&mut op))
                    }?;
                }
                status(op.status)?;
                Ok(per_iter(rdtsc() - t0, iters))
            });
            let host = pv.scratch_va() + MAP_SLOT as u64 * 4096;
            out.row("grant_map_unmap", runs, || {
                let t0 = rdtsc();
                for _ in 0..iters {
                    let mut m = GnttabMapGrantRef {
                        host_addr: host,
                        flags: GntmapFlags::HOST_MAP.bits(),
                        ref_: GrantRef(GREF),
                        dom: DomId::SELF,
                        ..Default::default()
                    };
                    // SAFETY: maps our own granted frame at a scratch address nothing uses.
                    unsafe {
                        guest::grant_table_op(GNTTABOP_MAP_GRANT_REF, core::slice::from_mut(&mut m))
                    }?;
                    status(m.status)?;
                    let mut u = GnttabUnmapGrantRef {
                        host_addr: host,
                        handle: m.handle,
                        ..Default::default()
                    };
                    // SAFETY: removes the mapping made just above.
                    unsafe {
                        guest::grant_table_op(
                            GNTTABOP_UNMAP_GRANT_REF,
                            core::slice::from_mut(&mut u),
                        )
                    }?;
                    status(u.status)?;
                }
                Ok(per_iter(rdtsc() - t0, iters))
            });
        }
        Err(e) => {
            out.unavailable("grant_copy_4k", e);
            out.unavailable("grant_map_unmap", e);
        }
    }
}

fn status(s: i16) -> Result<(), Why> {
    if s == 0 {
        Ok(())
    } else {
        Err(Why::Gnt(s))
    }
}

/// Sets up dom0's grant table (one frame), maps it at a scratch slot and grants `mfn` to
/// dom0 itself under [`GREF`].
fn self_grant(pv: &mut Pv, mfn: u64) -> Result<(), Why> {
    let mut frame = 0u64;
    let mut op = GnttabSetupTable {
        dom: DomId::SELF,
        nr_frames: 1,
        frame_list: &raw mut frame as u64,
        ..Default::default()
    };
    // SAFETY: setup_table writes one frame number into `frame`, which outlives the call.
    unsafe { guest::grant_table_op(GNTTABOP_SETUP_TABLE, core::slice::from_mut(&mut op)) }?;
    status(op.status)?;
    let va = pv.scratch_va() + GT_SLOT as u64 * 4096;
    pv.mmu_batch(&[(pv.scratch_pte(GT_SLOT), pv.pte_rw(frame))])?;
    let entry = va as *mut GrantEntryV1;
    // SAFETY: the grant table frame is ours and now mapped read-write at `va`; the entry is
    // written domid/frame first, flags last, as the protocol requires.
    unsafe {
        let e = entry.add(GREF as usize);
        core::ptr::write_volatile(&raw mut (*e).domid, DomId(0));
        core::ptr::write_volatile(&raw mut (*e).frame, mfn as u32);
        core::sync::atomic::fence(core::sync::atomic::Ordering::SeqCst);
        core::ptr::write_volatile(&raw mut (*e).flags, GtfFlags::PERMIT_ACCESS.bits());
    }
    Ok(())
}
