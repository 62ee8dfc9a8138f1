//! Guest user tasks. pv-guest's `test=user` builds user page tables, enters a 64-bit task with
//! the `iret` hypercall, serves its `syscall`s in the kernel's syscall callback and gets its
//! page fault on a kernel address. `test=compat` runs 32-bit tasks: compat-mode `syscall` to
//! the syscall callback, then (registered) the syscall32 callback, and `sysenter` to the
//! sysenter callback (a #GP without one), single-stepped so a guest's TF meets the
//! hypervisor's entry code.

use std::time::Duration;
use tests::steps::list_with_healthy_dom0;
use tests::test_name;
use tests::xl::domu_line;
use tests::{BootOptions, System};

/// `xl create` pv-guest with `extra="test=<test>"` and check its report lines, in order.
fn run_guest_test(sys: &mut System, test: &str, want: &[&str]) {
    let mark = sys.mark();
    let out = sys.run(&format!(
        "xl create /etc/xen/domu.cfg name={test} extra=\"test={test}\""
    ));
    sys.check(!out.contains("xl: "), format!("`xl create` failed: {out}"));
    for want in want {
        let prefix = &want[..30.min(want.len())];
        let line = sys
            .wait_line_where(mark, prefix, Duration::from_secs(60), |l| {
                domu_line(l).is_some_and(|(_, t)| t.starts_with(prefix))
            })
            .unwrap_or_else(|f| sys.fail(f.msg));
        let got = domu_line(&line).map(|(_, t)| t.to_string()).unwrap();
        sys.check(got == *want, format!("want `{want}`, got `{got}`"));
    }
    let crashes = sys.lines_since(mark, " crashed:");
    sys.check(crashes.is_empty(), format!("a domain crashed: {crashes:?}"));
    let fatal = sys.lines_since(mark, "FATAL");
    sys.check(fatal.is_empty(), format!("the hypervisor died: {fatal:?}"));
    list_with_healthy_dom0(sys);
}

#[test]
fn user_task_syscalls_reach_the_guest_kernel_and_its_fault_too() {
    let mut sys = System::boot_to_prompt(BootOptions::new(&test_name!()));
    run_guest_test(
        &mut sys,
        "user",
        &[
            "test=user: user page tables built, pinned and installed (NEW_USER_BASEPTR): ok",
            "test=user: the user task made 2 syscalls to the kernel's callback (41 in, 42 back): ok",
            "test=user: the user task's #PF at cr2 0xffffffff80000000 reached the kernel's handler (from user mode, user access): ok",
            "test=user: user page tables released, their frames writable again: ok",
        ],
    );
    // The same machine: 32-bit tasks. QEMU runs sysenter in compat mode whatever the vendor
    // (AMD's hardware raises #UD, which the guest would accept); here it reaches the
    // hypervisor, single-stepped.
    run_guest_test(&mut sys, "compat", &COMPAT);
}

const COMPAT: [&str; 4] = [
    "test=compat: sysenter with no callback: #GP at rip 0x0, error 0x0: ok",
    "test=compat: 32-bit syscalls: 2 to the syscall callback, then 2 to the syscall32 callback (cs 0xe023), 7+2 = 9: ok",
    "test=compat: single-stepped sysenter: 1 sysenter callback(s) (frame rip 0x0 cs 0x3 TF 1), then #UD at rip 0x40003d: ok",
    "test=compat: user page tables released: ok",
];
