//! Boot: the hypervisor logs, dom0 reaches its shell, `xl list`/`xl info`/`xl help` answer.

use tests::steps::{boot, list_with_healthy_dom0};
use tests::test_name;

#[test]
fn boot_reaches_dom0_shell_with_domain0_listed() {
    let mut sys = boot(&test_name!());

    // The hypervisor logged through its `(XEN) ` console before dom0's prompt.
    let before_prompt = sys.transcript();
    let xen_lines = before_prompt
        .lines()
        .filter(|l| l.starts_with("(XEN) "))
        .count();
    sys.check(
        xen_lines >= 1,
        "no `(XEN) ` log line before the dom0 prompt",
    );

    // The machine's four processors (`-smp 4`) started and each answered an IPI.
    sys.check(
        before_prompt.contains(
            "SMP: 4 CPU(s) online (LAPIC IDs 0,1,2,3), 3 of 3 answered an IPI, \
             a TLB shootdown reached 3",
        ),
        "the hypervisor did not report 4 CPUs online, each answering an IPI",
    );

    // `xl list`: exactly Domain-0, ID 0, with memory and a live state.
    let rows = list_with_healthy_dom0(&mut sys);
    sys.check(
        rows.len() == 1,
        format!("a fresh boot lists only Domain-0, got {rows:?}"),
    );
    let dom0_mem = rows[0].mem;

    // `xl info`: total and free memory that make sense for a 512M machine with dom0 in it.
    let info = sys.xl_info();
    let total = info.total_memory().unwrap_or_default();
    let free = info.free_memory().unwrap_or_default();
    sys.check(
        (dom0_mem..=512).contains(&total),
        format!("total_memory {total} MiB is not between dom0's {dom0_mem} and 512"),
    );
    sys.check(
        free > 0 && free + dom0_mem <= total,
        format!("free_memory {free} MiB: want > 0 and free + dom0 ({dom0_mem}) <= total ({total})"),
    );

    let cpus = info.num("nr_cpus");
    sys.check(
        cpus == Some(4),
        format!("xl info: nr_cpus {cpus:?}, the machine has 4"),
    );

    // `xl help` names the first subset of commands.
    let help = sys.run("xl help");
    for cmd in ["list", "create", "destroy", "info"] {
        sys.check(
            help.contains(cmd),
            format!("`xl help` does not mention `{cmd}`:\n{help}"),
        );
    }
}

/// A machine with two processors reports two, and one with one processor boots as before.
#[test]
fn processor_count_follows_the_machine() {
    for n in [2u32, 1] {
        let name = format!("{}-{n}", test_name!());
        let mut sys = tests::System::boot_to_prompt(tests::BootOptions::new(&name).cpus(n));
        let log = sys.transcript();
        let want = format!("SMP: {n} CPU(s) online");
        sys.check(
            log.contains(&want),
            format!("with -smp {n} the hypervisor did not log `{want}`"),
        );
        let info = sys.xl_info();
        let cpus = info.num("nr_cpus");
        sys.check(
            cpus == Some(u64::from(n)),
            format!("xl info: nr_cpus {cpus:?} on a {n}-processor machine"),
        );
    }
}
