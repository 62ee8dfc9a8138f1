//! `XEN_SYSCTL_perfc_op`: the hypervisor's counters for the toolstack (Xen's xenperf
//! interface): gauges (the heap's bytes in use and free, free frames), the console's receive
//! interrupts and the device interrupts delivered to dom0 (`crate::irq`) so far, and the longest stretch the hypervisor ran with interrupts off, which
//! `PERFCOP_reset` zeroes (the others stay).

use crate::mm::{guest_copy, machine::Machine};
use guest_abi::errno::Errno;
use guest_abi::sysctl::{
    SysctlPerfcDesc, SysctlPerfcOp, XEN_SYSCTL_PERFCOP_QUERY, XEN_SYSCTL_PERFCOP_RESET,
};

/// The counters' names, in the order of their values.
pub const NAMES: [&str; 6] = [
    "heap_used_bytes",
    "heap_free_bytes",
    "irqoff_max_ns",
    "free_frames",
    "console_rx_irqs",
    "device_irqs",
];

fn values() -> [u32; 6] {
    let (used, free) = crate::heap::usage();
    let clamp = |v: u64| u32::try_from(v).unwrap_or(u32::MAX);
    [
        clamp(used as u64),
        clamp(free as u64),
        clamp(crate::arch::irqoff::max_ns()),
        clamp(crate::phys::frames::free_count()),
        clamp(crate::console::rx_irqs()),
        clamp(crate::irq::line::taken()),
    ]
}

fn desc(name: &str) -> SysctlPerfcDesc {
    let mut d = SysctlPerfcDesc {
        nr_vals: 1,
        ..SysctlPerfcDesc::default()
    };
    let n = name.len().min(d.name.len() - 1);
    d.name[..n].copy_from_slice(&name.as_bytes()[..n]);
    d
}

/// Runs `op`: fills the counts and, where the caller passed them, the descriptions and
/// values (the caller sizes its arrays with a first query passing null pointers).
pub fn perfc_op(mem: &Machine, op: &mut SysctlPerfcOp) -> Result<(), Errno> {
    match op.cmd {
        XEN_SYSCTL_PERFCOP_QUERY => {}
        XEN_SYSCTL_PERFCOP_RESET => {
            crate::arch::irqoff::reset();
            return Ok(());
        }
        _ => return Err(Errno::EINVAL),
    }
    op.nr_counters = NAMES.len() as u32;
    op.nr_vals = NAMES.len() as u32;
    if op.desc != 0 {
        let size = core::mem::size_of::<SysctlPerfcDesc>() as u64;
        for (i, name) in NAMES.iter().enumerate() {
            guest_copy::write(mem, op.desc.wrapping_add(i as u64 * size), &desc(name))?;
        }
    }
    if op.val != 0 {
        guest_copy::write(mem, op.val, &values())?;
    }
    Ok(())
}
