//! `physdev_op`: the virtual I/O privilege level is kept per vCPU; bad levels and pointers
//! are refused and change nothing; operations not there are ENOSYS (the pirq operations:
//! `physdev_pirq`).

use crate::testbed::{err, Testbed};
use guest_abi::errno::Errno;
use guest_abi::hypercall::nr;
use guest_abi::physdev::*;

fn set_iopl(tb: &mut Testbed, iopl: u32) -> i64 {
    let buf = tb.scratch();
    tb.write(buf, &PhysdevSetIopl { iopl });
    tb.hypercall(
        nr::PHYSDEV_OP,
        [u64::from(PHYSDEVOP_SET_IOPL), buf, 0, 0, 0],
    )
}

fn iopl(tb: &Testbed) -> u8 {
    tb.st(|st| st.cur().vcpus[0].iopl)
}

#[test]
fn set_iopl_keeps_the_level_per_domain() {
    let mut tb = Testbed::boot();
    assert_eq!(iopl(&tb), 0);
    for l in [1, 3, 0, 2] {
        assert_eq!(set_iopl(&mut tb, l), 0);
        assert_eq!(u32::from(iopl(&tb)), l);
    }
    let u = tb.domu(1024);
    tb.run(u);
    assert_eq!(iopl(&tb), 0, "a new domain starts at 0");
    assert_eq!(set_iopl(&mut tb, 1), 0);
    tb.run(guest_abi::types::DomId::DOM0);
    assert_eq!(iopl(&tb), 2);
}

#[test]
fn bad_levels_pointers_and_other_operations_are_refused() {
    let mut tb = Testbed::boot();
    assert_eq!(set_iopl(&mut tb, 1), 0);
    for l in [4, 255, u32::MAX] {
        assert_eq!(set_iopl(&mut tb, l), err(Errno::EINVAL), "{l}");
        assert_eq!(iopl(&tb), 1);
    }
    let cmd = u64::from(PHYSDEVOP_SET_IOPL);
    for p in [0u64, 0xFFFF_8000_0000_1000, 0x0000_8000_0000_0000] {
        assert_eq!(
            tb.hypercall(nr::PHYSDEV_OP, [cmd, p, 0, 0, 0]),
            err(Errno::EFAULT),
            "{p:#x}"
        );
    }
    assert_eq!(iopl(&tb), 1);
    let buf = tb.scratch();
    for c in [0u64, 1, 7, 17, 25, 28, 1 << 32] {
        let want = if c >> 32 != 0 {
            Errno::EINVAL
        } else {
            Errno::ENOSYS
        };
        assert_eq!(
            tb.hypercall(nr::PHYSDEV_OP, [c, buf, 0, 0, 0]),
            err(want),
            "{c}"
        );
    }
}
