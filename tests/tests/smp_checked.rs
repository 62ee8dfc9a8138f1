//! The hypervisor built with debug assertions (`hypervisor-checked.elf`: overflow checks and
//! the lock-order check of `hypervisor/src/sync.rs` on every acquisition) runs the SMP paths
//! only bare metal has — four CPUs scheduling vCPUs, reschedule IPIs, TLB shootdowns, the
//! heap and frame allocator under several CPUs — through busy domUs, a 4-vCPU guest's IPI
//! ring, a fuzzer and their destruction, without a check firing.

use std::time::Duration;
use tests::steps::{check_free_memory_back, create_and_wait_guest_line, create_ok, run_ok};
use tests::{test_name, BootOptions, System};

#[test]
fn the_checked_hypervisor_runs_smp_guests_without_a_check_firing() {
    let mut sys = System::boot_to_prompt(BootOptions::new(&test_name!()).checked());
    sys.check(
        sys.transcript().contains("SMP: 4 CPU(s) online"),
        "the checked hypervisor did not start 4 CPUs",
    );
    let free_before = sys.free_memory();
    let m = sys.mark();
    for n in ["b1", "b2"] {
        create_and_wait_guest_line(
            &mut sys,
            &format!("busy.cfg name={n}"),
            "Hello from pv-guest domU",
        );
    }
    create_ok(&mut sys, "domu.cfg name=smp vcpus=4 extra=\"test=smp\"");
    create_ok(
        &mut sys,
        "domu.cfg name=fuzz extra=\"test=fuzz seed=7 count=50000\"",
    );
    sys.wait_line(m, "smp: PASSED", Duration::from_secs(120))
        .unwrap_or_else(|f| sys.fail(f.msg));
    sys.wait_line(m, "fuzz: done 50000 calls", Duration::from_secs(300))
        .unwrap_or_else(|f| sys.fail(f.msg));
    for n in ["b1", "b2", "smp", "fuzz"] {
        run_ok(&mut sys, &format!("xl destroy {n}"));
    }
    check_free_memory_back(&mut sys, free_before, "destroying everything");
    let t = sys.transcript();
    for bad in ["PANIC", "lock order", "panicked", " crashed:"] {
        sys.check(!t.contains(bad), format!("the transcript says {bad:?}"));
    }
}
