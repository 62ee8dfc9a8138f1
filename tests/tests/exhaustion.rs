//! Memory exhaustion: domUs are created until memory runs out. The last `xl create` is
//! refused with a clear message, and the machine lives on: the hypervisor keeps a reserve
//! that domains' memory cannot take (its heap, page tables and shared pages grow from it),
//! dom0 and XenStore still answer, and destroying everything gives every frame back.

use tests::steps::{boot, check_free_memory_back, list_with_healthy_dom0, run_ok, xl_errors};
use tests::test_name;

#[test]
fn creating_domains_until_memory_runs_out_leaves_the_machine_working() {
    let mut sys = boot(&test_name!());
    let free_before = sys.free_memory();
    let mut created = Vec::new();
    let refusal = loop {
        let name = format!("fill{}", created.len());
        let out = sys.run(&format!(
            "xl create /etc/xen/domu.cfg name={name} memory=32"
        ));
        let errs = xl_errors(&out);
        if !errs.is_empty() {
            break errs.join(" / ");
        }
        created.push(name);
        if created.len() > 64 {
            sys.fail("64 domUs of 32 MiB fit in a 512 MiB machine?");
        }
    };
    sys.check(
        created.len() >= 8 && refusal.contains("not enough memory"),
        format!("after {} domUs the refusal was: {refusal}", created.len()),
    );
    // Everything still works: the hypervisor, dom0's toolstack and XenStore.
    list_with_healthy_dom0(&mut sys);
    run_ok(&mut sys, "xenstore-write /local/domain/0/exhaustion ok");
    let out = run_ok(&mut sys, "xenstore-read /local/domain/0/exhaustion");
    sys.check(
        out.lines().any(|l| l.trim() == "ok"),
        format!("xenstore-read: {out}"),
    );
    for name in &created {
        run_ok(&mut sys, &format!("xl destroy {name}"));
    }
    check_free_memory_back(
        &mut sys,
        free_before,
        "filling memory with domUs and destroying them",
    );
}
