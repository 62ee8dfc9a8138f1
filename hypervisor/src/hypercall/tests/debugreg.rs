//! `set_debugreg` / `get_debugreg`: per-vCPU debug registers, validated as Xen does.

use crate::testbed::{err, Testbed};
use guest_abi::arch::HYPERVISOR_VIRT_START;
use guest_abi::errno::Errno;
use guest_abi::hypercall::nr;
use guest_abi::types::DomId;

fn set(tb: &mut Testbed, reg: u64, v: u64) -> i64 {
    tb.hypercall(nr::SET_DEBUGREG, [reg, v, 0, 0, 0])
}

fn get(tb: &mut Testbed, reg: u64) -> i64 {
    tb.hypercall(nr::GET_DEBUGREG, [reg, 0, 0, 0, 0])
}

#[test]
fn breakpoint_addresses_are_stored_and_read_back() {
    let mut tb = Testbed::boot();
    for r in 0..4 {
        assert_eq!(set(&mut tb, r, 0xFFFF_FFFF_8000_1000 + r), 0);
    }
    for r in 0..4 {
        assert_eq!(get(&mut tb, r) as u64, 0xFFFF_FFFF_8000_1000 + r);
    }
    tb.st(|st| assert_eq!(st.cur().vcpus[0].debugreg[2], 0xFFFF_FFFF_8000_1002));
}

#[test]
fn breakpoints_on_the_hypervisor_or_non_canonical_are_refused() {
    let mut tb = Testbed::boot();
    assert_eq!(set(&mut tb, 0, HYPERVISOR_VIRT_START), err(Errno::EPERM));
    assert_eq!(set(&mut tb, 1, 0x0000_8000_0000_0000), err(Errno::EPERM));
    assert_eq!(get(&mut tb, 0), 0);
}

#[test]
fn dr6_and_dr7_keep_their_fixed_bits() {
    let mut tb = Testbed::boot();
    assert_eq!(get(&mut tb, 6), 0xFFFF_0FF0);
    assert_eq!(get(&mut tb, 7), 0x400);
    assert_eq!(set(&mut tb, 6, 0x1000 | 1), 0);
    assert_eq!(get(&mut tb, 6), 0xFFFF_0FF1, "bit 12 reads zero");
    assert_eq!(set(&mut tb, 7, 0x3 | (0b01 << 16)), 0);
    assert_eq!(get(&mut tb, 7), 0x403 | (0b01 << 16));
    assert_eq!(set(&mut tb, 6, 1 << 32), err(Errno::EINVAL));
    assert_eq!(set(&mut tb, 7, 1 << 40), err(Errno::EINVAL));
}

#[test]
fn enabled_io_breakpoints_are_refused() {
    let mut tb = Testbed::boot();
    assert_eq!(set(&mut tb, 7, (0b10 << 20) | (1 << 2)), err(Errno::EPERM));
    // The same R/W field with the breakpoint disabled is accepted.
    assert_eq!(set(&mut tb, 7, 0b10 << 20), 0);
}

#[test]
fn other_registers_are_einval() {
    let mut tb = Testbed::boot();
    for r in [4, 5, 8, 1 << 31] {
        assert_eq!(set(&mut tb, r, 0), err(Errno::EINVAL), "reg {r}");
        assert_eq!(get(&mut tb, r), err(Errno::EINVAL), "reg {r}");
    }
    assert_eq!(set(&mut tb, 1 << 32, 0), err(Errno::EINVAL));
}

#[test]
fn debug_registers_are_per_vcpu() {
    let mut tb = Testbed::boot();
    assert_eq!(set(&mut tb, 3, 0x1234_0000), 0);
    let u = tb.domu(1024);
    tb.run(u);
    assert_eq!(get(&mut tb, 3), 0);
    tb.run(DomId::DOM0);
    assert_eq!(get(&mut tb, 3), 0x1234_0000);
}
