//! `vm_assist`: the types a 64-bit PV guest may name are recorded, others refused.

use crate::testbed::{err, Testbed};
use guest_abi::errno::Errno;
use guest_abi::hypercall::nr;
use guest_abi::mmu::*;

fn assist(tb: &Testbed) -> u64 {
    tb.st(|st| st.cur().vm_assist)
}

fn call(tb: &mut Testbed, cmd: u64, ty: u64) -> i64 {
    tb.hypercall(nr::VM_ASSIST, [cmd, ty, 0, 0, 0])
}

#[test]
fn writable_pagetables_is_on_from_the_start_and_can_be_asked_for() {
    let mut tb = Testbed::boot();
    let wpt = 1 << VMASST_TYPE_WRITABLE_PAGETABLES;
    assert_eq!(assist(&tb), wpt);
    let e = u64::from(VMASST_CMD_ENABLE);
    assert_eq!(
        call(&mut tb, e, u64::from(VMASST_TYPE_WRITABLE_PAGETABLES)),
        0
    );
    assert_eq!(assist(&tb), wpt);
    // The other types Linux and the 64-bit PV ABI name are accepted and recorded.
    for ty in [
        VMASST_TYPE_PAE_EXTENDED_CR3,
        VMASST_TYPE_RUNSTATE_UPDATE_FLAG,
        VMASST_TYPE_M2P_STRICT,
        VMASST_TYPE_ARCHITECTURAL_IOPL,
        VMASST_TYPE_4GB_SEGMENTS,
        VMASST_TYPE_4GB_SEGMENTS_NOTIFY,
    ] {
        assert_eq!(call(&mut tb, e, u64::from(ty)), 0, "type {ty}");
        assert_ne!(assist(&tb) & 1 << ty, 0, "type {ty}");
    }
    assert_eq!(assist(&tb), VM_ASSIST_VALID);
    // And turned off again.
    let d = u64::from(VMASST_CMD_DISABLE);
    assert_eq!(call(&mut tb, d, u64::from(VMASST_TYPE_M2P_STRICT)), 0);
    assert_eq!(
        assist(&tb),
        VM_ASSIST_VALID & !(1 << VMASST_TYPE_M2P_STRICT)
    );
}

#[test]
fn vm_assist_refuses_unknown_types_and_commands() {
    let mut tb = Testbed::boot();
    let before = assist(&tb);
    let e = u64::from(VMASST_CMD_ENABLE);
    for ty in [6, 7, 31, 33, 63, 64, 200] {
        assert_eq!(call(&mut tb, e, ty), err(Errno::EINVAL), "type {ty}");
    }
    // A type wider than `unsigned int` is refused before the handler.
    assert_eq!(call(&mut tb, e, 1 << 32 | 2), err(Errno::EINVAL));
    // A valid type with an unknown command: ENOSYS, as Xen.
    let pae = u64::from(VMASST_TYPE_PAE_EXTENDED_CR3);
    assert_eq!(call(&mut tb, 2, pae), err(Errno::ENOSYS));
    assert_eq!(call(&mut tb, 1 << 32, pae), err(Errno::EINVAL));
    assert_eq!(assist(&tb), before);
}
