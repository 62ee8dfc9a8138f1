//! Host tests only: the toolstack's [`Hypervisor`](crate::hv::Hypervisor) implemented by the
//! real hypervisor, booted on its modelled machine (`hypervisor::testbed`). Every operation is
//! a hypercall dom0 issues through the hypervisor's real entry path, with its arguments in
//! dom0's own memory, as pv-guest's `Dom0Hypervisor` does on bare metal:
//!
//! - argument structures are written into dom0's scratch memory and read back after the
//!   call; where they point at buffers (the vCPU context, readconsole, getdomaininfolist,
//!   perfc), the buffers are copied there too and the pointers rewritten ([`ops`]);
//! - foreign frames are mapped at a window page of dom0's address space with
//!   `update_va_mapping_otherdomain`, copied through the hypervisor's checked copy and
//!   unmapped again; dom0's shared_info is mapped at the page after it (system time, event
//!   pending bits), as the guest's event layer maps it;
//! - guests act with hypercalls issued as themselves ([`guest`]), and waiting lets modelled
//!   time pass with the timer interrupts that fall in it ([`time`]);
//! - [`FailPoint`]s fail a chosen operation before it reaches the hypervisor, and a test may
//!   run something just before one (another actor's move).
//!
//! What the tests check afterwards they read from the hypervisor's state ([`inspect`]).
//!
//! [`smp::SmpHv`] adds what the hypervisor does not do yet (several CPUs, multi-vCPU domains,
//! vCPU affinity), modelled around it.

mod fail;
pub mod guest;
pub mod inspect;
mod ops;
pub mod smp;
#[cfg(test)]
mod suspend_tests;
#[cfg(test)]
mod tests;
mod time;

pub use fail::FailPoint;

use alloc::boxed::Box;
use alloc::vec::Vec;
use guest_abi::errno::Errno;
use guest_abi::event_channel::{EvtchnBindVirq, VIRQ_DOM_EXC};
use guest_abi::hypercall::nr;
use guest_abi::mmu::UvmfFlags;
use guest_abi::start_info::StartInfo;
use guest_abi::types::{DomId, EvtchnPort};
use hypervisor::testbed::{Testbed, SCRATCH_LEN};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// Where in dom0's scratch memory the argument structure goes (at most [`ARG_LEN`] bytes).
const ARG: u64 = 0;
const ARG_LEN: u64 = 0x1000;
/// Where the buffers an argument points at go.
const BUF: u64 = ARG + ARG_LEN;
/// Bytes of buffers an operation may pass.
const BUF_LEN: u64 = SCRATCH_LEN - BUF;

/// A guest kernel's read-write PTE (present, writable, user: PV kernels run in ring 3;
/// accessed and dirty set, as pv-guest's `PTE_KERNEL_RW`).
const PTE_RW: u64 = 0x1 | 0x2 | 0x4 | 0x20 | 0x40;

/// Something a test runs just before an operation reaches the hypervisor.
type Hook = Box<dyn FnMut(&mut TestHv)>;

/// dom0 of a booted test machine, as the toolstack's hypervisor.
pub struct TestHv {
    tb: Testbed,
    /// dom0's scratch memory (arguments and buffers).
    scratch: u64,
    /// The page of dom0's address space where foreign frames are mapped, one at a time.
    window: u64,
    /// Where dom0 maps its shared_info.
    shared_info: u64,
    /// dom0's VIRQ_DOM_EXC port, if it binds one.
    dom_exc_port: Option<u32>,
    /// VIRQ_DOM_EXC events taken.
    dom_exc: u64,
    /// Fail this operation with this errno (until cleared), before it is forwarded.
    pub fail: Option<(FailPoint, Errno)>,
    /// Run this just before the operation (each time, until cleared).
    before: Option<(FailPoint, Hook)>,
    /// Guests' planned actions: (system time, domain, action), done as time passes.
    planned: Vec<(u64, DomId, guest::Planned)>,
    /// Each guest's start_info address (by domain instance), as its kernel keeps it.
    start_infos: alloc::collections::BTreeMap<u64, u64>,
}

/// A `createdomain` for an empty domain with the one vCPU there is (the tests' own domains).
pub fn createdomain_op() -> guest_abi::domctl::XenDomctl {
    guest_abi::domctl::XenDomctl::with_payload(
        guest_abi::domctl::XEN_DOMCTL_CREATEDOMAIN,
        guest_abi::types::DomId(0),
        &guest_abi::domctl::DomctlCreateDomain {
            max_vcpus: 1,
            ..Default::default()
        },
    )
}

impl TestHv {
    /// A machine with `mib` MiB of RAM and dom0 (`hypervisor::testbed::DOM0_PAGES`) running,
    /// dom0 bound to VIRQ_DOM_EXC as pv-guest's dom0 is.
    pub fn boot(mib: u64) -> TestHv {
        Self::boot_with(mib, true)
    }

    /// As [`TestHv::boot`], with dom0 bound to VIRQ_DOM_EXC or not (then the toolstack finds
    /// shutdowns by polling only, as a dom0 without event channels does).
    pub fn boot_with(mib: u64, dom_exc: bool) -> TestHv {
        let tb = Testbed::boot_with_ram(mib * 256);
        // dom0's initial registers: rsi holds its start_info's address.
        let si: StartInfo = tb.read(tb.regs.rsi);
        assert!(si.magic.starts_with(b"xen-3.0-x86_64"), "dom0's start_info");
        let scratch = tb.scratch();
        // The builder maps at least 512 KiB past the boot stack, where the scratch begins:
        // the two pages after the scratch are dom0's to remap.
        let mut hv = TestHv {
            tb,
            scratch,
            window: scratch + SCRATCH_LEN,
            shared_info: scratch + SCRATCH_LEN + 4096,
            dom_exc_port: None,
            dom_exc: 0,
            fail: None,
            before: None,
            planned: Vec::new(),
            start_infos: alloc::collections::BTreeMap::new(),
        };
        hv.unmap_window()
            .expect("dom0 unmaps its foreign-mapping window");
        let pte = (si.shared_info & !0xFFF) | PTE_RW;
        hv.call(
            nr::UPDATE_VA_MAPPING,
            [hv.shared_info, pte, UvmfFlags::INVLPG.bits(), 0, 0],
        )
        .expect("dom0 maps its shared_info");
        if dom_exc {
            let mut b = EvtchnBindVirq {
                virq: VIRQ_DOM_EXC,
                vcpu: 0,
                port: EvtchnPort(0),
            };
            hv.evtchn_op(&mut b).expect("dom0 binds VIRQ_DOM_EXC");
            hv.dom_exc_port = Some(b.port.0);
        }
        hv
    }

    /// The machine, for what a test does beyond the toolstack's operations.
    pub fn testbed(&mut self) -> &mut Testbed {
        &mut self.tb
    }

    /// From now on, run `f` just before every operation at `at` (until [`TestHv::clear_before`]).
    pub fn before(&mut self, at: FailPoint, f: impl FnMut(&mut TestHv) + 'static) {
        self.before = Some((at, Box::new(f)));
    }

    /// Stop running the function given to [`TestHv::before`].
    pub fn clear_before(&mut self) {
        self.before = None;
    }

    /// An operation at `at` is about to be forwarded: run the test's hook for it, then fail
    /// it if the test injected a failure there.
    fn point(&mut self, at: FailPoint) -> Result<(), Errno> {
        if let Some((p, mut f)) = self.before.take() {
            if p == at {
                f(self);
            }
            // The hook may have installed another one; keep that.
            self.before.get_or_insert((p, f));
        }
        match self.fail {
            Some((p, e)) if p == at => Err(e),
            _ => Ok(()),
        }
    }

    /// Put dom0 back on the CPU if a hypercall or interrupt scheduled another vCPU: dom0 gets
    /// the CPU again before the toolstack's next step.
    fn dom0_on_cpu(&mut self) {
        if self.tb.current() != DomId::DOM0 {
            self.tb.run(DomId::DOM0);
        }
    }

    /// dom0 issues hypercall `nr`.
    fn call(&mut self, nr: usize, args: [u64; 5]) -> Result<u64, Errno> {
        self.dom0_on_cpu();
        Errno::from_ret(self.tb.hypercall(nr, args))
    }

    /// Writes `v` at `off` of dom0's scratch memory; its address.
    fn put<T: IntoBytes + Immutable>(&mut self, off: u64, v: &T) -> u64 {
        assert!(
            off + core::mem::size_of_val(v) as u64 <= SCRATCH_LEN,
            "argument beyond the scratch memory"
        );
        self.dom0_on_cpu();
        let va = self.scratch + off;
        self.tb.write(va, v);
        va
    }

    /// Writes `b` at `off` of dom0's scratch memory; its address.
    fn put_bytes(&mut self, off: u64, b: &[u8]) -> u64 {
        assert!(
            off + b.len() as u64 <= SCRATCH_LEN,
            "buffer beyond the scratch memory"
        );
        self.dom0_on_cpu();
        let va = self.scratch + off;
        self.tb.write_bytes(va, b);
        va
    }

    /// Reads a `T` at `off` of dom0's scratch memory.
    fn get<T: FromBytes + IntoBytes + KnownLayout>(&mut self, off: u64) -> T {
        self.dom0_on_cpu();
        self.tb.read(self.scratch + off)
    }

    /// Reads `out.len()` bytes at `off` of dom0's scratch memory.
    fn get_bytes(&mut self, off: u64, out: &mut [u8]) {
        self.dom0_on_cpu();
        let b = self.tb.read_bytes(self.scratch + off, out.len());
        out.copy_from_slice(&b);
    }

    /// Clears the window's PTE (and its TLB entry).
    fn unmap_window(&mut self) -> Result<(), Errno> {
        self.call(
            nr::UPDATE_VA_MAPPING,
            [self.window, 0, UvmfFlags::INVLPG.bits(), 0, 0],
        )
        .map(|_| ())
    }

    /// An event-channel operation of dom0, its structure updated in place.
    fn evtchn_op<T: guest_abi::event_channel::EvtchnOp>(
        &mut self,
        op: &mut T,
    ) -> Result<(), Errno> {
        let va = self.put(ARG, op);
        let r = self.call(nr::EVENT_CHANNEL_OP, [u64::from(T::CMD), va, 0, 0, 0]);
        *op = self.get(ARG);
        r.map(|_| ())
    }

    /// Whether `port` of dom0 is pending in its shared_info, clearing it (what dom0's upcall
    /// does before running the port's handler).
    fn take_pending(&mut self, port: u32) -> bool {
        let word = self.shared_info
            + core::mem::offset_of!(guest_abi::shared_info::SharedInfo, evtchn_pending) as u64
            + u64::from(port / 64) * 8;
        let bit = 1u64 << (port % 64);
        self.dom0_on_cpu();
        let w: u64 = self.tb.read(word);
        if w & bit == 0 {
            return false;
        }
        self.tb.write(word, &(w & !bit));
        true
    }
}
