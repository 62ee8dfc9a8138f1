//! `xen_version`: the version number and strings, compile information, platform
//! parameters, page size and feature submaps, for dom0 and a domU; bad pointers (nothing
//! partly written), bad submaps, too-wide and unknown sub-ops.

use crate::testbed::{err, Testbed};
use core::mem::size_of;
use guest_abi::errno::Errno;
use guest_abi::hypercall::nr;
use guest_abi::version::*;

/// Where the hypervisor's hole starts (what XENVER_platform_parameters reports).
const HYPERVISOR_HOLE: u64 = guest_abi::arch::HYPERVISOR_VIRT_START;

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

fn ver(tb: &mut Testbed, cmd: u32, arg: u64) -> i64 {
    tb.hypercall(nr::XEN_VERSION, [u64::from(cmd), arg, 0, 0, 0])
}

/// Runs `cmd` into a scratch buffer prefilled with 0xEE; the result and `len + 16` bytes.
fn ver_into(tb: &mut Testbed, cmd: u32, len: usize) -> (i64, Vec<u8>) {
    let buf = tb.scratch();
    tb.write_bytes(buf, &vec![0xEE; len + 16]);
    let r = ver(tb, cmd, buf);
    (r, tb.read_bytes(buf, len + 16))
}

/// `s` NUL-padded to `len`, then the untouched 0xEE guard.
fn padded(s: &str, len: usize) -> Vec<u8> {
    let mut v = s.as_bytes().to_vec();
    v.resize(len, 0);
    v.extend_from_slice(&[0xEE; 16]);
    v
}

/// The sub-ops that write a buffer, and how much each writes.
const BUFFER_OPS: [(u32, usize); 6] = [
    (XENVER_EXTRAVERSION, size_of::<XenExtraversion>()),
    (XENVER_COMPILE_INFO, size_of::<XenCompileInfo>()),
    (XENVER_CAPABILITIES, size_of::<XenCapabilitiesInfo>()),
    (XENVER_CHANGESET, size_of::<XenChangesetInfo>()),
    (
        XENVER_PLATFORM_PARAMETERS,
        size_of::<XenPlatformParameters>(),
    ),
    (XENVER_GET_FEATURES, size_of::<XenFeatureInfo>()),
];

#[test]
fn version_is_4_17_for_every_domain() {
    let mut tb = Testbed::boot();
    assert_eq!(ver(&mut tb, XENVER_VERSION, 0), 4 << 16 | 17);
    // The argument is not looked at.
    assert_eq!(
        ver(&mut tb, XENVER_VERSION, 0xFFFF_8000_0000_0000),
        4 << 16 | 17
    );
    let u = tb.domu(1024);
    tb.run(u);
    assert_eq!(ver(&mut tb, XENVER_VERSION, 0), 4 << 16 | 17);
}

#[test]
fn the_version_strings_are_nul_padded_to_their_full_size() {
    let mut tb = Testbed::boot();
    let (r, b) = ver_into(&mut tb, XENVER_EXTRAVERSION, 16);
    assert_eq!((r, b), (0, padded("-pvh", 16)));
    let (r, b) = ver_into(&mut tb, XENVER_CAPABILITIES, 1024);
    assert_eq!((r, b), (0, padded(XEN_CAPABILITIES_X86_64_PV, 1024)));
    assert_eq!(XEN_CAPABILITIES_X86_64_PV, "xen-3.0-x86_64");
    let (r, b) = ver_into(&mut tb, XENVER_CHANGESET, 64);
    assert_eq!((r, b), (0, padded(env!("CARGO_PKG_VERSION"), 64)));
}

#[test]
fn compile_info_fills_every_field() {
    let mut tb = Testbed::boot();
    let (r, b) = ver_into(&mut tb, XENVER_COMPILE_INFO, 144);
    assert_eq!(r, 0);
    assert_eq!(&b[144..], &[0xEE; 16], "nothing past the structure");
    let info: XenCompileInfo = tb.read(tb.scratch());
    let field = |f: &[u8]| {
        let n = f.iter().position(|&c| c == 0).expect("NUL-terminated");
        assert!(f[n..].iter().all(|&c| c == 0), "NUL-padded");
        String::from_utf8(f[..n].to_vec()).unwrap()
    };
    assert_eq!(field(&info.compiler), "rustc");
    assert_eq!(field(&info.compile_by), "pvh");
    assert_eq!(field(&info.compile_domain), "local");
    assert_eq!(field(&info.compile_date), "unknown");
}

#[test]
fn platform_parameters_give_the_start_of_the_hypervisor_hole() {
    let mut tb = Testbed::boot();
    let (r, b) = ver_into(&mut tb, XENVER_PLATFORM_PARAMETERS, 8);
    assert_eq!(r, 0);
    assert_eq!(
        u64::from_le_bytes(b[..8].try_into().unwrap()),
        guest_abi::arch::HYPERVISOR_VIRT_START
    );
    assert_eq!(&b[8..], &[0xEE; 16]);
    // Guest pointers at that address are refused.
    assert_eq!(
        ver(&mut tb, XENVER_PLATFORM_PARAMETERS, HYPERVISOR_HOLE),
        err(Errno::EFAULT)
    );
}

#[test]
fn pagesize_is_4096_and_takes_no_argument() {
    let mut tb = Testbed::boot();
    assert_eq!(ver(&mut tb, XENVER_PAGESIZE, 0), 4096);
    // As Xen: a non-null argument is refused.
    let buf = tb.scratch();
    assert_eq!(ver(&mut tb, XENVER_PAGESIZE, buf), err(Errno::EINVAL));
    assert_eq!(ver(&mut tb, XENVER_PAGESIZE, 1), err(Errno::EINVAL));
}

#[test]
fn get_features_refuses_submaps_that_do_not_exist() {
    let mut tb = Testbed::boot();
    let buf = tb.scratch();
    for idx in [XENFEAT_NR_SUBMAPS, 2, u32::MAX] {
        let fi = XenFeatureInfo {
            submap_idx: idx,
            submap: 0xDEAD_BEEF,
        };
        tb.write(buf, &fi);
        assert_eq!(
            ver(&mut tb, XENVER_GET_FEATURES, buf),
            err(Errno::EINVAL),
            "submap {idx}"
        );
        assert_eq!(tb.read::<XenFeatureInfo>(buf), fi, "nothing written back");
    }
    // The features offered do not include what this hypervisor does not do.
    tb.write(buf, &XenFeatureInfo::default());
    assert_eq!(ver(&mut tb, XENVER_GET_FEATURES, buf), 0);
    let got = tb.read::<XenFeatureInfo>(buf).submap;
    for absent in [
        XENFEAT_AUTO_TRANSLATED_PHYSMAP,
        XENFEAT_SUPERVISOR_MODE_KERNEL,
        XENFEAT_HVM_CALLBACK_VECTOR,
    ] {
        assert_eq!(got & 1 << absent, 0, "feature {absent}");
    }
    assert_ne!(got & 1 << XENFEAT_MMU_PT_UPDATE_PRESERVE_AD, 0);
    // Writable page tables are emulated (`crate::emulate`), as Linux requires.
    assert_ne!(got & 1 << XENFEAT_WRITABLE_PAGE_TABLES, 0);
}

#[test]
fn buffer_sub_ops_fault_on_bad_pointers_without_writing_part_of_the_result() {
    let mut tb = Testbed::boot();
    let end = tb.mapped_end(tb.scratch());
    let ro = tb.read_only_va();
    let ro_before = tb.read_bytes(ro, 1024);
    for (cmd, len) in BUFFER_OPS {
        for p in [
            0,
            0x10,
            HYPERVISOR_HOLE + 0x1000,
            0x0000_8000_0000_0000,
            u64::MAX - 3,
            ro,
        ] {
            assert_eq!(
                ver(&mut tb, cmd, p),
                err(Errno::EFAULT),
                "cmd {cmd} at {p:#x}"
            );
        }
        // Straddling the end of the mapping: the part that is mapped stays as it was.
        let p = end - len as u64 / 2;
        tb.write_bytes(p, &vec![0x5A; len / 2]);
        if cmd == XENVER_GET_FEATURES {
            // Read first (the submap index), so the partial read faults already.
            tb.write_bytes(p, &[0; 4]);
        }
        assert_eq!(
            ver(&mut tb, cmd, p),
            err(Errno::EFAULT),
            "cmd {cmd} straddling"
        );
        if cmd != XENVER_GET_FEATURES {
            assert_eq!(tb.read_bytes(p, len / 2), vec![0x5A; len / 2], "cmd {cmd}");
        }
    }
    assert_eq!(
        tb.read_bytes(ro, 1024),
        ro_before,
        "the page tables are untouched"
    );
}

#[test]
fn a_domu_reads_the_same_version_information() {
    let mut tb = Testbed::boot();
    let mut dom0 = Vec::new();
    for (cmd, len) in BUFFER_OPS
        .into_iter()
        .filter(|c| c.0 != XENVER_GET_FEATURES)
    {
        dom0.push(ver_into(&mut tb, cmd, len));
    }
    let u = tb.domu(1024);
    tb.run(u);
    for (i, (cmd, len)) in BUFFER_OPS
        .into_iter()
        .filter(|c| c.0 != XENVER_GET_FEATURES)
        .enumerate()
    {
        assert_eq!(ver_into(&mut tb, cmd, len), dom0[i], "cmd {cmd}");
        assert_eq!(dom0[i].0, 0);
    }
    assert_eq!(ver(&mut tb, XENVER_PAGESIZE, 0), 4096);
}

#[test]
fn too_wide_or_unknown_sub_ops_are_refused() {
    let mut tb = Testbed::boot();
    assert_eq!(
        tb.hypercall(nr::XEN_VERSION, [1 << 32, 0, 0, 0, 0]),
        err(Errno::EINVAL)
    );
    assert_eq!(
        tb.hypercall(
            nr::XEN_VERSION,
            [1 << 32 | u64::from(XENVER_VERSION), 0, 0, 0, 0]
        ),
        err(Errno::EINVAL),
        "not truncated to XENVER_version"
    );
    let buf = tb.scratch();
    for cmd in [11, 12, 0x100, u32::MAX] {
        assert_eq!(ver(&mut tb, cmd, buf), err(Errno::ENOSYS), "{cmd}");
    }
}

/// The null hypercall takes no lock: XENVER_version and XENVER_pagesize are answered while
/// another CPU holds the global state (here: this thread), the queries that copy to guest
/// memory wait for it.
#[test]
fn version_and_page_size_are_answered_without_the_state_lock() {
    use std::sync::mpsc;
    use std::time::Duration;
    let tb = Testbed::boot();
    let buf = tb.scratch();
    let held = crate::domain::state::STATE.lock();
    let call = |cmd: u32, arg: u64| {
        let mut regs = tb.regs;
        regs.rax = nr::XEN_VERSION as u64;
        (regs.rdi, regs.rsi) = (u64::from(cmd), arg);
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            crate::hypercall::syscall_entry(&mut regs);
            let _ = tx.send(regs.rax);
        });
        rx
    };
    let wait = Duration::from_secs(20);
    let v = call(XENVER_VERSION, 0).recv_timeout(wait);
    assert_eq!(
        v,
        Ok(crate::hypercall::version::VERSION),
        "version under the lock"
    );
    assert_eq!(call(XENVER_PAGESIZE, 0).recv_timeout(wait), Ok(4096));
    // A copying query needs the state: it is answered only once the lock is let go.
    let extra = call(XENVER_EXTRAVERSION, buf);
    assert!(
        extra.recv_timeout(Duration::from_millis(300)).is_err(),
        "answered under the lock"
    );
    drop(held);
    assert_eq!(extra.recv_timeout(wait), Ok(0));
}
