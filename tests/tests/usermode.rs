//! A guest user task: pv-guest's `test=user` builds user page tables, enters the task with
//! the `iret` hypercall, serves its `syscall`s in the kernel's syscall callback and gets its
//! page fault on a kernel address.

use std::time::Duration;
use tests::steps::{boot, list_with_healthy_dom0};
use tests::test_name;
use tests::xl::domu_line;

#[test]
fn user_task_syscalls_reach_the_guest_kernel_and_its_fault_too() {
    let mut sys = boot(&test_name!());
    let mark = sys.mark();
    let out = sys.run("xl create /etc/xen/domu.cfg name=user extra=\"test=user\"");
    sys.check(!out.contains("xl: "), format!("`xl create` failed: {out}"));
    for want in [
        "test=user: user page tables built, pinned and installed (NEW_USER_BASEPTR): ok",
        "test=user: the user task made 2 syscalls to the kernel's callback (41 in, 42 back): ok",
        "test=user: the user task's #PF at cr2 0xffffffff80000000 reached the kernel's handler (from user mode, user access): ok",
        "test=user: user page tables released, their frames writable again: ok",
    ] {
        let prefix = &want[..30];
        let line = sys
            .wait_line_where(mark, prefix, Duration::from_secs(60), |l| {
                domu_line(l).is_some_and(|(_, t)| t.starts_with(prefix))
            })
            .unwrap_or_else(|f| sys.fail(f.msg));
        let got = domu_line(&line).map(|(_, t)| t.to_string()).unwrap();
        sys.check(got == want, format!("want `{want}`, got `{got}`"));
    }
    let crashes = sys.lines_since(mark, " crashed:");
    sys.check(crashes.is_empty(), format!("a domain crashed: {crashes:?}"));
    list_with_healthy_dom0(&mut sys);
}
