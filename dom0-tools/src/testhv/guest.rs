//! Guests acting: a test puts a domain on the CPU and issues hypercalls as that domain (its
//! kernel's), through the same entry path as dom0's, then dom0 runs again. This stands in for
//! the guest kernels the tests do not run: a guest shutting itself down, blocking while idle,
//! giving memory back.

use super::TestHv;
use alloc::vec::Vec;
use guest_abi::errno::Errno;
use guest_abi::hypercall::nr;
use guest_abi::memory::{XenMemoryReservation, XENMEM_DECREASE_RESERVATION};
use guest_abi::sched::{SchedShutdown, ShutdownReason, SCHEDOP_BLOCK, SCHEDOP_SHUTDOWN};
use guest_abi::start_info::StartInfo;
use guest_abi::types::DomId;
use zerocopy::IntoBytes;

/// What a guest is planned to do ([`TestHv::plan`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Planned {
    /// [`AsGuest::shutdown`].
    Shutdown(ShutdownReason),
    /// [`AsGuest::give_back`] of PFNs `first..end`.
    GiveBack { first: u64, end: u64 },
}

/// Domain `id` on the CPU, issuing hypercalls; dom0 runs again when it is dropped.
pub struct AsGuest<'h> {
    hv: &'h mut TestHv,
    id: DomId,
    /// Its instance number (ids are reused; instances are not).
    instance: u64,
}

impl TestHv {
    /// Puts domain `id` on the CPU to act as its kernel would. It must be able to run
    /// (unpaused, not shut down, online): a paused guest issues no hypercalls.
    pub fn guest(&mut self, id: DomId) -> AsGuest<'_> {
        let runnable = self.tb.st(|st| st.dom(id).is_some_and(|d| d.runnable()));
        assert!(runnable, "domain {id} cannot run: it cannot act");
        // Its kernel keeps the start_info address it got in rsi (before its first hypercall).
        let (instance, rsi) = self
            .tb
            .st(|st| st.dom(id).map(|d| (d.instance, d.vcpus[0].regs.rsi)))
            .expect("the domain exists");
        self.start_infos.entry(instance).or_insert(rsi);
        self.tb.run(id);
        AsGuest {
            hv: self,
            id,
            instance,
        }
    }

    /// Domain `id` does `what` when system time reaches `at_ns` (done while time passes:
    /// [`TestHv::pass_time`]).
    pub fn plan(&mut self, id: DomId, what: Planned, at_ns: u64) {
        self.planned.push((at_ns, id, what));
    }

    /// Does the planned guest actions whose time has come.
    pub(super) fn do_planned(&mut self) {
        let now = hypervisor::arch::now_ns();
        let (due, later): (Vec<_>, Vec<_>) = self.planned.drain(..).partition(|p| p.0 <= now);
        self.planned = later;
        for (_, id, what) in due {
            // A guest no longer running (destroyed, paused) does nothing.
            let runnable = self.tb.st(|st| st.dom(id).is_some_and(|d| d.runnable()));
            if runnable {
                let g = self.guest(id);
                let _ = match what {
                    Planned::Shutdown(reason) => g.shutdown(reason),
                    Planned::GiveBack { first, end } => g.give_back(first, end),
                };
            }
        }
    }
}

impl AsGuest<'_> {
    /// The guest issues hypercall `nr`.
    pub fn call(&mut self, nr: usize, args: [u64; 5]) -> Result<u64, Errno> {
        assert_eq!(self.hv.tb.current(), self.id, "the guest lost the CPU");
        Errno::from_ret(self.hv.tb.hypercall(nr, args))
    }

    /// Its scratch memory (mapped and writable, past its boot stack).
    fn scratch(&self) -> u64 {
        self.hv.tb.scratch()
    }

    /// `SCHEDOP_shutdown`: the guest shuts itself down.
    pub fn shutdown(mut self, reason: ShutdownReason) -> Result<u64, Errno> {
        let va = self.scratch();
        self.hv.tb.write(
            va,
            &SchedShutdown {
                reason: reason.as_u32(),
            },
        );
        self.call(nr::SCHED_OP, [u64::from(SCHEDOP_SHUTDOWN), va, 0, 0, 0])
    }

    /// `SCHEDOP_block`: the guest idles until an event.
    pub fn block(mut self) -> Result<u64, Errno> {
        self.call(nr::SCHED_OP, [u64::from(SCHEDOP_BLOCK), 0, 0, 0, 0])
    }

    /// The guest's start_info (at its initial rsi).
    pub fn start_info(&self) -> StartInfo {
        let va = self.hv.start_infos[&self.instance];
        let si: StartInfo = self.hv.tb.read(va);
        assert!(
            si.magic.starts_with(b"xen-3.0-x86_64"),
            "a guest's start_info"
        );
        si
    }

    /// The balloon driver's move: gives back the frames of PFNs `first..end` (read from the
    /// guest's p2m list) with `XENMEM_decrease_reservation`; returns how many went.
    pub fn give_back(mut self, first: u64, end: u64) -> Result<u64, Errno> {
        let si = self.start_info();
        let n = end - first;
        let mfns = self
            .hv
            .tb
            .read_bytes(si.mfn_list + first * 8, (n * 8) as usize);
        let scratch = self.scratch();
        let list = scratch + 4096;
        assert!(
            4096 + n * 8 <= hypervisor::testbed::SCRATCH_LEN,
            "too many frames at once"
        );
        self.hv.tb.write_bytes(list, &mfns);
        let res = XenMemoryReservation {
            extent_start: list,
            nr_extents: n,
            extent_order: 0,
            mem_flags: 0,
            domid: DomId::SELF,
            _pad: [0; 3],
        };
        self.hv.tb.write_bytes(scratch, res.as_bytes());
        self.call(
            nr::MEMORY_OP,
            [u64::from(XENMEM_DECREASE_RESERVATION), scratch, 0, 0, 0],
        )
    }
}

impl AsGuest<'_> {
    /// `EVTCHNOP_send` on one of its ports (its notification of a ring it wrote).
    pub fn evtchn_send(mut self, port: u32) -> Result<u64, Errno> {
        let va = self.scratch();
        self.hv.tb.write(
            va,
            &guest_abi::event_channel::EvtchnSend {
                port: guest_abi::types::EvtchnPort(port),
            },
        );
        self.call(
            nr::EVENT_CHANNEL_OP,
            [
                u64::from(guest_abi::event_channel::EVTCHNOP_SEND),
                va,
                0,
                0,
                0,
            ],
        )
    }
}

impl Drop for AsGuest<'_> {
    fn drop(&mut self) {
        self.hv.dom0_on_cpu();
    }
}
