//! `xen_version`.

use crate::testbed::{err, Testbed};
use guest_abi::errno::Errno;
use guest_abi::hypercall::nr;
use guest_abi::version::*;

#[test]
fn version_and_features_as_a_guest_reads_them() {
    let mut tb = Testbed::boot();
    let v = tb.hypercall(nr::XEN_VERSION, [XENVER_VERSION as u64, 0, 0, 0, 0]);
    assert!(v > 0, "version {v:#x}");
    let buf = tb.scratch();
    let fi = XenFeatureInfo::default(); // submap 0
    tb.write(buf, &fi);
    assert_eq!(
        tb.hypercall(nr::XEN_VERSION, [XENVER_GET_FEATURES as u64, buf, 0, 0, 0]),
        0
    );
    let got: XenFeatureInfo = tb.read(buf);
    assert_eq!(got.submap, crate::domain::FEATURES | 1 << XENFEAT_DOM0);
    // A domU gets the same features but not dom0's.
    let u = tb.domu(1024);
    tb.run(u);
    let buf = tb.scratch();
    tb.write(buf, &fi);
    assert_eq!(
        tb.hypercall(nr::XEN_VERSION, [XENVER_GET_FEATURES as u64, buf, 0, 0, 0]),
        0
    );
    assert_eq!(
        tb.read::<XenFeatureInfo>(buf).submap,
        crate::domain::FEATURES
    );
    assert_eq!(
        tb.hypercall(nr::XEN_VERSION, [XENVER_GET_FEATURES as u64, 0x10, 0, 0, 0]),
        err(Errno::EFAULT)
    );
    assert_eq!(
        tb.hypercall(nr::XEN_VERSION, [999, 0, 0, 0, 0]),
        err(Errno::ENOSYS)
    );
}
