//! `physdev_op(cmd, arg)`: physical-device operations. Every domain keeps a virtual I/O
//! privilege level (`PHYSDEVOP_set_iopl`, which Linux sets to 1 at boot and which lets its
//! kernel's `cli`/`sti` be emulated, see `crate::emulate`). The domain with I/O privilege
//! (dom0) also gets Xen's pirq operations on the I/O APICs' GSIs (`crate::irq`): setup_gsi,
//! map_pirq and unmap_pirq for itself, irq_status_query and eoi. There is no PCI and no MSI:
//! MSI mappings are `ENODEV`; the pirq EOI bitmap page (`pirq_eoi_gmfn`) is `ENOSYS`, from
//! which Linux falls back to `PHYSDEVOP_eoi`, as on Xen without it.

use super::{HcResult, Outcome};
use crate::domain::state::State;
use crate::irq::table::Mode;
use crate::mm::guest_copy;
use guest_abi::arch::CpuUserRegs;
use guest_abi::errno::Errno;
use guest_abi::hypercall_args::CmdArg;
use guest_abi::physdev::*;
use guest_abi::types::DomId;

/// physdev_op(cmd, arg).
pub fn physdev_op(st: &mut State, _regs: &mut CpuUserRegs, a: CmdArg) -> HcResult {
    let me = st.current.dom;
    match a.cmd {
        PHYSDEVOP_SET_IOPL => {
            let s: PhysdevSetIopl = guest_copy::read(&st.mem, a.arg)?;
            if s.iopl > 3 {
                return Err(Errno::EINVAL);
            }
            st.cur_vcpu().iopl = s.iopl as u8;
        }
        PHYSDEVOP_SETUP_GSI => {
            let s: PhysdevSetupGsi = guest_copy::read(&st.mem, a.arg)?;
            io_privileged(st)?;
            if s.triggering > 1 || s.polarity > 1 || s.gsi < 0 {
                return Err(Errno::EINVAL);
            }
            let mode = Mode {
                level: s.triggering == 1,
                active_low: s.polarity == 1,
            };
            crate::irq::setup_gsi(s.gsi as u32, mode)?;
        }
        PHYSDEVOP_MAP_PIRQ => {
            let mut m: PhysdevMapPirq = guest_copy::read(&st.mem, a.arg)?;
            io_privileged(st)?;
            own_domain(st, m.domid)?;
            match m.kind {
                MAP_PIRQ_TYPE_GSI => {}
                MAP_PIRQ_TYPE_MSI | MAP_PIRQ_TYPE_MSI_SEG | MAP_PIRQ_TYPE_MULTI_MSI => {
                    return Err(Errno::ENODEV)
                }
                _ => return Err(Errno::EINVAL),
            }
            let want = match m.pirq {
                -1 => None,
                p if p < 0 => return Err(Errno::EINVAL),
                p => Some(p as u32),
            };
            let gsi = u32::try_from(m.index).map_err(|_| Errno::EINVAL)?;
            let (pirq, newly) = crate::irq::map_pirq(me, gsi, want)?;
            m.pirq = pirq as i32;
            // A caller whose buffer is gone gets no mapping it cannot know of.
            guest_copy::write(&st.mem, a.arg, &m).inspect_err(|_| {
                if newly {
                    let _ = crate::irq::unmap_pirq(me, pirq);
                }
            })?;
        }
        PHYSDEVOP_UNMAP_PIRQ => {
            let u: PhysdevUnmapPirq = guest_copy::read(&st.mem, a.arg)?;
            io_privileged(st)?;
            own_domain(st, u.domid)?;
            let pirq = u32::try_from(u.pirq).map_err(|_| Errno::EINVAL)?;
            crate::irq::unmap_pirq(me, pirq)?;
        }
        PHYSDEVOP_EOI => {
            let e: PhysdevEoi = guest_copy::read(&st.mem, a.arg)?;
            crate::irq::eoi(me, e.irq)?;
        }
        PHYSDEVOP_IRQ_STATUS_QUERY => {
            let mut q: PhysdevIrqStatusQuery = guest_copy::read(&st.mem, a.arg)?;
            q.flags = if crate::irq::needs_eoi(me, q.irq)? {
                XENIRQSTAT_NEEDS_EOI
            } else {
                0
            };
            guest_copy::write(&st.mem, a.arg, &q)?;
        }
        _ => return Err(Errno::ENOSYS),
    }
    Ok(Outcome::Done(0))
}

/// Only a domain with I/O privilege drives devices (`EPERM` as Xen's permission check).
fn io_privileged(st: &mut State) -> Result<(), Errno> {
    if crate::phys::iomem::permitted(st.current.dom) {
        Ok(())
    } else {
        Err(Errno::EPERM)
    }
}

/// Pirqs are mapped for the caller itself: there is no device passthrough to other domains.
fn own_domain(st: &State, domid: u16) -> Result<(), Errno> {
    if st.resolve(DomId(domid)) == st.current.dom {
        Ok(())
    } else {
        Err(Errno::EPERM)
    }
}
