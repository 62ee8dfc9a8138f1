//! What the host tests read back from the machine or do as a guest would, shared by the
//! hypercall families' tests (one copy each instead of one per test file).

use super::Testbed;
use crate::evtchn::two_level;
use crate::evtchn::SharedWords;
use crate::mm::page_types::PageType;
use guest_abi::event_channel::{EvtchnBindVirq, EvtchnOp, VIRQ_TIMER};
use guest_abi::hypercall::nr;
use guest_abi::start_info::StartInfo;
use guest_abi::types::{DomId, EvtchnPort};

/// One frame's bookkeeping as the tests compare it: owner, type, type count, pinned, leaf
/// references, foreign references.
pub type FrameState = (DomId, PageType, u32, bool, u32, u32);

impl Testbed {
    /// A scheduling pass, as the LAPIC timer interrupt runs it: due timers fire, the next vCPU
    /// is put on the CPU.
    pub fn pass(&mut self) {
        crate::sched::schedule(&mut self.regs);
    }

    /// Whether `port` of domain `dom` is pending (its shared_info's 2-level bitmap).
    pub fn pending(&self, dom: DomId, port: u32) -> bool {
        self.st(|st| {
            let d = st.dom(dom).expect("domain exists");
            two_level::is_pending(&SharedWords::new(d, 0), EvtchnPort(port))
        })
    }

    /// The current domain binds VIRQ_TIMER on vCPU 0 (an event-channel op in its scratch
    /// memory); its port.
    pub fn bind_timer_virq(&mut self) -> u32 {
        let buf = self.scratch();
        self.write(
            buf,
            &EvtchnBindVirq {
                virq: VIRQ_TIMER,
                ..Default::default()
            },
        );
        let cmd = u64::from(<EvtchnBindVirq as EvtchnOp>::CMD);
        assert_eq!(self.hypercall(nr::EVENT_CHANNEL_OP, [cmd, buf, 0, 0, 0]), 0);
        self.read::<EvtchnBindVirq>(buf).port.0
    }

    /// The current domain's initial page tables, which its address space maps read-only.
    pub fn read_only_va(&self) -> u64 {
        let si: StartInfo = self.read(self.st(|st| st.cur().vcpus[0].regs.rsi));
        si.pt_base
    }

    /// The first unmapped page at or after `va` in the current domain.
    pub fn mapped_end(&self, va: u64) -> u64 {
        let mut p = va & !0xFFF;
        while self.st(|st| crate::mm::guest_copy::read::<u8>(&st.mem, p).is_ok()) {
            p += 4096;
        }
        p
    }

    /// Every frame's bookkeeping, to show that something changed nothing.
    pub fn frame_snapshot(&self) -> Vec<FrameState> {
        self.st(|st| {
            st.frames
                .iter()
                .map(|p| {
                    (
                        p.owner,
                        p.ptype,
                        p.type_count,
                        p.pinned,
                        p.refs,
                        p.foreign_refs,
                    )
                })
                .collect()
        })
    }
}
