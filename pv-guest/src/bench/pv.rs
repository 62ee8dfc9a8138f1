//! [`Platform`] for the PV kernel: page-table writes by `mmu_update`, TLB flushes by
//! `mmuext_op`, machine frames from the p2m list the builder gave us.

use super::tasks::Tasks;
use super::workloads::Platform;
use crate::entry::VIRT_BASE;
use crate::pagetable::{
    self, table_index, Memory, Walker, PAGE_SIZE, PTE_ACCESSED, PTE_ADDR_MASK, PTE_KERNEL_RW,
    PTE_PRESENT, PTE_RW, PTE_USER,
};
use alloc::alloc::{alloc_zeroed, Layout};
use guest_abi::errno::Errno;
use guest_abi::guest;
use guest_abi::mmu::{MmuUpdate, MmuextOp, UvmfFlags, MMUEXT_TLB_FLUSH_LOCAL};
use guest_abi::start_info::StartInfo;
use guest_abi::types::DomId;

/// The scratch area: L2 slot 256 of the table mapping the kernel, i.e. 512 MiB above it,
/// far beyond any initial region.
const SCRATCH_L2_INDEX: u64 = 256;

struct Direct;

impl Memory for Direct {
    fn read_u64(&self, va: u64) -> u64 {
        // SAFETY: the walker reads our page tables (mapped read-only in the initial region,
        // bounds-checked by the walker) and the hypervisor's read-only M2P.
        unsafe { core::ptr::read_volatile(va as *const u64) }
    }
}

/// `len` zeroed bytes, page aligned, from the kernel heap (never freed: benchmarks run once).
pub fn pages(len: usize) -> &'static mut [u8] {
    let layout = Layout::from_size_align(len, PAGE_SIZE as usize).expect("page layout");
    // SAFETY: the layout has a non-zero size; the memory is leaked, so the 'static borrow is
    // the only one.
    unsafe {
        let p = alloc_zeroed(layout);
        assert!(!p.is_null(), "bench: out of heap");
        core::slice::from_raw_parts_mut(p, len)
    }
}

/// The PV platform: a scratch L1 table linked into our kernel's L2.
pub struct Pv {
    si: &'static StartInfo,
    /// The context-switch workload's user tasks, built on first use.
    tasks: Option<Tasks>,
    p2m: &'static [u64],
    table_va: u64,
    table_mfn: u64,
    l2e: u64,
}

impl Pv {
    /// Links a fresh, read-only L1 table at the scratch slot.
    pub fn new(si: &'static StartInfo) -> Result<Pv, Errno> {
        // SAFETY: the builder maps the p2m list (one u64 per pfn) read-write for the life of
        // the domain at mfn_list; nobody changes it while we run.
        let p2m =
            unsafe { core::slice::from_raw_parts(si.mfn_list as *const u64, si.nr_pages as usize) };
        let end = pagetable::initial_region_end(si.pt_base, si.nr_pt_frames);
        let w = Walker::new(&Direct, si.pt_base, VIRT_BASE, end);
        let l4e = Direct.read_u64(si.pt_base + table_index(VIRT_BASE, 4) * 8);
        let l3 = w
            .table_va((l4e & PTE_ADDR_MASK) >> 12)
            .map_err(|_| Errno::EFAULT)?;
        let l3e = Direct.read_u64(l3 + table_index(VIRT_BASE, 3) * 8);
        let l2_mfn = (l3e & PTE_ADDR_MASK) >> 12;
        let table = pages(PAGE_SIZE as usize);
        let table_va = table.as_ptr() as u64;
        let mut pv = Pv {
            si,
            tasks: None,
            p2m,
            table_va,
            table_mfn: 0,
            l2e: (l2_mfn << 12) + SCRATCH_L2_INDEX * 8,
        };
        pv.table_mfn = pv.mfn_of(table_va);
        let ro = (pv.table_mfn << 12) | PTE_PRESENT | PTE_USER | PTE_ACCESSED;
        // SAFETY: the page is ours, zeroed and used by nothing else; mapping it read-only is
        // what lets the hypervisor accept it as a page table.
        unsafe { guest::update_va_mapping(table_va, ro, UvmfFlags::INVLPG) }?;
        let link = (pv.table_mfn << 12) | PTE_PRESENT | PTE_RW | PTE_USER | PTE_ACCESSED;
        pv.mmu(&[(pv.l2e, link)])?;
        Ok(pv)
    }

    fn mmu(&self, ptes: &[(u64, u64)]) -> Result<(), Errno> {
        let mut reqs = [MmuUpdate::normal(0, 0); 64];
        for chunk in ptes.chunks(reqs.len()) {
            for (r, &(ptr, val)) in reqs.iter_mut().zip(chunk) {
                *r = MmuUpdate::normal(ptr, val);
            }
            // SAFETY: only the scratch L2 slot and the scratch L1 are written; nothing in
            // this kernel uses the scratch area but the workloads.
            unsafe { guest::mmu_update(&reqs[..chunk.len()], DomId::SELF) }.map_err(|(_, e)| e)?;
        }
        Ok(())
    }

    /// One `mmu_update` of `ptes` as a single batch (at most 64 entries).
    pub fn mmu_batch(&self, ptes: &[(u64, u64)]) -> Result<(), Errno> {
        self.mmu(ptes)
    }

    /// Unlinks the scratch table and gives its page back read-write.
    pub fn teardown(mut self) -> Result<(), Errno> {
        if let Some(t) = self.tasks.take() {
            t.release();
        }
        self.mmu(&[(self.l2e, 0)])?;
        flush();
        let rw = (self.table_mfn << 12) | PTE_KERNEL_RW;
        // SAFETY: the page is no longer a page table (unlinked above); it becomes ordinary
        // writable kernel memory again.
        unsafe { guest::update_va_mapping(self.table_va, rw, UvmfFlags::INVLPG) }
    }
}

fn flush() {
    let op = MmuextOp::new(MMUEXT_TLB_FLUSH_LOCAL, 0, 0);
    // SAFETY: a local TLB flush changes no mapping.
    let _ = unsafe { guest::mmuext_op(core::slice::from_ref(&op), DomId::SELF) };
}

impl Platform for Pv {
    fn rdtsc(&self) -> u64 {
        super::rdtsc()
    }
    fn scratch_va(&self) -> u64 {
        VIRT_BASE + (SCRATCH_L2_INDEX << 21)
    }
    fn scratch_pte(&self, i: usize) -> u64 {
        (self.table_mfn << 12) + (i as u64) * 8
    }
    fn pte_rw(&self, mfn: u64) -> u64 {
        (mfn << 12) | PTE_KERNEL_RW
    }
    fn mfn_of(&self, va: u64) -> u64 {
        // Heap memory may lie in dom0's grown heap, past the initial region.
        let pfn = crate::heap::pfn_of(va).unwrap_or((va - VIRT_BASE) / PAGE_SIZE);
        self.p2m[pfn as usize]
    }
    fn write_ptes(&mut self, ptes: &[(u64, u64)]) {
        if let Err(e) = self.mmu(ptes) {
            crate::println!("bench: mmu_update failed: {}", e.name());
        }
    }
    fn flush_tlb(&mut self) {
        flush();
    }
    fn user_switches(&mut self, switches: u64) -> Result<(), &'static str> {
        if self.tasks.is_none() {
            self.tasks = Some(Tasks::new(self.si)?);
        }
        self.tasks
            .as_mut()
            .map_or(Err("no-tasks"), |t| t.run(switches))
    }
}
