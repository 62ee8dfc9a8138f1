//! Virtual NMIs for PV guests, as Xen's: `XEN_DOMCTL_SENDTRIGGER_NMI` (dom0's `xl trigger
//! <domain> nmi`) makes one pending on a vCPU and wakes it; on its next return to the guest
//! it is delivered through trap-table vector 2 (where `CALLBACKTYPE_NMI` registers its
//! handler, masking events), unless an NMI handler is already running: the guest's next
//! `iret` hypercall ends it. With no handler registered a pending NMI is dropped. At most one
//! is pending, so any number of triggers costs nothing.

use crate::domain::{bounce, state::State};
use core::sync::atomic::{AtomicUsize, Ordering};
use guest_abi::arch::{CpuUserRegs, TrapInfo, FLAT_KERNEL_CS64};

/// How many vCPUs have an NMI pending: the return path looks no further while it is 0.
static PENDING: AtomicUsize = AtomicUsize::new(0);

/// Whether any vCPU may have an NMI pending.
pub fn any_pending() -> bool {
    PENDING.load(Ordering::Relaxed) != 0
}

/// The NMI vector.
pub const NMI_VECTOR: u8 = 2;

/// A vCPU's NMI state.
#[derive(Default, Clone, Copy, Debug, PartialEq, Eq)]
pub struct Nmi {
    /// One is waiting for delivery.
    pub pending: bool,
    /// The guest's NMI handler runs (until its next `iret`).
    pub in_handler: bool,
}

impl Nmi {
    /// Make one pending (a second before delivery is the same one).
    pub fn raise(&mut self) {
        if !self.pending {
            self.pending = true;
            PENDING.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Take the pending one, if any.
    pub fn take(&mut self) -> bool {
        let was = self.pending;
        if was {
            self.pending = false;
            PENDING.fetch_sub(1, Ordering::Relaxed);
        }
        was
    }
}

/// The trap-table entry `CALLBACKTYPE_NMI` registers at `address` (0 clears it).
pub fn callback_entry(address: u64) -> TrapInfo {
    if address == 0 {
        return TrapInfo::default();
    }
    TrapInfo::new(NMI_VECTOR, 0, true, FLAT_KERNEL_CS64, address)
}

/// Deliver a pending NMI to the current vCPU whose frame is `regs`, if one is due: true if a
/// bounce frame was written. Err if it could not be (the caller crashes the domain).
pub fn deliver(st: &mut State, regs: &mut CpuUserRegs) -> Result<bool, &'static str> {
    let v = st.cur_vcpu();
    if v.nmi.in_handler || !v.nmi.take() {
        return Ok(false);
    }
    let t = v.trap_table[usize::from(NMI_VECTOR)];
    if t.address == 0 {
        return Ok(false);
    }
    v.nmi.in_handler = true;
    bounce::bounce(st, regs, t.address, None, t.masks_events())?;
    Ok(true)
}
