//! The toolstack's side of a suspended domain, against the real hypervisor: it shows as `s`,
//! its vCPU context and page-table types can be read, and `xl resume` lets it carry on in
//! place, its suspend call returning 1 (a cancelled suspend); the refusals name the cause.

use super::TestHv;
use crate::hv::{is_suspended, Hypervisor};
use crate::initrd::Initrd;
use crate::xl::Toolstack;
use alloc::string::String;
use guest_abi::errno::Errno;
use guest_abi::save_stream::{
    XEN_DOMCTL_PFINFO_L4TAB, XEN_DOMCTL_PFINFO_LPINTAB, XEN_DOMCTL_PFINFO_XTAB,
};
use guest_abi::sched::ShutdownReason;
use guest_abi::types::DomId;

fn initrd() -> Vec<u8> {
    crate::initrd::write_newc(&[
        (
            "/etc/xen/d.cfg",
            b"name = \"d\"\nkernel = \"/boot/k\"\nmemory = 8\n",
        ),
        ("/boot/k", &pv_builder::elf::testimg::TestElf::pv().bytes()),
    ])
}

fn xl(ts: &mut Toolstack<'_, TestHv>, cmd: &str) -> (i32, String) {
    let argv: Vec<&str> = cmd.split_whitespace().collect();
    let mut out = String::new();
    let rc = ts.run(&argv, &mut out);
    (rc, out)
}

/// The state letters of domain `d` in `xl list`.
fn list_state(ts: &mut Toolstack<'_, TestHv>) -> String {
    let (rc, out) = xl(ts, "xl list");
    assert_eq!(rc, 0, "{out}");
    let row = out
        .lines()
        .find(|l| l.starts_with("d "))
        .unwrap_or_else(|| panic!("no row for d in {out}"));
    String::from(row.split_whitespace().nth(4).expect("state column"))
}

/// The rax domain `id`'s vCPU 0 will see when it runs next.
fn saved_rax(hv: &mut TestHv, id: DomId) -> u64 {
    hv.testbed()
        .st(|st| st.dom(id).expect("domain").vcpus[0].regs.rax)
}

#[test]
fn a_suspended_domain_shows_s_gives_its_context_and_resumes_returning_one() {
    let rd = initrd();
    let mut ts = Toolstack::new(TestHv::boot(64), Initrd::parse(&rd).unwrap());
    assert_eq!(xl(&mut ts, "xl create d.cfg").0, 0);
    let d = DomId(1);
    let view = ts.hypervisor().domain(d).unwrap();
    assert!(!is_suspended(&ts.hypervisor().domain_info(d).unwrap()));
    assert_eq!(
        ts.hypervisor().get_vcpu_context(d, 0).err(),
        Some(Errno::EBUSY),
        "a running domain's context is refused"
    );
    assert_eq!(
        ts.hypervisor().guest(d).shutdown(ShutdownReason::Suspend),
        Ok(0)
    );
    ts.poll_lifecycle();
    assert_eq!(
        ts.take_notices(),
        "(xl) domain 1 \"d\" shut down (suspend): (none) = preserve: preserved [VIRQ_DOM_EXC]\n"
    );
    assert!(is_suspended(&ts.hypervisor().domain_info(d).unwrap()));
    assert_eq!(list_state(&mut ts), "---s--");
    // Its context: the kernel page table as cr3, the call's return 0 in rax.
    let c = ts.hypervisor().get_vcpu_context(d, 0).unwrap();
    assert_eq!(c.ctrlreg[3], view.l4 << 12);
    assert_eq!(c.user_regs.rax, 0);
    // Page-table types: its pinned L4, an ordinary frame of its, dom0's L4 (foreign), in
    // batches beyond the hypervisor's 1024.
    let dom0_l4 = ts.hypervisor().domain(DomId::DOM0).unwrap().l4;
    let mut frames = vec![view.l4; 2500];
    frames[1] = dom0_l4;
    frames[2000] = dom0_l4;
    frames[2499] = u64::MAX;
    ts.hypervisor().page_frame_info(d, &mut frames).unwrap();
    let l4 = u64::from(XEN_DOMCTL_PFINFO_L4TAB | XEN_DOMCTL_PFINFO_LPINTAB);
    let x = u64::from(XEN_DOMCTL_PFINFO_XTAB);
    for (i, &t) in frames.iter().enumerate() {
        let want = if [1, 2000, 2499].contains(&i) { x } else { l4 };
        assert_eq!(t, want, "frame {i}");
    }
    let mut mine = vec![ts.hypervisor().domain_info(d).unwrap().shared_info_frame];
    ts.hypervisor().page_frame_info(d, &mut mine).unwrap();
    assert_eq!(
        mine,
        vec![x],
        "the hypervisor's shared_info is not its memory"
    );
    // xl resume: it runs on, its suspend call returning 1.
    let (rc, out) = xl(&mut ts, "xl resume d");
    assert_eq!(rc, 0, "{out}");
    assert_eq!(saved_rax(ts.hypervisor(), d), 1);
    assert!(!is_suspended(&ts.hypervisor().domain_info(d).unwrap()));
    assert!(!list_state(&mut ts).contains('s'));
    // Its next shutdown is acted on again.
    assert_eq!(
        ts.hypervisor().guest(d).shutdown(ShutdownReason::Suspend),
        Ok(0)
    );
    ts.poll_lifecycle();
    assert!(ts.take_notices().contains("shut down (suspend)"));
    assert_eq!(xl(&mut ts, "xl resume 1").0, 0);
}

#[test]
fn resume_refuses_domains_not_suspended_naming_why_and_changes_nothing() {
    let rd = initrd();
    let mut ts = Toolstack::new(TestHv::boot(64), Initrd::parse(&rd).unwrap());
    assert_eq!(xl(&mut ts, "xl create d.cfg").0, 0);
    let d = DomId(1);
    let rax = saved_rax(ts.hypervisor(), d);
    let (rc, out) = xl(&mut ts, "xl resume d");
    assert_ne!(rc, 0);
    assert!(
        out.contains("resume: domain 1 (\"d\") is not suspended"),
        "{out}"
    );
    assert_eq!(
        saved_rax(ts.hypervisor(), d),
        rax,
        "its registers untouched"
    );
    let (rc, out) = xl(&mut ts, "xl resume Domain-0");
    assert_ne!(rc, 0);
    assert!(out.contains("not permitted on Domain-0"), "{out}");
    let (rc, out) = xl(&mut ts, "xl resume nosuch");
    assert_ne!(rc, 0);
    assert!(out.contains("resume:"), "{out}");
    assert_ne!(xl(&mut ts, "xl resume").0, 0);
    // Powered off is not suspended either.
    ts.hypervisor()
        .guest(d)
        .shutdown(ShutdownReason::Poweroff)
        .unwrap();
    assert_eq!(ts.hypervisor().resume_domain(d, true), Err(Errno::EINVAL));
    assert_eq!(
        ts.hypervisor().resume_domain(DomId(42), false),
        Err(Errno::ESRCH)
    );
    assert_eq!(
        ts.hypervisor().get_vcpu_context(DomId(42), 0).err(),
        Some(Errno::ESRCH)
    );
    assert_eq!(
        ts.hypervisor().page_frame_info(DomId(42), &mut [0]),
        Err(Errno::ESRCH)
    );
}
