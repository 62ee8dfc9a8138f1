//! What the tests check afterwards, read from the hypervisor's state and machine memory
//! (never through the toolstack's operations, so injected failures do not reach them).

use super::TestHv;
use alloc::vec::Vec;
use guest_abi::sched::ShutdownReason;
use guest_abi::types::{DomId, Mfn};
use hypervisor::mm::page_types::TableMem;

/// A domain as the hypervisor holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DomainView {
    /// Paused by the toolstack (pause count above 0).
    pub paused: bool,
    /// Pages it owns.
    pub tot_pages: u64,
    /// Pages it may own.
    pub max_pages: u64,
    /// Its kernel page table (L4 MFN; 0 before setvcpucontext).
    pub l4: u64,
    /// Whether that L4 is pinned.
    pub l4_pinned: bool,
    /// Its vCPU is online (setvcpucontext was done).
    pub online: bool,
    /// Its vCPU's saved rip, cs and rsi.
    pub rip: u64,
    pub cs: u16,
    pub rsi: u64,
    /// Its shared_info frame.
    pub shared_info_mfn: u64,
    /// Credit-scheduler weight and cap.
    pub weight: u16,
    pub cap: u16,
    /// Why it shut down, if it did.
    pub shutdown: Option<ShutdownReason>,
    /// Being destroyed.
    pub dying: bool,
    /// A virtual NMI waits for delivery (`xl trigger`).
    pub nmi_pending: bool,
}

impl TestHv {
    /// Domain `id`, if it exists.
    pub fn domain(&mut self, id: DomId) -> Option<DomainView> {
        self.tb.st(|st| {
            let (l4, v) = {
                let d = st.dom(id)?;
                let v = DomainView {
                    paused: d.pause_count > 0,
                    tot_pages: d.tot_pages,
                    max_pages: d.max_pages,
                    l4: d.vcpus[0].kernel_l4.0,
                    l4_pinned: false,
                    online: d.vcpus[0].online,
                    rip: d.vcpus[0].regs.rip,
                    cs: d.vcpus[0].regs.cs,
                    rsi: d.vcpus[0].regs.rsi,
                    shared_info_mfn: d.shared_info.mfn().0,
                    weight: d.credit.weight,
                    cap: d.credit.cap,
                    shutdown: d.shutdown,
                    dying: d.dying,
                    nmi_pending: d.vcpus[0].nmi.pending,
                };
                (d.vcpus[0].kernel_l4, v)
            };
            let pinned = l4 != Mfn(0) && st.frame_table().0.get(l4).is_some_and(|p| p.pinned);
            Some(DomainView {
                l4_pinned: pinned,
                ..v
            })
        })
    }

    /// The ids of every domain, dom0 included, in order.
    pub fn domain_ids(&mut self) -> Vec<DomId> {
        self.tb.st(|st| st.domains.keys().copied().collect())
    }

    /// Free frames domains may be given (what `sysctl physinfo` reports as free).
    pub fn free_pages(&self) -> u64 {
        hypervisor::phys::frames::free_for_domains()
    }

    /// The contents of machine frame `mfn`.
    pub fn frame(&mut self, mfn: u64) -> [u8; 4096] {
        let mut page = [0u8; 4096];
        self.tb.peek(mfn, 0, &mut page);
        page
    }

    /// The frame domain `id`'s kernel page tables map at `va`, if they map it (a walk of
    /// its L4 as the MMU would do it).
    pub fn guest_mfn(&mut self, id: DomId, va: u64) -> Option<u64> {
        self.tb.st(|st| {
            let l4 = st.dom(id)?.vcpus[0].kernel_l4;
            let (l1, idx) = hypervisor::mm::guest_walk::l1_slot(&st.mem, l4, va)?;
            let e = st.mem.read(l1, idx);
            hypervisor::mm::pte::present(e).then(|| hypervisor::mm::pte::mfn(e).0)
        })
    }

    /// The bytes of domain `id`'s memory at `va` (within one page).
    pub fn guest_bytes(&mut self, id: DomId, va: u64, len: usize) -> Vec<u8> {
        let off = (va & 0xFFF) as usize;
        assert!(off + len <= 4096, "within one page");
        let mfn = self
            .guest_mfn(id, va)
            .unwrap_or_else(|| panic!("domain {id} maps {va:#x}"));
        self.frame(mfn)[off..off + len].to_vec()
    }

    /// The M2P entry of `mfn` (the PFN its owner has it at).
    pub fn m2p(&self, mfn: u64) -> u64 {
        hypervisor::arch::page_tables::m2p_get(Mfn(mfn)).0
    }

    /// The domain owning frame `mfn`.
    pub fn owner(&mut self, mfn: u64) -> DomId {
        self.tb.st(|st| st.frame_table().0.owner(Mfn(mfn)))
    }

    /// The hypervisor crashes domain `id` (as when its kernel faults with no handler).
    pub fn crash(&mut self, id: DomId, why: &str) {
        self.tb.st(|st| {
            hypervisor::lifecycle::crash(st, id, format_args!("{why}"));
        });
    }
}
